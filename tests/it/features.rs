//! The hand-worked feature log: every value below was worked out by hand from the events.
//!
//! Cutoff T = 2024-03-01T00:00Z (2024 is a leap year). Window starts:
//! T−7d = 02-23, T−30d = 01-31, T−60d = 01-01, T−90d = 2023-12-02 (all 00:00 UTC).

use crate::common::*;

const EVENTS: &[Ev] = &[
    // User a: signs up, browses, buys twice; two events at or after T must not count.
    ("a", "2024-01-01T00:00:00Z", "signup", None, None),
    ("a", "2024-01-15T12:00:00Z", "view", Some("i1"), None),
    ("a", "2024-02-10T06:00:00Z", "view", Some("i2"), None),
    ("a", "2024-02-10T18:00:00Z", "like", Some("i2"), None),
    (
        "a",
        "2024-02-20T00:00:00Z",
        "purchase",
        Some("i2"),
        Some(30.0),
    ),
    (
        "a",
        "2024-02-29T12:00:00Z",
        "purchase",
        Some("i3"),
        Some(10.0),
    ),
    ("a", "2024-03-01T00:00:00Z", "view", Some("i9"), None),
    (
        "a",
        "2024-03-05T00:00:00Z",
        "purchase",
        Some("i9"),
        Some(999.0),
    ),
    // User b: an old customer gone quiet.
    ("b", "2023-11-01T00:00:00Z", "view", Some("i1"), None),
    (
        "b",
        "2023-12-15T00:00:00Z",
        "purchase",
        Some("i1"),
        Some(50.0),
    ),
    ("b", "2024-01-20T00:00:00Z", "comment", Some("i4"), None),
    // User c: one share without an item, four days and 18 hours before T.
    ("c", "2024-02-25T06:00:00Z", "share", None, None),
    // User d: only after the cutoff, so not a user yet.
    ("d", "2024-03-02T00:00:00Z", "view", Some("i1"), None),
];

const SPEC: &str = "[events]\nurl = \"events/\"\n";

/// Every `[features.behaviour]` column on, with one ratio.
const BEHAVIOUR: &str = "[features.behaviour]\nper_type_windows = true\nper_active_day = true\n\
    per_month = true\nchange = true\ndays_since = true\nratios = [[\"like\", \"view\"]]\n";

