//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchases while alive follow a
//! Poisson process with a gamma(r, α) rate, and each customer's lifetime is exponential with a
//! gamma(s, β) rate, so a customer can drop out at any time, not only after a purchase.
//!
//! One customer's likelihood in the numerically stable form of Fader & Hardie's note "A Note on
//! Deriving the Pareto/NBD Model and Related Expressions" (2005), in log space:
//! `ln L = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β + ln(e^{B₁} + e^{B₂})` with
//! `B₁ = −(r+x) ln(α+T) − s ln(β+T)`, `B₂ = ln s − ln(r+s+x) + ln A₀`, and, with
//! `m = max(α, β)`, `d = |α − β|`, `k = s+1` when `α ≥ β` else `r+x`,
//! `A₀ = ₂F₁(r+s+x, k; r+s+x+1; d/(m+tₓ)) / (m+tₓ)^{r+s+x} − ₂F₁(…; d/(m+T)) / (m+T)^{r+s+x}`.
//! The arguments of `₂F₁` lie in `[0, 1)`, where its series converges.

use serde::{Deserialize, Serialize};

use crate::optimize::Lbfgs;
use crate::special::{hyp2f1, ln_gamma, log_add_exp};
use crate::{Result, Rfm, compress, fit_positive, numeric};

/// Fitting settings; [`ParetoNbdParams::fit`] returns the model.
#[derive(Debug, Clone)]
pub struct ParetoNbdParams {
    /// Starting points `(r, α, s, β)`; the best fit of all is kept.
    pub starts: Vec<[f64; 4]>,
    pub optimizer: Lbfgs,
}

impl Default for ParetoNbdParams {
    fn default() -> Self {
        ParetoNbdParams {
            starts: vec![[1.0, 1.0, 1.0, 1.0], [0.5, 10.0, 0.5, 10.0]],
            optimizer: Lbfgs {
                // The gradient is a finite difference: it is exact to about 1e-9.
                gradient_tolerance: 1e-7,
                ..Lbfgs::default()
            },
        }
    }
}

/// A fitted Pareto/NBD model, in the time unit of the data it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
    /// Total log-likelihood of the fitted customers.
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// `ln A₀` (see the module doc); None where `₂F₁` does not converge or `A₀` is not positive.
fn ln_a0(p: [f64; 4], c: &Rfm) -> Option<f64> {
    let [r, alpha, s, beta] = p;
    let (x, tx, t) = (c.frequency, c.recency, c.t);
    let (max, min, k) = match alpha >= beta {
        true => (alpha, beta, s + 1.0),
        false => (beta, alpha, r + x),
    };
    let rsx = r + s + x;
    let d = max - min;
    let term = |time: f64| -> Option<f64> {
        let f = hyp2f1(rsx, k, rsx + 1.0, d / (max + time))?;
        Some(f.ln() - rsx * (max + time).ln())
    };
    let (early, late) = (term(tx)?, term(t)?);
    // ln(e^early − e^late), early ≥ late (the time grows, the term shrinks).
    let diff = early + (-(late - early).exp()).ln_1p();
    diff.is_finite().then_some(diff)
}

/// One customer's log-likelihood (−∞ where it cannot be computed).
pub fn log_likelihood(p: [f64; 4], c: &Rfm) -> f64 {
    let [r, alpha, s, beta] = p;
    let (x, t) = (c.frequency, c.t);
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln();
    let b1 = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
    let b2 = match c.t > c.recency {
        true => ln_a0(p, c).map_or(f64::NEG_INFINITY, |a0| s.ln() - (r + s + x).ln() + a0),
        // Bought at the very end: the customer was alive throughout, A₀ = 0.
        false => f64::NEG_INFINITY,
    };
    a1 + log_add_exp(b1, b2)
}

/// The weighted total log-likelihood of the distinct histories `groups`.
fn total(p: [f64; 4], groups: &[(Rfm, f64)]) -> f64 {
    lifecycle_optim::fold_chunks(
        groups.len(),
        256,
        |range| {
            groups[range]
                .iter()
                .map(|(c, w)| w * log_likelihood(p, c))
                .sum::<f64>()
        },
        |a, b| a + b,
    )
    .unwrap_or(0.0)
}

