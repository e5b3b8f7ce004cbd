//! `lifecycle erase`: listed users removed from every committed date, table, export and run
//! folder (a byte scan finds neither their ids nor their keys), through the commit protocol (a
//! crash leaves each date before or after), idempotent, with a log that names no one.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lifecycle_features::pseudonym::IdKey;
use lifecycle_pipeline::{EraseOptions, ErasureList, erase_users};
use lifecycle_storage::Stores;
use sha2::Digest;

use crate::common::*;
use crate::privacy::{
    KEY, VAR, batches, column_names, copy_without, demo_log, demo_spec, files_holding, raw_ids,
    run_binary,
};

/// `lifecycle erase OUT --list LIST [--id-key-env VAR]` with the key in the environment or not.
fn erase_binary(out: &Path, list: &Path, key: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifecycle"));
    cmd.args([
        "erase",
        out.to_str().unwrap(),
        "--list",
        list.to_str().unwrap(),
    ])
    .env("LIFECYCLE_LOG", "warn")
    .env_remove(VAR)
    .env_remove("LIFECYCLE_ID_KEY");
    if let Some(key) = key {
        cmd.args(["--id-key-env", VAR]).env(VAR, key);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Two users of the demo's first run: one an audience contacts (so the CSV exports hold them)
/// and one whose events are planted again as exact duplicates (so the quarantine holds them).
fn two_users(demo: &Path) -> BTreeSet<String> {
    let plain = demo.join("out");
    let first = |table: &str, not: &str| -> String {
        Table::read(&plain, table, "2024-06-29")
            .strings("user_id")
            .into_iter()
            .flatten()
            .find(|u| u != not)
            .unwrap_or_else(|| panic!("{table} has a user"))
    };
    let contacted = first("audience_members", "");
    let duplicated = first("user_features", &contacted);
    plant_duplicates(&demo.join("data/events"), &duplicated);
    BTreeSet::from([contacted, duplicated])
}

/// Writes the events of `user` in the first partition that has some again, beside them.
fn plant_duplicates(events: &Path, user: &str) {
    let mut files: Vec<String> = snapshot(events).into_iter().map(|(rel, _)| rel).collect();
    files.sort();
    for rel in files {
        let path = events.join(&rel);
        for batch in batches(&path) {
            let ids = arrow::compute::cast(
                batch.column_by_name("user_id").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let keep: arrow::array::BooleanArray = arrow::array::AsArray::as_string::<i32>(&ids)
                .iter()
                .map(|id| Some(id == Some(user)))
                .collect();
            let rows = arrow::compute::filter_record_batch(&batch, &keep).unwrap();
            if rows.num_rows() > 0 {
                write_batch(&path.with_file_name("part-dup.parquet"), &rows);
                return;
            }
        }
    }
    panic!("{user} has no events");
}

/// The erase list: `users`, one id nobody has, and request ids.
fn write_list(demo: &Path, users: &BTreeSet<String>) -> PathBuf {
    let mut text = "user_id,requested_at,request_id\n".to_string();
    for (i, u) in users
        .iter()
        .chain(&["nobody-we-know".to_string()])
        .enumerate()
    {
        text.push_str(&format!("{u},2024-07-01T09:00:00Z,req-{i}\n"));
    }
    let list = demo.join("erase.csv");
    fs::write(&list, text).unwrap();
    list
}

/// The files of `out/erasure_log/`, parsed.
fn logs(out: &Path) -> Vec<serde_json::Value> {
    let Ok(dir) = fs::read_dir(out.join("erasure_log")) else {
        return vec![];
    };
    let mut files: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&fs::read(f).unwrap()).unwrap())
        .collect()
}

/// The values of the id column `column` of a table, as a set.
fn ids_of(out: &Path, table: &str, column: &str) -> BTreeSet<String> {
    Table::read(out, table, "2024-06-29")
        .strings(column)
        .into_iter()
        .flatten()
        .collect()
}

/// The latest date's per-user tables under `out` are those of a fresh run over the demo's log
/// without `gone`: the same features, the same users everywhere (model outputs were fitted with
/// them, so the scores themselves may differ; aggregates keep them).
fn assert_like_a_fresh_run_without(
    demo: &Path,
    out: &Path,
    gone: &BTreeSet<String>,
    privacy: &str,
) {
    copy_without(&demo.join("data"), &demo.join("data-without"), gone);
    let fresh = demo_spec(demo, "without.toml", "without", "data-without", privacy);
    let (code, err) = run_binary(&fresh, "2024-06-29", Some(KEY));
    assert_eq!(code, 0, "{err}");
    let without = demo.join("without");
    let features = |o: &Path| Table::read(o, "user_features", "2024-06-29").batch;
    assert_eq!(features(out), features(&without));
    for table in [
        "user_segments",
        "user_profile",
        "user_clusters",
        "customer_value",
    ] {
        assert_eq!(
            ids_of(out, table, "user_key"),
            ids_of(&without, table, "user_key"),
            "{table}"
        );
    }
}

#[test]
fn erasure_leaves_no_trace_of_the_users_in_any_date_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let gone = two_users(&demo);
    let list = write_list(&demo, &gone);
    // With the rollup of `[incremental]` (tables of their own that hold the users), after
    // the `[privacy]` lines.
    let privacy = format!("id_key_env = \"{VAR}\"\nmin_cell_size = 5\n[incremental]\n");
    let spec = demo_spec(&demo, "keyed.toml", "keyed", "data", &privacy);
    // Two dates, the second run twice (its first commit's run folder is superseded).
    for date in ["2024-06-22", "2024-06-29", "2024-06-29"] {
        let (code, err) = run_binary(&spec, date, Some(KEY));
        assert_eq!(code, 0, "{date}: {err}");
    }
    let out = demo.join("keyed");

    let before = snapshot(&out);
    let (code, _, err) = erase_binary(&out, &list, None);
    assert_eq!(code, 2, "{err}");
    let key = IdKey::new(KEY.as_bytes());
    assert!(
        err.contains("--id-key-env") && err.contains(&key.fingerprint()),
        "{err}"
    );
    assert!(
        snapshot(&out) == before,
        "a refused erasure changes nothing"
    );

    let (code, stdout, err) = erase_binary(&out, &list, Some(KEY));
    assert_eq!(code, 0, "{err}");
    let keys: BTreeSet<String> = gone.iter().map(|u| key.user_key(u)).collect();
    let traces: BTreeSet<String> = gone.union(&keys).cloned().collect();
    let leaks = files_holding(&out, &traces);
    assert!(leaks.is_empty(), "erased users still published: {leaks:?}");

    let log = &logs(&out)[0];
    let digest = sha2::Sha256::digest(fs::read(&list).unwrap());
    let sha: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(log["list_sha256"], sha.as_str());
    assert_eq!(
        log["request_ids"],
        serde_json::json!(["req-0", "req-1", "req-2"])
    );
    assert_eq!(log["users_listed"], 3);
    let dates = log["dates"].as_array().unwrap();
    assert_eq!(dates.len(), 2, "{stdout}");
    let removed = |table: &str| dates[1]["rows_removed"][table].as_u64().unwrap_or(0);
    for table in [
        "user_features",
        "quarantine",
        "audience_members",
        "user_profile",
    ] {
        assert!(removed(table) > 0, "{table}: {stdout}");
    }
    let rollup = [
        "user_daily",
        "user_history",
        "user_items_daily",
        "user_periods",
    ];
    let rollup: u64 = rollup.into_iter().map(removed).sum();
    assert!(rollup > 0, "the rollup: {stdout}");
    assert!(
        log["runs_removed"].as_array().unwrap().len() >= 3,
        "the replaced and superseded run folders: {log}"
    );

    assert_like_a_fresh_run_without(&demo, &out, &gone, &privacy);

    let commits = commit_files(&out);
    let (code, stdout, err) = erase_binary(&out, &list, Some(KEY));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(" 0 row(s) from 0 of 2"), "{stdout}");
    assert_eq!(
        commit_files(&out),
        commits,
        "a second erasure commits nothing"
    );
    assert_eq!(logs(&out).len(), 2);
}

