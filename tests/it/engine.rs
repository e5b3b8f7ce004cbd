//! `[engine]`: a run under a memory limit spills and publishes the same bytes; a limit or a
//! spill folder too small fails naming the setting and publishes nothing.

use std::path::Path;

use lifecycle_pipeline::RunError;

use crate::common::*;

/// A generated log of `users` users over 120 days (2,000 users: about 100,000 events).
fn generated(dir: &Path, users: u64) {
    let params = lifecycle_synth::GeneratorParams {
        users,
        days: 120,
        ..Default::default()
    };
    lifecycle_synth::generate(&params, &dir.join("data")).unwrap();
}

/// A spec over the generated log with `engine` as its `[engine]` table, writing to `out`.
fn spec(dir: &Path, out: &str, engine: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{out}.toml"));
    let body = format!(
        "[job]\nname = \"engine\"\noutput = \"{out}\"\n[events]\nurl = \"data/events/\"\n\
         [users]\nurl = \"data/users.parquet\"\n[engine]\ntarget_partitions = 2\n{engine}"
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// The published files but the manifests, which hold run ids and times.
fn tables(out: &Path) -> Vec<(String, Vec<u8>)> {
    snapshot(out)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("run_manifest") && !p.starts_with('_'))
        .collect()
}

const AS_OF: &str = "2024-04-20";
const RUN_TIME: &str = "2024-04-20T06:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_spills_and_publishes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // Enough events that the feature aggregations outgrow 24 MiB (the duplicate check needs
    // about 3 MB of it).
    generated(dir.path(), 8000);
    let free = run(&spec(dir.path(), "free", ""), AS_OF, RUN_TIME)
        .await
        .unwrap();
    let limited = spec(dir.path(), "limited", "memory_limit = \"24MiB\"\n");
    let limited = run(&limited, AS_OF, RUN_TIME).await.unwrap();

    let free_use = free.manifest.resources.unwrap();
    let limited_use = limited.manifest.resources.unwrap();
    assert_eq!(free_use.memory_limit, None);
    assert_eq!(free_use.spill_files, 0, "{free_use:?}");
    assert_eq!(limited_use.memory_limit, Some(24 << 20));
    assert!(
        limited_use.spill_files > 0 && limited_use.spilled_bytes > 0,
        "the limited run must spill: {limited_use:?}"
    );
    let (a, b) = (
        tables(&dir.path().join("free")),
        tables(&dir.path().join("limited")),
    );
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    assert!(a.len() >= 4, "{:?}", names(&a));
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{path} differs with a memory limit");
    }
}

/// Runs the spec with `engine` into the output of an earlier good run; the run must fail with
/// a resources error naming `setting`, and leave every file of the earlier run as it was.
async fn fails_naming(dir: &Path, engine: &str, setting: &str) -> String {
    let before = snapshot(&dir.join("out"));
    let err = run(&spec(dir, "out", engine), AS_OF, RUN_TIME)
        .await
        .unwrap_err();
    let RunError::Resources { setting: got, .. } = &err else {
        panic!("not a resources error: {err}");
    };
    assert_eq!(*got, setting, "{err}");
    assert_eq!(err.exit_code(), 1);
    assert!(
        snapshot(&dir.join("out")) == before,
        "{setting}: the outputs changed"
    );
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_memory_or_spill_space_fails_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    generated(dir.path(), 2000);
    run(&spec(dir.path(), "out", ""), AS_OF, RUN_TIME)
        .await
        .unwrap();

    // Less than one batch of events per partition: no operator can work, spilling or not.
    let err = fails_naming(
        dir.path(),
        "memory_limit = \"64KiB\"\n",
        "engine.memory_limit",
    )
    .await;
    assert!(err.contains("64.0 KiB"), "{err}");

    let tight = "memory_limit = \"16MiB\"\nmax_spill_size = \"256KiB\"\n";
    let err = fails_naming(dir.path(), tight, "engine.max_spill_size").await;
    assert!(err.contains("256.0 KiB"), "{err}");

    match SmallTmpfs::mount(&dir.path().join("small")) {
        Ok(_small) => {
            let full = "memory_limit = \"16MiB\"\nspill_dir = \"small\"\n";
            let err = fails_naming(dir.path(), full, "engine.spill_dir").await;
            assert!(err.contains("small") && err.contains("is full"), "{err}");
        }
        Err(why) => println!("skipped the full tmpfs spill folder: {why}"),
    }
}

/// A 256 KiB tmpfs, unmounted when dropped: a spill folder whose disk really fills up.
struct SmallTmpfs(std::path::PathBuf);

impl SmallTmpfs {
    /// Needs the right to mount (root with CAP_SYS_ADMIN); the error says why not.
    fn mount(at: &Path) -> Result<SmallTmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(SmallTmpfs(at.to_path_buf()))
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
