//! L2-regularised logistic regression with sample weights, fitted with L-BFGS
//! (`lifecycle-optim`) and a rayon-parallel loss and gradient.
//!
//! The objective, with weights `w_i` summing to `W`:
//! `(1/W) Σ w_i · logloss(y_i, σ(b + x_i·β)) + (λ/2)·‖β‖²`; the intercept `b` is not penalised.
//! This is scikit-learn's `LogisticRegression(C = 1 / (λ·W))` with the same sample weights.

use lifecycle_optim::{Lbfgs, minimize};
use serde::{Deserialize, Serialize};

use crate::{Matrix, ModelError, Result, Scorer};

const CHUNK: usize = 8192;

/// Logistic-regression settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticParams {
    /// `λ`, the L2 penalty on the coefficients.
    pub l2: f64,
    pub max_iterations: usize,
    /// Converged when every gradient component is below this.
    pub tolerance: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            l2: 1e-4,
            max_iterations: 500,
            tolerance: 1e-7,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

/// `σ(z)` without overflow.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Checks that `x`, `y` and `w` line up and that both classes are present.
pub(crate) fn check_training(x: &Matrix, y: &[bool], w: Option<&[f64]>) -> Result<()> {
    if y.len() != x.rows {
        return Err(ModelError::Shape {
            what: "labels",
            expected: x.rows,
            found: y.len(),
        });
    }
    if let Some(w) = w {
        if w.len() != x.rows {
            return Err(ModelError::Shape {
                what: "sample weights",
                expected: x.rows,
                found: w.len(),
            });
        }
        if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(ModelError::InvalidData {
                what: "sample weights",
                reason: "must be finite and >= 0".into(),
            });
        }
    }
    let pos = y.iter().filter(|v| **v).count();
    if pos == 0 || pos == y.len() {
        return Err(ModelError::InvalidData {
            what: "churn labels",
            reason: format!(
                "{pos} of {} rows are positive: both classes are needed",
                y.len()
            ),
        });
    }
    Ok(())
}

impl LogisticParams {
    /// Fits on `x` (no missing values), outcomes `y` and optional sample weights.
    pub fn fit(&self, x: &Matrix, y: &[bool], w: Option<&[f64]>) -> Result<Logistic> {
        check_training(x, y, w)?;
        if x.data.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::InvalidData {
                what: "logistic regression",
                reason: "the matrix has a missing or infinite value (scale it first)".into(),
            });
        }
        if self.l2.is_nan() || self.l2 < 0.0 {
            return Err(ModelError::InvalidParam {
                name: "l2",
                reason: format!("{} is not >= 0", self.l2),
            });
        }
        let d = x.cols;
        let total_w: f64 = w.map_or(x.rows as f64, |w| w.iter().sum());
        let l2 = self.l2;
        let objective = |p: &[f64]| {
            let (b, beta) = (p[0], &p[1..]);
            let (loss, mut grad) = crate::fold_chunks(
                x.rows,
                CHUNK,
                |rows| {
                    let (mut loss, mut g) = (0.0, vec![0.0; d + 1]);
                    for i in rows {
                        let row = x.row(i);
                        let z = b + row.iter().zip(beta).map(|(a, c)| a * c).sum::<f64>();
                        let wi = w.map_or(1.0, |w| w[i]);
                        loss += wi * (softplus(z) - if y[i] { z } else { 0.0 });
                        let r = wi * (sigmoid(z) - y[i] as u8 as f64);
                        g[0] += r;
                        for (gj, a) in g[1..].iter_mut().zip(row) {
                            *gj += r * a;
                        }
                    }
                    (loss, g)
                },
                |mut a, b| {
                    a.0 += b.0;
                    a.1.iter_mut().zip(&b.1).for_each(|(x, y)| *x += y);
                    a
                },
            )
            .expect("training has rows");
            let mut value = loss / total_w;
            grad.iter_mut().for_each(|g| *g /= total_w);
            for (j, c) in beta.iter().enumerate() {
                value += 0.5 * l2 * c * c;
                grad[j + 1] += l2 * c;
            }
            (value, grad)
        };
        let m = minimize(
            objective,
            &vec![0.0; d + 1],
            Lbfgs {
                max_iterations: self.max_iterations,
                gradient_tolerance: self.tolerance,
                value_tolerance: 1e-15,
                ..Lbfgs::default()
            },
        );
        Ok(Logistic {
            intercept: m.x[0],
            coefficients: m.x[1..].to_vec(),
            iterations: m.iterations,
            converged: m.converged,
        })
    }
}

impl Scorer for Logistic {
    /// The linear score `b + x·β`.
    fn decision(&self, row: &[f64]) -> f64 {
        self.intercept
            + row
                .iter()
                .zip(&self.coefficients)
                .map(|(a, c)| a * c)
                .sum::<f64>()
    }
}

