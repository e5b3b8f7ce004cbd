//! Churn: point-in-time labels at several observation dates, classifiers trained, chosen and
//! calibrated by `lifecycle_models::churn` on the earlier dates, tested on the latest, and the
//! chosen model applied to the users active at the cutoff.
//!
//! With `n` observation dates `T0_j = cutoff − H − j·step` (`j = 0..n`): `j = 0` is the test
//! set, `j = 1` the validation set (early stopping, calibration, choice), `j >= 2` are stacked
//! into the training set. Every frame's features are computed as of its `T0` from events before
//! `T0`, its labels from `[T0, T0 + H)` (`lifecycle_features::churn_labels`). The model that is
//! tested is the model that scores: it is not refitted on later data. The quality gate
//! (`churn.min_validation_auc`) compares the test ROC-AUC.

use chrono::{DateTime, Duration, Utc};
use lifecycle_features::churn_labels::churn_frame_sql;
use lifecycle_features::sql::views;
use lifecycle_models::ModelError;
use lifecycle_models::calibration::CalibrationMethod;
use lifecycle_models::churn::{
    ChurnData, ChurnFit, ChurnParams, ChurnTraining, ClassifierKind, Labelled, ObservationDate,
    Population, Split, SplitRows,
};
use lifecycle_models::gbdt::GbdtParams;
use lifecycle_models::logistic::LogisticParams;
use lifecycle_spec::{ChurnCalibration, ChurnModelKind, ChurnSettings, ClassWeight};

use super::{Run, StepInfo};
use crate::churn_curves::curves_batch;
use crate::churn_tables::{DatedFrame, metrics_batch, scores_batch, training_batch};
use crate::frame::{Frame, check_columns, collect, numeric_columns};
use crate::query::Query;
use crate::reports::{ChurnReport, FeatureShare, ObservationSummary};
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "churn",
    from_rollup: false,
    reads: &[views::EVENTS_CLEAN, views::USER_FEATURES],
    writes: &[
        Table::ChurnScores,
        Table::ModelMetrics,
        Table::ChurnCurves,
        Table::ChurnTraining,
    ],
};

/// The observation dates, latest first.
pub(crate) fn observation_dates(c: &ChurnSettings, cutoff: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    (0..c.observation_dates)
        .map(|j| cutoff - Duration::days(c.horizon_days as i64 + (j as u32 * c.step()) as i64))
        .collect()
}

/// Trains, gates, scores and writes the churn tables; saves the model.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let c = run.spec.churn.clone();
    let q = Query::new(&run.ctx, "churn frames");
    let schema = q.schema(views::USER_FEATURES).await?;
    let features = if c.features.is_empty() {
        numeric_columns(&schema)
    } else {
        check_columns(&schema, &c.features, "churn.features")?;
        c.features.clone()
    };
    if !run.out.publishes() {
        return Ok(None);
    }
    let frames = labelled_frames(run, q, &features).await?;
    let sql = churn_frame_sql(
        views::USER_FEATURES,
        &c,
        &run.spec.purchase_types,
        run.cutoff,
        None,
    );
    let scoring = collect(q.step("churn scoring"), &sql, &features, None).await?;
    if c.export_training {
        run.out
            .batch(Table::ChurnTraining, training_batch(&frames, &features))
            .await?;
    }
    let (frames, scoring, fit) = super::blocking("churn", move || {
        let fit = fit(&c, &features, &frames);
        (frames, scoring, fit)
    })
    .await?;
    publish(run, &frames, &scoring, fit?).await
}

/// Gates the chosen model, writes its tables and saves it; records the report.
async fn publish(
    run: &mut Run<'_>,
    frames: &[DatedFrame],
    scoring: &Frame,
    fit: ChurnFit,
) -> Result<Option<u64>> {
    let model = &fit.model;
    let selected = model.classifier.name();
    let test_auc = fit
        .evaluations
        .iter()
        .find(|e| e.model == selected && e.split == Split::Test)
        .and_then(|e| e.metrics.roc_auc);
    let gate = gate(run.spec.churn.min_validation_auc, selected, test_auc);
    let mut rows = None;
    if gate.is_ok() {
        let p = model
            .predict_proba(&scoring.x)
            .map_err(RunError::model("churn"))?;
        let scores = scores_batch(model, scoring, &p);
        rows = Some(run.out.batch(Table::ChurnScores, scores).await?);
    } else if let Err(reason) = &gate {
        tracing::warn!(%reason, "churn scores not published");
    }
    let metrics = metrics_batch(&fit.evaluations, selected, frames);
    run.out.batch(Table::ModelMetrics, metrics).await?;
    let test = &frames[0];
    let p_test = model
        .predict_proba(&test.frame.x)
        .map_err(RunError::model("churn"))?;
    let curves = curves_batch(selected, test.split.name(), test.y(), &p_test);
    run.out.batch(Table::ChurnCurves, curves).await?;
    let artifact = run.out.artifact("churn", model.to_json()).await?;
    let report = report(
        &run.spec.churn,
        frames,
        scoring.ids.len(),
        fit,
        gate,
        artifact,
    );
    run.models.churn = Some(report);
    Ok(rows)
}

