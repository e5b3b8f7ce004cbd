//! What the crate's tests share: the schema of `events_clean`, the contract's five columns.

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
