//! The erase list `lifecycle erase --list` reads: a Parquet or CSV file of `user_id` (required),
//! `request_id` and `requested_at` (optional), and its SHA-256, which the erasure log keeps
//! instead of the ids.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use lifecycle_spec::SpecError;
use lifecycle_storage::Location;
use sha2::{Digest, Sha256};

use crate::Result;

/// The setting errors about the list name.
const SETTING: &str = "--list";

/// An erase list as read.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasureList {
    pub url: String,
    /// SHA-256 of the file's bytes, in hex: proves which list an erasure applied.
    pub sha256: String,
    /// The distinct user ids listed, sorted.
    pub ids: Vec<String>,
    /// The distinct `request_id`s listed, sorted (empty without the column).
    pub request_ids: Vec<String>,
}

impl ErasureList {
    /// Reads the list at `loc` (`.parquet` or `.csv`, by its name).
    pub async fn read(loc: &Location) -> Result<ErasureList> {
        let url = loc.url().to_string();
        let bytes = loc.get_bytes().await?;
        let batches = match url.rsplit('.').next() {
            Some("parquet") => parquet_batches(bytes.clone(), &url)?,
            Some("csv") => csv_batches(bytes.clone(), &url)?,
            _ => return Err(bad(format!("{url} is neither a .parquet nor a .csv file"))),
        };
        let ids = strings(&batches, "user_id", &url)?
            .ok_or_else(|| bad(format!("{url} has no user_id column")))?;
        Ok(ErasureList {
            sha256: hex::encode(Sha256::digest(&bytes)),
            ids,
            request_ids: strings(&batches, "request_id", &url)?.unwrap_or_default(),
            url,
        })
    }
}

fn bad(reason: String) -> crate::RunError {
    SpecError::Invalid {
        setting: SETTING.into(),
        reason,
    }
    .into()
}

fn parquet_batches(bytes: bytes::Bytes, url: &str) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| bad(format!("{url} is not a readable Parquet file: {e}")))?;
    reader
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("{url}: {e}")))
}

/// The rows of a CSV file with a header, every column as text (an id such as `007` stays
/// `007`).
fn csv_batches(bytes: bytes::Bytes, url: &str) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::csv::{ReaderBuilder, reader::Format};
    let format = Format::default().with_header(true);
    let bad_csv = |e: datafusion::arrow::error::ArrowError| bad(format!("{url}: {e}"));
    let (inferred, _) = format
        .infer_schema(std::io::Cursor::new(&bytes), Some(1))
        .map_err(bad_csv)?;
    let text: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let reader = ReaderBuilder::new(Arc::new(Schema::new(text)))
        .with_format(format)
        .build(std::io::Cursor::new(bytes))
        .map_err(bad_csv)?;
    reader
        .collect::<std::result::Result<_, _>>()
        .map_err(bad_csv)
}

/// The distinct non-null values of `column` as text, sorted; None without the column.
fn strings(batches: &[RecordBatch], column: &str, url: &str) -> Result<Option<Vec<String>>> {
    let mut values = BTreeSet::new();
    let Some(first) = batches.first() else {
        return Ok(Some(vec![]));
    };
    if first.schema().field_with_name(column).is_err() {
        return Ok(None);
    }
    for b in batches {
        let text = cast(b.column_by_name(column).expect("checked"), &DataType::Utf8)
            .map_err(|e| bad(format!("{url}: column {column}: {e}")))?;
        values.extend(text.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    Ok(Some(values.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str) -> Location {
        lifecycle_storage::Stores::default()
            .open(&url::Url::parse(&format!("memory://list/{name}")).unwrap())
            .unwrap()
    }

    #[tokio::test]
    async fn a_csv_list_keeps_ids_as_written_and_checksums_its_bytes() {
        let body = b"user_id,requested_at,request_id\n007,2024-05-01,r-1\nu2,2024-05-02,r-2\n007,2024-05-03,r-1\n";
        let loc = at("erase.csv");
        loc.put_bytes(body.to_vec()).await.unwrap();
        let list = ErasureList::read(&loc).await.unwrap();
        assert_eq!(list.ids, ["007", "u2"]);
        assert_eq!(list.request_ids, ["r-1", "r-2"]);
        // `sha256sum` of the same bytes.
        assert_eq!(
            list.sha256,
            "fe4d8c7ee21018b07ee63a3a76902707998e1cfbe9caff9a4d5f691c0f7d2290"
        );
    }

    #[tokio::test]
    async fn a_list_without_user_id_or_of_another_format_is_refused_by_name() {
        let loc = at("erase.csv");
        loc.put_bytes(b"id,requested_at\n1,2024-05-01\n".to_vec())
            .await
            .unwrap();
        let e = ErasureList::read(&loc).await.unwrap_err().to_string();
        assert!(
            e.contains("--list") && e.contains("no user_id column"),
            "{e}"
        );
        let loc = at("erase.json");
        loc.put_bytes(b"{}".to_vec()).await.unwrap();
        let e = ErasureList::read(&loc).await.unwrap_err().to_string();
        assert!(e.contains("erase.json") && e.contains(".parquet"), "{e}");
    }
}
