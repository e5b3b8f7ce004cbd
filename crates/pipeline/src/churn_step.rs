//! The churn step: point-in-time labels at several observation dates, classifiers trained on
//! the earlier dates, validated and calibrated on the next, tested on the latest, and the chosen
//! model applied to the users active at the cutoff.
//!
//! With `n` observation dates `T0_j = cutoff − H − j·step` (`j = 0..n`):
//! - `j >= 2` are stacked into the training set (several dates give rare churn enough positives);
//! - `j = 1` is the validation set: early stopping of the trees, Platt calibration of every
//!   model, and the choice between models (best ROC-AUC);
//! - `j = 0` is the test set, never seen in training or choosing: the metrics there are the
//!   honest ones, and the quality gate (`churn.min_validation_auc`) compares its ROC-AUC.
//!
//! Every frame's features are computed as of its `T0` from events before `T0`, and its labels
//! from `[T0, T0 + H)`, which ends at or before the cutoff (`lifecycle_features::churn_labels`).
//! The model that is tested is the model that scores: it is not refitted on later data.
//!
//! Training gathers the per-user matrices to this process and fits with rayon: one row per
//! user and date is small next to the events they summarise.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use lifecycle_features::churn_labels::churn_frame_sql;
use lifecycle_models::calibrate::Platt;
use lifecycle_models::gbdt::GbdtParams;
use lifecycle_models::logistic::LogisticParams;
use lifecycle_models::metrics::Evaluation;
use lifecycle_models::scale::Scaler;
use lifecycle_models::{ChurnModel, Classifier, FORMAT_VERSION, Matrix, ModelError, Scorer};
use lifecycle_spec::{ChurnModelKind, ChurnSettings, ClassWeight, ValidJobSpec};
use serde_json::json;

use crate::frame::{Frame, check_columns, collect, numeric_columns};
use crate::{Result, RunError};

/// What the step produced.
pub(crate) struct Churn {
    /// `churn_scores`; `None` when the model failed the quality gate.
    pub scores: Option<RecordBatch>,
    /// `model_metrics`: every model on the validation and test dates.
    pub metrics: RecordBatch,
    /// `churn_training` when `churn.export_training` is set.
    pub training: Option<RecordBatch>,
    pub model: ChurnModel,
    pub report: serde_json::Value,
}

fn fit_error(source: ModelError) -> RunError {
    RunError::Fit {
        model: "churn",
        source,
    }
}

/// One labelled observation date.
struct Labelled {
    t0: DateTime<Utc>,
    split: &'static str,
    frame: Frame,
}

impl Labelled {
    fn y(&self) -> &[bool] {
        self.frame
            .labels
            .as_deref()
            .expect("labelled frames have labels")
    }
}

/// The observation dates, latest first.
pub(crate) fn observation_dates(c: &ChurnSettings, cutoff: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    (0..c.observation_dates)
        .map(|j| cutoff - Duration::days(c.horizon_days as i64 + (j as u32 * c.step()) as i64))
        .collect()
}

