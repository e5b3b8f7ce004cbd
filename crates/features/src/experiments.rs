//! Each assigned user's experiment metrics: what they did in the `window_days` from their
//! assignment date and, as the CUPED covariate, the same in the `pre_days` before it. One row
//! per experiment and user whose window has ended by the cutoff, so that every user counted
//! had the same time to respond.
//!
//! The metrics: `conversion` (any purchase, 0/1), `revenue` (the purchases' amounts, summed
//! exactly), `retention` (any event in the window's last week, 0/1; before assignment: in the
//! last week, or the `pre_days` when shorter) and, for each event type an experiment names,
//! its events counted. Each metric is a `<metric>_post` and a `<metric>_pre` column, in
//! [`metric_names`]' order.

use crate::sql::{lit, views};
use crate::user_features::DAY_OF_TS;

/// One experiment's windows and counted event types.
#[derive(Debug, Clone)]
pub struct MetricWindows<'a> {
    pub experiment: &'a str,
    pub window_days: u32,
    pub pre_days: u32,
}

/// The metrics every experiment reads out, in column order, then the counted event types.
pub fn metric_names(event_types: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ["conversion", "revenue", "retention"]
        .map(String::from)
        .into();
    names.extend(event_types.iter().map(|t| format!("{t}_events")));
    names
}

/// `CASE experiment WHEN … THEN … END` of one setting per experiment.
fn per_experiment(
    windows: &[MetricWindows<'_>],
    value: impl Fn(&MetricWindows<'_>) -> u32,
) -> String {
    let arms: String = windows
        .iter()
        .map(|w| format!(" WHEN {} THEN {}", lit(w.experiment), value(w)))
        .collect();
    format!("CASE experiment{arms} END")
}

/// The assigned users whose window ended on or before `today` (days since 1970-01-01), with
/// their assignment day `d0`, windows `w` and `p`, and the covariate's retention days `r`.
fn assigned(windows: &[MetricWindows<'_>], today: i64, retention: u32) -> String {
    format!(
        "SELECT experiment, arm, user_id, d0, w, p, r FROM \
           (SELECT experiment, arm, user_id, CAST(CAST(assigned_on AS INT) AS BIGINT) AS d0, \
              {w} AS w, {p} AS p, {r} AS r FROM {view}) \
         WHERE d0 + w <= {today}",
        w = per_experiment(windows, |m| m.window_days),
        p = per_experiment(windows, |m| m.pre_days),
        r = per_experiment(windows, |m| retention.min(m.pre_days)),
        view = views::ASSIGNMENTS,
    )
}

/// The per-user metrics of every experiment in `windows` as of `today`, ordered by
/// experiment and user. `purchase` is the SQL list of purchase types; `retention` the days of
/// the retention metric.
pub fn user_metrics_sql(
    windows: &[MetricWindows<'_>],
    event_types: &[String],
    (purchase, today, retention): (&str, i64, u32),
) -> String {
    let post = "e.day >= a.d0";
    let pre = "e.day < a.d0";
    let flag =
        |cond: &str| format!("CAST(COALESCE(MAX(CASE WHEN {cond} THEN 1 END), 0) AS DOUBLE)");
    let revenue = |when: &str| {
        format!(
            "CAST(COALESCE(SUM(CASE WHEN {when} AND e.is_purchase THEN e.amount END), 0) AS DOUBLE)"
        )
    };
    let count = |when: &str, t: &str| {
        format!(
            "CAST(COUNT(CASE WHEN {when} AND e.event_type = {} THEN 1 END) AS DOUBLE)",
            lit(t)
        )
    };
    let mut columns = vec![
        format!(
            "{} AS conversion_post",
            flag(&format!("{post} AND e.is_purchase"))
        ),
        format!(
            "{} AS conversion_pre",
            flag(&format!("{pre} AND e.is_purchase"))
        ),
        format!("{} AS revenue_post", revenue(post)),
        format!("{} AS revenue_pre", revenue(pre)),
        format!(
            "{} AS retention_post",
            flag(&format!("e.day >= a.d0 + a.w - {retention}"))
        ),
        format!(
            "{} AS retention_pre",
            flag("e.day >= a.d0 - a.r AND e.day < a.d0")
        ),
    ];
    for (i, t) in event_types.iter().enumerate() {
        columns.push(format!("{} AS m{i}_post", count(post, t)));
        columns.push(format!("{} AS m{i}_pre", count(pre, t)));
    }
    format!(
        "SELECT a.experiment, a.arm, a.user_id, {columns} \
         FROM ({assigned}) a LEFT JOIN \
           (SELECT user_id, event_type, CAST(amount AS DECIMAL(38, 9)) AS amount, \
              event_type IN ({purchase}) AS is_purchase, {day} AS day \
            FROM (SELECT *, CAST(event_time AS BIGINT) AS ts FROM {events})) e \
           ON e.user_id = a.user_id AND e.day >= a.d0 - a.p AND e.day < a.d0 + a.w \
         GROUP BY a.experiment, a.arm, a.user_id ORDER BY a.experiment, a.user_id",
        columns = columns.join(", "),
        assigned = assigned(windows, today, retention),
        day = DAY_OF_TS,
        events = views::EVENTS_CLEAN,
    )
}
