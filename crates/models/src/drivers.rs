//! Why one user's churn score is high: the features that push it up the most, with the user's
//! value of each ("recency_days = 41"). Trees use exact SHAP values ([`crate::tree_shap`]);
//! models saved before covers were kept fall back to Saabas attributions. Logistic regression
//! uses coefficient × standardised value, which is the exact SHAP value of a linear model
//! relative to the training mean.

use std::fmt;

use crate::leaf_shap::LeafShap;
use crate::{ChurnModel, Classifier, Matrix};

/// A feature pushing one row's churn score up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Driver<'a> {
    pub feature: &'a str,
    /// The row's raw value of the feature (`NaN` when missing).
    pub value: f64,
    /// Its share of the row's log-odds above the model's expectation.
    pub contribution: f64,
}

impl fmt::Display for Driver<'_> {
    /// `feature = value`: whole numbers without decimals, others to three decimals (trailing
    /// zeros dropped), `missing` for a missing value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.value;
        if v.is_nan() {
            return write!(f, "{} = missing", self.feature);
        }
        let text = format!("{v:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        let text = if text == "-0" { "0" } else { text };
        write!(f, "{} = {text}", self.feature)
    }
}

/// Explains rows of one model; build it once ([`ChurnModel::explainer`]: for trees, the leaf
/// tables of [`LeafShap`]) and use it for every row.
pub struct Explainer<'a> {
    model: &'a ChurnModel,
    trees: Option<LeafShap<'a>>,
}

impl ChurnModel {
    /// The explainer of this model's scores.
    pub fn explainer(&self) -> Explainer<'_> {
        let trees = match &self.classifier {
            Classifier::Gbdt(m) if m.has_cover() => Some(LeafShap::new(m)),
            _ => None,
        };
        Explainer { model: self, trees }
    }
}

impl Explainer<'_> {
    /// Each feature's contribution to the log-odds of rows `rows` of `x` (see the module
    /// doc), row-major.
    pub fn contributions(&self, x: &Matrix, rows: std::ops::Range<usize>) -> Vec<f64> {
        let m = self.model;
        match (&m.classifier, &self.trees) {
            (Classifier::Gbdt(_), Some(trees)) => trees.shap_block(x, rows),
            (Classifier::Gbdt(gb), None) => rows.flat_map(|r| gb.contributions(x.row(r))).collect(),
            (Classifier::Logistic(lr), _) => rows
                .flat_map(|r| {
                    let z: Vec<f64> = x
                        .row(r)
                        .iter()
                        .zip(&m.scaler.columns)
                        .map(|(v, c)| c.apply(*v))
                        .collect();
                    lr.contributions(&z)
                })
                .collect(),
        }
    }

    /// The features that push a row's score towards churn the most, largest first (at most
    /// `top`, only positive contributions; ties by name), from the row and its contributions.
    pub fn drivers<'m>(
        &'m self,
        row: &[f64],
        contributions: &[f64],
        top: usize,
    ) -> Vec<Driver<'m>> {
        let mut d: Vec<Driver> = self
            .model
            .feature_names
            .iter()
            .zip(row)
            .zip(contributions)
            .filter(|(_, c)| **c > 0.0)
            .map(|((name, value), contribution)| Driver {
                feature: name,
                value: *value,
                contribution: *contribution,
            })
            .collect();
        d.sort_by(|a, b| {
            b.contribution
                .total_cmp(&a.contribution)
                .then(a.feature.cmp(b.feature))
        });
        d.truncate(top);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_short_and_exact() {
        let d = |value| {
            Driver {
                feature: "recency_days",
                value,
                contribution: 1.0,
            }
            .to_string()
        };
        assert_eq!(d(41.0), "recency_days = 41");
        assert_eq!(d(0.5), "recency_days = 0.5");
        assert_eq!(d(2.0 / 3.0), "recency_days = 0.667");
        assert_eq!(d(-0.0001), "recency_days = 0");
        assert_eq!(d(1e6), "recency_days = 1000000");
        assert_eq!(d(f64::NAN), "recency_days = missing");
    }
}