impl Logistic {
    /// Each feature's share of a row's score: `β_j · x_j`.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(&self.coefficients)
            .map(|(a, c)| a * c)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second implementation: Newton's method (IRLS) on the same objective, exact up to
    /// floating point for a small problem.
    fn newton(x: &Matrix, y: &[bool], w: &[f64], l2: f64) -> Vec<f64> {
        let d = x.cols + 1;
        let total_w: f64 = w.iter().sum();
        let mut p = vec![0.0; d];
        for _ in 0..50 {
            let mut g = vec![0.0; d];
            let mut h = vec![vec![0.0; d]; d];
            for i in 0..x.rows {
                let mut row = vec![1.0];
                row.extend_from_slice(x.row(i));
                let z: f64 = row.iter().zip(&p).map(|(a, b)| a * b).sum();
                let s = sigmoid(z);
                for a in 0..d {
                    g[a] += w[i] * (s - y[i] as u8 as f64) * row[a] / total_w;
                    for b in 0..d {
                        h[a][b] += w[i] * s * (1.0 - s) * row[a] * row[b] / total_w;
                    }
                }
            }
            for a in 1..d {
                g[a] += l2 * p[a];
                h[a][a] += l2;
            }
            // Solve h · step = g by Gaussian elimination.
            let mut m: Vec<Vec<f64>> = h
                .iter()
                .zip(&g)
                .map(|(r, gi)| {
                    let mut r = r.clone();
                    r.push(*gi);
                    r
                })
                .collect();
            for c in 0..d {
                let piv = (c..d)
                    .max_by(|a, b| m[*a][c].abs().total_cmp(&m[*b][c].abs()))
                    .unwrap();
                m.swap(c, piv);
                for r in 0..d {
                    if r != c {
                        let f = m[r][c] / m[c][c];
                        let pivot_row = m[c].clone();
                        for (a, b) in m[r][c..].iter_mut().zip(&pivot_row[c..]) {
                            *a -= f * b;
                        }
                    }
                }
            }
            for a in 0..d {
                p[a] -= m[a][d] / m[a][a];
            }
        }
        p
    }

    fn small_problem() -> (Matrix, Vec<bool>, Vec<f64>) {
        // 12 rows, 2 features, overlapping classes (a separable set has no finite optimum
        // without the penalty).
        let rows = vec![
            vec![0.5, 1.0],
            vec![1.0, -0.5],
            vec![1.5, 2.0],
            vec![2.0, 0.0],
            vec![2.5, 1.5],
            vec![3.0, -1.0],
            vec![0.2, 0.3],
            vec![1.2, 1.1],
            vec![2.2, -0.7],
            vec![2.8, 0.4],
            vec![3.5, 1.0],
            vec![0.8, -1.2],
        ];
        let y = vec![
            true, false, true, false, true, true, false, true, false, true, false, false,
        ];
        let w = vec![1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0];
        (Matrix::from_rows(&rows).unwrap(), y, w)
    }

    #[test]
    fn matches_newtons_method_to_1e_4() {
        let (x, y, w) = small_problem();
        for l2 in [0.0, 0.1] {
            let fit = LogisticParams {
                l2,
                tolerance: 1e-10,
                ..Default::default()
            }
            .fit(&x, &y, Some(&w))
            .unwrap();
            let reference = newton(&x, &y, &w, l2);
            let ours = [fit.intercept, fit.coefficients[0], fit.coefficients[1]];
            for (a, b) in ours.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4, "l2 {l2}: {ours:?} vs {reference:?}");
            }
        }
    }

    #[test]
    fn matches_scikit_learn() {
        // benches/peers/logistic_reference.py: LogisticRegression(C = 1/(l2·W), tol=1e-12) on
        // `small_problem` with its sample weights (W = 14.5); C = inf for l2 = 0.
        let (x, y, w) = small_problem();
        for (l2, sklearn) in [(0.1, SKLEARN_L2_01), (0.0, SKLEARN_L2_0)] {
            let fit = LogisticParams {
                l2,
                tolerance: 1e-10,
                ..Default::default()
            }
            .fit(&x, &y, Some(&w))
            .unwrap();
            let ours = [fit.intercept, fit.coefficients[0], fit.coefficients[1]];
            for (a, b) in ours.iter().zip(&sklearn) {
                assert!(
                    (a - b).abs() < 1e-4,
                    "l2 {l2}: {ours:?} vs scikit-learn {sklearn:?}"
                );
            }
        }
    }

    /// Intercept, coef[0], coef[1] printed by benches/peers/logistic_reference.py
    /// (scikit-learn 1.9.1).
    const SKLEARN_L2_01: [f64; 3] = [-0.46587813664857225, 0.1484008925823384, 0.910631892006741];
    const SKLEARN_L2_0: [f64; 3] = [-0.9312611737329856, 0.29498956304813684, 1.6196415596436369];

    #[test]
    fn one_class_is_an_error() {
        let x = Matrix::from_rows(&[vec![1.0], vec![2.0]]).unwrap();
        let e = LogisticParams::default()
            .fit(&x, &[true, true], None)
            .unwrap_err();
        assert!(e.to_string().contains("both classes"), "{e}");
    }
}
