//! Standardisation of feature columns, with `log1p` for skewed ones.
//!
//! The rule, per column, decided on the training data: a column whose values are all `>= 0`
//! and whose sample skewness is above 1 is transformed with `ln(1 + v)` first (counts, revenue
//! and durations of customers are heavy-tailed: without it a few big spenders decide every
//! distance). Then every column is centred and divided by its standard deviation (1 for a
//! constant column). A missing value (`NaN`) becomes 0 after scaling, the column's mean.

use serde::{Deserialize, Serialize};

use crate::{Matrix, ModelError, Result};

/// Skewness above which a non-negative column gets `log1p`.
pub const SKEW_LIMIT: f64 = 1.0;

/// How one column is scaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnScale {
    pub name: String,
    pub log1p: bool,
    pub mean: f64,
    pub std: f64,
}

impl ColumnScale {
    /// Raw value -> scaled value.
    pub fn apply(&self, v: f64) -> f64 {
        if v.is_nan() {
            return 0.0;
        }
        let v = if self.log1p { v.max(0.0).ln_1p() } else { v };
        (v - self.mean) / self.std
    }

    /// Scaled value -> raw value.
    pub fn invert(&self, z: f64) -> f64 {
        let v = z * self.std + self.mean;
        if self.log1p { v.exp_m1() } else { v }
    }
}

/// The fitted scaling of every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub columns: Vec<ColumnScale>,
}

fn moments(values: impl Iterator<Item = f64>) -> (f64, f64, f64, usize) {
    let v: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
    let n = v.len();
    if n == 0 {
        return (0.0, 0.0, 0.0, 0);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let m2 = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
    let m3 = v.iter().map(|x| (x - mean).powi(3)).sum::<f64>() / n as f64;
    let skew = if m2 > 0.0 { m3 / m2.powf(1.5) } else { 0.0 };
    (mean, m2.sqrt(), skew, n)
}

impl Scaler {
    /// Fits the scaling of each column of `x`, named by `names`.
    pub fn fit(x: &Matrix, names: &[String]) -> Result<Scaler> {
        if names.len() != x.cols {
            return Err(ModelError::Shape {
                what: "feature names",
                expected: x.cols,
                found: names.len(),
            });
        }
        let columns = (0..x.cols)
            .map(|j| {
                let min = x
                    .column(j)
                    .filter(|v| !v.is_nan())
                    .fold(f64::INFINITY, f64::min);
                let (_, _, skew, _) = moments(x.column(j));
                let log1p = min >= 0.0 && skew > SKEW_LIMIT;
                let (mean, std, _, _) = moments(
                    x.column(j)
                        .map(|v| if log1p && !v.is_nan() { v.ln_1p() } else { v }),
                );
                ColumnScale {
                    name: names[j].clone(),
                    log1p,
                    mean,
                    std: if std > 1e-12 { std } else { 1.0 },
                }
            })
            .collect();
        Ok(Scaler { columns })
    }

    /// The scaled copy of `x`.
    pub fn transform(&self, x: &Matrix) -> Result<Matrix> {
        if x.cols != self.columns.len() {
            return Err(ModelError::Shape {
                what: "feature columns",
                expected: self.columns.len(),
                found: x.cols,
            });
        }
        let data = x
            .data
            .chunks(x.cols.max(1))
            .flat_map(|row| row.iter().zip(&self.columns).map(|(v, c)| c.apply(*v)))
            .collect();
        Matrix::new(x.rows, x.cols, data)
    }

    /// Scaled rows back in raw units.
    pub fn invert(&self, z: &Matrix) -> Matrix {
        let data = z
            .data
            .chunks(z.cols.max(1))
            .flat_map(|row| row.iter().zip(&self.columns).map(|(v, c)| c.invert(*v)))
            .collect();
        Matrix {
            rows: z.rows,
            cols: z.cols,
            data,
        }
    }

    /// The column names, in order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_non_negative_columns_get_log1p() {
        // Column 0: heavy tail (skewed), column 1: symmetric, column 2: skewed but negative.
        let rows: Vec<Vec<f64>> = (0..100)
            .map(|i| {
                let tail = if i < 95 { 1.0 } else { 1000.0 };
                vec![tail, (i % 10) as f64, -tail]
            })
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let names = ["a", "b", "c"].map(String::from).to_vec();
        let s = Scaler::fit(&x, &names).unwrap();
        assert!(s.columns[0].log1p);
        assert!(!s.columns[1].log1p);
        assert!(!s.columns[2].log1p);
        let z = s.transform(&x).unwrap();
        for j in 0..3 {
            let mean = z.column(j).sum::<f64>() / 100.0;
            let var = z.column(j).map(|v| v * v).sum::<f64>() / 100.0;
            assert!(
                mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9,
                "{j}: {mean} {var}"
            );
        }
        let back = s.invert(&z);
        for (a, b) in back.data.iter().zip(&x.data) {
            assert!((a - b).abs() < 1e-6 * b.abs().max(1.0));
        }
    }

    #[test]
    fn missing_values_become_the_mean_and_constants_do_not_divide_by_zero() {
        let x = Matrix::from_rows(&[vec![f64::NAN, 5.0], vec![2.0, 5.0], vec![4.0, 5.0]]).unwrap();
        let s = Scaler::fit(&x, &["a".into(), "b".into()]).unwrap();
        let z = s.transform(&x).unwrap();
        assert_eq!(z.row(0), &[0.0, 0.0]);
        assert_eq!(s.columns[0].mean, 3.0);
        assert_eq!(s.columns[1].std, 1.0);
    }
}
