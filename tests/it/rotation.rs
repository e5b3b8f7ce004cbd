//! Key rotation (`[privacy] previous_key_env`) and keys turned on: the previous run's ids are
//! translated to this run's, so stage transitions, audience history and cluster numbers carry
//! on as if the key had never changed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use lifecycle_features::pseudonym::IdKey;

use crate::common::*;
use crate::privacy::{demo_log, demo_spec, files_holding, manifest, raw_ids};

const OLD: (&str, &str) = ("LIFECYCLE_TEST_OLD_KEY", "the old key, before the rotation");
const NEW: (&str, &str) = ("LIFECYCLE_TEST_NEW_KEY", "the new key, after the rotation!");

/// Runs the binary on `spec` as of `date` with exactly the variables `env` set.
fn run_with(spec: &Path, date: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifecycle"));
    cmd.args(["run", spec.to_str().unwrap(), "--as-of", date])
        .env("LIFECYCLE_LOG", "warn")
        .env_remove(OLD.0)
        .env_remove(NEW.0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keyed_with(var: &str, previous: Option<&str>) -> String {
    let mut privacy = format!("id_key_env = \"{var}\"\n");
    if let Some(p) = previous {
        privacy.push_str(&format!("previous_key_env = \"{p}\"\n"));
    }
    privacy
}

/// `(audience, raw id)` → `entered_on` of a run's members, its keys turned back into raw ids.
fn members(
    out: &Path,
    date: &str,
    raw_of: &BTreeMap<String, String>,
) -> BTreeMap<(String, String), String> {
    let t = Table::read(out, "audience_members", date);
    let entered_on = t.batch.column_by_name("entered_on").unwrap();
    let entered_on = arrow::compute::cast(entered_on, &arrow::datatypes::DataType::Utf8).unwrap();
    let since = arrow::array::AsArray::as_string::<i32>(&entered_on)
        .iter()
        .map(|v| v.map(str::to_string));
    let (aud, keys) = (t.strings("audience"), t.strings("user_key"));
    aud.into_iter()
        .zip(keys)
        .zip(since)
        .map(|((a, k), s)| ((a.unwrap(), raw_of[&k.unwrap()].clone()), s.unwrap()))
        .collect()
}

/// Members of both dates keep the date they entered on, the others entered on the second date,
/// and `audience_changes` says `entered` for exactly those (keys of either date turned into raw
/// ids by `raw_of`).
fn assert_audience_history(out: &Path, raw_of: &BTreeMap<String, String>) {
    let earlier = members(out, "2024-06-22", raw_of);
    let today = members(out, "2024-06-29", raw_of);
    let mut kept = 0;
    for (member, since) in &today {
        let want = match earlier.get(member) {
            Some(first) => first.as_str(),
            None => "2024-06-29",
        };
        assert_eq!(since, want, "{member:?}");
        kept += usize::from(earlier.contains_key(member));
    }
    assert!(kept > 0, "some members stayed");
    let changes = Table::read(out, "audience_changes", "2024-06-29");
    let entered: BTreeSet<(String, String)> = changes
        .strings("audience")
        .into_iter()
        .zip(changes.strings("user_key"))
        .zip(changes.strings("change"))
        .filter(|(_, c)| c.as_deref() == Some("entered"))
        .map(|((a, k), _)| (a.unwrap(), raw_of[&k.unwrap()].clone()))
        .collect();
    let new_members: BTreeSet<_> = today
        .keys()
        .filter(|m| !earlier.contains_key(*m))
        .cloned()
        .collect();
    assert_eq!(entered, new_members);
}

#[test]
fn a_rotated_key_keeps_transitions_audience_history_and_cluster_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_log(dir.path());
    let raw = raw_ids(&demo.join("data/users.parquet"));
    let (old, new) = (IdKey::new(OLD.1.as_bytes()), IdKey::new(NEW.1.as_bytes()));
    let both = [OLD, NEW];
    let spec = |name: &str, out: &str, privacy: &str| demo_spec(&demo, name, out, "data", privacy);

    // The same key on both dates; raw ids, then keyed; the old key, then the new one.
    let steady = spec("steady.toml", "steady", &keyed_with(NEW.0, None));
    let plain = spec("plain.toml", "turned-on", "");
    let turned_on = spec("turned-on.toml", "turned-on", &keyed_with(NEW.0, None));
    let before = spec("before.toml", "rotated", &keyed_with(OLD.0, None));
    let rotated = spec("rotated.toml", "rotated", &keyed_with(NEW.0, Some(OLD.0)));
    for (spec, date) in [
        (&steady, "2024-06-22"),
        (&steady, "2024-06-29"),
        (&plain, "2024-06-22"),
        (&turned_on, "2024-06-29"),
        (&before, "2024-06-22"),
    ] {
        let (code, err) = run_with(spec, date, &both);
        assert_eq!(code, 0, "{}: {err}", spec.display());
    }
    // A previous key that is not the previous run's is refused by name, publishing nothing.
    let (code, err) = run_with(
        &rotated,
        "2024-06-29",
        &[NEW, (OLD.0, "another key, not the old one")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("privacy.previous_key_env") && err.contains(&old.fingerprint()),
        "{err}"
    );
    let out = demo.join("rotated");
    assert!(!out.join("run_manifest/run_date=2024-06-29").exists());
    let (code, err) = run_with(&rotated, "2024-06-29", &both);
    assert_eq!(code, 0, "{err}");

    let transitions = |o: &str| {
        fs::read(
            demo.join(o)
                .join("stage_transitions/run_date=2024-06-29/part-0.parquet"),
        )
        .unwrap()
    };
    assert!(
        transitions("turned-on") == transitions("steady"),
        "a key turned on"
    );
    assert!(
        transitions("rotated") == transitions("steady"),
        "a rotated key"
    );

    // Members of both dates keep the date they entered on; the others entered today.
    let raw_of: BTreeMap<String, String> = raw
        .iter()
        .flat_map(|id| {
            [
                (old.user_key(id), id.clone()),
                (new.user_key(id), id.clone()),
            ]
        })
        .collect();
    assert_audience_history(&out, &raw_of);

    let m = manifest(&out, "2024-06-29");
    assert_eq!(
        m["models"]["segmentation"]["label_matching"]["method"],
        "matched to the previous run's centroids"
    );
    assert_eq!(m["privacy"]["key_fingerprint"], new.fingerprint());
    let leaks = files_holding(&out, &raw);
    assert!(leaks.is_empty(), "raw ids published: {leaks:?}");
}
