//! Churn model training and choice: every candidate classifier is fitted on the training
//! dates, calibrated (Platt, isotonic or the better of them: [`crate::calibration`]) and evaluated on the validation date, evaluated again on the test
//! date, and the candidate with the best validation ROC-AUC becomes the [`ChurnModel`].
//!
//! The test date is never seen while training or choosing, so its metrics are the honest ones.
//! Logistic regression works on standardised features (the [`Scaler`] is fitted on the training
//! rows); the trees work on raw features and stop early on the validation date.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::artifacts::FORMAT_VERSION;
use crate::calibration::{Calibration, CalibrationChoice, CalibrationMethod};
use crate::gbdt::GbdtParams;
use crate::logistic::LogisticParams;
use crate::metrics::Evaluation;
use crate::scale::Scaler;
use crate::{ChurnModel, Classifier, Matrix, ModelError, Result, Scorer};

/// A classifier the trainer can fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierKind {
    Logistic,
    Gbdt,
}

/// Which part of the time split a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    /// `train`, `validation` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// Rows of features and their churn labels.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    pub x: &'a Matrix,
    pub y: &'a [bool],
}

/// The time split: training dates (stacked), the validation date and the test date.
#[derive(Debug, Clone)]
pub struct ChurnData<'a> {
    pub train: Vec<Labelled<'a>>,
    pub validation: Labelled<'a>,
    pub test: Labelled<'a>,
}

/// Training settings; [`ChurnParams::fit`] returns the chosen model.
#[derive(Debug, Clone)]
pub struct ChurnParams {
    /// Candidates, in order (a tie in validation ROC-AUC keeps the earlier one).
    pub models: Vec<ClassifierKind>,
    pub logistic: LogisticParams,
    pub gbdt: GbdtParams,
    /// Weigh both classes the same in total (rare churners count as much as the rest).
    pub balanced: bool,
    /// How each candidate's scores are calibrated on the validation date.
    pub calibration: CalibrationMethod,
}

/// One candidate's metrics on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEvaluation {
    pub model: String,
    pub split: Split,
    pub metrics: Evaluation,
}

/// What a fit records about itself in the model (and the run's manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnTraining {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gbdt: Option<GbdtTraining>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistic: Option<LogisticTraining>,
    pub observation_dates: Vec<ObservationDate>,
    pub population: Population,
    pub rows: SplitRows,
    /// The chosen model's calibration (absent in models saved before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationChoice>,
}

/// How the trees' fit went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbdtTraining {
    pub trees: usize,
}

/// How the logistic regression's fit went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogisticTraining {
    pub iterations: usize,
    pub converged: bool,
}

/// An observation date and its part of the split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObservationDate {
    pub date: NaiveDate,
    pub split: Split,
}

/// Who the model scores: users active in the window before the date, or (with churn event
/// types) users without such an event before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    pub active_window_days: u32,
    pub churn_event_types: Vec<String>,
}

/// Rows per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRows {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// A fitted and chosen churn model, and every candidate's metrics.
#[derive(Debug, Clone)]
pub struct ChurnFit {
    pub model: ChurnModel,
    /// Validation then test, per candidate, in candidate order.
    pub evaluations: Vec<ModelEvaluation>,
}

/// Weights that make both classes count the same in total.
pub fn balanced_weights(y: &[bool]) -> Vec<f64> {
    let n = y.len() as f64;
    let pos = y.iter().filter(|v| **v).count() as f64;
    let (wp, wn) = (n / (2.0 * pos.max(1.0)), n / (2.0 * (n - pos).max(1.0)));
    y.iter().map(|v| if *v { wp } else { wn }).collect()
}

/// A fitted candidate before the choice.
struct Candidate {
    classifier: Classifier,
    calibration: Calibration,
    choice: CalibrationChoice,
    validation_auc: f64,
}

