//! K-means: k-means++ initialisation, Lloyd iterations with rayon-parallel assignment and
//! update, the silhouette score on a sample, the choice of `k` by silhouette, and the matching
//! of today's clusters to yesterday's so that labels stay stable across runs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::matrix::squared_distance;
use crate::{Matrix, ModelError, Result};

/// Rows per rayon task in the assignment step.
const CHUNK: usize = 4096;

/// K-means settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub max_iterations: usize,
    /// Converged when the centroids move, in total squared distance, less than this times the
    /// data's mean per-column variance (scikit-learn's rule).
    pub tolerance: f64,
    /// Independent k-means++ starts; the lowest inertia wins.
    pub n_init: usize,
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 8,
            max_iterations: 300,
            tolerance: 1e-4,
            n_init: 3,
            seed: 42,
        }
    }
}

/// A fitted K-means model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// One row per cluster.
    pub centroids: Matrix,
    /// Sum of squared distances of the training rows to their centroid.
    pub inertia: f64,
    pub iterations: usize,
}

/// The nearest centroid of `row`, and the squared distance to it.
fn nearest(centroids: &Matrix, row: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for c in 0..centroids.rows {
        let d = squared_distance(row, centroids.row(c));
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

/// The mean over columns of each column's variance, in two row-major passes (column by column,
/// a pass would read every cache line of the matrix once per column).
fn mean_variance(x: &Matrix) -> f64 {
    let d = x.cols;
    let add = |mut a: Vec<f64>, b: Vec<f64>| {
        a.iter_mut().zip(&b).for_each(|(s, v)| *s += v);
        a
    };
    let column_sums = |f: &(dyn Fn(usize, f64) -> f64 + Sync)| {
        let chunk = |rows: std::ops::Range<usize>| {
            let mut sums = vec![0.0; d];
            for i in rows {
                for (j, (s, v)) in sums.iter_mut().zip(x.row(i)).enumerate() {
                    *s += f(j, *v);
                }
            }
            sums
        };
        crate::fold_chunks(x.rows, CHUNK, chunk, add).unwrap_or_else(|| vec![0.0; d])
    };
    let n = x.rows as f64;
    let means: Vec<f64> = column_sums(&|_, v| v).iter().map(|s| s / n).collect();
    let squares = column_sums(&|j, v| (v - means[j]).powi(2));
    squares.iter().map(|s| s / n).sum::<f64>() / d.max(1) as f64
}

/// k-means++: the first centroid uniformly, each next one with probability proportional to the
/// squared distance to the nearest chosen centroid.
fn plus_plus(x: &Matrix, k: usize, rng: &mut ChaCha8Rng) -> Matrix {
    let first = rng.gen_range(0..x.rows);
    let mut data = x.row(first).to_vec();
    let mut d2: Vec<f64> = (0..x.rows)
        .into_par_iter()
        .map(|i| squared_distance(x.row(i), x.row(first)))
        .collect();
    for _ in 1..k {
        let total: f64 = d2.iter().sum();
        let next = if total > 0.0 {
            let mut target = rng.gen_range(0.0..total);
            let mut pick = x.rows - 1;
            for (i, d) in d2.iter().enumerate() {
                if target < *d {
                    pick = i;
                    break;
                }
                target -= d;
            }
            pick
        } else {
            rng.gen_range(0..x.rows)
        };
        let c = x.row(next).to_vec();
        d2.par_iter_mut().enumerate().for_each(|(i, d)| {
            *d = d.min(squared_distance(x.row(i), &c));
        });
        data.extend(c);
    }
    Matrix {
        rows: k,
        cols: x.cols,
        data,
    }
}

/// Rows per matrix product in [`assign`].
const BLOCK: usize = 512;

/// Per-cluster sums and counts of the rows assigned to each centroid. The nearest centroid
/// minimises `‖c‖² − 2 x·c` (`‖x‖²` is the same for every centroid), with `x·cᵀ` computed for a
/// block of rows at once by a matrix product. Near-ties may resolve differently than exact
/// distances would; the inertia is computed exactly, by [`inertia`].
fn assign(x: &Matrix, centroids: &Matrix) -> (Vec<f64>, Vec<usize>) {
    let (k, d) = (centroids.rows, x.cols);
    crate::fold_chunks(
        x.rows,
        CHUNK,
        |rows| {
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0usize; k];
            each_nearest(x, centroids, rows, |i, c| {
                counts[c] += 1;
                for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(x.row(i)) {
                    *s += v;
                }
            });
            (sums, counts)
        },
        |mut a, b| {
            a.0.iter_mut().zip(&b.0).for_each(|(x, y)| *x += y);
            a.1.iter_mut().zip(&b.1).for_each(|(x, y)| *x += y);
            a
        },
    )
    .unwrap_or_else(|| (vec![0.0; k * d], vec![0; k]))
}

/// Calls `f(row, centroid)` for each of `rows` with the centroid minimising `‖c‖² − 2 x·c`
/// (the first on a tie), a block of [`BLOCK`] rows per matrix product.
fn each_nearest(
    x: &Matrix,
    centroids: &Matrix,
    rows: std::ops::Range<usize>,
    mut f: impl FnMut(usize, usize),
) {
    let (k, d) = (centroids.rows, x.cols);
    let c_norms: Vec<f64> = (0..k)
        .map(|c| centroids.row(c).iter().map(|v| v * v).sum())
        .collect();
    let mut products = vec![0.0; BLOCK * k];
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + BLOCK).min(rows.end);
        cross_products(
            &x.data[start * d..end * d],
            end - start,
            centroids,
            &mut products,
        );
        for (i, p) in products.chunks_exact(k).take(end - start).enumerate() {
            f(start + i, nearest_by_product(p, &c_norms));
        }
        start = end;
    }
}

