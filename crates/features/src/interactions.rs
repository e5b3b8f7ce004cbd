//! Implicit feedback for recommendations: one row per (user, item) with the decayed weight of
//! the user's events on the item, from `events_clean`, point in time.
//!
//! `weight = Σ event_weight(type) · 0.5^((end − t) / half_life)` over the user's events on the
//! item with a type listed in `event_weights` and `t` in `[end − window_days, end)`; `bought` is
//! the same sum over purchase-type events with weight 1 (a decayed purchase count, for
//! buy-again and for excluding purchases). Sums are exact decimals, so they do not depend on
//! the input's file layout.

use chrono::{DateTime, Utc};
use lifecycle_spec::RecommendationSettings;

use crate::sql::{in_list, lit};

const DAY_US: i64 = 86_400_000_000;

/// One (user, item) row for the two histories the step needs and the evaluation's relevant
/// pairs, from one scan: `weight`/`bought` before `cutoff`, `train_weight`/`train_bought` before
/// the split date `t0` (each NULL where the pair has no event in that window, decayed to that
/// window's end), and `relevant`: whether the pair has an event in `[t0, cutoff)`. In no order.
pub fn interactions_sql(
    r: &RecommendationSettings,
    purchase_types: &[String],
    cutoff: DateTime<Utc>,
    t0: DateTime<Utc>,
) -> String {
    let (t, split) = (cutoff.timestamp_micros(), t0.timestamp_micros());
    let window = r.window_days as i64 * DAY_US;
    let weight = format!(
        "CASE event_type {} END",
        r.event_weights
            .iter()
            .map(|(ty, w)| format!("WHEN {} THEN {w:?}", lit(ty)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let types: Vec<String> = r.event_weights.keys().cloned().collect();
    let purchase = in_list(purchase_types);
    let sums = |end: i64, name: &str| {
        let inside = format!("ts >= {} AND ts < {end}", end - window);
        let decay = decay(r.half_life_days, end);
        format!(
            "CAST(sum(CASE WHEN {inside} THEN CAST({weight} * {decay} AS DECIMAL(38, 12)) END) \
               AS DOUBLE) AS {name}weight, \
             CAST(sum(CASE WHEN {inside} AND event_type IN ({purchase}) \
               THEN CAST({decay} AS DECIMAL(38, 12)) END) AS DOUBLE) AS {name}bought"
        )
    };
    format!(
        "WITH ev AS (\
           SELECT user_id, item_id, event_type, CAST(event_time AS BIGINT) AS ts \
           FROM events_clean \
           WHERE item_id IS NOT NULL AND event_type IN ({types}) \
             AND CAST(event_time AS BIGINT) >= {start} AND CAST(event_time AS BIGINT) < {t}) \
         SELECT user_id, item_id, {full}, {train}, bool_or(ts >= {split}) AS relevant \
         FROM ev GROUP BY user_id, item_id",
        types = in_list(&types),
        start = split - window,
        full = sums(t, ""),
        train = sums(split, "train_"),
    )
}

/// An event's decay to `end`: `0.5^((end − t) / half_life)`, or 1.
fn decay(half_life_days: Option<f64>, end: i64) -> String {
    match half_life_days {
        Some(h) => format!(
            "power(0.5, CAST({end} - ts AS DOUBLE) / {})",
            h * DAY_US as f64
        ),
        None => "1.0".to_string(),
    }
}

/// Every user of `user_segments` and their stage, by user id.
pub fn user_stages_sql() -> &'static str {
    "SELECT user_id, stage FROM user_segments ORDER BY user_id"
}

/// Item ids and categories of `[items]`, where the category is known.
pub fn item_categories_sql() -> &'static str {
    "SELECT CAST(item_id AS VARCHAR), CAST(category AS VARCHAR) FROM items_mapped WHERE category IS NOT NULL"
}
