//! The MBG/NBD model (Batislam, Denizel & Filiztekin 2007): the BG/NBD with a chance to drop
//! out at every purchase including the first, so a customer without repeat purchases is not
//! assumed alive. Purchases while alive follow a Poisson process with a gamma(r, α) rate; at
//! time 0 and after each purchase a customer drops out with a beta(a, b) probability.
//!
//! One customer's likelihood, in log space:
//! `ln L = A₁ + A₂ + A₃ + ln(1 + e^{A₄})` with `A₁ = ln Γ(r+x) − ln Γ(r) + r ln α`,
//! `A₂ = ln Γ(a+b) + ln Γ(b+x+1) − ln Γ(b) − ln Γ(a+b+x+1)`, `A₃ = −(r+x) ln(α+T)`,
//! `A₄ = ln a − ln(b+x) + (r+x)(ln(α+T) − ln(α+tₓ))`.

use serde::{Deserialize, Serialize};

use crate::optimize::Lbfgs;
use crate::special::{hyp2f1, ln_gamma, log_add_exp};
use crate::{Result, Rfm, compress, fit_positive, numeric};

/// Fitting settings; [`MbgNbdParams::fit`] returns the model.
#[derive(Debug, Clone)]
pub struct MbgNbdParams {
    /// Starting points `(r, α, a, b)`; the best fit of all is kept.
    pub starts: Vec<[f64; 4]>,
    pub optimizer: Lbfgs,
}

impl Default for MbgNbdParams {
    fn default() -> Self {
        MbgNbdParams {
            // The same family as the BG/NBD's, so the same starting points.
            starts: crate::bgnbd::STARTS.to_vec(),
            optimizer: Lbfgs::default(),
        }
    }
}

/// A fitted MBG/NBD model, in the time unit of the data it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MbgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Total log-likelihood of the fitted customers.
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// One customer's log-likelihood and its gradient with respect to `(r, α, a, b)`.
pub fn log_likelihood_and_gradient(p: [f64; 4], c: &Rfm) -> (f64, [f64; 4]) {
    use crate::special::digamma;
    let [r, alpha, a, b] = p;
    let (x, tx, t) = (c.frequency, c.recency, c.t);
    let (ln_at, ln_atx) = ((alpha + t).ln(), (alpha + tx).ln());
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let a2 = ln_gamma(a + b) + ln_gamma(b + x + 1.0) - ln_gamma(b) - ln_gamma(a + b + x + 1.0);
    let a3 = -(r + x) * ln_at;
    let a4 = a.ln() - (b + x).ln() + (r + x) * (ln_at - ln_atx);
    // w = e^{A₄} / (1 + e^{A₄}): the weight of the "dropped out after the last purchase" term.
    let lse = log_add_exp(0.0, a4);
    let w = (a4 - lse).exp();
    let d_r = digamma(r + x) - digamma(r) + alpha.ln() - ln_at + w * (ln_at - ln_atx);
    let d_alpha =
        r / alpha - (r + x) / (alpha + t) + w * (r + x) * (1.0 / (alpha + t) - 1.0 / (alpha + tx));
    let d_a = digamma(a + b) - digamma(a + b + x + 1.0) + w / a;
    let d_b =
        digamma(a + b) + digamma(b + x + 1.0) - digamma(b) - digamma(a + b + x + 1.0) - w / (b + x);
    (a1 + a2 + a3 + lse, [d_r, d_alpha, d_a, d_b])
}

impl MbgNbdParams {
    /// Fits the model by maximum likelihood, over the logarithms of the parameters and the
    /// distinct `(x, tₓ, T)` of `customers`.
    pub fn fit(&self, customers: &[Rfm]) -> Result<MbgNbd> {
        crate::validate(customers)?;
        let groups = compress(customers);
        let n = customers.len() as f64;
        let objective = |theta: &[f64]| -> (f64, Vec<f64>) {
            let p = [
                theta[0].exp(),
                theta[1].exp(),
                theta[2].exp(),
                theta[3].exp(),
            ];
            let (ll, grad) = weighted(p, &groups);
            let value = -ll / n;
            // d/dθ = p · d/dp.
            let g = (0..4).map(|j| -p[j] * grad[j] / n).collect();
            match value.is_finite() {
                true => (value, g),
                false => (f64::INFINITY, g),
            }
        };
        let starts: Vec<Vec<f64>> = self.starts.iter().map(|s| s.to_vec()).collect();
        let names = ["r", "alpha", "a", "b"];
        let (p, iterations) = fit_positive("MBG/NBD", &names, objective, &starts, self.optimizer)?;
        let model = MbgNbd::new(p[0], p[1], p[2], p[3]);
        Ok(MbgNbd {
            log_likelihood: model.log_likelihood(customers),
            iterations,
            ..model
        })
    }
}

