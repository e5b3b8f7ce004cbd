//! The publish protocol: a run's tables appear together, or not at all, and two runs for one
//! date cannot both win.
//!
//! Layout under the output location:
//! - `_runs/<run_id>/<table>/part-0.parquet`: where a run writes its tables. After the commit this
//!   is the committed copy that manifests point to.
//! - `run_manifest/run_date=D/commit-NNNNNN.json`: **the commit.** A run that began when the
//!   latest commit for `D` was `N` commits by creating `N + 1` with a create-only put
//!   (`If-None-Match: *` on S3). If another run created it first, this run fails with
//!   [`StorageError::CommitConflict`] and publishes nothing. The highest number is the committed
//!   run of that date. Readers and `lifecycle inspect` go through these files only.
//! - `<table>/run_date=D/part-0.parquet` and `run_manifest/run_date=D/manifest.json`: stable
//!   copies of the latest commit for CRM importers, written after the commit. A crash while they
//!   are written leaves the commit intact; [`materialize`] (run by every commit and by
//!   `lifecycle gc`) brings them back in line.
//! - `_leases/run_date=D/lease-NNNNNN.json`: a lease that keeps two runs of one date apart. A run
//!   takes it by creating the next number (create-only, so one taker wins); it is free when the
//!   highest one is released (deleted) or expired. The commit rule holds even without it.
//!
//! A crash at any point before the commit leaves every committed output as it was; the crashed
//! run's `_runs/<run_id>/` is removed by `lifecycle gc` after a grace period.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::{Location, Result, StorageError};

/// Name of the folder that holds commits and manifests.
pub const MANIFEST_TABLE: &str = "run_manifest";
const RUNS: &str = "_runs";
const LEASES: &str = "_leases";
const PART: &str = "part-0.parquet";

/// The contents of a lease file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub run_id: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The part of a run's manifest that the commit protocol owns: which run committed and which
/// tables it committed. A pipeline's manifest embeds it (`#[serde(flatten)]`) beside its own
/// fields, which this crate never reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub run_id: String,
    /// Every committed table, by name.
    pub outputs: BTreeMap<String, CommittedTable>,
    /// Files of the run's folder (`_runs/<run_id>/<name>`, e.g. the run report) committed with
    /// it and copied beside the stable `manifest.json`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_files: Vec<String>,
}

/// One committed table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedTable {
    /// The committed copy, in the run's own folder: what readers that need a consistent set of
    /// tables read.
    pub url: String,
    /// The stable copy for importers (`<table>/run_date=YYYY-MM-DD/part-0.parquet`).
    pub published_url: String,
    pub rows: u64,
    pub bytes: u64,
    /// Other files of the table beside its Parquet file (text exports for CRMs, e.g.
    /// `part-0.csv`), by name: committed and copied with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// A committed run of one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub run_date: NaiveDate,
    /// The commit number (1 for the first run of the date).
    pub seq: u64,
    /// The commit file.
    pub path: Path,
}

/// Writes one run's tables and commits them.
pub struct Publisher {
    output: Location,
    run_id: String,
    run_date: NaiveDate,
    /// The latest commit of `run_date` when this run began.
    base_seq: u64,
    lease: Option<Path>,
}

impl Publisher {
    /// Begins a run of `run_date` into `output`: takes the date's lease (for `lease_ttl`) and
    /// notes the latest commit. Fails with [`StorageError::LeaseHeld`] while another run of
    /// the date holds a live lease.
    pub async fn begin(
        output: Location,
        run_date: NaiveDate,
        lease_ttl: Duration,
    ) -> Result<Publisher> {
        let run_id = format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let lease = acquire_lease(&output, run_date, &run_id, lease_ttl).await?;
        let base_seq = latest_commit(&output, run_date).await?.map_or(0, |c| c.seq);
        Ok(Publisher {
            output,
            run_id,
            run_date,
            base_seq,
            lease: Some(lease),
        })
    }

    /// This run's unique id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The output location.
    pub fn output(&self) -> &Location {
        &self.output
    }

    /// Where this run writes `table` (a single Parquet file); after the commit, the committed copy.
    pub fn staging_file(&self, table: &str) -> Location {
        self.output
            .join(&format!("{RUNS}/{}/{table}/{PART}", self.run_id))
    }

