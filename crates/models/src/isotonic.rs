//! Isotonic calibration: the non-decreasing step function from raw scores to probabilities
//! that fits held-out outcomes best in squared error (pool adjacent violators), read between
//! its points by linear interpolation and clipped outside them, as scikit-learn's
//! `IsotonicRegression(out_of_bounds="clip")` does. Unlike Platt scaling it assumes no shape,
//! so it needs more held-out rows to be stable.

use serde::{Deserialize, Serialize};

use crate::{ModelError, Result};

/// The fitted points: scores increasing, probabilities non-decreasing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    pub score: Vec<f64>,
    pub probability: Vec<f64>,
}

/// A run of pooled points: their mean outcome and total weight.
#[derive(Debug, Clone, Copy)]
struct Block {
    value: f64,
    weight: f64,
    /// How many distinct scores it covers.
    len: usize,
}

impl Isotonic {
    /// Fits on raw scores and observed outcomes (tied scores pooled first, as one point with
    /// their mean outcome).
    pub fn fit(score: &[f64], y: &[bool]) -> Result<Isotonic> {
        if score.is_empty() || score.len() != y.len() || score.iter().any(|s| !s.is_finite()) {
            return Err(ModelError::InvalidData {
                what: "calibration set",
                reason: format!(
                    "{} scores and {} outcomes: need as many of each, finite, and at least one",
                    score.len(),
                    y.len()
                ),
            });
        }
        let (xs, points) = distinct(score, y);
        let blocks = pool(&points);
        let mut probability = Vec::with_capacity(xs.len());
        for b in &blocks {
            probability.extend(std::iter::repeat_n(b.value, b.len));
        }
        Ok(Isotonic {
            score: xs,
            probability,
        })
    }

    /// The calibrated probability of a raw score.
    pub fn apply(&self, s: f64) -> f64 {
        let (x, p) = (&self.score, &self.probability);
        let i = x.partition_point(|v| *v <= s);
        match i {
            0 => p[0],
            i if i == x.len() => p[i - 1],
            i => {
                let w = (s - x[i - 1]) / (x[i] - x[i - 1]);
                p[i - 1] + w * (p[i] - p[i - 1])
            }
        }
    }
}

/// The distinct scores, increasing, and for each its mean outcome and count.
fn distinct(score: &[f64], y: &[bool]) -> (Vec<f64>, Vec<Block>) {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|a, b| score[*a].total_cmp(&score[*b]));
    let (mut xs, mut points): (Vec<f64>, Vec<Block>) = (vec![], vec![]);
    for i in order {
        let v = f64::from(u8::from(y[i]));
        match (xs.last(), points.last_mut()) {
            (Some(x), Some(b)) if *x == score[i] => {
                b.value = (b.value * b.weight + v) / (b.weight + 1.0);
                b.weight += 1.0;
            }
            _ => {
                xs.push(score[i]);
                points.push(Block {
                    value: v,
                    weight: 1.0,
                    len: 1,
                });
            }
        }
    }
    (xs, points)
}

/// Pool adjacent violators: merges neighbouring blocks until the values do not decrease.
fn pool(points: &[Block]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::with_capacity(points.len());
    for &p in points {
        blocks.push(p);
        while blocks.len() > 1 && blocks[blocks.len() - 2].value > blocks[blocks.len() - 1].value {
            let b = blocks.pop().expect("two blocks");
            let a = blocks.last_mut().expect("two blocks");
            let weight = a.weight + b.weight;
            a.value = (a.value * a.weight + b.value * b.weight) / weight;
            a.weight = weight;
            a.len += b.len;
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_violators_by_hand() {
        // Outcomes 1, 0 at scores 1, 2 violate order: pooled to 0.5 each.
        let m = Isotonic::fit(&[1.0, 2.0, 3.0], &[true, false, true]).unwrap();
        assert_eq!(m.probability, [0.5, 0.5, 1.0]);
        assert_eq!(m.apply(0.0), 0.5, "clipped below");
        assert_eq!(m.apply(2.5), 0.75, "interpolated");
        assert_eq!(m.apply(9.0), 1.0, "clipped above");
        assert!(Isotonic::fit(&[], &[]).is_err());
        assert!(Isotonic::fit(&[f64::NAN], &[true]).is_err());
    }

    /// `fixtures/isotonic_sklearn.json`, made by `scripts/reference/isotonic_sklearn.py`.
    #[test]
    fn matches_scikit_learn() {
        let text = include_str!("../fixtures/isotonic_sklearn.json");
        let f: serde_json::Value = serde_json::from_str(text).unwrap();
        let floats = |k: &str| -> Vec<f64> {
            f[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let y: Vec<bool> = f["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let m = Isotonic::fit(&floats("score"), &y).unwrap();
        for (q, want) in floats("query").into_iter().zip(floats("predicted")) {
            let got = m.apply(q);
            assert!(
                (got - want).abs() < 1e-12,
                "at {q}: {got} vs scikit-learn's {want}"
            );
        }
    }
}
