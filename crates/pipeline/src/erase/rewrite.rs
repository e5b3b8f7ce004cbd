//! One committed date without the erased users: every table with an id column rewritten
//! without their rows (its text exports made again by the export rules), every other file
//! copied, the report rebuilt, and all of it committed anew through the commit protocol, so a
//! reader sees the date either as it was or as erased.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use lifecycle_storage::{CommittedTable, Location, Publisher, WriteStats};

use super::log::{DateErasure, ErasureRecord};
use crate::manifest::Manifest;
use crate::report::REPORT_FILE;
use crate::steps::exports::ExportFile;
use crate::{Result, RunError};

/// The rows to remove from one date: its id column and the ids in that column's form (raw,
/// or keyed with the date's key).
#[derive(Debug, Clone)]
pub(super) struct DateIds {
    pub column: String,
    pub ids: HashSet<String>,
}

/// What every rewritten date's manifest records of the erasure.
pub(super) struct Request<'a> {
    pub list_sha256: &'a str,
    pub request_ids: &'a [String],
    pub lease_ttl: Duration,
}

/// Rewrites and commits `date` without `ids`; None when none of its tables holds them (nothing
/// is written, no lease taken).
pub(super) async fn erase_date(
    output: &Location,
    date: NaiveDate,
    ids: &DateIds,
    request: &Request<'_>,
    ctx: &SessionContext,
) -> Result<Option<DateErasure>> {
    let before = Manifest::read(output, date).await?;
    if count_rows(output, &before, ids).await? == 0 {
        return Ok(None);
    }
    let publisher = Publisher::begin(output.clone(), date, request.lease_ttl).await?;
    // Read again under the lease: a run may have committed since.
    let manifest = Manifest::read(output, date).await?;
    match rewrite(&publisher, output, &manifest, ids, request, ctx).await {
        Ok((rewritten, rows_removed)) => {
            publisher.commit(rewritten.to_json()).await?;
            Ok(Some(DateErasure {
                run_date: date,
                previous_run_id: manifest.run_id().to_string(),
                run_id: rewritten.run_id().to_string(),
                rows_removed,
            }))
        }
        Err(e) => {
            publisher.abort().await?;
            Err(e)
        }
    }
}

/// The rows of `ids` in the tables `manifest` commits.
async fn count_rows(output: &Location, manifest: &Manifest, ids: &DateIds) -> Result<u64> {
    let mut rows = 0;
    for committed in manifest.commit.outputs.values() {
        let loc = under(output, &committed.url)?;
        let Some(mut column) = lifecycle_storage::read_parquet_column(&loc, &ids.column).await?
        else {
            continue;
        };
        while let Some(batch) = column.next().await {
            let batch = batch.map_err(|e| upstream(&loc, e))?;
            let keep = kept(&batch, &ids.column, &ids.ids).map_err(|e| upstream(&loc, e))?;
            rows += keep.false_count() as u64;
        }
    }
    Ok(rows)
}

/// Writes `manifest`'s files without `ids` into `publisher`'s run folder; returns the manifest
/// to commit and the rows removed per table.
async fn rewrite(
    publisher: &Publisher,
    output: &Location,
    manifest: &Manifest,
    ids: &DateIds,
    request: &Request<'_>,
    ctx: &SessionContext,
) -> Result<(Manifest, BTreeMap<String, u64>)> {
    let mut next = manifest.clone();
    let mut removed = BTreeMap::new();
    for (table, committed) in &manifest.commit.outputs {
        let (stats, gone) = rewrite_table(publisher, output, table, committed, ids).await?;
        let entry = next.commit.outputs.get_mut(table).expect("the same tables");
        *entry = CommittedTable {
            url: publisher.staging_file(table).url().to_string(),
            rows: stats.rows,
            bytes: stats.bytes,
            ..committed.clone()
        };
        if gone > 0 {
            removed.insert(table.clone(), gone);
        }
        publisher.renew_lease(request.lease_ttl).await?;
    }
    copy_artifacts(publisher, output, &mut next).await?;
    next.commit.run_id = publisher.run_id().to_string();
    next.erasures.push(ErasureRecord {
        erased_at: Utc::now(),
        list_sha256: request.list_sha256.to_string(),
        request_ids: request.request_ids.to_vec(),
        previous_run_id: manifest.run_id().to_string(),
        rows_removed: removed.clone(),
    });
    copy_run_files(publisher, output, manifest, &next, ctx).await?;
    Ok((next, removed))
}