    /// Where this run writes the file `name` of `table` besides its Parquet file (an export),
    /// to be listed in its [`CommittedTable::files`].
    pub fn extra_file(&self, table: &str, name: &str) -> Location {
        self.output
            .join(&format!("{RUNS}/{}/{table}/{name}", self.run_id))
    }

    /// The file `name` in this run's own folder (`_runs/<run_id>/<name>`).
    pub fn run_file(&self, name: &str) -> Location {
        self.output.join(&format!("{RUNS}/{}/{name}", self.run_id))
    }

    /// Deletes this run's staged files (folders whose names start with `_`: intermediate tables
    /// the commit does not list, such as a text log's clean events or per-user working sets), so
    /// a committed run folder holds only what its commit names. Returns how many were deleted.
    pub async fn remove_staged(&self) -> Result<usize> {
        let folder = self.output.join(&format!("{RUNS}/{}/", self.run_id));
        let prefix = folder.path().as_ref().to_string();
        let mut removed = 0;
        for meta in folder.list().await? {
            let rel = meta.location.as_ref().strip_prefix(&prefix).unwrap_or("");
            if rel.trim_start_matches('/').starts_with('_') {
                delete(&self.output, &meta.location).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Where this run saves the model artifact `name` (`_runs/<run_id>/models/<name>.json`);
    /// the manifest's `models` entry names it.
    pub fn artifact_file(&self, name: &str) -> Location {
        self.output
            .join(&format!("{RUNS}/{}/models/{name}.json", self.run_id))
    }

    /// Where the stable copy of `table` goes for this run's date.
    pub fn published_file(&self, table: &str) -> Location {
        table_partition(&self.output, table, self.run_date).join(PART)
    }

    /// A [`CommittedTable`] for `table` as this run wrote it.
    pub fn committed_table(&self, table: &str, stats: &crate::WriteStats) -> CommittedTable {
        CommittedTable {
            url: self.staging_file(table).url().to_string(),
            published_url: self.published_file(table).url().to_string(),
            rows: stats.rows,
            bytes: stats.bytes,
            files: vec![],
        }
    }

    /// Commits the written tables with `manifest`, a JSON object that embeds this run's
    /// [`CommitRecord`] (its `run_id` and `outputs` name the tables), then writes the stable
    /// copies and releases the lease. See the module doc.
    pub async fn commit(mut self, manifest: Vec<u8>) -> Result<()> {
        let commit = commit_location(&self.output, self.run_date, self.base_seq + 1);
        let put = self
            .output
            .store()
            .put_opts(
                commit.path(),
                PutPayload::from(manifest),
                PutOptions::from(PutMode::Create),
            )
            .await;
        match put {
            Ok(_) => {}
            // A retried create whose first attempt did land (its answer was lost) finds our own
            // commit: that is a success, not a conflict.
            Err(object_store::Error::AlreadyExists { .. })
                if written_by(&commit, &self.run_id).await? => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                self.abort_inner().await?;
                return Err(StorageError::CommitConflict {
                    url: commit.url().to_string(),
                });
            }
            Err(source) => {
                return Err(StorageError::Store {
                    url: commit.url().to_string(),
                    source,
                });
            }
        }
        materialize(&self.output, self.run_date).await?;
        self.release().await
    }

    /// Extends this run's lease by `ttl` from now. A run renews it while it works.
    pub async fn renew_lease(&self, ttl: Duration) -> Result<()> {
        let Some(path) = &self.lease else {
            return Ok(());
        };
        let now = Utc::now();
        let info = LeaseInfo {
            run_id: self.run_id.clone(),
            acquired_at: now,
            expires_at: now
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(5)),
        };
        output_at(&self.output, path)
            .put_bytes(serde_json::to_vec(&info).expect("a lease serializes"))
            .await
    }

    /// Removes this run's data and releases the lease. Nothing committed is touched.
    pub async fn abort(mut self) -> Result<()> {
        self.abort_inner().await
    }

    async fn abort_inner(&mut self) -> Result<()> {
        self.output
            .join(&format!("{RUNS}/{}/", self.run_id))
            .delete_all()
            .await?;
        self.release().await
    }

    async fn release(&mut self) -> Result<()> {
        if let Some(lease) = self.lease.take() {
            delete(&self.output, &lease).await?;
        }
        Ok(())
    }
}

/// Whether the commit or lease file at `loc` was written by the run `run_id`.
async fn written_by(loc: &Location, run_id: &str) -> Result<bool> {
    /// The field commits and leases share.
    #[derive(Deserialize)]
    struct Writer {
        run_id: String,
    }
    Ok(match loc.get_bytes_opt().await? {
        Some(bytes) => serde_json::from_slice::<Writer>(&bytes).is_ok_and(|w| w.run_id == run_id),
        None => false,
    })
}

pub(crate) async fn delete(output: &Location, path: &Path) -> Result<()> {
    match output.store().delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(StorageError::Store {
            url: output.url_of(path).to_string(),
            source,
        }),
    }
}

