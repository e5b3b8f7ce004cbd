//! The runner: the ordered steps, their timing, the quality gate, the manifest and the commit.
//! `validate` runs the same steps with nothing written.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use lifecycle_features::input::RegisteredInput;
use lifecycle_features::pseudonym::IdKey;
use lifecycle_features::sql::{self, views};
use lifecycle_spec::ValidJobSpec;
use lifecycle_storage::{CommitRecord, Publisher, Stores};

use crate::Result;
use crate::manifest::{
    MANIFEST_FORMAT, Manifest, ModelReports, PrivacyRecord, RowCounts, StepTiming,
};
use crate::output::Output;
use crate::query::Query;
use crate::session::{redacted_spec, register_store, session, stores_for};
use crate::steps::{self, Run, StepInfo};

/// How to run a job: what the spec does not say.
#[derive(Clone)]
pub struct RunOptions {
    /// The cutoff date; overrides the spec's `job.as_of`. Neither: today (UTC).
    pub as_of: Option<NaiveDate>,
    /// The wall-clock time of the run, for the future-event rule.
    pub run_time: DateTime<Utc>,
    /// The store factory (shared, so `memory://` outputs can be read back).
    pub stores: Stores,
    /// Told of each step as it starts and ends (e.g. a terminal display); None: nobody.
    pub progress: Option<std::sync::Arc<dyn crate::Progress>>,
    /// The key of pseudonymous ids, when the caller has it (e.g. from a secret manager): it
    /// wins over `[privacy] id_key_env`.
    pub id_key: Option<IdKey>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            as_of: None,
            run_time: Utc::now(),
            stores: Stores::default(),
            progress: None,
            id_key: None,
        }
    }
}

/// What a committed run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub manifest: Manifest,
    /// Users per stage.
    pub stages: BTreeMap<String, u64>,
    /// The first rows of `user_segments`, formatted for a terminal.
    pub preview: String,
    /// The `[exports] notify_url` POST after the commit, when there is one.
    pub notification: Option<crate::Notification>,
    /// What `[retention]` deleted after the commit, when it is set and succeeded.
    pub retention: Option<lifecycle_storage::RetentionReport>,
}

/// The steps of a run, in order. Each runs when its setting turns it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Read,
    Quality,
    Features,
    Segments,
    Cohorts,
    Funnels,
    Clv,
    Segmentation,
    Churn,
    Recommendations,
    Monitoring,
    Audiences,
    Experiments,
    Uplift,
    Exports,
}

const STEPS: [Step; 15] = [
    Step::Read,
    Step::Quality,
    Step::Features,
    Step::Segments,
    Step::Cohorts,
    Step::Funnels,
    Step::Clv,
    Step::Segmentation,
    Step::Churn,
    Step::Recommendations,
    Step::Monitoring,
    Step::Audiences,
    Step::Experiments,
    Step::Uplift,
    Step::Exports,
];