/// The manifest's `churn` entry.
fn report(
    s: &ChurnSettings,
    frames: &[DatedFrame],
    scored_users: usize,
    fit: ChurnFit,
    gate: std::result::Result<(), String>,
    artifact: String,
) -> ChurnReport {
    let ChurnFit { model, evaluations } = fit;
    ChurnReport {
        population: if s.churn_event_types.is_empty() {
            format!(
                "users with an event in the {} days before the date",
                s.active_window_days
            )
        } else {
            "users without a churn event before the date".to_string()
        },
        horizon_days: s.horizon_days,
        observation_dates: frames.iter().map(summary).collect(),
        features: model.feature_names.clone(),
        selected: model.classifier.name().to_string(),
        importance: top_importance(&model, 10),
        evaluations,
        min_validation_auc: s.min_validation_auc,
        published: gate.is_ok(),
        reason: gate.err(),
        scored_users,
        training: model.training,
        artifact,
    }
}

/// The labelled frame of every observation date, latest (test) first.
async fn labelled_frames(
    run: &Run<'_>,
    q: Query<'_>,
    features: &[String],
) -> Result<Vec<DatedFrame>> {
    let (c, s) = (&run.spec.churn, run.spec);
    let mut frames = vec![];
    for (j, t0) in observation_dates(c, run.cutoff).into_iter().enumerate() {
        let sql = lifecycle_features::user_features::user_features_sql(
            &s.features,
            &s.purchase_types,
            t0,
            lifecycle_features::user_features::FeatureSource::Events,
        );
        q.register_view(views::CHURN_FEATURES, &sql).await?;
        let end = t0 + Duration::days(c.horizon_days as i64);
        let sql = churn_frame_sql(views::CHURN_FEATURES, c, &s.purchase_types, t0, Some(end));
        let frame = collect(q, &sql, features, Some("churned")).await?;
        let split = match j {
            0 => Split::Test,
            1 => Split::Validation,
            _ => Split::Train,
        };
        frames.push(DatedFrame {
            date: t0.date_naive(),
            split,
            frame,
        });
    }
    Ok(frames)
}

/// Fits the spec's candidates on the split (frames latest first).
fn fit(c: &ChurnSettings, features: &[String], frames: &[DatedFrame]) -> Result<ChurnFit> {
    fn rows(f: &DatedFrame) -> Labelled<'_> {
        Labelled {
            x: &f.frame.x,
            y: f.y(),
        }
    }
    let data = ChurnData {
        train: frames[2..].iter().map(rows).collect(),
        validation: rows(&frames[1]),
        test: rows(&frames[0]),
    };
    let g = &c.gbdt;
    let params = ChurnParams {
        models: c
            .models
            .iter()
            .map(|m| match m {
                ChurnModelKind::Logistic => ClassifierKind::Logistic,
                ChurnModelKind::Gbdt => ClassifierKind::Gbdt,
            })
            .collect(),
        logistic: LogisticParams {
            l2: c.l2,
            ..Default::default()
        },
        gbdt: GbdtParams {
            max_trees: g.max_trees,
            learning_rate: g.learning_rate,
            max_depth: g.max_depth,
            min_samples_leaf: g.min_samples_leaf,
            l2: g.l2,
            early_stopping_rounds: g.early_stopping_rounds,
            ..Default::default()
        },
        balanced: c.class_weight != ClassWeight::None,
        calibration: match c.calibration {
            ChurnCalibration::Platt => CalibrationMethod::Platt,
            ChurnCalibration::Isotonic => CalibrationMethod::Isotonic,
            ChurnCalibration::Auto => CalibrationMethod::Auto,
        },
    };
    let training = ChurnTraining {
        gbdt: None,
        logistic: None,
        observation_dates: frames
            .iter()
            .map(|f| ObservationDate {
                date: f.date,
                split: f.split,
            })
            .collect(),
        population: Population {
            active_window_days: c.active_window_days,
            churn_event_types: c.churn_event_types.clone(),
        },
        rows: SplitRows {
            train: 0,
            validation: 0,
            test: 0,
        },
        calibration: None,
    };
    params.fit(features, &data, training).map_err(|e| match e {
        ModelError::InvalidData { what: "churn labels", reason } => RunError::model("churn")(ModelError::InvalidData {
            what: "churn labels",
            reason: format!(
                "{reason} (is the event log long enough for churn.observation_dates = {} dates {} days apart?)",
                c.observation_dates,
                c.step()
            ),
        }),
        e => RunError::model("churn")(e),
    })
}

/// Ok when the selected model's test ROC-AUC reaches the gate; else why not.
fn gate(min: f64, selected: &str, test_auc: Option<f64>) -> std::result::Result<(), String> {
    match test_auc {
        Some(auc) if auc >= min => Ok(()),
        Some(auc) => Err(format!(
            "the {selected} model's ROC-AUC on the test date is {auc:.4}, below churn.min_validation_auc = {min}"
        )),
        None => Err("the test date has only one class, so the model cannot be checked".to_string()),
    }
}

fn summary(f: &DatedFrame) -> ObservationSummary {
    let y = f.y();
    let churned = y.iter().filter(|v| **v).count();
    ObservationSummary {
        date: f.date,
        split: f.split,
        users: y.len(),
        churned,
        base_rate: churned as f64 / y.len().max(1) as f64,
    }
}

fn top_importance(model: &lifecycle_models::ChurnModel, n: usize) -> Vec<FeatureShare> {
    let mut imp = model.importance();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    imp.into_iter()
        .take(n)
        .map(|(feature, share)| FeatureShare { feature, share })
        .collect()
}
