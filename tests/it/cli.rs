//! The README's first command and the generator, through the real binary.

use crate::common::*;

#[test]
fn demo_generates_runs_and_says_where_the_outputs_are() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (code, out, err) =
        lifecycle_out(&["demo", "--dir", demo.to_str().unwrap(), "--users", "300"]);
    assert_eq!(code, 0, "{err}");
    let segments = demo.join("out/user_segments/run_date=2024-06-29/part-0.parquet");
    assert!(segments.exists(), "{out}");
    assert!(
        out.contains(segments.to_str().unwrap()),
        "the summary names the output: {out}"
    );
    assert!(
        out.contains("users by stage:") && out.contains("rfm_segment"),
        "{out}"
    );
    // The closing lines point at the report, which exists.
    let report = demo.join("out/run_manifest/run_date=2024-06-29/report.html");
    assert!(
        report.exists() && out.contains(report.to_str().unwrap()),
        "{out}"
    );
    assert!(out.contains("cargo run -- inspect"), "{out}");
    // The copied spec reruns as the summary says.
    let spec = demo.join("demo.toml");
    let (code, err) = lifecycle(&["run", spec.to_str().unwrap(), "--as-of", "2024-06-29"]);
    assert_eq!(code, 0, "{err}");
    let t = Table::read(&demo.join("out"), "user_segments", "2024-06-29");
    assert!(t.len() > 200 && t.len() <= 300, "{}", t.len());
}

#[test]
fn generate_is_deterministic_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |sub: &str| {
        let out = dir.path().join(sub);
        let (code, stdout, err) = lifecycle_out(&[
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--users",
            "150",
            "--days",
            "30",
            "--seed",
            "9",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("--as-of 2024-01-31"), "{stdout}");
        snapshot(&out)
    };
    assert_eq!(generate("a"), generate("b"));
}

#[test]
fn inspect_shows_committed_runs_and_tables_and_gc_cleans() {
    let dir = tempfile::tempdir().unwrap();
    let spec = two_events_job(dir.path());
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let (code, _, err) = lifecycle_out(&["inspect", out]);
    assert_eq!(code, 0, "{err}");
    for as_of in ["2024-03-01", "2024-03-01", "2024-03-02"] {
        let (code, err) = lifecycle(&["run", spec.to_str().unwrap(), "--as-of", as_of]);
        assert_eq!(code, 0, "{err}");
    }
    // One folder up, as `lifecycle inspect demo-output`: no runs there, but where they are.
    let parent = dir.path().to_str().unwrap();
    let (code, hint, err) = lifecycle_out(&["inspect", parent]);
    assert_eq!(code, 0, "{err}");
    assert!(
        hint.contains("no committed run") && hint.contains("lifecycle inspect file://"),
        "{hint}"
    );
    assert!(hint.trim_end().ends_with("/out"), "{hint}");
    let (code, listing, err) = lifecycle_out(&["inspect", out]);
    assert_eq!(code, 0, "{err}");
    assert!(
        listing.contains("2024-03-01") && listing.contains("2024-03-02"),
        "{listing}"
    );
    assert!(listing.contains("user_segments=2"), "{listing}");
    let (code, table, err) = lifecycle_out(&[
        "inspect",
        out,
        "--table",
        "user_segments",
        "--date",
        "2024-03-01",
        "--head",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("| a ") && !table.contains("| b "),
        "one row: {table}"
    );
    // The stable copy's path, as the run's summary prints it; a null reads `-`, not a blank.
    assert!(
        table.contains("user_segments/run_date=2024-03-01/part-0.parquet")
            && !table.contains("_runs/"),
        "{table}"
    );
    assert!(table.contains("| - "), "a's RFM scores are null: {table}");
    let (code, _, err) = lifecycle_out(&["inspect", out, "--table", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no table `nope`"), "{err}");
    // The first run of 2024-03-01 was superseded by the second: gc removes its data.
    let (code, report, err) = lifecycle_out(&["gc", out, "--grace-hours", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(report.contains("removed 1 run folder(s)"), "{report}");
    let (code, _, err) = lifecycle_out(&[
        "inspect",
        out,
        "--table",
        "user_features",
        "--date",
        "2024-03-01",
    ]);
    assert_eq!(code, 0, "the committed run is still readable: {err}");
}
