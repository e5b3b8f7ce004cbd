//! `lifecycle backfill` and `lifecycle run --catch-up`: several dates run oldest first, each
//! reading the one before, then a word on any committed date that is now stale.

use chrono::{NaiveDate, Utc};
use lifecycle_pipeline::{RunError, RunOptions, RunSummary};
use lifecycle_spec::{SpecError, ValidJobSpec};
use lifecycle_storage::{Location, StorageError};

use crate::args::BackfillArgs;

/// Runs the dates of `--from`..`--to`, skipping committed ones unless `--rerun`.
pub(crate) async fn backfill(a: &BackfillArgs) -> anyhow::Result<()> {
    if a.job.as_of.is_some() {
        return Err(SpecError::Invalid {
            setting: "--as-of".into(),
            reason: "backfill runs the dates of --from and --to".into(),
        }
        .into());
    }
    if a.from > a.to {
        return Err(SpecError::Invalid {
            setting: "--from".into(),
            reason: format!("{} is after --to {}", a.from, a.to),
        }
        .into());
    }
    let spec = super::job::load_spec(&a.job)?;
    let opts = super::job::run_options(&a.job);
    let output = lifecycle_pipeline::job_output(&spec, &opts)?;
    let plan = lifecycle_pipeline::backfill_plan(&output, a.from, a.to, a.rerun).await?;
    if !plan.skipped.is_empty() {
        println!(
            "skipping {} committed date(s) (--rerun runs them again): {}",
            plan.skipped.len(),
            list(&plan.skipped)
        );
    }
    // A backfill killed between a commit and its stable copies left that date's copies
    // behind: bring every skipped date's in line (a no-op when they are).
    for date in &plan.skipped {
        lifecycle_storage::materialize(&output, *date).await?;
    }
    run_dates(&spec, &opts, &plan.run).await?;
    report_stale(&output).await
}

/// Runs `dates` in order; prints a line per date and the last one's summary.
pub(crate) async fn run_dates(
    spec: &ValidJobSpec,
    opts: &RunOptions,
    dates: &[NaiveDate],
) -> anyhow::Result<()> {
    let mut last = None;
    for (i, &date) in dates.iter().enumerate() {
        let summary = run_date(spec, opts, date).await?;
        let users: u64 = summary.stages.values().sum();
        println!(
            "{date}: committed run {} ({users} users) [{}/{}]",
            summary.manifest.run_id(),
            i + 1,
            dates.len()
        );
        last = Some(summary);
    }
    match last {
        Some(summary) => crate::summary::print_summary(&summary),
        None => println!("nothing to run"),
    }
    Ok(())
}

/// Runs one date; a lease left by a run that died (a killed backfill) is waited out once.
async fn run_date(
    spec: &ValidJobSpec,
    opts: &RunOptions,
    date: NaiveDate,
) -> anyhow::Result<RunSummary> {
    let opts = RunOptions {
        as_of: Some(date),
        run_time: Utc::now(),
        ..opts.clone()
    };
    let stop = lifecycle_cluster::shutdown_signal();
    match lifecycle_pipeline::run_job_until(spec, &opts, stop).await {
        Err(RunError::Storage(StorageError::LeaseHeld {
            run_id, expires_at, ..
        })) if expires_at - Utc::now() <= chrono::Duration::from_std(spec.lease)? => {
            println!("{date}: waiting for the lease of run {run_id} (expires {expires_at})");
            let wait = (expires_at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait + std::time::Duration::from_millis(200)).await;
            let opts = RunOptions {
                run_time: Utc::now(),
                ..opts
            };
            let stop = lifecycle_cluster::shutdown_signal();
            Ok(lifecycle_pipeline::run_job_until(spec, &opts, stop).await?)
        }
        done => Ok(done?),
    }
}

/// Prints the committed dates that read another previous run than the one committed now.
pub(crate) async fn report_stale(output: &Location) -> anyhow::Result<()> {
    let stale = lifecycle_pipeline::stale_dates(output).await?;
    let Some(first) = stale.first() else {
        return Ok(());
    };
    println!(
        "\n{} committed date(s) read another previous run than the one committed now:",
        stale.len()
    );
    for s in &stale {
        println!("  stale {s}");
    }
    let last = lifecycle_storage::committed_runs(output).await?;
    let last = last.last().expect("a stale date is committed");
    println!(
        "rerun them: lifecycle backfill SPEC --from {} --to {last} --rerun",
        first.date
    );
    Ok(())
}

fn list(dates: &[NaiveDate]) -> String {
    let texts: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
    texts.join(", ")
}
