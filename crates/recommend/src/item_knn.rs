//! Item-item collaborative filtering: each item keeps its `k` most similar items; a user's
//! score for an item is `Σ_i w(user, i) · sim(i, item)` over the items the user interacted with.
//!
//! Similarity between item vectors over users: cosine, or BM25 (the item × user matrix is
//! BM25-weighted as a document × term matrix, items being documents, and similarity is the dot
//! product of the weighted vectors; the weighting of the `implicit` package's `bm25_weight`,
//! K1 = 100, B = 0.8 by default), which damps very active users and very popular items.
//! Items are processed in parallel (rayon), each with its own dense accumulator.

use rayon::prelude::*;

use crate::{Csr, RecommendError, Result};

/// How item similarity is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Similarity {
    Cosine,
    Bm25 { k1: f32, b: f32 },
}

/// Item-item settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemKnnParams {
    /// Neighbours kept per item.
    pub neighbours: usize,
    pub similarity: Similarity,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            neighbours: 50,
            similarity: Similarity::Cosine,
        }
    }
}

/// The fitted neighbour lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemKnn {
    /// Per item: `(neighbour, similarity)`, most similar first, the item itself excluded.
    pub neighbours: Vec<Vec<(u32, f32)>>,
}

/// BM25 weights of an item × user matrix (rows = items).
fn bm25(items: &Csr, k1: f32, b: f32) -> Csr {
    let n = items.rows as f32;
    let mut df = vec![0u32; items.cols];
    for &u in &items.indices {
        df[u as usize] += 1;
    }
    let lengths: Vec<f32> = (0..items.rows)
        .map(|i| items.row(i).1.iter().sum())
        .collect();
    let avg = lengths.iter().sum::<f32>() / n.max(1.0);
    let mut out = items.clone();
    for (i, length) in lengths.iter().enumerate() {
        let norm = (1.0 - b) + b * length / avg.max(f32::MIN_POSITIVE);
        for e in items.indptr[i]..items.indptr[i + 1] {
            let u = items.indices[e] as usize;
            let idf = n.ln() - (df[u] as f32).ln_1p();
            let v = items.values[e];
            out.values[e] = v * (k1 + 1.0) / (k1 * norm + v) * idf;
        }
    }
    out
}

/// What finding one item's neighbours reads.
struct Similar<'a> {
    /// Item × user weights (BM25-weighted for BM25).
    items: &'a Csr,
    /// Their transpose.
    users: &'a Csr,
    norms: &'a [f32],
    cosine: bool,
    k: usize,
}

/// One thread's buffers: a dot product per item, and the candidates.
struct Scratch {
    sums: Sums,
    near: Vec<(u32, f32)>,
}

impl Scratch {
    fn new(items: usize) -> Scratch {
        let mut sums = Sums::new();
        sums.fit(items);
        Scratch { sums, near: vec![] }
    }
}

impl Similar<'_> {
    /// Item `i`'s `k` most similar items: the dot products with every item sharing a user
    /// (accumulated user by user), scaled for cosine, the best kept.
    fn of(&self, i: usize, s: &mut Scratch) -> Vec<(u32, f32)> {
        let (us, ws) = self.items.row(i);
        for (u, w) in us.iter().zip(ws) {
            let (js, vs) = self.users.row(*u as usize);
            for (j, v) in js.iter().zip(vs) {
                s.sums.add(*j, w * v);
            }
        }
        s.near.clear();
        s.sums.drain(|j, dot| {
            let sim = match self.cosine {
                true => dot / (self.norms[i] * self.norms[j as usize]).max(f32::MIN_POSITIVE),
                false => dot,
            };
            if j as usize != i && sim > 0.0 {
                s.near.push((j, sim));
            }
        });
        best_first(&mut s.near, self.k);
        s.near.clone()
    }
}

thread_local! {
    /// Each thread's [`Sums`] for [`ItemKnn::sparse_scores`].
    static SUMS: std::cell::RefCell<Sums> = const { std::cell::RefCell::new(Sums::new()) };
}

/// Sums per item over a catalogue, and which items were touched: reset by `drain`.
struct Sums {
    acc: Vec<f32>,
    seen: Vec<bool>,
    touched: Vec<u32>,
}

