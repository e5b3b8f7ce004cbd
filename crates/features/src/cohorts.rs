//! `cohort_retention`: users grouped by the period (month or ISO week, UTC) of their first event
//! before the cutoff, optionally split by one user attribute, and per period since: how many
//! were active (any event, or a purchase) and the revenue per cohort member. Every period from
//! the cohort's own (`period = 0`) through the one holding the last instant before the cutoff
//! is listed, also when nobody came back; that last period is flagged `partial` when the
//! cutoff falls inside it.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use lifecycle_spec::{CohortActivity, CohortPeriod, CohortSettings};

use crate::sql::{ident, in_list, views};
use crate::user_features::FeatureSource;

/// The start of the period holding `t`.
pub fn period_start(period: CohortPeriod, t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    match period {
        CohortPeriod::Month => d.with_day(1).expect("day 1 exists"),
        CohortPeriod::Week => d - Duration::days(d.weekday().num_days_from_monday() as i64),
    }
}

/// The start of the period after the one starting at `start`.
fn next_start(period: CohortPeriod, start: NaiveDate) -> NaiveDate {
    match period {
        CohortPeriod::Month => start + Months::new(1),
        CohortPeriod::Week => start + Duration::days(7),
    }
}

/// `at`'s period index counted from `cohort` (both period starts, SQL timestamps).
fn index_sql(period: CohortPeriod, cohort: &str, at: &str) -> String {
    match period {
        CohortPeriod::Month => format!(
            "(CAST(date_part('year', {at}) AS BIGINT) - CAST(date_part('year', {cohort}) AS BIGINT)) * 12 \
             + CAST(date_part('month', {at}) AS BIGINT) - CAST(date_part('month', {cohort}) AS BIGINT)"
        ),
        CohortPeriod::Week => format!(
            "(CAST({at} AS BIGINT) - CAST({cohort} AS BIGINT)) / {}",
            7 * 86_400_000_000i64
        ),
    }
}

