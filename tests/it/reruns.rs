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
    // Two commits of the first date, one of the second, each date's stable manifest and report;
    // the lease is released.
    let commits = snapshot(&out.join("run_manifest"));
    assert_eq!(
        names(&commits),
        [
            "run_date=2024-03-01/commit-000001.json",
            "run_date=2024-03-01/commit-000002.json",
            "run_date=2024-03-01/manifest.json",
            "run_date=2024-03-01/report.html",
            "run_date=2024-04-15/commit-000001.json",
            "run_date=2024-04-15/manifest.json",
            "run_date=2024-04-15/report.html",
        ]
    );
    assert!(snapshot(&out.join("_leases")).is_empty());
}

/// A soak: 30 consecutive daily runs over generated data, every fifth date run twice, with `gc`
/// between them (no grace).
/// Afterwards every committed date is readable, and its tables equal, byte for byte, a fresh
/// run of that date alone (all but `stage_transitions`, which follows the previous run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_daily_runs_with_gc_leave_every_date_as_a_fresh_run_would() {
    let dir = tempfile::tempdir().unwrap();
    let params = lifecycle_synth::GeneratorParams {
        users: 150,
        days: 60,
        ..Default::default()
    };
    lifecycle_synth::generate(&params, &dir.path().join("data")).unwrap();
    let body = "[events]\nurl = \"data/events/\"\n[users]\nurl = \"data/users.parquet\"\n";
    let spec = write_spec(dir.path(), body);
    let out = dir.path().join("out");
    let stores = lifecycle_storage::Stores::default();
    let location = |p: &std::path::Path| {
        stores
            .open(&url::Url::from_directory_path(p).unwrap())
            .unwrap()
    };
    let first = params.end() - chrono::Days::new(30);
    let dates: Vec<chrono::NaiveDate> = (0..30).map(|d| first + chrono::Days::new(d)).collect();
    for (i, d) in dates.iter().enumerate() {
        let run_time = format!("{d}T06:00:00Z");
        run(&spec, &d.to_string(), &run_time).await.unwrap();
        if i % 5 == 0 {
            // A rerun of the date supersedes its first run, which gc then removes.
            run(&spec, &d.to_string(), &run_time).await.unwrap();
        }
        lifecycle_storage::gc(
            &location(&out),
            std::time::Duration::ZERO,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    }
    let committed = lifecycle_storage::committed_runs(&location(&out))
        .await
        .unwrap();
    assert_eq!(committed, dates);
    // gc kept exactly one run folder per date, the committed one; superseded runs are gone.
    // (Counted by their files: a local disk keeps the emptied folders.)
    let runs: std::collections::BTreeSet<String> = snapshot(&out.join("_runs"))
        .into_iter()
        .map(|(p, _)| p.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), dates.len());

    for d in dates.iter().step_by(7) {
        let fresh_dir = tempfile::tempdir().unwrap();
        let mut raw = lifecycle_spec::JobSpec::from_file(&spec).unwrap();
        raw.job.output = fresh_dir.path().to_str().unwrap().to_string();
        let fresh = lifecycle_pipeline::run_job(
            &raw.validate().unwrap(),
            &lifecycle_pipeline::RunOptions {
                as_of: Some(*d),
                run_time: format!("{d}T06:00:00Z").parse().unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let kept = lifecycle_pipeline::Manifest::read(&location(&out), *d)
            .await
            .unwrap();
        // These compare with the previous run by design; a fresh run has none.
        let history = ["stage_transitions", "stage_forecast", "monitoring"];
        for (table, t) in &fresh.manifest.commit.outputs {
            if history.contains(&table.as_str()) {
                continue;
            }
            let path = |u: &str| url::Url::parse(u).unwrap().to_file_path().unwrap();
            let again = std::fs::read(path(&t.url)).unwrap();
            let before = std::fs::read(path(&kept.commit.outputs[table].url)).unwrap();
            assert!(again == before, "{d} {table}: differs from a fresh run");
        }
    }
}
