//! The BG/BB model (Fader, Hardie & Shang 2010) for discrete-time purchases: each period after
//! the first purchase is one opportunity, at which an alive customer buys with a beta(α, β)
//! probability `p` and, before the next, drops out with a beta(γ, δ) probability `θ`. It suits
//! yearly donations, annual events or any product bought at most once a period; the history
//! is `x` (repeat periods with a purchase), `tₓ` (the last one's period) and `n` (periods).
//!
//! One history's likelihood, with `B` the beta function:
//! `L = B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
//!    + Σ_{i=0}^{n−tₓ−1} B(α+x, β+tₓ−x+i)/B(α,β) · B(γ+1, δ+tₓ+i)/B(γ,δ)`;
//! the sum's terms follow from the first by `B(a, b+1) = B(a, b) · b/(a+b)`, so a history costs
//! `n − tₓ` multiplications and four `ln B`.
//!
//! Customers are summarised in time units ([`Rfm`]); the model converts them to opportunities
//! with `periods_per_unit` (`time_unit_days / period_days`), so it predicts over the same
//! horizons as the continuous-time models.

use serde::{Deserialize, Serialize};

use crate::optimize::Lbfgs;
use crate::special::{ln_beta, ln_gamma, log_add_exp};
use crate::{ClvError, Result, Rfm, compress, fit_positive, numeric};

/// Fitting settings; [`BgBbParams::fit`] returns the model.
#[derive(Debug, Clone)]
pub struct BgBbParams {
    /// Opportunities (purchase periods) per time unit of the summaries.
    pub periods_per_unit: f64,
    /// Starting points `(α, β, γ, δ)`; the best fit of all is kept.
    pub starts: Vec<[f64; 4]>,
    pub optimizer: Lbfgs,
}

impl Default for BgBbParams {
    fn default() -> Self {
        BgBbParams {
            periods_per_unit: 1.0,
            starts: vec![[1.0, 1.0, 1.0, 1.0], [0.5, 2.0, 0.5, 5.0]],
            optimizer: Lbfgs {
                // The gradient is a finite difference: it is exact to about 1e-9.
                gradient_tolerance: 1e-7,
                ..Lbfgs::default()
            },
        }
    }
}

/// A fitted BG/BB model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBb {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
    /// Opportunities per time unit of the summaries it takes.
    pub periods_per_unit: f64,
    /// Total log-likelihood of the fitted customers.
    pub log_likelihood: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// A history in opportunities: `(x, tₓ, n)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Opportunities {
    pub x: f64,
    pub tx: f64,
    pub n: f64,
}

/// One history's log-likelihood under `(α, β, γ, δ)`.
pub fn log_likelihood(p: [f64; 4], h: Opportunities) -> f64 {
    let [a, b, g, d] = p;
    let Opportunities { x, tx, n } = h;
    let (lb_ab, lb_gd) = (ln_beta(a, b), ln_beta(g, d));
    let alive = ln_beta(a + x, b + n - x) - lb_ab + ln_beta(g, d + n) - lb_gd;
    let gaps = (n - tx).round() as usize;
    if gaps == 0 {
        return alive;
    }
    // Dropped out after opportunity tₓ + i: the first term, then each next by its ratio.
    let first = ln_beta(a + x, b + tx - x) - lb_ab + ln_beta(g + 1.0, d + tx) - lb_gd;
    let (mut term, mut sum) = (1.0, 1.0);
    for i in 0..gaps - 1 {
        let i = i as f64;
        term *= (b + tx - x + i) / (a + b + tx + i) * (d + tx + i) / (g + d + tx + i + 1.0);
        sum += term;
    }
    log_add_exp(alive, first + sum.ln())
}

/// The weighted total log-likelihood of the distinct histories `groups`.
fn total(p: [f64; 4], groups: &[(Opportunities, f64)]) -> f64 {
    groups.iter().map(|(h, w)| w * log_likelihood(p, *h)).sum()
}