impl ChurnParams {
    /// Fits every candidate on `data` and keeps the best. `features` names the columns;
    /// `training` is completed with the rows per split and each candidate's fit.
    pub fn fit(
        &self,
        features: &[String],
        data: &ChurnData,
        mut training: ChurnTraining,
    ) -> Result<ChurnFit> {
        let (train_x, train_y) = stack(features.len(), &data.train)?;
        let valid = data.validation;
        both_classes("training dates", &train_y)?;
        both_classes("validation date", valid.y)?;
        let scaler = Scaler::fit(&train_x, features)?;
        let train = Labelled {
            x: &train_x,
            y: &train_y,
        };
        let weights = (
            self.balanced.then(|| balanced_weights(&train_y)),
            self.balanced.then(|| balanced_weights(valid.y)),
        );
        let mut candidates = vec![];
        let mut evaluations = vec![];
        for kind in &self.models {
            let w = (weights.0.as_deref(), weights.1.as_deref());
            let classifier = self.fit_one(*kind, &scaler, train, valid, w, &mut training)?;
            let c = self.calibrate(classifier, &scaler, data, &mut evaluations)?;
            candidates.push(c);
        }
        let best = candidates
            .into_iter()
            .reduce(|a, b| {
                if b.validation_auc > a.validation_auc {
                    b
                } else {
                    a
                }
            })
            .ok_or_else(|| ModelError::InvalidParam {
                name: "models",
                reason: "no classifier to train".into(),
            })?;
        training.rows = SplitRows {
            train: train_y.len(),
            validation: valid.y.len(),
            test: data.test.y.len(),
        };
        training.calibration = Some(best.choice);
        let model = ChurnModel {
            format_version: FORMAT_VERSION,
            trained_by: env!("CARGO_PKG_VERSION").to_string(),
            feature_names: features.to_vec(),
            scaler,
            classifier: best.classifier,
            calibration: best.calibration,
            training,
        };
        Ok(ChurnFit { model, evaluations })
    }

    /// Fits one candidate on the training rows (`w`: the training and validation weights);
    /// records how the fit went in `training`.
    fn fit_one(
        &self,
        kind: ClassifierKind,
        scaler: &Scaler,
        train: Labelled,
        valid: Labelled,
        w: (Option<&[f64]>, Option<&[f64]>),
        training: &mut ChurnTraining,
    ) -> Result<Classifier> {
        Ok(match kind {
            ClassifierKind::Logistic => {
                let z = scaler.transform(train.x)?;
                let m = self.logistic.fit(&z, train.y, w.0)?;
                training.logistic = Some(LogisticTraining {
                    iterations: m.iterations,
                    converged: m.converged,
                });
                Classifier::Logistic(m)
            }
            ClassifierKind::Gbdt => {
                let validation = Some((valid.x, valid.y, w.1));
                let m = self.gbdt.fit(train.x, train.y, w.0, validation)?;
                training.gbdt = Some(GbdtTraining {
                    trees: m.trees.len(),
                });
                Classifier::Gbdt(m)
            }
        })
    }

    /// Calibration on the validation date, and the candidate's metrics on validation and test.
    fn calibrate(
        &self,
        classifier: Classifier,
        scaler: &Scaler,
        data: &ChurnData,
        evaluations: &mut Vec<ModelEvaluation>,
    ) -> Result<Candidate> {
        let (valid, test) = (data.validation, data.test);
        let valid_raw = raw_scores(&classifier, scaler, valid.x)?;
        let (calibration, choice) = self.calibration.fit(&valid_raw, valid.y)?;
        let calibrated = |s: Vec<f64>| {
            s.into_iter()
                .map(|v| calibration.apply(v))
                .collect::<Vec<_>>()
        };
        let ev_valid = Evaluation::new(valid.y, &calibrated(valid_raw));
        let ev_test = Evaluation::new(
            test.y,
            &calibrated(raw_scores(&classifier, scaler, test.x)?),
        );
        let validation_auc = ev_valid.roc_auc.unwrap_or(0.0);
        let model = classifier.name().to_string();
        for (split, metrics) in [(Split::Validation, ev_valid), (Split::Test, ev_test)] {
            evaluations.push(ModelEvaluation {
                model: model.clone(),
                split,
                metrics,
            });
        }
        Ok(Candidate {
            classifier,
            calibration,
            choice,
            validation_auc,
        })
    }
}

/// Labels with both classes, or an error that says how many of each there are.
fn both_classes(what: &str, y: &[bool]) -> Result<()> {
    let pos = y.iter().filter(|v| **v).count();
    if pos == 0 || pos == y.len() {
        return Err(ModelError::InvalidData {
            what: "churn labels",
            reason: format!(
                "the {what} have {} users and {pos} churners: both classes are needed",
                y.len()
            ),
        });
    }
    Ok(())
}

/// The training dates stacked into one matrix, in order.
fn stack(cols: usize, parts: &[Labelled]) -> Result<(Matrix, Vec<bool>)> {
    let mut x = Matrix {
        rows: 0,
        cols,
        data: vec![],
    };
    let mut y = vec![];
    for p in parts {
        x = x.vstack(p.x)?;
        y.extend_from_slice(p.y);
    }
    Ok((x, y))
}

