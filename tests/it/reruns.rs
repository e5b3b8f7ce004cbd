//! Reruns replace a date's outputs exactly; the next day's run counts stage transitions from the
//! previous committed run.

use crate::common::*;

fn names(snap: &[(String, Vec<u8>)]) -> Vec<&str> {
    snap.iter().map(|(p, _)| p.as_str()).collect()
}

#[tokio::test]
async fn rerun_is_idempotent_and_transitions_follow_the_previous_run() {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/dt=2024-01-01/part-0.parquet"),
        &[
            ("a", "2024-01-01T00:00:00Z", "view", None, None),
            ("b", "2024-01-01T00:00:00Z", "view", None, None),
            ("b", "2024-02-20T00:00:00Z", "view", None, None),
            ("c", "2024-04-01T00:00:00Z", "view", None, None),
        ],
    );
    let spec = write_spec(dir.path(), "[events]\nurl = \"events/\"\n");
    let out = dir.path().join("out");

    // Both runs happen on 2024-04-15 (day 1 is a backfill over the full log).
    // Day 1 (2024-03-01): a and b are 60 days old; a quiet for 60 days (at_risk), b active.
    let first = run(&spec, "2024-03-01", "2024-04-15T01:00:00Z")
        .await
        .unwrap();
    assert_eq!(first.manifest.previous_run_date, None);
    // The stable copies CRM importers read (run folders and manifests differ by run id).
    let tables = |snap: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        snap.into_iter()
            .filter(|(p, _)| !p.starts_with("run_manifest") && !p.starts_with('_'))
            .collect()
    };
    let once = tables(snapshot(&out));
    let again = run(&spec, "2024-03-01", "2024-04-15T01:00:00Z")
        .await
        .unwrap();
    assert_ne!(again.manifest.run_id(), first.manifest.run_id());
    let after = tables(snapshot(&out));
    assert!(
        after == once,
        "a rerun publishes the same files and nothing else: {:?}",
        names(&after)
    );

    // Day 2 (2024-04-15): a's last event is 105 days old (churned), b's 55 (at_risk); c appears
    // for the first time, 14 days before the cutoff (new), so it comes from no stage.
    let second = run(&spec, "2024-04-15", "2024-04-15T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(second.manifest.previous_run_date, Some(date("2024-03-01")));
    let t = Table::read(&out, "stage_transitions", "2024-04-15");
    let from = t.strings("from_stage");
    let to = t.strings("to_stage");
    let users = t.column_i64("users");
    let got: Vec<(Option<String>, Option<String>, i64)> = (0..t.len())
        .map(|i| (from[i].clone(), to[i].clone(), users[i]))
        .collect();
    assert_eq!(
        got,
        vec![
            (None, Some("new".into()), 1),
            (Some("active".into()), Some("at_risk".into()), 1),
            (Some("at_risk".into()), Some("churned".into()), 1),
        ]
    );
    // Both dates stay committed; no staging data is left behind.
    assert_eq!(
        lifecycle_storage::committed_runs(
            &lifecycle_storage::Stores::default()
                .open(&url::Url::from_directory_path(&out).unwrap())
                .unwrap()
        )
        .await
        .unwrap(),
        vec![date("2024-03-01"), date("2024-04-15")]
    );
    // Two commits of the first date, one of the second; the lease is released.
    let commits = snapshot(&out.join("run_manifest"));
    assert_eq!(
        names(&commits),
        [
            "run_date=2024-03-01/commit-000001.json",
            "run_date=2024-03-01/commit-000002.json",
            "run_date=2024-03-01/manifest.json",
            "run_date=2024-04-15/commit-000001.json",
            "run_date=2024-04-15/manifest.json",
        ]
    );
    assert!(snapshot(&out.join("_leases")).is_empty());
}
