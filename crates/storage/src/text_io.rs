//! Streamed CSV (RFC 4180, a header, UTF-8) and JSON-lines writes straight into a store, for
//! CRMs that import text. List columns become JSON arrays in CSV cells (`["a","b"]`); JSON lines
//! keep them as arrays.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::{Stream, StreamExt};
use object_store::buffered::BufWriter;
use tokio::io::AsyncWriteExt;

use crate::{Location, Result, StorageError, WriteStats};

/// A text format a table can be exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Csv,
    JsonLines,
}

impl TextFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            TextFormat::Csv => "csv",
            TextFormat::JsonLines => "jsonl",
        }
    }
}

/// Writes a stream of batches as one text file at `loc`, a batch at a time.
pub async fn write_text<S>(loc: &Location, format: TextFormat, mut batches: S) -> Result<WriteStats>
where
    S: Stream<Item = std::result::Result<RecordBatch, ArrowError>> + Unpin,
{
    let url = || loc.url().to_string();
    let io = |e: std::io::Error| StorageError::Upstream {
        url: url(),
        source: ArrowError::IoError(e.to_string(), e),
    };
    let mut sink = BufWriter::new(loc.store().clone(), loc.path().clone());
    let (mut rows, mut bytes, mut first) = (0u64, 0u64, true);
    while let Some(batch) = batches.next().await {
        let batch = batch
            .and_then(crate::plain_strings::plain_batch)
            .map_err(|source| StorageError::Upstream { url: url(), source })?;
        let encoded = encode(format, &batch, first)
            .map_err(|source| StorageError::Upstream { url: url(), source })?;
        first = false;
        rows += batch.num_rows() as u64;
        bytes += encoded.len() as u64;
        sink.write_all(&encoded).await.map_err(io)?;
    }
    sink.shutdown().await.map_err(io)?;
    Ok(WriteStats { rows, bytes })
}

/// One batch in `format`; a CSV header when `header`.
pub fn encode(
    format: TextFormat,
    batch: &RecordBatch,
    header: bool,
) -> std::result::Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    match format {
        TextFormat::Csv => {
            let batch = lists_as_json(batch)?;
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(header)
                .build(&mut out);
            w.write(&batch)?;
        }
        TextFormat::JsonLines => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(batch)?;
            w.finish()?;
        }
    }
    Ok(out)
}

/// `batch` with every list column as text holding a JSON array of its items (as text).
fn lists_as_json(batch: &RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
    let mut fields = vec![];
    let mut columns: Vec<ArrayRef> = vec![];
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if !matches!(f.data_type(), DataType::List(_) | DataType::LargeList(_)) {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
            continue;
        }
        let list = c.as_list::<i32>();
        let opts = FormatOptions::default();
        let mut cells = Vec::with_capacity(list.len());
        for i in 0..list.len() {
            if list.is_null(i) {
                cells.push(None);
                continue;
            }
            let items = list.value(i);
            let fmt = ArrayFormatter::try_new(items.as_ref(), &opts)?;
            let texts: Vec<String> = (0..items.len()).map(|k| fmt.value(k).to_string()).collect();
            cells.push(Some(
                serde_json::to_string(&texts).expect("strings serialize"),
            ));
        }
        fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
        columns.push(Arc::new(StringArray::from(cells)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use arrow::array::{ListBuilder, StringBuilder};

    use super::*;

    fn batch() -> RecordBatch {
        let mut lists = ListBuilder::new(StringBuilder::new());
        lists.values().append_value("win-back");
        lists.values().append_value("vip, \"gold\"");
        lists.append(true);
        lists.append(true);
        RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec!["a", "b,c"])) as ArrayRef,
            ),
            ("audiences", Arc::new(lists.finish()) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn csv_quotes_and_lists_become_json_arrays() {
        let text = String::from_utf8(encode(TextFormat::Csv, &batch(), true).unwrap()).unwrap();
        assert_eq!(
            text,
            "user_id,audiences\na,\"[\"\"win-back\"\",\"\"vip, \\\"\"gold\\\"\"\"\"]\"\n\"b,c\",[]\n"
        );
        let body = String::from_utf8(encode(TextFormat::Csv, &batch(), false).unwrap()).unwrap();
        assert!(!body.starts_with("user_id"));
    }

    #[test]
    fn json_lines_keep_lists() {
        let text =
            String::from_utf8(encode(TextFormat::JsonLines, &batch(), true).unwrap()).unwrap();
        assert_eq!(
            text,
            "{\"user_id\":\"a\",\"audiences\":[\"win-back\",\"vip, \\\"gold\\\"\"]}\n\
             {\"user_id\":\"b,c\",\"audiences\":[]}\n"
        );
    }
}
