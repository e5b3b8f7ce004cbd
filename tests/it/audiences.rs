//! `user_profile` and the audiences over it, on a hand-made population of ten active users:
//! consent as of the cutoff (an opt-out before it counts, one after it does not), opt-in
//! consent (`default = "deny"`), frequency caps from the send history, the holdout group on two
//! runs, `audience_changes` against the members of two consecutive runs, and bad rules refused
//! with exit code 2. The population and spec are shared with `exports.rs`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use lifecycle_audiences::holdout::bucket;

use crate::common::*;

pub(crate) const USERS: usize = 10;

pub(crate) fn user(i: usize) -> String {
    format!("u{i}")
}

/// Ten users, each with a view on 2024-01-01 and on 2024-05-25: all `active` on June 1st and 2nd.
pub(crate) fn write_population(dir: &Path) {
    let ids: Vec<String> = (0..USERS).map(user).collect();
    let mut events: Vec<Ev> = vec![];
    for id in &ids {
        events.push((id, "2024-01-01T10:00:00Z", "view", Some("i1"), None));
        events.push((id, "2024-05-25T10:00:00Z", "view", Some("i2"), None));
    }
    write_events(&dir.join("events/part-0.parquet"), &events);
}

/// A table of `user_id`, `channel`, `<what>`, `<time>` rows.
fn write_rows(path: &Path, cols: [&str; 4], rows: &[(&str, &str, &str, &str)]) {
    let text = |k: usize| {
        let pick = |r: &(&str, &str, &str, &str)| [r.0, r.1, r.2][k].to_string();
        Arc::new(StringArray::from_iter_values(rows.iter().map(pick))) as _
    };
    let times = TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| ts(r.3)))
        .with_timezone("UTC");
    let batch = RecordBatch::try_from_iter(vec![
        (cols[0], text(0)),
        (cols[1], text(1)),
        (cols[2], text(2)),
        (cols[3], Arc::new(times) as _),
    ])
    .unwrap();
    write_batch(path, &batch);
}

pub(crate) fn write_consent(dir: &Path) {
    write_rows(
        &dir.join("consent.parquet"),
        ["user_id", "channel", "status", "updated_at"],
        &[
            ("u0", "email", "unsubscribed", "2024-05-01T00:00:00Z"),
            // Between the two cutoffs: seen by the June 2nd run only.
            ("u1", "email", "unsubscribed", "2024-06-01T12:00:00Z"),
            ("u2", "sms", "subscribed", "2024-01-01T00:00:00Z"),
            ("u5", "email", "subscribed", "2024-01-01T00:00:00Z"),
        ],
    );
    write_rows(
        &dir.join("contacts.parquet"),
        ["user_id", "channel", "campaign", "sent_at"],
        &[
            ("u3", "email", "a", "2024-05-27T10:00:00Z"),
            ("u3", "email", "b", "2024-05-30T10:00:00Z"),
            ("u4", "email", "a", "2024-05-20T10:00:00Z"), // outside the 7 days
        ],
    );
}

/// The spec: two audiences (email and sms), consent with `default`, caps and a holdout.
pub(crate) fn spec(dir: &Path, default: &str, holdout: f64) -> std::path::PathBuf {
    write_spec(
        dir,
        &format!(
            "[events]\nurl = \"events/\"\n\
             [consent]\nurl = \"consent.parquet\"\ndefault = \"{default}\"\n\
             [contacts]\nurl = \"contacts.parquet\"\n\
             [holdout]\nshare = {holdout}\nseed = \"t\"\n\
             [caps.email]\nmax = 2\ndays = 7\n\
             [[audiences]]\nname = \"news\"\ndescription = \"Active users\"\n\
             when = \"stage = 'active' AND recency_days < 30\"\nchannel = \"email\"\npriority = 2\n\
             [[audiences]]\nname = \"sms-all\"\ndescription = \"Everyone\"\n\
             when = \"stage IS NOT NULL\"\nchannel = \"sms\"\npriority = 1\n"
        ),
    )
}

/// `(audience, user_id)` of a table with those first columns.
fn pairs(out: &Path, table: &str, date: &str) -> BTreeSet<(String, String)> {
    let t = Table::read(out, table, date);
    let a = t.strings("audience");
    let u = t.strings("user_id");
    a.into_iter()
        .zip(u)
        .map(|(a, u)| (a.unwrap(), u.unwrap()))
        .collect()
}

/// The users suppressed from `audience` for `reason` on `date`.
fn suppressed(out: &Path, audience: &str, reason: &str, date: &str) -> BTreeSet<String> {
    let t = Table::read(out, "audience_suppressions", date);
    let rows = t.strings("audience").into_iter().zip(t.strings("user_id"));
    rows.zip(t.strings("reason"))
        .filter(|((a, _), r)| a.as_deref() == Some(audience) && r.as_deref() == Some(reason))
        .map(|((_, u), _)| u.unwrap())
        .collect()
}

fn members(out: &Path, audience: &str, date: &str) -> BTreeSet<String> {
    let all = pairs(out, "audience_members", date);
    all.into_iter()
        .filter(|(a, _)| a == audience)
        .map(|(_, u)| u)
        .collect()
}

