//! Hostile input (docs/reliability.md): each kind either lands in the quarantine with its
//! count, or fails with an error that names the file, column or setting, and publishes nothing.

use crate::common::*;
use crate::failures::{committed, fails_cleanly};

const CSV_HEADER: &str = "user_id,event_time,event_type,item_id,amount\n";

/// A CSV events file and a spec for it in a new folder.
fn csv_job(rows: &str, extra: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.csv"), format!("{CSV_HEADER}{rows}")).unwrap();
    let body = format!("[events]\nurl = \"events.csv\"\n{extra}");
    let spec = write_spec(dir.path(), &body);
    (dir, spec.to_str().unwrap().to_string())
}

/// [`csv_job`], run as of 2024-03-01 at `run_time`.
async fn run_csv(
    rows: &str,
    extra: &str,
    run_time: &str,
) -> (tempfile::TempDir, lifecycle_pipeline::RunSummary) {
    let (dir, spec) = csv_job(rows, extra);
    let s = run(std::path::Path::new(&spec), "2024-03-01", run_time)
        .await
        .unwrap();
    (dir, s)
}

/// [`run_csv`] allowing 90% bad rows, at the cutoff.
async fn run_lenient(rows: &str) -> (tempfile::TempDir, lifecycle_pipeline::RunSummary) {
    let lenient = "[quality]\nmax_bad_fraction = 0.9\n";
    run_csv(rows, lenient, "2024-03-01T00:00:00Z").await
}

#[tokio::test]
async fn nan_infinite_and_huge_amounts_are_quarantined() {
    let rows = "a,2024-02-01 10:00:00,purchase,i1,3.0\n\
                b,2024-02-01 10:00:00,purchase,i1,NaN\n\
                c,2024-02-01 10:00:00,purchase,i1,inf\n\
                d,2024-02-01 10:00:00,purchase,i1,-inf\n\
                e,2024-02-01 10:00:00,view,i1,inf\n\
                f,2024-02-01 10:00:00,view,i1,\n\
                g,2024-02-01 10:00:00,purchase,i1,1e308\n\
                h,2024-02-01 10:00:00,view,i1,-1e20\n";
    let (dir, s) = run_lenient(rows).await;
    let q = &s.manifest.quality;
    assert_eq!(q["non_finite_amount"], 3, "{q:?}");
    assert_eq!(
        q["negative_purchase_amount"], 1,
        "-inf on a purchase is negative"
    );
    // Found by `random_logs`: 1e308 is finite, but no exact sum holds it.
    assert_eq!(q["amount_out_of_range"], 2, "{q:?}");
    assert_eq!((s.manifest.rows.bad, s.manifest.rows.good), (6, 2));
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_eq!(f.strings("user_id"), [Some("a".into()), Some("f".into())]);
    assert_close(f.f64("a", "revenue_total"), 3.0, "revenue_total");
    let quarantine = Table::read(&dir.path().join("out"), "quarantine", "2024-03-01");
    assert_eq!(quarantine.len(), 6);
}

/// Found by `random_logs`: a CSV whose time column the reader took for timestamps failed the
/// whole run on one value that only looks like a time, and one word among numbers in `amount`
/// failed it too. Both are row problems: quarantined.
#[tokio::test]
async fn a_bad_time_or_amount_among_good_ones_is_quarantined_not_fatal() {
    let rows = "a,2024-02-01 10:00:00,view,i1,\n\
                b,2024-13-45 00:00:00,view,i1,\n\
                c,2024-02-02 10:00:00,purchase,i1,abc\n\
                d,2024-02-03 10:00:00,purchase,i1,4.5\n";
    let (dir, s) = run_lenient(rows).await;
    let q = &s.manifest.quality;
    assert_eq!(q["unparseable_event_time"], 1, "{q:?}");
    assert_eq!(q["purchase_without_amount"], 1, "{q:?}");
    let quarantine = Table::read(&dir.path().join("out"), "quarantine", "2024-03-01");
    let raw = quarantine.strings("raw_event_time");
    assert!(raw.contains(&Some("2024-13-45 00:00:00".into())), "{raw:?}");
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_eq!(f.strings("user_id"), [Some("a".into()), Some("d".into())]);
    assert_close(f.f64("d", "revenue_total"), 4.5, "revenue_total");
}