impl Sums {
    const fn new() -> Sums {
        Sums {
            acc: Vec::new(),
            seen: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Room for `items` items.
    fn fit(&mut self, items: usize) {
        if self.acc.len() < items {
            self.acc.resize(items, 0.0);
            self.seen.resize(items, false);
        }
    }

    fn add(&mut self, j: u32, part: f32) {
        let k = j as usize;
        if !self.seen[k] {
            self.seen[k] = true;
            self.touched.push(j);
        }
        self.acc[k] += part;
    }

    /// Every touched item's sum, in the order first touched, the accumulator left at zero.
    fn drain(&mut self, mut each: impl FnMut(u32, f32)) {
        for j in self.touched.drain(..) {
            let k = j as usize;
            self.seen[k] = false;
            each(j, std::mem::take(&mut self.acc[k]));
        }
    }

    /// The positive sums by item, the accumulator left at zero.
    fn take_positive(&mut self) -> Vec<(u32, f32)> {
        self.touched.sort_unstable();
        let mut out = Vec::with_capacity(self.touched.len());
        self.drain(|j, sum| {
            if sum > 0.0 {
                out.push((j, sum));
            }
        });
        out
    }
}

/// Keeps the `k` most similar of `near`, most similar first (ties: the lower index first): a
/// selection, then a sort of those `k` only (an item can touch most of the catalogue).
fn best_first(near: &mut Vec<(u32, f32)>, k: usize) {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if near.len() > k {
        near.select_nth_unstable_by(k - 1, order);
        near.truncate(k);
    }
    near.sort_unstable_by(order);
}

impl ItemKnnParams {
    /// Fits on a user × item matrix.
    pub fn fit(&self, user_items: &Csr) -> Result<ItemKnn> {
        if self.neighbours == 0 {
            return Err(RecommendError::InvalidParam {
                name: "neighbours",
                reason: "must be at least 1".into(),
            });
        }
        let mut items = user_items.transpose();
        if let Similarity::Bm25 { k1, b } = self.similarity {
            items = bm25(&items, k1, b);
        }
        let users = items.transpose();
        let norms: Vec<f32> = (0..items.rows)
            .map(|i| items.row(i).1.iter().map(|v| v * v).sum::<f32>().sqrt())
            .collect();
        let similar = Similar {
            items: &items,
            users: &users,
            norms: &norms,
            cosine: self.similarity == Similarity::Cosine,
            k: self.neighbours,
        };
        let neighbours = (0..items.rows)
            .into_par_iter()
            .map_init(|| Scratch::new(items.rows), |s, i| similar.of(i, s))
            .collect();
        Ok(ItemKnn { neighbours })
    }
}

impl ItemKnn {
    /// The positive scores of a user with interactions `(items, weights)`, sorted by item: the
    /// same sums, added in the same order, as [`ItemKnn::scores`] (in this thread's
    /// accumulator, so nothing the size of the catalogue is allocated per user).
    pub fn sparse_scores(&self, items: &[u32], weights: &[f32]) -> Vec<(u32, f32)> {
        SUMS.with_borrow_mut(|sums| {
            sums.fit(self.neighbours.len());
            for (i, w) in items.iter().zip(weights) {
                for (j, sim) in &self.neighbours[*i as usize] {
                    sums.add(*j, w * sim);
                }
            }
            sums.take_positive()
        })
    }

    /// Scores of every item for a user with interactions `(items, weights)`.
    pub fn scores(&self, items: &[u32], weights: &[f32]) -> Vec<f32> {
        let mut s = vec![0f32; self.neighbours.len()];
        for (i, w) in items.iter().zip(weights) {
            for (j, sim) in &self.neighbours[*i as usize] {
                s[*j as usize] += w * sim;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Users a, b, c × items x, y, z:
    /// a: x = 2, y = 1;  b: x = 1, y = 1, z = 3;  c: z = 1.
    /// Item vectors over (a, b, c): x = (2, 1, 0), y = (1, 1, 0), z = (0, 3, 1).
    fn matrix() -> Csr {
        Csr::from_triples(
            3,
            3,
            vec![
                (0, 0, 2.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (1, 2, 3.0),
                (2, 2, 1.0),
            ],
        )
    }

    #[test]
    fn cosine_neighbours_by_hand() {
        // cos(x, y) = 3 / (√5 · √2) = 0.948683; cos(x, z) = 3 / (√5 · √10) = 0.424264;
        // cos(y, z) = 3 / (√2 · √10) = 0.670820.
        let m = ItemKnnParams::default().fit(&matrix()).unwrap();
        let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        assert_eq!(
            m.neighbours[0].iter().map(|n| n.0).collect::<Vec<_>>(),
            [1, 2]
        );
        close(m.neighbours[0][0].1, 0.948683);
        close(m.neighbours[0][1].1, 0.424264);
        assert_eq!(
            m.neighbours[2].iter().map(|n| n.0).collect::<Vec<_>>(),
            [1, 0]
        );
        close(m.neighbours[2][0].1, 0.670820);
        // User c (z = 1) scores x with 0.424264 and y with 0.670820.
        let s = m.scores(&[2], &[1.0]);
        close(s[0], 0.424264);
        close(s[1], 0.670820);
        // k = 1 keeps the best neighbour only.
        let m = ItemKnnParams {
            neighbours: 1,
            ..Default::default()
        }
        .fit(&matrix())
        .unwrap();
        assert_eq!(m.neighbours[1], vec![(0, m.neighbours[1][0].1)]);
    }

    #[test]
    fn bm25_neighbours_by_hand() {
        // Items are documents over users. N = 3 items; user document frequencies a = 2, b = 3,
        // c = 1; idf = ln 3 − ln(1 + df): a = 0, b = ln(3/4), c = ln(3/2). Item z, user c
        // (value 1): item length 4, average length (3 + 2 + 4) / 3 = 3, K1 = 100, B = 0.8:
        // norm = 0.2 + 0.8 · 4/3; w = 1 · 101 / (100 · norm + 1) · ln 1.5.
        let items = matrix().transpose();
        let w = bm25(&items, 100.0, 0.8);
        let norm = 0.2f32 + 0.8 * 4.0 / 3.0;
        let want = 101.0 / (100.0 * norm + 1.0) * 1.5f32.ln();
        assert!((w.get(2, 2).unwrap() - want).abs() < 1e-5);
        assert_eq!(w.get(0, 0), Some(0.0), "user a: idf = ln 3 − ln 3 = 0");
    }
}
