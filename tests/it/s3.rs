//! The daily job against a real S3 server: `s3s-fs` started in-process on 127.0.0.1 with
//! signature checking on, a bucket as a folder under a temporary root.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Float64Array, RecordBatch, StringArray};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use lifecycle_pipeline::RunOptions;
use lifecycle_storage::{Location, Stores};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

use crate::common::*;

pub const KEY: &str = "AKIDLIFECYCLETEST";
pub const SECRET: &str = "s3cr3t/lifecycle+test/KEY";

/// An S3 server for one test; it stops with the test's runtime.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
}

/// Faults the test server injects; each counter counts down as requests meet it.
#[derive(Default)]
pub struct Faults {
    /// PUTs answered `503 Slow Down`, as S3 does under load.
    pub put_503: AtomicUsize,
    /// PUTs whose connection is dropped without an answer (a reset mid-upload).
    pub put_reset: AtomicUsize,
    /// GETs (reads and listings) answered `500 Internal Error`.
    pub get_500: AtomicUsize,
    /// Milliseconds every request waits before it is served.
    pub latency_ms: AtomicUsize,
}

impl Faults {
    /// Takes one from `counter` when it is above zero.
    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// The S3 service behind [`Faults`].
#[derive(Clone)]
struct Faulty {
    inner: s3s::service::S3Service,
    faults: Arc<Faults>,
    /// Held across each conditional PUT. `s3s-fs` checks `If-None-Match: *` and then writes, so
    /// two creates of one key at the same moment could both succeed; S3 itself decides them
    /// atomically, and so does this server with the lock.
    creates: Arc<tokio::sync::Mutex<()>>,
}

type S3Svc = s3s::service::S3Service;
type Req = http::Request<hyper::body::Incoming>;

fn error_response(status: u16, code: &str) -> http::Response<s3s::Body> {
    http::Response::builder()
        .status(status)
        .body(s3s::Body::from(format!(
            "<Error><Code>{code}</Code></Error>"
        )))
        .expect("a valid response")
}

impl hyper::service::Service<Req> for Faulty {
    type Response = <S3Svc as hyper::service::Service<Req>>::Response;
    type Error = <S3Svc as hyper::service::Service<Req>>::Error;
    type Future = <S3Svc as hyper::service::Service<Req>>::Future;

    fn call(&self, req: Req) -> Self::Future {
        let f = &self.faults;
        let put = req.method() == http::Method::PUT;
        let get = req.method() == http::Method::GET;
        let answer = if put && Faults::take(&f.put_503) {
            Some(Ok(error_response(503, "SlowDown")))
        } else if put && Faults::take(&f.put_reset) {
            Some(Err(s3s::HttpError::new(
                "connection reset by the test".into(),
            )))
        } else if get && Faults::take(&f.get_500) {
            Some(Ok(error_response(500, "InternalError")))
        } else {
            None
        };
        let latency = std::time::Duration::from_millis(f.latency_ms.load(Ordering::SeqCst) as u64);
        let inner = self.inner.clone();
        let conditional = put && req.headers().contains_key(http::header::IF_NONE_MATCH);
        let creates = self.creates.clone();
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            let _one_at_a_time = match conditional {
                true => Some(creates.lock().await),
                false => None,
            };
            match answer {
                Some(answer) => answer,
                None => hyper::service::Service::call(&inner, req).await,
            }
        })
    }
}

impl S3Server {
    pub async fn start(buckets: &[&str]) -> S3Server {
        Self::start_flaky(buckets, 0).await.0
    }

    /// A server whose first `failures` PUTs answer 503; also returns its faults.
    pub async fn start_flaky(buckets: &[&str], failures: usize) -> (S3Server, Arc<Faults>) {
        let faults = Faults {
            put_503: AtomicUsize::new(failures),
            ..Faults::default()
        };
        let faults = Arc::new(faults);
        (Self::start_with(buckets, faults.clone()).await, faults)
    }

