//! Helpers shared by the integration tests: real Parquet and CSV inputs in temporary folders,
//! a run of the real pipeline, and reading its published tables back.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use chrono::{DateTime, NaiveDate, Utc};
use lifecycle_pipeline::{RunOptions, RunSummary};
use lifecycle_spec::JobSpec;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One event as a test writes it: user, RFC 3339 time, type, item, amount.
pub type Ev<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<f64>);

pub fn ts(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Writes events in the contract's own schema as a Parquet file.
pub fn write_events(path: &Path, events: &[Ev]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| ts(e.1)))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.2))),
            Arc::new(StringArray::from_iter(events.iter().map(|e| e.3))),
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.4))),
        ],
    )
    .unwrap();
    write_batch(path, &batch);
}

pub fn write_batch(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// `lifecycle generate` (the real binary) of `users` users and `items` items over `days` days
/// from `start` into `out`.
pub fn generate_log(out: &Path, users: u32, items: u32, days: u32, start: &str) {
    let (users, items, days) = (users.to_string(), items.to_string(), days.to_string());
    let (code, _, err) = lifecycle_out(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--users",
        &users,
        "--items",
        &items,
        "--days",
        &days,
        "--start",
        start,
    ]);
    assert_eq!(code, 0, "{err}");
}

/// A job spec in `dir/job.toml` with `[job]` pointing at `dir/out` and `body` after it.
pub fn write_spec(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("job.toml");
    std::fs::write(
        &path,
        format!("[job]\nname = \"test\"\noutput = \"out\"\n{body}"),
    )
    .unwrap();
    path
}

/// The smallest job: a view by `a` and a purchase by `b` early in February 2024.
pub fn two_events_job(dir: &Path) -> PathBuf {
    write_events(
        &dir.join("events/part-0.parquet"),
        &[
            ("a", "2024-02-01T10:00:00Z", "view", None, None),
            (
                "b",
                "2024-02-02T10:00:00Z",
                "purchase",
                Some("i"),
                Some(2.0),
            ),
        ],
    );
    write_spec(dir, "[events]\nurl = \"events/\"\n")
}

/// Runs the real pipeline on a spec file for a cutoff date.
pub async fn run(
    spec: &Path,
    as_of: &str,
    run_time: &str,
) -> lifecycle_pipeline::Result<RunSummary> {
    let spec = JobSpec::from_file(spec).unwrap().validate().unwrap();
    let opts = RunOptions {
        as_of: Some(date(as_of)),
        run_time: DateTime::parse_from_rfc3339(run_time)
            .unwrap()
            .with_timezone(&Utc),
        ..RunOptions::default()
    };
    // Boxed: a debug build's run is a future larger than a test thread's stack holds well.
    Box::pin(lifecycle_pipeline::run_job(&spec, &opts)).await
}

/// A published table read back, indexed by its first column (`user_id`).
pub struct Table {
    pub batch: RecordBatch,
    pub rows: HashMap<String, usize>,
}

impl Table {
    pub fn read(out: &Path, table: &str, run_date: &str) -> Table {
        Table::read_file(&out.join(format!("{table}/run_date={run_date}/part-0.parquet")))
    }

