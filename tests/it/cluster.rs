//! The daily job on a real Ballista cluster: a scheduler and two executors (in this process, or
//! as `lifecycle scheduler` / `lifecycle executor` processes), reading from and writing to a
//! real S3 server or local folders, compared with the same job run locally.

use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use lifecycle_cluster::{ExecutorOptions, SchedulerHandle, SchedulerOptions};
use lifecycle_features::pseudonym::IdKey;
use lifecycle_pipeline::{RunOptions, RunSummary};
use lifecycle_spec::JobSpec;
use lifecycle_storage::Location;
use lifecycle_synth::GeneratorParams;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::snapshot;
use crate::processes::{Proc, ProcessCluster, free_port, wait_ready};
use crate::s3::{KEY, S3Server, SECRET};

/// Relative tolerance for floats between a local and a distributed run. Sums of amounts are
/// exact decimals and every table is ordered, so the runs agree to the last bit today; the
/// tolerance allows for aggregates DataFusion may combine in another order across partitions.
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// A scheduler and executors running in this process; they stop with the test's runtime.
pub struct InProcessCluster {
    pub scheduler: SchedulerHandle,
    _work: tempfile::TempDir,
}

impl InProcessCluster {
    /// A scheduler on a free port and `executors` executors with two task slots each and no
    /// credentials of their own: whatever they read, they read with the session's settings.
    pub async fn start(executors: usize) -> InProcessCluster {
        InProcessCluster::start_keyed(executors, None).await
    }

    /// [`InProcessCluster::start`] with executors that key ids with `key`.
    pub async fn start_keyed(executors: usize, key: Option<IdKey>) -> InProcessCluster {
        let scheduler = lifecycle_cluster::start_scheduler(SchedulerOptions::local())
            .await
            .unwrap();
        let work = tempfile::tempdir().unwrap();
        let mut health_ports = vec![];
        for i in 0..executors {
            let health = free_port();
            health_ports.push(health);
            let opts = ExecutorOptions {
                bind_host: "127.0.0.1".into(),
                external_host: Some("127.0.0.1".into()),
                bind_port: free_port(),
                bind_grpc_port: free_port(),
                bind_health_port: health,
                scheduler_host: "127.0.0.1".into(),
                scheduler_port: scheduler.addr().port(),
                concurrent_tasks: 2,
                work_dir: Some(work.path().join(format!("executor-{i}"))),
                memory_limit: Some(512 << 20),
                heartbeat_interval_secs: 1,
                env: vec![],
                id_key: key.clone(),
                ..ExecutorOptions::default()
            };
            tokio::spawn(async move {
                if let Err(e) = lifecycle_cluster::run_executor(opts).await {
                    panic!("executor {i} failed: {e}");
                }
            });
        }
        for (i, port) in health_ports.into_iter().enumerate() {
            tokio::task::spawn_blocking(move || wait_ready(port, &format!("executor {i}")))
                .await
                .unwrap();
        }
        InProcessCluster {
            scheduler,
            _work: work,
        }
    }
}

/// Every row of a Parquet file as display strings (floats kept apart), sorted, for comparing
/// two runs' tables whatever their row order.
struct Rows {
    columns: Vec<(String, DataType)>,
    rows: Vec<(Vec<String>, Vec<Option<f64>>)>,
}

fn rows(bytes: bytes::Bytes) -> Rows {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let mut out = Rows {
        columns: vec![],
        rows: vec![],
    };
    let Some(first) = batches.first() else {
        return out;
    };
    out.columns = first
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let opts = FormatOptions::default().with_null("NULL");
    for b in &batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let mut text = vec![];
            let mut floats = vec![];
            for (c, f) in b.columns().iter().zip(&fmts) {
                if c.data_type() == &DataType::Float64 {
                    let a = c.as_primitive::<Float64Type>();
                    floats.push(a.is_valid(i).then(|| a.value(i)));
                } else {
                    text.push(f.value(i).to_string());
                }
            }
            out.rows.push((text, floats));
        }
    }
    out.rows.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= FLOAT_TOLERANCE * a.abs().max(b.abs())
}

