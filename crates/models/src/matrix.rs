use crate::{ModelError, Result};

/// A dense row-major matrix of `f64`; `NaN` marks a missing value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    /// A matrix over `data` (row-major, `rows * cols` values).
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Matrix> {
        if data.len() != rows * cols {
            return Err(ModelError::Shape {
                what: "matrix values",
                expected: rows * cols,
                found: data.len(),
            });
        }
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix from equally long rows.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Matrix> {
        let cols = rows.first().map_or(0, |r| r.len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for r in rows {
            if r.len() != cols {
                return Err(ModelError::Shape {
                    what: "row length",
                    expected: cols,
                    found: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Ok(Matrix {
            rows: rows.len(),
            cols,
            data,
        })
    }

    /// A matrix from columns of equal length.
    pub fn from_columns(columns: &[Vec<f64>]) -> Result<Matrix> {
        let rows = columns.first().map_or(0, |c| c.len());
        let cols = columns.len();
        for c in columns {
            if c.len() != rows {
                return Err(ModelError::Shape {
                    what: "column length",
                    expected: rows,
                    found: c.len(),
                });
            }
        }
        let mut data = vec![0.0; rows * cols];
        for (j, c) in columns.iter().enumerate() {
            for (i, v) in c.iter().enumerate() {
                data[i * cols + j] = *v;
            }
        }
        Ok(Matrix { rows, cols, data })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The values of column `j`, top to bottom.
    pub fn column(&self, j: usize) -> impl Iterator<Item = f64> + '_ {
        self.data.iter().skip(j).step_by(self.cols.max(1)).copied()
    }

    /// The rows at `index`, in that order.
    pub fn select_rows(&self, index: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(index.len() * self.cols);
        for &i in index {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: index.len(),
            cols: self.cols,
            data,
        }
    }

    /// Rows of `self` followed by rows of `other`.
    pub fn vstack(&self, other: &Matrix) -> Result<Matrix> {
        if self.cols != other.cols && self.rows > 0 && other.rows > 0 {
            return Err(ModelError::Shape {
                what: "columns to stack",
                expected: self.cols,
                found: other.cols,
            });
        }
        let mut data = self.data.clone();
        data.extend_from_slice(&other.data);
        Ok(Matrix {
            rows: self.rows + other.rows,
            cols: self.cols.max(other.cols),
            data,
        })
    }
}

/// Squared Euclidean distance.
pub(crate) fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
