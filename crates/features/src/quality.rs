//! Data-quality rules. Never silent: every rejected row lands in the `quarantine` table with the
//! rule that caught it, and every rule's count goes into the run manifest.
//!
//! Rules, evaluated in this order (a row is recorded under the first rule it breaks):
//!
//! | rule | a row breaks it when |
//! |---|---|
//! | `missing_user_id` | `user_id` is null or empty |
//! | `missing_event_time` | the time column is null |
//! | `unparseable_event_time` | the time column has a value that is not a time (kept in `raw_event_time`) |
//! | `missing_event_type` | `event_type` is null or empty |
//! | `purchase_without_amount` | a purchase-type event has a null `amount` |
//! | `negative_purchase_amount` | a purchase-type event has `amount < 0` |
//! | `non_finite_amount` | `amount` is NaN or infinite (any event type) |
//! | `future_event_time` | `event_time` is later than the run's wall-clock time plus `quality.max_future_hours` |
//! | `duplicate` | the row equals another good row in all five contract columns; one copy is kept, and the quarantine record carries `copies` = the number of extra copies (off with `quality.deduplicate = false`) |
//!
//! Rows a spec `filter` excludes are not bad rows: they are counted separately
//! (`rows_filtered`), because the user asked for them to go.

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;

use crate::sql::{in_list, views};
use crate::{FeatureError, Result};

/// The rules in evaluation order.
pub const RULES: [&str; 9] = [
    "missing_user_id",
    "missing_event_time",
    "unparseable_event_time",
    "missing_event_type",
    "purchase_without_amount",
    "negative_purchase_amount",
    "non_finite_amount",
    "future_event_time",
    "duplicate",
];

/// Registers `events_checked`: the mapped events (`events_mapped`, see [`crate::input`]) plus a
/// `rule` column, null for good rows.
pub async fn register_checked(
    ctx: &SessionContext,
    purchase_types: &[String],
    run_time: DateTime<Utc>,
    max_future_hours: f64,
) -> Result<()> {
    // `as` saturates a huge number of hours; the sum must not overflow either.
    let ahead = (max_future_hours * 3_600_000_000.0) as i64;
    let limit = run_time.timestamp_micros().saturating_add(ahead);
    let purchase = in_list(purchase_types);
    let checked = format!(
        "SELECT user_id, event_time, raw_event_time, event_type, item_id, amount, CASE \
           WHEN user_id IS NULL OR user_id = '' THEN 'missing_user_id' \
           WHEN event_time IS NULL AND (raw_event_time IS NULL OR trim(raw_event_time) = '') THEN 'missing_event_time' \
           WHEN event_time IS NULL THEN 'unparseable_event_time' \
           WHEN event_type IS NULL OR event_type = '' THEN 'missing_event_type' \
           WHEN event_type IN ({purchase}) AND amount IS NULL THEN 'purchase_without_amount' \
           WHEN event_type IN ({purchase}) AND amount < 0 THEN 'negative_purchase_amount' \
           WHEN isnan(amount - amount) THEN 'non_finite_amount' \
           WHEN CAST(event_time AS BIGINT) > {limit} THEN 'future_event_time' \
         END AS rule FROM events_mapped"
    );
    register(ctx, "events_checked", &checked).await
}

/// The SELECT for `events_good`: the rows that broke no rule, one row per distinct event with
/// `copies` = how often it occurred (always 1 without deduplication). The pipeline writes it
/// once to its staging area, so the costly grouping of every event runs once for both the
/// duplicate records and the features.
pub fn good_events_sql(deduplicate: bool) -> &'static str {
    if deduplicate {
        "SELECT user_id, event_time, event_type, item_id, amount, count(*) AS copies \
         FROM events_checked WHERE rule IS NULL \
         GROUP BY user_id, event_time, event_type, item_id, amount"
    } else {
        "SELECT user_id, event_time, event_type, item_id, amount, CAST(1 AS BIGINT) AS copies \
         FROM events_checked WHERE rule IS NULL"
    }
}

/// Registers `quarantine` and `events_clean` from `events_checked` and `events_good`.
/// Without deduplication `events_good` never has `copies > 1`, so no duplicate is recorded; when
/// it is on, duplicates keep `raw_event_time` null (their time parsed: it is in `event_time`).
pub async fn register_quarantine_and_clean(ctx: &SessionContext) -> Result<()> {
    let quarantine = "SELECT rule, user_id, event_time, raw_event_time, event_type, item_id, amount, \
           CAST(1 AS BIGINT) AS copies FROM events_checked WHERE rule IS NOT NULL \
         UNION ALL \
         SELECT 'duplicate' AS rule, user_id, event_time, CAST(NULL AS VARCHAR) AS raw_event_time, \
           event_type, item_id, amount, copies - 1 AS copies FROM events_good WHERE copies > 1";
    register(ctx, "quarantine", quarantine).await?;
    register(
        ctx,
        "events_clean",
        "SELECT user_id, event_time, event_type, item_id, amount FROM events_good",
    )
    .await
}

async fn register(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(FeatureError::engine("plan quality rules"))?;
    ctx.register_table(name, df.into_view())
        .map_err(FeatureError::engine("plan quality rules"))?;
    Ok(())
}

/// The `quarantine` table as published: every bad row, ordered by every column, so the same
/// input always gives the same file (rows equal in every column are interchangeable).
pub fn quarantine_sql() -> String {
    format!(
        "SELECT * FROM {} ORDER BY rule, user_id, event_time, event_type, item_id, amount, \
         raw_event_time, copies",
        views::QUARANTINE
    )
}

/// Rows per rule (`rule`, `n`) of a written quarantine table, duplicates counted per copy.
pub fn rule_counts_sql(table: &str) -> String {
    format!("SELECT CAST(rule AS VARCHAR) AS rule, sum(copies) AS n FROM {table} GROUP BY rule")
}
