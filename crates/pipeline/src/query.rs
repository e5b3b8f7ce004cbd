//! The one way the pipeline asks DataFusion for something: run SQL, collect or stream the
//! result, read a count or a column as numbers or text, register a view. Errors name the step.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};

use lifecycle_features::pseudonym::USER_ID;

use crate::privacy::USER_KEY;
use crate::{Result, RunError};

/// A session and the step that is asking.
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub ctx: &'a SessionContext,
    pub step: &'static str,
}

impl<'a> Query<'a> {
    pub fn new(ctx: &'a SessionContext, step: &'static str) -> Query<'a> {
        Query { ctx, step }
    }

    /// The same session, asking for another step.
    pub fn step(self, step: &'static str) -> Query<'a> {
        Query { step, ..self }
    }

    /// Plans `sql`.
    pub async fn plan(&self, sql: &str) -> Result<DataFrame> {
        self.ctx.sql(sql).await.map_err(RunError::engine(self.step))
    }

    /// Runs `sql` and gathers every batch.
    pub async fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.plan(sql)
            .await?
            .collect()
            .await
            .map_err(RunError::engine(self.step))
    }

    /// The first column of the first row of `sql`, an integer count (0 for no rows).
    pub async fn count(&self, sql: &str) -> Result<u64> {
        let batches = self.collect(sql).await?;
        let first = batches.iter().find(|b| b.num_rows() > 0);
        Ok(first.map_or(0, |b| {
            b.column(0).as_primitive::<Int64Type>().value(0) as u64
        }))
    }

    /// `(text, count)` rows of `sql` (a text-like first column, an integer second) as a map.
    pub async fn counts_by(&self, sql: &str) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for b in &self.collect(sql).await? {
            let keys = self.texts(b, 0)?;
            let n = b.column(1).as_primitive::<Int64Type>();
            for (i, k) in keys.into_iter().enumerate() {
                out.insert(k.unwrap_or_default(), n.value(i) as u64);
            }
        }
        Ok(out)
    }

    /// Column `i` of `batch` as integers (any type that casts to Int64; null as 0).
    pub fn integers(&self, batch: &RecordBatch, i: usize) -> Result<Vec<i64>> {
        column_i64(batch, i).map_err(|e| RunError::engine(self.step)(e.into()))
    }

    /// Column `i` of `batch` as numbers (any type that casts to Float64; null as `NaN`).
    pub fn numbers(&self, batch: &RecordBatch, i: usize) -> Result<Vec<f64>> {
        column_f64(batch, i).map_err(|e| RunError::engine(self.step)(e.into()))
    }

    /// Column `i` of `batch` as text (any type that casts to it).
    pub fn texts(&self, batch: &RecordBatch, i: usize) -> Result<Vec<Option<String>>> {
        column_text(batch, i).map_err(|e| RunError::engine(self.step)(e.into()))
    }

    /// The rows of `sql`, formatted for a terminal.
    /// A null shows as `-`, never as a blank that reads like missing data.
    pub async fn pretty(&self, sql: &str) -> Result<String> {
        let batches = self.collect(sql).await?;
        let options = FormatOptions::default().with_null("-");
        Ok(pretty_format_batches_with_options(&batches, &options)
            .map(|t| t.to_string())
            .unwrap_or_default())
    }

    /// Registers `sql` as the view `name`, replacing any table of that name.
    pub async fn register_view(&self, name: &str, sql: &str) -> Result<()> {
        let view = self.plan(sql).await?.into_view();
        self.replace(name, view)
    }

    /// Registers the Parquet file at `url` as `name`, replacing any table of that name; a
    /// published table's `user_key` reads as `user_id` (see [`crate::privacy`]).
    pub async fn register_parquet(&self, name: &str, url: &str) -> Result<()> {
        let engine = RunError::engine(self.step);
        let table = self
            .ctx
            .read_parquet(url, ParquetReadOptions::default())
            .await
            .map_err(engine)?;
        // Keyed ids are published as `user_key`; the steps call them `user_id` either way (the
        // raw ids beside them, with `publish_raw_ids`, are not read back).
        let schema = table.schema();
        let keyed = schema.has_column_with_unqualified_name(USER_KEY);
        let with_raw = keyed && schema.has_column_with_unqualified_name(USER_ID);
        let table = match with_raw {
            true => table.drop_columns(&[USER_ID]),
            false => Ok(table),
        };
        let table = match keyed {
            true => table.and_then(|t| t.with_column_renamed(USER_KEY, USER_ID)),
            false => table,
        };
        let table = table.map_err(RunError::engine(self.step))?;
        self.replace(name, table.into_view())
    }

    fn replace(
        &self,
        name: &str,
        table: std::sync::Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Result<()> {
        let engine = RunError::engine(self.step);
        self.ctx.deregister_table(name).map_err(engine)?;
        self.ctx
            .register_table(name, table)
            .map(|_| ())
            .map_err(RunError::engine(self.step))
    }

    /// The schema of the registered table `name`.
    pub async fn schema(&self, name: &str) -> Result<datafusion::arrow::datatypes::Schema> {
        let df = self
            .ctx
            .table(name)
            .await
            .map_err(RunError::engine(self.step))?;
        Ok(df.schema().as_arrow().clone())
    }
}

/// Column `i` of `batch` cast to Int64, null as 0.
fn column_i64(batch: &RecordBatch, i: usize) -> std::result::Result<Vec<i64>, ArrowError> {
    let a = cast(batch.column(i), &DataType::Int64)?;
    let a = a.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|k| if a.is_valid(k) { a.value(k) } else { 0 })
        .collect())
}

/// Column `i` of `batch` cast to Float64, null as `NaN` (the models' missing value).
pub(crate) fn column_f64(
    batch: &RecordBatch,
    i: usize,
) -> std::result::Result<Vec<f64>, ArrowError> {
    let a = cast(batch.column(i), &DataType::Float64)?;
    let a = a.as_primitive::<Float64Type>();
    Ok((0..a.len())
        .map(|k| if a.is_valid(k) { a.value(k) } else { f64::NAN })
        .collect())
}

/// `batch` with its columns `text` as string views, whichever string type the engine gave
/// them (a view of `Utf8` copies no text): read them with `as_string_view()`, borrowed.
pub(crate) fn with_text_views(
    batch: &RecordBatch,
    text: &[usize],
) -> std::result::Result<RecordBatch, ArrowError> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    for &i in text {
        columns[i] = cast(&columns[i], &DataType::Utf8View)?;
        fields[i] = fields[i].clone().with_data_type(DataType::Utf8View);
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}

/// Column `i` of `batch` cast to text, null as None.
pub(crate) fn column_text(
    batch: &RecordBatch,
    i: usize,
) -> std::result::Result<Vec<Option<String>>, ArrowError> {
    let a = cast(batch.column(i), &DataType::Utf8)?;
    let a = a.as_string::<i32>();
    Ok((0..a.len())
        .map(|k| a.is_valid(k).then(|| a.value(k).to_string()))
        .collect())
}
