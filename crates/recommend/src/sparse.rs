/// A compressed sparse row matrix of `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub rows: usize,
    pub cols: usize,
    /// Row `r`'s entries are `indptr[r]..indptr[r + 1]`.
    pub indptr: Vec<usize>,
    /// Column of each entry, ascending within a row.
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl Csr {
    /// From `(row, col, value)` triples; duplicates are summed.
    pub fn from_triples(rows: usize, cols: usize, mut t: Vec<(u32, u32, f32)>) -> Csr {
        t.sort_by_key(|(r, c, _)| (*r, *c));
        let mut indptr = vec![0usize; rows + 1];
        let mut indices = Vec::with_capacity(t.len());
        let mut values: Vec<f32> = Vec::with_capacity(t.len());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in t {
            if last == Some((r, c)) {
                *values.last_mut().expect("an entry is open") += v;
                continue;
            }
            indices.push(c);
            values.push(v);
            indptr[r as usize + 1] += 1;
            last = Some((r, c));
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }

    /// Row `r` as (columns, values).
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The transpose (columns become rows).
    pub fn transpose(&self) -> Csr {
        let mut t = Vec::with_capacity(self.nnz());
        for r in 0..self.rows {
            let (cols, vals) = self.row(r);
            for (c, v) in cols.iter().zip(vals) {
                t.push((*c, r as u32, *v));
            }
        }
        Csr::from_triples(self.cols, self.rows, t)
    }

    /// The value at (r, c), if stored.
    pub fn get(&self, r: usize, c: u32) -> Option<f32> {
        let (cols, vals) = self.row(r);
        cols.binary_search(&c).ok().map(|i| vals[i])
    }
}