/// `out[i·k + c] = block_i · centroid_c` for the `rows` rows of `block` (row-major, `d` wide).
fn cross_products(block: &[f64], rows: usize, centroids: &Matrix, out: &mut [f64]) {
    let (k, d) = (centroids.rows, centroids.cols);
    assert!(block.len() == rows * d && out.len() >= rows * k && centroids.data.len() == k * d);
    // SAFETY: the asserts above bound every index the product reads (block: rows × d, row
    // stride d; centroids read transposed: d × k, strides 1 and d) and writes (out: rows × k).
    unsafe {
        matrixmultiply::dgemm(
            rows,
            d,
            k,
            1.0,
            block.as_ptr(),
            d as isize,
            1,
            centroids.data.as_ptr(),
            1,
            d as isize,
            0.0,
            out.as_mut_ptr(),
            k as isize,
            1,
        );
    }
}

/// The centroid minimising `‖c‖² − 2 x·c` given the products `x·c`; the first on a tie.
fn nearest_by_product(products: &[f64], c_norms: &[f64]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (c, (p, n)) in products.iter().zip(c_norms).enumerate() {
        let v = n - 2.0 * p;
        if v < best.1 {
            best = (c, v);
        }
    }
    best.0
}

/// Sum of exact squared distances of the rows to the centroid [`assign`]'s rule picks (summed
/// in fixed chunks, so the same whatever the scheduling), as scikit-learn computes it.
fn inertia(x: &Matrix, centroids: &Matrix) -> f64 {
    let chunk = |rows: std::ops::Range<usize>| -> f64 {
        let mut total = 0.0;
        each_nearest(x, centroids, rows, |i, c| {
            total += squared_distance(x.row(i), centroids.row(c));
        });
        total
    };
    crate::fold_chunks(x.rows, CHUNK, chunk, |a, b| a + b).unwrap_or(0.0)
}

