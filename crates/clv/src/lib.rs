//! Customer lifetime value: models of repeat purchases (BG/NBD, MBG/NBD, Pareto/NBD, and BG/BB
//! for discrete opportunities) and the Gamma-Gamma model of spend, fitted by maximum likelihood.
//!
//! Start from [`BgNbdParams::fit`] on each customer's [`Rfm`] summary (frequency = repeat
//! purchase periods, recency = first to last purchase, `T` = first purchase to the end of
//! calibration, all in one time unit), and [`GammaGammaParams::fit`] on repeat customers' mean
//! repeat purchase values. The likelihoods are computed in log space, with analytic gradients,
//! over the distinct histories only (customers share few distinct `(x, tₓ, T)`), in parallel
//! with rayon, and minimized with L-BFGS from several starting points. A fit that does not
//! converge is an error, never a NaN.
//!
//! ```
//! use lifecycle_clv::{BgNbd, Rfm};
//! // Published CDNOW parameters (Fader, Hardie & Lee 2005), time in weeks.
//! let m = BgNbd::new(0.2426, 4.4135, 0.7929, 2.4258);
//! let c = Rfm { frequency: 2.0, recency: 30.43, t: 38.86 };
//! let next_39_weeks = m.conditional_expected_purchases(39.0, &c).unwrap();
//! assert!((next_39_weeks - 1.226).abs() < 1e-3);
//! ```

pub mod bgbb;
pub mod bgnbd;
pub mod gamma_gamma;
pub mod holdout;
pub mod mbgnbd;
pub mod pareto_nbd;
pub mod repeat;
pub mod simulate;
pub mod special;
pub mod stderr;
pub mod value;

/// The L-BFGS minimizer the fits use (the `lifecycle-optim` crate).
pub use lifecycle_optim as optimize;

pub use bgbb::{BgBb, BgBbParams};
pub use bgnbd::{BgNbd, BgNbdParams};
pub use gamma_gamma::{GammaGamma, GammaGammaParams};
pub use holdout::{HoldoutCustomer, HoldoutEvaluation};
pub use mbgnbd::{MbgNbd, MbgNbdParams};
pub use pareto_nbd::{ParetoNbd, ParetoNbdParams};
pub use repeat::{FitSettings, RepeatModel, RepeatModelKind};
use serde::{Deserialize, Serialize};
pub use value::{Prediction, Purchaser, ValueParams};

/// Result with a [`ClvError`] by default.
pub type Result<T, E = ClvError> = std::result::Result<T, E>;

/// A CLV model could not be fitted or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClvError {
    /// A customer summary is not a valid history.
    #[error("customer {index}: {reason}")]
    InvalidData { index: usize, reason: String },
    /// No customer purchased more than once: there is nothing to fit spend on.
    #[error("no repeat customers: the Gamma-Gamma model needs customers with repeat purchases")]
    NoRepeatCustomers,
    /// The optimizer did not find a maximum.
    #[error("the {model} fit did not converge after {iterations} iterations: {reason}")]
    NotConverged {
        model: &'static str,
        iterations: usize,
        reason: String,
    },
    /// A prediction is not a finite number for these parameters.
    #[error("{quantity} is not finite for these parameters")]
    Numerical { quantity: &'static str },
}

/// What a model of repeat purchases predicts for a customer; [`ValueParams`] values customers
/// with any of them (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB).
pub trait RepeatPurchaseModel {
    /// `P(alive | x, tₓ, T)`.
    fn probability_alive(&self, c: &Rfm) -> f64;
    /// `E[Y(t) | x, tₓ, T]`: expected purchases in the next `t`.
    fn conditional_expected_purchases(&self, t: f64, c: &Rfm) -> Result<f64>;
    /// `E[X(t)]`: expected purchases of a new customer in a period of length `t`.
    fn expected_purchases(&self, t: f64) -> Result<f64>;
    /// Total log-likelihood of `customers`.
    fn log_likelihood(&self, customers: &[Rfm]) -> f64;
    /// Discounted expected residual transactions at the continuous rate `delta` per time unit,
    /// where the model has a closed form (the Pareto/NBD); None elsewhere.
    fn dert(&self, _delta: f64, _c: &Rfm) -> Option<Result<f64>> {
        None
    }
}

