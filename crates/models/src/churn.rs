use serde::{Deserialize, Serialize};

use crate::calibrate::Platt;
use crate::gbdt::Gbdt;
use crate::logistic::Logistic;
use crate::scale::Scaler;
use crate::{Matrix, ModelError, Result, Scorer};

/// The artifact format; a model saved with another version is refused, not misread.
pub const FORMAT_VERSION: u32 = 1;

/// The classifier inside a [`ChurnModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classifier {
    /// Works on the scaled features.
    Logistic(Logistic),
    /// Works on the raw features (trees need no scaling; missing values have their own bin).
    Gbdt(Gbdt),
}

impl Classifier {
    /// `"logistic"` or `"gbdt"`.
    pub fn name(&self) -> &'static str {
        match self {
            Classifier::Logistic(_) => "logistic",
            Classifier::Gbdt(_) => "gbdt",
        }
    }
}

/// A trained churn model as saved beside the outputs: what it needs as input (feature names
/// and their scaling), the classifier, and the calibration of its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnModel {
    pub format_version: u32,
    /// The `lifecycle` version that trained it.
    pub trained_by: String,
    pub feature_names: Vec<String>,
    pub scaler: Scaler,
    pub classifier: Classifier,
    pub calibration: Platt,
    /// Free-form provenance (observation dates, rows, metrics).
    pub training: serde_json::Value,
}

impl ChurnModel {
    /// The uncalibrated log-odds of each row of raw features.
    pub fn raw_scores(&self, x: &Matrix) -> Result<Vec<f64>> {
        use rayon::prelude::*;
        match &self.classifier {
            Classifier::Logistic(m) => {
                let z = self.scaler.transform(x)?;
                Ok((0..z.rows)
                    .into_par_iter()
                    .map(|i| m.decision(z.row(i)))
                    .collect())
            }
            Classifier::Gbdt(m) => {
                if x.cols != self.feature_names.len() {
                    return Err(ModelError::Shape {
                        what: "feature columns",
                        expected: self.feature_names.len(),
                        found: x.cols,
                    });
                }
                Ok((0..x.rows)
                    .into_par_iter()
                    .map(|i| m.decision(x.row(i)))
                    .collect())
            }
        }
    }

    /// Calibrated churn probabilities for rows of raw features.
    pub fn predict_proba(&self, x: &Matrix) -> Result<Vec<f64>> {
        Ok(self
            .raw_scores(x)?
            .into_iter()
            .map(|s| self.calibration.apply(s))
            .collect())
    }

    /// The features that push one row's score towards churn the most, largest first (at most
    /// `top`, only positive contributions).
    pub fn drivers(&self, row: &[f64], top: usize) -> Vec<(&str, f64)> {
        let contributions = match &self.classifier {
            Classifier::Logistic(m) => {
                let z: Vec<f64> = row
                    .iter()
                    .zip(&self.scaler.columns)
                    .map(|(v, c)| c.apply(*v))
                    .collect();
                m.contributions(&z)
            }
            Classifier::Gbdt(m) => m.contributions(row),
        };
        let mut c: Vec<(&str, f64)> = self
            .feature_names
            .iter()
            .map(String::as_str)
            .zip(contributions)
            .filter(|(_, v)| *v > 0.0)
            .collect();
        c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        c.truncate(top);
        c
    }

    /// Model-level importance, summing to 1: the share of total split gain (trees) or of
    /// `|coefficient|` on the standardised features (logistic regression).
    pub fn importance(&self) -> Vec<(String, f64)> {
        let raw: Vec<f64> = match &self.classifier {
            Classifier::Logistic(m) => m.coefficients.iter().map(|c| c.abs()).collect(),
            Classifier::Gbdt(m) => m.feature_gain.clone(),
        };
        let total: f64 = raw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        self.feature_names
            .iter()
            .cloned()
            .zip(raw.iter().map(|v| v / total))
            .collect()
    }

    /// For each of the model's features, its position in `columns`.
    pub fn column_positions(&self, columns: &[String]) -> Result<Vec<usize>> {
        self.feature_names
            .iter()
            .map(|f| {
                columns
                    .iter()
                    .position(|c| c == f)
                    .ok_or_else(|| ModelError::MissingFeature { column: f.clone() })
            })
            .collect()
    }

    /// The artifact as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a model serialises")
    }

    /// Reads an artifact, refusing another format version.
    pub fn from_json(bytes: &[u8]) -> Result<ChurnModel> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Artifact {
                reason: format!("not JSON: {e}"),
            })?;
        let version = v["format_version"].as_u64();
        if version != Some(FORMAT_VERSION as u64) {
            return Err(ModelError::Artifact {
                reason: format!(
                    "format_version {version:?}; this build reads version {FORMAT_VERSION}"
                ),
            });
        }
        serde_json::from_value(v).map_err(|e| ModelError::Artifact {
            reason: e.to_string(),
        })
    }
}