pub(crate) async fn churn(
    ctx: &SessionContext,
    spec: &ValidJobSpec,
    cutoff: DateTime<Utc>,
) -> Result<Churn> {
    let c = spec.churn.clone();
    let schema = ctx
        .table("user_features")
        .await
        .map_err(RunError::engine("churn frames"))?
        .schema()
        .as_arrow()
        .clone();
    let features = if c.features.is_empty() {
        numeric_columns(&schema)
    } else {
        check_columns(&schema, &c.features, "churn.features")?;
        c.features.clone()
    };

    let mut frames = vec![];
    for (j, t0) in observation_dates(&c, cutoff).into_iter().enumerate() {
        let sql = lifecycle_features::user_features::user_features_sql(
            &spec.features,
            &spec.purchase_types,
            t0,
        );
        let view = ctx
            .sql(&sql)
            .await
            .map_err(RunError::engine("churn frames"))?
            .into_view();
        ctx.deregister_table("churn_features")
            .map_err(RunError::engine("churn frames"))?;
        ctx.register_table("churn_features", view)
            .map_err(RunError::engine("churn frames"))?;
        let end = t0 + Duration::days(c.horizon_days as i64);
        let sql = churn_frame_sql("churn_features", &c, &spec.purchase_types, t0, Some(end));
        let frame = collect(ctx, "churn frames", &sql, &features, Some("churned")).await?;
        let split = match j {
            0 => "test",
            1 => "validation",
            _ => "train",
        };
        frames.push(Labelled { t0, split, frame });
    }
    let sql = churn_frame_sql("user_features", &c, &spec.purchase_types, cutoff, None);
    let scoring = collect(ctx, "churn scoring", &sql, &features, None).await?;

    let training = c
        .export_training
        .then(|| training_batch(&frames, &features));
    let (frames, fitted) = tokio::task::spawn_blocking(move || {
        let fitted = fit_and_score(&c, &features, &frames, &scoring);
        (frames, fitted.map(|f| (f, scoring)))
    })
    .await
    .expect("the churn fit does not panic");
    let (fitted, scoring) = fitted?;
    let Fitted {
        model,
        evaluations,
        selected,
        probabilities,
    } = fitted;

    let test_auc = evaluations
        .iter()
        .find(|e| e.0 == selected && e.1 == "test")
        .and_then(|e| e.2.roc_auc);
    let min = spec.churn.min_validation_auc;
    let gate = match test_auc {
        Some(auc) if auc >= min => Ok(()),
        Some(auc) => Err(format!(
            "the {selected} model's ROC-AUC on the test date is {auc:.4}, below churn.min_validation_auc = {min}"
        )),
        None => Err("the test date has only one class, so the model cannot be checked".to_string()),
    };
    if let Err(reason) = &gate {
        tracing::warn!(%reason, "churn scores not published");
    }
    let scores = gate
        .is_ok()
        .then(|| scores_batch(&model, &scoring, &probabilities));

    let date = |t: DateTime<Utc>| t.date_naive();
    let report = json!({
        "population": if spec.churn.churn_event_types.is_empty() {
            format!("users with an event in the {} days before the date", spec.churn.active_window_days)
        } else {
            "users without a churn event before the date".to_string()
        },
        "horizon_days": spec.churn.horizon_days,
        "observation_dates": frames.iter().map(|f| {
            let y = f.y();
            let pos = y.iter().filter(|v| **v).count();
            json!({"date": date(f.t0), "split": f.split, "users": y.len(), "churned": pos,
                   "base_rate": pos as f64 / y.len().max(1) as f64})
        }).collect::<Vec<_>>(),
        "features": model.feature_names,
        "selected": selected,
        "evaluations": evaluations.iter().map(|(m, split, e)| json!({"model": m, "split": split, "metrics": e})).collect::<Vec<_>>(),
        "importance": top_importance(&model, 10),
        "min_validation_auc": min,
        "published": gate.is_ok(),
        "reason": gate.err(),
        "scored_users": scoring.ids.len(),
        "training": model.training,
    });
    Ok(Churn {
        scores,
        metrics: metrics_batch(&evaluations, &selected, &frames),
        training,
        model,
        report,
    })
}