impl KMeansParams {
    fn check(&self, x: &Matrix) -> Result<()> {
        if self.k == 0 {
            return Err(ModelError::InvalidParam {
                name: "k",
                reason: "must be at least 1".into(),
            });
        }
        if x.rows < self.k {
            return Err(ModelError::InvalidData {
                what: "K-means",
                reason: format!("{} rows cannot make {} clusters", x.rows, self.k),
            });
        }
        if x.data.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::InvalidData {
                what: "K-means",
                reason: "the matrix has a missing or infinite value (scale it first)".into(),
            });
        }
        Ok(())
    }

    /// Fits on the rows of `x` (no missing values).
    pub fn fit(&self, x: &Matrix) -> Result<KMeans> {
        self.check(x)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let tol = self.tolerance * mean_variance(x);
        let mut best: Option<KMeans> = None;
        for _ in 0..self.n_init.max(1) {
            let model = self.lloyd(x, plus_plus(x, self.k, &mut rng), tol);
            if best.as_ref().is_none_or(|b| model.inertia < b.inertia) {
                best = Some(model);
            }
        }
        Ok(best.expect("at least one start"))
    }

    fn lloyd(&self, x: &Matrix, mut centroids: Matrix, tol: f64) -> KMeans {
        let d = x.cols;
        let mut iterations = 0;
        for it in 1..=self.max_iterations {
            iterations = it;
            let (sums, counts) = assign(x, &centroids);
            let mut next = centroids.clone();
            let mut empty = vec![];
            for c in 0..self.k {
                if counts[c] == 0 {
                    empty.push(c);
                    continue;
                }
                for j in 0..d {
                    next.data[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            }
            // An empty cluster takes the row farthest from its centroid.
            for c in empty {
                let far = (0..x.rows)
                    .into_par_iter()
                    .map(|i| (nearest(&next, x.row(i)).1, i))
                    .reduce(
                        || (f64::NEG_INFINITY, 0),
                        // The farthest row; the first one on a tie, whatever the scheduling.
                        |a, b| {
                            if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
                                b
                            } else {
                                a
                            }
                        },
                    )
                    .1;
                next.data[c * d..(c + 1) * d].copy_from_slice(x.row(far));
            }
            let shift: f64 = (0..self.k)
                .map(|c| squared_distance(centroids.row(c), next.row(c)))
                .sum();
            centroids = next;
            if shift <= tol {
                break;
            }
        }
        KMeans {
            inertia: inertia(x, &centroids),
            centroids,
            iterations,
        }
    }
}

impl KMeans {
    /// The cluster of each row.
    pub fn predict(&self, x: &Matrix) -> Vec<usize> {
        (0..x.rows)
            .into_par_iter()
            .map(|i| nearest(&self.centroids, x.row(i)).0)
            .collect()
    }

    /// The cluster of `row` and the Euclidean distance to its centroid.
    pub fn predict_one(&self, row: &[f64]) -> (usize, f64) {
        let (c, d2) = nearest(&self.centroids, row);
        (c, d2.sqrt())
    }

    /// Renumbers the clusters: cluster `i` becomes `order[i]`.
    pub fn relabel(&self, order: &[usize]) -> KMeans {
        let mut data = self.centroids.data.clone();
        let d = self.centroids.cols;
        for (old, new) in order.iter().enumerate() {
            data[new * d..(new + 1) * d].copy_from_slice(self.centroids.row(old));
        }
        KMeans {
            centroids: Matrix {
                data,
                ..self.centroids.clone()
            },
            ..self.clone()
        }
    }
}

