//! `[exports]`: text copies read back with arrow's own readers equal the Parquet files, one
//! file per audience, and the `notify_url` POST against a real local HTTP server (retried after
//! a 503; with nobody listening the run commits all the same and says so).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};

use crate::audiences::{USERS, spec, user, write_consent, write_population};
use crate::common::*;

/// Reads a text export with arrow's readers (not the code that wrote it), typed like `parquet`
/// with list columns as text.
fn read_csv(path: &Path, parquet: &RecordBatch) -> RecordBatch {
    use arrow::datatypes::{DataType, Field, Schema};
    let fields: Vec<Field> = parquet
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::List(_) => Field::new(f.name(), DataType::Utf8, true),
            _ => f.as_ref().clone().with_nullable(true),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let reader = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .build(std::fs::File::open(path).unwrap())
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

#[tokio::test]
async fn text_exports_read_back_equal_the_parquet() {
    use arrow::array::{Array, AsArray};
    let dir = tempfile::tempdir().unwrap();
    write_population(dir.path());
    write_consent(dir.path());
    let base = std::fs::read_to_string(spec(dir.path(), "allow", 0.2)).unwrap();
    let body = base.replacen("[job]\nname = \"test\"\noutput = \"out\"\n", "", 1)
        + "[users]\nurl = \"users.parquet\"\nattributes = [\"country\"]\n\
           [exports]\nformats = [\"parquet\", \"csv\", \"jsonl\"]\nper_audience = true\n";
    let users = RecordBatch::try_from_iter(vec![
        (
            "user_id",
            Arc::new(StringArray::from_iter_values((0..USERS).map(user))) as _,
        ),
        (
            "country",
            Arc::new(StringArray::from_iter_values(
                (0..USERS).map(|i| ["GB", "FR, \"Paris\"", "DE\nBerlin"][i % 3]),
            )) as _,
        ),
    ])
    .unwrap();
    write_batch(&dir.path().join("users.parquet"), &users);
    let spec = write_spec(dir.path(), &body);
    run(&spec, "2024-06-01", "2024-06-03T00:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let d = "2024-06-01";
    for table in ["user_profile", "audience_members"] {
        let parquet = Table::read(&out, table, d).batch;
        let folder = out.join(format!("{table}/run_date={d}"));
        let csv = read_csv(&folder.join("part-0.csv"), &parquet);
        assert_eq!(csv.num_rows(), parquet.num_rows(), "{table}");
        for (i, f) in parquet.schema().fields().iter().enumerate() {
            let (want, got) = (parquet.column(i), csv.column(i));
            match f.data_type() {
                arrow::datatypes::DataType::List(_) => {
                    let (lists, cells) = (want.as_list::<i32>(), got.as_string::<i32>());
                    for r in 0..lists.len() {
                        let items = lists.value(r);
                        let items: Vec<&str> = items.as_string::<i32>().iter().flatten().collect();
                        let cell: Vec<String> = serde_json::from_str(cells.value(r)).unwrap();
                        assert_eq!(cell, items, "{table}.{} row {r}", f.name());
                    }
                }
                _ => assert_eq!(want.to_data(), got.to_data(), "{table}.{}", f.name()),
            }
        }
        let json = arrow::json::ReaderBuilder::new(parquet.schema())
            .build(std::io::BufReader::new(
                std::fs::File::open(folder.join("part-0.jsonl")).unwrap(),
            ))
            .unwrap();
        let rows: Vec<RecordBatch> = json.map(|b| b.unwrap()).collect();
        let json = arrow::compute::concat_batches(&parquet.schema(), &rows).unwrap();
        assert_eq!(json, parquet, "{table} as JSON lines");
    }
    // One file per audience and format, together the whole table.
    let members = Table::read(&out, "audience_members", d).batch;
    let mut total = 0;
    for audience in ["news", "sms-all"] {
        let path = out.join(format!(
            "audience_members/run_date={d}/audience={audience}.csv"
        ));
        let part = read_csv(&path, &members);
        assert!(
            part.column(0)
                .as_string::<i32>()
                .iter()
                .all(|a| a == Some(audience))
        );
        total += part.num_rows();
    }
    assert_eq!(total, members.num_rows());
}

/// A real HTTP server on 127.0.0.1 that answers each request with the next status of
/// `statuses` (then 200) and keeps the bodies it got.
async fn webhook(statuses: Vec<u16>) -> (String, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/lifecycle", listener.local_addr().unwrap());
    let (got, statuses) = (seen.clone(), Arc::new(statuses));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (got, statuses) = (got.clone(), statuses.clone());
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (got, statuses) = (got.clone(), statuses.clone());
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let n = {
                            let mut g = got.lock().unwrap();
                            g.push(body);
                            g.len()
                        };
                        let status = statuses.get(n - 1).copied().unwrap_or(200);
                        let empty = http_body_util::Full::new(bytes::Bytes::new());
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(empty)
                                .unwrap(),
                        )
                    }
                });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn the_commit_is_announced_and_a_failed_announcement_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    write_population(dir.path());
    write_consent(dir.path());
    let (url, seen) = webhook(vec![503]).await;
    let base = std::fs::read_to_string(spec(dir.path(), "allow", 0.0)).unwrap();
    let body = base.replacen("[job]\nname = \"test\"\noutput = \"out\"\n", "", 1);
    let with =
        |url: &str| format!("{body}[exports]\nnotify_url = \"{url}\"\nnotify_timeout_secs = 5\n");
    let spec = write_spec(dir.path(), &with(&url));
    let s = run(&spec, "2024-06-01", "2024-06-03T00:00:00Z")
        .await
        .unwrap();
    let n = s.notification.unwrap();
    assert!(
        n.delivered && n.attempts == 2 && n.status == Some(200),
        "{n:?}"
    );
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "a 503, then a retry");
    let sent: serde_json::Value = serde_json::from_slice(&bodies[1]).unwrap();
    assert_eq!(sent["run_date"], "2024-06-01");
    assert_eq!(sent["run_id"], s.manifest.commit.run_id.as_str());
    let members = &sent["tables"]["audience_members"];
    assert_eq!(
        members["rows"],
        s.manifest.commit.outputs["audience_members"].rows
    );
    assert!(
        members["url"]
            .as_str()
            .unwrap()
            .ends_with("audience_members/run_date=2024-06-01/part-0.parquet")
    );
    // Nobody listening: the run still commits, and says so.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let spec = write_spec(dir.path(), &with(&gone));
    let s = run(&spec, "2024-06-02", "2024-06-03T00:00:00Z")
        .await
        .unwrap();
    let n = s.notification.unwrap();
    assert!(
        !n.delivered && n.attempts == 3 && n.error.is_some(),
        "{n:?}"
    );
    let out = dir.path().join("out");
    assert!(
        out.join("run_manifest/run_date=2024-06-02/manifest.json")
            .exists()
    );
    let saved = out.join(format!(
        "_runs/{}/notification.json",
        s.manifest.commit.run_id
    ));
    let saved: lifecycle_pipeline::Notification =
        serde_json::from_slice(&std::fs::read(saved).unwrap()).unwrap();
    assert_eq!(saved, n);
}