struct Fitted {
    model: ChurnModel,
    /// (model, split, metrics) for every trained model.
    evaluations: Vec<(String, &'static str, Evaluation)>,
    selected: String,
    /// Calibrated probabilities of the scoring frame.
    probabilities: Vec<f64>,
}

/// Weights that make both classes count the same in total.
fn class_weights(y: &[bool], how: ClassWeight) -> Option<Vec<f64>> {
    if how == ClassWeight::None {
        return None;
    }
    let n = y.len() as f64;
    let pos = y.iter().filter(|v| **v).count() as f64;
    let (wp, wn) = (n / (2.0 * pos.max(1.0)), n / (2.0 * (n - pos).max(1.0)));
    Some(y.iter().map(|v| if *v { wp } else { wn }).collect())
}

fn fit_and_score(
    c: &ChurnSettings,
    features: &[String],
    frames: &[Labelled],
    scoring: &Frame,
) -> Result<Fitted> {
    let (test, valid) = (&frames[0], &frames[1]);
    let mut train_x = Matrix {
        rows: 0,
        cols: features.len(),
        data: vec![],
    };
    let mut train_y = vec![];
    for f in &frames[2..] {
        train_x = train_x.vstack(&f.frame.x).map_err(fit_error)?;
        train_y.extend_from_slice(f.y());
    }
    for (what, y) in [
        ("training dates", train_y.as_slice()),
        ("validation date", valid.y()),
    ] {
        let pos = y.iter().filter(|v| **v).count();
        if pos == 0 || pos == y.len() {
            return Err(fit_error(ModelError::InvalidData {
                what: "churn labels",
                reason: format!(
                    "the {what} have {} users and {pos} churners: both classes are needed \
                     (is the event log long enough for churn.observation_dates = {} dates {} days apart?)",
                    y.len(),
                    c.observation_dates,
                    c.step()
                ),
            }));
        }
    }
    let scaler = Scaler::fit(&train_x, features).map_err(fit_error)?;
    let train_w = class_weights(&train_y, c.class_weight);
    let valid_w = class_weights(valid.y(), c.class_weight);

    let mut candidates: Vec<(Classifier, Platt, f64)> = vec![];
    let mut evaluations = vec![];
    let mut training = serde_json::Map::new();
    for kind in &c.models {
        let classifier = match kind {
            ChurnModelKind::Logistic => {
                let z = scaler.transform(&train_x).map_err(fit_error)?;
                let m = LogisticParams {
                    l2: c.l2,
                    ..Default::default()
                }
                .fit(&z, &train_y, train_w.as_deref())
                .map_err(fit_error)?;
                training.insert(
                    "logistic".into(),
                    json!({"iterations": m.iterations, "converged": m.converged}),
                );
                Classifier::Logistic(m)
            }
            ChurnModelKind::Gbdt => {
                let g = &c.gbdt;
                let m = GbdtParams {
                    max_trees: g.max_trees,
                    learning_rate: g.learning_rate,
                    max_depth: g.max_depth,
                    min_samples_leaf: g.min_samples_leaf,
                    l2: g.l2,
                    early_stopping_rounds: g.early_stopping_rounds,
                    ..Default::default()
                }
                .fit(
                    &train_x,
                    &train_y,
                    train_w.as_deref(),
                    Some((&valid.frame.x, valid.y(), valid_w.as_deref())),
                )
                .map_err(fit_error)?;
                training.insert("gbdt".into(), json!({"trees": m.trees.len()}));
                Classifier::Gbdt(m)
            }
        };
        let raw = |x: &Matrix| -> Result<Vec<f64>> {
            Ok(match &classifier {
                Classifier::Logistic(m) => {
                    let z = scaler.transform(x).map_err(fit_error)?;
                    (0..z.rows).map(|i| m.decision(z.row(i))).collect()
                }
                Classifier::Gbdt(m) => (0..x.rows).map(|i| m.decision(x.row(i))).collect(),
            })
        };
        let valid_raw = raw(&valid.frame.x)?;
        let platt = Platt::fit(&valid_raw, valid.y()).map_err(fit_error)?;
        let calibrated = |s: Vec<f64>| s.into_iter().map(|v| platt.apply(v)).collect::<Vec<_>>();
        let ev_valid = Evaluation::new(valid.y(), &calibrated(valid_raw));
        let ev_test = Evaluation::new(test.y(), &calibrated(raw(&test.frame.x)?));
        let name = classifier.name().to_string();
        let auc = ev_valid.roc_auc.unwrap_or(0.0);
        evaluations.push((name.clone(), "validation", ev_valid));
        evaluations.push((name, "test", ev_test));
        candidates.push((classifier, platt, auc));
    }
    let best = candidates
        .into_iter()
        .reduce(|a, b| if b.2 > a.2 { b } else { a })
        .expect("at least one model (the spec is validated)");
    let rows = |split: &str| -> usize {
        frames
            .iter()
            .filter(|f| f.split == split)
            .map(|f| f.frame.ids.len())
            .sum()
    };
    training.insert(
        "rows".into(),
        json!({"train": rows("train"), "validation": rows("validation"), "test": rows("test")}),
    );
    training.insert(
        "observation_dates".into(),
        json!(
            frames
                .iter()
                .map(|f| json!({"date": f.t0.date_naive(), "split": f.split}))
                .collect::<Vec<_>>()
        ),
    );
    training.insert(
        "population".into(),
        json!({"active_window_days": c.active_window_days, "churn_event_types": c.churn_event_types}),
    );
    let model = ChurnModel {
        format_version: FORMAT_VERSION,
        trained_by: env!("CARGO_PKG_VERSION").to_string(),
        feature_names: features.to_vec(),
        scaler,
        classifier: best.0,
        calibration: best.1,
        training: serde_json::Value::Object(training),
    };
    let probabilities = model.predict_proba(&scoring.x).map_err(fit_error)?;
    let selected = model.classifier.name().to_string();
    Ok(Fitted {
        model,
        evaluations,
        selected,
        probabilities,
    })
}

fn top_importance(model: &ChurnModel, n: usize) -> Vec<serde_json::Value> {
    let mut imp = model.importance();
    imp.sort_by(|a, b| b.1.total_cmp(&a.1));
    imp.into_iter()
        .take(n)
        .map(|(f, v)| json!({"feature": f, "share": v}))
        .collect()
}

/// `churn_scores`: user_id, churn_probability, risk_decile (1 = the riskiest tenth), model,
/// driver_1..3 (the features pushing this user's score up the most).
pub(crate) fn scores_batch(model: &ChurnModel, frame: &Frame, p: &[f64]) -> RecordBatch {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
    let mut decile = vec![0i32; n];
    for (rank, i) in order.into_iter().enumerate() {
        decile[i] = (rank * 10 / n.max(1)) as i32 + 1;
    }
    let drivers: Vec<Vec<&str>> = (0..n)
        .map(|i| {
            model
                .drivers(frame.x.row(i), 3)
                .into_iter()
                .map(|(f, _)| f)
                .collect()
        })
        .collect();
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("churn_probability", DataType::Float64, false),
        Field::new("risk_decile", DataType::Int32, false),
        Field::new("model", DataType::Utf8, false),
    ];
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from_iter_values(&frame.ids)),
        Arc::new(Float64Array::from(p.to_vec())),
        Arc::new(Int32Array::from(decile)),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            model.classifier.name(),
            n,
        ))),
    ];
    for k in 0..3 {
        fields.push(Field::new(
            format!("driver_{}", k + 1),
            DataType::Utf8,
            true,
        ));
        columns.push(Arc::new(StringArray::from_iter(
            drivers.iter().map(|d| d.get(k).copied()),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date")).num_days() as i32
}

/// `model_metrics`: model, selected, split, observation_date, metric, value.
fn metrics_batch(
    evaluations: &[(String, &'static str, Evaluation)],
    selected: &str,
    frames: &[Labelled],
) -> RecordBatch {
    let date_of = |split: &str| {
        frames
            .iter()
            .find(|f| f.split == split)
            .map(|f| days_since_epoch(f.t0.date_naive()))
    };
    let (mut model, mut sel, mut split, mut date, mut metric, mut value) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (m, s, e) in evaluations {
        for (name, v) in e.pairs() {
            model.push(m.clone());
            sel.push(m == selected);
            split.push(*s);
            date.push(date_of(s));
            metric.push(name);
            value.push(v);
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("model", DataType::Utf8, false),
            Field::new("selected", DataType::Boolean, false),
            Field::new("split", DataType::Utf8, false),
            Field::new("observation_date", DataType::Date32, true),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ])),
        vec![
            Arc::new(StringArray::from(model)),
            Arc::new(BooleanArray::from(sel)),
            Arc::new(StringArray::from(split)),
            Arc::new(Date32Array::from(date)),
            Arc::new(StringArray::from(metric)),
            Arc::new(Float64Array::from(value)),
        ],
    )
    .expect("columns match the schema")
}

/// `churn_training`: user_id, observation_date, split, churned, then the features.
fn training_batch(frames: &[Labelled], features: &[String]) -> RecordBatch {
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("observation_date", DataType::Date32, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("churned", DataType::Boolean, false),
    ];
    let ids: Vec<&str> = frames
        .iter()
        .flat_map(|f| f.frame.ids.iter().map(String::as_str))
        .collect();
    let dates: Vec<i32> = frames
        .iter()
        .flat_map(|f| std::iter::repeat_n(days_since_epoch(f.t0.date_naive()), f.frame.ids.len()))
        .collect();
    let splits: Vec<&str> = frames
        .iter()
        .flat_map(|f| std::iter::repeat_n(f.split, f.frame.ids.len()))
        .collect();
    let labels: Vec<bool> = frames.iter().flat_map(|f| f.y().iter().copied()).collect();
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from_iter_values(ids)),
        Arc::new(Date32Array::from_iter_values(dates)),
        Arc::new(StringArray::from_iter_values(splits)),
        Arc::new(BooleanArray::from(labels)),
    ];
    for (j, name) in features.iter().enumerate() {
        fields.push(Field::new(name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter(frames.iter().flat_map(
            |f| {
                f.frame
                    .x
                    .column(j)
                    .map(|v| (!v.is_nan()).then_some(v))
                    .collect::<Vec<_>>()
            },
        ))));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}
