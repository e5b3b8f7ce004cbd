//! The daily lifecycle job: reads and checks the events, computes features, stages and RFM
//! segments with DataFusion, and publishes every table together with a run manifest.
//!
//! Start from [`run_job`] with a validated spec and [`RunOptions`]. A run either commits all its
//! tables (see `lifecycle_storage::Publisher` for the protocol) or publishes nothing, leaving the
//! previous outputs as they were.

mod churn_step;
mod clusters_step;
mod clv_step;
mod frame;
mod manifest;
mod recommend_step;
mod score;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use lifecycle_features::input::{RegisteredInput, register_input};
use lifecycle_features::{FeatureError, new_session};
use lifecycle_spec::{DataError, SpecError, ValidJobSpec};
use lifecycle_storage::{Location, Publisher, StorageError, Stores, WriteStats, committed_runs};

pub use manifest::{Manifest, OutputTable, RowCounts, StepTiming};
pub use score::{ScoreSummary, score_saved_model};

/// The tables a run publishes, in the order they are written.
pub const TABLES: [&str; 5] = [
    "quarantine",
    "user_features",
    "user_segments",
    "stage_transitions",
    "run_manifest",
];

/// The staged (never published) table of good events, one row per distinct event.
const GOOD_EVENTS: &str = "_events_good";

/// Result with a [`RunError`] by default.
pub type Result<T, E = RunError> = std::result::Result<T, E>;

/// Why a run failed. [`RunError::exit_code`] maps it to the CLI's exit codes.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{step} failed: {source}")]
    Engine {
        step: &'static str,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A model could not be fitted or applied; the run publishes nothing.
    #[error("{model} model: {source}")]
    Model {
        model: &'static str,
        #[source]
        source: lifecycle_clv::ClvError,
    },
    /// The recommenders could not be fitted; the run publishes nothing.
    #[error("recommendations: {source}")]
    Recommend {
        #[source]
        source: lifecycle_recommend::RecommendError,
    },
    /// The Ballista cluster could not be set up.
    #[error(transparent)]
    Cluster(#[from] lifecycle_cluster::ClusterError),
    /// A segmentation or churn model could not be trained or applied; the run publishes nothing.
    #[error("{model}: {source}")]
    Fit {
        model: &'static str,
        #[source]
        source: lifecycle_models::ModelError,
    },
}

impl RunError {
    /// 2 for a bad spec (the user's configuration); 3 when another run of the same date holds
    /// the lease or committed first; 1 for everything else that went wrong at run time.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Spec(_) => 2,
            RunError::Storage(
                StorageError::LeaseHeld { .. } | StorageError::CommitConflict { .. },
            ) => 3,
            _ => 1,
        }
    }

    fn engine(step: &'static str) -> impl FnOnce(datafusion::error::DataFusionError) -> RunError {
        move |source| RunError::Engine { step, source }
    }
}

impl From<FeatureError> for RunError {
    fn from(e: FeatureError) -> Self {
        match e {
            FeatureError::Data(e) => RunError::Data(e),
            FeatureError::Spec(e) => RunError::Spec(e),
            FeatureError::Storage(e) => RunError::Storage(e),
            FeatureError::Engine { step, source } => RunError::Engine { step, source },
        }
    }
}

/// How to run a job: what the spec does not say.
#[derive(Clone)]
pub struct RunOptions {
    /// The cutoff date; overrides the spec's `job.as_of`. Neither: today (UTC).
    pub as_of: Option<NaiveDate>,
    /// The wall-clock time of the run, for the future-event rule.
    pub run_time: DateTime<Utc>,
    /// The store factory (shared, so `memory://` outputs can be read back).
    pub stores: Stores,
    /// A Ballista scheduler (`df://host:port`) to run the SQL steps on; overrides the spec's
    /// `[cluster] url`.
    pub cluster: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            as_of: None,
            run_time: Utc::now(),
            stores: Stores::default(),
            cluster: None,
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
}

/// The cutoff date a run will use.
pub fn cutoff_date(spec: &ValidJobSpec, opts: &RunOptions) -> NaiveDate {
    opts.as_of
        .or(spec.as_of)
        .unwrap_or_else(|| opts.run_time.date_naive())
}

