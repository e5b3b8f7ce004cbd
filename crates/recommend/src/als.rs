//! Implicit ALS (Hu, Koren & Volinsky 2008): users and items get `factors`-dimensional vectors
//! whose dot product predicts the preference `p = 1` for observed pairs and `0` otherwise, each
//! pair weighted by the confidence `c = 1 + alpha · w` (unobserved pairs: `c = 1`).
//!
//! Loss: `Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ (Σ‖x_u‖² + Σ‖y_i‖²)`.
//!
//! Each half-step fixes one side and solves every row's regularised least squares
//! `(YᵀY + Yᵀ(C_u − I)Y + λI) x_u = Yᵀ C_u p_u` with a few conjugate-gradient steps warm-started
//! at the current vector (the solver of Takács et al. that `implicit` uses), rows in parallel
//! with rayon. `YᵀY` is computed once per half-step, so a row costs O(nnz_u · f + f²) per CG step
//! instead of a dense solve. CG on a row's quadratic from the current vector never increases
//! that row's term, so the loss never increases from one iteration to the next (tested).
//! The loss itself is computed without touching the unobserved pairs:
//! `Σ_u x_uᵀ(YᵀY)x_u + Σ_observed [c (1 − s)² − s²]`, `s = x_u·y_i`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::{Csr, RecommendError, Result};

/// ALS settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlsParams {
    pub factors: usize,
    /// `λ`.
    pub regularization: f32,
    /// Confidence `c = 1 + alpha · w`.
    pub alpha: f32,
    pub iterations: usize,
    /// Conjugate-gradient steps per row and half-step.
    pub cg_steps: usize,
    pub seed: u64,
    /// Compute the loss after each iteration (costs about one CG step).
    pub track_loss: bool,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            regularization: 0.01,
            alpha: 1.0,
            iterations: 15,
            cg_steps: 3,
            seed: 42,
            track_loss: true,
        }
    }
}

/// Fitted factors, row-major (`factors` values per user or item).
#[derive(Debug, Clone, PartialEq)]
pub struct Als {
    pub factors: usize,
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
    /// The loss after each iteration (empty without `track_loss`).
    pub loss: Vec<f64>,
    /// `item_factors` transposed (`factors` rows of one value per item), made on first use
    /// by [`Als::scores_into`]: the product packs its rows as contiguous runs.
    by_factor: std::sync::OnceLock<Vec<f32>>,
}

/// A dot product in 8 independent lanes, so that the compiler vectorises it (a single running
/// sum of floats cannot be reordered, and stays scalar).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// `YᵀY` of row-major factors `y` (rows of length `f`), as an f × f matrix.
fn gram(y: &[f32], f: usize) -> Vec<f32> {
    let parts: Vec<Vec<f64>> = y
        .par_chunks(f * 4096)
        .map(|chunk| {
            let mut g = vec![0f64; f * f];
            for row in chunk.chunks(f) {
                for a in 0..f {
                    let ra = row[a] as f64;
                    for b in a..f {
                        g[a * f + b] += ra * row[b] as f64;
                    }
                }
            }
            g
        })
        .collect();
    let mut g = vec![0f64; f * f];
    for p in parts {
        g.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    let mut out = vec![0f32; f * f];
    for a in 0..f {
        for b in a..f {
            out[a * f + b] = g[a * f + b] as f32;
            out[b * f + a] = g[a * f + b] as f32;
        }
    }
    out
}

/// One half-step: updates `x` (rows of `m`) given the other side's factors `y`.
fn solve_side(m: &Csr, x: &mut [f32], y: &[f32], f: usize, p: &AlsParams) {
    let yty = gram(y, f);
    let side = Side {
        y,
        yty: &yty,
        f,
        lambda: p.regularization,
        alpha: p.alpha,
        cg_steps: p.cg_steps,
    };
    x.par_chunks_mut(f).enumerate().for_each(|(u, xu)| {
        let (items, weights) = m.row(u);
        solve_row(&side, items, weights, xu);
    });
}

/// What every row of a half-step shares.
struct Side<'a> {
    /// The other side's factors, and their Gram matrix `YᵀY`.
    y: &'a [f32],
    yty: &'a [f32],
    f: usize,
    lambda: f32,
    alpha: f32,
    cg_steps: usize,
}

impl Side<'_> {
    /// `A·v = YᵀY v + Σ_i (c_i − 1)(y_i·v) y_i + λ v` into `out`, for a row's `weights` and
    /// the factors `ys` of its items (gathered, one after the other).
    #[inline(always)]
    fn apply(&self, ys: &[f32], weights: &[f32], v: &[f32], out: &mut [f32]) {
        let f = self.f;
        for a in 0..f {
            out[a] = dot(&self.yty[a * f..(a + 1) * f], v) + self.lambda * v[a];
        }
        for (yi, w) in ys.chunks_exact(f).zip(weights) {
            let s = self.alpha * w * dot(yi, v);
            out.iter_mut().zip(yi).for_each(|(o, yv)| *o += s * yv);
        }
    }
}

