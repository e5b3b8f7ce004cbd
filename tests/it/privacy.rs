//! `[privacy] id_key_env`: published tables carry keyed ids only, the same key gives the same
//! keys on every run, and a missing key publishes nothing (the real binary, as a CronJob runs it).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::DataType;
use lifecycle_features::pseudonym::IdKey;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

pub(crate) const VAR: &str = "LIFECYCLE_TEST_ID_KEY";
pub(crate) const KEY: &str = "a test key of thirty-two bytes!!";

/// Runs the binary on `spec` as of `date`, with the key in the environment or not.
pub(crate) fn run_binary(spec: &Path, date: &str, key: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifecycle"));
    cmd.args(["run", spec.to_str().unwrap(), "--as-of", date])
        .env("LIFECYCLE_LOG", "warn")
        .env_remove(VAR);
    if let Some(key) = key {
        cmd.env(VAR, key);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap(), err)
}

/// The batches of a Parquet file.
pub(crate) fn batches(path: &Path) -> Vec<arrow::record_batch::RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// Every value of every column of a Parquet file, as text.
pub(crate) fn parquet_values(path: &Path) -> Vec<String> {
    let mut values = vec![];
    for batch in batches(path) {
        for column in batch.columns() {
            let Ok(text) = cast(column, &DataType::Utf8) else {
                continue; // lists and structs: their strings are scanned as bytes too
            };
            values.extend(text.as_string::<i32>().iter().flatten().map(str::to_string));
        }
    }
    values
}

/// Every file under `dir` that holds one of `ids`: in its bytes, or in a Parquet column's values
/// (compressed pages hide the bytes).
pub(crate) fn files_holding(dir: &Path, ids: &BTreeSet<String>) -> Vec<(PathBuf, String)> {
    let mut found = vec![];
    for (rel, bytes) in snapshot(dir) {
        let path = dir.join(&rel);
        let text = String::from_utf8_lossy(&bytes);
        let mut hit = ids.iter().find(|id| text.contains(id.as_str())).cloned();
        if hit.is_none() && rel.ends_with(".parquet") {
            let values: BTreeSet<String> = parquet_values(&path).into_iter().collect();
            hit = ids.iter().find(|id| values.contains(*id)).cloned();
        }
        if let Some(id) = hit {
            found.push((path, id));
        }
    }
    found
}

/// The values of the column `name` of a Parquet file, as text.
pub(crate) fn column_strings(path: &Path, name: &str) -> Vec<Option<String>> {
    let mut values = vec![];
    for batch in batches(path) {
        let column = cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
        values.extend(
            column
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string)),
        );
    }
    values
}

