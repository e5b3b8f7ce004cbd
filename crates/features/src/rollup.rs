//! The rollup behind incremental `user_features` (`[incremental]`): the clean events summed
//! per user, UTC day and event type, so that a run recomputes only the recent days and adds
//! the rest from the previous run's rollup. Every feature is a sum, minimum or maximum over
//! whole days before a midnight cutoff (see [`crate::user_features`]), so the rollup gives
//! the same values as the events, to the bit.
//!
//! Three tables, each committed with the run that wrote it:
//!
//! | view | one row per | kept for |
//! |---|---|---|
//! | `user_daily` | user, `day`, `event_type`: `events`, `amount` (exact sum), `first_at`, `last_at` | days from the horizon (the longest window back from the cutoff) |
//! | `user_history` | user, `event_type`: the same sums over every day before the horizon | |
//! | `user_items_daily` | distinct user, `item_id`, `day` | days of the distinct-items window |
//! | `user_periods` | user, cohort `period` (its first day), `event_type`: the same sums over the days before the horizon | |
//!
//! `user_periods` and `user_daily` together hold every day once, by cohort period, so
//! `cohort_retention` needs no event before the recomputed days either
//! ([`cohort_activity_sql`]).
//!
//! A run reads the previous run's three tables as `previous_*` views (or empty ones),
//! the recent days from `events_clean` as `rollup_recent_*` views, and writes its own (names
//! in `crate::sql::views`).

use chrono::NaiveDate;

use crate::sql::views;
use crate::user_features::DAY_OF_TS;

const DAY_US: i64 = 86_400_000_000;

/// The UTC date of `ts` (µs) as a `DATE` (the features' day number, floor-divided).
fn date_of_ts() -> String {
    format!("CAST(CAST({DAY_OF_TS} AS INT) AS DATE)")
}

/// The first microsecond of `day` (a `DATE` column).
fn day_start(day: &str) -> String {
    format!("CAST(CAST({day} AS INT) AS BIGINT) * {DAY_US}")
}

/// A date as a SQL `DATE` literal.
fn date(d: NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

/// Which days a run recomputes and keeps, as dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupDays {
    /// The first day recomputed from the events; None: every day (a rebuild).
    pub recompute_from: Option<NaiveDate>,
    /// The first day `user_daily` keeps; earlier days are summed into `user_history`.
    pub daily_from: NaiveDate,
    /// The first day `user_items_daily` keeps.
    pub items_from: NaiveDate,
    /// The cutoff date: days before it are rolled up.
    pub cutoff: NaiveDate,
}

/// The clean events from `from` (inclusive) to `to` (exclusive) with their `ts` (µs) and `day`.
fn clean_events(from: Option<NaiveDate>, to: NaiveDate) -> String {
    let micros = |d: NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros()
    };
    // The lower bound on `event_time` itself, not `ts`: a comparison with a timestamp can reach
    // the Parquet scan, which may then skip row groups of earlier days by their statistics.
    let lower = from.map_or(String::new(), |f| {
        let utc = "'Timestamp(Microsecond, Some(\"UTC\"))'";
        format!(" WHERE event_time >= arrow_cast({}, {utc})", micros(f))
    });
    format!(
        "SELECT user_id, event_type, item_id, amount, event_time, ts, {date_of_ts} AS day FROM \
           (SELECT *, CAST(event_time AS BIGINT) AS ts FROM events_clean{lower}) \
         WHERE ts < {}",
        micros(to),
        date_of_ts = date_of_ts(),
    )
}

/// `rollup_recent_daily`: the recomputed days' sums per user, day and event type.
pub fn recent_daily_sql(d: &RollupDays) -> String {
    format!(
        "SELECT user_id, day, event_type, count(*) AS events, \
           sum(CAST(amount AS DECIMAL(38, 9))) AS amount, \
           min(event_time) AS first_at, max(event_time) AS last_at \
         FROM ({}) GROUP BY user_id, day, event_type",
        clean_events(d.recompute_from, d.cutoff)
    )
}

