//! `[exports]`: text copies (CSV, JSON lines) of the listed tables, and with `per_audience` one
//! file per audience of `audience_members`, written beside the Parquet files and committed with
//! them. They are read back from the Parquet files this run wrote, in their row order.

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::error::ArrowError;
use futures::StreamExt;
use lifecycle_spec::{ExportFormat, SpecError};
use lifecycle_storage::TextFormat;

use super::{Run, StepInfo};
use crate::Result;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "exports",
    reads: &[],
    writes: &[],
};

/// Writes every text export; returns the files written.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let ex = &run.spec.activation.exports;
    let tables = ex
        .tables
        .iter()
        .map(|name| {
            Table::from_name(name).ok_or_else(|| SpecError::Invalid {
                setting: "exports.tables".into(),
                reason: format!("`{name}` is not a table a run publishes"),
            })
        })
        .collect::<std::result::Result<Vec<Table>, SpecError>>()?;
    let formats = text_formats(&ex.formats);
    let mut files = 0;
    let written: Vec<Table> = tables.into_iter().filter(|t| run.out.wrote(*t)).collect();
    for table in written {
        let batches = read_back(run, table).await?;
        for &format in &formats {
            let name = format!("part-0.{}", format.extension());
            run.out
                .text_file(table, name, format, stream(&batches))
                .await?;
            files += 1;
        }
    }
    if ex.per_audience && run.out.wrote(Table::AudienceMembers) {
        files += per_audience(run, &formats).await?;
    }
    Ok(run.out.publishes().then_some(files))
}

/// The text formats asked for; CSV for per-audience files when none is.
fn text_formats(formats: &[ExportFormat]) -> Vec<TextFormat> {
    formats
        .iter()
        .filter_map(|f| match f {
            ExportFormat::Parquet => None,
            ExportFormat::Csv => Some(TextFormat::Csv),
            ExportFormat::Jsonl => Some(TextFormat::JsonLines),
        })
        .collect()
}

/// The Parquet file this run wrote for `table`, in file order (read once for every file made
/// from it: the file is fetched whole anyway, see `lifecycle_storage::read_parquet`).
async fn read_back(run: &Run<'_>, table: Table) -> Result<Vec<RecordBatch>> {
    let url = run.out.staged_url(table.name()).expect("a run wrote it");
    let loc = run
        .stores
        .open(&url::Url::parse(&url).expect("a staged URL"))?;
    let url = loc.url().to_string();
    let batches: Vec<_> = lifecycle_storage::read_parquet(&loc).await?.collect().await;
    let upstream = |source| lifecycle_storage::StorageError::Upstream {
        url: url.clone(),
        source,
    };
    Ok(batches
        .into_iter()
        .collect::<Result<_, ArrowError>>()
        .map_err(upstream)?)
}

/// `batches` as the stream a text file is written from.
fn stream(
    batches: &[RecordBatch],
) -> impl futures::Stream<Item = Result<RecordBatch, ArrowError>> + Unpin + use<> {
    futures::stream::iter(batches.iter().cloned().map(Ok).collect::<Vec<_>>())
}

/// `audience=<name>.<ext>` files of `audience_members`, one per audience and format.
async fn per_audience(run: &mut Run<'_>, formats: &[TextFormat]) -> Result<u64> {
    let formats = match formats.is_empty() {
        true => vec![TextFormat::Csv],
        false => formats.to_vec(),
    };
    let members = read_back(run, Table::AudienceMembers).await?;
    let mut files = 0;
    for a in &run.spec.activation.audiences {
        let only = StringArray::new_scalar(a.spec.name.clone());
        let part = members
            .iter()
            .map(|b| filter_record_batch(b, &eq(b.column(0), &only)?))
            .collect::<Result<Vec<_>, ArrowError>>()
            .map_err(|e| crate::RunError::engine("exports")(e.into()))?;
        for &format in &formats {
            let file = format!("audience={}.{}", a.spec.name, format.extension());
            let table = Table::AudienceMembers;
            run.out
                .text_file(table, file, format, stream(&part))
                .await?;
            files += 1;
        }
    }
    Ok(files)
}
