//! `funnel`: per `[[funnels]]` entry and step, the users who did the steps in order within the
//! funnel's window. Matching is greedy from each user's first step-1 event before the cutoff:
//! step `k` is the first event of its type after step `k - 1`'s and no later than the window's
//! end (the first step's time plus `window_days`).

use chrono::{DateTime, Utc};
use lifecycle_spec::FunnelSpec;

use crate::sql::lit;

/// One funnel's rows: `funnel`, `step` (1-based), `event_type`, `users`,
/// `conversion_from_previous`, `conversion_from_first`, `median_hours_from_previous`.
pub fn funnel_sql(f: &FunnelSpec, cutoff: DateTime<Utc>) -> String {
    let t = cutoff.timestamp_micros();
    let window = f.window_days as i64 * 86_400_000_000;
    let mut ctes = vec![format!(
        "ev AS (SELECT user_id, event_type, CAST(event_time AS BIGINT) AS t FROM events_clean \
         WHERE CAST(event_time AS BIGINT) < {t} AND user_id IS NOT NULL)"
    )];
    ctes.push(format!(
        "s1 AS (SELECT user_id, min(t) AS start, min(t) AS t FROM ev WHERE event_type = {} GROUP BY user_id)",
        lit(&f.steps[0])
    ));
    for (k, step) in f.steps.iter().enumerate().skip(1) {
        let (n, prev) = (k + 1, k);
        ctes.push(format!(
            "s{n} AS (SELECT e.user_id, min(p.start) AS start, min(e.t) AS t, min(p.t) AS prev_t \
             FROM ev e JOIN s{prev} p ON p.user_id = e.user_id \
             WHERE e.event_type = {} AND e.t > p.t AND e.t <= p.start + {window} \
             GROUP BY e.user_id)",
            lit(step)
        ));
    }
    let selects: Vec<String> = f
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| {
            let median = match k {
                0 => "CAST(NULL AS DOUBLE)".to_string(),
                _ => "median(CAST(t - prev_t AS DOUBLE) / 3600000000.0)".to_string(),
            };
            format!(
                "SELECT {n} AS step, {} AS event_type, count(*) AS users, {median} AS median_hours \
                 FROM s{n}",
                lit(step),
                n = k + 1
            )
        })
        .collect();
    format!(
        "WITH {}, steps AS ({}) \
         SELECT {} AS funnel, CAST(step AS INT) AS step, event_type, users, \
             CASE WHEN lag(users) OVER (ORDER BY step) > 0 \
                 THEN CAST(users AS DOUBLE) / lag(users) OVER (ORDER BY step) END \
                 AS conversion_from_previous, \
             CASE WHEN first_value(users) OVER (ORDER BY step) > 0 \
                 THEN CAST(users AS DOUBLE) / first_value(users) OVER (ORDER BY step) END \
                 AS conversion_from_first, \
             median_hours AS median_hours_from_previous \
         FROM steps ORDER BY step",
        ctes.join(", "),
        selects.join(" UNION ALL "),
        lit(&f.name)
    )
}

#[cfg(test)]
mod tests;