/// `rollup_recent_items`: the recomputed days' distinct (user, item, day) in the items window.
pub fn recent_items_sql(d: &RollupDays) -> String {
    let from = d
        .recompute_from
        .map_or(d.items_from, |f| f.max(d.items_from));
    format!(
        "SELECT DISTINCT user_id, item_id, day FROM ({}) WHERE item_id IS NOT NULL",
        clean_events(Some(from), d.cutoff)
    )
}

/// The previous rows of the days before the recomputed ones (none on a rebuild).
fn kept(view: &str, d: &RollupDays) -> String {
    match d.recompute_from {
        Some(from) => format!("SELECT * FROM {view} WHERE day < {}", date(from)),
        None => format!("SELECT * FROM {view} WHERE false"),
    }
}

/// This run's `user_daily`: the previous days kept and the recomputed ones, from the horizon.
pub fn daily_sql(d: &RollupDays) -> String {
    format!(
        "SELECT user_id, day, event_type, events, amount, first_at, last_at FROM \
           ({} UNION ALL SELECT * FROM {}) \
         WHERE day >= {} ORDER BY user_id, day, event_type",
        kept(views::PREVIOUS_DAILY, d),
        views::RECENT_DAILY,
        date(d.daily_from)
    )
}

/// This run's `user_history`: the previous history plus the days that fell behind the
/// horizon, summed per user and event type.
pub fn history_sql(d: &RollupDays) -> String {
    let cols = "user_id, event_type, events, amount, first_at, last_at";
    format!(
        "SELECT user_id, event_type, sum(events) AS events, sum(amount) AS amount, \
           min(first_at) AS first_at, max(last_at) AS last_at FROM \
           (SELECT {cols} FROM {history} \
            UNION ALL SELECT {cols} FROM ({kept} UNION ALL SELECT * FROM {recent}) \
              WHERE day < {horizon}) \
         GROUP BY user_id, event_type ORDER BY user_id, event_type",
        history = views::PREVIOUS_HISTORY,
        kept = kept(views::PREVIOUS_DAILY, d),
        recent = views::RECENT_DAILY,
        horizon = date(d.daily_from),
    )
}

/// The first day of the cohort period (`unit`: `month` or `week`) holding `day` (a `DATE`).
fn period_of(day: &str, unit: &str) -> String {
    format!("CAST(date_trunc('{unit}', CAST({day} AS TIMESTAMP)) AS DATE)")
}

/// This run's `user_periods`: the previous periods plus the days that fell behind the
/// horizon, summed per user, cohort period (`unit`) and event type; as [`history_sql`].
pub fn periods_sql(d: &RollupDays, unit: &str) -> String {
    format!(
        "SELECT user_id, period, event_type, sum(events) AS events, sum(amount) AS amount FROM \
           (SELECT user_id, period, event_type, events, amount FROM {periods} \
            UNION ALL SELECT user_id, {period} AS period, event_type, events, amount \
              FROM ({kept} UNION ALL SELECT * FROM {recent}) WHERE day < {horizon}) \
         GROUP BY user_id, period, event_type ORDER BY user_id, period, event_type",
        periods = views::PREVIOUS_PERIODS,
        period = period_of("day", unit),
        kept = kept(views::PREVIOUS_DAILY, d),
        recent = views::RECENT_DAILY,
        horizon = date(d.daily_from),
    )
}

/// Each user's activity per cohort period (`unit`) from this run's `user_periods` and
/// `user_daily`, shaped as the cohorts' activity from the events
/// (`crate::cohorts`): `at` (the period's start, a time without a zone), `active` (a row of
/// an `active` event type), `revenue` (the purchase types' exact amounts).
pub fn cohort_activity_sql(unit: &str, active: &str, purchases: &str) -> String {
    format!(
        "SELECT user_id, arrow_cast(CAST(period AS TIMESTAMP), 'Timestamp(Microsecond, None)') AS at, \
           bool_or({active}) AS active, \
           sum(CASE WHEN event_type IN ({purchases}) THEN amount END) AS revenue FROM \
           (SELECT user_id, period, event_type, amount FROM {periods} \
            UNION ALL SELECT user_id, {period} AS period, event_type, amount FROM {daily}) \
         GROUP BY 1, 2",
        periods = views::USER_PERIODS,
        period = period_of("day", unit),
        daily = views::USER_DAILY,
    )
}

