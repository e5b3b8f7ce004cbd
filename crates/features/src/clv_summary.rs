//! The per-customer summary the CLV models take, computed in SQL so it runs wherever the other
//! features run. Conventions of the CLV literature (Fader, Hardie & Lee; the `lifetimes`
//! package), for purchase events before the cutoff `T`:
//!
//! | column | definition |
//! |---|---|
//! | `frequency` | repeat purchase periods: distinct periods (UTC days by default) with a purchase, minus one |
//! | `recency` | first to last purchase period, in time units (weeks = 7 days by default) |
//! | `t` | first purchase period to the last period before the cutoff, in time units |
//! | `monetary` | mean value of the repeat periods (a period's value is the sum of its purchases); null without repeats |
//! | `first_purchase_at` | the first purchase |
//!
//! The last period before the cutoff is the calibration end, inclusive: with a cutoff date of
//! 1997-10-01 and daily periods, calibration ends on 1997-09-30.

use chrono::{DateTime, Utc};

use crate::sql::in_list;

const DAY_US: i64 = 86_400_000_000;

/// The SELECT for the CLV summary from `events_clean`, one row per purchaser, ordered by user.
/// `period_days`: the length of a purchase period; `unit_days`: the time unit of `recency` and `t`.
pub fn clv_summary_sql(
    purchase_types: &[String],
    cutoff: DateTime<Utc>,
    period_days: u32,
    unit_days: f64,
) -> String {
    let t = cutoff.timestamp_micros();
    let period_us = DAY_US * period_days as i64;
    // The period that holds the last instant before the cutoff.
    let end_period = (t - 1).div_euclid(period_us);
    let unit = unit_days / period_days as f64;
    // Amounts are summed as decimals: exact, so the result does not depend on the input's file
    // layout (see `user_features`).
    format!(
        "WITH periods AS (\
           SELECT user_id, CAST(floor(CAST(event_time AS BIGINT) / {period_us}.0) AS BIGINT) AS period, \
                  sum(CAST(amount AS DECIMAL(38, 9))) AS value, min(event_time) AS first_at \
           FROM events_clean \
           WHERE event_type IN ({types}) AND CAST(event_time AS BIGINT) < {t} \
           GROUP BY user_id, CAST(floor(CAST(event_time AS BIGINT) / {period_us}.0) AS BIGINT)), \
         firsts AS (SELECT user_id, min(period) AS first_period FROM periods GROUP BY user_id) \
         SELECT p.user_id AS user_id, \
                CAST(count(*) - 1 AS DOUBLE) AS frequency, \
                CAST(max(p.period) - f.first_period AS DOUBLE) / {unit} AS recency, \
                CAST({end_period} - f.first_period AS DOUBLE) / {unit} AS t, \
                CAST(sum(CASE WHEN p.period > f.first_period THEN p.value END) AS DOUBLE) \
                  / CAST(nullif(count(*) - 1, 0) AS DOUBLE) AS monetary, \
                min(p.first_at) AS first_purchase_at \
         FROM periods p JOIN firsts f ON p.user_id = f.user_id \
         GROUP BY p.user_id, f.first_period \
         ORDER BY user_id",
        types = in_list(purchase_types),
    )
}

/// What each customer did in the holdout `[from, to)`: `user_id`, repeat-counting `periods`
/// (distinct `period_days` periods with a purchase) and `spend`.
pub fn holdout_sql(
    purchase_types: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    period_days: u32,
) -> String {
    let period_us = 86_400_000_000i64 * period_days as i64;
    format!(
        "SELECT user_id, CAST(count(DISTINCT floor(CAST(event_time AS BIGINT) / {period_us}.0)) AS DOUBLE) AS periods, \
                sum(amount) AS spend \
         FROM events_clean WHERE event_type IN ({types}) \
           AND CAST(event_time AS BIGINT) >= {start} AND CAST(event_time AS BIGINT) < {end} \
         GROUP BY user_id",
        types = in_list(purchase_types),
        start = from.timestamp_micros(),
        end = to.timestamp_micros(),
    )
}
