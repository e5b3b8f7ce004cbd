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

/// Answers the first `n` PUT requests with `503 Slow Down`, as S3 does under load, then serves.
#[derive(Clone)]
struct Flaky {
    inner: s3s::service::S3Service,
    failures_left: Arc<AtomicUsize>,
}

type S3Svc = s3s::service::S3Service;
type Req = http::Request<hyper::body::Incoming>;

impl hyper::service::Service<Req> for Flaky {
    type Response = <S3Svc as hyper::service::Service<Req>>::Response;
    type Error = <S3Svc as hyper::service::Service<Req>>::Error;
    type Future = <S3Svc as hyper::service::Service<Req>>::Future;

    fn call(&self, req: Req) -> Self::Future {
        let fail = req.method() == http::Method::PUT
            && self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if fail {
            let resp = http::Response::builder()
                .status(503)
                .body(s3s::Body::from(
                    "<Error><Code>SlowDown</Code></Error>".to_string(),
                ))
                .expect("a valid response");
            return Box::pin(async move { Ok(resp) });
        }
        hyper::service::Service::call(&self.inner, req)
    }
}

impl S3Server {
    pub async fn start(buckets: &[&str]) -> S3Server {
        Self::start_flaky(buckets, 0).await.0
    }

    /// A server whose first `failures` PUTs answer 503; also returns how many are left.
    pub async fn start_flaky(buckets: &[&str], failures: usize) -> (S3Server, Arc<AtomicUsize>) {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(KEY, SECRET));
        let failures_left = Arc::new(AtomicUsize::new(failures));
        let service = Flaky {
            inner: builder.build(),
            failures_left: failures_left.clone(),
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
        (S3Server { endpoint, root }, failures_left)
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

    /// A location opened with the test credentials and endpoint.
    pub fn open(&self, url: &str) -> Location {
        let options = [
            ("endpoint".to_string(), self.endpoint.clone()),
            ("allow_http".to_string(), "true".to_string()),
        ]
        .into_iter()
        .collect();
        self.stores(KEY, SECRET)
            .with_settings(&options, Default::default())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_job_reads_from_and_writes_to_s3() {
    let s3 = S3Server::start(&["lake"]).await;
    let local = tempfile::tempdir().unwrap();
    sample_events(local.path());
    upload(
        &local.path().join("events"),
        &s3.open("s3://lake/raw/events/"),
    )
    .await;

    // The same job on local files, for comparison.
    let local_spec = write_spec(local.path(), "[events]\nurl = \"events/\"\n");
    run(&local_spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();

    let spec_dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        spec_dir.path(),
        &format!(
            "[events]\nurl = \"s3://lake/raw/events/\"\n{}",
            s3.storage_section()
        ),
    );
    let mut raw = lifecycle_spec::JobSpec::from_file(&spec).unwrap();
    raw.job.output = "s3://lake/lifecycle/".into();
    let spec = raw.validate().unwrap();
    let opts = RunOptions {
        as_of: Some(date("2024-03-01")),
        run_time: chrono::DateTime::parse_from_rfc3339("2024-03-01T00:00:00Z")
            .unwrap()
            .into(),
        stores: s3.stores(KEY, SECRET),
    };
    let summary = lifecycle_pipeline::run_job(&spec, &opts).await.unwrap();
    assert_eq!(summary.manifest.commit.outputs["user_features"].rows, 2);
    assert!(
        summary.manifest.inputs[0].files[0]
            .url
            .starts_with("s3://lake/raw/events/dt=2024-02-01/")
    );

    // What landed in the bucket is what a local run writes, byte for byte.
    let out = s3.open("s3://lake/lifecycle/");
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
    // The bucket is a folder on disk: nothing else was written there.
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
