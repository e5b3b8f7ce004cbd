//! Bad input through the real binary: the error names the file and the column, the exit code
//! says whose fault it was, and a failed run leaves the previous outputs exactly as they were.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};

use crate::common::*;

/// A folder with a good events partition, a spec, and a committed run for 2024-02-01.
pub(crate) fn committed() -> (tempfile::TempDir, String, Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/dt=2024-01-10/part-0.parquet"),
        &[
            ("a", "2024-01-10T10:00:00Z", "view", Some("i1"), None),
            (
                "b",
                "2024-01-10T11:00:00Z",
                "purchase",
                Some("i1"),
                Some(3.0),
            ),
        ],
    );
    let spec = write_spec(dir.path(), "[events]\nurl = \"events/\"\n");
    let spec = spec.to_str().unwrap().to_string();
    let (code, err) = lifecycle(&["run", &spec, "--as-of", "2024-02-01"]);
    assert_eq!(code, 0, "{err}");
    let before = snapshot(&dir.path().join("out"));
    assert!(
        before
            .iter()
            .any(|(p, _)| p.ends_with("run_date=2024-02-01/manifest.json"))
    );
    (dir, spec, before)
}

/// Adds a bad file to a new partition, reruns, and checks the failure left everything intact.
pub(crate) fn fails_cleanly(
    dir: &tempfile::TempDir,
    spec: &str,
    before: &[(String, Vec<u8>)],
    must_name: &[&str],
) {
    for as_of in ["2024-02-01", "2024-02-02"] {
        let (code, err) = lifecycle(&["run", spec, "--as-of", as_of]);
        assert_eq!(code, 1, "{err}");
        for word in must_name {
            assert!(err.contains(word), "error should name `{word}`: {err}");
        }
        assert_eq!(
            snapshot(&dir.path().join("out")),
            before,
            "outputs changed after a failed run"
        );
    }
}

#[test]
fn a_missing_column_names_the_file_and_column() {
    let (dir, spec, before) = committed();
    let batch = RecordBatch::try_from_iter(vec![
        ("user_id", Arc::new(StringArray::from(vec!["c"])) as _),
        (
            "event_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![ts("2024-01-11T00:00:00Z")])
                    .with_timezone("UTC"),
            ) as _,
        ),
    ])
    .unwrap();
    write_batch(
        &dir.path().join("events/dt=2024-01-11/part-0.parquet"),
        &batch,
    );
    fails_cleanly(
        &dir,
        &spec,
        &before,
        &["dt=2024-01-11/part-0.parquet", "`event_type`", "missing"],
    );
}

#[test]
fn a_wrong_type_names_the_file_and_column() {
    let (dir, spec, before) = committed();
    let batch = RecordBatch::try_from_iter(vec![
        ("user_id", Arc::new(StringArray::from(vec!["c"])) as _),
        (
            "event_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![ts("2024-01-12T00:00:00Z")])
                    .with_timezone("UTC"),
            ) as _,
        ),
        (
            "event_type",
            Arc::new(StringArray::from(vec!["purchase"])) as _,
        ),
        (
            "amount",
            Arc::new(StringArray::from(vec!["12.50 EUR"])) as _,
        ),
    ])
    .unwrap();
    write_batch(
        &dir.path().join("events/dt=2024-01-12/part-0.parquet"),
        &batch,
    );
    fails_cleanly(
        &dir,
        &spec,
        &before,
        &["dt=2024-01-12/part-0.parquet", "`amount`", "a number"],
    );
}

#[test]
fn a_corrupt_file_is_named() {
    let (dir, spec, before) = committed();
    let path = dir.path().join("events/dt=2024-01-13/part-0.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"PAR1 this is not really parquet").unwrap();
    fails_cleanly(
        &dir,
        &spec,
        &before,
        &["dt=2024-01-13/part-0.parquet", "cannot be read as parquet"],
    );
}

#[test]
fn spec_errors_exit_2_and_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        "[events]\nurl = \"events/\"\n[features]\nwindow = [3]\n",
    );
    let (code, err) = lifecycle(&["run", spec.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown field `window`"), "{err}");
    let (code, err) = lifecycle(&["validate", spec.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let (code, _) = lifecycle(&["run"]);
    assert_eq!(code, 2, "missing argument is a usage error");
}

#[test]
fn validate_checks_inputs_without_publishing() {
    let (dir, spec, before) = committed();
    let (code, err) = lifecycle(&["validate", &spec]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        dir.path().join("events/dt=2024-01-13/part-0.parquet"),
        b"junk",
    )
    .ok();
    std::fs::create_dir_all(dir.path().join("events/dt=2024-01-13")).unwrap();
    std::fs::write(
        dir.path().join("events/dt=2024-01-13/part-0.parquet"),
        b"junk",
    )
    .unwrap();
    let (code, err) = lifecycle(&["validate", &spec]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dt=2024-01-13/part-0.parquet"), "{err}");
    assert_eq!(snapshot(&dir.path().join("out")), before);
}

/// A spec whose input folder does not exist (the demo's spec validated before `lifecycle demo`
/// wrote its data) says how relative paths resolve; an empty folder that exists does not.
#[test]
fn a_missing_input_folder_says_how_paths_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "[events]\nurl = \"data/events/\"\n");
    let (code, err) = lifecycle(&["validate", spec.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("data/events/ does not exist"), "{err}");
    assert!(
        err.contains("resolve against the spec's own folder"),
        "{err}"
    );
    std::fs::create_dir_all(dir.path().join("data/events")).unwrap();
    let (code, err) = lifecycle(&["validate", spec.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no input files found") && !err.contains("resolve against"),
        "{err}"
    );
}
