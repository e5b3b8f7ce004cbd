//! The committed tables a report reads, registered under names of their own, and the small
//! conversions its sections need.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use lifecycle_report::TableBlock;

use crate::manifest::Manifest;
use crate::query::{Query, column_f64, column_text};
use crate::tables::Table;
use crate::{Result, RunError};

const STEP: &str = super::REPORT_STEP;

/// The run's tables as the report queries them.
pub(crate) struct ReportTables<'a> {
    ctx: &'a SessionContext,
    names: BTreeMap<Table, String>,
}

impl<'a> ReportTables<'a> {
    /// Registers every table `manifest` lists (as `_report_<table>`).
    pub async fn register(ctx: &'a SessionContext, manifest: &Manifest) -> Result<Self> {
        let q = Query::new(ctx, STEP);
        let mut names = BTreeMap::new();
        for (name, committed) in &manifest.commit.outputs {
            let Some(table) = Table::from_name(name) else {
                continue;
            };
            let view = format!("_report_{name}");
            q.register_parquet(&view, &committed.url).await?;
            names.insert(table, view);
        }
        Ok(ReportTables { ctx, names })
    }

    /// The rows of `sql(name)` over `table`, or None when the run did not write it.
    pub async fn query(
        &self,
        table: Table,
        sql: impl FnOnce(&str) -> String,
    ) -> Result<Option<Vec<RecordBatch>>> {
        let Some(name) = self.names.get(&table) else {
            return Ok(None);
        };
        Ok(Some(Query::new(self.ctx, STEP).collect(&sql(name)).await?))
    }
}

/// Column `i` of every batch as text (null as empty).
pub(crate) fn texts(batches: &[RecordBatch], i: usize) -> Result<Vec<String>> {
    let mut out = vec![];
    for b in batches {
        let column = column_text(b, i).map_err(arrow_error)?;
        out.extend(column.into_iter().map(Option::unwrap_or_default));
    }
    Ok(out)
}

/// Column `i` of every batch as numbers (null as `NaN`).
pub(crate) fn numbers(batches: &[RecordBatch], i: usize) -> Result<Vec<f64>> {
    let mut out = vec![];
    for b in batches {
        out.extend(column_f64(b, i).map_err(arrow_error)?);
    }
    Ok(out)
}

/// The batches as a table block: floats to three decimals, other columns as Arrow shows them.
pub(crate) fn table_block(title: &str, batches: &[RecordBatch]) -> Result<TableBlock> {
    let header = batches.first().map_or(vec![], |b| {
        b.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    });
    let mut rows = vec![];
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: std::result::Result<Vec<String>, _> =
                b.columns().iter().map(|c| cell(c, r)).collect();
            rows.push(cells.map_err(arrow_error)?);
        }
    }
    Ok(TableBlock {
        title: title.to_string(),
        header,
        rows,
    })
}

/// One cell as text.
fn cell(
    column: &datafusion::arrow::array::ArrayRef,
    row: usize,
) -> std::result::Result<String, datafusion::arrow::error::ArrowError> {
    match column.data_type() {
        DataType::Float64 if column.is_valid(row) => {
            let value = column.as_primitive::<Float64Type>().value(row);
            Ok(format!("{value:.3}"))
        }
        _ => array_value_to_string(column, row),
    }
}

fn arrow_error(e: datafusion::arrow::error::ArrowError) -> RunError {
    RunError::engine(STEP)(e.into())
}