    /// Any Parquet file.
    pub fn read_file(path: &Path) -> Table {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let mut rows = HashMap::new();
        if batch.num_columns() > 0 && batch.column(0).data_type() == &DataType::Utf8 {
            for (i, v) in batch.column(0).as_string::<i32>().iter().enumerate() {
                rows.insert(v.unwrap_or("").to_string(), i);
            }
        }
        Table { batch, rows }
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    fn cell(&self, user: &str, col: &str) -> (&dyn Array, usize) {
        let i = *self
            .rows
            .get(user)
            .unwrap_or_else(|| panic!("no row for {user}"));
        let c = self
            .batch
            .column_by_name(col)
            .unwrap_or_else(|| panic!("no column {col}"));
        (c.as_ref(), i)
    }

    pub fn f64(&self, user: &str, col: &str) -> Option<f64> {
        let (c, i) = self.cell(user, col);
        c.is_valid(i)
            .then(|| c.as_primitive::<Float64Type>().value(i))
    }

    pub fn i64(&self, user: &str, col: &str) -> Option<i64> {
        let (c, i) = self.cell(user, col);
        c.is_valid(i).then(|| match c.data_type() {
            DataType::Int32 => c.as_primitive::<Int32Type>().value(i) as i64,
            _ => c.as_primitive::<Int64Type>().value(i),
        })
    }

    pub fn str(&self, user: &str, col: &str) -> Option<String> {
        let (c, i) = self.cell(user, col);
        c.is_valid(i)
            .then(|| c.as_string::<i32>().value(i).to_string())
    }

    pub fn ts(&self, user: &str, col: &str) -> Option<i64> {
        let (c, i) = self.cell(user, col);
        c.is_valid(i)
            .then(|| c.as_primitive::<TimestampMicrosecondType>().value(i))
    }

    /// All values of a text column, in file order.
    pub fn strings(&self, col: &str) -> Vec<Option<String>> {
        self.batch
            .column_by_name(col)
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    /// An integer column (any width) without nulls.
    pub fn column_i64(&self, col: &str) -> Vec<i64> {
        let column = self.batch.column_by_name(col).unwrap();
        arrow::compute::cast(column, &DataType::Int64)
            .unwrap()
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.unwrap())
            .collect()
    }
}

/// Every commit file under the output `out` (`run_date=D/commit-N.json`), relative, sorted.
/// Safe to call while a run writes there: it lists names and reads no file (object_store's
/// staging file `commit-N.json#K`, renamed between a listing and a read, made a polling test
/// fail in CI), and a staging file is not a commit.
pub fn commit_files(out: &Path) -> Vec<String> {
    file_paths(&out.join("run_manifest"))
        .into_iter()
        .map(|p| relative(&out.join("run_manifest"), &p))
        .filter(|rel| rel.contains("commit-") && rel.ends_with(".json"))
        .collect()
}

/// Every file under `dir`, relative, sorted, with its bytes.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = file_paths(dir)
        .into_iter()
        .map(|p| (relative(dir, &p), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Every file under `dir` (none if it does not exist), sorted.
fn file_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn relative(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap().display().to_string()
}

/// This package's directory, read when the test runs: cargo sets `CARGO_MANIFEST_DIR` for the
/// processes it runs too, and a directory baked in at compile time is wrong when another checkout
/// shares the target dir (cargo reuses artifacts across checkout paths).
pub fn repo_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn shared_datasets() -> PathBuf {
    repo_dir().join("../shared/datasets")
}

pub fn assert_close(got: Option<f64>, want: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: null, want {want}"));
    assert!((got - want).abs() < 1e-9, "{what}: got {got}, want {want}");
}

/// Runs the real `lifecycle` binary; returns its exit code, stdout and stderr.
pub fn lifecycle_out(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(args)
        .env("LIFECYCLE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `lifecycle score --model MODEL --features FEATURES --output OUTPUT`: exit code, stdout, stderr.
pub fn lifecycle_score(model: &Path, features: &Path, output: &Path) -> (i32, String, String) {
    lifecycle_out(&[
        "score",
        "--model",
        model.to_str().unwrap(),
        "--features",
        features.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ])
}

/// Runs the real `lifecycle` binary; returns its exit code and stderr.
pub fn lifecycle(args: &[&str]) -> (i32, String) {
    let (code, _, err) = lifecycle_out(args);
    (code, err)
}

/// What an [`Intercept`] store does with a write.
pub enum Action {
    Pass,
    /// Fail it, as a crashed disk or a lost connection would.
    Fail,
    /// Never finish it: the process is "killed" while it waits.
    Hang,
    /// Hold it until the condition holds (checked every 10 ms), then pass it.
    Until(Arc<dyn Fn() -> bool + Send + Sync>),
}

/// The kind of write an [`Intercept`] store sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Put,
    Multipart,
}

type Hook = Arc<dyn Fn(Call, &object_store::path::Path) -> Action + Send + Sync>;

/// A store that passes everything to the real one, but lets a test see, fail or stall writes.
pub struct Intercept {
    inner: Arc<dyn object_store::ObjectStore>,
    hook: Hook,
}

impl Intercept {
    /// A wrapper for `Stores::with_wrapper`.
    pub fn wrapper(
        hook: impl Fn(Call, &object_store::path::Path) -> Action + Send + Sync + 'static,
    ) -> lifecycle_storage::StoreWrapper {
        let hook: Hook = Arc::new(hook);
        Arc::new(move |_, inner| {
            Arc::new(Intercept {
                inner,
                hook: hook.clone(),
            })
        })
    }

    async fn check(&self, call: Call, path: &object_store::path::Path) -> object_store::Result<()> {
        match (self.hook)(call, path) {
            Action::Pass => Ok(()),
            Action::Fail => Err(object_store::Error::Generic {
                store: "Intercept",
                source: format!("injected failure writing {path}").into(),
            }),
            Action::Hang => std::future::pending().await,
            Action::Until(ready) => {
                while !ready() {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for Intercept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Intercept({})", self.inner)
    }
}

impl std::fmt::Display for Intercept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Intercept({})", self.inner)
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for Intercept {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.check(Call::Put, location).await?;
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.check(Call::Multipart, location).await?;
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