impl ParetoNbdParams {
    /// Fits the model by maximum likelihood, over the logarithms of the parameters (so they
    /// stay positive) and the distinct `(x, tₓ, T)` of `customers`, in parallel. The gradient
    /// is a central difference: `₂F₁`'s derivatives in its parameters have no closed form.
    pub fn fit(&self, customers: &[Rfm]) -> Result<ParetoNbd> {
        crate::validate(customers)?;
        let groups = compress(customers);
        let n = customers.len() as f64;
        let objective = crate::central_difference(n, |p| total(p, &groups));
        let starts: Vec<Vec<f64>> = self.starts.iter().map(|s| s.to_vec()).collect();
        let (p, iterations) = fit_positive(
            "Pareto/NBD",
            &["r", "alpha", "s", "beta"],
            objective,
            &starts,
            self.optimizer,
        )?;
        let p = [p[0], p[1], p[2], p[3]];
        Ok(ParetoNbd {
            r: p[0],
            alpha: p[1],
            s: p[2],
            beta: p[3],
            log_likelihood: total(p, &groups),
            iterations,
            converged: true,
        })
    }
}

impl ParetoNbd {
    /// A model from known parameters (e.g. published ones).
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> ParetoNbd {
        ParetoNbd {
            r,
            alpha,
            s,
            beta,
            log_likelihood: f64::NAN,
            iterations: 0,
            converged: true,
        }
    }

    fn params(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }

    /// Total log-likelihood of `customers` under this model.
    pub fn log_likelihood(&self, customers: &[Rfm]) -> f64 {
        total(self.params(), &compress(customers))
    }

