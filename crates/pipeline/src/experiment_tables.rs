//! The experiment step's outputs as Arrow tables: `assignments` (who is in which arm since
//! when) and `experiment_results` (each arm against the control, per metric).

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_experiments::readout::{Comparison, Estimate};

use crate::churn_tables::days_since_epoch;

/// One user's arm in one experiment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assignment {
    pub experiment: String,
    pub user_id: String,
    pub arm: String,
    /// The user's hash bucket in [0, 1) under the experiment's seed.
    pub bucket: f64,
    pub assigned_on: NaiveDate,
}

fn batch(fields: Vec<Field>, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("columns fit their schema")
}

fn texts<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// `assignments`: experiment, user_id, arm, bucket, assigned_on.
pub(crate) fn assignments_batch(list: &[Assignment]) -> RecordBatch {
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    batch(
        vec![
            text("experiment"),
            text("user_id"),
            text("arm"),
            Field::new("bucket", DataType::Float64, false),
            Field::new("assigned_on", DataType::Date32, false),
        ],
        vec![
            texts(list.iter().map(|a| a.experiment.as_str())),
            texts(list.iter().map(|a| a.user_id.as_str())),
            texts(list.iter().map(|a| a.arm.as_str())),
            Arc::new(Float64Array::from_iter_values(
                list.iter().map(|a| a.bucket),
            )),
            Arc::new(Date32Array::from_iter_values(
                list.iter().map(|a| days_since_epoch(a.assigned_on)),
            )),
        ],
    )
}

/// One row of `experiment_results`: an arm and metric of an experiment.
#[derive(Debug, Clone)]
pub(crate) struct ResultRow {
    pub experiment: String,
    pub arm: String,
    pub metric: String,
    /// Users whose window has ended (those measured).
    pub users: u64,
    pub mean: f64,
    /// The mean of the same metric before assignment (the CUPED covariate).
    pub pre_mean: f64,
    /// Against the control; None on the control's own rows.
    pub comparison: Option<Comparison>,
    /// Users assigned to the arm so far, measured or not (the sample-ratio check's counts).
    pub assigned: u64,
    pub srm_p_value: f64,
    pub srm_flagged: bool,
}

/// The columns of one kind of estimate: `<prefix>lift`, `_low`, `_high`, `_p_value`.
fn estimate_columns(
    prefix: &str,
    rows: &[ResultRow],
    pick: impl Fn(&Comparison) -> Option<Estimate>,
) -> Vec<(Field, ArrayRef)> {
    let values = |f: &dyn Fn(&Estimate) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            rows.iter()
                .map(|r| r.comparison.as_ref().and_then(&pick).map(|e| f(&e))),
        ))
    };
    let field = |suffix: &str| Field::new(format!("{prefix}{suffix}"), DataType::Float64, true);
    vec![
        (field("lift"), values(&|e| e.lift)),
        (field("lift_low"), values(&|e| e.ci_low)),
        (field("lift_high"), values(&|e| e.ci_high)),
        (field("p_value"), values(&|e| e.p_value)),
    ]
}

/// `experiment_results`: per experiment, arm and metric the users and means, the lift against
/// the control (absolute and relative, plain and CUPED, each with its 95% interval and
/// p-value), the CUPED coefficient and variance reduction, and the sample-ratio check.
pub(crate) fn results_batch(rows: &[ResultRow]) -> RecordBatch {
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let number = |n: &str, f: &dyn Fn(&ResultRow) -> f64| -> (Field, ArrayRef) {
        let values = Float64Array::from_iter_values(rows.iter().map(f));
        (Field::new(n, DataType::Float64, false), Arc::new(values))
    };
    let optional = |n: &str, f: &dyn Fn(&Comparison) -> Option<f64>| -> (Field, ArrayRef) {
        let values =
            Float64Array::from_iter(rows.iter().map(|r| r.comparison.as_ref().and_then(f)));
        (Field::new(n, DataType::Float64, true), Arc::new(values))
    };
    let count = |n: &str, f: &dyn Fn(&ResultRow) -> u64| -> (Field, ArrayRef) {
        let values = UInt64Array::from_iter_values(rows.iter().map(f));
        (Field::new(n, DataType::UInt64, false), Arc::new(values))
    };
    let mut columns: Vec<(Field, ArrayRef)> = vec![
        (
            text("experiment"),
            texts(rows.iter().map(|r| r.experiment.as_str())),
        ),
        (text("arm"), texts(rows.iter().map(|r| r.arm.as_str()))),
        (
            text("metric"),
            texts(rows.iter().map(|r| r.metric.as_str())),
        ),
        count("users", &|r| r.users),
        number("mean", &|r| r.mean),
        number("pre_mean", &|r| r.pre_mean),
    ];
    columns.extend(estimate_columns("", rows, |c| c.absolute));
    columns.extend(estimate_columns("relative_", rows, |c| c.relative));
    columns.extend(estimate_columns("cuped_", rows, |c| c.cuped_absolute));
    columns.extend(estimate_columns("cuped_relative_", rows, |c| {
        c.cuped_relative
    }));
    columns.push(optional("cuped_theta", &|c| Some(c.theta)));
    columns.push(optional("cuped_variance_reduction", &|c| {
        c.variance_reduction
    }));
    columns.push(count("assigned", &|r| r.assigned));
    columns.push(number("srm_p_value", &|r| r.srm_p_value));
    let flagged = BooleanArray::from_iter(rows.iter().map(|r| Some(r.srm_flagged)));
    columns.push((
        Field::new("srm_flagged", DataType::Boolean, false),
        Arc::new(flagged),
    ));
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    batch(fields, arrays)
}
