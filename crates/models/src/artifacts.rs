use serde::{Deserialize, Serialize};

use crate::calibration::Calibration;
use crate::churn::ChurnTraining;
use crate::gbdt::Gbdt;
use crate::kmeans::{KChoice, KMeans};
use crate::logistic::Logistic;
use crate::scale::Scaler;
use crate::{Matrix, ModelError, Result};

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
    pub calibration: Calibration,
    /// How it was trained: observation dates, population, rows per split, each fit.
    pub training: ChurnTraining,
}

impl ChurnModel {
    /// The uncalibrated log-odds of each row of raw features.
    pub fn raw_scores(&self, x: &Matrix) -> Result<Vec<f64>> {
        crate::churn::raw_scores(&self.classifier, &self.scaler, x)
    }

    /// Calibrated churn probabilities for rows of raw features.
    pub fn predict_proba(&self, x: &Matrix) -> Result<Vec<f64>> {
        Ok(self
            .raw_scores(x)?
            .into_iter()
            .map(|s| self.calibration.apply(s))
            .collect())
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

    /// Reads an artifact, refusing another format version or kind.
    pub fn from_json(bytes: &[u8]) -> Result<ChurnModel> {
        read_versioned(bytes, "classifier")
    }
}

/// A saved segmentation: the features, their scaling, the centroids (in scaled units) and the
/// clusters' names; the next run matches its clusters to these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentModel {
    pub format_version: u32,
    pub trained_by: String,
    pub feature_names: Vec<String>,
    pub scaler: Scaler,
    pub kmeans: KMeans,
    pub names: Vec<String>,
    /// The silhouette of each `k` tried, when `k` was chosen.
    pub choice: Option<KChoice>,
}

impl SegmentModel {
    /// The centroids in raw feature units.
    pub fn raw_centroids(&self) -> Matrix {
        self.scaler.invert(&self.kmeans.centroids)
    }

    /// The artifact as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a model serialises")
    }

    /// Reads an artifact, refusing another format version or kind.
    pub fn from_json(bytes: &[u8]) -> Result<SegmentModel> {
        read_versioned(bytes, "kmeans")
    }
}

/// Parses a JSON artifact that must have `format_version == FORMAT_VERSION` and the key `key`.
fn read_versioned<T: serde::de::DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Artifact {
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
    if v.get(key).is_none() {
        return Err(ModelError::Artifact {
            reason: format!("no `{key}`: not this kind of model"),
        });
    }
    serde_json::from_value(v).map_err(|e| ModelError::Artifact {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logistic::LogisticParams;

    #[test]
    fn a_saved_model_scores_the_same_and_refuses_other_versions() {
        let x = Matrix::from_rows(&[
            vec![1.0, 5.0],
            vec![2.0, 3.0],
            vec![3.0, 4.0],
            vec![4.0, 1.0],
        ])
        .unwrap();
        let y = [false, true, false, true];
        let names = vec!["a".to_string(), "b".to_string()];
        let scaler = Scaler::fit(&x, &names).unwrap();
        let lr = LogisticParams {
            l2: 0.1,
            ..Default::default()
        }
        .fit(&scaler.transform(&x).unwrap(), &y, None)
        .unwrap();
        let model = ChurnModel {
            format_version: FORMAT_VERSION,
            trained_by: "test".into(),
            feature_names: names,
            scaler,
            classifier: Classifier::Logistic(lr),
            calibration: Calibration::Platt(crate::calibrate::Platt { a: 0.5, b: -0.1 }),
            training: ChurnTraining {
                gbdt: None,
                logistic: None,
                observation_dates: vec![],
                population: crate::churn::Population {
                    active_window_days: 30,
                    churn_event_types: vec![],
                },
                rows: crate::churn::SplitRows {
                    train: 4,
                    validation: 0,
                    test: 0,
                },
                calibration: None,
            },
        };
        let bytes = model.to_json();
        let back = ChurnModel::from_json(&bytes).unwrap();
        assert_eq!(
            back.predict_proba(&x).unwrap(),
            model.predict_proba(&x).unwrap()
        );
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["format_version"] = 99.into();
        let e = ChurnModel::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(e.to_string().contains("format_version Some(99)"), "{e}");
        let e = SegmentModel::from_json(&bytes).unwrap_err();
        assert!(e.to_string().contains("not this kind"), "{e}");
        assert_eq!(
            model
                .column_positions(&["b".into(), "a".into(), "c".into()])
                .unwrap(),
            vec![1, 0]
        );
        let e = model.column_positions(&["a".into()]).unwrap_err();
        assert!(e.to_string().contains("`b`"), "{e}");
    }
}