/// The staged file of every table a run published, from its manifest.
fn output_urls(manifest: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    manifest["outputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, o)| (t.clone(), o["url"].as_str().unwrap().to_string()))
        .collect()
}

/// Asserts that every table the local run published was published by the cluster run with the
/// same columns, the same rows and floats within [`FLOAT_TOLERANCE`]; returns the tables.
async fn assert_same_outputs(
    local: &serde_json::Value,
    cluster: &serde_json::Value,
    open: impl Fn(&str) -> Location,
) -> Vec<String> {
    let (local, cluster) = (output_urls(local), output_urls(cluster));
    let tables: Vec<String> = local.keys().cloned().collect();
    assert_eq!(
        tables,
        cluster.keys().cloned().collect::<Vec<_>>(),
        "the same tables"
    );
    for t in &tables {
        let a = rows(open(&local[t]).get_bytes().await.unwrap());
        let b = rows(open(&cluster[t]).get_bytes().await.unwrap());
        assert_eq!(a.columns, b.columns, "{t}: columns");
        assert_eq!(a.rows.len(), b.rows.len(), "{t}: rows");
        for (i, (x, y)) in a.rows.iter().zip(&b.rows).enumerate() {
            assert_eq!(x.0, y.0, "{t}: row {i}");
            for (u, v) in x.1.iter().zip(&y.1) {
                let same = match (u, v) {
                    (Some(u), Some(v)) => close(*u, *v),
                    (None, None) => true,
                    _ => false,
                };
                assert!(same, "{t}: row {i} ({:?}): {u:?} vs {v:?}", x.0);
            }
        }
    }
    tables
}

/// The demo job on generated data in S3, with `output` and the cluster to run on.
fn demo_spec(s3: &S3Server, output: &str, cluster: Option<&str>) -> lifecycle_spec::ValidJobSpec {
    let mut raw: JobSpec =
        toml::from_str(include_str!("../../jobs/demo.toml")).expect("jobs/demo.toml parses");
    raw.job.output = output.into();
    raw.events.url = "s3://lake/data/events/".into();
    if let Some(u) = raw.users.as_mut() {
        u.url = "s3://lake/data/users.parquet".into();
    }
    if let Some(c) = raw.consent.as_mut() {
        c.source.url = "s3://lake/data/consent.parquet".into();
    }
    if let Some(c) = raw.contacts.as_mut() {
        c.url = "s3://lake/data/contacts.parquet".into();
    }
    raw.storage
        .options
        .insert("endpoint".into(), s3.endpoint.clone());
    raw.storage
        .options
        .insert("allow_http".into(), "true".into());
    raw.cluster.url = cluster.map(String::from);
    raw.validate().unwrap()
}

/// The in-process scheduler plans and decodes whole jobs on this runtime's threads: they get
/// the `lifecycle` binary's 16 MiB stacks (a debug build overflowed 2 MiB on the funnel's plan).
fn big_stack_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_stack_size(16 << 20)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn daily_job_on_ballista_matches_the_local_run() {
    big_stack_runtime().block_on(daily_job_on_ballista());
}

/// `users` users of generated data in `s3://lake/data/`, and the options of a run at its end.
async fn demo_data(s3: &S3Server, users: u64) -> RunOptions {
    let data = tempfile::tempdir().unwrap();
    let params = GeneratorParams {
        users,
        ..GeneratorParams::default()
    };
    lifecycle_synth::generate(&params, data.path()).unwrap();
    for (rel, bytes) in snapshot(data.path()) {
        s3.open("s3://lake/data/")
            .join(&rel)
            .put_bytes(bytes)
            .await
            .unwrap();
    }
    RunOptions {
        as_of: Some(params.end()),
        run_time: params.end().and_hms_opt(6, 0, 0).unwrap().and_utc(),
        // The client's credentials come from its environment, as in a pod with a Secret.
        stores: s3.stores(KEY, SECRET),
        ..RunOptions::default()
    }
}

async fn daily_job_on_ballista() {
    let s3 = S3Server::start(&["lake"]).await;
    let opts = demo_data(&s3, 400).await;

    let local = lifecycle_pipeline::run_job(&demo_spec(&s3, "s3://lake/local/", None), &opts)
        .await
        .unwrap();
    let cluster = InProcessCluster::start(2).await;
    let url = cluster.scheduler.url();
    let remote =
        lifecycle_pipeline::run_job(&demo_spec(&s3, "s3://lake/distributed/", Some(&url)), &opts)
            .await
            .unwrap();

    assert_eq!(local.manifest.engine, "local");
    assert_eq!(remote.manifest.engine, url);
    assert_eq!(local.manifest.rows, remote.manifest.rows);
    for (t, o) in &local.manifest.commit.outputs {
        eprintln!(
            "{t}: local {} rows, cluster {} rows",
            o.rows, remote.manifest.commit.outputs[t].rows
        );
    }
    assert_eq!(local.manifest.stages, remote.manifest.stages);
    let json = |s: &RunSummary| serde_json::to_value(&s.manifest).unwrap();
    let tables = assert_same_outputs(&json(&local), &json(&remote), |u| s3.open(u)).await;
    for t in [
        "quarantine",
        "user_features",
        "user_segments",
        "customer_value",
        "user_clusters",
        "churn_scores",
        "recommendations",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} compared: {tables:?}");
    }
    assert!(remote.manifest.commit.outputs["user_features"].rows > 300);
}