#[tokio::test]
async fn an_amount_column_empty_in_every_row_is_no_amount() {
    let rows = "a,2024-02-01 10:00:00,view,i1,\nb,2024-02-02 10:00:00,like,i2,\n";
    let (dir, s) = run_csv(rows, "", "2024-03-01T00:00:00Z").await;
    assert_eq!(s.manifest.rows.good, 2);
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_eq!(f.i64("a", "purchases_total"), Some(0));
}

#[test]
fn an_output_at_or_inside_an_input_is_a_spec_error() {
    let dir = tempfile::tempdir().unwrap();
    write_events(
        &dir.path().join("events/dt=2024-01-10/part-0.parquet"),
        &[("a", "2024-01-10T10:00:00Z", "view", None, None)],
    );
    let spec = write_spec(dir.path(), "[events]\nurl = \"events/\"\n");
    let spec = spec.to_str().unwrap();
    let inside = dir.path().join("events/out");
    let inside = inside.to_str().unwrap();
    let events = dir.path().join("events");
    for output in [inside, events.to_str().unwrap()] {
        let (code, err) = lifecycle(&["run", spec, "--as-of", "2024-02-01", "--output", output]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("`job.output`") && err.contains("events.url"),
            "{err}"
        );
    }
    assert!(!dir.path().join("events/out").exists(), "nothing written");
    assert!(
        !dir.path().join("events/_leases").exists(),
        "no lease taken"
    );
}

#[test]
fn a_corrupt_data_page_behind_a_good_footer_names_the_input_file() {
    let (dir, spec, before) = committed();
    let path = dir.path().join("events/dt=2024-01-11/part-0.parquet");
    write_events(
        &path,
        &[("c", "2024-01-11T10:00:00Z", "view", Some("i9"), None)],
    );
    // Rewritten without page indexes, so that everything between the leading magic and the
    // footer is data pages; those overwritten, the footer (schema, row counts) intact:
    // registering the file works, decoding it does not.
    let batch = read_parquet(&path);
    let props = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .set_offset_index_disabled(true)
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    let footer = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    bytes[4..n - 8 - footer].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    let (code, err) = lifecycle(&["validate", &spec]);
    assert_eq!(
        code, 0,
        "the footer reads, so only decoding finds it: {err}"
    );
    fails_cleanly(
        &dir,
        &spec,
        &before,
        &["dt=2024-01-11/part-0.parquet", "cannot be read as parquet"],
    );
    let (_, err) = lifecycle(&["run", &spec, "--as-of", "2024-02-01"]);
    assert!(
        !err.contains("_runs/"),
        "blames the run's own staging file: {err}"
    );
}

#[test]
fn a_later_csv_row_of_another_type_names_the_input_file() {
    // Integer ids in the rows the reader infers the type from, then a text one.
    let mut rows: String = (1..=6)
        .map(|i| format!("{i},2024-02-01 10:00:00,purchase,i1,{i}\n"))
        .collect();
    rows.push_str("oops,2024-02-01 10:00:00,purchase,i1,1\n");
    let (dir, spec) = csv_job(&rows, "[events.csv]\ninfer_rows = 3\n");
    let (code, err) = lifecycle(&["run", &spec, "--as-of", "2024-03-01"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("events.csv") && err.contains("oops"), "{err}");
    assert!(
        !err.contains("_runs/"),
        "blames the run's own staging file: {err}"
    );
    let out = dir.path().join("out");
    assert!(!out.join("run_manifest").exists(), "nothing committed");
}

fn read_parquet(path: &std::path::Path) -> arrow::array::RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.next().unwrap().unwrap()
}

/// One kind of bad input: the files of a fresh folder, the spec's body after `[job]`, and what
/// the binary must answer.
struct Bad {
    kind: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    spec: &'static str,
    exit: i32,
    must_name: &'static [&'static str],
}

fn csv(body: &str) -> Vec<u8> {
    format!("{CSV_HEADER}{body}").into_bytes()
}

/// A small valid events Parquet file, as bytes.
fn parquet_events(amount_as_int: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    write_events(
        &path,
        &[("a", "2024-02-01T10:00:00Z", "purchase", None, Some(2.0))],
    );
    if !amount_as_int {
        return std::fs::read(&path).unwrap();
    }
    retype(&path, 4, arrow::datatypes::DataType::Int64);
    std::fs::read(&path).unwrap()
}

