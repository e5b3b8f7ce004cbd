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
    /// From `(row, col, value)` triples; duplicates are summed in the order they come.
    /// The entries are placed row by row in one counting pass (their order kept), then each
    /// row is sorted by column: the same matrix as a stable sort of every triple, without it.
    pub fn from_triples(rows: usize, cols: usize, t: Vec<(u32, u32, f32)>) -> Csr {
        let mut start = vec![0usize; rows + 1];
        for (r, ..) in &t {
            start[*r as usize + 1] += 1;
        }
        for r in 0..rows {
            start[r + 1] += start[r];
        }
        let mut next = start.clone();
        let mut placed = vec![(0u32, 0f32); t.len()];
        for (r, c, v) in t {
            let at = &mut next[r as usize];
            placed[*at] = (c, v);
            *at += 1;
        }
        let mut indptr = vec![0usize; rows + 1];
        let mut indices = Vec::with_capacity(placed.len());
        let mut values: Vec<f32> = Vec::with_capacity(placed.len());
        for r in 0..rows {
            let row = &mut placed[start[r]..start[r + 1]];
            row.sort_by_key(|(c, _)| *c);
            let mut last = None;
            for (c, v) in row.iter().copied() {
                if last == Some(c) {
                    *values.last_mut().expect("an entry is open") += v;
                    continue;
                }
                indices.push(c);
                values.push(v);
                last = Some(c);
            }
            indptr[r + 1] = indices.len();
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

    /// The transpose (columns become rows): a counting pass, then every entry placed, rows in
    /// order, so each new row's columns come out ascending (no sort).
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.cols + 1];
        for c in &self.indices {
            indptr[*c as usize + 1] += 1;
        }
        for c in 0..self.cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.rows {
            let (cols, vals) = self.row(r);
            for (c, v) in cols.iter().zip(vals) {
                let at = &mut next[*c as usize];
                indices[*at] = r as u32;
                values[*at] = *v;
                *at += 1;
            }
        }
        Csr {
            rows: self.cols,
            cols: self.rows,
            indptr,
            indices,
            values,
        }
    }

    /// The value at (r, c), if stored.
    pub fn get(&self, r: usize, c: u32) -> Option<f32> {
        let (cols, vals) = self.row(r);
        cols.binary_search(&c).ok().map(|i| vals[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix of a stable sort of every triple, duplicates summed in input order.
    fn sorted_reference(rows: usize, cols: usize, mut t: Vec<(u32, u32, f32)>) -> Csr {
        t.sort_by_key(|(r, c, _)| (*r, *c));
        let mut m = Csr::from_triples(rows, cols, vec![]);
        let mut last = None;
        for (r, c, v) in t {
            if last == Some((r, c)) {
                *m.values.last_mut().unwrap() += v;
                continue;
            }
            m.indices.push(c);
            m.values.push(v);
            m.indptr[r as usize + 1] += 1;
            last = Some((r, c));
        }
        for r in 0..rows {
            m.indptr[r + 1] += m.indptr[r];
        }
        m
    }

    #[test]
    fn triples_build_the_sorted_matrix_summing_duplicates_in_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let (rows, cols) = (rng.gen_range(1..9), rng.gen_range(1..9));
            let t: Vec<(u32, u32, f32)> = (0..rng.gen_range(0..60))
                .map(|_| {
                    let v = rng.gen_range(-1e6f32..1e6);
                    (
                        rng.gen_range(0..rows) as u32,
                        rng.gen_range(0..cols) as u32,
                        v,
                    )
                })
                .collect();
            let (got, want) = (
                Csr::from_triples(rows, cols, t.clone()),
                sorted_reference(rows, cols, t),
            );
            // Bit for bit: the duplicates' sums follow the same order.
            assert_eq!(got.indptr, want.indptr);
            assert_eq!(got.indices, want.indices);
            let bits = |m: &Csr| m.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want));
        }
    }

    #[test]
    fn transpose_swaps_rows_and_columns_in_order() {
        let m = Csr::from_triples(
            3,
            4,
            vec![(0, 3, 1.0), (0, 1, 2.0), (2, 1, 3.0), (1, 0, 4.0)],
        );
        let t = m.transpose();
        let want = Csr::from_triples(
            4,
            3,
            vec![(3, 0, 1.0), (1, 0, 2.0), (1, 2, 3.0), (0, 1, 4.0)],
        );
        assert_eq!(t, want);
        assert_eq!(t.transpose(), m);
    }
}