/// The `user_id`s of a Parquet file.
pub(crate) fn raw_ids(path: &Path) -> BTreeSet<String> {
    column_strings(path, "user_id")
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn keyed_runs_publish_no_raw_id_and_the_same_keys_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let spec = demo_spec(
        &demo,
        "keyed.toml",
        "keyed",
        "data",
        &format!("id_key_env = \"{VAR}\"\n"),
    );
    let out = demo.join("keyed");

    let (code, err) = run_binary(&spec, "2024-06-29", None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("privacy.id_key_env") && err.contains(VAR),
        "{err}"
    );
    assert!(
        !out.join("run_manifest").exists(),
        "a refused run publishes nothing"
    );

    for date in ["2024-06-29", "2024-07-06"] {
        let (code, err) = run_binary(&spec, date, Some(KEY));
        assert_eq!(code, 0, "{date}: {err}");
    }
    let raw = raw_ids(&demo.join("data/users.parquet"));
    assert!(raw.len() >= 300, "{} users", raw.len());
    let leaks = files_holding(&out, &raw);
    assert!(leaks.is_empty(), "raw ids published: {leaks:?}");
    // A committed run folder keeps only what its commit names: no staged working sets.
    for (rel, _) in snapshot(&out.join("_runs")) {
        let folder = rel.split('/').nth(1).unwrap_or("");
        assert!(!folder.starts_with('_'), "staged file kept: _runs/{rel}");
    }
    let key_leaks = files_holding(&out, &BTreeSet::from([KEY.to_string()]));
    assert!(
        key_leaks.is_empty(),
        "the key itself published: {key_leaks:?}"
    );

    let key = IdKey::new(KEY.as_bytes());
    let keyed: BTreeSet<String> = raw.iter().map(|id| key.user_key(id)).collect();
    for date in ["2024-06-29", "2024-07-06"] {
        for table in [
            "user_features",
            "user_segments",
            "churn_scores",
            "user_profile",
        ] {
            let t = Table::read(&out, table, date);
            assert!(t.batch.column_by_name("user_id").is_none(), "{table}");
            let keys: BTreeSet<String> = t.strings("user_key").into_iter().flatten().collect();
            assert!(
                !keys.is_empty() && keys.is_subset(&keyed),
                "{table} {date}: keys of the raw ids, by the same key"
            );
        }
        let manifest =
            fs::read_to_string(out.join(format!("run_manifest/run_date={date}/manifest.json")))
                .unwrap();
        let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(m["privacy"]["key_fingerprint"], key.fingerprint());
        assert_eq!(m["privacy"]["id_column"], "user_key");
    }
    // `lifecycle score` on keyed features writes keyed scores, the run's own.
    let features = out.join("user_features/run_date=2024-07-06/part-0.parquet");
    let rescored = demo.join("rescored.parquet");
    let (code, _, err) = lifecycle_score(&out, &features, &rescored);
    assert_eq!(code, 0, "{err}");
    let mut run_keys = Table::read(&out, "churn_scores", "2024-07-06").strings("user_key");
    let mut score_keys = column_strings(&rescored, "user_key");
    run_keys.sort();
    score_keys.sort();
    assert_eq!(score_keys, run_keys);
    // The second run found the first one's users by their keys: some kept their stage.
    let moves = Table::read(&out, "stage_transitions", "2024-07-06");
    let (from, to) = (moves.strings("from_stage"), moves.strings("to_stage"));
    assert!(
        from.iter().zip(&to).any(|(f, t)| f.is_some() && f == t),
        "stage_transitions: {from:?} -> {to:?}"
    );
}

/// Copies every Parquet file under `from` to the same place under `to`, without the rows of
/// `users` (files without `user_id` as they are).
pub(crate) fn copy_without(from: &Path, to: &Path, users: &BTreeSet<String>) {
    for (rel, bytes) in snapshot(from) {
        let target = to.join(&rel);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        if !rel.ends_with(".parquet") || !column_names(&from.join(&rel)).contains(&"user_id".into())
        {
            fs::write(&target, bytes).unwrap();
            continue;
        }
        let parts = batches(&from.join(&rel));
        let batch = arrow::compute::concat_batches(&parts[0].schema(), &parts).unwrap();
        let ids = cast(batch.column_by_name("user_id").unwrap(), &DataType::Utf8).unwrap();
        let keep: arrow::array::BooleanArray = ids
            .as_string::<i32>()
            .iter()
            .map(|id| Some(!id.is_some_and(|id| users.contains(id))))
            .collect();
        write_batch(
            &target,
            &arrow::compute::filter_record_batch(&batch, &keep).unwrap(),
        );
    }
}

pub(crate) fn column_names(path: &Path) -> Vec<String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap()).unwrap();
    builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// `lifecycle demo --users 300` in `dir/demo`: its log, its spec and a first run; the folder.
pub(crate) fn demo_log(dir: &Path) -> PathBuf {
    let demo = dir.join("demo");
    let (code, _, err) =
        lifecycle_out(&["demo", "--dir", demo.to_str().unwrap(), "--users", "300"]);
    assert_eq!(code, 0, "{err}");
    demo
}

