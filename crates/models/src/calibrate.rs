//! Platt scaling: a one-feature logistic regression from a model's raw log-odds to calibrated
//! probabilities, fitted on held-out rows (never the rows the model was trained on), with
//! Platt's smoothed targets `(N₊ + 1)/(N₊ + 2)` and `1/(N₋ + 2)` so that a small validation
//! set cannot push probabilities to exactly 0 or 1.
//!
//! Calibration matters here because the classifiers train with class weights (rare churners
//! count as much as the rest): their raw probabilities are deliberately biased upwards.

use lifecycle_optim::{Lbfgs, minimize};
use serde::{Deserialize, Serialize};

use crate::logistic::sigmoid;
use crate::{ModelError, Result};

/// `P(y = 1) = σ(a · score + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    /// The identity: probabilities stay `σ(score)`.
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    /// Fits on raw scores (log-odds) and observed outcomes.
    pub fn fit(score: &[f64], y: &[bool]) -> Result<Platt> {
        let pos = y.iter().filter(|v| **v).count() as f64;
        let neg = y.len() as f64 - pos;
        if pos == 0.0 || neg == 0.0 || score.len() != y.len() {
            return Err(ModelError::InvalidData {
                what: "calibration set",
                reason: format!(
                    "{pos} positives and {neg} negatives in {} rows: both classes are needed",
                    y.len()
                ),
            });
        }
        let (hi, lo) = ((pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0));
        let n = y.len() as f64;
        let f = |p: &[f64]| {
            let (mut v, mut ga, mut gb) = (0.0, 0.0, 0.0);
            for (s, yi) in score.iter().zip(y) {
                let t = if *yi { hi } else { lo };
                let z = p[0] * s + p[1];
                let q = sigmoid(z);
                // −[t ln q + (1 − t) ln(1 − q)], written without ln(0).
                v += if z > 0.0 {
                    (1.0 - t) * z + (-z).exp().ln_1p()
                } else {
                    -t * z + z.exp().ln_1p()
                };
                ga += (q - t) * s;
                gb += q - t;
            }
            (v / n, vec![ga / n, gb / n])
        };
        let m = minimize(f, &[1.0, 0.0], Lbfgs::default());
        Ok(Platt {
            a: m.x[0],
            b: m.x[1],
        })
    }

    /// The calibrated probability of a raw score.
    pub fn apply(&self, score: f64) -> f64 {
        sigmoid(self.a * score + self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn undoes_a_known_distortion() {
        // True probability σ(s); the "model" reports 3s − 2. Platt must find a = 1/3, b = 2/3.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut raw, mut y) = (vec![], vec![]);
        for _ in 0..200_000 {
            let s: f64 = rng.gen_range(-4.0..4.0);
            y.push(rng.gen_bool(sigmoid(s)));
            raw.push(3.0 * s - 2.0);
        }
        let p = Platt::fit(&raw, &y).unwrap();
        assert!(
            (p.a - 1.0 / 3.0).abs() < 0.01 && (p.b - 2.0 / 3.0).abs() < 0.02,
            "{p:?}"
        );
    }
}