/// The weighted log-likelihood and gradient of the distinct histories `groups`.
fn weighted(p: [f64; 4], groups: &[(Rfm, f64)]) -> (f64, [f64; 4]) {
    let add = |(l1, g1): (f64, [f64; 4]), (l2, g2): (f64, [f64; 4])| {
        (
            l1 + l2,
            [g1[0] + g2[0], g1[1] + g2[1], g1[2] + g2[2], g1[3] + g2[3]],
        )
    };
    lifecycle_optim::fold_chunks(
        groups.len(),
        1024,
        |range| {
            groups[range].iter().fold((0.0, [0.0; 4]), |acc, (c, w)| {
                let (l, g) = log_likelihood_and_gradient(p, c);
                add(acc, (w * l, g.map(|v| w * v)))
            })
        },
        add,
    )
    .unwrap_or((0.0, [0.0; 4]))
}

impl MbgNbd {
    /// A model from known parameters (e.g. published ones).
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> MbgNbd {
        MbgNbd {
            r,
            alpha,
            a,
            b,
            log_likelihood: f64::NAN,
            iterations: 0,
            converged: true,
        }
    }

    fn params(&self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }

    /// Total log-likelihood of `customers` under this model.
    pub fn log_likelihood(&self, customers: &[Rfm]) -> f64 {
        weighted(self.params(), &compress(customers)).0
    }

    /// `E[X(t)]`: expected purchases in a period of length `t` of a new customer.
    pub fn expected_purchases(&self, t: f64) -> Result<f64> {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let h = numeric("E[X(t)]", hyp2f1(r, b + 1.0, a + b, t / (alpha + t)))?;
        numeric(
            "E[X(t)]",
            Some(b / (a - 1.0) * (1.0 - h * (alpha / (alpha + t)).powf(r))),
        )
    }

    /// `E[Y(t) | x, tₓ, T]`: expected purchases in the next `t` of a customer with history `c`.
    pub fn conditional_expected_purchases(&self, t: f64, c: &Rfm) -> Result<f64> {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let (x, tx, big_t) = (c.frequency, c.recency, c.t);
        let z = t / (alpha + big_t + t);
        let h = numeric("E[Y(t)|x,tx,T]", hyp2f1(r + x, b + x + 1.0, a + b + x, z))?;
        let first = (a + b + x) / (a - 1.0);
        let second = 1.0 - h * ((alpha + big_t) / (alpha + big_t + t)).powf(r + x);
        let third = 1.0 + a / (b + x) * ((alpha + big_t) / (alpha + tx)).powf(r + x);
        numeric("E[Y(t)|x,tx,T]", Some(first * second / third))
    }

    /// `P(alive | x, tₓ, T)` = 1 / (1 + a/(b+x) ((α+T)/(α+tₓ))^{r+x}).
    pub fn probability_alive(&self, c: &Rfm) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let (x, tx, t) = (c.frequency, c.recency, c.t);
        let log_odds = a.ln() - (b + x).ln() + (r + x) * ((alpha + t).ln() - (alpha + tx).ln());
        1.0 / (1.0 + log_odds.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{assert_same_fit, assert_same_predictions, cdnow_summary, lifetimes};

    const NAMES: [&str; 4] = ["r", "alpha", "a", "b"];

    #[test]
    fn fits_the_published_cdnow_parameters_and_agrees_with_lifetimes() {
        let m = MbgNbdParams::default().fit(&cdnow_summary()).unwrap();
        let published = [0.525, 6.183, 0.891, 1.614];
        for (j, want) in published.iter().enumerate() {
            let got = m.params()[j];
            assert!(
                (got / want - 1.0).abs() < 2e-3,
                "{}: {got} vs the published {want}",
                NAMES[j]
            );
        }
        let (entry, [r, alpha, a, b]) = lifetimes("mbg_nbd", NAMES);
        assert_same_fit(m.params(), m.log_likelihood, &entry, NAMES);
        assert_same_predictions(&MbgNbd::new(r, alpha, a, b), &entry);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        crate::tests::assert_gradient(log_likelihood_and_gradient, [0.4, 6.0, 0.9, 1.7]);
    }
}