/// The run's store factory: the caller's (environment, memory stores, test wrappers) with the
/// spec's `[storage]` options and retry settings.
fn stores_for(spec: &ValidJobSpec, opts: &RunOptions) -> Result<Stores> {
    let st = &spec.storage;
    let retry = lifecycle_storage::RetrySettings {
        max_retries: st.max_retries,
        retry_timeout: std::time::Duration::from_secs(st.retry_timeout_secs),
        request_timeout: std::time::Duration::from_secs(st.request_timeout_secs),
        connect_timeout: std::time::Duration::from_secs(st.connect_timeout_secs),
    };
    Ok(opts.stores.with_settings(&st.options, retry)?)
}

/// The spec as written, for the manifest, with secret storage options replaced.
fn redacted_spec(spec: &ValidJobSpec) -> serde_json::Value {
    let mut source = spec.source.clone();
    for (key, value) in source.storage.options.iter_mut() {
        if lifecycle_storage::is_secret_key(key) {
            *value = "***".to_string();
        }
    }
    serde_json::to_value(&source).unwrap_or_default()
}

/// The cutoff instant `T` of a run date: its 00:00 UTC.
fn cutoff_instant(run_date: NaiveDate) -> DateTime<Utc> {
    run_date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// Runs the daily job and commits its outputs, or publishes nothing.
pub async fn run_job(spec: &ValidJobSpec, opts: &RunOptions) -> Result<RunSummary> {
    let run_date = cutoff_date(spec, opts);
    let opts = &RunOptions {
        stores: stores_for(spec, opts)?,
        ..opts.clone()
    };
    let output = opts.stores.open(&spec.output)?;
    let publisher = Publisher::begin(output, run_date, spec.lease).await?;
    tracing::info!(job = %spec.name, run_id = publisher.run_id(), %run_date, output = %spec.output, "run starting");
    let steps = run_steps(spec, opts, &publisher, run_date);
    let result = keep_lease(&publisher, spec.lease, steps).await;
    match result {
        Ok(summary) => {
            publisher.commit(summary.manifest.to_json()).await?;
            tracing::info!(run_id = %summary.manifest.run_id, %run_date, "run committed");
            Ok(summary)
        }
        Err(e) => {
            if let Err(cleanup) = publisher.abort().await {
                tracing::warn!(error = %cleanup, "could not remove this run's data");
            }
            Err(e)
        }
    }
}

/// Runs `work` while renewing the run's lease every third of its lifetime.
async fn keep_lease<T>(
    publisher: &Publisher,
    ttl: std::time::Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let renew = async {
        loop {
            tokio::time::sleep(ttl / 3).await;
            if let Err(e) = publisher.renew_lease(ttl).await {
                tracing::warn!(error = %e, "could not renew the run's lease");
            }
        }
    };
    tokio::select! {
        out = work => out,
        never = renew => never,
    }
}

struct Steps {
    timings: Vec<StepTiming>,
}

impl Steps {
    fn done(&mut self, name: &str, started: Instant, rows: Option<u64>) {
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            step = name,
            seconds = format!("{seconds:.3}"),
            rows,
            "step done"
        );
        self.timings.push(StepTiming {
            step: name.to_string(),
            seconds,
            rows,
        });
    }
}

