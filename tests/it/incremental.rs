//! `[incremental]`: `user_features` and `cohort_retention` from the rollup equal, byte for
//! byte, those from every event, on five consecutive dates with events arriving late,
//! duplicates across date partitions and a change of windows in the middle, while a run that
//! updates a rollup reads only the recent date partitions; and the manifest says how each
//! rollup was built and what was read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};

use crate::common::*;

const DATES: [&str; 5] = [
    "2024-02-20",
    "2024-02-21",
    "2024-02-22",
    "2024-02-23",
    "2024-02-24",
];

/// A spec over the generated log into `out_<name>`, with `section` (the `[incremental]` part)
/// and `features` (the `[features]` part).
fn spec(dir: &Path, name: &str, section: &str, features: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let body = format!(
        "[job]\nname = \"{name}\"\noutput = \"out_{name}\"\n\
         [events]\nurl = \"data/events/\"\npartition_key = \"dt\"\n\
         [features]\n{features}\n{section}\n"
    );
    std::fs::write(&path, body).unwrap();
    path
}

fn partition(dir: &Path, day: NaiveDate, file: &str) -> PathBuf {
    dir.join(format!("data/events/dt={day}/{file}.parquet"))
}

fn days_before(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap()
}

/// What arrives before the run of `run_date`: events of three days ago filed under yesterday
/// (late, within the default lookback), one event filed twice under two days' partitions, and
/// a copy of a month-old generated event filed under yesterday (duplicates across partitions).
fn arrivals(dir: &Path, run_date: NaiveDate, i: usize) {
    let late = format!("{}T12:00:00Z", days_before(run_date, 3));
    let yesterday = days_before(run_date, 1);
    let users = ["u0000001", "u0000002", "u0000003"];
    let events: Vec<Ev> = users
        .iter()
        .flat_map(|u| {
            [
                (*u, late.as_str(), "view", Some("i00007"), None),
                (
                    *u,
                    late.as_str(),
                    "purchase",
                    Some("i00003"),
                    Some(12.5 + i as f64),
                ),
            ]
        })
        .collect();
    write_events(&partition(dir, yesterday, &format!("late-{i}")), &events);
    let twice_at = format!("{}T08:00:00Z", days_before(run_date, 2));
    let twice: Vec<Ev> = vec![(
        "u0000004",
        twice_at.as_str(),
        "purchase",
        Some("i00001"),
        Some(3.0),
    )];
    write_events(
        &partition(dir, days_before(run_date, 2), &format!("twice-a-{i}")),
        &twice,
    );
    write_events(&partition(dir, yesterday, &format!("twice-b-{i}")), &twice);
    let month_ago = days_before(run_date, 30);
    let old = Table::read_file(&partition(dir, month_ago, "part-00000"));
    write_batch(
        &partition(dir, yesterday, &format!("copy-{i}")),
        &old.batch.slice(0, 2),
    );
}

