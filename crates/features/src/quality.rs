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
//! | `amount_out_of_range` | `amount` is beyond ±10^15 (any event type): not money, and more than the features' exact sums can hold |
//! | `future_event_time` | `event_time` is later than the run's wall-clock time plus `quality.max_future_hours` |
//! | `duplicate` | the row equals another good row in all five contract columns; one copy is kept, and the quarantine record carries `copies` = the number of extra copies (off with `quality.deduplicate = false`) |
//!
//! Duplicates are found without grouping every event: the rows whose hash repeats are the only
//! ones grouped ([`crate::duplicates`], [`Distinct`]).
//!
//! Rows a spec `filter` excludes are not bad rows: they are counted separately
//! (`rows_filtered`), because the user asked for them to go.

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;

use crate::duplicates::{COLUMNS, row_hash_sql};
use crate::sql::{in_list, views};
use crate::{FeatureError, Result};

/// The largest amount an event may carry. The features sum amounts exactly as DECIMAL(38, 9),
/// which holds about 10^29: 10^14 events of this size per user.
pub const MAX_AMOUNT: f64 = 1e15;

/// The rules in evaluation order.
pub const RULES: [&str; 10] = [
    "missing_user_id",
    "missing_event_time",
    "unparseable_event_time",
    "missing_event_type",
    "purchase_without_amount",
    "negative_purchase_amount",
    "non_finite_amount",
    "amount_out_of_range",
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
           WHEN event_time IS NULL AND (raw_event_time IS NULL OR trim(CAST(raw_event_time AS VARCHAR)) = '') THEN 'missing_event_time' \
           WHEN event_time IS NULL THEN 'unparseable_event_time' \
           WHEN event_type IS NULL OR event_type = '' THEN 'missing_event_type' \
           WHEN event_type IN ({purchase}) AND amount IS NULL THEN 'purchase_without_amount' \
           WHEN event_type IN ({purchase}) AND amount < 0 THEN 'negative_purchase_amount' \
           WHEN isnan(amount - amount) THEN 'non_finite_amount' \
           WHEN abs(amount) > {MAX_AMOUNT} THEN 'amount_out_of_range' \
           WHEN CAST(event_time AS BIGINT) > {limit} THEN 'future_event_time' \
         END AS rule FROM events_mapped"
    );
    register(ctx, "events_checked", &checked).await
}

/// How the good rows become distinct events (`events_clean`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distinct {
    /// Every good row is an event: `quality.deduplicate = false`, or no row hash repeats.
    AsTheyAre,
    /// Only the rows carrying one of these row hashes can be duplicates
    /// ([`crate::duplicates`]): they alone are grouped into `events_grouped`.
    Candidates(Vec<i64>),
    /// Every good row is grouped into `events_grouped` (too many candidates to list).
    All,
}

impl Distinct {
    /// Whether `events_grouped` exists (and [`Distinct::grouped_sql`] says what it is).
    pub fn groups(&self) -> bool {
        !matches!(self, Distinct::AsTheyAre)
    }

    /// The SELECT for `events_grouped`: the grouped rows, one per distinct event, with `copies`
    /// = how often it occurred. A run stages it once: both the quarantine and every reader of
    /// `events_clean` use it.
    pub fn grouped_sql(&self) -> Option<String> {
        let only = match self {
            Distinct::AsTheyAre => return None,
            Distinct::Candidates(hashes) => {
                format!(" AND {} IN ({})", row_hash_sql(), list(hashes))
            }
            Distinct::All => String::new(),
        };
        Some(format!(
            "SELECT {COLUMNS}, count(*) AS copies FROM {} WHERE rule IS NULL{only} \
             GROUP BY {COLUMNS}",
            views::EVENTS_CHECKED
        ))
    }

    /// The SELECT for `events_clean`: every distinct good event once, read from the checked
    /// events directly where they cannot be duplicates; from the mapped events, without
    /// evaluating the rules again, when `all_good` (no row broke one: the duplicate search
    /// counted them).
    pub fn clean_sql(&self, all_good: bool) -> String {
        let (source, mut only) = match all_good {
            true => (views::EVENTS_MAPPED, vec![]),
            false => (views::EVENTS_CHECKED, vec!["rule IS NULL".to_string()]),
        };
        let grouped = views::EVENTS_GROUPED;
        match self {
            Distinct::All => return format!("SELECT {COLUMNS} FROM {grouped}"),
            Distinct::Candidates(hashes) => {
                only.push(format!("{} NOT IN ({})", row_hash_sql(), list(hashes)));
            }
            Distinct::AsTheyAre => {}
        }
        let filter = match only.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", only.join(" AND ")),
        };
        let direct = format!("SELECT {COLUMNS} FROM {source}{filter}");
        match self {
            Distinct::Candidates(_) => {
                format!("{direct} UNION ALL SELECT {COLUMNS} FROM {grouped}")
            }
            _ => direct,
        }
    }
}

fn list(hashes: &[i64]) -> String {
    let texts: Vec<String> = hashes.iter().map(i64::to_string).collect();
    texts.join(", ")
}

/// Registers `quarantine`: the rows that broke a rule (none are looked for when `bad_rows` is
/// false: the duplicate search counted none) and, when `grouped`, one record per duplicate
/// with `copies` = its extra copies. Duplicates keep `raw_event_time` null (their time parsed:
/// it is in `event_time`).
pub async fn register_quarantine(
    ctx: &SessionContext,
    bad_rows: bool,
    grouped: bool,
) -> Result<()> {
    let mut sql = format!(
        "SELECT rule, user_id, event_time, CAST(raw_event_time AS VARCHAR) AS raw_event_time, \
           event_type, item_id, amount, CAST(1 AS BIGINT) AS copies \
         FROM {} WHERE rule IS NOT NULL AND {bad_rows}",
        views::EVENTS_CHECKED
    );
    if grouped {
        sql += &format!(
            " UNION ALL SELECT 'duplicate' AS rule, user_id, event_time, \
               CAST(NULL AS VARCHAR) AS raw_event_time, event_type, item_id, amount, \
               copies - 1 AS copies FROM {} WHERE copies > 1",
            views::EVENTS_GROUPED
        );
    }
    register(ctx, views::QUARANTINE, &sql).await
}

/// Registers `events_clean` as `distinct` says ([`Distinct::clean_sql`]).
pub async fn register_clean(
    ctx: &SessionContext,
    distinct: &Distinct,
    all_good: bool,
) -> Result<()> {
    register(ctx, views::EVENTS_CLEAN, &distinct.clean_sql(all_good)).await
}

async fn register(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let df = ctx
        .sql(sql)
        .await
        .map_err(FeatureError::engine("plan quality rules"))?;
    ctx.deregister_table(name)
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