/// Writes one table without `ids` (a copy when it has no id column) and its text exports;
/// returns what was written and the rows removed.
async fn rewrite_table(
    publisher: &Publisher,
    output: &Location,
    table: &str,
    committed: &CommittedTable,
    ids: &DateIds,
) -> Result<(WriteStats, u64)> {
    let from = under(output, &committed.url)?;
    let to = publisher.staging_file(table);
    let (schema, batches) = lifecycle_storage::open_parquet(&from).await?;
    if schema.field_with_name(&ids.column).is_err() {
        lifecycle_storage::copy(output, &from, &to).await?;
        let folder = committed.url.rsplit_once('/').map_or("", |(dir, _)| dir);
        for name in &committed.files {
            let extra = publisher.extra_file(table, name);
            let beside = under(output, &format!("{folder}/{name}"))?;
            lifecycle_storage::copy(output, &beside, &extra).await?;
        }
        let stats = WriteStats {
            rows: committed.rows,
            bytes: committed.bytes,
        };
        return Ok((stats, 0));
    }
    let mut gone = 0u64;
    let filtered = batches.map(|b| {
        let b = b?;
        let keep = kept(&b, &ids.column, &ids.ids)?;
        gone += keep.false_count() as u64;
        filter_record_batch(&b, &keep)
    });
    let stats = lifecycle_storage::write_parquet(&to, schema, filtered).await?;
    for name in &committed.files {
        rewrite_export(publisher, table, name, &to).await?;
    }
    Ok((stats, gone))
}

/// The text export `name` of `table` made again from its rewritten Parquet file `from`.
async fn rewrite_export(
    publisher: &Publisher,
    table: &str,
    name: &str,
    from: &Location,
) -> Result<()> {
    let file = ExportFile::parse(name).ok_or_else(|| RunError::Internal {
        step: "erase",
        reason: format!("{table}/{name} is not a file exports write"),
    })?;
    let batches: Vec<_> = lifecycle_storage::read_parquet(from)
        .await?
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<std::result::Result<_, ArrowError>>()
        .map_err(|e| upstream(from, e))?;
    let rows = file.rows(&batches)?;
    let stream = futures::stream::iter(rows.into_iter().map(Ok));
    let to = publisher.extra_file(table, name);
    lifecycle_storage::write_text(&to, file.format(), stream).await?;
    Ok(())
}

/// Copies the saved models into the new run folder and points the manifest at the copies.
async fn copy_artifacts(
    publisher: &Publisher,
    output: &Location,
    next: &mut Manifest,
) -> Result<()> {
    let models = &mut next.models;
    let artifacts = [
        models.segmentation.as_mut().map(|s| &mut s.artifact),
        models.churn.as_mut().map(|c| &mut c.artifact),
    ];
    for url in artifacts.into_iter().flatten().filter(|u| !u.is_empty()) {
        let from = under(output, url)?;
        let name = from.path().filename().and_then(|f| f.strip_suffix(".json"));
        let to = publisher.artifact_file(name.unwrap_or("model"));
        lifecycle_storage::copy(output, &from, &to).await?;
        *url = to.url().to_string();
    }
    Ok(())
}

/// The run's other files in the new run folder: the report rebuilt from the rewritten tables
/// (its counts and charts then match them), the rest copied.
async fn copy_run_files(
    publisher: &Publisher,
    output: &Location,
    before: &Manifest,
    next: &Manifest,
    ctx: &SessionContext,
) -> Result<()> {
    let old = lifecycle_storage::run_folder(output, before.run_id());
    for name in &next.commit.run_files {
        let to = publisher.run_file(name);
        if name == REPORT_FILE {
            let html = crate::report::build_report(ctx, next).await?;
            to.put_bytes(html.into_bytes()).await?;
        } else {
            lifecycle_storage::copy(output, &old.join(name), &to).await?;
        }
    }
    Ok(())
}

/// Which rows of `batch` to keep: those whose `column` is not one of `ids`.
fn kept(
    batch: &RecordBatch,
    column: &str,
    ids: &HashSet<String>,
) -> Result<BooleanArray, ArrowError> {
    let values = batch
        .column_by_name(column)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {column}")))?;
    let text = cast(values, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    Ok((0..text.len())
        .map(|i| Some(text.is_null(i) || !ids.contains(text.value(i))))
        .collect())
}

/// The location of `url`, a file under `output` a manifest names.
fn under(output: &Location, url: &str) -> Result<Location> {
    let base = output.url().as_str();
    let rel = url.strip_prefix(base).ok_or_else(|| RunError::Manifest {
        url: output.url().to_string(),
        reason: format!("{url} is not under the output"),
    })?;
    Ok(output.join(rel))
}

fn upstream(loc: &Location, source: ArrowError) -> RunError {
    lifecycle_storage::StorageError::Upstream {
        url: loc.url().to_string(),
        source,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use std::sync::Arc;

    #[test]
    fn keeps_the_rows_of_other_users_and_of_none() {
        let batch = RecordBatch::try_from_iter([(
            "user_key",
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("b"),
                Some("a"),
            ])) as _,
        )])
        .unwrap();
        let ids: HashSet<String> = ["a".to_string()].into();
        let keep = kept(&batch, "user_key", &ids).unwrap();
        assert_eq!(keep, BooleanArray::from(vec![false, true, true, false]));
    }
}