async fn run_steps(
    spec: &ValidJobSpec,
    opts: &RunOptions,
    publisher: &Publisher,
    run_date: NaiveDate,
) -> Result<RunSummary> {
    let cutoff = cutoff_instant(run_date);
    let (ctx, engine) = session(spec, opts).await?;
    let mut steps = Steps { timings: vec![] };
    register_store(&ctx, publisher.output());

    // 1. Read and check the inputs.
    let t = Instant::now();
    let inputs = prepare(&ctx, spec, opts, run_date).await?;
    let rows_read = count(&ctx, "SELECT count(*) FROM events_raw").await?;
    let rows_mapped = count(&ctx, "SELECT count(*) FROM events_mapped").await?;
    steps.done("read", t, Some(rows_read));

    let t = Instant::now();
    let good = write_table(
        &ctx,
        publisher,
        GOOD_EVENTS,
        lifecycle_features::quality::good_events_sql(spec.quality.deduplicate),
    )
    .await?;
    register_staged(&ctx, publisher, GOOD_EVENTS, "events_good").await?;
    lifecycle_features::quality::register_quarantine_and_clean(&ctx).await?;
    tracing::debug!(distinct_good_events = good.rows, "good events staged");
    let quarantine = write_table(
        &ctx,
        publisher,
        "quarantine",
        "SELECT * FROM quarantine ORDER BY rule, user_id, event_time, event_type, item_id, amount, raw_event_time, copies",
    )
    .await?;
    let by_rule = read_rule_counts(&ctx, publisher).await?;
    let bad: u64 = by_rule.values().sum();
    let rows = RowCounts {
        read: rows_read,
        filtered: rows_read - rows_mapped,
        bad,
        good: rows_mapped - bad,
    };
    steps.done("quality", t, Some(bad));
    if rows_mapped > 0 && bad as f64 > spec.quality.max_bad_fraction * rows_mapped as f64 {
        return Err(DataError::TooManyBadRows {
            bad,
            total: rows_mapped,
            percent: 100.0 * bad as f64 / rows_mapped as f64,
            limit_percent: 100.0 * spec.quality.max_bad_fraction,
            by_rule: by_rule
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    }

    // 2. Features.
    let t = Instant::now();
    let sql = lifecycle_features::user_features::user_features_sql(
        &spec.features,
        &spec.purchase_types,
        cutoff,
    );
    let features = write_table(&ctx, publisher, "user_features", &sql).await?;
    register_staged(&ctx, publisher, "user_features", "user_features").await?;
    steps.done("features", t, Some(features.rows));

    // 3. Stages and RFM.
    let t = Instant::now();
    lifecycle_features::check_stage_rules(&ctx, &spec.stages.rules).await?;
    let prospects = spec
        .users
        .as_ref()
        .map(|_| (spec.stages.prospect.as_str(), cutoff.timestamp_micros()));
    let sql = lifecycle_features::segments::user_segments_sql(
        &spec.stages.rules,
        &spec.stages.otherwise,
        prospects,
    );
    let segments = write_table(&ctx, publisher, "user_segments", &sql).await?;
    register_staged(&ctx, publisher, "user_segments", "user_segments").await?;
    let previous = committed_runs(publisher.output())
        .await?
        .into_iter()
        .rfind(|d| *d < run_date);
    register_previous_segments(&ctx, publisher.output(), previous).await?;
    let transitions = write_table(
        &ctx,
        publisher,
        "stage_transitions",
        lifecycle_features::segments::transitions_sql(),
    )
    .await?;
    steps.done("segments", t, Some(segments.rows));

    // 4. Models.
    let mut models = BTreeMap::new();
    let mut written_models: Vec<(&'static str, WriteStats)> = vec![];
    if spec.clv.enabled {
        let t = Instant::now();
        let (batch, report) = clv_step::customer_value(&ctx, spec, cutoff).await?;
        let stats = write_batch(publisher, "customer_value", batch).await?;
        models.insert("clv".to_string(), report);
        steps.done("clv", t, Some(stats.rows));
        written_models.push(("customer_value", stats));
    }
    if spec.segmentation.enabled {
        let t = Instant::now();
        let before = previous_segmentation(opts, publisher.output(), previous).await;
        let c = clusters_step::clusters(&ctx, spec, before).await?;
        let stats = write_batch(publisher, "user_clusters", c.assignments).await?;
        let rows = stats.rows;
        written_models.push(("user_clusters", stats));
        let stats = write_batch(publisher, "cluster_profiles", c.profiles).await?;
        written_models.push(("cluster_profiles", stats));
        let mut report = c.report;
        report["artifact"] = save_artifact(publisher, "segmentation", c.model.to_json()).await?;
        models.insert("segmentation".to_string(), report);
        steps.done("segmentation", t, Some(rows));
    }
    if spec.churn.enabled {
        let t = Instant::now();
        let c = churn_step::churn(&ctx, spec, cutoff).await?;
        let mut rows = None;
        if let Some(scores) = c.scores {
            let stats = write_batch(publisher, "churn_scores", scores).await?;
            rows = Some(stats.rows);
            written_models.push(("churn_scores", stats));
        }
        written_models.push((
            "model_metrics",
            write_batch(publisher, "model_metrics", c.metrics).await?,
        ));
        if let Some(training) = c.training {
            written_models.push((
                "churn_training",
                write_batch(publisher, "churn_training", training).await?,
            ));
        }
        let mut report = c.report;
        report["artifact"] = save_artifact(publisher, "churn", c.model.to_json()).await?;
        models.insert("churn".to_string(), report);
        steps.done("churn", t, rows);
    }
    if spec.recommendations.enabled {
        let t = Instant::now();
        let r = recommend_step::recommendations(&ctx, spec, cutoff).await?;
        let stats = write_batch(publisher, "recommendations", r.list).await?;
        let rows = stats.rows;
        written_models.push(("recommendations", stats));
        written_models.push((
            "recommendation_metrics",
            write_batch(publisher, "recommendation_metrics", r.metrics).await?,
        ));
        if let Some(n) = r.neighbours {
            written_models.push((
                "item_neighbours",
                write_batch(publisher, "item_neighbours", n).await?,
            ));
        }
        if let Some((train, test)) = r.split {
            written_models.push((
                "recommendation_train",
                write_batch(publisher, "recommendation_train", train).await?,
            ));
            written_models.push((
                "recommendation_test",
                write_batch(publisher, "recommendation_test", test).await?,
            ));
        }
        models.insert("recommendations".to_string(), r.report);
        steps.done("recommendations", t, Some(rows));
    }

    let stages = stage_counts(&ctx).await?;
    let preview = pretty(&ctx, "SELECT * FROM user_segments LIMIT 5").await?;

    // 5. The manifest (the caller commits it).
    let mut written = vec![
        ("quarantine", quarantine),
        ("user_features", features),
        ("user_segments", segments),
        ("stage_transitions", transitions),
    ];
    written.extend(written_models);
    let manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_string(),
        job: spec.name.clone(),
        run_id: publisher.run_id().to_string(),
        run_date,
        cutoff,
        run_time: opts.run_time,
        engine,
        previous_run_date: previous,
        spec: redacted_spec(spec),
        inputs,
        rows,
        quality: lifecycle_features::quality::RULES
            .iter()
            .map(|r| (r.to_string(), 0))
            .chain(by_rule)
            .collect(),
        stages: stages.clone(),
        models,
        outputs: written
            .iter()
            .map(|(name, stats)| {
                (
                    name.to_string(),
                    OutputTable {
                        url: publisher.staging_file(name).url().to_string(),
                        published_url: publisher.published_file(name).url().to_string(),
                        rows: stats.rows,
                        bytes: stats.bytes,
                    },
                )
            })
            .collect(),
        steps: steps.timings,
    };
    Ok(RunSummary {
        manifest,
        stages,
        preview,
    })
}

/// The session the SQL steps run on, and its name for the manifest: DataFusion in this process,
/// or a Ballista cluster when the options or the spec name a scheduler. Model training runs in
/// this process either way, on the per-user tables the SQL steps produce (see the README's
/// "Running on a cluster").
async fn session(spec: &ValidJobSpec, opts: &RunOptions) -> Result<(SessionContext, String)> {
    let Some(url) = opts.cluster.as_ref().or(spec.cluster.as_ref()) else {
        return Ok((new_session(), "local".to_string()));
    };
    let locations = [
        ("job.output", Some(&spec.output)),
        ("events.url", Some(&spec.events.url)),
        ("users.url", spec.users.as_ref().map(|u| &u.url)),
        ("items.url", spec.items.as_ref().map(|u| &u.url)),
    ];
    for (setting, url) in locations {
        if let Some(url) = url.filter(|u| u.scheme() == "memory") {
            return Err(SpecError::Invalid {
                setting: setting.into(),
                reason: format!(
                    "{url} exists only inside this process, so a cluster's executors cannot read \
                     it: use an object store (s3://, gs://, az://), or file:// when every \
                     process runs on this machine"
                ),
            }
            .into());
        }
    }
    let ctx = lifecycle_cluster::remote_context(url, &opts.stores).await?;
    tracing::info!(cluster = %url, "the SQL steps run on the Ballista cluster");
    Ok((ctx, url.clone()))
}

/// Registers the inputs (checking every file against the mapping) and the quality views.
async fn prepare(
    ctx: &SessionContext,
    spec: &ValidJobSpec,
    opts: &RunOptions,
    run_date: NaiveDate,
) -> Result<Vec<RegisteredInput>> {
    let mut inputs = Vec::new();
    for (src, prune) in [
        (Some(&spec.events), true),
        (spec.users.as_ref(), false),
        (spec.items.as_ref(), false),
    ] {
        let Some(src) = src else { continue };
        let loc = opts.stores.open(&src.url)?;
        register_store(ctx, &loc);
        inputs.push(register_input(ctx, src, &loc, prune.then_some(run_date)).await?);
    }
    lifecycle_features::quality::register_checked(
        ctx,
        &spec.purchase_types,
        opts.run_time,
        spec.quality.max_future_hours,
    )
    .await?;
    Ok(inputs)
}

/// Checks a job without running it: the spec, every input file's columns and types, and that
/// every SQL step (mappings, filter, features, stage rules, segments) plans.
pub async fn validate_job(spec: &ValidJobSpec, opts: &RunOptions) -> Result<Vec<RegisteredInput>> {
    let run_date = cutoff_date(spec, opts);
    let cutoff = cutoff_instant(run_date);
    let opts = &RunOptions {
        stores: stores_for(spec, opts)?,
        ..opts.clone()
    };
    let (ctx, _) = session(spec, opts).await?;
    let inputs = prepare(&ctx, spec, opts, run_date).await?;
    let good = ctx
        .sql(lifecycle_features::quality::good_events_sql(
            spec.quality.deduplicate,
        ))
        .await
        .map_err(RunError::engine("plan quality rules"))?;
    ctx.register_table("events_good", good.into_view())
        .map_err(RunError::engine("plan quality rules"))?;
    lifecycle_features::quality::register_quarantine_and_clean(&ctx).await?;
    let sql = lifecycle_features::user_features::user_features_sql(
        &spec.features,
        &spec.purchase_types,
        cutoff,
    );
    let df = ctx
        .sql(&sql)
        .await
        .map_err(RunError::engine("plan user_features"))?;
    let schema = df.schema().as_arrow().clone();
    ctx.register_table("user_features", df.into_view())
        .map_err(RunError::engine("plan user_features"))?;
    if spec.segmentation.enabled {
        frame::check_columns(
            &schema,
            &spec.segmentation.features,
            "segmentation.features",
        )?;
    }
    if spec.churn.enabled {
        frame::check_columns(&schema, &spec.churn.features, "churn.features")?;
    }
    lifecycle_features::check_stage_rules(&ctx, &spec.stages.rules).await?;
    let prospects = spec
        .users
        .as_ref()
        .map(|_| (spec.stages.prospect.as_str(), 0));
    let sql = lifecycle_features::segments::user_segments_sql(
        &spec.stages.rules,
        &spec.stages.otherwise,
        prospects,
    );
    ctx.sql(&sql)
        .await
        .map_err(RunError::engine("plan user_segments"))?;
    Ok(inputs)
}

/// Writes one in-memory table to its staging file.
async fn write_batch(publisher: &Publisher, table: &str, batch: RecordBatch) -> Result<WriteStats> {
    let schema = batch.schema();
    Ok(lifecycle_storage::write_parquet(
        &publisher.staging_file(table),
        schema,
        futures::stream::iter(vec![Ok(batch)]),
    )
    .await?)
}

/// Saves a model artifact in the run's folder; returns its URL for the manifest.
async fn save_artifact(
    publisher: &Publisher,
    name: &str,
    json: Vec<u8>,
) -> Result<serde_json::Value> {
    let loc = publisher.artifact_file(name);
    loc.put_bytes(json).await?;
    Ok(loc.url().to_string().into())
}

/// The previous committed run's segmentation, if it saved one that this build can read. A
/// missing or unreadable one only means today's cluster numbers start afresh (logged).
async fn previous_segmentation(
    opts: &RunOptions,
    output: &Location,
    previous: Option<NaiveDate>,
) -> Option<lifecycle_models::SegmentModel> {
    let date = previous?;
    let load = async {
        let manifest = lifecycle_storage::read_manifest(output, date).await?;
        let Some(url) = manifest["models"]["segmentation"]["artifact"].as_str() else {
            return Ok(None);
        };
        let url = url::Url::parse(url).map_err(|e| format!("artifact URL {url}: {e}"))?;
        let bytes = opts.stores.open(&url)?.get_bytes().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Some(
            lifecycle_models::SegmentModel::from_json(&bytes)?,
        ))
    };
    match load.await {
        Ok(model) => model,
        Err(e) => {
            tracing::warn!(error = %e, %date, "could not read the previous segmentation; cluster numbers start afresh");
            None
        }
    }
}

fn register_store(ctx: &SessionContext, loc: &Location) {
    ctx.register_object_store(&loc.store_url(), loc.store().clone());
}

async fn count(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(RunError::engine("count rows"))?
        .collect()
        .await
        .map_err(RunError::engine("count rows"))?;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    Ok(batches
        .first()
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0) as u64)
        .unwrap_or(0))
}

