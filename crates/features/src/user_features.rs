//! The `user_features` table: one row per user with at least one clean event before the cutoff
//! `T`. Point in time: only events with `event_time < T` are used, so a log that runs past the
//! cutoff gives the same features. Windows below use the defaults (`7/30/90`, activity window
//! `A = 30`, long window `L = 90`); each is a setting.
//!
//! | column | type | definition |
//! |---|---|---|
//! | `user_id` | Utf8 | |
//! | `first_event_at`, `last_event_at` | Timestamp(µs, UTC) | first and last event before `T` |
//! | `tenure_days` | Float64 | `(T − first_event_at)` in fractional days |
//! | `recency_days` | Float64 | `(T − last_event_at)` in fractional days |
//! | `events_total` | Int64 | events before `T` |
//! | `events_<N>d` | Int64 | events in `[T − N days, T)`, for each window N |
//! | `<type>_<A>d` | Int64 | events of that type in `[T − A, T)`, for each listed type |
//! | `active_days_<A>d` | Int64 | distinct UTC dates with an event in `[T − A, T)` |
//! | `purchases_total` | Int64 | purchase-type events before `T` |
//! | `revenue_total` | Float64 | sum of purchase `amount` before `T` (0 without purchases), summed exactly (amounts to 9 decimals) |
//! | `revenue_<L>d` | Float64 | sum of purchase `amount` in `[T − L, T)` |
//! | `avg_order_value` | Float64 | `revenue_total / purchases_total`; null without purchases |
//! | `last_purchase_at` | Timestamp(µs, UTC) | last purchase before `T`; null without purchases |
//! | `purchase_recency_days` | Float64 | `(T − last_purchase_at)` in days; null without purchases (RFM's R) |
//! | `activity_trend` | Float64 | `(events_<A>d − p) / (p + 1)`, `p` = events in `[T − 2A, T − A)` |
//! | `distinct_items_<L>d` | Int64 | distinct non-null `item_id` in `[T − L, T)` |
//!
//! `[features.behaviour]` adds per-type columns after these ([`crate::behaviour`]).

use chrono::{DateTime, Utc};
use lifecycle_spec::ValidFeatures;

use crate::sql::{ident, in_list, lit};

const DAY_US: i64 = 86_400_000_000;

/// The UTC date of `ts` (µs) as days since 1970-01-01: floor division, so that a time before
/// 1970 is a date of its own (`/` truncates towards zero).
pub(crate) const DAY_OF_TS: &str =
    "(ts - ((ts % 86400000000) + 86400000000) % 86400000000) / 86400000000";

/// The sum of `amount` over the rows where `condition` holds, 0 when there are none. `amount`
/// is a decimal in `ev` (exact, so the result does not depend on the order in which DataFusion
/// meets the rows, which follows the input files' layout), returned as a float.
fn exact_sum(condition: &str) -> String {
    format!("coalesce(CAST(sum(amount) FILTER (WHERE {condition}) AS DOUBLE), 0.0)")
}

/// `n` summed over the rows where `condition` holds: the events that meet it. A `FILTER`
/// rather than `sum(CASE ..)`: the aggregate then skips the other rows instead of adding
/// zeros (10M events, 13 such counts: the aggregation about a third faster).
pub(crate) fn count_where(condition: &str) -> String {
    format!("coalesce(sum(n) FILTER (WHERE {condition}), 0)")
}

/// What `user_features` (and `cohort_retention`: `crate::cohorts`) is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSource {
    /// The clean events (`events_clean`).
    Events,
    /// The rollup of daily counts (`crate::rollup`): its views of this run.
    Rollup,
}

impl FeatureSource {
    /// The relation `ev`: one row per event, or per rollup row, with the columns the
    /// aggregation reads: `user_id`, `event_type`, `is_purchase`, `ts` (the event's time, or
    /// its day's first microsecond, or null for the rollup's days before every window: windows
    /// are whole days ending at midnight, so either compares the same), `n` (events), `amount`
    /// (exact), `first_at`/`last_at` and `first_ts`/`last_ts` (times, and in µs). From the
    /// events it also has `item_id`.
    fn events(self, t: i64, purchase: &str) -> String {
        match self {
            FeatureSource::Events => format!(
                "SELECT user_id, event_type, item_id, event_type IN ({purchase}) AS is_purchase, \
                   CAST(event_time AS BIGINT) AS ts, CAST(1 AS BIGINT) AS n, \
                   CAST(amount AS DECIMAL(38, 9)) AS amount, \
                   event_time AS first_at, event_time AS last_at, \
                   CAST(event_time AS BIGINT) AS first_ts, CAST(event_time AS BIGINT) AS last_ts \
                 FROM events_clean WHERE CAST(event_time AS BIGINT) < {t}"
            ),
            FeatureSource::Rollup => crate::rollup::feature_rows_sql(purchase),
        }
    }

    /// The relation `item_ev` (user_id, item_id, ts) of the distinct-items feature, which
    /// needs the events from `since` (µs) on. From the events, that bound is also put on the
    /// event time itself, which reaches the Parquet scan: the files and row groups of earlier
    /// days are skipped (10M events over a year, long window 90 days: 0.44 → 0.34 s).
    fn items(self, since: i64) -> String {
        match self {
            FeatureSource::Events => format!(
                "SELECT user_id, item_id, ts FROM ev WHERE first_at >= \
                 arrow_cast({since}, 'Timestamp(Microsecond, Some(\"UTC\"))')"
            ),
            FeatureSource::Rollup => crate::rollup::item_rows_sql(),
        }
    }
}

