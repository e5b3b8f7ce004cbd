//! The churn model's outputs as Arrow tables: `churn_scores` (also written by `lifecycle
//! score`), `model_metrics` and `churn_training`.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_models::ChurnModel;
use lifecycle_models::churn::{ModelEvaluation, Split};
use rayon::prelude::*;

use crate::frame::Frame;

/// The labelled frame of one observation date.
pub(crate) struct DatedFrame {
    pub date: NaiveDate,
    pub split: Split,
    pub frame: Frame,
}

impl DatedFrame {
    pub fn y(&self) -> &[bool] {
        self.frame
            .labels
            .as_deref()
            .expect("labelled frames have labels")
    }
}

/// Days since 1970-01-01, Arrow's `Date32`.
pub(crate) fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date")).num_days() as i32
}

/// `churn_scores`: user_id, churn_probability, risk_decile (1 = the riskiest tenth), model,
/// driver_1..3 (the features pushing this user's score up the most, with the user's value:
/// `recency_days = 41`).
pub(crate) fn scores_batch(model: &ChurnModel, frame: &Frame, p: &[f64]) -> RecordBatch {
    let n = p.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
    let mut decile = vec![0i32; n];
    for (rank, i) in order.into_iter().enumerate() {
        decile[i] = (rank * 10 / n.max(1)) as i32 + 1;
    }
    let drivers = drivers(model, frame);
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("churn_probability", DataType::Float64, false),
        Field::new("risk_decile", DataType::Int32, false),
        Field::new("model", DataType::Utf8, false),
    ];
    let name = std::iter::repeat_n(model.classifier.name(), n);
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from_iter_values(&frame.ids)),
        Arc::new(Float64Array::from(p.to_vec())),
        Arc::new(Int32Array::from(decile)),
        Arc::new(StringArray::from_iter_values(name)),
    ];
    for k in 0..3 {
        fields.push(Field::new(
            format!("driver_{}", k + 1),
            DataType::Utf8,
            true,
        ));
        let kth = drivers.iter().map(|d| d.get(k).map(String::as_str));
        columns.push(Arc::new(StringArray::from_iter(kth)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}

/// Rows per block of explained users.
const DRIVER_BLOCK: usize = 256;

/// Each user's three drivers as `feature = value`, explained in parallel blocks of rows.
fn drivers(model: &ChurnModel, frame: &Frame) -> Vec<Vec<String>> {
    let explainer = model.explainer();
    let x = &frame.x;
    let blocks: Vec<Vec<Vec<String>>> = (0..x.rows.div_ceil(DRIVER_BLOCK))
        .into_par_iter()
        .map(|b| {
            let rows = b * DRIVER_BLOCK..((b + 1) * DRIVER_BLOCK).min(x.rows);
            let contributions = explainer.contributions(x, rows.clone());
            rows.zip(contributions.chunks_exact(x.cols.max(1)))
                .map(|(r, c)| {
                    let d = explainer.drivers(x.row(r), c, 3);
                    d.iter().map(ToString::to_string).collect()
                })
                .collect()
        })
        .collect();
    blocks.concat()
}

/// `model_metrics`: model, selected, split, observation_date, metric, value.
pub(crate) fn metrics_batch(
    evaluations: &[ModelEvaluation],
    selected: &str,
    frames: &[DatedFrame],
) -> RecordBatch {
    let date_of = |split: Split| {
        frames
            .iter()
            .find(|f| f.split == split)
            .map(|f| days_since_epoch(f.date))
    };
    let (mut model, mut sel, mut split, mut date, mut metric, mut value) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for e in evaluations {
        for (name, v) in e.metrics.pairs() {
            model.push(e.model.clone());
            sel.push(e.model == selected);
            split.push(e.split.name());
            date.push(date_of(e.split));
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
pub(crate) fn training_batch(frames: &[DatedFrame], features: &[String]) -> RecordBatch {
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("observation_date", DataType::Date32, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("churned", DataType::Boolean, false),
    ];
    let per_row = |f: &DatedFrame| f.frame.ids.len();
    // Arrow's builders need sized iterators: gather first.
    let ids: Vec<&str> = frames
        .iter()
        .flat_map(|f| f.frame.ids.iter().map(String::as_str))
        .collect();
    let dates: Vec<i32> = frames
        .iter()
        .flat_map(|f| std::iter::repeat_n(days_since_epoch(f.date), per_row(f)))
        .collect();
    let splits: Vec<&str> = frames
        .iter()
        .flat_map(|f| std::iter::repeat_n(f.split.name(), per_row(f)))
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
        let values = frames.iter().flat_map(|f| {
            f.frame
                .x
                .column(j)
                .map(|v| (!v.is_nan()).then_some(v))
                .collect::<Vec<_>>()
        });
        columns.push(Arc::new(Float64Array::from_iter(values)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}
