//! What the fitted models predict for one customer over the horizons a job asks for: P(alive),
//! expected purchases, expected order value and discounted CLV.
//!
//! CLV over a horizon `H` days with a yearly discount rate `d`: the horizon is cut into 30-day
//! steps (the last may be shorter), each step's expected purchases are valued at the customer's
//! expected order value (Gamma-Gamma) and discounted by `(1 + d)^(days / 365)` at the step's end.
//!
//! Beyond any horizon, where the model has a closed form (the Pareto/NBD's DERT), the
//! discounted expected residual transactions at the same rate compounded continuously
//! (`δ = ln(1 + d) · unit_days / 365` per time unit), and their value.

use crate::{GammaGamma, RepeatPurchaseModel, Result, Rfm};

/// A purchaser's summary as the models see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Purchaser {
    pub rfm: Rfm,
    /// Mean value of the repeat purchases; `None` without repeats.
    pub monetary: Option<f64>,
}

/// The horizons and units of a prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueParams {
    pub horizons_days: Vec<u32>,
    /// Days per model time unit (the unit the models were fitted in).
    pub unit_days: f64,
    pub annual_discount_rate: f64,
}

/// One customer's predictions; the vectors follow [`ValueParams::horizons_days`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub p_alive: f64,
    pub expected_purchases: Vec<f64>,
    pub expected_value: f64,
    pub clv: Vec<f64>,
    /// Discounted expected residual transactions (the Pareto/NBD with a discount rate above 0).
    pub dert: Option<f64>,
    /// `dert × expected_value`: the discounted value of all future purchases.
    pub residual_value: Option<f64>,
}

impl Prediction {
    /// The first value that is not a finite number, if any.
    pub fn non_finite(&self) -> Option<f64> {
        std::iter::once(self.p_alive)
            .chain(self.expected_purchases.iter().copied())
            .chain([self.expected_value])
            .chain(self.clv.iter().copied())
            .chain(self.dert)
            .chain(self.residual_value)
            .find(|v| !v.is_finite())
    }
}

impl ValueParams {
    /// The predictions for one purchaser.
    pub fn predict(
        &self,
        bg: &impl RepeatPurchaseModel,
        gg: &GammaGamma,
        c: &Purchaser,
    ) -> Result<Prediction> {
        let value = gg.conditional_expected_value(c.rfm.frequency, c.monetary.unwrap_or(0.0))?;
        let expected_purchases = self
            .horizons_days
            .iter()
            .map(|h| bg.conditional_expected_purchases(*h as f64 / self.unit_days, &c.rfm))
            .collect::<Result<Vec<_>>>()?;
        let clv = self
            .horizons_days
            .iter()
            .map(|h| self.discounted(bg, &c.rfm, value, *h))
            .collect::<Result<Vec<_>>>()?;
        let dert = self.dert(bg, &c.rfm).transpose()?;
        Ok(Prediction {
            p_alive: bg.probability_alive(&c.rfm),
            expected_purchases,
            expected_value: value,
            clv,
            dert,
            residual_value: dert.map(|d| d * value),
        })
    }

    /// The model's DERT at the job's discount rate, when it has one and the rate is above 0
    /// (undiscounted, the residual transactions of an immortal customer are unbounded).
    pub fn dert(&self, bg: &impl RepeatPurchaseModel, c: &Rfm) -> Option<Result<f64>> {
        if self.annual_discount_rate <= 0.0 {
            return None;
        }
        let delta = self.annual_discount_rate.ln_1p() * self.unit_days / 365.0;
        bg.dert(delta, c)
    }

    /// Discounted value of the expected purchases over `horizon_days` at `value` each.
    pub fn discounted(
        &self,
        bg: &impl RepeatPurchaseModel,
        c: &Rfm,
        value: f64,
        horizon_days: u32,
    ) -> Result<f64> {
        let mut total = 0.0;
        let mut before = 0.0;
        let mut day = 0u32;
        while day < horizon_days {
            day = (day + 30).min(horizon_days);
            let e = bg.conditional_expected_purchases(day as f64 / self.unit_days, c)?;
            total +=
                (e - before) * value / (1.0 + self.annual_discount_rate).powf(day as f64 / 365.0);
            before = e;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BgNbd;

    /// A CDNOW-like repeat customer (weeks).
    fn customer() -> Purchaser {
        Purchaser {
            rfm: Rfm {
                frequency: 2.0,
                recency: 30.43,
                t: 38.86,
            },
            monetary: Some(40.0),
        }
    }

    #[test]
    fn undiscounted_clv_is_expected_purchases_times_value() {
        let bg = BgNbd::new(0.2426, 4.4135, 0.7929, 2.4258);
        let gg = GammaGamma::new(6.25, 3.74, 15.44);
        let c = customer();
        let flat = ValueParams {
            horizons_days: vec![365, 45],
            unit_days: 7.0,
            annual_discount_rate: 0.0,
        };
        let p = flat.predict(&bg, &gg, &c).unwrap();
        for k in 0..2 {
            let want = p.expected_purchases[k] * p.expected_value;
            assert!(
                (p.clv[k] - want).abs() < 1e-9 * want,
                "{} vs {want}",
                p.clv[k]
            );
        }
        assert!(p.non_finite().is_none());
        // Discounting: 45 days = one step of 30 days and one of 15, each discounted at its end.
        let d = ValueParams {
            annual_discount_rate: 0.1,
            ..flat
        };
        let e30 = bg
            .conditional_expected_purchases(30.0 / 7.0, &c.rfm)
            .unwrap();
        let e45 = bg
            .conditional_expected_purchases(45.0 / 7.0, &c.rfm)
            .unwrap();
        let v = p.expected_value;
        let by_hand =
            e30 * v / 1.1f64.powf(30.0 / 365.0) + (e45 - e30) * v / 1.1f64.powf(45.0 / 365.0);
        let got = d.discounted(&bg, &c.rfm, v, 45).unwrap();
        assert!((got - by_hand).abs() < 1e-12, "{got} vs {by_hand}");
        assert_eq!(
            (p.dert, d.predict(&bg, &gg, &c).unwrap().dert),
            (None, None)
        );
    }

    #[test]
    fn the_pareto_nbd_values_all_future_purchases() {
        let m = crate::ParetoNbd::new(0.553, 10.578, 0.606, 11.669);
        let gg = GammaGamma::new(6.25, 3.74, 15.44);
        let c = customer();
        let params = ValueParams {
            horizons_days: vec![365, 3650, 36500],
            unit_days: 7.0,
            annual_discount_rate: 0.15,
        };
        let p = params.predict(&m, &gg, &c).unwrap();
        let (dert, residual) = (p.dert.unwrap(), p.residual_value.unwrap());
        assert!((residual - dert * p.expected_value).abs() < 1e-12);
        // The discounted value over a century is all of it, up to 30-day steps vs continuous
        // compounding; a year is less.
        assert!(
            (p.clv[2] / residual - 1.0).abs() < 0.01,
            "{} vs {residual}",
            p.clv[2]
        );
        assert!(p.clv[0] < p.clv[1] && p.clv[1] < residual);
        let flat = ValueParams {
            annual_discount_rate: 0.0,
            ..params
        };
        assert_eq!(flat.predict(&m, &gg, &c).unwrap().dert, None);
    }
}