/// Rewrites the Parquet file at `path` with column `i` cast to `to`.
fn retype(path: &std::path::Path, i: usize, to: arrow::datatypes::DataType) {
    let batch = read_parquet(path);
    let mut columns = batch.columns().to_vec();
    columns[i] = arrow::compute::cast(&columns[i], &to).unwrap();
    let fields: Vec<arrow::datatypes::Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    write_batch(
        path,
        &arrow::array::RecordBatch::try_new(schema, columns).unwrap(),
    );
}

fn bad_inputs() -> Vec<Bad> {
    let events_dir = "[events]\nurl = \"ev/\"\n";
    let events_csv = "[events]\nurl = \"e.csv\"\n";
    let good_csv = csv("a,2024-02-01 10:00:00,view,i1,\n");
    let truncated = {
        let b = parquet_events(false);
        b[..b.len() - 10].to_vec()
    };
    vec![
        Bad {
            kind: "an empty folder",
            files: vec![("ev/.keep", vec![])],
            spec: events_dir,
            exit: 1,
            must_name: &["no input files found for events", "/ev/"],
        },
        Bad {
            kind: "a zero-byte Parquet file",
            files: vec![("ev/a.parquet", vec![])],
            spec: events_dir,
            exit: 1,
            must_name: &["ev/a.parquet", "cannot be read as parquet"],
        },
        Bad {
            kind: "a truncated Parquet footer",
            files: vec![("ev/a.parquet", truncated)],
            spec: events_dir,
            exit: 1,
            must_name: &["ev/a.parquet", "cannot be read as parquet"],
        },
        Bad {
            kind: "a column whose type differs between files",
            files: vec![
                ("ev/a.parquet", parquet_events(false)),
                ("ev/b.parquet", parquet_events(true)),
            ],
            spec: events_dir,
            exit: 1,
            must_name: &[
                "column `amount`",
                "ev/a.parquet",
                "ev/b.parquet",
                "Float64",
                "Int64",
            ],
        },
        Bad {
            kind: "invalid UTF-8 in an id",
            files: vec![(
                "e.csv",
                csv("u\u{0}1,2024-02-01 10:00:00,view,i1,\n")
                    .into_iter()
                    .map(|b| if b == 0 { 0xff } else { b })
                    .collect(),
            )],
            spec: events_csv,
            exit: 1,
            must_name: &["e.csv", "UTF-8"],
        },
        Bad {
            kind: "an unknown URL scheme for the output",
            files: vec![("e.csv", good_csv.clone())],
            spec: "[events]\nurl = \"e.csv\"\n",
            exit: 2,
            must_name: &[],
        },
        Bad {
            kind: "an unknown URL scheme for the events",
            files: vec![],
            spec: "[events]\nurl = \"ftp://host/events/\"\n",
            exit: 2,
            must_name: &["`events.url`", "ftp"],
        },
        Bad {
            kind: "a negative window",
            files: vec![("e.csv", good_csv.clone())],
            spec: "[events]\nurl = \"e.csv\"\n[features]\nwindows_days = [-3]\n",
            exit: 2,
            must_name: &["windows_days", "expected u32"],
        },
        Bad {
            kind: "an empty stage rule",
            files: vec![("e.csv", good_csv)],
            spec: "[events]\nurl = \"e.csv\"\n[[stages.rules]]\nname = \"x\"\nwhen = \"\"\n",
            exit: 2,
            must_name: &["`stages.rules[0]`", "must not be empty"],
        },
    ]
}

#[test]
fn bad_inputs_fail_naming_what_to_fix_and_publish_nothing() {
    for bad in bad_inputs() {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in &bad.files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let spec = write_spec(dir.path(), bad.spec);
        let spec = spec.to_str().unwrap();
        let mut args = vec!["run", spec, "--as-of", "2024-03-01"];
        if bad.kind == "an unknown URL scheme for the output" {
            args.extend(["--output", "ftp://host/out/"]);
        }
        let (code, err) = lifecycle(&args);
        assert_eq!(code, bad.exit, "{}: {err}", bad.kind);
        for word in bad.must_name {
            assert!(
                err.contains(word),
                "{}: should name `{word}`: {err}",
                bad.kind
            );
        }
        if bad.kind == "an unknown URL scheme for the output" {
            assert!(err.contains("`job.output`") && err.contains("ftp"), "{err}");
        }
        // The lease folder may stay behind, empty; no file does.
        let left: Vec<String> = snapshot(&dir.path().join("out"))
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert!(left.is_empty(), "{}: left files {left:?}", bad.kind);
    }
}