impl Step {
    fn info(self) -> &'static StepInfo {
        match self {
            Step::Read => &steps::ingest::READ,
            Step::Quality => &steps::ingest::QUALITY,
            Step::Features => &steps::features::STEP,
            Step::Segments => &steps::segments::STEP,
            Step::Cohorts => &steps::cohorts::STEP,
            Step::Funnels => &steps::funnels::STEP,
            Step::Clv => &steps::clv::STEP,
            Step::Segmentation => &steps::clusters::STEP,
            Step::Churn => &steps::churn::STEP,
            Step::Recommendations => &steps::recommend::STEP,
            Step::Monitoring => &steps::monitoring::STEP,
            Step::Audiences => &steps::audiences::STEP,
            Step::Experiments => &steps::experiments::STEP,
            Step::Uplift => &steps::uplift::STEP,
            Step::Exports => &steps::exports::STEP,
        }
    }

    fn enabled(self, spec: &ValidJobSpec) -> bool {
        match self {
            Step::Clv => spec.clv.enabled,
            Step::Segmentation => spec.segmentation.enabled,
            Step::Churn => spec.churn.enabled,
            Step::Recommendations => spec.recommendations.enabled,
            Step::Funnels => !spec.funnels.is_empty(),
            Step::Experiments => !spec.experiments.is_empty(),
            Step::Uplift => spec.uplift.is_some(),
            _ => true,
        }
    }

    /// Whether it reads every clean event even with `[incremental]`.
    fn reads_history(self) -> bool {
        let info = self.info();
        !info.from_rollup && info.reads.contains(&views::EVENTS_CLEAN)
    }

    /// Runs the step; the rows it reports for the manifest's timing.
    async fn run(self, run: &mut Run<'_>) -> Result<Option<u64>> {
        match self {
            Step::Read => steps::ingest::read(run).await,
            Step::Quality => steps::ingest::quality(run).await,
            Step::Features => steps::features::run(run).await,
            Step::Segments => steps::segments::run(run).await,
            Step::Cohorts => steps::cohorts::run(run).await,
            Step::Funnels => steps::funnels::run(run).await,
            Step::Clv => steps::clv::run(run).await,
            Step::Segmentation => steps::clusters::run(run).await,
            Step::Churn => steps::churn::run(run).await,
            Step::Recommendations => steps::recommend::run(run).await,
            Step::Monitoring => steps::monitoring::run(run).await,
            Step::Audiences => steps::audiences::run(run).await,
            Step::Experiments => steps::experiments::run(run).await,
            Step::Uplift => steps::uplift::run(run).await,
            Step::Exports => steps::exports::run(run).await,
        }
    }

    /// The gate that must hold after the step before the run goes on.
    fn gate(self, run: &Run<'_>) -> Result<()> {
        match self {
            Step::Quality if run.out.publishes() => steps::ingest::bad_row_gate(run),
            Step::Monitoring => steps::monitoring::gate(run),
            _ => Ok(()),
        }
    }
}

/// The cutoff date a run will use.
pub fn cutoff_date(spec: &ValidJobSpec, opts: &RunOptions) -> NaiveDate {
    opts.as_of
        .or(spec.as_of)
        .unwrap_or_else(|| opts.run_time.date_naive())
}

/// The cutoff instant `T` of a run date: its 00:00 UTC.
fn cutoff_instant(run_date: NaiveDate) -> DateTime<Utc> {
    let midnight = run_date.and_hms_opt(0, 0, 0).expect("midnight exists");
    midnight.and_utc()
}

/// A run's context before any step: the session, the stores and the dates.
async fn begin<'a>(
    spec: &'a ValidJobSpec,
    opts: &RunOptions,
    stores: Stores,
    out: Output<'a>,
    id_key: Option<IdKey>,
) -> Result<(Run<'a>, String)> {
    let run_date = cutoff_date(spec, opts);
    let session = session(spec, &stores).await?;
    crate::privacy::register(&session.ctx, id_key.as_ref());
    if let (Some(key), Some(_)) = (&id_key, &spec.cluster) {
        crate::privacy::check_cluster_key(&session.ctx, key).await?;
    }
    let run = Run {
        spec,
        ctx: session.ctx,
        stores,
        run_time: opts.run_time,
        run_date,
        cutoff: cutoff_instant(run_date),
        out,
        previous: None,
        inputs: vec![],
        rows: RowCounts::default(),
        quality: BTreeMap::new(),
        models: ModelReports::default(),
        audiences: None,
        experiments: None,
        monitoring: None,
        rollup_plan: None,
        rollup: None,
        erased_ids: vec![],
        usage: session.usage,
        id_key,
        previous_ids: Default::default(),
    };
    Ok((run, session.engine))
}

