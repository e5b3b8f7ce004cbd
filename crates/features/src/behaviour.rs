//! The `[features.behaviour]` columns of `user_features` (see `lifecycle_spec::BehaviourSettings`):
//! what they add to the per-user aggregation over `ev` (`crate::user_features`) and to the final SELECT over `agg`
//! (which has the activity-window counts `<type>_<A>d` and `tenure_days`) joined with `days`
//! (`active_days`).

use lifecycle_spec::ValidFeatures;

use crate::sql::{ident, lit};
use crate::user_features::count_where;

const DAY_US: i64 = 86_400_000_000;

/// Days in a month of tenure for `<type>_per_month`.
const MONTH_DAYS: f64 = 30.4375;

/// The aggregates and output columns of the behaviour features, for a cutoff of `t` µs.
pub(crate) struct BehaviourColumns {
    pub agg: Vec<String>,
    pub out: Vec<String>,
}

/// The behaviour columns `f` asks for, in a fixed order: per type (windows, per active day,
/// per month, change, days since), then the ratios.
pub(crate) fn behaviour_columns(f: &ValidFeatures, t: i64) -> BehaviourColumns {
    let b = &f.behaviour;
    let a = f.activity_window_days;
    let since = |days: u32| t - days as i64 * DAY_US;
    let (mut agg, mut out) = (vec![], vec![]);
    for p in &f.per_type {
        let (ty, col) = (lit(&p.event_type), &p.column);
        let count = |from: i64, to: i64, name: &str| {
            let when = format!("ts >= {from} AND ts < {to} AND event_type = {ty}");
            format!("{} AS {}", count_where(&when), ident(name))
        };
        let in_window = ident(&format!("{col}_{a}d"));
        if b.per_type_windows {
            for w in f.windows_days.iter().filter(|w| **w != a) {
                let name = format!("{col}_{w}d");
                agg.push(count(since(*w), t, &name));
                out.push(ident(&name));
            }
        }
        if b.per_active_day {
            out.push(format!(
                "CASE WHEN coalesce(days.active_days, 0) > 0 THEN CAST({in_window} AS DOUBLE) / days.active_days END AS {}",
                ident(&format!("{col}_per_active_day_{a}d"))
            ));
        }
        if b.per_month {
            let total = format!("{col}_total_for_rate");
            // `ev` holds only events before the cutoff.
            agg.push(format!(
                "{} AS {}",
                count_where(&format!("event_type = {ty}")),
                ident(&total)
            ));
            out.push(format!(
                "CAST({} AS DOUBLE) / greatest(tenure_days / {MONTH_DAYS}, 1.0) AS {}",
                ident(&total),
                ident(&format!("{col}_per_month"))
            ));
        }
        if b.change {
            let previous = format!("{col}_prev_{a}d");
            agg.push(count(since(2 * a), since(a), &previous));
            let previous = ident(&previous);
            out.push(format!(
                "CAST({in_window} - {previous} AS DOUBLE) / ({previous} + 1) AS {}",
                ident(&format!("{col}_change_{a}d"))
            ));
        }
        if b.days_since {
            let last = format!("{col}_last_ts");
            agg.push(format!(
                "max(last_ts) FILTER (WHERE event_type = {ty}) AS {}",
                ident(&last)
            ));
            out.push(format!(
                "CAST({t} - {} AS DOUBLE) / {DAY_US}.0 AS {}",
                ident(&last),
                ident(&format!("days_since_{col}"))
            ));
        }
    }
    for (num, den) in &b.ratios {
        let (n, d) = (
            ident(&format!("{}_{a}d", num.column)),
            ident(&format!("{}_{a}d", den.column)),
        );
        out.push(format!(
            "CASE WHEN {d} > 0 THEN CAST({n} AS DOUBLE) / {d} END AS {}",
            ident(&format!("{}_per_{}_{a}d", num.column, den.column))
        ));
    }
    BehaviourColumns { agg, out }
}