/// The SELECT that computes `user_features` from `source` as of `cutoff`.
pub fn user_features_sql(
    f: &ValidFeatures,
    purchase_types: &[String],
    cutoff: DateTime<Utc>,
    source: FeatureSource,
) -> String {
    let t = cutoff.timestamp_micros();
    let since = |days: u32| t - days as i64 * DAY_US;
    let (a, l) = (f.activity_window_days, f.long_window_days);
    let mut agg = aggregates(f, t);
    let mut out = outputs(f, t);
    let behaviour = crate::behaviour::behaviour_columns(f, t);
    agg.extend(behaviour.agg);
    out.extend(behaviour.out);
    // The trend needs the activity-window count even when it is not one of the `windows_days`.
    agg.push(format!(
        "{} AS events_{a}d_for_trend",
        count_where(&format!("ts >= {}", since(a)))
    ));

    // The two distinct counts are pre-grouped and joined: DataFusion's per-group
    // `count(DISTINCT ...)` is several times slower than a grouping on (user, value).
    format!(
        "WITH ev AS ({events}), \
         item_ev AS ({items}), \
         agg AS (SELECT user_id, {agg} FROM ev GROUP BY user_id), \
         days AS (SELECT user_id, count(*) AS active_days FROM \
           (SELECT DISTINCT user_id, {day} AS day FROM ev WHERE ts >= {a_since}) GROUP BY user_id), \
         items AS (SELECT user_id, count(*) AS distinct_items FROM \
           (SELECT DISTINCT user_id, item_id FROM item_ev WHERE ts >= {l_since} AND item_id IS NOT NULL) \
           GROUP BY user_id) \
         SELECT {out} FROM agg \
           LEFT JOIN days ON agg.user_id = days.user_id \
           LEFT JOIN items ON agg.user_id = items.user_id \
         ORDER BY user_id",
        events = source.events(t, &in_list(purchase_types)),
        items = source.items(since(l)),
        out = out.join(", "),
        agg = agg.join(", "),
        a_since = since(a),
        l_since = since(l),
        day = DAY_OF_TS,
    )
}

/// The per-user aggregates over `ev` of the built-in columns (those after `days` and `items`
/// are joined are in [`outputs`]).
fn aggregates(f: &ValidFeatures, t: i64) -> Vec<String> {
    let since = |days: u32| t - days as i64 * DAY_US;
    let days = |expr: &str| format!("CAST({t} - {expr} AS DOUBLE) / {DAY_US}.0");
    let (a, l) = (f.activity_window_days, f.long_window_days);
    let mut agg = vec![
        "min(first_at) AS first_event_at".to_string(),
        "max(last_at) AS last_event_at".to_string(),
        format!("{} AS tenure_days", days("min(first_ts)")),
        format!("{} AS recency_days", days("max(last_ts)")),
        "sum(n) AS events_total".to_string(),
    ];
    for w in &f.windows_days {
        let since = since(*w);
        agg.push(format!(
            "{} AS events_{w}d",
            count_where(&format!("ts >= {since}"))
        ));
    }
    for p in &f.per_type {
        let (ty, col) = (&p.event_type, &p.column);
        let when = format!("ts >= {} AND event_type = {}", since(a), lit(ty));
        agg.push(format!(
            "{} AS {}",
            count_where(&when),
            ident(&format!("{col}_{a}d"))
        ));
    }
    agg.extend([
        format!("{} AS purchases_total", count_where("is_purchase")),
        format!("{} AS revenue_total", exact_sum("is_purchase")),
        format!(
            "{} AS revenue_{l}d",
            exact_sum(&format!("is_purchase AND ts >= {}", since(l)))
        ),
        "max(last_at) FILTER (WHERE is_purchase) AS last_purchase_at".to_string(),
        "max(last_ts) FILTER (WHERE is_purchase) AS last_purchase_ts".to_string(),
        format!(
            "{} AS events_prev_{a}d",
            count_where(&format!("ts >= {} AND ts < {}", since(2 * a), since(a)))
        ),
    ]);
    agg
}

/// The built-in columns of the final SELECT over `agg`, `days` and `items`, in order.
fn outputs(f: &ValidFeatures, t: i64) -> Vec<String> {
    let (a, l) = (f.activity_window_days, f.long_window_days);
    let mut out = vec![
        "agg.user_id AS user_id".to_string(),
        "first_event_at".into(),
        "last_event_at".into(),
        "tenure_days".into(),
        "recency_days".into(),
        "events_total".into(),
    ];
    out.extend(f.windows_days.iter().map(|w| format!("events_{w}d")));
    out.extend(
        f.per_type
            .iter()
            .map(|p| ident(&format!("{}_{a}d", p.column))),
    );
    out.extend([
        format!("coalesce(days.active_days, 0) AS active_days_{a}d"),
        "purchases_total".into(),
        "revenue_total".into(),
        format!("revenue_{l}d"),
        "CASE WHEN purchases_total > 0 THEN revenue_total / purchases_total END AS avg_order_value"
            .into(),
        "last_purchase_at".into(),
        format!(
            "CAST({t} - last_purchase_ts AS DOUBLE) / {DAY_US}.0 AS purchase_recency_days"
        ),
        format!(
            "CAST(events_{a}d_for_trend - events_prev_{a}d AS DOUBLE) / (events_prev_{a}d + 1) AS activity_trend"
        ),
        format!("coalesce(items.distinct_items, 0) AS distinct_items_{l}d"),
    ]);
    out
}