async fn pretty(ctx: &SessionContext, sql: &str) -> Result<String> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(RunError::engine("preview"))?
        .collect()
        .await
        .map_err(RunError::engine("preview"))?;
    Ok(pretty_format_batches(&batches)
        .map(|t| t.to_string())
        .unwrap_or_default())
}

/// Runs `sql` and streams its rows into the table's staging file.
async fn write_table(
    ctx: &SessionContext,
    publisher: &Publisher,
    table: &'static str,
    sql: &str,
) -> Result<WriteStats> {
    let df = ctx.sql(sql).await.map_err(RunError::engine(table))?;
    let stream = df.execute_stream().await.map_err(RunError::engine(table))?;
    let schema = stable_schema(table, &stream.schema());
    let out_schema = schema.clone();
    let stream = stream.map(move |r| {
        let batch = r.map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
        RecordBatch::try_new(out_schema.clone(), batch.columns().to_vec())
    });
    let stats =
        lifecycle_storage::write_parquet(&publisher.staging_file(table), schema, Box::pin(stream))
            .await?;
    Ok(stats)
}

/// Columns that are never null by construction. Every other output column is declared nullable,
/// so a published schema depends on the spec only, never on the nullability of the input files.
const NOT_NULL: [(&str, &str); 6] = [
    ("user_features", "user_id"),
    ("user_segments", "user_id"),
    ("user_segments", "stage"),
    ("quarantine", "rule"),
    ("quarantine", "copies"),
    ("stage_transitions", "users"),
];