#[test]
fn keyed_ids_on_ballista_equal_the_local_keys_and_another_key_is_refused() {
    big_stack_runtime().block_on(keyed_job_on_ballista());
}

/// Executors key ids with their own key (it never travels in a plan): a keyed run on them
/// publishes what the same run publishes locally, and a run whose key differs from theirs is
/// refused before anything is read, naming both fingerprints.
async fn keyed_job_on_ballista() {
    let s3 = S3Server::start(&["lake"]).await;
    let key = IdKey::new(b"the cluster's key, 32 bytes long");
    let opts = RunOptions {
        id_key: Some(key.clone()),
        ..demo_data(&s3, 200).await
    };
    // With the rollup of `[incremental]`, whose keyed ids are compared too.
    let incremental = |mut spec: lifecycle_spec::ValidJobSpec| {
        spec.incremental = Some(Default::default());
        spec
    };
    let spec = incremental(demo_spec(&s3, "s3://lake/local/", None));
    let local = lifecycle_pipeline::run_job(&spec, &opts).await.unwrap();
    let cluster = InProcessCluster::start_keyed(2, Some(key.clone())).await;
    let url = cluster.scheduler.url();
    let spec = incremental(demo_spec(&s3, "s3://lake/distributed/", Some(&url)));
    let remote = lifecycle_pipeline::run_job(&spec, &opts).await.unwrap();
    let fingerprint = |s: &RunSummary| s.manifest.privacy.as_ref().unwrap().key_fingerprint.clone();
    assert_eq!(fingerprint(&remote), key.fingerprint());
    assert_eq!(fingerprint(&local), key.fingerprint());
    let json = |s: &RunSummary| serde_json::to_value(&s.manifest).unwrap();
    let tables = assert_same_outputs(&json(&local), &json(&remote), |u| s3.open(u)).await;
    for t in [
        "user_features",
        "user_daily",
        "user_history",
        "user_items_daily",
        "user_periods",
        "cohort_retention",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} compared: {tables:?}");
    }
    let features = s3.open(&remote.manifest.commit.outputs["user_features"].url);
    let columns = rows(features.get_bytes().await.unwrap()).columns;
    assert_eq!(columns[0].0, "user_key");

    let other = IdKey::new(b"not the cluster's key, 32 bytes!");
    let opts = RunOptions {
        id_key: Some(other.clone()),
        ..opts
    };
    let spec = demo_spec(&s3, "s3://lake/refused/", Some(&url));
    let err = lifecycle_pipeline::run_job(&spec, &opts).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    for part in [
        "privacy.id_key_env",
        &key.fingerprint(),
        &other.fingerprint(),
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
}

