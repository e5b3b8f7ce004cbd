//! A small L-BFGS minimizer (two-loop recursion, backtracking Armijo line search), shared by the
//! model crates: enough for the few-parameter likelihoods of the CLV models and the penalised
//! likelihood of logistic regression. Start from [`minimize`]. A non-finite objective counts as "too far"
//! and shortens the step, so a model may return `inf` outside its valid region.
//!
//! Also [`fold_chunks`], the deterministic parallel reduction the likelihoods and gradients use.

/// A parallel reduction whose result does not depend on thread scheduling: `0..n` is cut into
/// fixed chunks, each chunk is reduced by `f` in parallel, and the partial results are combined
/// in chunk order. (Rayon's own `reduce` combines in an order that depends on work stealing,
/// which changes the rounding of float sums from run to run: the same data must give the same
/// model, byte for byte.)
pub fn fold_chunks<T: Send>(
    n: usize,
    chunk: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync + Send,
    combine: impl FnMut(T, T) -> T,
) -> Option<T> {
    use rayon::prelude::*;
    let chunk = chunk.max(1);
    let parts: Vec<T> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| f(c * chunk..((c + 1) * chunk).min(n)))
        .collect();
    parts.into_iter().reduce(combine)
}

/// Settings of [`minimize`].
#[derive(Debug, Clone, Copy)]
pub struct Lbfgs {
    /// Pairs kept for the inverse-Hessian estimate.
    pub memory: usize,
    pub max_iterations: usize,
    /// Converged when every gradient component is below this.
    pub gradient_tolerance: f64,
    /// Converged when an iteration improves the objective by less than this, relatively.
    pub value_tolerance: f64,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Lbfgs {
            memory: 10,
            max_iterations: 500,
            gradient_tolerance: 1e-9,
            value_tolerance: 1e-14,
        }
    }
}

/// Where [`minimize`] stopped.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimizes `f`, which returns the value and the gradient at a point, from `x0`.
pub fn minimize(f: impl Fn(&[f64]) -> (f64, Vec<f64>), x0: &[f64], opts: Lbfgs) -> Minimum {
    let n = x0.len();
    let mut x = x0.to_vec();
    let (mut fx, mut g) = f(&x);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    if !fx.is_finite() {
        return Minimum {
            x,
            value: fx,
            iterations: 0,
            converged: false,
        };
    }
    for iteration in 1..=opts.max_iterations {
        if g.iter().all(|v| v.abs() < opts.gradient_tolerance) {
            return Minimum {
                x,
                value: fx,
                iterations: iteration - 1,
                converged: true,
            };
        }
        // Two-loop recursion: d = −H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            for i in 0..n {
                q[i] -= a * y[i];
            }
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            for i in 0..n {
                q[i] += (a - b) * s[i];
            }
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            history.clear();
            d = g.iter().map(|v| -v).collect();
            slope = dot(&g, &d);
        }
        // Backtracking line search (Armijo).
        let mut step = if history.is_empty() {
            1.0 / g.iter().map(|v| v.abs()).fold(1.0, f64::max)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..60 {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let (fn_, gn) = f(&xn);
            if fn_.is_finite() && fn_ <= fx + 1e-4 * step * slope {
                accepted = Some((xn, fn_, gn));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fn_, gn)) = accepted else {
            // No step improves: at the resolution of f64, this is the minimum.
            let converged = g.iter().all(|v| v.abs() < opts.gradient_tolerance.sqrt());
            return Minimum {
                x,
                value: fx,
                iterations: iteration,
                converged,
            };
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() {
            history.push_back((s, y, 1.0 / sy));
            if history.len() > opts.memory {
                history.pop_front();
            }
        }
        let improvement = fx - fn_;
        x = xn;
        g = gn;
        let previous = fx;
        fx = fn_;
        if improvement.abs() <= opts.value_tolerance * previous.abs().max(1.0) {
            return Minimum {
                x,
                value: fx,
                iterations: iteration,
                converged: true,
            };
        }
    }
    let converged = g.iter().all(|v| v.abs() < opts.gradient_tolerance);
    Minimum {
        x,
        value: fx,
        iterations: opts.max_iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosen = |p: &[f64]| {
            let (x, y) = (p[0], p[1]);
            let v = (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let g = vec![
                -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
                200.0 * (y - x * x),
            ];
            (v, g)
        };
        let m = minimize(rosen, &[-1.2, 1.0], Lbfgs::default());
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6,
            "{m:?}"
        );
    }

    #[test]
    fn backs_off_from_non_finite_regions() {
        // ln-barrier: defined for x > 0 only; minimum at x = 1.
        let f = |p: &[f64]| {
            if p[0] <= 0.0 {
                return (f64::INFINITY, vec![0.0]);
            }
            (p[0] - p[0].ln(), vec![1.0 - 1.0 / p[0]])
        };
        let m = minimize(f, &[20.0], Lbfgs::default());
        assert!((m.x[0] - 1.0).abs() < 1e-6, "{m:?}");
    }
}