impl BgBbParams {
    /// Fits the model by maximum likelihood over the logarithms of the parameters and the
    /// distinct histories, with a central-difference gradient.
    pub fn fit(&self, customers: &[Rfm]) -> Result<BgBb> {
        crate::validate(customers)?;
        let shape = BgBb::new([1.0; 4], self.periods_per_unit);
        let groups = shape.histories(customers)?;
        let n = customers.len() as f64;
        let objective = crate::central_difference(n, |p| total(p, &groups));
        let starts: Vec<Vec<f64>> = self.starts.iter().map(|s| s.to_vec()).collect();
        let names = ["alpha", "beta", "gamma", "delta"];
        let (p, iterations) = fit_positive("BG/BB", &names, objective, &starts, self.optimizer)?;
        let p = [p[0], p[1], p[2], p[3]];
        Ok(BgBb {
            log_likelihood: total(p, &groups),
            iterations,
            ..BgBb::new(p, self.periods_per_unit)
        })
    }
}

impl BgBb {
    /// A model from known parameters `(α, β, γ, δ)` (e.g. published ones).
    pub fn new(p: [f64; 4], periods_per_unit: f64) -> BgBb {
        BgBb {
            alpha: p[0],
            beta: p[1],
            gamma: p[2],
            delta: p[3],
            periods_per_unit,
            log_likelihood: f64::NAN,
            iterations: 0,
            converged: true,
        }
    }

    pub fn params(&self) -> [f64; 4] {
        [self.alpha, self.beta, self.gamma, self.delta]
    }

    /// A summary in opportunities; an error when its times are not whole periods.
    pub fn opportunities(&self, c: &Rfm) -> Result<Opportunities> {
        let whole = |v: f64| {
            let periods = v * self.periods_per_unit;
            ((periods - periods.round()).abs() < 1e-6).then_some(periods.round())
        };
        match (whole(c.recency), whole(c.t)) {
            (Some(tx), Some(n)) => Ok(Opportunities {
                x: c.frequency,
                tx,
                n,
            }),
            _ => Err(ClvError::InvalidData {
                index: 0,
                reason: format!(
                    "BG/BB needs whole purchase periods, and {c:?} is not at {} periods per time unit",
                    self.periods_per_unit
                ),
            }),
        }
    }

    /// The distinct histories in opportunities, with their counts.
    fn histories(&self, customers: &[Rfm]) -> Result<Vec<(Opportunities, f64)>> {
        compress(customers)
            .into_iter()
            .map(|(c, w)| Ok((self.opportunities(&c)?, w)))
            .collect()
    }

    /// Total log-likelihood of `customers` (−∞ when one is not in whole periods).
    pub fn log_likelihood(&self, customers: &[Rfm]) -> f64 {
        match self.histories(customers) {
            Ok(groups) => total(self.params(), &groups),
            Err(_) => f64::NEG_INFINITY,
        }
    }

    /// `E[X(n)]` for `n = t · periods_per_unit` opportunities of a new customer:
    /// `α/(α+β) · δ/(γ−1) · [1 − Γ(γ+δ)/Γ(γ+δ+n) · Γ(1+δ+n)/Γ(1+δ)]`.
    pub fn expected_purchases(&self, t: f64) -> Result<f64> {
        let [a, b, g, d] = self.params();
        let n = t * self.periods_per_unit;
        let ratio = (ln_gamma(g + d) - ln_gamma(g + d + n) + ln_gamma(1.0 + d + n)
            - ln_gamma(1.0 + d))
        .exp();
        numeric("E[X(n)]", Some(a / (a + b) * d / (g - 1.0) * (1.0 - ratio)))
    }

    /// `P(alive | x, tₓ, n)`: alive at the last opportunity observed.
    pub fn probability_alive(&self, c: &Rfm) -> f64 {
        let Ok(h) = self.opportunities(c) else {
            return f64::NAN;
        };
        let [a, b, g, d] = self.params();
        let alive =
            ln_beta(a + h.x, b + h.n - h.x) - ln_beta(a, b) + ln_beta(g, d + h.n) - ln_beta(g, d);
        (alive - log_likelihood(self.params(), h)).exp()
    }

