//! Retention (`[retention]`): committed dates older than a limit deleted whole, and the
//! quarantine (raw input rows) emptied sooner. Both keep the commit protocol's promise that a
//! reader sees a date either as it was committed or not at all.

use chrono::NaiveDate;
use serde::Serialize;

use crate::location::Location;
use crate::parquet_io::parquet_footer;
use crate::publish::{commits, date_of, delete, materialize, output_at, read_commit, run_folder};
use crate::{Result, write_parquet};

/// What a retention pass did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct RetentionReport {
    /// Committed dates deleted (older than the limit), oldest first.
    pub dates_removed: Vec<NaiveDate>,
    /// Objects deleted with them (commits, stable copies, run folders' files, leases).
    pub objects_removed: usize,
    /// Dates whose quarantine was emptied (older than the quarantine's limit).
    pub quarantines_emptied: Vec<NaiveDate>,
}

/// The table of raw rows that break a rule.
const QUARANTINE: &str = "quarantine";

/// Deletes every date before `keep_since` and empties the quarantine of every date before
/// `quarantine_since` (when given and later than `keep_since`).
pub async fn apply_retention(
    output: &Location,
    keep_since: NaiveDate,
    quarantine_since: Option<NaiveDate>,
) -> Result<RetentionReport> {
    let mut report = remove_dates_before(output, keep_since).await?;
    if let Some(since) = quarantine_since.filter(|d| *d > keep_since) {
        report.quarantines_emptied = empty_quarantines_before(output, since).await?;
    }
    Ok(report)
}

/// Deletes the dates before `keep_since`. Each date's commits go first, oldest first, so the
/// date reads as committed until its latest commit goes and then is gone; then the run folders
/// its commits name and every object under `run_date=D` (stable copies, the stable manifest
/// and report, leases). A pass cut short is finished by the next one: leftovers of a date
/// without commits are found by listing, and its run folders are no longer referenced, which
/// `gc` removes.
async fn remove_dates_before(output: &Location, keep_since: NaiveDate) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    let old: Vec<_> = commits(output)
        .await?
        .into_iter()
        .filter(|c| c.run_date < keep_since)
        .collect();
    for c in &old {
        let run_id = commit_run_id(output, &c.path).await?;
        delete(output, &c.path).await?;
        report.objects_removed += 1;
        if let Some(id) = run_id {
            let folder = run_folder(output, &id);
            report.objects_removed += folder.list().await?.len();
            folder.delete_all().await?;
        }
        if report.dates_removed.last() != Some(&c.run_date) {
            report.dates_removed.push(c.run_date);
        }
    }
    for meta in output.list().await? {
        if date_of(&meta.location).is_some_and(|d| d < keep_since) {
            delete(output, &meta.location).await?;
            report.objects_removed += 1;
        }
    }
    Ok(report)
}

/// The run id a commit file names (None when it cannot be read: its run folder is then left to
/// `gc`).
async fn commit_run_id(
    output: &Location,
    path: &object_store::path::Path,
) -> Result<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Writer {
        run_id: String,
    }
    let bytes = output_at(output, path).get_bytes_opt().await?;
    Ok(bytes.and_then(|b| serde_json::from_slice::<Writer>(&b).ok().map(|w| w.run_id)))
}

/// Replaces the committed quarantine of every date before `since` that still has rows with an
/// empty file of the same schema (the commit keeps naming a readable table), then brings the
/// date's stable copy in line.
async fn empty_quarantines_before(output: &Location, since: NaiveDate) -> Result<Vec<NaiveDate>> {
    let mut emptied = vec![];
    let mut dates: Vec<NaiveDate> = commits(output)
        .await?
        .into_iter()
        .map(|c| c.run_date)
        .filter(|d| *d < since)
        .collect();
    dates.dedup();
    for date in dates {
        let record = read_commit(output, date).await?;
        if !record.outputs.contains_key(QUARANTINE) {
            continue;
        }
        let file = run_folder(output, &record.run_id).join(&format!("{QUARANTINE}/part-0.parquet"));
        let (schema, rows) = parquet_footer(&file).await?;
        if rows == 0 {
            continue;
        }
        write_parquet(&file, schema, futures::stream::empty()).await?;
        materialize(output, date).await?;
        emptied.push(date);
    }
    Ok(emptied)
}

#[cfg(test)]
mod tests;