/// What needs every event even with `[incremental]`: the `enabled` steps that read them all,
/// and `publish_raw_ids`, whose lookup of raw ids comes from the ids the run reads.
fn history_readers(spec: &ValidJobSpec, enabled: &[Step]) -> Vec<&'static str> {
    let steps = enabled.iter().filter(|s| s.reads_history());
    let mut readers: Vec<&'static str> = steps.map(|s| s.info().name).collect();
    if spec.privacy.publish_raw_ids {
        readers.push("privacy.publish_raw_ids");
    }
    readers
}

/// Runs every enabled step in order, timing each and checking its gate; tells `progress` (whose
/// total counts the report written after the steps).
async fn run_steps(
    run: &mut Run<'_>,
    progress: Option<&dyn crate::Progress>,
) -> Result<Vec<StepTiming>> {
    let mut timings = vec![];
    let enabled: Vec<Step> = STEPS.into_iter().filter(|s| s.enabled(run.spec)).collect();
    if let Some(settings) = &run.spec.incremental {
        let history = history_readers(run.spec, &enabled);
        run.rollup_plan = Some(crate::rollup::plan(run, settings, history));
    }
    let total = enabled.len() + 1;
    for (i, step) in enabled.into_iter().enumerate() {
        let started = Instant::now();
        let info = step.info();
        tracing::debug!(step = info.name, reads = ?info.reads, writes = ?info.writes, "step starting");
        if let Some(p) = progress {
            p.started(info.name, i + 1, total);
        }
        let rows = step.run(run).await?;
        if let Some(p) = progress {
            p.finished(info.name, rows, started.elapsed().as_secs_f64());
        }
        if run.out.publishes() {
            let (name, seconds) = (step.info().name, started.elapsed().as_secs_f64());
            tracing::info!(
                step = name,
                seconds = format!("{seconds:.3}"),
                rows,
                "step done"
            );
            timings.push(StepTiming {
                step: name.to_string(),
                seconds,
                rows,
            });
        }
        step.gate(run)?;
    }
    Ok(timings)
}

/// Runs the daily job and commits its outputs, or publishes nothing.
pub async fn run_job(spec: &ValidJobSpec, opts: &RunOptions) -> Result<RunSummary> {
    run_job_until(spec, opts, std::future::pending()).await
}

/// [`run_job`], stopped when `stop` completes first (with the signal's name): the run's data
/// is removed, its lease released, nothing published ([`RunError::Stopped`]).
pub async fn run_job_until(
    spec: &ValidJobSpec,
    opts: &RunOptions,
    stop: impl std::future::Future<Output = &'static str>,
) -> Result<RunSummary> {
    let run_date = cutoff_date(spec, opts);
    let id_key = crate::privacy::id_key(spec, opts)?;
    let stores = stores_for(spec, &opts.stores)?;
    let output = crate::history::job_output(spec, opts)?;
    let publisher = Publisher::begin(output, run_date, spec.lease).await?;
    let run_id = publisher.run_id();
    tracing::info!(job = %spec.name, run_id, %run_date, output = %spec.output, "run starting");
    let work = async {
        tokio::select! {
            done = run_and_summarise(spec, opts, stores, &publisher, id_key) => done,
            signal = stop => {
                tracing::warn!(signal, "stopping: nothing will be published");
                Err(crate::RunError::Stopped { signal })
            }
        }
    };
    match crate::lease::keep_lease(&publisher, spec.lease, work).await {
        Ok(mut summary) => {
            let run_folder = publisher.run_file("notification.json");
            let output = publisher.output().clone();
            publisher.commit(summary.manifest.to_json()).await?;
            tracing::info!(run_id = %summary.manifest.run_id(), %run_date, "run committed");
            summary.notification = notify_committed(spec, &summary.manifest, run_folder).await;
            summary.retention = retain(spec, &output, run_date).await;
            Ok(summary)
        }
        Err(e) => {
            if let Err(cleanup) = publisher.abort().await {
                tracing::warn!(error = %cleanup, "could not remove this run's data");
            }
            Err(crate::engine::explain(e, &spec.engine))
        }
    }
}