/// The ids of every table with `user_id` that the latest commit of `date` names.
fn committed_ids(out: &Path, date: &str) -> BTreeSet<String> {
    let m = crate::privacy::manifest(out, date);
    let mut ids = BTreeSet::new();
    for table in m["outputs"].as_object().unwrap().values() {
        let url = url::Url::parse(table["url"].as_str().unwrap()).unwrap();
        let path = url.to_file_path().unwrap();
        if column_names(&path).contains(&"user_id".to_string()) {
            ids.extend(raw_ids(&path));
        }
    }
    ids
}

#[tokio::test]
async fn a_crash_mid_erasure_leaves_each_date_before_or_after_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let spec = demo.join("demo.toml");
    let (code, _, err) = lifecycle_out(&["run", spec.to_str().unwrap(), "--as-of", "2024-06-22"]);
    assert_eq!(code, 0, "{err}");
    let gone = two_users(&demo);
    let list_file = write_list(&demo, &gone);
    let out_dir = demo.join("out");
    let url = url::Url::from_directory_path(&out_dir).unwrap();
    let list_url = url::Url::from_file_path(&list_file).unwrap();
    let list = ErasureList::read(&Stores::default().open(&list_url).unwrap())
        .await
        .unwrap();
    let opts = EraseOptions {
        keys: vec![],
        lease_ttl: Duration::from_secs(1),
    };

    // The store fails as the second date's rewrite commits: the process "crashes" there.
    let crashing = Stores::default().with_wrapper(Intercept::wrapper(|_, path| {
        match path
            .as_ref()
            .contains("run_manifest/run_date=2024-06-29/commit-")
        {
            true => Action::Fail,
            false => Action::Pass,
        }
    }));
    let out = crashing.open(&url).unwrap();
    let err = erase_users(&out, &list, &opts).await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(
        committed_ids(&out_dir, "2024-06-22").is_disjoint(&gone),
        "the first date is erased"
    );
    assert!(
        gone.is_subset(&committed_ids(&out_dir, "2024-06-29")),
        "the second date is as it was"
    );
    let first_date: BTreeSet<String> = snapshot(&out_dir)
        .into_iter()
        .filter(|(rel, _)| rel.contains("run_date=2024-06-22/") && !rel.starts_with('_'))
        .map(|(rel, _)| rel)
        .collect();
    let stable_leaks: Vec<_> = files_holding(&out_dir, &gone)
        .into_iter()
        .filter(|(p, _)| first_date.iter().any(|rel| p.ends_with(rel)))
        .collect();
    assert!(stable_leaks.is_empty(), "{stable_leaks:?}");
    assert!(
        logs(&out_dir).is_empty(),
        "the log is written on completion"
    );

    // The crashed erasure's lease expires; running it again finishes the work.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = Stores::default().open(&url).unwrap();
    let (log, _) = erase_users(&out, &list, &opts).await.unwrap();
    let dates: Vec<String> = log.dates.iter().map(|d| d.run_date.to_string()).collect();
    assert_eq!(dates, ["2024-06-29"]);
    let leaks = files_holding(&out_dir, &gone);
    assert!(leaks.is_empty(), "{leaks:?}");
}
