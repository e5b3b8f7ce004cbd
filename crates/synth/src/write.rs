//! Writing a generated data set: the Parquet files and their schemas.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{CATEGORIES, Catalog, Event, GeneratorParams, Result, SynthError, UserTruth};

pub(crate) fn ts_field(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

/// The schema of generated events: the event contract itself.
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        ts_field("event_time", false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

/// Days from 1970-01-01 (Arrow's `Date32`).
pub(crate) fn days_since_epoch(d: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    (d - epoch).num_days() as i32
}

pub(crate) fn user_id(u: u64) -> String {
    format!("u{u:07}")
}

pub(crate) fn item_id(i: u32) -> String {
    format!("i{i:05}")
}

pub(crate) fn write_batch(path: &Path, batch: RecordBatch) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| SynthError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let file = File::create(path).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let perr = |source| SynthError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(perr)?;
    w.write(&batch).map_err(perr)?;
    w.close().map_err(perr)?;
    Ok(())
}

pub(crate) fn batch(schema: SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, cols).expect("generated columns match their schema")
}

/// `items.parquet`: id, category and price of every item.
pub(crate) fn items(p: &GeneratorParams, cat: &Catalog, out: &Path) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values((0..p.items).map(item_id))),
        Arc::new(StringArray::from_iter_values(
            cat.category.iter().map(|c| CATEGORIES[*c].0),
        )),
        Arc::new(Float64Array::from(cat.price.clone())),
    ];
    write_batch(&out.join("items.parquet"), batch(schema, columns))
}

/// One file of events (sorted here by time, then user), named with the mode's event types.
pub(crate) fn events(path: &Path, mut ev: Vec<Event>, event_types: &[&'static str]) -> Result<()> {
    ev.sort_by_key(|e| (e.t_us, e.user));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            ev.iter().map(|e| user_id(e.user)),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(ev.iter().map(|e| e.t_us))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            ev.iter().map(|e| event_types[e.kind as usize]),
        )),
        Arc::new(StringArray::from_iter(
            ev.iter().map(|e| e.item.map(item_id)),
        )),
        Arc::new(Float64Array::from_iter(ev.iter().map(|e| e.amount))),
    ];
    write_batch(path, batch(event_schema(), columns))
}

/// `users.parquet`: id, signup time, country and channel.
pub(crate) fn users(truths: &[(u64, UserTruth)], out: &Path) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        ts_field("signup_time", false),
        Field::new("country", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            truths.iter().map(|(u, _)| user_id(*u)),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(truths.iter().map(|(_, t)| t.signup_us))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            truths.iter().map(|(_, t)| t.country),
        )),
        Arc::new(StringArray::from_iter_values(
            truths.iter().map(|(_, t)| t.channel),
        )),
    ];
    write_batch(&out.join("users.parquet"), batch(schema, columns))
}

/// `ground_truth.parquet`: each user's latent segment (`segment_names` indexed by
/// `UserTruth::segment`) and whether and when they churned before `end_us`.
pub(crate) fn ground_truth(
    truths: &[(u64, UserTruth)],
    segment_names: &dyn Fn(usize) -> &'static str,
    end_us: i64,
    out: &Path,
) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("latent_segment", DataType::Utf8, false),
        Field::new("churned", DataType::Boolean, false),
        ts_field("churn_time", true),
    ]));
    let churned = |t: &UserTruth| t.churn_us < end_us;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            truths.iter().map(|(u, _)| user_id(*u)),
        )),
        Arc::new(StringArray::from_iter_values(
            truths.iter().map(|(_, t)| segment_names(t.segment)),
        )),
        Arc::new(BooleanArray::from_iter(
            truths.iter().map(|(_, t)| Some(churned(t))),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                truths.iter().map(|(_, t)| churned(t).then_some(t.churn_us)),
            )
            .with_timezone("UTC"),
        ),
    ];
    write_batch(&out.join("ground_truth.parquet"), batch(schema, columns))
}