fn manifest(out: &Path, d: NaiveDate) -> serde_json::Value {
    let path = out.join(format!("run_manifest/run_date={d}/manifest.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn table_bytes(out: &Path, table: &str, d: NaiveDate) -> Vec<u8> {
    std::fs::read(out.join(format!("{table}/run_date={d}/part-0.parquet"))).unwrap()
}

fn features_bytes(out: &Path, d: NaiveDate) -> Vec<u8> {
    table_bytes(out, "user_features", d)
}

#[tokio::test]
async fn incremental_features_equal_full_ones_over_five_dates_of_late_and_repeated_events() {
    let dir = tempfile::tempdir().unwrap();
    // 200 users, 2024-01-01 to 2024-02-29, in `data/events/dt=.../`.
    generate_log(&dir.path().join("data"), 200, 40, 60, "2024-01-01");
    let windows = ["", "long_window_days = 60"];
    let names = ["plain", "full", "incremental", "no_lookback"];
    let sections = [
        "",
        "[incremental]\nmode = \"full\"",
        "[incremental]",
        "[incremental]\nlookback_days = 0",
    ];
    let mut missed = 0;
    for (i, d) in DATES.iter().enumerate() {
        let day = date(d);
        arrivals(dir.path(), day, i);
        // The windows change on the third date: the rollup is rebuilt then.
        let features = windows[usize::from(i >= 2)];
        for (name, section) in names.iter().zip(sections) {
            let spec = spec(dir.path(), name, section, features);
            run(&spec, d, &format!("{d}T02:00:00Z")).await.unwrap();
        }
        let out = |name: &str| dir.path().join(format!("out_{name}"));
        let plain = features_bytes(&out("plain"), day);
        assert!(
            features_bytes(&out("full"), day) == plain,
            "full differs on {d}"
        );
        assert!(
            features_bytes(&out("incremental"), day) == plain,
            "incremental differs on {d}"
        );
        missed += usize::from(features_bytes(&out("no_lookback"), day) != plain);
        let cohorts = |name: &str| table_bytes(&out(name), "cohort_retention", day);
        assert!(cohorts("full") == cohorts("plain"), "full cohorts on {d}");
        assert!(
            cohorts("incremental") == cohorts("plain"),
            "incremental cohorts on {d}"
        );
        let quarantine = Table::read(&out("plain"), "quarantine", d);
        assert!(
            quarantine.len() >= 2,
            "the repeated events are duplicates on {d}"
        );

        let rollup = &manifest(&out("incremental"), day)["rollup"];
        let rebuilt = rollup["rebuilt"].as_str();
        match i {
            0 => assert_eq!(rebuilt, Some("no earlier committed run")),
            2 => assert!(rebuilt.unwrap().contains("other settings"), "{rollup}"),
            _ => {
                assert_eq!(rebuilt, None, "{rollup}");
                let from = days_before(date(DATES[i - 1]), 3);
                assert_eq!(rollup["recomputed_from"], from.to_string());
                // Only the partitions from the day before the recomputed days are read.
                assert_eq!(rollup["partitions_from"], days_before(from, 1).to_string());
                let read = |name: &str| manifest(&out(name), day)["rows"]["read"].as_u64();
                let (recent, all) = (read("incremental").unwrap(), read("plain").unwrap());
                assert!(recent * 3 < all, "{recent} of {all} rows read on {d}");
            }
        }
        if matches!(i, 0 | 2) {
            assert_eq!(
                rollup["partitions_from"],
                serde_json::Value::Null,
                "{rollup}"
            );
        }
        let full = &manifest(&out("full"), day)["rollup"];
        assert_eq!(full["rebuilt"].as_str(), Some("mode = \"full\""));
        assert!(manifest(&out("plain"), day).get("rollup").is_none());
    }
    // Without a lookback the late events are missed on every date a rollup was updated: the
    // late events make a difference the test can see.
    assert_eq!(
        missed, 3,
        "dates where lookback_days = 0 missed the late events"
    );
}

/// What needs every event (a funnel; raw ids beside keys, whose lookup comes from the ids
/// read) makes an incremental run read every partition, and the manifest names it.
#[tokio::test]
async fn what_needs_every_event_keeps_every_partition_read() {
    let dir = tempfile::tempdir().unwrap();
    generate_log(&dir.path().join("data"), 200, 40, 60, "2024-01-01");
    let funnel = "[[funnels]]\nname = \"v-p\"\nsteps = [\"view\", \"purchase\"]\nwindow_days = 7";
    let var = crate::privacy::VAR;
    let raw_ids = format!("[privacy]\nid_key_env = \"{var}\"\npublish_raw_ids = true");
    let plain = spec(dir.path(), "plain", "", "");
    let day = date(DATES[1]);
    run(&plain, DATES[1], &format!("{}T02:00:00Z", DATES[1]))
        .await
        .unwrap();
    let plain = manifest(&dir.path().join("out_plain"), day);
    for (name, extra, needs) in [
        ("funnel", funnel, "funnels"),
        ("raw_ids", raw_ids.as_str(), "privacy.publish_raw_ids"),
    ] {
        let path = spec(dir.path(), name, &format!("[incremental]\n{extra}"), "");
        for d in &DATES[..2] {
            let (code, err) = crate::privacy::run_binary(&path, d, Some(crate::privacy::KEY));
            assert_eq!(code, 0, "{err}");
        }
        let out = dir.path().join(format!("out_{name}"));
        let m = manifest(&out, day);
        let rollup = &m["rollup"];
        assert_eq!(rollup["rebuilt"], serde_json::Value::Null, "{rollup}");
        assert_eq!(rollup["partitions_from"], serde_json::Value::Null);
        assert_eq!(rollup["history_read_by"], serde_json::json!([needs]));
        assert_eq!(m["rows"]["read"], plain["rows"]["read"]);
        if name == "raw_ids" {
            let ids = Table::read(&out, "user_profile", DATES[1]).strings("user_id");
            assert!(
                ids.iter().all(Option::is_some),
                "every profile has its raw id"
            );
        }
    }
}

/// A user put on `[privacy] erase_list` after a run leaves the rollup that run committed as
/// the next run reads it: its rollup and features equal those of a log without the user.
#[tokio::test]
async fn users_on_the_erase_list_leave_the_previous_rollup_too() {
    let dir = tempfile::tempdir().unwrap();
    generate_log(&dir.path().join("data"), 200, 40, 60, "2024-01-01");
    let gone: BTreeSet<String> = ["u0000001", "u0000002"].map(String::from).into();
    crate::privacy::copy_without(&dir.path().join("data"), &dir.path().join("without"), &gone);
    let requested = vec!["2024-02-01T00:00:00Z"; gone.len()];
    let list = arrow::record_batch::RecordBatch::try_from_iter([
        (
            "user_id",
            std::sync::Arc::new(arrow::array::StringArray::from_iter_values(&gone)) as _,
        ),
        (
            "requested_at",
            std::sync::Arc::new(arrow::array::StringArray::from(requested)) as _,
        ),
    ])
    .unwrap();
    write_batch(&dir.path().join("erase.parquet"), &list);
    let erase = "[incremental]\n[privacy]\nerase_list = \"erase.parquet\"";
    for (name, section, d) in [
        ("erasing", "[incremental]", DATES[0]),
        ("erasing", erase, DATES[1]),
        ("without", "[incremental]", DATES[0]),
        ("without", "[incremental]", DATES[1]),
    ] {
        let path = spec(dir.path(), name, section, "");
        if name == "without" {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replace("data/events/", "without/events/")).unwrap();
        }
        run(&path, d, &format!("{d}T02:00:00Z")).await.unwrap();
    }
    let day = date(DATES[1]);
    let out = |name: &str| dir.path().join(format!("out_{name}"));
    let bytes = |name: &str, table: &str| {
        std::fs::read(out(name).join(format!("{table}/run_date={day}/part-0.parquet"))).unwrap()
    };
    assert_eq!(
        manifest(&out("erasing"), day)["rollup"]["rebuilt"],
        serde_json::Value::Null
    );
    for table in [
        "user_daily",
        "user_history",
        "user_items_daily",
        "user_periods",
        "user_features",
        "cohort_retention",
    ] {
        assert!(
            bytes("erasing", table) == bytes("without", table),
            "{table}"
        );
    }
}
