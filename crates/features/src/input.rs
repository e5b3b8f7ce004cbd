//! Reading a user's table onto the contract: list the files, skip date partitions outside the
//! run's dates, check every file's columns against the spec's mapping (so an error names the file and
//! the column), register the files as one table, and build the SQL that maps it to the contract.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use lifecycle_spec::{ColumnSource, ContractKind, DataError, InputFormat, TimeParse, ValidSource};
use lifecycle_storage::Location;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::pseudonym::{USER_ID, UserIds};
use crate::time_udf::TO_UTC;
use crate::{FeatureError, Result};

/// One file read by a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputFile {
    pub url: String,
    pub bytes: u64,
    /// Rows, when the file says so cheaply (Parquet footers).
    pub rows: Option<u64>,
}

/// What [`register_input`] found and registered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisteredInput {
    pub table: String,
    pub location: String,
    pub files: Vec<InputFile>,
    /// Files skipped because their date partition is outside the run's dates.
    pub pruned_files: usize,
    /// The SQL that maps the raw table to the contract (registered as `<table>_mapped`).
    #[serde(skip, default)]
    pub mapped_sql: String,
}

/// The date partitions (`<partition_key>=YYYY-MM-DD` folders) a run reads, both ends
/// included. Files outside date partitions are always read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionDates {
    /// None: from the first.
    pub from: Option<NaiveDate>,
    /// The cutoff date.
    pub to: NaiveDate,
}

impl PartitionDates {
    fn skips(&self, d: NaiveDate) -> bool {
        d > self.to || self.from.is_some_and(|f| d < f)
    }
}

/// Registers `<table>_raw` (the files as they are, but for the date partitions outside
/// `dates`) and `<table>_mapped` (the contract columns, plus `raw_<time column>`, the time
/// value as read, for quarantine records) on `ctx`.
pub async fn register_input(
    ctx: &SessionContext,
    src: &ValidSource,
    loc: &Location,
    dates: Option<PartitionDates>,
    ids: UserIds,
) -> Result<RegisteredInput> {
    let listed = loc.list().await?;
    let single_file = !loc.url().path().ends_with('/') && listed.len() == 1;
    let mut pruned = 0;
    let mut objects = Vec::new();
    for meta in listed {
        let rel = meta
            .location
            .as_ref()
            .strip_prefix(loc.path().as_ref())
            .unwrap_or("");
        if !single_file && (is_hidden(rel) || !has_extension(src, meta.location.as_ref())) {
            continue;
        }
        if let Some(dates) = dates
            && partition_date(rel, &src.partition_key).is_some_and(|d| dates.skips(d))
        {
            pruned += 1;
            continue;
        }
        objects.push(meta);
    }
    if objects.is_empty() {
        return Err(DataError::NoInputFiles {
            table: src.table.clone(),
            location: loc.url().to_string(),
            hint: missing_folder_hint(loc.url()),
        }
        .into());
    }

    let raw_name = format!("{}_raw", src.table);
    let (files, schema) = match src.format {
        InputFormat::Text => register_text(ctx, src, loc, &objects, &raw_name).await?,
        InputFormat::Parquet | InputFormat::Csv => {
            register_listing(ctx, src, loc, &objects, &raw_name).await?
        }
    };

    let mapped_sql = mapped_select(src, &schema, &raw_name, ids);
    let mapped = ctx.sql(&mapped_sql).await.map_err(|e| {
        FeatureError::from(DataError::BadExpression {
            table: src.table.clone(),
            setting: format!("{}.columns / {}.filter", src.table, src.table),
            reason: e.to_string(),
        })
    })?;
    ctx.register_table(format!("{}_mapped", src.table), mapped.into_view())
        .map_err(FeatureError::engine("register mapped input"))?;
    register_raw_ids(ctx, src, &schema, &raw_name).await?;
    Ok(RegisteredInput {
        table: src.table.clone(),
        location: loc.url().to_string(),
        files,
        pruned_files: pruned,
        mapped_sql,
    })
}