#[tokio::test]
async fn hand_worked_features() {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/dt=2024-02-01/part-0.parquet"),
        EVENTS,
    );
    let spec = write_spec(dir.path(), SPEC);
    run(&spec, "2024-03-01", "2024-03-10T00:00:00Z")
        .await
        .unwrap();
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");

    assert_eq!(f.len(), 3, "users a, b, c; d has no event before T");
    assert_eq!(
        f.strings("user_id"),
        [Some("a".into()), Some("b".into()), Some("c".into())]
    );

    // a: first 01-01 00:00, last 02-29 12:00.
    assert_eq!(
        f.ts("a", "first_event_at"),
        Some(ts("2024-01-01T00:00:00Z"))
    );
    assert_eq!(f.ts("a", "last_event_at"), Some(ts("2024-02-29T12:00:00Z")));
    assert_close(f.f64("a", "tenure_days"), 60.0, "a tenure: 31 + 29 days");
    assert_close(f.f64("a", "recency_days"), 0.5, "a recency");
    assert_eq!(f.i64("a", "events_total"), Some(6));
    assert_eq!(
        f.i64("a", "events_7d"),
        Some(1),
        "only 02-29 is on or after 02-23"
    );
    assert_eq!(f.i64("a", "events_30d"), Some(4), "02-10 x2, 02-20, 02-29");
    assert_eq!(f.i64("a", "events_90d"), Some(6));
    assert_eq!(f.i64("a", "purchase_30d"), Some(2));
    assert_eq!(f.i64("a", "view_30d"), Some(1), "01-15 is before 01-31");
    assert_eq!(f.i64("a", "like_30d"), Some(1));
    assert_eq!(f.i64("a", "signup_30d"), Some(0));
    assert_eq!(
        f.i64("a", "active_days_30d"),
        Some(3),
        "02-10, 02-20, 02-29"
    );
    assert_eq!(f.i64("a", "purchases_total"), Some(2));
    assert_close(
        f.f64("a", "revenue_total"),
        40.0,
        "a revenue (999 is after T)",
    );
    assert_close(f.f64("a", "revenue_90d"), 40.0, "a revenue_90d");
    assert_close(f.f64("a", "avg_order_value"), 20.0, "a aov");
    assert_eq!(
        f.ts("a", "last_purchase_at"),
        Some(ts("2024-02-29T12:00:00Z"))
    );
    assert_close(
        f.f64("a", "purchase_recency_days"),
        0.5,
        "a purchase recency",
    );
    // p = events in [01-01, 01-31) = signup 01-01 00:00 (inclusive) and 01-15 = 2.
    assert_close(f.f64("a", "activity_trend"), (4.0 - 2.0) / 3.0, "a trend");
    assert_eq!(f.i64("a", "distinct_items_90d"), Some(3), "i1, i2, i3");

    // b: 11-01 .. 01-20.
    assert_close(f.f64("b", "tenure_days"), 121.0, "b tenure: 30+31+31+29");
    assert_close(f.f64("b", "recency_days"), 41.0, "b recency: 12 + 29");
    assert_eq!(f.i64("b", "events_total"), Some(3));
    assert_eq!(f.i64("b", "events_7d"), Some(0));
    assert_eq!(f.i64("b", "events_30d"), Some(0));
    assert_eq!(
        f.i64("b", "events_90d"),
        Some(2),
        "12-15 and 01-20 are on or after 12-02"
    );
    assert_eq!(f.i64("b", "comment_30d"), Some(0));
    assert_eq!(f.i64("b", "active_days_30d"), Some(0));
    assert_eq!(f.i64("b", "purchases_total"), Some(1));
    assert_close(f.f64("b", "revenue_total"), 50.0, "b revenue");
    assert_close(f.f64("b", "revenue_90d"), 50.0, "b revenue_90d");
    assert_close(f.f64("b", "avg_order_value"), 50.0, "b aov");
    assert_close(
        f.f64("b", "purchase_recency_days"),
        77.0,
        "b purchase recency: 17 + 31 + 29",
    );
    assert_close(
        f.f64("b", "activity_trend"),
        (0.0 - 1.0) / 2.0,
        "b trend: p = 1 (01-20)",
    );
    assert_eq!(
        f.i64("b", "distinct_items_90d"),
        Some(2),
        "i1 on 12-15, i4 on 01-20"
    );

    // c: one share, 4.75 days before T, no item, no purchase.
    assert_close(f.f64("c", "tenure_days"), 4.75, "c tenure");
    assert_close(f.f64("c", "recency_days"), 4.75, "c recency");
    assert_eq!(f.i64("c", "events_7d"), Some(1));
    assert_eq!(f.i64("c", "share_30d"), Some(1));
    assert_eq!(f.i64("c", "active_days_30d"), Some(1));
    assert_eq!(f.i64("c", "purchases_total"), Some(0));
    assert_close(f.f64("c", "revenue_total"), 0.0, "c revenue");
    assert_eq!(f.f64("c", "avg_order_value"), None, "no purchases: null");
    assert_eq!(f.ts("c", "last_purchase_at"), None);
    assert_eq!(f.f64("c", "purchase_recency_days"), None);
    assert_close(f.f64("c", "activity_trend"), 1.0, "c trend: (1 - 0) / 1");
    assert_eq!(
        f.i64("c", "distinct_items_90d"),
        Some(0),
        "a null item is not an item"
    );

    // Stages by the default rules: c is new, a active, b at risk.
    let s = Table::read(&dir.path().join("out"), "user_segments", "2024-03-01");
    assert_eq!(s.str("a", "stage").as_deref(), Some("active"));
    assert_eq!(s.str("b", "stage").as_deref(), Some("at_risk"));
    assert_eq!(s.str("c", "stage").as_deref(), Some("new"));
    // RFM among a and b (n = 2): the better of two gets 1 + floor(5 * 1 / 2) = 3, the other 1.
    assert_eq!(
        (
            s.i64("a", "recency_score"),
            s.i64("a", "frequency_score"),
            s.i64("a", "monetary_score")
        ),
        (Some(3), Some(3), Some(1))
    );
    assert_eq!(
        (
            s.i64("b", "recency_score"),
            s.i64("b", "frequency_score"),
            s.i64("b", "monetary_score")
        ),
        (Some(1), Some(1), Some(3))
    );
    // a: R3, FM = (3 + 1 + 1) / 2 = 2 -> about_to_sleep; b: R1, FM = (1 + 3 + 1) / 2 = 2 -> hibernating.
    assert_eq!(s.str("a", "rfm_segment").as_deref(), Some("about_to_sleep"));
    assert_eq!(s.str("b", "rfm_segment").as_deref(), Some("hibernating"));
    assert_eq!(s.str("c", "rfm_segment"), None);
}

