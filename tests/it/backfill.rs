//! `lifecycle backfill` and `lifecycle run --catch-up` (the real binary, killed for real):
//! dates run oldest first, a killed backfill resumes to the same commits, a rerun of an early
//! date names the later dates it made stale, a catch-up runs the missed days.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A generated log (150 users, January and February 2024) and a spec with a 3 s lease.
fn small_job(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    generate_log(&data, 150, 30, 60, "2024-01-01");
    let spec = dir.join("job.toml");
    std::fs::write(
        &spec,
        "[job]\nname = \"backfill\"\noutput = \"out\"\nlease_seconds = 3\n\
         [events]\nurl = \"data/events/\"\npartition_key = \"dt\"\n",
    )
    .unwrap();
    spec
}

fn lifecycle_in(spec: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = args.to_vec();
    all.insert(1, spec.to_str().unwrap());
    lifecycle_out(&all)
}

/// The stable copies of every table (run folders and manifests name run ids).
fn tables(out: &Path) -> Vec<(String, Vec<u8>)> {
    snapshot(out)
        .into_iter()
        .filter(|(rel, _)| !rel.starts_with('_') && !rel.starts_with("run_manifest"))
        .collect()
}

#[test]
fn a_killed_backfill_resumes_to_the_commits_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_job(dir.path());
    let range = ["--from", "2024-02-01", "--to", "2024-02-10"];
    let whole = dir.path().join("whole");
    let mut args = vec!["backfill"];
    args.extend(range);
    args.extend(["--output", whole.to_str().unwrap()]);
    let (code, out, err) = lifecycle_in(&spec, &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2024-02-10: committed run"), "{out}");
    assert_eq!(commit_files(&whole).len(), 10);

    // The same backfill, killed (SIGKILL) once four dates are committed.
    let killed = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(["backfill", spec.to_str().unwrap()])
        .args(range)
        .env("LIFECYCLE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while commit_files(&killed).len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = commit_files(&killed).len();
    assert!(
        (4..10).contains(&done),
        "{done} dates committed before the kill"
    );
    // A kill between a commit and its stable copies (it happens: the first CI run of this test
    // caught one) leaves a committed date without some of them.
    std::fs::remove_file(killed.join("user_features/run_date=2024-02-01/part-0.parquet")).unwrap();

    let mut args = vec!["backfill"];
    args.extend(range);
    let (code, out, err) = lifecycle_in(&spec, &args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("skipping {done} committed date(s)")),
        "{out}"
    );
    assert_eq!(
        commit_files(&killed),
        commit_files(&whole),
        "one commit per date"
    );
    let (a, b) = (tables(&killed), tables(&whole));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs from the uninterrupted backfill");
    }
    assert!(!out.contains("stale"), "{out}");
}

#[test]
fn reruns_out_of_order_name_the_dates_they_make_stale() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_job(dir.path());
    let backfill = |from: &str, to: &str, rerun: bool| {
        let mut args = vec!["backfill", "--from", from, "--to", to];
        if rerun {
            args.push("--rerun");
        }
        let (code, out, err) = lifecycle_in(&spec, &args);
        assert_eq!(code, 0, "{err}");
        out
    };
    // A later date first, then the dates before it: it read no previous run.
    backfill("2024-02-05", "2024-02-05", false);
    let out = backfill("2024-02-03", "2024-02-04", false);
    assert!(
        out.contains("stale 2024-02-05: it read no previous run, the committed date before it is now 2024-02-04"),
        "{out}"
    );
    assert!(
        out.contains("--from 2024-02-05 --to 2024-02-05 --rerun"),
        "{out}"
    );
    let out = backfill("2024-02-05", "2024-02-05", true);
    assert!(!out.contains("stale"), "{out}");

    // An early date run again: the date after it read the run it replaced.
    let out = backfill("2024-02-03", "2024-02-03", true);
    assert!(
        out.contains("stale 2024-02-04: 2024-02-03 was run again after it"),
        "{out}"
    );
    assert!(
        out.contains("--from 2024-02-04 --to 2024-02-05 --rerun"),
        "{out}"
    );
    let out = backfill("2024-02-04", "2024-02-05", true);
    assert!(!out.contains("stale"), "{out}");
    let m = |d: &str| crate::privacy::manifest(&dir.path().join("out"), d);
    assert_eq!(m("2024-02-05")["previous_run_date"], "2024-02-04");
}