macro_rules! repeat_purchases {
    ($model:ty $(, $($extra:tt)*)?) => {
        impl RepeatPurchaseModel for $model {
            fn probability_alive(&self, c: &Rfm) -> f64 {
                <$model>::probability_alive(self, c)
            }
            fn conditional_expected_purchases(&self, t: f64, c: &Rfm) -> Result<f64> {
                <$model>::conditional_expected_purchases(self, t, c)
            }
            fn expected_purchases(&self, t: f64) -> Result<f64> {
                <$model>::expected_purchases(self, t)
            }
            fn log_likelihood(&self, customers: &[Rfm]) -> f64 {
                <$model>::log_likelihood(self, customers)
            }
            $($($extra)*)?
        }
    };
}
repeat_purchases!(BgNbd);
repeat_purchases!(
    ParetoNbd,
    fn dert(&self, delta: f64, c: &Rfm) -> Option<Result<f64>> {
        Some(ParetoNbd::dert(self, delta, c))
    }
);
repeat_purchases!(MbgNbd);
repeat_purchases!(BgBb);

/// One customer's purchase history as of the end of calibration, in one time unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rfm {
    /// Repeat purchase periods `x` (purchases after the first, counted once per period).
    pub frequency: f64,
    /// `tₓ`: time from the first to the last purchase.
    pub recency: f64,
    /// `T`: time from the first purchase to the end of calibration.
    pub t: f64,
}

/// `v` when it is a finite number, else a [`ClvError::Numerical`] naming `what`.
pub(crate) fn numeric(what: &'static str, v: Option<f64>) -> Result<f64> {
    match v {
        Some(v) if v.is_finite() => Ok(v),
        _ => Err(ClvError::Numerical { quantity: what }),
    }
}

/// Checks every summary: `x` a whole number ≥ 0, `0 ≤ tₓ ≤ T`, `tₓ = 0` when `x = 0`. `T = 0` is
/// a customer whose first purchase is in the last period: valid, with nothing to learn from.
pub(crate) fn validate(customers: &[Rfm]) -> Result<()> {
    if customers.is_empty() {
        return Err(ClvError::InvalidData {
            index: 0,
            reason: "no customers to fit".into(),
        });
    }
    for (index, c) in customers.iter().enumerate() {
        let bad = |reason: &str| {
            Err(ClvError::InvalidData {
                index,
                reason: format!("{reason}: {c:?}"),
            })
        };
        if !(c.frequency >= 0.0 && c.frequency.fract() == 0.0) {
            return bad("frequency must be a whole number of periods, zero or more");
        }
        if !(c.recency >= 0.0 && c.recency <= c.t && c.t.is_finite()) {
            return bad("need 0 <= recency <= T");
        }
        if c.frequency == 0.0 && c.recency != 0.0 {
            return bad("a customer without repeat purchases has recency 0");
        }
    }
    Ok(())
}

/// Minimizes `objective` over the logarithms of positive parameters from each start (given as
/// parameters), and returns the best converged parameters and the iterations it took.
pub(crate) fn fit_positive(
    model: &'static str,
    names: &[&str],
    objective: impl Fn(&[f64]) -> (f64, Vec<f64>),
    starts: &[Vec<f64>],
    opts: optimize::Lbfgs,
) -> Result<(Vec<f64>, usize)> {
    let log_starts = starts
        .iter()
        .map(|s| s.iter().map(|v| v.ln()).collect::<Vec<_>>());
    let fits: Vec<_> = log_starts
        .map(|s| optimize::minimize(&objective, &s, opts))
        .filter(|m| m.value.is_finite())
        .collect();
    // The best converged fit; only when none converged, the best of the rest (to report it).
    let best_of = |converged: bool| {
        fits.iter()
            .filter(|m| m.converged == converged && m.x.iter().all(|v| v.exp().is_finite()))
            .min_by(|x, y| x.value.total_cmp(&y.value))
    };
    let best = best_of(true)
        .or_else(|| best_of(false))
        .or_else(|| fits.iter().min_by(|x, y| x.value.total_cmp(&y.value)))
        .ok_or(ClvError::NotConverged {
            model,
            iterations: opts.max_iterations,
            reason: "no starting point gave a finite likelihood".into(),
        })?;
    let p: Vec<f64> = best.x.iter().map(|v| v.exp()).collect();
    if !best.converged || p.iter().any(|v| !v.is_finite()) {
        let at: Vec<String> = names
            .iter()
            .zip(&p)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        return Err(ClvError::NotConverged {
            model,
            iterations: best.iterations,
            reason: format!("stopped at {}", at.join(", ")),
        });
    }
    Ok((p, best.iterations))
}

