//! Holdout evaluation: models fitted on a calibration period predict each calibration
//! customer's repeat purchases over the holdout period, and their order value, and the
//! predictions are compared with what the customers actually did there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{GammaGamma, Purchaser, RepeatPurchaseModel, Result};

/// A calibration customer and what they did in the holdout period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoldoutCustomer {
    pub calibration: Purchaser,
    /// Purchase periods in the holdout (0 when the customer did not buy).
    pub periods: f64,
    /// Spend in the holdout.
    pub spend: f64,
}

/// Predicted against actual over the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutEvaluation {
    pub repeat_purchases: RepeatPurchases,
    /// Customers grouped by calibration frequency (0..6, then 7+), as in Fader, Hardie & Lee's
    /// figure of conditional expectations.
    pub by_calibration_frequency: Vec<FrequencyGroup>,
    pub order_value: OrderValue,
}

/// Repeat purchases in the holdout, summed over the calibration customers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RepeatPurchases {
    pub actual: f64,
    pub predicted: f64,
    /// Mean absolute error per customer.
    pub mae_per_customer: f64,
}

/// Customers of one calibration frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyGroup {
    /// `0`..`6`, or `7+`.
    pub frequency: String,
    pub customers: u64,
    pub mean_actual: f64,
    pub mean_predicted: f64,
}

/// Predicted order value against the mean holdout order value, for customers who bought there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OrderValue {
    pub customers: usize,
    pub mae: f64,
}

/// Compares the predictions over `horizon` time units with the holdout.
pub fn evaluate(
    bg: &impl RepeatPurchaseModel,
    gg: &GammaGamma,
    customers: &[HoldoutCustomer],
    horizon: f64,
) -> Result<HoldoutEvaluation> {
    let (mut total_pred, mut total_actual, mut abs_err) = (0.0, 0.0, 0.0);
    let (mut spend_err, mut spend_n) = (0.0, 0usize);
    let mut by_freq: BTreeMap<u32, (u64, f64, f64)> = BTreeMap::new();
    for cu in customers {
        let c = &cu.calibration;
        let pred = bg.conditional_expected_purchases(horizon, &c.rfm)?;
        let act = cu.periods;
        total_pred += pred;
        total_actual += act;
        abs_err += (pred - act).abs();
        let e = by_freq.entry((c.rfm.frequency as u32).min(7)).or_default();
        e.0 += 1;
        e.1 += act;
        e.2 += pred;
        if act > 0.0 {
            let predicted =
                gg.conditional_expected_value(c.rfm.frequency, c.monetary.unwrap_or(0.0))?;
            spend_err += (predicted - cu.spend / act).abs();
            spend_n += 1;
        }
    }
    let n = customers.len() as f64;
    Ok(HoldoutEvaluation {
        repeat_purchases: RepeatPurchases {
            actual: total_actual,
            predicted: total_pred,
            mae_per_customer: abs_err / n,
        },
        by_calibration_frequency: by_freq
            .iter()
            .map(|(f, (k, a, p))| FrequencyGroup {
                frequency: if *f == 7 {
                    "7+".to_string()
                } else {
                    f.to_string()
                },
                customers: *k,
                mean_actual: a / *k as f64,
                mean_predicted: p / *k as f64,
            })
            .collect(),
        order_value: OrderValue {
            customers: spend_n,
            mae: if spend_n > 0 {
                spend_err / spend_n as f64
            } else {
                0.0
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BgNbd, Rfm};

    #[test]
    fn sums_groups_and_errors_by_hand() {
        let bg = BgNbd::new(0.2426, 4.4135, 0.7929, 2.4258);
        let gg = GammaGamma::new(6.25, 3.74, 15.44);
        let c = |x: f64, tx: f64, m: Option<f64>, periods: f64, spend: f64| HoldoutCustomer {
            calibration: Purchaser {
                rfm: Rfm {
                    frequency: x,
                    recency: tx,
                    t: 30.0,
                },
                monetary: m,
            },
            periods,
            spend,
        };
        let customers = [
            c(0.0, 0.0, None, 0.0, 0.0),
            c(2.0, 20.0, Some(30.0), 1.0, 50.0),
            c(9.0, 29.0, Some(10.0), 3.0, 36.0),
        ];
        let h = 39.0;
        let e = evaluate(&bg, &gg, &customers, h).unwrap();
        let pred: Vec<f64> = customers
            .iter()
            .map(|c| {
                bg.conditional_expected_purchases(h, &c.calibration.rfm)
                    .unwrap()
            })
            .collect();
        assert_eq!(e.repeat_purchases.actual, 4.0);
        assert!((e.repeat_purchases.predicted - pred.iter().sum::<f64>()).abs() < 1e-12);
        let mae = (pred[0] + (pred[1] - 1.0).abs() + (pred[2] - 3.0).abs()) / 3.0;
        assert!((e.repeat_purchases.mae_per_customer - mae).abs() < 1e-12);
        let groups: Vec<(&str, u64)> = e
            .by_calibration_frequency
            .iter()
            .map(|g| (g.frequency.as_str(), g.customers))
            .collect();
        assert_eq!(groups, [("0", 1), ("2", 1), ("7+", 1)]);
        assert_eq!(e.by_calibration_frequency[2].mean_actual, 3.0);
        // Order value: only the two who bought in the holdout; mean holdout order 50 and 12.
        let v1 = gg.conditional_expected_value(2.0, 30.0).unwrap();
        let v2 = gg.conditional_expected_value(9.0, 10.0).unwrap();
        assert_eq!(e.order_value.customers, 2);
        let want = ((v1 - 50.0).abs() + (v2 - 12.0).abs()) / 2.0;
        assert!((e.order_value.mae - want).abs() < 1e-12);
    }
}
