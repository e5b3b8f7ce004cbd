//! The publish protocol on every kind of store (`memory://`, `file://`, `s3://` against a real
//! S3 server, and `az://` against Azurite when `node` is installed): a run that fails or crashes between two tables commits nothing and leaves
//! the previous run as it was; two runs of one date cannot both commit; transient 503s are
//! retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use lifecycle_pipeline::{RunOptions, RunSummary};
use lifecycle_storage::{Location, Stores};
use object_store::ObjectStoreExt;

use crate::common::*;
use crate::s3::S3Server;

/// Where a test's outputs go, and the stores that reach it.
struct Backend {
    name: &'static str,
    output: String,
    stores: Stores,
    /// The spec's `[storage]` section, and its options for the test's own reads.
    storage: String,
    options: std::collections::BTreeMap<String, String>,
    dir: tempfile::TempDir,
    _server: Option<S3Server>,
    _azurite: Option<crate::azurite::Azurite>,
}

impl Backend {
    async fn all() -> Vec<Backend> {
        let mut out = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        out.push(Backend {
            name: "memory",
            output: format!("memory://{}/out/", uuid_like(dir.path())),
            stores: Stores::default(),
            storage: String::new(),
            options: Default::default(),
            dir,
            _server: None,
            _azurite: None,
        });
        let dir = tempfile::tempdir().unwrap();
        out.push(Backend {
            name: "file",
            output: format!("{}/out/", dir.path().display()),
            stores: Stores::default(),
            storage: String::new(),
            options: Default::default(),
            dir,
            _server: None,
            _azurite: None,
        });
        let server = S3Server::start(&["lake"]).await;
        out.push(Backend {
            name: "s3",
            output: "s3://lake/out/".into(),
            stores: server.stores(crate::s3::KEY, crate::s3::SECRET),
            storage: server.storage_section(),
            options: server.options(),
            dir: tempfile::tempdir().unwrap(),
            _server: Some(server),
            _azurite: None,
        });
        match crate::azurite::Azurite::start() {
            Ok(azurite) => {
                azurite.create_container("lake");
                out.push(Backend {
                    name: "azure",
                    output: "az://lake/out/".into(),
                    stores: Stores::default(),
                    storage: azurite.storage_section(),
                    options: azurite.options(),
                    dir: tempfile::tempdir().unwrap(),
                    _server: None,
                    _azurite: Some(azurite),
                });
            }
            Err(why) => println!("no azure backend: {why}"),
        }
        out
    }

    /// A spec over a small local event log, with this backend's output.
    fn spec(&self, extra: &str) -> lifecycle_spec::ValidJobSpec {
        write_events(
            &self.dir.path().join("events/dt=2024-02-01/part-0.parquet"),
            &[
                ("a", "2024-02-01T10:00:00Z", "view", Some("i1"), None),
                (
                    "b",
                    "2024-02-02T10:00:00Z",
                    "purchase",
                    Some("i1"),
                    Some(4.0),
                ),
            ],
        );
        let path = write_spec(
            self.dir.path(),
            &format!("[events]\nurl = \"events/\"\n{extra}{}", self.storage),
        );
        let mut raw = lifecycle_spec::JobSpec::from_file(&path).unwrap();
        raw.job.output = self.output.clone();
        raw.validate().unwrap()
    }

    fn out(&self) -> Location {
        self.stores
            .with_settings(&self.options, Default::default())
            .unwrap()
            .open(&url::Url::parse(&to_url(&self.output)).unwrap())
            .unwrap()
    }

    async fn run(
        &self,
        spec: &lifecycle_spec::ValidJobSpec,
        stores: Stores,
    ) -> lifecycle_pipeline::Result<RunSummary> {
        let opts = RunOptions {
            as_of: Some(date("2024-03-01")),
            run_time: chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
                .unwrap()
                .into(),
            stores,
            ..RunOptions::default()
        };
        lifecycle_pipeline::run_job(spec, &opts).await
    }

    /// Every object under the output, with its bytes.
    async fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let out = self.out();
        let mut all = Vec::new();
        for meta in out.list().await.unwrap() {
            let bytes = out
                .store()
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            all.push((meta.location.to_string(), bytes.to_vec()));
        }
        all
    }
}

