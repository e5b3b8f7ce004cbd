//! What the crate's tests share: the schema of `events_clean` (the contract's five columns), a
//! session holding hand-written events, and query results as text rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// `user_id`, `event_time` (µs, UTC), `event_type`, `item_id`, `amount`, all nullable.
pub(crate) fn events_schema() -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("event_time", utc, true),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

/// One hand-written event: user, RFC 3339 time, type, amount (no item).
pub(crate) type Ev<'a> = (&'a str, &'a str, &'a str, Option<f64>);

/// Microseconds since the epoch of an RFC 3339 time.
pub(crate) fn ts(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

/// A session with `events` registered as `events_clean`.
pub(crate) fn events_session(events: &[Ev<'_>]) -> datafusion::prelude::SessionContext {
    use datafusion::arrow::array::{
        Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    let ctx = datafusion::prelude::SessionContext::new();
    let batch = RecordBatch::try_new(
        events_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| ts(e.1)))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.2))),
            Arc::new(StringArray::from(vec![None::<&str>; events.len()])),
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.3))),
        ],
    )
    .unwrap();
    let table = datafusion::datasource::MemTable::try_new(events_schema(), vec![vec![batch]]);
    ctx.register_table("events_clean", Arc::new(table.unwrap()))
        .unwrap();
    ctx
}

/// The rows of `sql`, each as its values joined by commas (nulls as `null`), in result order.
pub(crate) async fn text_rows(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Vec<String> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let opts = FormatOptions::default().with_null("null");
    let mut out = vec![];
    for b in batches {
        let cols: Vec<_> = (0..b.num_columns())
            .map(|i| ArrayFormatter::try_new(b.column(i).as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let row: Vec<String> = cols.iter().map(|c| c.value(r).to_string()).collect();
            out.push(row.join(","));
        }
    }
    out
}