/// The mean silhouette of a random sample of at most `sample` rows (all rows when fewer),
/// computed within the sample (scikit-learn's `sample_size`). Needs at least two clusters.
pub fn silhouette(x: &Matrix, labels: &[usize], sample: usize, seed: u64) -> Option<f64> {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    if k < 2 {
        return None;
    }
    let mut idx: Vec<usize> = (0..x.rows).collect();
    if x.rows > sample {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Partial Fisher-Yates: the first `sample` places.
        for i in 0..sample {
            let j = rng.gen_range(i..x.rows);
            idx.swap(i, j);
        }
        idx.truncate(sample);
    }
    let mut sizes = vec![0usize; k];
    for &i in &idx {
        sizes[labels[i]] += 1;
    }
    let scores: Vec<f64> = idx
        .par_iter()
        .map(|&i| {
            let mut sum = vec![0.0; k];
            for &j in &idx {
                sum[labels[j]] += squared_distance(x.row(i), x.row(j)).sqrt();
            }
            let own = labels[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            let a = sum[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|c| *c != own && sizes[*c] > 0)
                .map(|c| sum[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !b.is_finite() {
                return 0.0;
            }
            (b - a) / a.max(b).max(f64::MIN_POSITIVE)
        })
        .collect();
    Some(scores.iter().sum::<f64>() / scores.len() as f64)
}

/// The silhouette of each `k` tried and the chosen one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KChoice {
    pub k: usize,
    pub tried: Vec<(usize, f64)>,
}

/// Fits every `k` in `ks` and keeps the one with the highest sampled silhouette (the smaller
/// `k` on a tie).
pub fn choose_k(
    x: &Matrix,
    ks: impl IntoIterator<Item = usize>,
    params: &KMeansParams,
    sample: usize,
) -> Result<(KMeans, KChoice)> {
    let mut best: Option<(KMeans, f64)> = None;
    let mut tried = vec![];
    for k in ks {
        let model = KMeansParams { k, ..*params }.fit(x)?;
        let s = silhouette(x, &model.predict(x), sample, params.seed).unwrap_or(f64::NEG_INFINITY);
        tried.push((k, s));
        if best.as_ref().is_none_or(|(_, b)| s > *b) {
            best = Some((model, s));
        }
    }
    let (model, _) = best.ok_or(ModelError::InvalidParam {
        name: "k range",
        reason: "is empty".into(),
    })?;
    let k = model.centroids.rows;
    Ok((model, KChoice { k, tried }))
}

/// Labels for today's clusters that keep yesterday's numbering: the assignment of today's
/// centroids to yesterday's with the least total squared distance (the Hungarian method), in
/// the same feature space. Today's cluster `i` gets label `result[i]`; clusters beyond
/// yesterday's count get the next free labels.
pub fn match_labels(previous: &Matrix, today: &Matrix) -> Vec<usize> {
    let (n, m) = (today.rows, previous.rows);
    if m == 0 {
        return (0..n).collect();
    }
    // Hungarian needs rows <= columns: pad the cost matrix to a square with zero-cost dummies.
    let size = n.max(m);
    let mut cost = vec![vec![0.0; size]; size];
    for (i, row) in cost.iter_mut().enumerate().take(n) {
        for (j, c) in row.iter_mut().enumerate().take(m) {
            *c = squared_distance(today.row(i), previous.row(j));
        }
    }
    let assigned = hungarian(&cost);
    let mut labels = vec![usize::MAX; n];
    let mut next = m;
    for i in 0..n {
        labels[i] = if assigned[i] < m {
            assigned[i]
        } else {
            next += 1;
            next - 1
        };
    }
    labels
}

/// The minimum-cost assignment of a square cost matrix: row `i` -> column `result[i]`
/// (the O(n³) potentials formulation of the Hungarian method).
fn hungarian(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; n + 1]);
    let mut p = vec![0usize; n + 1]; // p[j]: the row matched to column j (1-based, 0 = none)
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut result = vec![0; n];
    for j in 1..=n {
        if p[j] > 0 {
            result[p[j] - 1] = j - 1;
        }
    }
    result
}