/// The view `<table>_raw_ids` (user_id): the distinct ids of an input with user ids as the
/// mapping reads them, before keying. Only a key rotation reads it, to translate the previous
/// run's keys (`lifecycle_pipeline`'s rotation module); views cost nothing unread.
async fn register_raw_ids(
    ctx: &SessionContext,
    src: &ValidSource,
    schema: &Schema,
    raw: &str,
) -> Result<()> {
    if !src.columns.iter().any(|c| c.name == USER_ID) {
        return Ok(());
    }
    let sql = format!(
        "SELECT DISTINCT {USER_ID} FROM ({}) WHERE {USER_ID} IS NOT NULL",
        mapped_select(src, schema, raw, UserIds::Raw)
    );
    let ids = ctx
        .sql(&sql)
        .await
        .map_err(FeatureError::engine("register raw ids"))?;
    ctx.register_table(raw_ids_view(&src.table), ids.into_view())
        .map_err(FeatureError::engine("register raw ids"))?;
    Ok(())
}

/// The name of an input's [`register_raw_ids`] view.
pub fn raw_ids_view(table: &str) -> String {
    format!("{table}_raw_ids")
}

/// For a local path that does not exist: a reminder of how relative paths resolve (a spec run
/// from another folder, or the demo's spec before `lifecycle demo` wrote its data).
fn missing_folder_hint(url: &url::Url) -> String {
    match url.to_file_path() {
        Ok(p) if !p.exists() => format!(
            " ({} does not exist; relative paths in a spec resolve against the spec's own \
             folder, and `lifecycle demo` writes the demo's data next to its copy of the spec)",
            p.display()
        ),
        _ => String::new(),
    }
}

/// Parquet as the session reads it, but text as string views: the mapping keeps contract text
/// as views ([`text_sql`]), and reading them as views copies nothing.
fn parquet_format(ctx: &SessionContext) -> ParquetFormat {
    let mut options = ctx.state().default_table_options().parquet;
    options.global.schema_force_view_types = true;
    ParquetFormat::default().with_options(options)
}

fn is_hidden(rel: &str) -> bool {
    rel.split('/')
        .any(|p| p.starts_with('_') || p.starts_with('.'))
}

fn has_extension(src: &ValidSource, path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    match src.format {
        InputFormat::Parquet => p.ends_with(".parquet") || p.ends_with(".parq"),
        InputFormat::Csv => match &src.csv.extension {
            Some(ext) => p.ends_with(&ext.to_ascii_lowercase()),
            None => p.ends_with(".csv") || p.ends_with(".csv.gz"),
        },
        InputFormat::Text => true,
    }
}

/// The date of a `key=YYYY-MM-DD` folder in a relative path.
fn partition_date(rel: &str, key: &str) -> Option<NaiveDate> {
    rel.split('/').find_map(|part| {
        let v = part.strip_prefix(key)?.strip_prefix('=')?;
        NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()
    })
}

fn unreadable(
    loc: &Location,
    meta: &ObjectMeta,
    format: &str,
    reason: impl ToString,
) -> FeatureError {
    DataError::Unreadable {
        file: loc.url_of(&meta.location).to_string(),
        format: format.to_string(),
        reason: reason.to_string(),
    }
    .into()
}

fn csv_format(src: &ValidSource, meta_path: &str) -> CsvFormat {
    let gz = meta_path.to_ascii_lowercase().ends_with(".gz");
    CsvFormat::default()
        .with_has_header(src.csv.has_header)
        .with_delimiter(src.csv.delimiter as u8)
        .with_schema_infer_max_rec(src.csv.infer_rows)
        .with_file_compression_type(if gz {
            FileCompressionType::GZIP
        } else {
            FileCompressionType::UNCOMPRESSED
        })
}