#[tokio::test]
async fn odd_but_valid_files_run_and_count_what_they_hold() {
    // A UTF-8 byte order mark and mixed line endings.
    let dir = tempfile::tempdir().unwrap();
    let body = "\u{feff}user_id,event_time,event_type,item_id,amount\r\n\
                a,2024-02-01 10:00:00,view,i1,\nb,2024-02-01 11:00:00,purchase,i1,2.5\r\n";
    std::fs::write(dir.path().join("e.csv"), body).unwrap();
    let spec = write_spec(dir.path(), "[events]\nurl = \"e.csv\"\n");
    let s = run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!((s.manifest.rows.read, s.manifest.rows.good), (2, 2));
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_close(
        f.f64("b", "revenue_total"),
        2.5,
        "revenue after a CRLF line",
    );

    // 1970 is a time like any other; 9999 is in the future of the run: quarantined.
    let rows = "a,1970-01-01 00:00:00,view,i1,\nb,9999-12-31 23:59:59,view,i1,\n\
                c,2024-02-01 00:00:00,view,i1,\n";
    let (dir, s) = run_csv(
        rows,
        "[quality]\nmax_bad_fraction = 0.5\n",
        "2024-03-01T00:00:00Z",
    )
    .await;
    assert_eq!(s.manifest.quality["future_event_time"], 1);
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_eq!(f.strings("user_id"), [Some("a".into()), Some("c".into())]);

    // Every event at or after the cutoff: nothing leaks in, the run still commits.
    let (dir, s) = run_csv(
        "a,2024-03-01 00:00:00,view,i1,\n",
        "",
        "2024-03-02T00:00:00Z",
    )
    .await;
    assert_eq!(s.manifest.commit.outputs["user_features"].rows, 0);
    let file = dir
        .path()
        .join("out/user_features/run_date=2024-03-01/part-0.parquet");
    assert!(file.exists(), "an empty table is still published");

    // A users table that lists a user twice, and an event type the spec does not know, with
    // a 10 MB name: one segment row per user; the unknown type is an event, not a purchase.
    let huge = "x".repeat(10 << 20);
    let rows = format!("a,2024-02-01 10:00:00,{huge},i1,\n");
    let (dir, spec) = csv_job(&rows, "[users]\nurl = \"users.csv\"\n");
    std::fs::write(
        dir.path().join("users.csv"),
        "user_id,signup_time\na,2024-01-01 00:00:00\na,2024-01-02 00:00:00\nz,2024-01-01 00:00:00\n",
    )
    .unwrap();
    let s = run(
        std::path::Path::new(&spec),
        "2024-03-01",
        "2024-03-01T00:00:00Z",
    )
    .await
    .unwrap();
    assert_eq!(s.manifest.rows.good, 1);
    let seg = Table::read(&dir.path().join("out"), "user_segments", "2024-03-01");
    assert_eq!(seg.strings("user_id"), [Some("a".into()), Some("z".into())]);
    assert_eq!(seg.str("z", "stage").as_deref(), Some("prospect"));
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_eq!(
        (f.i64("a", "events_total"), f.i64("a", "purchases_total")),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn nanosecond_and_millisecond_times_give_the_same_features() {
    use arrow::datatypes::{DataType, TimeUnit};
    let mut features = vec![];
    for unit in [TimeUnit::Nanosecond, TimeUnit::Millisecond] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events/dt=2024-02-01/part-0.parquet");
        write_events(
            &path,
            &[
                ("a", "2024-02-01T10:00:00.123Z", "view", Some("i1"), None),
                (
                    "a",
                    "2024-02-10T10:00:00Z",
                    "purchase",
                    Some("i1"),
                    Some(4.0),
                ),
            ],
        );
        retype(&path, 1, DataType::Timestamp(unit, Some("UTC".into())));
        let spec = write_spec(dir.path(), "[events]\nurl = \"events/\"\n");
        run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
            .await
            .unwrap();
        let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
        features.push((
            f.f64("a", "tenure_days"),
            f.f64("a", "recency_days"),
            f.i64("a", "events_total"),
        ));
    }
    assert_eq!(features[0].2, Some(2));
    assert_close(
        features[0].0,
        features[1].0.unwrap(),
        "tenure_days, ns vs ms",
    );
    assert_close(
        features[0].1,
        features[1].1.unwrap(),
        "recency_days, ns vs ms",
    );
}

/// SIGTERM (a pod's eviction) in the middle of a run: it stops, removes its data, releases its
/// lease, publishes nothing and exits 143; a rerun then commits.
#[test]
fn sigterm_stops_a_run_that_publishes_nothing_and_frees_its_date() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (code, err) = lifecycle(&["demo", "--dir", demo.to_str().unwrap(), "--users", "1500"]);
    assert_eq!(code, 0, "{err}");
    let spec = demo.join("demo.toml");
    let out = dir.path().join("again");
    let args = [
        "run",
        spec.to_str().unwrap(),
        "--as-of",
        "2024-06-29",
        "--output",
        out.to_str().unwrap(),
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(args)
        .env("LIFECYCLE_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stop it once the features are written and the models are training.
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "the run ended first: {seen}"
        );
        seen.push_str(&line);
        if line.contains("step done") && line.contains("\"segments\"") {
            break;
        }
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = log.lines().map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("stopped by SIGTERM")),
        "{}",
        rest.join("\n")
    );
    let left: Vec<String> = snapshot(&out).into_iter().map(|f| f.0).collect();
    assert!(
        left.is_empty(),
        "no commit, no run data, no lease: {left:?}"
    );
    // The lease was released, not left to expire: a rerun commits at once.
    let (code, err) = lifecycle(&args);
    assert_eq!(code, 0, "{err}");
}

