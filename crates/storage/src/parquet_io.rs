//! Streamed Parquet writes straight into a store (multipart uploads where the store has them).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use futures::{Stream, StreamExt};
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{Location, Result, StorageError};

/// What a Parquet write produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub rows: u64,
    pub bytes: u64,
}

/// Writes a stream of batches as one Parquet file at `loc`, never holding more than a row group
/// in memory. Snappy compression, which every CRM importer reads; string views written as plain
/// strings ([`crate::plain_strings`]).
pub async fn write_parquet<S>(
    loc: &Location,
    schema: SchemaRef,
    mut batches: S,
) -> Result<WriteStats>
where
    S: Stream<Item = std::result::Result<RecordBatch, ArrowError>> + Unpin,
{
    let perr = |source| StorageError::Parquet {
        url: loc.url().to_string(),
        source,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let sink = BufWriter::new(loc.store().clone(), loc.path().clone());
    let schema = crate::plain_strings::plain_schema(&schema);
    let mut writer = AsyncArrowWriter::try_new(sink, schema, Some(props)).map_err(perr)?;
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch
            .and_then(crate::plain_strings::plain_batch)
            .map_err(|source| StorageError::Upstream {
                url: loc.url().to_string(),
                source,
            })?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).await.map_err(perr)?;
    }
    writer.close().await.map_err(perr)?;
    // The writer's own count misses what `close` writes (the footer): ask the store.
    let bytes = loc
        .store()
        .head(loc.path())
        .await
        .map_err(|source| StorageError::Store {
            url: loc.url().to_string(),
            source,
        })?
        .size;
    Ok(WriteStats { rows, bytes })
}

/// The schema and row count of the Parquet file at `loc`, from its footer.
pub(crate) async fn parquet_footer(loc: &Location) -> Result<(SchemaRef, u64)> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = loc.get_bytes().await?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|source| {
        StorageError::Parquet {
            url: loc.url().to_string(),
            source,
        }
    })?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    Ok((builder.schema().clone(), rows))
}

/// The batches of the Parquet file at `loc`, in file order. The file is fetched whole (the
/// tables read back this way are per-user outputs, small next to the events), then decoded a
/// batch at a time.
pub async fn read_parquet(
    loc: &Location,
) -> Result<impl Stream<Item = std::result::Result<RecordBatch, ArrowError>> + Unpin + use<>> {
    Ok(open_parquet(loc).await?.1)
}

/// [`read_parquet`] with the file's schema (which an empty file's stream cannot tell).
pub async fn open_parquet(
    loc: &Location,
) -> Result<(
    SchemaRef,
    impl Stream<Item = std::result::Result<RecordBatch, ArrowError>> + Unpin + use<>,
)> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = loc.get_bytes().await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|source| StorageError::Parquet {
            url: loc.url().to_string(),
            source,
        })?;
    use arrow::array::RecordBatchReader;
    Ok((reader.schema(), futures::stream::iter(reader)))
}

/// The column `name` of the Parquet file at `loc`, a batch at a time, or None when the file has
/// no such column. Only that column is decoded.
pub async fn read_parquet_column(
    loc: &Location,
    name: &str,
) -> Result<Option<impl Stream<Item = std::result::Result<RecordBatch, ArrowError>> + Unpin + use<>>>
{
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let perr = |source| StorageError::Parquet {
        url: loc.url().to_string(),
        source,
    };
    let bytes = loc.get_bytes().await?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(perr)?;
    if builder.schema().field_with_name(name).is_err() {
        return Ok(None);
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), [name]);
    let reader = builder.with_projection(mask).build().map_err(perr)?;
    Ok(Some(futures::stream::iter(reader)))
}