    /// `E[X(n, n+n*) | x, tₓ, n]`: expected purchases in the next `n* = t · periods_per_unit`
    /// opportunities (Fader, Hardie & Shang, equation 13).
    pub fn conditional_expected_purchases(&self, t: f64, c: &Rfm) -> Result<f64> {
        let h = self.opportunities(c)?;
        let [a, b, g, d] = self.params();
        let m = t * self.periods_per_unit;
        let ln_p2 = ln_beta(a + h.x + 1.0, b + h.n - h.x) - ln_beta(a, b);
        let ln_p3 = ln_gamma(g + d) - ln_gamma(1.0 + d);
        let p4 = (ln_gamma(1.0 + d + h.n) - ln_gamma(g + d + h.n)).exp();
        let p5 = (ln_gamma(1.0 + d + h.n + m) - ln_gamma(g + d + h.n + m)).exp();
        let ll = log_likelihood(self.params(), h);
        let v = (ln_p2 + ln_p3 - ll).exp() * d / (g - 1.0) * (p4 - p5);
        numeric("E[X(n, n+n*)|x,tx,n]", Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fixtures/lifetimes_bgbb.json`, made by `scripts/reference/bgbb_lifetimes.py`.
    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!("../fixtures/lifetimes_bgbb.json")).unwrap()
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    /// The donation data, one summary per donor (in periods: one unit, one period).
    fn donors(f: &serde_json::Value) -> Vec<Rfm> {
        let mut out = vec![];
        for h in f["histories"].as_array().unwrap() {
            let get = |k: &str| h[k].as_f64().unwrap();
            let c = Rfm {
                frequency: get("x"),
                recency: get("tx"),
                t: get("n"),
            };
            out.extend(std::iter::repeat_n(c, get("count") as usize));
        }
        out
    }

    #[test]
    fn fits_the_donation_data_as_published_and_as_lifetimes() {
        let f = fixture();
        let m = BgBbParams::default().fit(&donors(&f)).unwrap();
        // Fader, Hardie & Shang (2010): 1.204, 0.750, 0.657, 2.783; LL −33,225.6.
        for (got, want) in m.params().iter().zip([1.204, 0.750, 0.657, 2.783]) {
            assert!((got - want).abs() < 1e-3, "{:?}", m.params());
        }
        for (got, want) in m.params().iter().zip(floats(&f["params"])) {
            assert!((got - want).abs() < 1e-3, "{got} vs lifetimes' {want}");
        }
        let ll = f["total_log_likelihood"].as_f64().unwrap();
        assert!((m.log_likelihood - ll).abs() < 1e-2, "{}", m.log_likelihood);
    }

    #[test]
    fn every_quantity_equals_lifetimes_at_its_parameters() {
        let f = fixture();
        let p = floats(&f["params"]);
        let m = BgBb::new([p[0], p[1], p[2], p[3]], 1.0);
        let close = |got: f64, want: f64, what: &str| {
            assert!(
                (got - want).abs() < 1e-9 * want.abs().max(1.0),
                "{what}: {got} vs {want}"
            )
        };
        let histories = f["histories"].as_array().unwrap();
        for (k, h) in histories.iter().enumerate() {
            let get = |key: &str| h[key].as_f64().unwrap();
            let c = Rfm {
                frequency: get("x"),
                recency: get("tx"),
                t: get("n"),
            };
            let ll = log_likelihood(m.params(), m.opportunities(&c).unwrap());
            close(ll, floats(&f["log_likelihood"])[k], "ln L");
            close(
                m.probability_alive(&c),
                floats(&f["p_alive"])[k],
                "P(alive)",
            );
            for (j, t) in floats(&f["future"]).into_iter().enumerate() {
                let want = floats(&f["conditional_expected"][j])[k];
                close(
                    m.conditional_expected_purchases(t, &c).unwrap(),
                    want,
                    "E[X|h]",
                );
            }
        }
        for (n, want) in floats(&f["new_customer_n"])
            .into_iter()
            .zip(floats(&f["expected"]))
        {
            close(m.expected_purchases(n).unwrap(), want, "E[X(n)]");
        }
    }

    #[test]
    fn time_units_become_opportunities() {
        // Weekly units over daily periods: 7 opportunities a unit.
        let m = BgBb::new([1.2, 0.75, 0.66, 2.8], 7.0);
        let c = Rfm {
            frequency: 3.0,
            recency: 2.0,
            t: 4.0,
        };
        let h = m.opportunities(&c).unwrap();
        assert_eq!((h.x, h.tx, h.n), (3.0, 14.0, 28.0));
        let e = m.expected_purchases(1.0).unwrap();
        let daily = BgBb::new([1.2, 0.75, 0.66, 2.8], 1.0)
            .expected_purchases(7.0)
            .unwrap();
        assert!((e - daily).abs() < 1e-12);
        let bad = Rfm { recency: 2.05, ..c };
        assert!(
            m.opportunities(&bad)
                .unwrap_err()
                .to_string()
                .contains("whole purchase periods")
        );
    }
}