    /// `E[X(t)]`: expected purchases in a period of length `t` of a new customer.
    pub fn expected_purchases(&self, t: f64) -> Result<f64> {
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let v = r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)).powf(s - 1.0));
        numeric("E[X(t)]", Some(v))
    }

    /// `P(alive | x, tₓ, T)`: 1 / (1 + s/(r+s+x) (α+T)^{r+x} (β+T)^s A₀).
    pub fn probability_alive(&self, c: &Rfm) -> f64 {
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let (x, t) = (c.frequency, c.t);
        let Some(a0) = (c.t > c.recency).then(|| ln_a0(self.params(), c)).flatten() else {
            return 1.0;
        };
        let log_odds =
            s.ln() - (r + s + x).ln() + (r + x) * (alpha + t).ln() + s * (beta + t).ln() + a0;
        1.0 / (1.0 + log_odds.exp())
    }

    /// DERT: the customer's discounted expected residual transactions over all future time, at
    /// the continuously compounded discount rate `delta` per time unit (Fader, Hardie & Lee
    /// 2005, "RFM and CLV", equation 2):
    /// `α^r β^s δ^{s−1} Γ(r+x+1) U(s, s; δ(β+T)) / (Γ(r) (α+T)^{r+x+1} L)`, with `U` the
    /// confluent hypergeometric function of the second kind, `U(s, s; z) = e^z Γ(1−s, z)`.
    pub fn dert(&self, delta: f64, c: &Rfm) -> Result<f64> {
        use crate::special::ln_upper_gamma;
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let (x, t) = (c.frequency, c.t);
        let z = delta * (beta + t);
        let Some(ln_u) = ln_upper_gamma(1.0 - s, z).map(|g| z + g) else {
            return numeric("DERT", None);
        };
        let ln = r * alpha.ln() + s * beta.ln() + (s - 1.0) * delta.ln() + ln_gamma(r + x + 1.0)
            - ln_gamma(r)
            - (r + x + 1.0) * (alpha + t).ln()
            + ln_u
            - log_likelihood(self.params(), c);
        numeric("DERT", Some(ln.exp()))
    }

    /// `E[Y(t) | x, tₓ, T]`: expected purchases in the next `t` of a customer with history `c`
    /// (Fader & Hardie's note, equation 22), in log space.
    pub fn conditional_expected_purchases(&self, t: f64, c: &Rfm) -> Result<f64> {
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let (x, big_t) = (c.frequency, c.t);
        let ll = log_likelihood(self.params(), c);
        let first = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()
            - (r + x) * (alpha + big_t).ln()
            - s * (beta + big_t).ln();
        let second = (r + x).ln() + (beta + big_t).ln() - (alpha + big_t).ln();
        let third = ((1.0 - ((beta + big_t) / (beta + big_t + t)).powf(s - 1.0)) / (s - 1.0)).ln();
        numeric("E[Y(t)|x,tx,T]", Some((first + second + third - ll).exp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{assert_same_fit, assert_same_predictions, cdnow_summary, lifetimes};

    /// `fixtures/pareto_dert.json` (scripts/reference/pareto_dert.py): scipy's `hyperu` closed
    /// form, checked there against lifetimes' E[Y(t)] integrated with discounting.
    #[test]
    fn dert_equals_the_reference_for_s_below_and_above_one() {
        let f: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/pareto_dert.json")).unwrap();
        let rows = f["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 30);
        for row in rows {
            let p: Vec<f64> = (0..4).map(|j| row["params"][j].as_f64().unwrap()).collect();
            let get = |k: &str| row[k].as_f64().unwrap();
            let c = Rfm {
                frequency: get("x"),
                recency: get("tx"),
                t: get("T"),
            };
            let m = ParetoNbd::new(p[0], p[1], p[2], p[3]);
            let got = m.dert(get("delta"), &c).unwrap();
            let want = get("dert");
            assert!((got / want - 1.0).abs() < 1e-8, "{row}: {got}");
        }
    }

    /// The published CDNOW parameters (weeks).
    fn published() -> ParetoNbd {
        ParetoNbd::new(0.553, 10.578, 0.606, 11.669)
    }

    #[test]
    fn fits_the_published_cdnow_parameters() {
        let m = ParetoNbdParams::default().fit(&cdnow_summary()).unwrap();
        for (got, want, name) in [
            (m.r, 0.553, "r"),
            (m.alpha, 10.578, "alpha"),
            (m.s, 0.606, "s"),
            (m.beta, 11.669, "beta"),
        ] {
            assert!(
                (got / want - 1.0).abs() < 2e-3,
                "{name}: {got} vs the published {want}"
            );
        }
        let at_published = published().log_likelihood(&cdnow_summary());
        assert!(
            m.log_likelihood >= at_published,
            "{} < {at_published}",
            m.log_likelihood
        );
    }

    #[test]
    fn agrees_with_lifetimes() {
        const NAMES: [&str; 4] = ["r", "alpha", "s", "beta"];
        let (entry, [r, alpha, s, beta]) = lifetimes("pareto_nbd", NAMES);
        // The same maximum, found by another optimizer.
        let ours = ParetoNbdParams::default().fit(&cdnow_summary()).unwrap();
        assert_same_fit(ours.params(), ours.log_likelihood, &entry, NAMES);
        // With the same parameters, the same numbers.
        assert_same_predictions(&ParetoNbd::new(r, alpha, s, beta), &entry);
    }

    #[test]
    fn both_branches_agree_where_alpha_meets_beta() {
        let c = Rfm {
            frequency: 4.0,
            recency: 20.0,
            t: 35.0,
        };
        let at = |alpha: f64, beta: f64| log_likelihood([0.6, alpha, 0.7, beta], &c);
        let (below, above) = (at(10.0 - 1e-9, 10.0), at(10.0 + 1e-9, 10.0));
        assert!((below - above).abs() < 1e-8, "{below} vs {above}");
        // α = β: ₂F₁(…; 0) = 1, so A₀ has a closed form.
        let (r, a, s, x, tx, t) = (0.6f64, 10.0f64, 0.7f64, 4.0f64, 20.0f64, 35.0f64);
        let rsx = r + s + x;
        let want = ln_gamma(r + x) - ln_gamma(r)
            + (r + s) * a.ln()
            + ((a + t).powf(-rsx) + s / rsx * ((a + tx).powf(-rsx) - (a + t).powf(-rsx))).ln();
        assert!((at(a, a) - want).abs() < 1e-12, "{} vs {want}", at(a, a));
    }

    #[test]
    fn published_conditional_expectation() {
        let c = Rfm {
            frequency: 26.0,
            recency: 30.86,
            t: 31.0,
        };
        let got = published()
            .conditional_expected_purchases(52.0, &c)
            .unwrap();
        assert!((got - 25.46).abs() < 0.01, "{got}");
    }
}