/// Ballista 55's adaptive planner (`ballista.planner.adaptive.enabled`, on by default) returned
/// the rows of `user_segments` (window ranks, a left join, a UNION ALL with an empty branch and an
/// ORDER BY) ten times over. `server_config` turns it off; this pins that down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_segments_are_not_duplicated_on_the_cluster() {
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let ids: Vec<String> = (0..n).map(|i| format!("u{i:04}")).collect();
    let days: Vec<f64> = (0..n).map(|i| (i % 17) as f64).collect();
    let f = |v: &Vec<f64>| Arc::new(Float64Array::from(v.clone())) as _;
    let batch = RecordBatch::try_from_iter(vec![
        ("user_id", Arc::new(StringArray::from(ids)) as _),
        (
            "purchases_total",
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 3))) as _,
        ),
        ("purchase_recency_days", f(&days)),
        ("revenue_total", f(&days)),
        ("tenure_days", f(&days)),
        (
            "signup_time",
            Arc::new(arrow::array::Int64Array::from(vec![0; n as usize])) as _,
        ),
    ])
    .unwrap();
    let file = dir.path().join("f.parquet");
    crate::common::write_batch(&file, &batch);
    let cluster = InProcessCluster::start(2).await;
    let ctx = lifecycle_cluster::remote_context(
        &cluster.scheduler.url(),
        &lifecycle_storage::Stores::default(),
    )
    .await
    .unwrap();
    for table in ["user_features", "users_mapped"] {
        ctx.register_parquet(table, file.to_str().unwrap(), Default::default())
            .await
            .unwrap();
    }
    let sql = lifecycle_features::segments::user_segments_sql(
        &[lifecycle_spec::StageRule {
            name: "new".into(),
            when: "tenure_days < 5".into(),
        }],
        "old",
        Some(("prospect", 1)),
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, n as usize, "one row per user");
}

/// `lifecycle scheduler` and two `lifecycle executor` processes that lose an executor after 5 s
/// without a heartbeat (one per second).
fn process_cluster(dir: &std::path::Path, name: &str) -> ProcessCluster {
    ProcessCluster::start(
        dir,
        name,
        "info",
        &["--executor-timeout-seconds", "5"],
        &[
            "--concurrent-tasks",
            "2",
            "--memory-pool-size",
            "512MiB",
            "--executor-heartbeat-interval-seconds",
            "1",
        ],
    )
}

/// Generated data in `dir/data` and the demo spec writing to `dir/<out>`.
fn process_job(dir: &std::path::Path, users: u64) -> (GeneratorParams, std::path::PathBuf) {
    let params = GeneratorParams {
        users,
        ..GeneratorParams::default()
    };
    lifecycle_synth::generate(&params, &dir.join("data")).unwrap();
    let spec = dir.join("demo.toml");
    std::fs::write(&spec, include_str!("../../jobs/demo.toml")).unwrap();
    (params, spec)
}

