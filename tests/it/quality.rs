//! Each data-quality rule on a CSV dump with text times, as real users have them.

use crate::common::*;

const CSV: &str = "\
user_id,event_time,event_type,item_id,amount
u1,2024-02-01 10:00:00,view,i1,
u1,2024-02-01 10:00:00,view,i1,
u1,2024-02-01 10:00:00,view,i1,
,2024-02-02 10:00:00,view,i1,
u2,,view,i1,
u2,yesterday,view,i1,
u2,2024-02-03 10:00:00,,i1,
u3,2024-02-04 10:00:00,purchase,i1,
u3,2024-02-05 10:00:00,purchase,i1,-5
u3,2024-02-06 10:00:00,purchase,i1,12.5
u4,2030-01-01 00:00:00,view,i1,
u4,2024-02-07 10:00:00,like,,
";

fn setup(max_bad: f64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dump")).unwrap();
    std::fs::write(dir.path().join("dump/events.csv"), CSV).unwrap();
    let spec = write_spec(
        dir.path(),
        &format!(
            "[events]\nurl = \"dump/\"\nformat = \"csv\"\n[quality]\nmax_bad_fraction = {max_bad}\n"
        ),
    );
    (dir, spec)
}

#[tokio::test]
async fn every_rule_is_counted_and_quarantined() {
    let (dir, spec) = setup(1.0);
    // Run time 2024-03-01: the 2030 event is far in the future of the run.
    let summary = run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();
    let q = &summary.manifest.quality;
    let want = [
        ("missing_user_id", 1),
        ("missing_event_time", 1),
        ("unparseable_event_time", 1),
        ("missing_event_type", 1),
        ("purchase_without_amount", 1),
        ("negative_purchase_amount", 1),
        ("non_finite_amount", 0),
        ("amount_out_of_range", 0),
        ("future_event_time", 1),
        ("duplicate", 2),
    ];
    for (rule, n) in want {
        assert_eq!(q.get(rule), Some(&n), "{rule}: {q:?}");
    }
    assert_eq!(q.len(), want.len(), "every rule is listed, zeros included");
    let rows = summary.manifest.rows;
    assert_eq!(
        (rows.read, rows.filtered, rows.bad, rows.good),
        (12, 0, 9, 3)
    );

    let out = dir.path().join("out");
    for (table, stats) in &summary.manifest.commit.outputs {
        let file = out.join(format!("{table}/run_date=2024-03-01/part-0.parquet"));
        assert_eq!(
            stats.bytes,
            std::fs::metadata(&file).unwrap().len(),
            "{table} bytes in the manifest"
        );
    }
    let quarantine = Table::read(&out, "quarantine", "2024-03-01");
    assert_eq!(
        quarantine.len(),
        8,
        "duplicates are one record with copies = 2"
    );
    let rules = quarantine.strings("rule");
    let copies = quarantine.column_i64("copies");
    let dup = rules
        .iter()
        .position(|r| r.as_deref() == Some("duplicate"))
        .unwrap();
    assert_eq!(copies[dup], 2);
    assert_eq!(copies.iter().sum::<i64>(), 9);
    let raw = quarantine.strings("raw_event_time");
    let bad_time = rules
        .iter()
        .position(|r| r.as_deref() == Some("unparseable_event_time"))
        .unwrap();
    assert_eq!(
        raw[bad_time].as_deref(),
        Some("yesterday"),
        "the bad value is kept for people to fix"
    );

    let f = Table::read(&out, "user_features", "2024-03-01");
    assert_eq!(
        f.strings("user_id"),
        [Some("u1".into()), Some("u3".into()), Some("u4".into())]
    );
    assert_eq!(
        f.i64("u1", "events_total"),
        Some(1),
        "one copy of the duplicate is kept"
    );
    assert_close(f.f64("u3", "revenue_total"), 12.5, "only the good purchase");
}

#[tokio::test]
async fn too_many_bad_rows_fail_the_run_and_publish_nothing() {
    let (dir, spec) = setup(0.5);
    let err = run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let msg = err.to_string();
    assert!(
        msg.contains("9 of 12")
            && msg.contains("quality.max_bad_fraction")
            && msg.contains("duplicate=2"),
        "{msg}"
    );
    assert!(
        snapshot(&dir.path().join("out")).is_empty(),
        "no table, no manifest, no staging left"
    );
}
