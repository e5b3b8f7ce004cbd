//! Per-user tables gathered from DataFusion into the dense matrix the models train on.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use lifecycle_models::Matrix;
use lifecycle_spec::SpecError;

use crate::query::Query;
use crate::{Result, RunError};

/// Rows of a per-user table: ids, the chosen feature columns, and labels when present.
pub(crate) struct Frame {
    pub ids: Vec<String>,
    pub x: Matrix,
    pub labels: Option<Vec<bool>>,
}

/// The numeric (integer or float) columns of a schema, in order: the default model features.
pub(crate) fn numeric_columns(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter(|f| f.data_type().is_numeric())
        .map(|f| f.name().clone())
        .collect()
}

/// Checks that every name in `wanted` is a numeric column of `schema`; the error names the
/// setting and lists the columns there are.
pub(crate) fn check_columns(schema: &Schema, wanted: &[String], setting: &str) -> Result<()> {
    let numeric = numeric_columns(schema);
    for w in wanted {
        if !numeric.contains(w) {
            return Err(SpecError::Invalid {
                setting: setting.to_string(),
                reason: format!(
                    "`{w}` is not a numeric column of user_features; they are: {}",
                    numeric.join(", ")
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// Runs `sql` and gathers `user_id`, `features` (as f64, null -> NaN) and, when `label` is
/// given, that Boolean column.
pub(crate) async fn collect(
    q: Query<'_>,
    sql: &str,
    features: &[String],
    label: Option<&str>,
) -> Result<Frame> {
    let batches = q.collect(sql).await?;
    from_batches(&batches, features, label, q.step)
}

/// [`collect`] over batches already in memory.
pub(crate) fn from_batches(
    batches: &[RecordBatch],
    features: &[String],
    label: Option<&str>,
    step: &'static str,
) -> Result<Frame> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut ids = Vec::with_capacity(rows);
    let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(rows); features.len()];
    let mut labels = label.map(|_| Vec::with_capacity(rows));
    let engine = |e: datafusion::arrow::error::ArrowError| RunError::engine(step)(e.into());
    for b in batches {
        let schema = b.schema();
        // The columns were checked against the table's schema before: a missing one is a bug.
        let index = |name: &str| {
            schema.index_of(name).map_err(|_| RunError::Internal {
                step,
                reason: format!("the table has no column `{name}`"),
            })
        };
        let id = cast(b.column(index("user_id")?), &DataType::Utf8).map_err(engine)?;
        ids.extend(
            id.as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or_default().to_string()),
        );
        for (col, name) in columns.iter_mut().zip(features) {
            col.extend(crate::query::column_f64(b, index(name)?).map_err(engine)?);
        }
        if let (Some(name), Some(out)) = (label, labels.as_mut()) {
            let a = b.column(index(name)?).as_boolean();
            out.extend((0..a.len()).map(|i| a.is_valid(i) && a.value(i)));
        }
    }
    let x = if features.is_empty() {
        Matrix {
            rows,
            cols: 0,
            data: vec![],
        }
    } else {
        Matrix::from_columns(&columns).map_err(RunError::model("feature matrix"))?
    };
    Ok(Frame { ids, x, labels })
}