/// Runs `lifecycle run` with `--cluster`; once the run logs the end of its first step, `fault`
/// is called (it kills something). Returns the exit code and the run's log.
fn run_with_fault(
    spec: &std::path::Path,
    as_of: chrono::NaiveDate,
    output: &std::path::Path,
    cluster: &str,
    fault: impl FnOnce(),
) -> (i32, String) {
    let log = output.with_extension("log");
    let mut run = Proc::spawn(
        &[
            "run".into(),
            spec.display().to_string(),
            "--as-of".into(),
            as_of.to_string(),
            "--output".into(),
            output.display().to_string(),
            "--cluster".into(),
            cluster.into(),
        ],
        log,
        "info",
    );
    let t = Instant::now();
    let mut fault = Some(fault);
    loop {
        if fault.is_some() && run.log().contains("\"step\":\"read\"") {
            (fault.take().unwrap())();
        }
        if let Some(status) = run.child.try_wait().unwrap() {
            assert!(
                fault.is_none(),
                "the run ended before the fault: {}",
                run.log()
            );
            return (status.code().unwrap_or(-1), run.log());
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "the run neither finished nor failed in 10 minutes: {}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn committed(output: &std::path::Path) -> Vec<chrono::NaiveDate> {
    let loc = lifecycle_storage::Stores::default()
        .open(&url::Url::from_directory_path(output).unwrap())
        .unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(lifecycle_storage::committed_runs(&loc))
        .unwrap()
}

fn manifest(output: &std::path::Path, date: chrono::NaiveDate) -> serde_json::Value {
    let path = output.join(format!("run_manifest/run_date={date}/manifest.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn open_file_url(u: &str) -> Location {
    lifecycle_storage::Stores::default()
        .open(&url::Url::parse(u).unwrap())
        .unwrap()
}

/// An executor killed with SIGKILL in the middle of a job: either the job completes on the
/// other executor (Ballista reruns the lost tasks and stages) and its outputs equal a local
/// run's, or it fails and publishes nothing. Never wrong output.
#[test]
fn killed_executor_gives_right_outputs_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let (params, spec) = process_job(dir.path(), 3000);
    let local_out = dir.path().join("local");
    let (code, out, err) = crate::common::lifecycle_out(&[
        "run",
        spec.to_str().unwrap(),
        "--as-of",
        &params.end().to_string(),
        "--output",
        local_out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let mut cluster = process_cluster(dir.path(), "a");
    let out = dir.path().join("distributed");
    let url = cluster.url();
    let victim = &mut cluster.executors[0].child;
    let (code, log) = run_with_fault(&spec, params.end(), &out, &url, || {
        victim.kill().unwrap();
    });
    assert!(!log.contains("panicked"), "{log}");
    if code == 0 {
        eprintln!("outcome: the job completed on the remaining executor");
        assert_eq!(committed(&out), vec![params.end()]);
        let local = manifest(&local_out, params.end());
        let remote = manifest(&out, params.end());
        assert_eq!(remote["engine"], url);
        assert_eq!(local["rows"], remote["rows"]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(assert_same_outputs(&local, &remote, open_file_url));
    } else {
        let error = log.lines().rfind(|l| l.contains("error")).unwrap_or("");
        eprintln!("outcome: the job failed cleanly (exit {code}): {error}");
        assert_eq!(code, 1, "{log}");
        assert!(committed(&out).is_empty(), "a failed run publishes nothing");
        assert!(log.contains("error"), "{log}");
    }
    if std::env::var_os("LIFECYCLE_KEEP_LOGS").is_some() {
        let keep = dir.keep();
        eprintln!("logs in {}", keep.display());
    }
}

/// The scheduler killed with SIGKILL in the middle of a job: the run fails with an error and
/// publishes nothing; a rerun on a new scheduler succeeds.
#[test]
fn lost_scheduler_fails_the_run_and_a_rerun_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (params, spec) = process_job(dir.path(), 1000);
    let out = dir.path().join("out");
    let mut first = process_cluster(dir.path(), "first");
    let url = first.url();
    let scheduler = &mut first.scheduler.child;
    let (code, log) = run_with_fault(&spec, params.end(), &out, &url, || {
        scheduler.kill().unwrap();
    });
    assert_eq!(code, 1, "the run fails: {log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(committed(&out).is_empty(), "nothing published");
    drop(first);

    let second = process_cluster(dir.path(), "second");
    let (code, out_text, err) = crate::common::lifecycle_out(&[
        "run",
        spec.to_str().unwrap(),
        "--as-of",
        &params.end().to_string(),
        "--output",
        out.to_str().unwrap(),
        "--cluster",
        &second.url(),
    ]);
    assert_eq!(code, 0, "the rerun succeeds: {out_text}{err}");
    assert_eq!(committed(&out), vec![params.end()]);
}
