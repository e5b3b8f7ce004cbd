//! Consent and the send history as of the cutoff: who may be contacted on which channel
//! (`consent_state`) and how often each user was contacted per capped channel
//! (`contacts_in_window`). Point in time, like the events: a change or a send at or after the
//! cutoff is not seen.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifecycle_spec::CapSettings;

use crate::sql::{in_list, lit};

/// The consent statuses a consent table may hold; only `subscribed` allows contact.
pub const STATUSES: [&str; 5] = [
    "subscribed",
    "unsubscribed",
    "bounced",
    "complained",
    "manual",
];

/// The view of [`consent_state_sql`].
pub const CONSENT_STATE: &str = "consent_state";
/// The view of [`contacts_in_window_sql`].
pub const CONTACTS_IN_WINDOW: &str = "contacts_in_window";

/// A consent row that cannot be trusted to allow contact: no time, or before the cutoff with
/// no channel or a status outside [`STATUSES`]. Such a row denies its channel (every channel
/// when it has none): an unreadable opt-out must not become a send.
fn unreadable(t: i64) -> String {
    format!(
        "updated_at IS NULL OR (CAST(updated_at AS BIGINT) < {t} AND (channel IS NULL \
         OR status IS NULL OR status NOT IN ({})))",
        statuses()
    )
}

fn statuses() -> String {
    in_list(&STATUSES.map(String::from))
}

/// `consent_mapped` normalised: channel and status trimmed and lower case.
fn normalised() -> &'static str {
    "SELECT user_id, lower(trim(channel)) AS channel, lower(trim(status)) AS status, updated_at \
     FROM consent_mapped WHERE user_id IS NOT NULL"
}

/// `(user_id, channel, allowed)`: per user and channel, whether the latest status before
/// `cutoff` is `subscribed` (of two at the same instant, the one that is not). A null channel
/// (from an unreadable row) denies every channel.
pub fn consent_state_sql(cutoff: DateTime<Utc>) -> String {
    let t = cutoff.timestamp_micros();
    format!(
        "WITH c AS ({normalised}), \
         latest AS (SELECT user_id, channel, status = 'subscribed' AS allowed, \
             ROW_NUMBER() OVER (PARTITION BY user_id, channel \
                 ORDER BY updated_at DESC, CASE WHEN status = 'subscribed' THEN 1 ELSE 0 END) AS rn \
             FROM c WHERE NOT ({unreadable}) AND CAST(updated_at AS BIGINT) < {t}), \
         denied AS (SELECT user_id, channel, false AS allowed FROM c WHERE {unreadable}) \
         SELECT user_id, channel, bool_and(allowed) AS allowed FROM ( \
             SELECT user_id, channel, allowed FROM latest WHERE rn = 1 \
             UNION ALL SELECT user_id, channel, allowed FROM denied) \
         GROUP BY user_id, channel",
        normalised = normalised(),
        unreadable = unreadable(t),
    )
}

/// The number of consent rows that deny because they cannot be read (for the manifest).
pub fn unreadable_consent_sql(cutoff: DateTime<Utc>) -> String {
    let t = cutoff.timestamp_micros();
    format!(
        "SELECT count(*) FROM ({}) WHERE {}",
        normalised(),
        unreadable(t)
    )
}

/// `(user_id, channel, sent)`: contacts per user on each capped channel within its cap's
/// window before `cutoff`. Sends without a readable time are not counted (the manifest counts
/// them).
pub fn contacts_in_window_sql(
    cutoff: DateTime<Utc>,
    caps: &BTreeMap<String, CapSettings>,
) -> String {
    let t = cutoff.timestamp_micros();
    let windows: Vec<String> = caps
        .iter()
        .map(|(channel, cap)| {
            let from = t - cap.days as i64 * 86_400_000_000;
            format!(
                "(channel = {} AND CAST(sent_at AS BIGINT) >= {from})",
                lit(channel)
            )
        })
        .collect();
    let windows = match windows.is_empty() {
        true => "false".to_string(),
        false => windows.join(" OR "),
    };
    format!(
        "SELECT user_id, channel, count(*) AS sent FROM ( \
             SELECT user_id, lower(trim(channel)) AS channel, sent_at FROM contacts_mapped \
             WHERE user_id IS NOT NULL) \
         WHERE CAST(sent_at AS BIGINT) < {t} AND ({windows}) GROUP BY user_id, channel"
    )
}

/// The number of contact rows whose user, channel or time cannot be read.
pub fn unreadable_contacts_sql() -> &'static str {
    "SELECT count(*) FROM contacts_mapped \
     WHERE user_id IS NULL OR channel IS NULL OR sent_at IS NULL"
}

#[cfg(test)]
mod tests;
