//! Which dates to run, for `lifecycle backfill` and `lifecycle run --catch-up`, and which
//! committed dates a later rerun of an earlier one has made stale.
//!
//! Each run reads the latest committed run before its date (stage transitions, audience
//! history, cluster numbers), so dates are run oldest first, and a date is **stale** when the
//! run it read is no longer the run that is committed before it: its recorded
//! `previous_run_date` is not the latest committed date before it any more, or that date was
//! run again after it.

use chrono::{Days, NaiveDate};
use lifecycle_spec::ValidJobSpec;
use lifecycle_storage::Location;

use crate::manifest::Manifest;
use crate::{Result, RunOptions};

/// The spec's output location, opened with `opts`' stores and the spec's storage settings.
pub fn job_output(spec: &ValidJobSpec, opts: &RunOptions) -> Result<Location> {
    let stores = crate::session::stores_for(spec, &opts.stores)?;
    crate::session::open_setting(&stores, &spec.output, "job.output")
}

/// The dates a backfill runs and skips.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatePlan {
    /// Oldest first.
    pub run: Vec<NaiveDate>,
    /// Committed already (without `--rerun`).
    pub skipped: Vec<NaiveDate>,
}

/// Every date from `from` to `to` (inclusive), those committed under `output` skipped unless
/// `rerun`.
pub async fn backfill_plan(
    output: &Location,
    from: NaiveDate,
    to: NaiveDate,
    rerun: bool,
) -> Result<DatePlan> {
    let committed = lifecycle_storage::committed_runs(output).await?;
    let mut plan = DatePlan::default();
    for date in from.iter_days().take_while(|d| *d <= to) {
        match !rerun && committed.contains(&date) {
            true => plan.skipped.push(date),
            false => plan.run.push(date),
        }
    }
    Ok(plan)
}

/// The dates a catch-up runs to reach `cutoff`: every day after the latest committed date up
/// to `cutoff`, or `cutoff` alone when nothing before it is missing (a first run, or a rerun).
pub async fn catch_up_dates(output: &Location, cutoff: NaiveDate) -> Result<Vec<NaiveDate>> {
    let committed = lifecycle_storage::committed_runs(output).await?;
    let last = committed.into_iter().rfind(|d| *d < cutoff);
    let first = last.and_then(|d| d.checked_add_days(Days::new(1)));
    Ok(match first {
        Some(first) => first.iter_days().take_while(|d| *d <= cutoff).collect(),
        None => vec![cutoff],
    })
}

/// A committed date whose run read another previous run than the one committed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleDate {
    pub date: NaiveDate,
    /// The previous date its run read (None: it read none).
    pub read: Option<NaiveDate>,
    /// The latest committed date before it now.
    pub previous: NaiveDate,
    /// Whether `previous` is the date it read, but was run again after it.
    pub rerun_since: bool,
}

impl std::fmt::Display for StaleDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.rerun_since, self.read) {
            (true, _) => write!(f, "{}: {} was run again after it", self.date, self.previous),
            (false, Some(read)) => write!(
                f,
                "{}: it read {read}, the committed date before it is now {}",
                self.date, self.previous
            ),
            (false, None) => write!(
                f,
                "{}: it read no previous run, the committed date before it is now {}",
                self.date, self.previous
            ),
        }
    }
}

/// Every stale committed date under `output`, oldest first. Rerunning from the first one
/// (`lifecycle backfill --from D --to LAST --rerun`) makes all of them current.
pub async fn stale_dates(output: &Location) -> Result<Vec<StaleDate>> {
    let mut stale = vec![];
    let mut before: Option<Manifest> = None;
    for date in lifecycle_storage::committed_runs(output).await? {
        let m = Manifest::read(output, date).await?;
        if let Some(p) = &before {
            let rerun_since = m.previous_run_date == Some(p.run_date) && p.run_time > m.run_time;
            if m.previous_run_date != Some(p.run_date) || rerun_since {
                stale.push(StaleDate {
                    date,
                    read: m.previous_run_date,
                    previous: p.run_date,
                    rerun_since,
                });
            }
        }
        before = Some(m);
    }
    Ok(stale)
}