#[tokio::test]
async fn events_after_the_cutoff_change_nothing() {
    // The same log cut at T, and with a month of later events added (in later partitions and in
    // the same file): identical features, the behaviour columns included.
    let dir = tempfile::tempdir().unwrap();
    let before: Vec<Ev> = EVENTS
        .iter()
        .copied()
        .filter(|e| ts(e.1) < ts("2024-03-01T00:00:00Z"))
        .collect();
    write_events(
        &dir.path().join("cut/events/dt=2024-02-01/part-0.parquet"),
        &before,
    );
    write_events(
        &dir.path().join("full/events/dt=2024-02-01/part-0.parquet"),
        EVENTS,
    );
    write_events(
        &dir.path().join("full/events/dt=2024-03-20/part-0.parquet"),
        &[(
            "a",
            "2024-03-20T00:00:00Z",
            "purchase",
            Some("i1"),
            Some(5.0),
        )],
    );
    for sub in ["cut", "full"] {
        let spec = write_spec(&dir.path().join(sub), &format!("{SPEC}{BEHAVIOUR}"));
        let s = run(&spec, "2024-03-01", "2024-04-01T00:00:00Z")
            .await
            .unwrap();
        if sub == "full" {
            assert_eq!(
                s.manifest.inputs[0].pruned_files, 1,
                "the 03-20 partition is not read"
            );
        }
    }
    let table = |sub: &str| {
        std::fs::read(
            dir.path()
                .join(sub)
                .join("out/user_features/run_date=2024-03-01/part-0.parquet"),
        )
        .unwrap()
    };
    assert_eq!(table("cut"), table("full"));
}

#[tokio::test]
async fn behaviour_features_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/dt=2024-02-01/part-0.parquet"),
        EVENTS,
    );
    let spec = write_spec(dir.path(), &format!("{SPEC}{BEHAVIOUR}"));
    run(&spec, "2024-03-01", "2024-03-10T00:00:00Z")
        .await
        .unwrap();
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    // a: signup 01-01, views 01-15 and 02-10 06:00, like 02-10, purchases 02-20 and 02-29 12:00.
    assert_eq!(f.i64("a", "view_7d"), Some(0));
    assert_eq!(f.i64("a", "view_90d"), Some(2));
    assert_eq!(f.i64("a", "purchase_7d"), Some(1));
    assert_eq!(f.i64("a", "signup_90d"), Some(1));
    // Three active days in the 30-day window (02-10, 02-20, 02-29).
    assert_close(f.f64("a", "purchase_per_active_day_30d"), 2.0 / 3.0, "a");
    assert_close(f.f64("a", "view_per_active_day_30d"), 1.0 / 3.0, "a");
    // Tenure 60 days = 60 / 30.4375 months.
    assert_close(f.f64("a", "view_per_month"), 2.0 / (60.0 / 30.4375), "a");
    // Window [01-31, 03-01) against [01-01, 01-31).
    assert_close(f.f64("a", "view_change_30d"), 0.0, "a: one view each");
    assert_close(f.f64("a", "purchase_change_30d"), 2.0, "a: (2 - 0) / 1");
    assert_close(f.f64("a", "signup_change_30d"), -0.5, "a: (0 - 1) / 2");
    assert_close(f.f64("a", "days_since_view"), 19.75, "a: 02-10 06:00");
    assert_close(f.f64("a", "days_since_purchase"), 0.5, "a");
    assert_eq!(f.f64("a", "days_since_comment"), None, "a never commented");
    assert_close(
        f.f64("a", "like_per_view_30d"),
        1.0,
        "a: one like, one view",
    );
    // b: quiet in the window, so no rate per active day; commented on 01-20.
    assert_eq!(f.i64("b", "comment_90d"), Some(1));
    assert_eq!(f.f64("b", "comment_per_active_day_30d"), None);
    assert_close(
        f.f64("b", "days_since_comment"),
        41.0,
        "b: 12 days to 02-01, then 29",
    );
    // c: one share 4.75 days before T; tenure under a month counts as one.
    assert_close(f.f64("c", "share_per_month"), 1.0, "c");
    assert_close(f.f64("c", "share_per_active_day_30d"), 1.0, "c");
    assert_eq!(f.f64("c", "like_per_view_30d"), None, "c has no views");

    // A ratio must name counted types.
    let bad = format!("{SPEC}[features.behaviour]\nratios = [[\"like\", \"unknown\"]]\n");
    let path = write_spec(dir.path(), &bad);
    let e = lifecycle_spec::JobSpec::from_file(&path)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("features.behaviour.ratios"), "{e}");
}