fn utc_literal(d: NaiveDate) -> String {
    let us = d
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros();
    format!("arrow_cast({us}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// The table's two queries. `activity` groups the events before the cutoff by user and period
/// (scanned once: a run stages it as [`views::COHORT_ACTIVITY`]); `table` reads only that, and
/// `users_mapped` with a split.
pub struct CohortQueries {
    pub activity: String,
    pub table: String,
}

/// The queries of `cohort_retention` over `events_clean`, or over the rollup's `user_periods`
/// and `user_daily` (the same rows: see `crate::rollup`). `purchase_types` say which events
/// carry revenue; it is summed as a decimal (exact: the same bytes whatever order DataFusion
/// meets the rows in, as `user_features`' sums).
pub fn cohort_retention_sql(
    c: &CohortSettings,
    cutoff: DateTime<Utc>,
    purchase_types: &[String],
    source: FeatureSource,
) -> CohortQueries {
    let activity = match source {
        FeatureSource::Events => activity_sql(c, cutoff, purchase_types),
        FeatureSource::Rollup => crate::rollup::cohort_activity_sql(
            unit(c.period),
            &active(c, purchase_types),
            &in_list(purchase_types),
        ),
    };
    CohortQueries {
        activity,
        table: table_sql(c, cutoff),
    }
}

/// Whether an event (or a rollup row, by its `event_type`) counts as coming back.
fn active(c: &CohortSettings, purchase_types: &[String]) -> String {
    match c.activity {
        CohortActivity::Any => "true".to_string(),
        CohortActivity::Purchase => format!("event_type IN ({})", in_list(purchase_types)),
    }
}

/// One row per user and period with an event before the cutoff: `at` (the period's start, as
/// a time without a zone: truncating UTC times as plain ones gives the same instants at a third
/// of the cost, and only the few grouped rows are cast back), whether it counts as active, and
/// its revenue.
fn activity_sql(c: &CohortSettings, cutoff: DateTime<Utc>, purchase_types: &[String]) -> String {
    let t = cutoff.timestamp_micros();
    let purchases = in_list(purchase_types);
    let active = active(c, purchase_types);
    format!(
        "SELECT user_id, date_trunc('{unit}', arrow_cast(event_time, 'Timestamp(Microsecond, None)')) AS at, bool_or({active}) AS active, \
             sum(CASE WHEN event_type IN ({purchases}) THEN CAST(amount AS DECIMAL(38, 9)) END) AS revenue \
         FROM {events} WHERE CAST(event_time AS BIGINT) < {t} GROUP BY 1, 2",
        unit = unit(c.period),
        events = views::EVENTS_CLEAN,
    )
}

/// The period's name for `date_trunc`.
pub fn unit(period: CohortPeriod) -> &'static str {
    match period {
        CohortPeriod::Month => "month",
        CohortPeriod::Week => "week",
    }
}

/// The table over [`views::COHORT_ACTIVITY`]. A user's cohort is their earliest period (the
/// period of their first event: truncation keeps the order of instants), and each (user,
/// period) is one activity row, so the retained users of a cell are its active rows.
fn table_sql(c: &CohortSettings, cutoff: DateTime<Utc>) -> String {
    let last = period_start(c.period, cutoff - Duration::microseconds(1));
    // The last period runs past the cutoff (the cutoff is a day's midnight).
    let partial =
        next_start(c.period, last) > cutoff.date_naive() || cutoff.time() != chrono::NaiveTime::MIN;
    // Every row carries a `split` value (null without `split_by`); only a split shows it.
    let (split, split_join, split_out) = match &c.split_by {
        Some(a) => (
            format!("s.{}", ident(a)),
            format!(
                " LEFT JOIN (SELECT user_id, max({0}) AS {0} FROM users_mapped GROUP BY user_id) s \
                 ON s.user_id = c.user_id",
                ident(a)
            ),
            format!(", g.split AS {}", ident(a)),
        ),
        None => ("CAST(NULL AS VARCHAR)".into(), String::new(), String::new()),
    };
    let order = if c.split_by.is_some() {
        "1, 2, 3"
    } else {
        "1, 2"
    };
    let index = index_sql(c.period, "m.cohort", "a.at");
    let last = utc_literal(last);
    format!(
        "WITH a AS (SELECT user_id, arrow_cast(at, 'Timestamp(Microsecond, Some(\"UTC\"))') AS at, \
             active, revenue FROM {activity}), \
         c AS (SELECT user_id, min(at) AS cohort FROM a GROUP BY user_id), \
         m AS (SELECT c.user_id, c.cohort, {split} AS split FROM c{split_join}), \
         p AS (SELECT m.cohort, m.split, {index} AS period, \
             sum(CASE WHEN a.active THEN 1 ELSE 0 END) AS retained, \
             sum(a.revenue) AS revenue \
             FROM a JOIN m ON m.user_id = a.user_id GROUP BY 1, 2, 3), \
         sizes AS (SELECT cohort, split, count(*) AS users FROM m GROUP BY cohort, split), \
         g AS (SELECT cohort, split, users, {last_index} AS last_period, \
             unnest(range(0, {last_index} + 1)) AS period FROM sizes) \
         SELECT CAST(g.cohort AS DATE) AS cohort{split_out}, CAST(g.period AS INT) AS period, \
             g.users, coalesce(p.retained, 0) AS retained, \
             CAST(coalesce(p.retained, 0) AS DOUBLE) / g.users AS rate, \
             CAST(coalesce(p.revenue, 0) AS DOUBLE) / g.users AS revenue_per_user, \
             g.period = g.last_period AND {partial} AS partial \
         FROM g LEFT JOIN p ON p.cohort = g.cohort AND p.period = g.period \
             AND p.split IS NOT DISTINCT FROM g.split \
         ORDER BY {order}",
        activity = views::COHORT_ACTIVITY,
        last_index = index_sql(c.period, "cohort", &last),
    )
}

#[cfg(test)]
mod tests;