/// This run's `user_items_daily`: the previous (user, item, day) kept and the recomputed ones.
pub fn items_sql(d: &RollupDays) -> String {
    format!(
        "SELECT user_id, item_id, day FROM ({} UNION ALL SELECT * FROM {}) \
         WHERE day >= {} ORDER BY user_id, item_id, day",
        kept(views::PREVIOUS_ITEMS, d),
        views::RECENT_ITEMS,
        date(d.items_from)
    )
}

/// Empty previous tables, shaped like this run's recomputed ones.
pub fn no_previous_sql(view: &str) -> String {
    let recent = match view {
        views::PREVIOUS_ITEMS => views::RECENT_ITEMS.to_string(),
        views::PREVIOUS_HISTORY => format!(
            "(SELECT user_id, event_type, events, amount, first_at, last_at FROM {})",
            views::RECENT_DAILY
        ),
        views::PREVIOUS_PERIODS => format!(
            "(SELECT user_id, day AS period, event_type, events, amount FROM {})",
            views::RECENT_DAILY
        ),
        _ => views::RECENT_DAILY.to_string(),
    };
    format!("SELECT * FROM {recent} WHERE false")
}

/// The relation `ev` of `user_features` over this run's rollup (see
/// `FeatureSource::Rollup`): the daily rows at their day's first microsecond, the history's
/// with a null `ts` (before every window).
pub(crate) fn feature_rows_sql(purchase: &str) -> String {
    let rows = |ts: &str, view: &str| {
        format!(
            "SELECT user_id, event_type, event_type IN ({purchase}) AS is_purchase, {ts} AS ts, \
               events AS n, amount, first_at, last_at, \
               CAST(first_at AS BIGINT) AS first_ts, CAST(last_at AS BIGINT) AS last_ts \
             FROM {view}"
        )
    };
    format!(
        "{} UNION ALL {}",
        rows(&day_start("day"), views::USER_DAILY),
        rows("CAST(NULL AS BIGINT)", views::USER_HISTORY)
    )
}

/// The relation `item_ev` of `user_features` over this run's `user_items_daily`.
pub(crate) fn item_rows_sql() -> String {
    format!(
        "SELECT user_id, item_id, {} AS ts FROM {}",
        day_start("day"),
        views::USER_ITEMS_DAILY
    )
}

/// The days a window of `user_features` may reach back from the cutoff: the longest of the
/// windows, twice the activity window (the trend's previous window) and the long window.
pub fn horizon_days(f: &lifecycle_spec::ValidFeatures) -> u32 {
    let windows = f.windows_days.iter().copied().max().unwrap_or(0);
    windows
        .max(2 * f.activity_window_days)
        .max(f.long_window_days)
}

impl RollupDays {
    /// The days of a run of `cutoff` after a rollup of `previous` (None: a rebuild): the
    /// previous date's last `lookback` days are recomputed with every day since, to take in
    /// events that arrived late. `horizon` and `items` are the daily and items windows
    /// ([`horizon_days`], the long window); the daily rows reach back at least `lookback` days
    /// too, so that the history never holds a day that is recomputed.
    pub fn new(
        cutoff: NaiveDate,
        previous: Option<NaiveDate>,
        lookback: u32,
        horizon: u32,
        items: u32,
    ) -> RollupDays {
        let back = |d: NaiveDate, days: u32| d - chrono::Days::new(days as u64);
        RollupDays {
            recompute_from: previous.map(|p| back(p, lookback)),
            daily_from: back(cutoff, horizon.max(lookback)),
            items_from: back(cutoff, items),
            cutoff,
        }
    }
}