/// The uncalibrated log-odds of each row of raw features.
pub(crate) fn raw_scores(classifier: &Classifier, scaler: &Scaler, x: &Matrix) -> Result<Vec<f64>> {
    use rayon::prelude::*;
    match classifier {
        Classifier::Logistic(m) => {
            let z = scaler.transform(x)?;
            Ok((0..z.rows)
                .into_par_iter()
                .map(|i| m.decision(z.row(i)))
                .collect())
        }
        Classifier::Gbdt(m) => {
            if x.cols != scaler.columns.len() {
                return Err(ModelError::Shape {
                    what: "feature columns",
                    expected: scaler.columns.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Rows whose churn depends on `x0` linearly; `x1` is noise.
    fn planted(n: usize, seed: u64) -> (Matrix, Vec<bool>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut rows = vec![];
        let mut y = vec![];
        for _ in 0..n {
            let (a, b): (f64, f64) = (rng.r#gen::<f64>() * 4.0 - 2.0, rng.r#gen());
            let p = 1.0 / (1.0 + (-(2.5 * a - 2.5)).exp());
            rows.push(vec![a, b]);
            y.push(rng.r#gen::<f64>() < p);
        }
        (Matrix::from_rows(&rows).unwrap(), y)
    }

    fn training() -> ChurnTraining {
        ChurnTraining {
            gbdt: None,
            logistic: None,
            observation_dates: vec![],
            population: Population {
                active_window_days: 30,
                churn_event_types: vec![],
            },
            rows: SplitRows {
                train: 0,
                validation: 0,
                test: 0,
            },
            calibration: None,
        }
    }

    fn params(models: Vec<ClassifierKind>) -> ChurnParams {
        ChurnParams {
            models,
            logistic: LogisticParams::default(),
            gbdt: GbdtParams {
                max_trees: 30,
                ..Default::default()
            },
            balanced: true,
            calibration: CalibrationMethod::Platt,
        }
    }

    #[test]
    fn the_better_validation_auc_is_chosen_and_calibrated() {
        let ((tx, ty), (vx, vy), (sx, sy)) = (planted(3000, 1), planted(2000, 2), planted(2000, 3));
        let data = ChurnData {
            train: vec![Labelled { x: &tx, y: &ty }],
            validation: Labelled { x: &vx, y: &vy },
            test: Labelled { x: &sx, y: &sy },
        };
        let names = vec!["x0".to_string(), "x1".to_string()];
        let both = vec![ClassifierKind::Gbdt, ClassifierKind::Logistic];
        let fit = params(both).fit(&names, &data, training()).unwrap();
        assert_eq!(fit.evaluations.len(), 4);
        let auc = |m: &str| {
            fit.evaluations
                .iter()
                .find(|e| e.model == m && e.split == Split::Validation)
                .and_then(|e| e.metrics.roc_auc)
                .unwrap()
        };
        // The truth is linear: the chosen one is whichever validates better, and it is logistic.
        let chosen = fit.model.classifier.name();
        let other = if chosen == "logistic" {
            "gbdt"
        } else {
            "logistic"
        };
        assert!(
            auc(chosen) >= auc(other),
            "{chosen} {} vs {}",
            auc(chosen),
            auc(other)
        );
        assert_eq!(chosen, "logistic");
        assert_eq!(fit.model.training.rows.train, 3000);
        assert!(fit.model.training.gbdt.is_some() && fit.model.training.logistic.is_some());
        // Class weights bias the raw scores upwards; calibration brings the mean probability on
        // the test date back to the observed churn rate.
        let p = fit.model.predict_proba(&sx).unwrap();
        let mean = p.iter().sum::<f64>() / p.len() as f64;
        let rate = sy.iter().filter(|v| **v).count() as f64 / sy.len() as f64;
        assert!((mean - rate).abs() < 0.03, "mean {mean} vs rate {rate}");
        let raw = raw_scores(&fit.model.classifier, &fit.model.scaler, &sx).unwrap();
        let uncalibrated = raw.iter().map(|s| 1.0 / (1.0 + (-s).exp())).sum::<f64>() / 2000.0;
        assert!(
            uncalibrated - rate > 0.05,
            "balanced weights inflate: {uncalibrated} vs {rate}"
        );
    }

    #[test]
    fn one_class_is_an_error_that_says_so() {
        let (x, _) = planted(200, 4);
        let y = vec![false; 200];
        let data = ChurnData {
            train: vec![Labelled { x: &x, y: &y }],
            validation: Labelled { x: &x, y: &y },
            test: Labelled { x: &x, y: &y },
        };
        let names = vec!["x0".to_string(), "x1".to_string()];
        let e = params(vec![ClassifierKind::Logistic])
            .fit(&names, &data, training())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("training dates have 200 users and 0 churners"),
            "{e}"
        );
    }

    #[test]
    fn balanced_weights_sum_to_half_per_class() {
        let y = [true, false, false, false];
        let w = balanced_weights(&y);
        assert_eq!(w, vec![2.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]);
    }
}