#[test]
fn catch_up_runs_the_missed_days_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_job(dir.path());
    let (code, _, err) = lifecycle_in(&spec, &["run", "--as-of", "2024-02-01"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = lifecycle_in(&spec, &["run", "--catch-up", "--as-of", "2024-02-04"]);
    assert_eq!(code, 0, "{err}");
    let days: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(": committed run"))
        .map(|l| &l[..10])
        .collect();
    assert_eq!(days, ["2024-02-02", "2024-02-03", "2024-02-04"], "{out}");
    let out_dir = dir.path().join("out");
    for (day, before) in [
        ("2024-02-02", "2024-02-01"),
        ("2024-02-03", "2024-02-02"),
        ("2024-02-04", "2024-02-03"),
    ] {
        let m = crate::privacy::manifest(&out_dir, day);
        assert_eq!(m["previous_run_date"], before, "{day}");
    }
    // Nothing missed: a catch-up runs the cutoff date alone (a rerun).
    let (code, out, err) = lifecycle_in(&spec, &["run", "--catch-up", "--as-of", "2024-02-04"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches(": committed run").count(), 1, "{out}");
}

/// `small_job`'s spec with `[incremental]`, written beside it.
fn incremental_job(dir: &Path) -> PathBuf {
    let spec = small_job(dir);
    let text = std::fs::read_to_string(&spec).unwrap();
    let inc = dir.join("incremental.toml");
    std::fs::write(&inc, format!("{text}[incremental]\nlookback_days = 2\n")).unwrap();
    inc
}

/// The `user_features` file of each date in `out`.
fn features_of(out: &Path, dates: &[&str]) -> Vec<Vec<u8>> {
    let file = |d: &str| out.join(format!("user_features/run_date={d}/part-0.parquet"));
    dates
        .iter()
        .map(|d| std::fs::read(file(d)).unwrap())
        .collect()
}

#[test]
fn an_incremental_backfill_and_its_reruns_give_the_features_of_a_full_one() {
    let dir = tempfile::tempdir().unwrap();
    let inc = incremental_job(dir.path());
    let full = dir.path().join("job.toml");
    let dates = [
        "2024-02-01",
        "2024-02-02",
        "2024-02-03",
        "2024-02-04",
        "2024-02-05",
    ];
    let backfill = |spec: &Path, from: &str, rerun: bool| {
        let mut args = vec!["backfill", "--from", from, "--to", "2024-02-05"];
        if rerun {
            args.push("--rerun");
        }
        let (code, out, err) = lifecycle_in(spec, &args);
        assert_eq!(code, 0, "{err}");
        out
    };
    backfill(&full, "2024-02-01", false);
    let want = features_of(&dir.path().join("out"), &dates);
    std::fs::rename(dir.path().join("out"), dir.path().join("out_full")).unwrap();

    backfill(&inc, "2024-02-01", false);
    let out = dir.path().join("out");
    assert!(features_of(&out, &dates) == want, "incremental backfill");
    let rebuilt = |d: &str| crate::privacy::manifest(&out, d)["rollup"]["rebuilt"].clone();
    assert_eq!(rebuilt("2024-02-01"), "no earlier committed run");
    for d in &dates[1..] {
        assert!(
            rebuilt(d).is_null(),
            "{d} updated the previous date's rollup"
        );
    }
    // An early date run again, then the dates after it: each reads the rerun's rollup.
    let again = backfill(&inc, "2024-02-03", true);
    assert_eq!(again.matches(": committed run").count(), 3, "{again}");
    assert!(features_of(&out, &dates) == want, "after the rerun");
    assert!(rebuilt("2024-02-04").is_null());
}