/// The demo's spec with `output` and the inputs under `data`, its `[privacy]` section's
/// settings replaced by `privacy` (TOML lines).
pub(crate) fn demo_spec(
    demo: &Path,
    name: &str,
    output: &str,
    data: &str,
    privacy: &str,
) -> PathBuf {
    let text = fs::read_to_string(demo.join("demo.toml")).unwrap();
    let (text, demo_privacy) = text
        .split_once("[privacy]")
        .expect("the demo has [privacy]");
    assert!(
        !demo_privacy.contains("\n["),
        "[privacy] is the demo's last section"
    );
    let text = text
        .replace("output = \"out\"", &format!("output = \"{output}\""))
        .replace("\"data/", &format!("\"{data}/"));
    let spec = demo.join(name);
    fs::write(&spec, format!("{text}[privacy]\n{privacy}")).unwrap();
    spec
}

pub(crate) fn manifest(out: &Path, date: &str) -> serde_json::Value {
    let path = out.join(format!("run_manifest/run_date={date}/manifest.json"));
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn erased_users_are_dropped_as_read_and_the_tables_equal_a_run_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let all = raw_ids(&demo.join("data/users.parquet"));
    let gone: BTreeSet<String> = all.iter().take(3).cloned().collect();
    let mut listed: Vec<&str> = gone.iter().map(String::as_str).collect();
    listed.extend(["nobody-we-know", "u0000001"]);
    let requests = arrow::record_batch::RecordBatch::try_from_iter([
        (
            "user_id",
            std::sync::Arc::new(arrow::array::StringArray::from(listed)) as _,
        ),
        (
            "requested_at",
            std::sync::Arc::new(arrow::array::StringArray::from(vec![
                "2024-05-01T00:00:00Z";
                5
            ])) as _,
        ),
    ])
    .unwrap();
    write_batch(&demo.join("erase.parquet"), &requests);
    let gone: BTreeSet<String> = gone
        .into_iter()
        .chain(["u0000001".to_string()])
        .filter(|u| all.contains(u))
        .collect();
    copy_without(&demo.join("data"), &demo.join("data-without"), &gone);

    let erasing = demo_spec(
        &demo,
        "erasing.toml",
        "erasing",
        "data",
        "erase_list = \"erase.parquet\"\n",
    );
    let without = demo_spec(&demo, "without.toml", "without", "data-without", "");
    for spec in [&erasing, &without] {
        let (code, _, err) =
            lifecycle_out(&["run", spec.to_str().unwrap(), "--as-of", "2024-06-29"]);
        assert_eq!(code, 0, "{}: {err}", spec.display());
    }
    let (a, b) = (demo.join("erasing"), demo.join("without"));
    let leaks = files_holding(&a, &gone);
    assert!(leaks.is_empty(), "erased users published: {leaks:?}");
    let (ma, mb) = (manifest(&a, "2024-06-29"), manifest(&b, "2024-06-29"));
    let erased = ma["rows"]["erased"].as_u64().unwrap();
    assert!(erased > 0, "the erased users had events");
    assert_eq!(
        ma["rows"]["read"].as_u64().unwrap() - erased,
        mb["rows"]["read"].as_u64().unwrap()
    );
    for key in ["filtered", "bad", "good"] {
        assert_eq!(ma["rows"][key], mb["rows"][key], "rows.{key}");
    }
    // Every table but monitoring (whose row counts see the rows read) is the same, byte for byte.
    let tables = |out: &Path| -> Vec<(String, Vec<u8>)> {
        snapshot(out)
            .into_iter()
            .filter(|(rel, _)| {
                !rel.starts_with('_')
                    && !rel.starts_with("run_manifest")
                    && !rel.starts_with("monitoring")
            })
            .filter(|(rel, _)| !rel.contains("commit-"))
            .collect()
    };
    let (ta, tb) = (tables(&a), tables(&b));
    assert_eq!(
        ta.iter().map(|t| &t.0).collect::<Vec<_>>(),
        tb.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in ta.iter().zip(&tb) {
        assert!(
            x == y,
            "{name} differs from the run without the erased users"
        );
    }
}

#[tokio::test]
async fn retention_removes_exactly_the_old_dates_and_empties_old_quarantines() {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/part-0.parquet"),
        &[
            ("a", "2024-02-01T10:00:00Z", "view", None, None),
            (
                "b",
                "2024-02-02T10:00:00Z",
                "purchase",
                Some("i"),
                Some(2.0),
            ),
            ("c", "2024-02-03T10:00:00Z", "purchase", Some("i"), None),
        ],
    );
    let body = "[events]\nurl = \"events/\"\n[quality]\nmax_bad_fraction = 0.5\n\
                [retention]\ndays = 2\nquarantine_days = 1\n";
    let spec = write_spec(dir.path(), body);
    let mut runs = vec![];
    for date in ["2024-02-10", "2024-02-11", "2024-02-12", "2024-02-13"] {
        let s = run(&spec, date, &format!("{date}T06:00:00Z"))
            .await
            .unwrap();
        runs.push(s);
    }
    let removed: Vec<Vec<String>> = runs
        .iter()
        .map(|s| {
            let r = s.retention.as_ref().unwrap();
            r.dates_removed.iter().map(|d| d.to_string()).collect()
        })
        .collect();
    assert_eq!(
        removed,
        [
            vec![],
            vec![],
            vec!["2024-02-10".to_string()],
            vec!["2024-02-11".to_string()]
        ]
    );
    let out = dir.path().join("out");
    for (rel, _) in snapshot(&out) {
        assert!(
            !rel.contains("run_date=2024-02-10") && !rel.contains("run_date=2024-02-11"),
            "{rel} left"
        );
        for s in &runs[..2] {
            assert!(
                !rel.contains(s.manifest.run_id()),
                "{rel}: a removed date's run folder"
            );
        }
    }
    for s in &runs[2..] {
        assert!(
            out.join("_runs").join(s.manifest.run_id()).is_dir(),
            "a kept date's run folder"
        );
    }
    let quarantined = |date: &str| {
        let path = out.join(format!("quarantine/run_date={date}/part-0.parquet"));
        let file = fs::File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        reader.metadata().file_metadata().num_rows()
    };
    assert_eq!(
        (quarantined("2024-02-12"), quarantined("2024-02-13")),
        (0, 1)
    );
    assert_eq!(
        Table::read(&out, "user_features", "2024-02-12").len(),
        2,
        "kept tables as they were"
    );

    // `gc --retention-days` counts back from today: every date of 2024 is old by now.
    let (code, stdout, err) =
        lifecycle_out(&["gc", out.to_str().unwrap(), "--retention-days", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("removed 2 date(s) [2024-02-12, 2024-02-13]"),
        "{stdout}"
    );
    let left: Vec<String> = snapshot(&out).into_iter().map(|(rel, _)| rel).collect();
    assert!(
        left.iter().all(|rel| !rel.contains("run_date=")),
        "{left:?}"
    );
}

/// A row of an aggregate table: its keys, its counts, and every other value, as text.
type Cell = (Vec<String>, Vec<Option<i64>>, Vec<String>);

/// Every row of an aggregate table as [`Cell`]s.
fn cells(path: &Path, keys: &[&str], counts: &[&str]) -> Vec<Cell> {
    let names = column_names(path);
    let text: Vec<Vec<Option<String>>> = names.iter().map(|n| column_strings(path, n)).collect();
    let rows = text.first().map_or(0, Vec::len);
    (0..rows)
        .map(|i| {
            let pick = |wanted: bool| -> Vec<String> {
                names
                    .iter()
                    .zip(&text)
                    .filter(|(n, _)| {
                        keys.contains(&n.as_str()) == wanted
                            && !counts.contains(&n.as_str())
                            && n.as_str() != "suppressed"
                    })
                    .map(|(_, c)| c[i].clone().unwrap_or_else(|| "NULL".into()))
                    .collect()
            };
            let n = counts
                .iter()
                .map(|c| {
                    text[names.iter().position(|x| x == c).unwrap()][i]
                        .as_ref()
                        .map(|v| v.parse().unwrap())
                })
                .collect();
            (pick(true), n, pick(false))
        })
        .collect()
}

#[test]
fn small_cells_are_suppressed_and_every_other_cell_is_as_published_without_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let open = demo_spec(&demo, "open.toml", "open", "data", "");
    let small = demo_spec(&demo, "small.toml", "small", "data", "min_cell_size = 5\n");
    for spec in [&open, &small] {
        for date in ["2024-06-29", "2024-07-06"] {
            let (code, _, err) = lifecycle_out(&["run", spec.to_str().unwrap(), "--as-of", date]);
            assert_eq!(code, 0, "{}: {err}", spec.display());
        }
    }
    let mut suppressed = 0;
    for (table, keys, counts) in [
        (
            "stage_transitions",
            &["from_stage", "to_stage"][..],
            &["users"][..],
        ),
        (
            "cohort_retention",
            // The demo splits cohorts by `channel`, a key like the others.
            &["cohort", "channel", "period", "partial"][..],
            &["users", "retained"][..],
        ),
        (
            "funnel",
            &["funnel", "step", "event_type"][..],
            &["users"][..],
        ),
        (
            "cluster_profiles",
            &["cluster", "cluster_name"][..],
            &["users"][..],
        ),
    ] {
        let rel = format!("{table}/run_date=2024-07-06/part-0.parquet");
        let (a, b) = (demo.join("open").join(&rel), demo.join("small").join(&rel));
        let flags = |p: &Path| column_strings(p, "suppressed");
        assert!(
            flags(&a).iter().all(|f| f.as_deref() == Some("false")),
            "{table}: 1 suppresses nothing"
        );
        let (open_cells, small_cells) = (cells(&a, keys, counts), cells(&b, keys, counts));
        assert_eq!(
            open_cells.len(),
            small_cells.len(),
            "{table}: the same cells"
        );
        for ((cell, open), flag) in open_cells.iter().zip(&small_cells).zip(flags(&b)) {
            let below = cell.1.iter().any(|n| n.is_some_and(|n| n < 5));
            assert_eq!(
                flag.as_deref() == Some("true"),
                below,
                "{table} {:?}",
                cell.0
            );
            assert_eq!(open.0, cell.0, "{table}: keys stay");
            if below {
                suppressed += 1;
                assert!(
                    open.1.iter().all(Option::is_none),
                    "{table} {:?}: counts hidden",
                    cell.0
                );
                assert!(
                    open.2.iter().all(|v| v == "NULL"),
                    "{table} {:?}: numbers hidden",
                    cell.0
                );
            } else {
                assert_eq!(
                    (&open.1, &open.2),
                    (&cell.1, &cell.2),
                    "{table} {:?}",
                    cell.0
                );
            }
        }
    }
    assert!(suppressed > 0, "the demo's small log has small cells");
}