fn stable_schema(table: &str, schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let nullable = !NOT_NULL.contains(&(table, f.name().as_str()));
            f.as_ref()
                .clone()
                .with_nullable(nullable)
                .with_metadata(Default::default())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Reads a staged table back as `name`, so later steps do not recompute it.
async fn register_staged(
    ctx: &SessionContext,
    publisher: &Publisher,
    table: &str,
    name: &str,
) -> Result<()> {
    let url = publisher.staging_file(table).url().to_string();
    ctx.deregister_table(name)
        .map_err(RunError::engine("register staged table"))?;
    ctx.register_parquet(name, &url, ParquetReadOptions::default())
        .await
        .map_err(RunError::engine("register staged table"))
}

async fn read_rule_counts(
    ctx: &SessionContext,
    publisher: &Publisher,
) -> Result<BTreeMap<String, u64>> {
    let url = publisher.staging_file("quarantine").url().to_string();
    let batches = ctx
        .read_parquet(url, ParquetReadOptions::default())
        .await
        .map_err(RunError::engine("count quarantined rows"))?
        .aggregate(
            vec![datafusion::prelude::col("rule")],
            vec![
                datafusion::functions_aggregate::expr_fn::sum(datafusion::prelude::col("copies"))
                    .alias("n"),
            ],
        )
        .map_err(RunError::engine("count quarantined rows"))?
        .collect()
        .await
        .map_err(RunError::engine("count quarantined rows"))?;
    let mut out = BTreeMap::new();
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    for b in &batches {
        let rules = datafusion::arrow::compute::cast(
            b.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .map_err(|e| RunError::engine("count quarantined rows")(e.into()))?;
        let rules = rules.as_string::<i32>();
        let n = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(rules.value(i).to_string(), n.value(i) as u64);
        }
    }
    Ok(out)
}

async fn register_previous_segments(
    ctx: &SessionContext,
    output: &Location,
    previous: Option<NaiveDate>,
) -> Result<()> {
    let sql = match previous {
        Some(date) => {
            // The committed copy the previous run's manifest names, never the stable copy (which
            // a concurrent materialization may be rewriting).
            let manifest = lifecycle_storage::read_manifest(output, date).await?;
            let url = manifest["outputs"]["user_segments"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            ctx.register_parquet(
                "previous_segments_file",
                &url,
                ParquetReadOptions::default(),
            )
            .await
            .map_err(RunError::engine("read the previous run's segments"))?;
            "SELECT user_id, stage FROM previous_segments_file"
        }
        None => {
            "SELECT CAST(NULL AS VARCHAR) AS user_id, CAST(NULL AS VARCHAR) AS stage WHERE false"
        }
    };
    let df = ctx
        .sql(sql)
        .await
        .map_err(RunError::engine("read the previous run's segments"))?;
    ctx.register_table("previous_segments", df.into_view())
        .map_err(RunError::engine("read the previous run's segments"))?;
    Ok(())
}

async fn stage_counts(ctx: &SessionContext) -> Result<BTreeMap<String, u64>> {
    let batches = ctx
        .sql("SELECT stage, count(*) AS n FROM user_segments GROUP BY stage")
        .await
        .map_err(RunError::engine("count stages"))?
        .collect()
        .await
        .map_err(RunError::engine("count stages"))?;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    let mut out = BTreeMap::new();
    for b in &batches {
        let s = b.column(0).as_string::<i32>();
        let n = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(s.value(i).to_string(), n.value(i) as u64);
        }
    }
    Ok(out)
}
