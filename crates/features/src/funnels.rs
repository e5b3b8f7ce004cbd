//! `funnel`: per `[[funnels]]` entry and step, the users who did the steps in order within the
//! funnel's window. Matching is greedy from each user's first step-1 event before the cutoff:
//! step `k` is the first event of its type after step `k - 1`'s and no later than the window's
//! end (the first step's time plus `window_days`).

use chrono::{DateTime, Utc};
use lifecycle_spec::FunnelSpec;

use crate::sql::{lit, views};

/// One funnel's queries. `steps[k]` finds the users of step `k + 1` (each user's start, time of
/// the step and of the one before it) from `events_clean` and, after the first, the previous
/// step's view; a run stages each as [`step_view`] before the next, so every step is one scan
/// of the events (DataFusion inlines a CTE at each use: as one query, step `k` would rescan the
/// events for every step before it). `table` reads only the steps' views.
pub struct FunnelQueries {
    pub steps: Vec<String>,
    pub table: String,
}

/// The view of step `n` (1-based) of the funnel numbered `id` (its place in the spec).
pub fn step_view(id: usize, n: usize) -> String {
    format!("funnel_{id}_step_{n}")
}

/// The queries of the funnel numbered `id`; the table's rows: `funnel`, `step` (1-based),
/// `event_type`, `users`, `conversion_from_previous`, `conversion_from_first`,
/// `median_hours_from_previous`.
pub fn funnel_sql(f: &FunnelSpec, id: usize, cutoff: DateTime<Utc>) -> FunnelQueries {
    let t = cutoff.timestamp_micros();
    let window = f.window_days as i64 * 86_400_000_000;
    let ev = format!(
        "WITH ev AS (SELECT user_id, event_type, CAST(event_time AS BIGINT) AS t FROM {} \
         WHERE CAST(event_time AS BIGINT) < {t} AND user_id IS NOT NULL) ",
        views::EVENTS_CLEAN
    );
    let mut steps = vec![format!(
        "{ev}SELECT user_id, min(t) AS start, min(t) AS t, CAST(NULL AS BIGINT) AS prev_t \
         FROM ev WHERE event_type = {} GROUP BY user_id",
        lit(&f.steps[0])
    )];
    for (k, step) in f.steps.iter().enumerate().skip(1) {
        steps.push(format!(
            "{ev}SELECT e.user_id, min(p.start) AS start, min(e.t) AS t, min(p.t) AS prev_t \
             FROM ev e JOIN {prev} p ON p.user_id = e.user_id \
             WHERE e.event_type = {} AND e.t > p.t AND e.t <= p.start + {window} \
             GROUP BY e.user_id",
            lit(step),
            prev = step_view(id, k),
        ));
    }
    FunnelQueries {
        steps,
        table: table_sql(f, id),
    }
}

/// The funnel's rows from its steps' views.
fn table_sql(f: &FunnelSpec, id: usize) -> String {
    let selects: Vec<String> = f
        .steps
        .iter()
        .enumerate()
        .map(|(k, step)| {
            let median = match k {
                0 => "CAST(NULL AS DOUBLE)".to_string(),
                _ => "median(CAST(t - prev_t AS DOUBLE) / 3600000000.0)".to_string(),
            };
            // Counted row by row, not `count(*)`: DataFusion answers that from the Parquet
            // footer (a plan Ballista 55 cannot follow: the job never ends).
            format!(
                "SELECT {n} AS step, {} AS event_type, \
                     coalesce(sum(CASE WHEN t IS NULL THEN 0 ELSE 1 END), 0) AS users, \
                     {median} AS median_hours FROM {view}",
                lit(step),
                n = k + 1,
                view = step_view(id, k + 1),
            )
        })
        .collect();
    format!(
        "WITH steps AS ({}) \
         SELECT {} AS funnel, CAST(step AS INT) AS step, event_type, users, \
             CASE WHEN lag(users) OVER (ORDER BY step) > 0 \
                 THEN CAST(users AS DOUBLE) / lag(users) OVER (ORDER BY step) END \
                 AS conversion_from_previous, \
             CASE WHEN first_value(users) OVER (ORDER BY step) > 0 \
                 THEN CAST(users AS DOUBLE) / first_value(users) OVER (ORDER BY step) END \
                 AS conversion_from_first, \
             median_hours AS median_hours_from_previous \
         FROM steps ORDER BY step",
        selects.join(" UNION ALL "),
        lit(&f.name)
    )
}

#[cfg(test)]
mod tests;