#[tokio::test]
async fn consent_is_point_in_time_caps_count_history_and_changes_follow_members() {
    let dir = tempfile::tempdir().unwrap();
    write_population(dir.path());
    write_consent(dir.path());
    let spec = spec(dir.path(), "allow", 0.0);
    let out = dir.path().join("out");
    for d in ["2024-06-01", "2024-06-02"] {
        run(&spec, d, "2024-06-03T00:00:00Z").await.unwrap();
    }
    let everyone: BTreeSet<String> = (0..USERS).map(user).collect();
    // June 1st: u0's earlier opt-out counts, u1's later one does not; u3 had 2 emails in 7 days.
    let d1 = "2024-06-01";
    assert_eq!(
        suppressed(&out, "news", "consent", d1),
        BTreeSet::from(["u0".into()])
    );
    assert_eq!(
        suppressed(&out, "news", "frequency_cap", d1),
        BTreeSet::from(["u3".into()])
    );
    let news1: BTreeSet<String> = everyone
        .iter()
        .filter(|u| !["u0", "u3"].contains(&u.as_str()))
        .cloned()
        .collect();
    assert_eq!(members(&out, "news", d1), news1);
    assert_eq!(members(&out, "sms-all", d1), everyone, "no sms opt-outs");
    let profile = Table::read(&out, "user_profile", d1);
    assert_eq!(profile.len(), USERS);
    let contactable = |u: &str| {
        let (c, i) = (
            profile.batch.column_by_name("contactable_email").unwrap(),
            profile.rows[u],
        );
        arrow::array::AsArray::as_boolean(c.as_ref()).value(i)
    };
    assert!(!contactable("u0") && contactable("u1") && contactable("u9"));
    // June 2nd: u1's opt-out is seen now; u1 exits, and the changes are the set difference.
    let d2 = "2024-06-02";
    assert!(!members(&out, "news", d2).contains("u1"));
    assert!(
        members(&out, "sms-all", d2).contains("u1"),
        "an email opt-out only"
    );
    let (before, after) = (
        pairs(&out, "audience_members", d1),
        pairs(&out, "audience_members", d2),
    );
    let changes = Table::read(&out, "audience_changes", d2);
    let rows = changes
        .strings("audience")
        .into_iter()
        .zip(changes.strings("user_id"));
    let got: BTreeSet<(String, String, String)> = rows
        .zip(changes.strings("change"))
        .map(|((a, u), c)| (a.unwrap(), u.unwrap(), c.unwrap()))
        .collect();
    let mut want: BTreeSet<(String, String, String)> = after
        .difference(&before)
        .map(|(a, u)| (a.clone(), u.clone(), "entered".into()))
        .collect();
    want.extend(
        before
            .difference(&after)
            .map(|(a, u)| (a.clone(), u.clone(), "exited".into())),
    );
    assert_eq!(got, want);
    assert!(got.contains(&("news".into(), "u1".into(), "exited".into())));
    // Members kept from June 1st keep their entry date.
    let m2 = Table::read(&out, "audience_members", d2);
    let entered = m2.batch.column_by_name("entered_on").unwrap();
    let days =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Date32Type>(entered.as_ref());
    assert!(
        days.iter().all(|d| d == Some(19875)),
        "2024-06-01 is day 19875"
    );
}

#[tokio::test]
async fn opt_in_consent_contacts_only_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    write_population(dir.path());
    write_consent(dir.path());
    let spec = spec(dir.path(), "deny", 0.0);
    let summary = run(&spec, "2024-06-01", "2024-06-03T00:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let d = "2024-06-01";
    assert_eq!(members(&out, "sms-all", d), BTreeSet::from(["u2".into()]));
    assert_eq!(members(&out, "news", d), BTreeSet::from(["u5".into()]));
    let report = summary.manifest.audiences.unwrap();
    assert_eq!(report.suppressed["consent"], 2 * USERS as u64 - 2);
}

#[tokio::test]
async fn the_holdout_is_the_same_users_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    write_population(dir.path());
    write_consent(dir.path());
    let spec = spec(dir.path(), "allow", 0.5);
    let out = dir.path().join("out");
    let mut held = vec![];
    for d in ["2024-06-01", "2024-06-02"] {
        let s = run(&spec, d, "2024-06-03T00:00:00Z").await.unwrap();
        held.push(suppressed(&out, "sms-all", "holdout", d));
        assert_eq!(
            s.manifest.audiences.unwrap().held_out,
            held.last().unwrap().len()
        );
    }
    // GrowthBook's hash v2 of seed + id, below the share (the hash is checked against
    // GrowthBook's vectors in lifecycle-audiences).
    let want: BTreeSet<String> = (0..USERS)
        .map(user)
        .filter(|u| bucket("t", u) < 0.5)
        .collect();
    assert!(!want.is_empty() && want.len() < USERS);
    assert_eq!(held[0], want);
    assert_eq!(held[1], want);
}

#[test]
fn a_bad_rule_is_exit_code_2_naming_the_audience() {
    let dir = tempfile::tempdir().unwrap();
    write_population(dir.path());
    write_consent(dir.path());
    let good = std::fs::read_to_string(spec(dir.path(), "allow", 0.0)).unwrap();
    for (from, to, setting) in [
        (
            "stage = 'active' AND recency_days < 30",
            "churn_score",
            "news.when",
        ),
        ("stage IS NOT NULL", "recency_days + 1", "sms-all.when"),
        (
            "priority = 1\n",
            "priority = 1\nmax_size = 3\norder_by = \"stage\"\n",
            "sms-all.order_by",
        ),
    ] {
        let text = good.replacen(from, to, 1);
        let spec = dir.path().join("bad.toml");
        std::fs::write(&spec, text).unwrap();
        let (code, err) = lifecycle(&["validate", spec.to_str().unwrap()]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("audiences.{setting}")), "{err}");
        let (code, err) = lifecycle(&["run", spec.to_str().unwrap(), "--as-of", "2024-06-01"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            !dir.path().join("out/run_manifest").exists(),
            "nothing published"
        );
    }
}