    /// A server that injects `faults`.
    pub async fn start_with(buckets: &[&str], faults: Arc<Faults>) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(KEY, SECRET));
        let service = Faulty {
            inner: builder.build(),
            faults,
            creates: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server { endpoint, root }
    }

    /// Stores that read credentials the standard way, from `AWS_*` variables.
    pub fn stores(&self, key: &str, secret: &str) -> Stores {
        Stores::default().with_env([
            ("AWS_ACCESS_KEY_ID".to_string(), key.to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string()),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ])
    }

    /// The spec's `[storage]` section for this endpoint (a custom endpoint, as for MinIO).
    pub fn storage_section(&self) -> String {
        format!(
            "[storage]\nmax_retries = 2\nretry_timeout_secs = 5\n\
             [storage.options]\nendpoint = \"{}\"\nallow_http = \"true\"\n",
            self.endpoint
        )
    }

    /// The store options that reach this server (the endpoint; credentials come from
    /// [`S3Server::stores`]).
    pub fn options(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("endpoint".to_string(), self.endpoint.clone()),
            ("allow_http".to_string(), "true".to_string()),
        ]
        .into_iter()
        .collect()
    }

    /// A location opened with the test credentials and endpoint.
    pub fn open(&self, url: &str) -> Location {
        self.stores(KEY, SECRET)
            .with_settings(&self.options(), Default::default())
            .unwrap()
            .open(&url::Url::parse(url).unwrap())
            .unwrap()
    }
}

/// Uploads every file of a local folder under an S3 prefix.
async fn upload(local: &std::path::Path, to: &Location) {
    for (rel, bytes) in snapshot(local) {
        to.join(&rel).put_bytes(bytes).await.unwrap();
    }
}

fn sample_events(dir: &std::path::Path) {
    write_events(
        &dir.join("events/dt=2024-02-01/part-0.parquet"),
        &[
            ("a", "2024-02-01T10:00:00Z", "view", Some("i1"), None),
            (
                "a",
                "2024-02-02T10:00:00Z",
                "purchase",
                Some("i1"),
                Some(9.5),
            ),
            ("b", "2024-02-03T10:00:00Z", "like", Some("i2"), None),
        ],
    );
}

/// A store the tests reach: its root URL (`s3://lake`), what a spec needs to reach it, and
/// the test's own way in.
pub struct Remote {
    pub root: &'static str,
    pub storage: String,
    pub stores: Stores,
    pub options: std::collections::BTreeMap<String, String>,
}

impl Remote {
    pub fn open(&self, url: &str) -> Location {
        self.stores
            .with_settings(&self.options, Default::default())
            .unwrap()
            .open(&url::Url::parse(url).unwrap())
            .unwrap()
    }
}