async fn register_listing(
    ctx: &SessionContext,
    src: &ValidSource,
    loc: &Location,
    objects: &[ObjectMeta],
    name: &str,
) -> Result<(Vec<InputFile>, SchemaRef)> {
    let store = loc.store().clone();
    let state = ctx.state();
    // One schema per file, read concurrently, so that errors name the file.
    let per_file: Vec<(InputFile, SchemaRef)> = futures::stream::iter(objects.iter().cloned())
        .map(|meta| {
            let store = store.clone();
            let state: &dyn datafusion::catalog::Session = &state;
            let format = parquet_format(ctx);
            async move {
                let url = loc.url_of(&meta.location).to_string();
                let unreadable_as = |e| unreadable(loc, &meta, src.format.name(), e);
                if src.format == InputFormat::Parquet {
                    let schema = format
                        .infer_schema(state, &store, std::slice::from_ref(&meta))
                        .await
                        .map_err(unreadable_as)?;
                    let stats = format
                        .infer_stats(state, &store, schema.clone(), &meta)
                        .await
                        .map_err(unreadable_as)?;
                    let rows = stats.num_rows.get_value().map(|n| *n as u64);
                    Ok::<_, FeatureError>((
                        InputFile {
                            url,
                            bytes: meta.size,
                            rows,
                        },
                        schema,
                    ))
                } else {
                    let schema = csv_format(src, meta.location.as_ref())
                        .infer_schema(state, &store, std::slice::from_ref(&meta))
                        .await
                        .map_err(unreadable_as)?;
                    Ok((
                        InputFile {
                            url,
                            bytes: meta.size,
                            rows: None,
                        },
                        schema,
                    ))
                }
            }
        })
        .buffered(16)
        .try_collect::<Vec<_>>()
        .await?;

    for (file, schema) in &per_file {
        check_columns(src, &file.url, schema)?;
    }

    let format: Arc<dyn FileFormat> = match src.format {
        InputFormat::Parquet => Arc::new(parquet_format(ctx)),
        _ => Arc::new(csv_format(src, objects[0].location.as_ref())),
    };
    let urls = objects
        .iter()
        .map(|m| ListingTableUrl::parse(loc.url_of(&m.location)))
        .collect::<datafusion::common::Result<Vec<_>>>()
        .map_err(FeatureError::engine("list input files"))?;
    let merged = merged_schema(src, &per_file)?;
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(ListingOptions::new(format).with_file_extension(""))
        .with_schema(Arc::new(merged));
    let table = ListingTable::try_new(config).map_err(FeatureError::engine("register input"))?;
    let schema = table_schema(&table);
    ctx.register_table(name, Arc::new(table))
        .map_err(FeatureError::engine("register input"))?;
    Ok((per_file.into_iter().map(|(f, _)| f).collect(), schema))
}

/// The first file of a registered input that cannot be read to its end, as a data error that
/// names it. For failures while a step read a whole table (a corrupt data page behind a good
/// footer, a CSV row of another type than inferred): DataFusion's error does not always say
/// which file, and the step that failed was writing its own output.
pub async fn find_unreadable(
    ctx: &SessionContext,
    src: &ValidSource,
    input: &RegisteredInput,
) -> Option<DataError> {
    if src.format == InputFormat::Text {
        return None; // read whole, and checked, when registered
    }
    let raw = match ctx.table(format!("{}_raw", src.table)).await {
        Ok(raw) => raw,
        Err(e) => {
            tracing::debug!(error = %e, table = src.table, "input not registered; nothing to blame");
            return None;
        }
    };
    let schema: SchemaRef = Arc::new(raw.schema().as_arrow().clone());
    for file in &input.files {
        let read = read_to_end(ctx, src, &file.url, schema.clone()).await;
        tracing::debug!(file = file.url, ?read, "input file read to the end");
        if let Err(reason) = read {
            return Some(DataError::Unreadable {
                file: file.url.clone(),
                format: src.format.name().to_string(),
                reason,
            });
        }
    }
    None
}

