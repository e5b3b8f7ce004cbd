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

/// The interactions before `end` (the cutoff, or the evaluation's split date).
pub fn interactions_sql(
    r: &RecommendationSettings,
    purchase_types: &[String],
    end: DateTime<Utc>,
) -> String {
    let t = end.timestamp_micros();
    let start = t - r.window_days as i64 * DAY_US;
    let decay = match r.half_life_days {
        Some(h) => format!(
            "power(0.5, CAST({t} - ts AS DOUBLE) / {})",
            h * DAY_US as f64
        ),
        None => "1.0".to_string(),
    };
    let weight = format!(
        "CASE event_type {} END",
        r.event_weights
            .iter()
            .map(|(ty, w)| format!("WHEN {} THEN {w:?}", lit(ty)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let types: Vec<String> = r.event_weights.keys().cloned().collect();
    format!(
        "WITH ev AS (\
           SELECT user_id, item_id, event_type, CAST(event_time AS BIGINT) AS ts \
           FROM events_clean \
           WHERE item_id IS NOT NULL AND event_type IN ({types}) \
             AND CAST(event_time AS BIGINT) >= {start} AND CAST(event_time AS BIGINT) < {t}) \
         SELECT user_id, item_id, \
                CAST(sum(CAST({weight} * {decay} AS DECIMAL(38, 12))) AS DOUBLE) AS weight, \
                coalesce(CAST(sum(CASE WHEN event_type IN ({purchase}) \
                  THEN CAST({decay} AS DECIMAL(38, 12)) END) AS DOUBLE), 0.0) AS bought \
         FROM ev GROUP BY user_id, item_id ORDER BY user_id, item_id",
        types = in_list(&types),
        purchase = in_list(purchase_types),
    )
}

/// The (user, item) pairs with a weighted event in `[from, to)`: what the evaluation counts
/// as relevant.
pub fn relevant_sql(r: &RecommendationSettings, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let types: Vec<String> = r.event_weights.keys().cloned().collect();
    format!(
        "SELECT DISTINCT user_id, item_id FROM events_clean \
         WHERE item_id IS NOT NULL AND event_type IN ({}) \
           AND CAST(event_time AS BIGINT) >= {} AND CAST(event_time AS BIGINT) < {}",
        in_list(&types),
        from.timestamp_micros(),
        to.timestamp_micros()
    )
}

/// Every user of `user_segments` and their stage, by user id.
pub fn user_stages_sql() -> &'static str {
    "SELECT user_id, stage FROM user_segments ORDER BY user_id"
}

/// Item ids and categories of `[items]`, where the category is known.
pub fn item_categories_sql() -> &'static str {
    "SELECT CAST(item_id AS VARCHAR), CAST(category AS VARCHAR) FROM items_mapped WHERE category IS NOT NULL"
}