/// The objective [`fit_positive`] minimizes for a model whose log-likelihood has no handy
/// derivatives: the mean negative log-likelihood of `n` customers (`total`, of the parameters)
/// over the parameters' logarithms, with a central-difference gradient (exact to about 1e-9).
pub(crate) fn central_difference(
    n: f64,
    total: impl Fn([f64; 4]) -> f64,
) -> impl Fn(&[f64]) -> (f64, Vec<f64>) {
    let value = move |theta: &[f64]| -> f64 {
        let p = [
            theta[0].exp(),
            theta[1].exp(),
            theta[2].exp(),
            theta[3].exp(),
        ];
        let v = -total(p) / n;
        if v.is_finite() { v } else { f64::INFINITY }
    };
    move |theta: &[f64]| {
        let h = 1e-6;
        let g = (0..4)
            .map(|j| {
                let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
                up[j] += h;
                down[j] -= h;
                (value(&up) - value(&down)) / (2.0 * h)
            })
            .collect();
        (value(theta), g)
    }
}

/// The distinct histories with how many customers share each.
pub(crate) fn compress(customers: &[Rfm]) -> Vec<(Rfm, f64)> {
    let mut map: std::collections::HashMap<(u64, u64, u64), (Rfm, f64)> = Default::default();
    for c in customers {
        let key = (c.frequency.to_bits(), c.recency.to_bits(), c.t.to_bits());
        map.entry(key).or_insert((*c, 0.0)).1 += 1.0;
    }
    let mut out: Vec<(Rfm, f64)> = map.into_values().collect();
    out.sort_by(|a, b| {
        (a.0.frequency, a.0.recency, a.0.t)
            .partial_cmp(&(b.0.frequency, b.0.recency, b.0.t))
            .expect("validated values are finite")
    });
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn shared(file: &str) -> String {
        // Read at run time: see `tests/it/common.rs` `repo_dir` for why.
        let path = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../../../shared/datasets/cdnow")
        .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `cdnow_customers_summary.csv`: the published calibration summary, in weeks.
    pub fn cdnow_summary() -> Vec<Rfm> {
        shared("cdnow_customers_summary.csv")
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
                Rfm {
                    frequency: f[1],
                    recency: f[2],
                    t: f[3],
                }
            })
            .collect()
    }

    /// `(x, t_x, T, zbar)` rows of `cdnow_customers_summary_with_transactions.csv`.
    pub fn cdnow_with_values() -> Vec<(f64, f64, f64, f64)> {
        shared("cdnow_customers_summary_with_transactions.csv")
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
                (f[1], f[2], f[3], f[4])
            })
            .collect()
    }

    /// The `model` entry of `fixtures/lifetimes_cdnow.json` (made by
    /// `scripts/reference/clv_lifetimes.py`) and its parameters named `names`.
    pub fn lifetimes(model: &str, names: [&str; 4]) -> (serde_json::Value, [f64; 4]) {
        let text = include_str!("../fixtures/lifetimes_cdnow.json");
        let entry = serde_json::from_str::<serde_json::Value>(text).unwrap()[model].clone();
        let params = names.map(|n| entry["params"][n].as_f64().unwrap());
        (entry, params)
    }

    /// Our fit found lifetimes' maximum: parameters to 1e-3 relative, a log-likelihood at least
    /// as high.
    pub fn assert_same_fit(
        ours: [f64; 4],
        ours_ll: f64,
        entry: &serde_json::Value,
        names: [&str; 4],
    ) {
        for (j, name) in names.iter().enumerate() {
            let theirs = entry["params"][name].as_f64().unwrap();
            let got = ours[j];
            assert!(
                (got / theirs - 1.0).abs() < 1e-3,
                "{name}: {got} vs lifetimes' {theirs}"
            );
        }
        let ll = entry["log_likelihood"].as_f64().unwrap();
        assert!(ours_ll >= ll - 1e-6, "{ours_ll} < lifetimes' {ll}");
    }

    /// With lifetimes' parameters, `model` gives lifetimes' numbers to 1e-6: the total and
    /// per-history log-likelihoods, P(alive), E[Y(39)] and E[X(t)].
    pub fn assert_same_predictions(model: &impl RepeatPurchaseModel, entry: &serde_json::Value) {
        let close = |got: f64, want: &serde_json::Value, what: &str| {
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{what}: {got} vs lifetimes' {want}"
            );
        };
        close(
            model.log_likelihood(&cdnow_summary()),
            &entry["log_likelihood"],
            "total ll",
        );
        for case in entry["cases"].as_array().unwrap() {
            let c = Rfm {
                frequency: case["x"].as_f64().unwrap(),
                recency: case["t_x"].as_f64().unwrap(),
                t: case["T"].as_f64().unwrap(),
            };
            let what = format!("{c:?}");
            close(model.log_likelihood(&[c]), &case["log_likelihood"], &what);
            close(model.probability_alive(&c), &case["p_alive"], &what);
            let e = model.conditional_expected_purchases(39.0, &c).unwrap();
            close(e, &case["expected_39"], &what);
        }
        for (t, v) in entry["unconditional"].as_object().unwrap() {
            let e = model.expected_purchases(t.parse().unwrap()).unwrap();
            close(e, v, "E[X(t)]");
        }
    }

    /// `f`'s gradient equals its central finite differences at `p`, for a customer without and
    /// one with repeat purchases.
    pub fn assert_gradient(f: impl Fn([f64; 4], &Rfm) -> (f64, [f64; 4]), p: [f64; 4]) {
        let customers = [
            Rfm {
                frequency: 0.0,
                recency: 0.0,
                t: 30.0,
            },
            Rfm {
                frequency: 7.0,
                recency: 21.5,
                t: 38.0,
            },
        ];
        for c in customers {
            let (_, g) = f(p, &c);
            for j in 0..4 {
                let h = 1e-6 * p[j];
                let (mut up, mut down) = (p, p);
                up[j] += h;
                down[j] -= h;
                let numeric = (f(up, &c).0 - f(down, &c).0) / (2.0 * h);
                assert!(
                    (numeric - g[j]).abs() < 1e-6 * numeric.abs().max(1.0),
                    "{c:?} d{j}: {numeric} vs {}",
                    g[j]
                );
            }
        }
    }

    #[test]
    fn invalid_histories_are_named() {
        let err = BgNbdParams::default()
            .fit(&[
                Rfm {
                    frequency: 1.0,
                    recency: 5.0,
                    t: 10.0,
                },
                Rfm {
                    frequency: 1.5,
                    recency: 1.0,
                    t: 2.0,
                },
            ])
            .unwrap_err();
        assert!(
            matches!(err, ClvError::InvalidData { index: 1, .. }),
            "{err}"
        );
        let err = BgNbdParams::default()
            .fit(&[Rfm {
                frequency: 1.0,
                recency: 5.0,
                t: 4.0,
            }])
            .unwrap_err();
        assert!(err.to_string().contains("recency <= T"), "{err}");
    }

    #[test]
    fn a_first_purchase_in_the_last_period_is_valid() {
        let c = Rfm {
            frequency: 0.0,
            recency: 0.0,
            t: 0.0,
        };
        assert!(validate(&[c]).is_ok());
        let m = BgNbd::new(0.2426, 4.4135, 0.7929, 2.4258);
        let (ll, g) = bgnbd::log_likelihood_and_gradient([m.r, m.alpha, m.a, m.b], &c);
        assert_eq!(ll, 0.0, "nothing observed yet: probability 1");
        assert!(g.iter().all(|v| v.is_finite()));
        assert_eq!(m.probability_alive(&c), 1.0);
        assert!(m.conditional_expected_purchases(10.0, &c).unwrap() > 0.0);
    }

    #[test]
    fn compression_keeps_counts() {
        let a = Rfm {
            frequency: 0.0,
            recency: 0.0,
            t: 5.0,
        };
        let b = Rfm {
            frequency: 1.0,
            recency: 2.0,
            t: 5.0,
        };
        let groups = compress(&[a, b, a, a]);
        assert_eq!(groups, vec![(a, 3.0), (b, 1.0)]);
    }
}
