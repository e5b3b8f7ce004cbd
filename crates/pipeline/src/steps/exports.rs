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
    from_rollup: false,
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
            let file = ExportFile::Whole(format);
            run.out
                .text_file(table, file.name(), format, stream(&batches))
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
pub(super) async fn read_back(run: &Run<'_>, table: Table) -> Result<Vec<RecordBatch>> {
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
        for &format in &formats {
            let file = ExportFile::Audience(a.spec.name.clone(), format);
            let part = file.rows(&members)?;
            let table = Table::AudienceMembers;
            run.out
                .text_file(table, file.name(), format, stream(&part))
                .await?;
            files += 1;
        }
    }
    Ok(files)
}

/// A text export of a table: which file, which format, which rows. Erasure rewrites exports
/// by the same rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportFile {
    /// `part-0.<ext>`: the whole table.
    Whole(TextFormat),
    /// `audience=<name>.<ext>`: the rows of `audience_members` of one audience.
    Audience(String, TextFormat),
}

impl ExportFile {
    /// The file's name beside the table's Parquet file.
    pub fn name(&self) -> String {
        match self {
            ExportFile::Whole(f) => format!("part-0.{}", f.extension()),
            ExportFile::Audience(a, f) => format!("audience={a}.{}", f.extension()),
        }
    }

    /// The export a file name denotes (None for names exports never write).
    pub fn parse(name: &str) -> Option<ExportFile> {
        let (stem, ext) = name.rsplit_once('.')?;
        let format = [TextFormat::Csv, TextFormat::JsonLines]
            .into_iter()
            .find(|f| f.extension() == ext)?;
        match stem {
            "part-0" => Some(ExportFile::Whole(format)),
            _ => Some(ExportFile::Audience(
                stem.strip_prefix("audience=")?.to_string(),
                format,
            )),
        }
    }

    pub fn format(&self) -> TextFormat {
        match self {
            ExportFile::Whole(f) | ExportFile::Audience(_, f) => *f,
        }
    }

    /// The rows of `table` (its batches, in file order) this file holds.
    pub fn rows(&self, table: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        let ExportFile::Audience(name, _) = self else {
            return Ok(table.to_vec());
        };
        let only = StringArray::new_scalar(name.clone());
        table
            .iter()
            .map(|b| filter_record_batch(b, &eq(b.column(0), &only)?))
            .collect::<Result<Vec<_>, ArrowError>>()
            .map_err(|e| crate::RunError::engine("exports")(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_file_names_parse_back_and_other_names_do_not() {
        let files = [
            ExportFile::Whole(TextFormat::Csv),
            ExportFile::Whole(TextFormat::JsonLines),
            ExportFile::Audience("win-back".into(), TextFormat::Csv),
            ExportFile::Audience("v.i.p".into(), TextFormat::JsonLines),
        ];
        for f in files {
            assert_eq!(
                ExportFile::parse(&f.name()),
                Some(f.clone()),
                "{}",
                f.name()
            );
        }
        for name in ["part-0.parquet", "part-1.csv", "notes.txt", "csv"] {
            assert_eq!(ExportFile::parse(name), None, "{name}");
        }
    }
}