/// Applies `[retention]` after a commit, counting back from the run's date. A failure is
/// logged, never an error: the commit stands, and the next run or `lifecycle gc` retries.
async fn retain(
    spec: &ValidJobSpec,
    output: &lifecycle_storage::Location,
    run_date: NaiveDate,
) -> Option<lifecycle_storage::RetentionReport> {
    let r = spec.retention;
    if r.days.is_none() && r.quarantine_days.is_none() {
        return None;
    }
    let keep_since = r
        .days
        .map(|n| first_kept(run_date, n))
        .unwrap_or(NaiveDate::MIN);
    let quarantine = r.quarantine_days.map(|n| first_kept(run_date, n));
    match lifecycle_storage::apply_retention(output, keep_since, quarantine).await {
        Ok(report) => {
            tracing::info!(dates = ?report.dates_removed, quarantines = ?report.quarantines_emptied, "retention applied");
            Some(report)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not apply [retention]; the run is committed all the same");
            None
        }
    }
}

/// The first date `days` of retention keep, counting back from `date` (kept itself).
pub fn first_kept(date: NaiveDate, days: u32) -> NaiveDate {
    date - chrono::Duration::days(days as i64 - 1)
}

/// Sends the `notify_url` POST of a committed run and saves its outcome in the run's folder
/// (`_runs/<run_id>/notification.json`). A failure is logged, never an error: the
/// commit stands.
async fn notify_committed(
    spec: &ValidJobSpec,
    manifest: &Manifest,
    file: lifecycle_storage::Location,
) -> Option<crate::Notification> {
    let body = crate::notify::payload(manifest);
    let n = crate::notify::notify(&spec.activation.exports, &body).await?;
    match n.delivered {
        true => tracing::info!(url = n.url, attempts = n.attempts, "run announced"),
        false => tracing::warn!(url = n.url, attempts = n.attempts, error = ?n.error,
            "could not announce the run; it is committed all the same"),
    }
    let json = serde_json::to_vec_pretty(&n).expect("a notification serializes");
    if let Err(e) = file.put_bytes(json).await {
        tracing::warn!(error = %e, "could not save the notification's outcome");
    }
    Some(n)
}

/// The steps of one run into `publisher`'s staging folder, and the manifest that commits them.
async fn run_and_summarise(
    spec: &ValidJobSpec,
    opts: &RunOptions,
    stores: Stores,
    publisher: &Publisher,
    id_key: Option<IdKey>,
) -> Result<RunSummary> {
    let out = Output::Publish {
        publisher,
        written: vec![],
        files: vec![],
        rules: crate::privacy::Publishing {
            ids: crate::privacy::user_ids(id_key.as_ref()),
            min_cell_size: spec.privacy.min_cell_size,
            raw_ids: None,
        },
    };
    let (mut run, engine) = begin(spec, opts, stores, out, id_key).await?;
    register_store(&run.ctx, publisher.output());
    run.previous = crate::previous::previous_run(publisher.output(), run.run_date).await?;
    run.previous_ids =
        crate::rotation::previous_ids(spec, run.previous.as_ref(), run.id_key.as_ref())?;
    let progress = opts.progress.as_deref();
    let steps = run_steps(&mut run, progress).await?;
    let q = Query::new(&run.ctx, "count stages");
    let stages = q
        .counts_by(&lifecycle_features::segments::stage_counts_sql())
        .await?;
    let preview = q
        .step("preview")
        .pretty(&sql::head(views::USER_SEGMENTS, 5))
        .await?;
    let ctx = run.ctx.clone();
    let mut manifest = manifest(run, publisher, engine, stages.clone(), steps);
    write_report(&ctx, &mut manifest, publisher, progress).await?;
    // Staged working sets (per-user rows, a text log's clean events) are not kept past the run.
    let removed = publisher.remove_staged().await?;
    tracing::debug!(removed, "staged files removed");
    Ok(RunSummary {
        manifest,
        stages,
        preview,
        notification: None,
        retention: None,
    })
}