#[test]
fn only_the_user_attributes_the_spec_allows_are_published() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    // The users table gains a column no spec setting allows.
    let users_file = demo.join("data/users.parquet");
    let parts = batches(&users_file);
    let users = arrow::compute::concat_batches(&parts[0].schema(), &parts).unwrap();
    let emails: Vec<String> = (0..users.num_rows())
        .map(|i| format!("person{i}@example.org"))
        .collect();
    let mut columns: Vec<(String, arrow::array::ArrayRef)> = users
        .schema()
        .fields()
        .iter()
        .zip(users.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    columns.push((
        "email".into(),
        std::sync::Arc::new(arrow::array::StringArray::from(emails.clone())),
    ));
    write_batch(
        &users_file,
        &arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap(),
    );
    let spec = demo_spec(&demo, "allowed.toml", "allowed", "data", "");
    let (code, _, err) = lifecycle_out(&["run", spec.to_str().unwrap(), "--as-of", "2024-06-29"]);
    assert_eq!(code, 0, "{err}");
    let out = demo.join("allowed");
    let leaks = files_holding(&out, &emails.into_iter().collect());
    assert!(
        leaks.is_empty(),
        "a column outside users.attributes published: {leaks:?}"
    );
    let profile = column_names(&out.join("user_profile/run_date=2024-06-29/part-0.parquet"));
    assert!(
        profile.contains(&"country".to_string()) && !profile.contains(&"email".to_string()),
        "{profile:?}"
    );
}
