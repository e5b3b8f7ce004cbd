//! `churn_curves`: the selected churn model's ROC curve (at most [`ROC_POINTS`] of its points),
//! calibration by tenths of probability and lift by decile on the test date, from
//! `lifecycle_models::curves`.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_models::curves::{CurvePoint, calibration, lift_by_decile, roc_curve, thin};

/// The most ROC points kept (evenly spaced, both ends kept): enough to draw it.
pub(crate) const ROC_POINTS: usize = 201;

/// The table for `model`'s probabilities `p` of the outcomes `y` on the `split` date.
pub(crate) fn curves_batch(model: &str, split: &str, y: &[bool], p: &[f64]) -> RecordBatch {
    let curves: [(&str, Vec<CurvePoint>); 3] = [
        (
            "roc",
            roc_curve(y, p)
                .map(|c| thin(&c, ROC_POINTS))
                .unwrap_or_default(),
        ),
        ("calibration", calibration(y, p)),
        ("lift", lift_by_decile(y, p).unwrap_or_default()),
    ];
    let rows: Vec<(&str, i32, CurvePoint)> = curves
        .iter()
        .flat_map(|(name, points)| {
            points
                .iter()
                .enumerate()
                .map(move |(i, pt)| (*name, i as i32, *pt))
        })
        .collect();
    let text =
        |v: &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(|_| v))) };
    let columns: Vec<ArrayRef> = vec![
        text(model),
        text(split),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2.x))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2.y))),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.2.rows as i64),
        )),
    ];
    let fields = ["model", "split", "curve"].map(|n| Field::new(n, DataType::Utf8, false));
    let fields = fields.into_iter().chain([
        Field::new("point", DataType::Int32, false),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
        Field::new("rows", DataType::Int64, false),
    ]);
    let schema = Schema::new(fields.collect::<Vec<_>>());
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns fit the schema")
}
