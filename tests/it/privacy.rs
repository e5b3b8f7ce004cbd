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

const VAR: &str = "LIFECYCLE_TEST_ID_KEY";
const KEY: &str = "a test key of thirty-two bytes!!";

/// Runs the binary on `spec` as of `date`, with the key in the environment or not.
fn run(spec: &Path, date: &str, key: Option<&str>) -> (i32, String) {
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

/// Every value of every column of a Parquet file, as text.
fn parquet_values(path: &Path) -> Vec<String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut values = vec![];
    for batch in reader {
        for column in batch.unwrap().columns() {
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
fn files_holding(dir: &Path, ids: &BTreeSet<String>) -> Vec<(PathBuf, String)> {
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

/// The `user_id`s of a Parquet file.
fn raw_ids(path: &Path) -> BTreeSet<String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut ids = BTreeSet::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = cast(batch.column_by_name("user_id").unwrap(), &DataType::Utf8).unwrap();
        ids.extend(
            column
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    ids
}

#[test]
fn keyed_runs_publish_no_raw_id_and_the_same_keys_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (code, _, err) =
        lifecycle_out(&["demo", "--dir", demo.to_str().unwrap(), "--users", "300"]);
    assert_eq!(code, 0, "{err}");
    let spec_text = fs::read_to_string(demo.join("demo.toml")).unwrap();
    let spec_text = spec_text.replace("output = \"out\"", "output = \"keyed\"");
    let spec = demo.join("keyed.toml");
    fs::write(
        &spec,
        format!("{spec_text}\n[privacy]\nid_key_env = \"{VAR}\"\n"),
    )
    .unwrap();
    let out = demo.join("keyed");

    let (code, err) = run(&spec, "2024-06-29", None);
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
        let (code, err) = run(&spec, date, Some(KEY));
        assert_eq!(code, 0, "{date}: {err}");
    }
    let raw = raw_ids(&demo.join("data/users.parquet"));
    assert!(raw.len() >= 300, "{} users", raw.len());
    let leaks = files_holding(&out, &raw);
    assert!(leaks.is_empty(), "raw ids published: {leaks:?}");
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
    // The second run found the first one's users by their keys: some kept their stage.
    let moves = Table::read(&out, "stage_transitions", "2024-07-06");
    let (from, to) = (moves.strings("from_stage"), moves.strings("to_stage"));
    assert!(
        from.iter().zip(&to).any(|(f, t)| f.is_some() && f == t),
        "stage_transitions: {from:?} -> {to:?}"
    );
}