/// Adjusted Rand index between two labelings (1 = identical partitions, about 0 = chance).
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0u64; kb]; ka];
    for (x, y) in a.iter().zip(b) {
        table[*x][*y] += 1;
    }
    let c2 = |n: u64| (n * n.saturating_sub(1)) as f64 / 2.0;
    let sum_ij: f64 = table.iter().flatten().map(|n| c2(*n)).sum();
    let sum_a: f64 = table.iter().map(|r| c2(r.iter().sum())).sum();
    let sum_b: f64 = (0..kb).map(|j| c2(table.iter().map(|r| r[j]).sum())).sum();
    let total = c2(a.len() as u64);
    let expected = sum_a * sum_b / total;
    let max = (sum_a + sum_b) / 2.0;
    if max == expected {
        return 1.0;
    }
    (sum_ij - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// `per` rows around each of `centres`, with unit noise; labels are the centre index.
    pub(crate) fn blobs(centres: &[Vec<f64>], per: usize, seed: u64) -> (Matrix, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let mut rows = vec![];
        let mut labels = vec![];
        for i in 0..per * centres.len() {
            let c = i % centres.len();
            rows.push(
                centres[c]
                    .iter()
                    .map(|m| m + noise.sample(&mut rng))
                    .collect(),
            );
            labels.push(c);
        }
        (Matrix::from_rows(&rows).unwrap(), labels)
    }

    fn centres() -> Vec<Vec<f64>> {
        vec![
            vec![0.0, 0.0, 0.0],
            vec![10.0, 0.0, 0.0],
            vec![0.0, 10.0, 0.0],
            vec![0.0, 0.0, 10.0],
            vec![10.0, 10.0, 10.0],
        ]
    }

    #[test]
    fn mean_variance_by_hand() {
        // Column variances 2/3 and 0 (population): their mean is 1/3.
        let x = Matrix::from_rows(&[vec![1.0, 5.0], vec![2.0, 5.0], vec![3.0, 5.0]]).unwrap();
        assert!((mean_variance(&x) - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn blocked_assignment_equals_exact_distances() {
        // 3001 rows: several blocks and chunks, the last ones partial.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (rows, d, k) = (3001, 7, 5);
        let data: Vec<f64> = (0..rows * d).map(|_| rng.gen_range(-5.0..5.0)).collect();
        let x = Matrix::new(rows, d, data).unwrap();
        let centroids = plus_plus(&x, k, &mut rng);
        let (sums, counts) = assign(&x, &centroids);
        let (mut want_sums, mut want_counts) = (vec![0.0; k * d], vec![0usize; k]);
        let mut want_inertia = 0.0;
        for i in 0..rows {
            let (c, dist) = nearest(&centroids, x.row(i));
            want_counts[c] += 1;
            want_inertia += dist;
            for j in 0..d {
                want_sums[c * d + j] += x.row(i)[j];
            }
        }
        assert_eq!(counts, want_counts);
        for (a, b) in sums.iter().zip(&want_sums) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert!((inertia(&x, &centroids) - want_inertia).abs() < 1e-6 * want_inertia);
    }

    #[test]
    fn recovers_planted_clusters() {
        let (x, truth) = blobs(&centres(), 400, 7);
        let model = KMeansParams {
            k: 5,
            ..Default::default()
        }
        .fit(&x)
        .unwrap();
        let ari = adjusted_rand_index(&truth, &model.predict(&x));
        assert!(ari >= 0.95, "ARI {ari}");
    }

    #[test]
    fn silhouette_chooses_the_planted_k() {
        let (x, _) = blobs(&centres(), 200, 8);
        let (model, choice) = choose_k(&x, 2..=8, &KMeansParams::default(), 500).unwrap();
        assert_eq!(choice.k, 5, "{choice:?}");
        assert_eq!(model.centroids.rows, 5);
    }

    #[test]
    fn same_seed_same_model() {
        let (x, _) = blobs(&centres(), 100, 9);
        let p = KMeansParams {
            k: 4,
            ..Default::default()
        };
        assert_eq!(p.fit(&x).unwrap(), p.fit(&x).unwrap());
    }

    #[test]
    fn labels_follow_the_previous_centroids() {
        let (x, _) = blobs(&centres(), 200, 10);
        let p = KMeansParams {
            k: 5,
            ..Default::default()
        };
        let yesterday = p.fit(&x).unwrap();
        // Today: the same population with new noise, fitted from another seed, so the raw
        // numbering differs; matching brings yesterday's numbers back.
        let (x2, _) = blobs(&centres(), 200, 11);
        let today = KMeansParams { seed: 99, ..p }.fit(&x2).unwrap();
        let labels = match_labels(&yesterday.centroids, &today.centroids);
        let today = today.relabel(&labels);
        for c in 0..5 {
            assert!(
                squared_distance(today.centroids.row(c), yesterday.centroids.row(c)) < 1.0,
                "cluster {c} moved"
            );
        }
    }

    #[test]
    fn hungarian_by_hand() {
        // The greedy choice (row 0 -> column 0, cost 1) forces row 1 to cost 100; the optimum
        // is 2 + 3.
        let cost = vec![vec![1.0, 2.0], vec![3.0, 100.0]];
        assert_eq!(hungarian(&cost), vec![1, 0]);
        // More clusters today than yesterday: the new one gets a fresh label.
        let prev = Matrix::from_rows(&[vec![0.0], vec![10.0]]).unwrap();
        let today = Matrix::from_rows(&[vec![10.5], vec![50.0], vec![0.2]]).unwrap();
        assert_eq!(match_labels(&prev, &today), vec![1, 2, 0]);
    }

    #[test]
    fn adjusted_rand_index_by_hand() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0);
        // scikit-learn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
        let ari = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert!((ari - 0.5714285714285715).abs() < 1e-12, "{ari}");
    }
}