/// The folder holding the stable copy of `table` for `date`.
pub fn table_partition(output: &Location, table: &str, date: NaiveDate) -> Location {
    output.join(&format!("{table}/run_date={date}/"))
}

fn commit_location(output: &Location, date: NaiveDate, seq: u64) -> Location {
    table_partition(output, MANIFEST_TABLE, date).join(&format!("commit-{seq:06}.json"))
}

fn numbered(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

pub(crate) fn date_of(path: &Path) -> Option<NaiveDate> {
    path.parts().find_map(|p| {
        let d = p.as_ref().strip_prefix("run_date=")?.to_string();
        NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()
    })
}

/// Every commit under `output`, by date then number.
pub async fn commits(output: &Location) -> Result<Vec<Commit>> {
    let mut out: Vec<Commit> = output
        .join(&format!("{MANIFEST_TABLE}/"))
        .list()
        .await?
        .into_iter()
        .filter_map(|m| {
            let seq = numbered(m.location.filename()?, "commit-")?;
            Some(Commit {
                run_date: date_of(&m.location)?,
                seq,
                path: m.location,
            })
        })
        .collect();
    out.sort_by_key(|c| (c.run_date, c.seq));
    Ok(out)
}

/// The latest commit of `date`.
pub async fn latest_commit(output: &Location, date: NaiveDate) -> Result<Option<Commit>> {
    Ok(commits(output)
        .await?
        .into_iter()
        .rfind(|c| c.run_date == date))
}

/// The run dates with a committed run under `output`, oldest first.
pub async fn committed_runs(output: &Location) -> Result<Vec<NaiveDate>> {
    let mut dates: Vec<NaiveDate> = commits(output)
        .await?
        .into_iter()
        .map(|c| c.run_date)
        .collect();
    dates.dedup();
    Ok(dates)
}

/// The manifest of the latest commit of `date`, as written, and where it is. The writer's own
/// type reads it; the commit protocol reads only its [`CommitRecord`] ([`read_commit`]).
pub async fn read_manifest(output: &Location, date: NaiveDate) -> Result<(Location, Vec<u8>)> {
    let commit = latest_commit(output, date)
        .await?
        .ok_or_else(|| StorageError::NotCommitted {
            url: output.url().to_string(),
            date,
        })?;
    let loc = output_at(output, &commit.path);
    let bytes = loc.get_bytes().await?.to_vec();
    Ok((loc, bytes))
}

/// The [`CommitRecord`] of the latest commit of `date`.
pub async fn read_commit(output: &Location, date: NaiveDate) -> Result<CommitRecord> {
    let (loc, bytes) = read_manifest(output, date).await?;
    serde_json::from_slice(&bytes).map_err(|source| StorageError::Manifest {
        url: loc.url().to_string(),
        source,
    })
}

/// The location of an object path that lies under `output`.
pub(crate) fn output_at(output: &Location, path: &Path) -> Location {
    let rel = path
        .as_ref()
        .strip_prefix(output.path().as_ref())
        .unwrap_or(path.as_ref());
    output.join(rel.trim_start_matches('/'))
}

/// The run folder of a committed manifest's `run_id`.
pub fn run_folder(output: &Location, run_id: &str) -> Location {
    output.join(&format!("{RUNS}/{run_id}/"))
}

/// Copies `from` to `to` within `output`'s store, unless `to` already is `from` (same entity
/// tag and size). Besides saving the copy, that matters on a local disk: object_store copies
/// there by a hard link to `to#N` renamed onto `to`, and a rename onto another link of the same
/// file does nothing, so every repeated copy (each `gc`'s re-materialization) left a `to#N`
/// file behind that no listing shows.
pub async fn copy(output: &Location, from: &Location, to: &Location) -> Result<()> {
    if same_object(output, from, to).await? {
        return Ok(());
    }
    output
        .store()
        .copy(from.path(), to.path())
        .await
        .map_err(|source| StorageError::Store {
            url: to.url().to_string(),
            source,
        })
}

/// Whether `to` holds the object at `from` already (an absent `to` does not).
async fn same_object(output: &Location, from: &Location, to: &Location) -> Result<bool> {
    let head = |loc: &Location| {
        let loc = loc.clone();
        async move {
            match output.store().head(loc.path()).await {
                Ok(meta) => Ok(Some(meta)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(source) => Err(StorageError::Store {
                    url: loc.url().to_string(),
                    source,
                }),
            }
        }
    };
    let (Some(a), Some(b)) = (head(from).await?, head(to).await?) else {
        return Ok(false);
    };
    Ok(a.e_tag.is_some() && a.e_tag == b.e_tag && a.size == b.size)
}

/// Makes the stable copies of `date` (`<table>/run_date=D/part-0.parquet` and
/// `run_manifest/run_date=D/manifest.json` with the run files beside it) match its latest commit:
/// copies each committed table, deletes any other file in the tables' folders. Idempotent; a
/// no-op for a date without commits.
pub async fn materialize(output: &Location, date: NaiveDate) -> Result<()> {
    let Some(commit) = latest_commit(output, date).await? else {
        return Ok(());
    };
    let record = read_commit(output, date).await?;
    let run = run_folder(output, &record.run_id);
    for (table, committed) in &record.outputs {
        let names = std::iter::once(PART).chain(committed.files.iter().map(String::as_str));
        let mut kept = vec![];
        for name in names {
            let to = table_partition(output, table, date).join(name);
            copy(output, &run.join(&format!("{table}/{name}")), &to).await?;
            kept.push(to.path().clone());
        }
        for meta in table_partition(output, table, date).list().await? {
            if !kept.contains(&meta.location) {
                delete(output, &meta.location).await?;
            }
        }
    }
    for name in &record.run_files {
        let to = table_partition(output, MANIFEST_TABLE, date).join(name);
        copy(output, &run.join(name), &to).await?;
    }
    let bytes = output_at(output, &commit.path).get_bytes().await?;
    table_partition(output, MANIFEST_TABLE, date)
        .join("manifest.json")
        .put_bytes(bytes.to_vec())
        .await
}

async fn acquire_lease(
    output: &Location,
    date: NaiveDate,
    run_id: &str,
    ttl: Duration,
) -> Result<Path> {
    let folder = output.join(&format!("{LEASES}/run_date={date}/"));
    let leases = folder.list().await?;
    let latest = leases
        .iter()
        .filter_map(|m| {
            Some((
                numbered(m.location.filename()?, "lease-")?,
                m.location.clone(),
            ))
        })
        .max_by_key(|(n, _)| *n);
    let next = latest.as_ref().map_or(1, |(n, _)| n + 1);
    if let Some((_, path)) = &latest
        && let Some(bytes) = output_at(output, path).get_bytes_opt().await?
        && let Ok(info) = serde_json::from_slice::<LeaseInfo>(&bytes)
        && info.expires_at > Utc::now()
    {
        return Err(StorageError::LeaseHeld {
            url: folder.url().to_string(),
            run_id: info.run_id,
            expires_at: info.expires_at,
        });
    }
    let now = Utc::now();
    let info = LeaseInfo {
        run_id: run_id.to_string(),
        acquired_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(6)),
    };
    let lease = folder.join(&format!("lease-{next:06}.json"));
    let body = serde_json::to_vec(&info).expect("a lease serializes");
    match output
        .store()
        .put_opts(
            lease.path(),
            PutPayload::from(body),
            PutOptions::from(PutMode::Create),
        )
        .await
    {
        Ok(_) => Ok(lease.path().clone()),
        Err(object_store::Error::AlreadyExists { .. }) if written_by(&lease, run_id).await? => {
            Ok(lease.path().clone())
        }
        Err(object_store::Error::AlreadyExists { .. }) => Err(StorageError::LeaseHeld {
            url: folder.url().to_string(),
            run_id: "another run that started at the same moment".into(),
            expires_at: info.expires_at,
        }),
        Err(source) => Err(StorageError::Store {
            url: lease.url().to_string(),
            source,
        }),
    }
}

/// Every run folder under `output` (`_runs/<run_id>/`), with the time its newest file was
/// written.
async fn run_folders(output: &Location) -> Result<BTreeMap<String, DateTime<Utc>>> {
    let mut runs: BTreeMap<String, DateTime<Utc>> = Default::default();
    for meta in output.join(&format!("{RUNS}/")).list().await? {
        let rel = meta
            .location
            .as_ref()
            .strip_prefix(output.path().as_ref())
            .unwrap_or("");
        let Some(id) = rel.trim_start_matches('/').split('/').nth(1) else {
            continue;
        };
        let newest = runs.entry(id.to_string()).or_insert(meta.last_modified);
        *newest = (*newest).max(meta.last_modified);
    }
    Ok(runs)
}

/// The run ids of every live lease (a run still working) under `output`.
async fn live_lease_runs(output: &Location, now: DateTime<Utc>) -> Result<BTreeSet<String>> {
    let mut live = BTreeSet::new();
    for meta in output.join(&format!("{LEASES}/")).list().await? {
        let Some(bytes) = output_at(output, &meta.location).get_bytes_opt().await? else {
            continue;
        };
        if let Ok(info) = serde_json::from_slice::<LeaseInfo>(&bytes)
            && info.expires_at > now
        {
            live.insert(info.run_id);
        }
    }
    Ok(live)
}

/// Removes at once every run folder that no latest commit references, except those of runs
/// that hold a live lease (still working): what an erasure does, since superseded and
/// abandoned runs hold the erased rows too. Unlike [`gc`], no grace period: a reader of a
/// superseded commit loses its files. Returns the run ids removed.
pub async fn remove_unreferenced_runs(
    output: &Location,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let mut keep = live_lease_runs(output, now).await?;
    for date in committed_runs(output).await? {
        keep.insert(read_commit(output, date).await?.run_id);
    }
    let mut removed = vec![];
    for id in run_folders(output).await?.into_keys() {
        if !keep.contains(&id) {
            run_folder(output, &id).delete_all().await?;
            removed.push(id);
        }
    }
    Ok(removed)
}

/// What [`gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Run folders removed: abandoned by failed or crashed runs, or superseded by a later commit.
    pub runs_removed: Vec<String>,
    /// Run folders kept because they are younger than the grace period.
    pub runs_in_grace: Vec<String>,
    /// Lease files removed (expired, or older than the latest of their date).
    pub leases_removed: usize,
    /// Dates whose stable copies were brought in line with their latest commit.
    pub dates_materialized: usize,
}