/// The daily job reading its events from `remote` and publishing there: the committed tables
/// are the bytes a local run writes, and the lease is released.
pub async fn job_reads_and_writes(remote: &Remote) {
    let local = tempfile::tempdir().unwrap();
    sample_events(local.path());
    let events = format!("{}/raw/events/", remote.root);
    upload(&local.path().join("events"), &remote.open(&events)).await;

    // The same job on local files, for comparison.
    let local_spec = write_spec(local.path(), "[events]\nurl = \"events/\"\n");
    run(&local_spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();

    let spec_dir = tempfile::tempdir().unwrap();
    let body = format!("[events]\nurl = \"{events}\"\n{}", remote.storage);
    let mut raw = lifecycle_spec::JobSpec::from_file(&write_spec(spec_dir.path(), &body)).unwrap();
    let output = format!("{}/lifecycle/", remote.root);
    raw.job.output = output.clone();
    let opts = RunOptions {
        as_of: Some(date("2024-03-01")),
        run_time: chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
            .unwrap()
            .into(),
        stores: remote.stores.clone(),
        ..RunOptions::default()
    };
    let summary = lifecycle_pipeline::run_job(&raw.validate().unwrap(), &opts)
        .await
        .unwrap();
    assert_eq!(summary.manifest.commit.outputs["user_features"].rows, 2);
    let first = &summary.manifest.inputs[0].files[0].url;
    assert!(
        first.starts_with(&format!("{events}dt=2024-02-01/")),
        "{first}"
    );

    // What landed in the store is what a local run writes, byte for byte.
    let out = remote.open(&output);
    assert_eq!(
        lifecycle_storage::committed_runs(&out).await.unwrap(),
        vec![date("2024-03-01")]
    );
    for table in [
        "user_features",
        "user_segments",
        "stage_transitions",
        "quarantine",
    ] {
        let rel = format!("{table}/run_date=2024-03-01/part-0.parquet");
        let remote = out.join(&rel).get_bytes().await.unwrap();
        let here = std::fs::read(local.path().join("out").join(&rel)).unwrap();
        assert_eq!(remote.as_ref(), here.as_slice(), "{table}");
    }
    let leases = out.join("_leases/").list().await.unwrap();
    assert!(leases.is_empty(), "the lease is released: {leases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_job_reads_from_and_writes_to_s3() {
    let s3 = S3Server::start(&["lake"]).await;
    let remote = Remote {
        root: "s3://lake",
        storage: s3.storage_section(),
        stores: s3.stores(KEY, SECRET),
        options: s3.options(),
    };
    job_reads_and_writes(&remote).await;
    // The bucket is a folder on disk: the manifest is where the commit protocol puts it.
    assert!(
        s3.root
            .path()
            .join("lake/lifecycle/run_manifest/run_date=2024-03-01/manifest.json")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_name_the_bucket_and_hide_the_secret() {
    let s3 = S3Server::start(&["lake"]).await;
    let local = tempfile::tempdir().unwrap();
    sample_events(local.path());
    upload(
        &local.path().join("events"),
        &s3.open("s3://lake/raw/events/"),
    )
    .await;
    let spec = write_spec(
        local.path(),
        &format!(
            "[events]\nurl = \"s3://lake/raw/events/\"\n{}",
            s3.storage_section()
        ),
    );
    let spec = lifecycle_spec::JobSpec::from_file(&spec)
        .unwrap()
        .validate()
        .unwrap();
    let wrong = "not-the-secret-at-all";
    let opts = RunOptions {
        stores: s3.stores(KEY, wrong),
        ..RunOptions::default()
    };
    let err = lifecycle_pipeline::run_job(&spec, &opts).await.unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.exit_code(), 1, "{msg}");
    assert!(msg.contains("s3://lake/"), "names the bucket: {msg}");
    assert!(
        !msg.contains(wrong) && !msg.contains(SECRET),
        "no secret in errors: {msg}"
    );
    assert!(
        snapshot(&local.path().join("out")).is_empty(),
        "nothing published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_given_in_the_spec_stay_out_of_the_manifest() {
    let s3 = S3Server::start(&["lake"]).await;
    let local = tempfile::tempdir().unwrap();
    sample_events(local.path());
    let spec = write_spec(
        local.path(),
        &format!(
            "[events]\nurl = \"events/\"\n{}access_key_id = \"{KEY}\"\nsecret_access_key = \"{SECRET}\"\n",
            s3.storage_section()
        ),
    );
    let mut raw = lifecycle_spec::JobSpec::from_file(&spec).unwrap();
    raw.job.output = "s3://lake/out/".into();
    let spec = raw.validate().unwrap();
    // No credentials in the environment: they come from the spec's options.
    let summary = lifecycle_pipeline::run_job(&spec, &RunOptions::default())
        .await
        .unwrap();
    let manifest = s3.open("s3://lake/out/run_manifest/").list().await.unwrap();
    let text = String::from_utf8(
        s3.open(&format!("s3://lake/{}", manifest[0].location))
            .get_bytes()
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        !text.contains(SECRET),
        "the secret leaked into the manifest"
    );
    assert!(
        text.contains("\"secret_access_key\": \"***\"") && text.contains(KEY),
        "{text}"
    );
    assert_eq!(
        summary.manifest.spec["storage"]["options"]["secret_access_key"],
        "***"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_output_goes_up_as_a_multipart_upload() {
    let s3 = S3Server::start(&["lake"]).await;
    let multipart = Arc::new(AtomicUsize::new(0));
    let counter = multipart.clone();
    let options = [
        ("endpoint".to_string(), s3.endpoint.clone()),
        ("allow_http".to_string(), "true".to_string()),
    ]
    .into_iter()
    .collect();
    let stores = s3
        .stores(KEY, SECRET)
        .with_wrapper(Intercept::wrapper(move |call, _| {
            if call == Call::Multipart {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            Action::Pass
        }))
        .with_settings(&options, Default::default())
        .unwrap();
    let loc = stores
        .open(&url::Url::parse("s3://lake/big/part-0.parquet").unwrap())
        .unwrap();

    // About 15 MiB of Parquet: over the 10 MiB the writer buffers before it goes multipart.
    let n = 400_000;
    let text: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{:064x}",
                (i as u128).wrapping_mul(0x9e3779b97f4a7c15f39cc0605cedc835)
            )
        })
        .collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(StringArray::from(text)) as _),
        (
            "x",
            Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))) as _,
        ),
    ])
    .unwrap();
    let schema = batch.schema();
    let stats =
        lifecycle_storage::write_parquet(&loc, schema, futures::stream::iter(vec![Ok(batch)]))
            .await
            .unwrap();
    assert_eq!(stats.rows, n as u64);
    assert!(
        stats.bytes > 10 << 20,
        "over the 10 MiB buffer of the writer: {stats:?}"
    );
    assert_eq!(multipart.load(Ordering::SeqCst), 1, "one multipart upload");
    let on_disk = std::fs::metadata(s3.root.path().join("lake/big/part-0.parquet"))
        .unwrap()
        .len();
    assert_eq!(on_disk, stats.bytes);
}