/// Writes `report.html` into the run's folder, committed with the run: the last step, after
/// the manifest it reads (which then lists the file, and the step's time as `report`).
async fn write_report(
    ctx: &datafusion::prelude::SessionContext,
    manifest: &mut Manifest,
    publisher: &Publisher,
    progress: Option<&dyn crate::Progress>,
) -> Result<()> {
    let started = std::time::Instant::now();
    let step = crate::report::REPORT_STEP;
    let last = manifest.steps.len() + 1;
    if let Some(p) = progress {
        p.started(step, last, last);
    }
    let file = crate::report::REPORT_FILE;
    manifest.commit.run_files.push(file.to_string());
    let html = crate::report::build_report(ctx, manifest).await?;
    publisher
        .run_file(file)
        .put_bytes(html.into_bytes())
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.finished(step, None, seconds);
    }
    manifest.steps.push(StepTiming {
        step: step.into(),
        seconds,
        rows: None,
    });
    Ok(())
}

fn manifest(
    run: Run<'_>,
    publisher: &Publisher,
    engine: String,
    stages: BTreeMap<String, u64>,
    steps: Vec<StepTiming>,
) -> Manifest {
    let zeros = lifecycle_features::quality::RULES
        .iter()
        .map(|r| (r.to_string(), 0));
    let outputs = run
        .out
        .committed()
        .into_iter()
        .map(|(t, c)| (t.name().to_string(), c));
    Manifest {
        format_version: MANIFEST_FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        job: run.spec.name.clone(),
        commit: CommitRecord {
            run_id: publisher.run_id().to_string(),
            outputs: outputs.collect(),
            run_files: vec![],
        },
        run_date: run.run_date,
        cutoff: run.cutoff,
        run_time: run.run_time,
        engine,
        resources: run.usage.as_ref().map(|u| u.report()),
        previous_run_date: run.previous.as_ref().map(|m| m.run_date),
        spec: redacted_spec(run.spec),
        inputs: run.inputs,
        rows: run.rows,
        quality: zeros.chain(run.quality).collect(),
        stages,
        models: run.models,
        audiences: run.audiences,
        experiments: run.experiments,
        monitoring: run.monitoring,
        rollup: run.rollup,
        privacy: run.id_key.as_ref().map(|k| PrivacyRecord {
            id_column: crate::privacy::USER_KEY.to_string(),
            key_fingerprint: k.fingerprint(),
            raw_id_tables: match run.spec.privacy.publish_raw_ids {
                true => crate::raw_ids::RAW_ID_TABLES
                    .iter()
                    .map(|t| t.name().to_string())
                    .collect(),
                false => vec![],
            },
        }),
        erasures: vec![],
        steps,
    }
}

/// Checks a job without running it: the spec, every input file's columns and types, and that
/// every SQL step plans (the same steps as a run, writing nothing); model steps check the
/// feature columns they name.
pub async fn validate_job(spec: &ValidJobSpec, opts: &RunOptions) -> Result<Vec<RegisteredInput>> {
    let stores = stores_for(spec, &opts.stores)?;
    crate::history::job_output(spec, opts)?;
    let id_key = crate::privacy::id_key(spec, opts)?;
    let (mut run, _) = begin(spec, opts, stores, Output::Plan, id_key).await?;
    run_steps(&mut run, None).await?;
    Ok(run.inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::Table;

    #[test]
    fn every_table_is_written_by_exactly_one_step() {
        for table in Table::ALL {
            let writers: Vec<&str> = STEPS
                .iter()
                .filter(|s| s.info().writes.contains(&table))
                .map(|s| s.info().name)
                .collect();
            assert_eq!(writers.len(), 1, "{table}: {writers:?}");
        }
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.info().name).collect();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
    }
}