/// Cleans `output`: removes run folders that no latest commit references once they are older
/// than `grace` (a reader of the previous commit may still be reading), removes dead leases, and
/// re-materializes every committed date (repairing a crash during a previous materialization).
pub async fn gc(output: &Location, grace: Duration, now: DateTime<Utc>) -> Result<GcReport> {
    let mut report = GcReport::default();
    let mut keep = std::collections::BTreeSet::new();
    for date in committed_runs(output).await? {
        keep.insert(read_commit(output, date).await?.run_id);
        materialize(output, date).await?;
        report.dates_materialized += 1;
    }
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::days(1));
    for (id, newest) in run_folders(output).await? {
        if keep.contains(&id) {
            continue;
        }
        if now - newest < grace {
            report.runs_in_grace.push(id);
            continue;
        }
        run_folder(output, &id).delete_all().await?;
        report.runs_removed.push(id);
    }
    let mut by_date: std::collections::BTreeMap<NaiveDate, Vec<(u64, Path)>> = Default::default();
    for meta in output.join(&format!("{LEASES}/")).list().await? {
        let (Some(date), Some(n)) = (
            date_of(&meta.location),
            meta.location.filename().and_then(|f| numbered(f, "lease-")),
        ) else {
            continue;
        };
        by_date.entry(date).or_default().push((n, meta.location));
    }
    for (_, mut leases) in by_date {
        leases.sort();
        let (_, last) = leases.pop().expect("a date has at least one lease");
        for (_, path) in leases {
            delete(output, &path).await?;
            report.leases_removed += 1;
        }
        let live = match output_at(output, &last).get_bytes_opt().await? {
            Some(bytes) => {
                serde_json::from_slice::<LeaseInfo>(&bytes).is_ok_and(|l| l.expires_at > now)
            }
            None => false,
        };
        if !live {
            delete(output, &last).await?;
            report.leases_removed += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stores;

    fn out() -> Location {
        Stores::default()
            .open(&url::Url::parse("memory://t/out/").unwrap())
            .unwrap()
    }

    fn manifest(p: &Publisher, tables: &[&str]) -> Vec<u8> {
        with_run_files(p, tables, &[])
    }

    fn with_run_files(p: &Publisher, tables: &[&str], run_files: &[&str]) -> Vec<u8> {
        let outputs = tables
            .iter()
            .map(|t| (t.to_string(), p.committed_table(t, &Default::default())))
            .collect();
        let record = CommitRecord {
            run_id: p.run_id().to_string(),
            outputs,
            run_files: run_files.iter().map(|f| f.to_string()).collect(),
        };
        serde_json::to_vec(&record).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn commit_publishes_replaces_and_keeps_one_copy_per_table() {
        let out = out();
        // A stale extra file from an older layout of the same date must disappear.
        out.join("a/run_date=2024-01-31/part-9.parquet")
            .put_bytes(b"old".to_vec())
            .await
            .unwrap();
        for content in [&b"first"[..], &b"second"[..]] {
            let p = Publisher::begin(out.clone(), d("2024-01-31"), HOUR)
                .await
                .unwrap();
            p.staging_file("a")
                .put_bytes(content.to_vec())
                .await
                .unwrap();
            let report = p.run_file("report.html");
            report.put_bytes(content.to_vec()).await.unwrap();
            let m = with_run_files(&p, &["a"], &["report.html"]);
            p.commit(m).await.unwrap();
        }
        // The run file is copied beside the stable manifest, the latest commit's.
        let stable = out.join("run_manifest/run_date=2024-01-31/report.html");
        assert_eq!(stable.get_bytes().await.unwrap(), &b"second"[..]);
        assert_eq!(
            out.join("a/run_date=2024-01-31/part-0.parquet")
                .get_bytes()
                .await
                .unwrap(),
            &b"second"[..]
        );
        assert_eq!(
            out.join("a/run_date=2024-01-31/")
                .list()
                .await
                .unwrap()
                .len(),
            1
        );
        let c = latest_commit(&out, d("2024-01-31")).await.unwrap().unwrap();
        assert_eq!(c.seq, 2);
        assert_eq!(committed_runs(&out).await.unwrap(), vec![d("2024-01-31")]);
        assert!(
            out.join(&format!("{LEASES}/"))
                .list()
                .await
                .unwrap()
                .is_empty(),
            "lease released"
        );
    }

    #[tokio::test]
    async fn of_two_runs_that_began_together_exactly_one_commits() {
        let out = out();
        let date = d("2024-02-01");
        // Take the lease out of the picture: an expired lease lets both begin.
        let a = Publisher::begin(out.clone(), date, Duration::ZERO)
            .await
            .unwrap();
        let b = Publisher::begin(out.clone(), date, Duration::ZERO)
            .await
            .unwrap();
        for p in [&a, &b] {
            p.staging_file("t")
                .put_bytes(p.run_id().as_bytes().to_vec())
                .await
                .unwrap();
        }
        let (ma, mb) = (manifest(&a, &["t"]), manifest(&b, &["t"]));
        let b_id = b.run_id().to_string();
        b.commit(mb).await.unwrap();
        let err = a.commit(ma).await.unwrap_err();
        assert!(matches!(err, StorageError::CommitConflict { .. }), "{err}");
        assert_eq!(read_commit(&out, date).await.unwrap().run_id, b_id.as_str());
        assert_eq!(
            out.join("t/run_date=2024-02-01/part-0.parquet")
                .get_bytes()
                .await
                .unwrap(),
            b_id.as_bytes()
        );
    }

    #[tokio::test]
    async fn a_commit_retried_after_it_landed_is_not_a_conflict() {
        let out = out();
        let date = d("2024-05-01");
        let p = Publisher::begin(out.clone(), date, HOUR).await.unwrap();
        p.staging_file("t").put_bytes(b"x".to_vec()).await.unwrap();
        let m = manifest(&p, &["t"]);
        // The first attempt landed, but its answer was lost.
        commit_location(&out, date, 1)
            .put_bytes(m.clone())
            .await
            .unwrap();
        p.commit(m).await.unwrap();
        assert_eq!(latest_commit(&out, date).await.unwrap().unwrap().seq, 1);
    }

    #[tokio::test]
    async fn a_live_lease_keeps_a_second_run_out() {
        let out = out();
        let first = Publisher::begin(out.clone(), d("2024-03-01"), HOUR)
            .await
            .unwrap();
        let err = Publisher::begin(out.clone(), d("2024-03-01"), HOUR)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&err, StorageError::LeaseHeld { run_id, .. } if run_id == first.run_id()),
            "{err}"
        );
        // Another date is free; and once the first run ends, so is this one.
        Publisher::begin(out.clone(), d("2024-03-02"), HOUR)
            .await
            .unwrap()
            .abort()
            .await
            .unwrap();
        first.abort().await.unwrap();
        Publisher::begin(out.clone(), d("2024-03-01"), HOUR)
            .await
            .unwrap()
            .abort()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn repeated_materialization_on_a_local_disk_leaves_no_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let out = Stores::default().open(&url).unwrap();
        let p = Publisher::begin(out.clone(), d("2024-04-01"), HOUR)
            .await
            .unwrap();
        p.staging_file("t").put_bytes(b"x".to_vec()).await.unwrap();
        let m = manifest(&p, &["t"]);
        p.commit(m).await.unwrap();
        for _ in 0..3 {
            gc(&out, HOUR, Utc::now()).await.unwrap();
        }
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                assert!(
                    !path.to_string_lossy().contains('#'),
                    "{} left behind",
                    path.display()
                );
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
    }

    #[tokio::test]
    async fn gc_removes_abandoned_runs_after_the_grace_period_and_repairs_copies() {
        let out = out();
        let date = d("2024-04-01");
        let done = Publisher::begin(out.clone(), date, HOUR).await.unwrap();
        done.staging_file("t")
            .put_bytes(b"good".to_vec())
            .await
            .unwrap();
        let done_id = done.run_id().to_string();
        let m = manifest(&done, &["t"]);
        done.commit(m).await.unwrap();
        // A run that crashed: its data and its (expiring) lease stay behind.
        let crashed = Publisher::begin(out.clone(), date, Duration::ZERO)
            .await
            .unwrap();
        crashed
            .staging_file("t")
            .put_bytes(b"half".to_vec())
            .await
            .unwrap();
        let crashed_id = crashed.run_id().to_string();
        std::mem::forget(crashed);
        // A torn stable copy.
        out.join("t/run_date=2024-04-01/part-0.parquet")
            .put_bytes(b"torn".to_vec())
            .await
            .unwrap();

        let report = gc(&out, HOUR, Utc::now()).await.unwrap();
        assert_eq!(report.runs_in_grace, vec![crashed_id.clone()]);
        assert!(report.runs_removed.is_empty());
        assert_eq!(
            report.leases_removed, 1,
            "the crashed run's lease has expired"
        );
        assert_eq!(
            out.join("t/run_date=2024-04-01/part-0.parquet")
                .get_bytes()
                .await
                .unwrap(),
            &b"good"[..]
        );
        let later = Utc::now() + chrono::Duration::hours(2);
        let report = gc(&out, HOUR, later).await.unwrap();
        assert_eq!(report.runs_removed, vec![crashed_id]);
        assert!(
            out.join(&format!("{RUNS}/{done_id}/t/{PART}"))
                .get_bytes()
                .await
                .is_ok(),
            "committed data stays"
        );
    }
}