/// A few conjugate-gradient steps on one row's system from its current vector `xu`: compiled
/// for AVX2 as well, used when the CPU has it (the release build targets plain x86-64, whose
/// SSE2 registers hold a quarter of a 32-factor row). The same additions in the same order, only
/// wider registers (no fused multiply-add), so the factors are the same bits on every machine.
/// (The `multiversion` crate does this dispatch too, but its macros change `syn`'s features,
/// which rebuilds every proc macro and DataFusion with them: 25 minutes of CI, once per cache.)
fn solve_row(side: &Side, items: &[u32], weights: &[f32], xu: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { solve_row_avx2(side, items, weights, xu) };
    }
    solve_row_with(side, items, weights, xu)
}

/// [`solve_row_with`] compiled with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn solve_row_avx2(side: &Side, items: &[u32], weights: &[f32], xu: &mut [f32]) {
    solve_row_with(side, items, weights, xu)
}

/// The body of [`solve_row`], inlined into each of its variants.
#[inline(always)]
fn solve_row_with(side: &Side, items: &[u32], weights: &[f32], xu: &mut [f32]) {
    let f = side.f;
    // The row's items' factors, gathered once: each CG step reads them in order, not scattered
    // over the whole factor matrix.
    let mut ys = Vec::with_capacity(items.len() * f);
    for i in items {
        ys.extend_from_slice(&side.y[*i as usize * f..(*i as usize + 1) * f]);
    }
    // r = b − A x, b = Σ_i c_i y_i.
    let mut ax = vec![0f32; f];
    side.apply(&ys, weights, xu, &mut ax);
    let mut r: Vec<f32> = ax.iter().map(|v| -v).collect();
    for (yi, w) in ys.chunks_exact(f).zip(weights) {
        let c = 1.0 + side.alpha * w;
        r.iter_mut().zip(yi).for_each(|(o, yv)| *o += c * yv);
    }
    let mut d = r.clone();
    let mut rs = dot(&r, &r);
    let mut ad = vec![0f32; f];
    for _ in 0..side.cg_steps {
        if rs < 1e-20 {
            break;
        }
        side.apply(&ys, weights, &d, &mut ad);
        let step = rs / dot(&d, &ad);
        if !step.is_finite() {
            break;
        }
        xu.iter_mut().zip(&d).for_each(|(a, b)| *a += step * b);
        r.iter_mut().zip(&ad).for_each(|(a, b)| *a -= step * b);
        let next = dot(&r, &r);
        let beta = next / rs;
        d.iter_mut().zip(&r).for_each(|(a, b)| *a = b + beta * *a);
        rs = next;
    }
}

impl AlsParams {
    /// Fits on a user × item matrix of weights.
    pub fn fit(&self, user_items: &Csr) -> Result<Als> {
        if self.factors == 0 || self.iterations == 0 {
            return Err(RecommendError::InvalidParam {
                name: "factors / iterations",
                reason: "must be at least 1".into(),
            });
        }
        if user_items.values.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(RecommendError::InvalidData {
                what: "interaction weights",
                reason: "must be finite and >= 0".into(),
            });
        }
        let f = self.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let scale = 0.01;
        let mut init =
            |n: usize| -> Vec<f32> { (0..n * f).map(|_| rng.gen_range(-scale..scale)).collect() };
        let mut x = init(user_items.rows);
        let mut y = init(user_items.cols);
        let item_users = user_items.transpose();
        let mut loss = vec![];
        for _ in 0..self.iterations {
            solve_side(user_items, &mut x, &y, f, self);
            solve_side(&item_users, &mut y, &x, f, self);
            if self.track_loss {
                loss.push(self.loss(user_items, &x, &y));
            }
        }
        Ok(Als {
            factors: f,
            user_factors: x,
            item_factors: y,
            loss,
            by_factor: std::sync::OnceLock::new(),
        })
    }

    fn loss(&self, m: &Csr, x: &[f32], y: &[f32]) -> f64 {
        let f = self.factors;
        let yty = gram(y, f);
        let per_user: Vec<f64> = (0..m.rows)
            .into_par_iter()
            .map(|u| {
                let xu = &x[u * f..(u + 1) * f];
                let mut l = 0f64;
                for a in 0..f {
                    l += xu[a] as f64 * dot(&yty[a * f..(a + 1) * f], xu) as f64;
                }
                let (items, weights) = m.row(u);
                for (i, w) in items.iter().zip(weights) {
                    let s = dot(xu, &y[*i as usize * f..(*i as usize + 1) * f]) as f64;
                    let c = 1.0 + (self.alpha * w) as f64;
                    l += c * (1.0 - s).powi(2) - s * s;
                }
                l + self.regularization as f64 * dot(xu, xu) as f64
            })
            .collect();
        let items: f64 =
            y.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() * self.regularization as f64;
        per_user.iter().sum::<f64>() + items
    }
}

