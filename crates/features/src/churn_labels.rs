//! Churn frames: one row per user in the churn model's population at an observation date
//! `T0`, with the user's features as of `T0` and, for training, the observed label.
//!
//! The features are `user_features` computed with the cutoff `T0` (so only events before `T0`),
//! registered by the caller as the table named in [`churn_frame_sql`]. Labels look only at
//! `[T0, T0 + H)`, and `T0 + H` is never after the run's cutoff: a frame never sees an event at
//! or after the cutoff.
//!
//! | mode | population at `T0` | `churned` |
//! |---|---|---|
//! | activity (`churn_event_types` empty) | an event in `[T0 − A, T0)`, i.e. `recency_days <= A` | no event (`activity = "any"`) or no purchase (`"purchase"`) in `[T0, T0 + H)` |
//! | explicit (`churn_event_types` given) | no churn event before `T0` | a churn event in `[T0, T0 + H)` |

use chrono::{DateTime, Utc};
use lifecycle_spec::{ChurnActivity, ChurnSettings};

use crate::sql::in_list;

/// The SELECT of a churn frame from the features table `features` (as of `t0`) and
/// `events_clean`. With `label_end = Some(T0 + H)` it adds the Boolean column `churned`;
/// with `None` it is the scoring frame (population only).
pub fn churn_frame_sql(
    features: &str,
    c: &ChurnSettings,
    purchase_types: &[String],
    t0: DateTime<Utc>,
    label_end: Option<DateTime<Utc>>,
) -> String {
    let t = t0.timestamp_micros();
    let explicit = !c.churn_event_types.is_empty();
    let churn_types = in_list(&c.churn_event_types);
    let mut joins = String::new();
    let mut filter = vec![];
    if explicit {
        joins.push_str(&format!(
            " LEFT JOIN (SELECT DISTINCT user_id FROM events_clean \
               WHERE event_type IN ({churn_types}) AND CAST(event_time AS BIGINT) < {t}) gone \
               ON f.user_id = gone.user_id"
        ));
        filter.push("gone.user_id IS NULL".to_string());
    } else {
        filter.push(format!("f.recency_days <= {}", c.active_window_days));
    }
    let mut label = String::new();
    if let Some(end) = label_end {
        let end = end.timestamp_micros();
        let which = if explicit {
            format!("event_type IN ({churn_types})")
        } else if c.activity == ChurnActivity::Purchase {
            format!("event_type IN ({})", in_list(purchase_types))
        } else {
            "true".to_string()
        };
        joins.push_str(&format!(
            " LEFT JOIN (SELECT DISTINCT user_id FROM events_clean \
               WHERE {which} AND CAST(event_time AS BIGINT) >= {t} \
                 AND CAST(event_time AS BIGINT) < {end}) later \
               ON f.user_id = later.user_id"
        ));
        label = if explicit {
            ", later.user_id IS NOT NULL AS churned".into()
        } else {
            ", later.user_id IS NULL AS churned".into()
        };
    }
    format!(
        "SELECT f.*{label} FROM {features} f{joins} WHERE {} ORDER BY f.user_id",
        filter.join(" AND ")
    )
}