fn to_url(s: &str) -> String {
    if s.contains("://") {
        s.to_string()
    } else {
        url::Url::from_directory_path(s).unwrap().to_string()
    }
}

fn uuid_like(p: &std::path::Path) -> String {
    p.file_name()
        .unwrap()
        .to_string_lossy()
        .replace(['.', '_'], "x")
        .to_lowercase()
}

fn names(snap: &[(String, Vec<u8>)]) -> Vec<String> {
    snap.iter().map(|(p, _)| p.clone()).collect()
}

/// Only what readers see: commits, stable copies, and the committed run folders.
fn without_leases(snap: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    snap.into_iter()
        .filter(|(p, _)| !p.contains("/_leases/"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_two_tables_commits_nothing() {
    for b in Backend::all().await {
        let spec = b.spec("");
        b.run(&spec, b.stores.clone()).await.unwrap();
        let before = b.snapshot().await;
        // The store fails as the run writes its second table (after user_features).
        let failing = b.stores.clone().with_wrapper(Intercept::wrapper(|_, path| {
            if path.as_ref().contains("/user_segments/") {
                Action::Fail
            } else {
                Action::Pass
            }
        }));
        let err = b.run(&spec, failing).await.unwrap_err();
        assert!(
            err.to_string().contains("injected failure"),
            "{}: {err}",
            b.name
        );
        let after = b.snapshot().await;
        assert!(
            after == before,
            "{}: outputs changed: {:?} -> {:?}",
            b.name,
            names(&before),
            names(&after)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_two_tables_leaves_the_previous_run_and_the_date_recovers() {
    for b in Backend::all().await {
        let spec = b.spec("");
        let first = b.run(&spec, b.stores.clone()).await.unwrap();
        let before = without_leases(b.snapshot().await);
        // The process "dies" while it writes user_segments: its task stops at that write.
        let reached = Arc::new(AtomicBool::new(false));
        let flag = reached.clone();
        let hanging = b
            .stores
            .clone()
            .with_wrapper(Intercept::wrapper(move |_, path| {
                if path.as_ref().contains("/user_segments/") {
                    flag.store(true, Ordering::SeqCst);
                    Action::Hang
                } else {
                    Action::Pass
                }
            }));
        let short_lease = b.spec("");
        // Long enough to outlive the snapshot below on a loaded machine (a 1 s lease expired
        // during it on a debug build with the suite running, and the next run then took the
        // date), short enough to wait out.
        let lease = std::time::Duration::from_secs(4);
        let short_lease = lifecycle_spec::ValidJobSpec {
            lease,
            ..short_lease
        };
        let task = {
            let spec = short_lease.clone();
            let opts = RunOptions {
                as_of: Some(date("2024-03-01")),
                run_time: chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
                    .unwrap()
                    .into(),
                stores: hanging,
                ..RunOptions::default()
            };
            tokio::spawn(async move { lifecycle_pipeline::run_job(&spec, &opts).await })
        };
        while !reached.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        task.abort();
        let _ = task.await;

        // Readers see exactly the previous run; the crashed run left data in its own folder.
        let after = b.snapshot().await;
        let visible: Vec<_> = without_leases(after.clone())
            .into_iter()
            .filter(|(p, _)| !p.contains("/_runs/") || p.contains(first.manifest.run_id()))
            .collect();
        assert!(visible == before, "{}: {:?}", b.name, names(&visible));
        assert!(
            after
                .iter()
                .any(|(p, _)| p.contains("/_runs/") && !p.contains(first.manifest.run_id())),
            "{}",
            b.name
        );

        // Its lease keeps the date closed until it expires (exit code 3), then a run succeeds.
        let err = b.run(&short_lease, b.stores.clone()).await.unwrap_err();
        assert_eq!(err.exit_code(), 3, "{}: {err}", b.name);
        tokio::time::sleep(lease + std::time::Duration::from_millis(100)).await;
        let again = b.run(&short_lease, b.stores.clone()).await.unwrap();
        assert_eq!(again.manifest.commit.outputs["user_segments"].rows, 2);

        // gc removes the crashed run's folder once it is past the grace period.
        let report = lifecycle_storage::gc(
            &b.out(),
            std::time::Duration::from_secs(60),
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
        assert_eq!(
            report.runs_removed.len(),
            2,
            "{}: the crashed run and the superseded first run: {report:?}",
            b.name
        );
        let left = b.snapshot().await;
        let run_folders: std::collections::BTreeSet<_> = left
            .iter()
            .filter_map(|(p, _)| {
                p.split("/_runs/")
                    .nth(1)
                    .map(|r| r.split('/').next().unwrap().to_string())
            })
            .collect();
        assert_eq!(
            run_folders.into_iter().collect::<Vec<_>>(),
            vec![again.manifest.run_id().to_string()],
            "{}",
            b.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_runs_of_one_date_exactly_one_commits() {
    for b in &Backend::all().await {
        let spec = b.spec("");
        // The runs overlap for certain: neither may create its commit until the other has ended
        // or reached its own commit. Without this gate a fast first run could commit and release
        // the lease before the second one began, and both would (rightly) succeed one after the
        // other.
        let parked = Arc::new(AtomicUsize::new(0));
        let gated = |parked: Arc<AtomicUsize>| {
            let reached = Arc::new(AtomicBool::new(false));
            let hook_reached = reached.clone();
            let stores = b
                .stores
                .clone()
                .with_wrapper(Intercept::wrapper(move |_, path| {
                    let is_commit = path.filename().is_some_and(|f| f.starts_with("commit-"));
                    if is_commit && !hook_reached.swap(true, Ordering::SeqCst) {
                        parked.fetch_add(1, Ordering::SeqCst);
                    }
                    let parked = parked.clone();
                    match is_commit {
                        true => Action::Until(Arc::new(move || parked.load(Ordering::SeqCst) == 2)),
                        false => Action::Pass,
                    }
                }));
            (stores, reached)
        };
        let run = |stores: Stores, reached: Arc<AtomicBool>| {
            let (spec, parked) = (&spec, parked.clone());
            async move {
                let result = b.run(spec, stores).await;
                if !reached.swap(true, Ordering::SeqCst) {
                    parked.fetch_add(1, Ordering::SeqCst);
                }
                result
            }
        };
        let (sx, rx) = gated(parked.clone());
        let (sy, ry) = gated(parked.clone());
        let (x, y) = tokio::join!(run(sx, rx), run(sy, ry));
        let oks = [&x, &y].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            oks,
            1,
            "{}: {:?} / {:?}",
            b.name,
            x.as_ref().err().map(|e| e.to_string()),
            y.as_ref().err().map(|e| e.to_string())
        );
        let err = x.err().or(y.err()).unwrap();
        assert_eq!(err.exit_code(), 3, "{}: {err}", b.name);
        let commits = lifecycle_storage::commits(&b.out()).await.unwrap();
        assert_eq!(commits.len(), 1, "{}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_503s_are_retried_and_the_run_succeeds() {
    // The test servers' `[storage]` section allows 2 retries: 2 failures in a row are survived.
    let (server, left) = S3Server::start_flaky(&["lake"], 2).await;
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/part-0.parquet"),
        &[("a", "2024-02-01T10:00:00Z", "view", None, None)],
    );
    let path = write_spec(
        dir.path(),
        &format!("[events]\nurl = \"events/\"\n{}", server.storage_section()),
    );
    let mut raw = lifecycle_spec::JobSpec::from_file(&path).unwrap();
    raw.job.output = "s3://lake/out/".into();
    let spec = raw.validate().unwrap();
    let opts = RunOptions {
        as_of: Some(date("2024-03-01")),
        stores: server.stores(crate::s3::KEY, crate::s3::SECRET),
        ..RunOptions::default()
    };
    let summary = lifecycle_pipeline::run_job(&spec, &opts).await.unwrap();
    assert_eq!(
        left.put_503.load(Ordering::SeqCst),
        0,
        "both 503s were served"
    );
    assert_eq!(summary.manifest.commit.outputs["user_features"].rows, 1);
}