impl Als {
    /// Scores of every item for user `u`.
    pub fn scores(&self, u: u32) -> Vec<f32> {
        self.scores_of(&[u])
    }

    /// Scores of every item for each of `users`, one row of `items` scores per user: one
    /// matrix product `X_users · Yᵀ` (matrixmultiply's cache-blocked, vectorised sgemm, whose
    /// sum for one user and item is the same whatever the other rows).
    pub fn scores_of(&self, users: &[u32]) -> Vec<f32> {
        let mut out = vec![];
        let len = self.scores_into(users, &mut out).len();
        out.truncate(len);
        out
    }

    /// [`Als::scores_of`] into `out` (grown when too short, never shrunk: a thread's buffer
    /// serves block after block); returns the scores, the first `users × items` of it.
    pub fn scores_into<'o>(&self, users: &[u32], out: &'o mut Vec<f32>) -> &'o [f32] {
        let f = self.factors;
        let items = self.item_factors.len() / f.max(1);
        let mut x = Vec::with_capacity(users.len() * f);
        for u in users {
            x.extend_from_slice(&self.user_factors[*u as usize * f..(*u as usize + 1) * f]);
        }
        let by_factor = self.by_factor.get_or_init(|| {
            let mut t = vec![0f32; items * f];
            for (i, row) in self.item_factors.chunks_exact(f.max(1)).enumerate() {
                for (a, v) in row.iter().enumerate() {
                    t[a * items + i] = *v;
                }
            }
            t
        });
        let len = users.len() * items;
        if out.len() < len {
            out.resize(len, 0.0);
        }
        let out = &mut out[..len];
        if f == 0 || out.is_empty() {
            out.fill(0.0);
            return out;
        }
        // SAFETY: `x` is users × f (row-major), `by_factor` f × items (row-major) and `out`
        // users × items (row-major); the strides keep every access inside those three
        // buffers. With beta = 0, `out` is only written.
        unsafe {
            matrixmultiply::sgemm(
                users.len(),
                f,
                items,
                1.0,
                x.as_ptr(),
                f as isize,
                1,
                by_factor.as_ptr(),
                items as isize,
                1,
                0.0,
                out.as_mut_ptr(),
                items as isize,
                1,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planted rank-3 preference matrix: users and items each belong to one of 3 groups and
    /// like the items of their group; 15% of those positives are held out.
    fn planted() -> (Csr, Vec<(u32, u32)>, usize, usize) {
        let (users, items) = (300usize, 90usize);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut train, mut held) = (vec![], vec![]);
        for u in 0..users {
            for i in 0..items {
                if u % 3 == i % 3 {
                    if rng.gen_bool(0.15) {
                        held.push((u as u32, i as u32));
                    } else if rng.gen_bool(0.6) {
                        train.push((u as u32, i as u32, 1.0));
                    }
                }
            }
        }
        (Csr::from_triples(users, items, train), held, users, items)
    }

    #[test]
    fn loss_never_increases() {
        let (m, _, _, _) = planted();
        let als = AlsParams {
            factors: 8,
            iterations: 10,
            alpha: 10.0,
            regularization: 0.1,
            ..Default::default()
        }
        .fit(&m)
        .unwrap();
        for w in als.loss.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-6), "loss rose: {:?}", als.loss);
        }
        assert!(
            als.loss.last().unwrap() < &(als.loss[0] * 0.999),
            "{:?}",
            als.loss
        );
    }

    #[test]
    fn recovers_a_planted_low_rank_matrix() {
        // Held-out positives must outscore every unobserved item of other groups.
        let (m, held, users, items) = planted();
        let als = AlsParams {
            factors: 8,
            iterations: 15,
            alpha: 10.0,
            regularization: 0.1,
            ..Default::default()
        }
        .fit(&m)
        .unwrap();
        let mut wins = 0usize;
        let mut pairs = 0usize;
        for (u, i) in &held {
            let s = als.scores(*u);
            for j in 0..items {
                if j % 3 != *u as usize % 3 {
                    pairs += 1;
                    wins += (s[*i as usize] > s[j]) as usize;
                }
            }
        }
        let auc = wins as f64 / pairs as f64;
        assert!(auc > 0.99, "held-out AUC {auc} over {users} users");
    }
}