mod random_logs {
    //! Property: a random small CSV log under a random mapping runs to a commit (bad rows
    //! quarantined), or fails with an error that names the file or the setting; never a panic.

    use proptest::prelude::*;

    use crate::common::*;

    fn pick(values: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
        prop::sample::select(values.to_vec())
    }

    /// A row of the five source columns, from values real dumps have, good and bad.
    fn row() -> impl Strategy<Value = [&'static str; 5]> {
        (
            pick(&["u1", "u2", "", " ", "ü", "17850"]),
            pick(&[
                "2024-02-01 10:00:00",
                "2024-02-01T10:00:00Z",
                "1706781600",
                "yesterday",
                "",
                "9999-12-31 23:59:59",
                "2024-13-45 00:00:00",
            ]),
            pick(&["purchase", "view", "", "PURCHASE", "like"]),
            pick(&["i1", "", "NULL", "i2"]),
            pick(&["3.5", "-1", "NaN", "inf", "abc", "", "1e308", "0"]),
        )
            .prop_map(|(a, b, c, d, e)| [a, b, c, d, e])
    }

    /// The `[events.columns]` mapping of the source columns `uid, ts, kind, sku, price`.
    fn mapping() -> impl Strategy<Value = String> {
        (
            pick(&["user_id = \"uid\"", "user_id = \"missing\"", ""]),
            pick(&[
                "event_time = \"ts\"",
                "event_time = { column = \"ts\", unit = \"seconds\" }",
                "event_time = { column = \"ts\", format = \"%Y-%m-%d %H:%M:%S\" }",
                "event_time = { column = \"ts\", timezone = \"Europe/London\" }",
                "event_time = { value = \"x\" }",
            ]),
            pick(&[
                "event_type = \"kind\"",
                "event_type = { value = \"purchase\" }",
            ]),
            pick(&["item_id = \"sku\"", ""]),
            pick(&[
                "amount = \"price\"",
                "amount = { expr = \"price * 2\" }",
                "amount = { expr = \"no_such_column + 1\" }",
                "",
            ]),
        )
            .prop_map(|(a, b, c, d, e)| [a, b, c, d, e].join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn random_logs_commit_or_name_what_is_wrong(
            rows in prop::collection::vec(row(), 0..8),
            columns in mapping(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut csv = String::from("uid,ts,kind,sku,price\n");
            for r in &rows {
                csv.push_str(&r.join(","));
                csv.push('\n');
            }
            std::fs::write(dir.path().join("events.csv"), &csv).unwrap();
            let body = format!(
                "[events]\nurl = \"events.csv\"\n[events.columns]\n{columns}\n\
                 [quality]\nmax_bad_fraction = 1.0\n"
            );
            let spec = write_spec(dir.path(), &body);
            let parsed = lifecycle_spec::JobSpec::from_file(&spec).and_then(|s| s.validate());
            let Ok(_) = parsed else {
                let e = parsed.unwrap_err().to_string();
                prop_assert!(e.contains("setting `") || e.contains("job.toml"), "{e}");
                return Ok(());
            };
            let rt = tokio::runtime::Runtime::new().unwrap();
            let result = rt.block_on(run(&spec, "2024-03-01", "2024-03-01T00:00:00Z"));
            if let Err(e) = result {
                let msg = e.to_string();
                prop_assert!(
                    msg.contains("events.csv") || msg.contains("setting `") || msg.contains("events.columns"),
                    "an error that names neither the file nor a setting: {msg}\n{csv}{columns}"
                );
                prop_assert!(!msg.contains("_runs/"), "names the run's staging file: {msg}");
                prop_assert!(!dir.path().join("out/run_manifest").exists(), "a failed run committed");
            }
        }
    }
}

/// A users table in two files that both list one user, and an items table whose ids the events
/// never name (and one item listed twice): one segment row per user, recommendations only of
/// items someone touched, and a commit.
#[tokio::test]
async fn users_over_two_files_and_items_nobody_touched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("users")).unwrap();
    std::fs::write(
        dir.path().join("events.csv"),
        format!(
            "{CSV_HEADER}a,2024-02-01 10:00:00,purchase,i1,3.0\nb,2024-02-02 10:00:00,view,i1,\n"
        ),
    )
    .unwrap();
    let users = |rows: &str| format!("user_id,signup_time\n{rows}");
    std::fs::write(
        dir.path().join("users/part-0.csv"),
        users("a,2024-01-01 00:00:00\nz,2024-01-05 00:00:00\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("users/part-1.csv"),
        users("z,2024-01-06 00:00:00\ny,2024-01-07 00:00:00\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("items.csv"),
        "item_id,category\ni1,mugs\ni9,tea\ni9,tea\ni8,mugs\n",
    )
    .unwrap();
    let body = "[events]\nurl = \"events.csv\"\n\
                [users]\nurl = \"users/\"\nformat = \"csv\"\n\
                [items]\nurl = \"items.csv\"\n\
                [recommendations]\nenabled = true\nn = 2\nalgorithms = { popularity = 1.0, content = 1.0 }\n";
    let spec = write_spec(dir.path(), body);
    run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let seg = Table::read(&out, "user_segments", "2024-03-01");
    let ids = seg.strings("user_id");
    assert_eq!(
        ids,
        [
            Some("a".into()),
            Some("b".into()),
            Some("y".into()),
            Some("z".into())
        ]
    );
    assert_eq!(seg.str("z", "stage").as_deref(), Some("prospect"));
    let recs = Table::read(&out, "recommendations", "2024-03-01");
    let items: std::collections::BTreeSet<_> = recs.strings("item_id").into_iter().collect();
    assert_eq!(
        items,
        [Some("i1".to_string())].into(),
        "only items someone touched"
    );
}

mod random_parquet {
    //! Property: two Parquet files whose columns each take one of the types real exports use
    //! (times as timestamps of any unit, text or epoch seconds; amounts as floats, integers,
    //! text or all null; ids as text or integers), under either time mapping, either commit or
    //! fail naming a file or a setting; never a panic, never the run's staging file.

    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Float64Array, Int64Array, NullArray, RecordBatch, StringArray,
        TimestampMicrosecondArray, TimestampMillisecondArray,
    };
    use proptest::prelude::*;

    use crate::common::*;

    /// How one file stores each column.
    #[derive(Debug, Clone, Copy)]
    struct Layout {
        time: u8,
        amount: u8,
        id_as_int: bool,
    }

    const T0: i64 = 1_706_781_600; // 2024-02-01T10:00:00Z

    fn batch(l: Layout, n: usize) -> RecordBatch {
        let secs: Vec<i64> = (0..n as i64).map(|i| T0 + i * 3600).collect();
        let time: ArrayRef = match l.time {
            0 => Arc::new(
                TimestampMicrosecondArray::from_iter_values(secs.iter().map(|s| s * 1_000_000))
                    .with_timezone("UTC"),
            ),
            1 => Arc::new(TimestampMillisecondArray::from_iter_values(
                secs.iter().map(|s| s * 1000),
            )),
            2 => Arc::new(StringArray::from_iter_values(secs.iter().map(|s| {
                chrono::DateTime::from_timestamp(*s, 0)
                    .unwrap()
                    .to_rfc3339()
            }))),
            _ => Arc::new(Int64Array::from(secs.clone())),
        };
        let amount: ArrayRef = match l.amount {
            0 => Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| i as f64 + 0.5),
            )),
            1 => Arc::new(Int64Array::from_iter_values(0..n as i64)),
            2 => Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("{i}.25")),
            )),
            _ => Arc::new(NullArray::new(n)),
        };
        let id: ArrayRef = if l.id_as_int {
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i % 3)))
        } else {
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("u{}", i % 3)),
            ))
        };
        let kind = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| if i % 2 == 0 { "purchase" } else { "view" }),
        ));
        RecordBatch::try_from_iter([
            ("user_id", id),
            ("event_time", time),
            ("event_type", kind as ArrayRef),
            ("amount", amount),
        ])
        .unwrap()
    }

    fn layout() -> impl Strategy<Value = Layout> {
        (0..4u8, 0..4u8, any::<bool>()).prop_map(|(time, amount, id_as_int)| Layout {
            time,
            amount,
            id_as_int,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn typed_files_commit_or_name_what_is_wrong(
            a in layout(),
            b in layout(),
            rows in (1..6usize, 1..6usize),
            unit in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            write_batch(&dir.path().join("events/dt=2024-02-01/a.parquet"), &batch(a, rows.0));
            write_batch(&dir.path().join("events/dt=2024-02-02/b.parquet"), &batch(b, rows.1));
            let time = if unit {
                "event_time = { column = \"event_time\", unit = \"seconds\" }"
            } else {
                "event_time = \"event_time\""
            };
            let body = format!(
                "[events]\nurl = \"events/\"\n[events.columns]\n{time}\n\
                 [quality]\nmax_bad_fraction = 1.0\n"
            );
            let spec = write_spec(dir.path(), &body);
            let rt = tokio::runtime::Runtime::new().unwrap();
            let result = rt.block_on(run(&spec, "2024-03-01", "2024-03-01T00:00:00Z"));
            if let Err(e) = result {
                let msg = e.to_string();
                prop_assert!(
                    msg.contains(".parquet") || msg.contains("setting `"),
                    "names neither a file nor a setting: {msg}\n{a:?} {b:?} unit={unit}"
                );
                prop_assert!(!msg.contains("_runs/"), "names the run's staging file: {msg}");
                prop_assert!(!dir.path().join("out/run_manifest").exists());
            }
        }
    }
}

/// Two CSV files of one input whose times the reader infers differently (timestamps in one,
/// text in the other, where a value is not a time): one column, read per value.
#[tokio::test]
async fn csv_files_whose_times_infer_differently_are_one_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dump")).unwrap();
    let write = |name: &str, rows: &str| {
        std::fs::write(
            dir.path().join("dump").join(name),
            format!("{CSV_HEADER}{rows}"),
        )
        .unwrap()
    };
    write("a.csv", "a,2024-02-01 10:00:00,view,i1,\n");
    write("b.csv", "b,2024-02-02 10:00:00,view,i1,\nc,soon,view,i1,\n");
    let body = "[events]\nurl = \"dump/\"\nformat = \"csv\"\n[quality]\nmax_bad_fraction = 0.5\n";
    let spec = write_spec(dir.path(), body);
    let s = run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(s.manifest.quality["unparseable_event_time"], 1);
    let f = Table::read(&dir.path().join("out"), "user_features", "2024-03-01");
    assert_eq!(f.strings("user_id"), [Some("a".into()), Some("b".into())]);
}