/// Reads one file of `src` with the table's schema, every column, to the end.
async fn read_to_end(
    ctx: &SessionContext,
    src: &ValidSource,
    url: &str,
    schema: SchemaRef,
) -> std::result::Result<(), String> {
    let format: Arc<dyn FileFormat> = match src.format {
        InputFormat::Parquet => Arc::new(parquet_format(ctx)),
        _ => Arc::new(csv_format(src, url)),
    };
    let url = ListingTableUrl::parse(url).map_err(|e| e.to_string())?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(ListingOptions::new(format).with_file_extension(""))
        .with_schema(schema);
    let table = ListingTable::try_new(config).map_err(|e| e.to_string())?;
    let df = ctx.read_table(Arc::new(table)).map_err(|e| e.to_string())?;
    let mut stream = df.execute_stream().await.map_err(|e| e.to_string())?;
    while let Some(batch) = stream.next().await {
        batch.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One schema for all the files of an input. Each CSV file's times and numbers are text
/// first ([`read_as_text`]): one file inferred as timestamps and the next as text are then the
/// same column.
fn merged_schema(src: &ValidSource, per_file: &[(InputFile, SchemaRef)]) -> Result<Schema> {
    let schemas: Vec<Schema> = per_file
        .iter()
        .map(|(_, s)| match src.format {
            InputFormat::Csv => read_as_text(src, s.as_ref().clone()),
            _ => s.as_ref().clone(),
        })
        .collect();
    Schema::try_merge(schemas).map_err(|e| type_clash(per_file, e))
}

/// The error for files whose schemas do not merge: the first column whose type differs, the
/// two files and their types.
fn type_clash(per_file: &[(InputFile, SchemaRef)], e: impl std::fmt::Display) -> FeatureError {
    let (first, first_schema) = &per_file[0];
    for field in first_schema.fields() {
        let other = per_file.iter().skip(1).find_map(|(file, schema)| {
            let theirs = schema.field_with_name(field.name()).ok()?;
            let clash = theirs.data_type() != field.data_type()
                && ![theirs.data_type(), field.data_type()].contains(&&DataType::Null);
            clash.then(|| (file, theirs.data_type()))
        });
        if let Some((file, theirs)) = other {
            return DataError::TypesDiffer {
                column: field.name().clone(),
                first: format!("{} in {}", field.data_type(), first.url),
                second: format!("{theirs} in {}", file.url),
            }
            .into();
        }
    }
    DataError::Unreadable {
        file: first.url.clone(),
        format: "a table with the other files".into(),
        reason: e.to_string(),
    }
    .into()
}

/// `schema` with the CSV columns the spec reads as times (without an epoch `unit`) or numbers
/// as text. The CSV reader infers a type from the first rows, then fails the whole read on a
/// value that does not fit it (`2024-13-45 00:00:00` among times, `abc` among amounts); read as
/// text, `lc_to_utc` and `TRY_CAST` read each value, and the quality rules quarantine the rows
/// they cannot (`unparseable_event_time`, `purchase_without_amount`).
fn read_as_text(src: &ValidSource, schema: Schema) -> Schema {
    let as_text: Vec<&str> = src
        .columns
        .iter()
        .filter_map(|c| match (&c.source, c.kind) {
            (ColumnSource::Column { name, time, .. }, ContractKind::Time)
                if time.unit.is_none() =>
            {
                Some(name.as_str())
            }
            (ColumnSource::Column { name, .. }, ContractKind::Number) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match as_text.contains(&f.name().as_str()) {
            true => f.as_ref().clone().with_data_type(DataType::Utf8),
            false => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

fn table_schema(t: &ListingTable) -> SchemaRef {
    use datafusion::catalog::TableProvider;
    t.schema()
}

async fn register_text(
    ctx: &SessionContext,
    src: &ValidSource,
    loc: &Location,
    objects: &[ObjectMeta],
    name: &str,
) -> Result<(Vec<InputFile>, SchemaRef)> {
    let schema = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)]));
    let mut batches = Vec::new();
    let mut files = Vec::new();
    for meta in objects {
        let bytes = loc
            .store()
            .get(&meta.location)
            .await
            .map_err(|e| unreadable(loc, meta, "text", e))?
            .bytes()
            .await
            .map_err(|e| unreadable(loc, meta, "text", e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| unreadable(loc, meta, "text", e))?;
        let lines: Vec<&str> = text
            .lines()
            .skip(src.text.skip_lines)
            .filter(|l| !l.trim().is_empty())
            .collect();
        files.push(InputFile {
            url: loc.url_of(&meta.location).to_string(),
            bytes: meta.size,
            rows: Some(lines.len() as u64),
        });
        for chunk in lines.chunks(8192) {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(chunk.to_vec()))],
            )
            .map_err(|e| unreadable(loc, meta, "text", e))?;
            batches.push(batch);
        }
    }
    for f in &files {
        check_columns(src, &f.url, &schema)?;
    }
    let table = MemTable::try_new(schema.clone(), vec![batches])
        .map_err(FeatureError::engine("register text input"))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(FeatureError::engine("register text input"))?;
    Ok((files, schema))
}