/// The small job of [`transient_faults_are_retried_and_lasting_ones_fail_naming_the_url`]: one
/// event on local disk, outputs on `server`, 2 retries within 5 s.
async fn run_against(
    server: &S3Server,
) -> lifecycle_pipeline::Result<lifecycle_pipeline::RunSummary> {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/part-0.parquet"),
        &[("a", "2024-02-01T10:00:00Z", "view", None, None)],
    );
    let body = format!("[events]\nurl = \"events/\"\n{}", server.storage_section());
    let mut raw = lifecycle_spec::JobSpec::from_file(&write_spec(dir.path(), &body)).unwrap();
    raw.job.output = "s3://lake/out/".into();
    let opts = RunOptions {
        as_of: Some(date("2024-03-01")),
        stores: server.stores(KEY, SECRET),
        ..RunOptions::default()
    };
    lifecycle_pipeline::run_job(&raw.validate().unwrap(), &opts).await
}

/// Connections reset mid-upload, 500s on reads and listings, a slow server: two in a row are
/// retried and the run commits; lasting ones fail the run with the URL, publishing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_lasting_ones_fail_naming_the_url() {
    /// A fault kind: its name and the faults of `n` in a row.
    type Case = (&'static str, fn(usize) -> Faults);
    let cases: [Case; 2] = [
        ("reset PUTs", |n| Faults {
            put_reset: AtomicUsize::new(n),
            ..Faults::default()
        }),
        ("500 on GETs", |n| Faults {
            get_500: AtomicUsize::new(n),
            ..Faults::default()
        }),
    ];
    for (what, faults) in cases {
        let transient = Arc::new(faults(2));
        let server = S3Server::start_with(&["lake"], transient.clone()).await;
        let s = run_against(&server)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(s.manifest.commit.outputs["user_features"].rows, 1, "{what}");
        let left = (
            transient.put_reset.load(Ordering::SeqCst),
            transient.get_500.load(Ordering::SeqCst),
        );
        assert_eq!(left, (0, 0), "{what}: every fault was met");

        let lasting = Arc::new(faults(usize::MAX));
        let server = S3Server::start_with(&["lake"], lasting).await;
        let e = run_against(&server).await.unwrap_err();
        assert_eq!(e.exit_code(), 1, "{what}: {e}");
        assert!(
            e.to_string().contains("s3://lake/out/"),
            "{what}: the error names the URL: {e}"
        );
        let bucket = server.root.path().join("lake");
        let committed = bucket.join("out/run_manifest").exists();
        assert!(!committed, "{what}: nothing committed");
    }

    // Every request 40 ms late: slow, not failed.
    let slow = Arc::new(Faults {
        latency_ms: AtomicUsize::new(40),
        ..Faults::default()
    });
    let server = S3Server::start_with(&["lake"], slow).await;
    let s = run_against(&server).await.unwrap();
    assert_eq!(s.manifest.commit.outputs["user_features"].rows, 1);
}
