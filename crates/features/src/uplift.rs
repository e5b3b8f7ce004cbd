//! The uplift models' training rows: each user of a finished experiment with their features
//! as of their assignment date (before it, so nothing after assignment leaks in), their arm,
//! and their outcome: a purchase in the `window` days from that date.

use crate::sql::{lit, views};
use crate::user_features::DAY_OF_TS;

/// The assignments the models learn from (registered by the uplift step).
pub const UPLIFT_ASSIGNMENTS: &str = "uplift_assignments";

/// The assignment days (days since 1970-01-01) whose window ended on or before `today`.
pub fn finished_days_sql(window: u32, today: i64) -> String {
    format!(
        "SELECT DISTINCT d0 FROM (SELECT CAST(CAST(assigned_on AS INT) AS BIGINT) AS d0 \
           FROM {UPLIFT_ASSIGNMENTS}) WHERE d0 + {window} <= {today} ORDER BY d0"
    )
}

/// The training rows of the users assigned on `day` to `treatment` or `control`:
/// `features` (a `user_features` query with that day's cutoff) with `uplift_treated` (1 or 0)
/// and `uplift_outcome` (a purchase of `purchase` types within the window), by user.
pub fn training_rows_sql(
    features: &str,
    (day, window): (i64, u32),
    (treatment, control): (&str, &str),
    purchase: &str,
) -> String {
    format!(
        "SELECT f.*, CAST(a.arm = {t} AS DOUBLE) AS uplift_treated, \
           o.user_id IS NOT NULL AS uplift_outcome \
         FROM ({features}) f \
         JOIN (SELECT user_id, arm FROM {UPLIFT_ASSIGNMENTS} \
               WHERE CAST(CAST(assigned_on AS INT) AS BIGINT) = {day} AND arm IN ({t}, {c})) a \
           ON a.user_id = f.user_id \
         LEFT JOIN (SELECT DISTINCT user_id FROM \
             (SELECT user_id, event_type, {day_of} AS day FROM \
                (SELECT *, CAST(event_time AS BIGINT) AS ts FROM {events})) \
             WHERE event_type IN ({purchase}) AND day >= {day} AND day < {end}) o \
           ON o.user_id = f.user_id \
         ORDER BY f.user_id",
        t = lit(treatment),
        c = lit(control),
        day_of = DAY_OF_TS,
        events = views::EVENTS_CLEAN,
        end = day + window as i64,
    )
}