/// Checks that each column the spec maps from exists in `schema` with a usable type.
/// An optional contract column the spec does not map may be absent (it is then null).
fn check_columns(src: &ValidSource, file: &str, schema: &Schema) -> Result<()> {
    let available = || {
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(a) = src
        .attributes
        .iter()
        .find(|a| schema.field_with_name(a).is_err())
    {
        return Err(DataError::MissingColumn {
            file: file.to_string(),
            column: a.clone(),
            contract_column: format!("{}.attributes", src.table),
            available: available(),
        }
        .into());
    }
    for c in &src.columns {
        let (contract, kind, required, source) = (&c.name, &c.kind, &c.required, &c.source);
        let ColumnSource::Column {
            name,
            implicit,
            time,
        } = source
        else {
            continue;
        };
        let Ok(field) = schema.field_with_name(name) else {
            if *implicit && !required {
                continue;
            }
            return Err(DataError::MissingColumn {
                file: file.to_string(),
                column: name.clone(),
                contract_column: contract.clone(),
                available: available(),
            }
            .into());
        };
        // In a CSV one word among numbers makes the reader infer text: the values are read
        // with TRY_CAST, and a purchase whose amount is not a number is quarantined.
        let csv_number = src.format == InputFormat::Csv && *kind == ContractKind::Number;
        if csv_number && is_text(field.data_type()) {
            continue;
        }
        if let Err(expected) = accepts(*kind, time, field.data_type()) {
            return Err(DataError::WrongType {
                file: file.to_string(),
                column: name.clone(),
                contract_column: contract.clone(),
                found: field.data_type().to_string(),
                expected: expected.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        || matches!(t, DataType::Dictionary(_, v) if is_text(v))
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

/// Whether a source type can become the contract kind; the error says what would.
fn accepts(
    kind: ContractKind,
    time: &TimeParse,
    t: &DataType,
) -> std::result::Result<(), &'static str> {
    // A column with no value at all in the file (a CSV column empty in every row): its values
    // are null whatever the contract wants.
    if t == &DataType::Null {
        return Ok(());
    }
    let ok = match kind {
        ContractKind::Text => is_text(t) || is_integer(t),
        ContractKind::Number => t.is_numeric(),
        ContractKind::Time => {
            if time.unit.is_some() {
                is_integer(t)
            } else if time.format.is_some() {
                is_text(t)
            } else {
                matches!(
                    t,
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                ) || is_text(t)
                    || is_integer(t)
            }
        }
    };
    if ok {
        return Ok(());
    }
    Err(match kind {
        ContractKind::Text => "text or integer",
        ContractKind::Number => "a number",
        ContractKind::Time if time.unit.is_some() => "an integer epoch (the spec gives `unit`)",
        ContractKind::Time if time.format.is_some() => "text (the spec gives `format`)",
        ContractKind::Time => "a timestamp, a date, text or an integer epoch",
    })
}

pub(crate) use crate::sql::{ident, lit};

/// A timestamp with a zone: an instant, whatever zone it is shown in.
fn is_instant(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, Some(_)))
}

/// The SQL that reads a time value as UTC microseconds. A column that already holds instants
/// (and no `format` or `unit` says otherwise) is only cast, which DataFusion sees through: a
/// filter on the time then skips the files and row groups whose statistics rule them out.
/// Everything else goes through [`TO_UTC`].
fn time_sql(value_sql: &str, time: &TimeParse, instant: bool) -> String {
    if instant && time.format.is_none() && time.unit.is_none() {
        return format!("arrow_cast({value_sql}, 'Timestamp(Microsecond, Some(\"UTC\"))')");
    }
    let unit = time.unit.map(|u| match u {
        lifecycle_spec::TimeUnit::Seconds => "seconds",
        lifecycle_spec::TimeUnit::Milliseconds => "milliseconds",
        lifecycle_spec::TimeUnit::Microseconds => "microseconds",
    });
    format!(
        "{TO_UTC}({value_sql}, {}, {}, {})",
        opt_lit(time.format.as_deref()),
        opt_lit(time.timezone.as_deref()),
        opt_lit(unit)
    )
}

fn opt_lit(s: Option<&str>) -> String {
    s.map(lit).unwrap_or_else(|| "CAST(NULL AS VARCHAR)".into())
}

/// A contract text column: a string view, which the steps over the events scan, compare and
/// group faster than `Utf8` (Parquet is read as views already: no copy).
fn text_sql(value_sql: &str) -> String {
    format!("arrow_cast({value_sql}, 'Utf8View')")
}

/// The SELECT that maps the raw table onto the contract.
fn mapped_select(src: &ValidSource, schema: &Schema, raw: &str, ids: UserIds) -> String {
    let mut cols = Vec::new();
    let mut raw_times = BTreeMap::new();
    for c in &src.columns {
        let (contract, kind, source) = (&c.name, &c.kind, &c.source);
        let (value_sql, time) = match source {
            ColumnSource::Column { name, time, .. } => {
                if schema.field_with_name(name).is_err() {
                    ("NULL".to_string(), time.clone())
                } else {
                    (ident(name), time.clone())
                }
            }
            ColumnSource::Expr { sql, time } => (format!("({sql})"), time.clone()),
            ColumnSource::Value(v) => (lit(v), TimeParse::default()),
        };
        let expr = match kind {
            ContractKind::Text if contract == USER_ID => ids.map(text_sql(&value_sql)),
            ContractKind::Text => text_sql(&value_sql),
            // A value that is not a number (`abc` in a CSV) becomes null: a purchase then
            // lands in the quarantine as `purchase_without_amount`, not the whole run failing.
            ContractKind::Number => format!("TRY_CAST({value_sql} AS DOUBLE)"),
            ContractKind::Time => {
                // As read: cast to text only where a quarantine record needs it (casting
                // every good row's timestamp to text would cost more than the rules).
                raw_times.insert(contract.clone(), value_sql.clone());
                let zoned = matches!(source, ColumnSource::Column { name, .. }
                    if schema.field_with_name(name).is_ok_and(|f| is_instant(f.data_type())));
                time_sql(&value_sql, &time, zoned)
            }
        };
        cols.push(format!("{expr} AS {}", ident(contract)));
    }
    for (contract, sql) in raw_times {
        cols.push(format!("{sql} AS {}", ident(&format!("raw_{contract}"))));
    }
    cols.extend(src.attributes.iter().map(|a| ident(a)));
    let filter = src
        .filter
        .as_ref()
        .map(|f| format!(" WHERE ({f})"))
        .unwrap_or_default();
    format!("SELECT {} FROM {}{filter}", cols.join(", "), ident(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_ranges() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let to = d("2024-01-31");
        let all = PartitionDates { from: None, to };
        assert!(!all.skips(d("2000-01-01")) && !all.skips(to) && all.skips(d("2024-02-01")));
        let recent = PartitionDates {
            from: Some(d("2024-01-27")),
            to,
        };
        assert!(recent.skips(d("2024-01-26")) && !recent.skips(d("2024-01-27")));
    }

    #[test]
    fn partition_dates() {
        assert_eq!(
            partition_date("dt=2024-01-31/part-0.parquet", "dt"),
            NaiveDate::from_ymd_opt(2024, 1, 31)
        );
        assert_eq!(partition_date("x/dt=bad/part.parquet", "dt"), None);
        assert_eq!(partition_date("ddt=2024-01-31/p.parquet", "dt"), None);
        assert!(is_hidden("_staging/x.parquet") && !is_hidden("dt=1/x.parquet"));
    }
}
