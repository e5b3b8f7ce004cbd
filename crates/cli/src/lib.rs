//! The `lifecycle` command line: `generate`, `validate`, `run`, `inspect`, `gc`, `score`,
//! `demo`, `scheduler` and `executor`.
//! The binary's `main.rs` only calls [`main`]. Exit codes: 0 success, 1 the run failed (data or
//! storage), 2 bad usage or spec, 3 another run of the same date is running or committed first.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use lifecycle_pipeline::{RunError, RunOptions, RunSummary};
use lifecycle_spec::{JobSpec, SpecError, ValidJobSpec, resolve_location};
use lifecycle_storage::Stores;
use lifecycle_synth::GeneratorParams;

/// The demo job spec, also at `jobs/demo.toml`.
const DEMO_SPEC: &str = include_str!("../../../jobs/demo.toml");

#[derive(Parser)]
#[command(
    name = "lifecycle",
    version,
    about = "Customer-lifecycle pipeline: features, stages and segments from event logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a synthetic social-commerce event log (users, items, events, ground truth).
    Generate(GenerateArgs),
    /// Check a job spec and its inputs' schemas without running.
    Validate(JobArgs),
    /// Run the daily job from a spec and publish its outputs.
    Run(JobArgs),
    /// Show the committed runs under an output location, or the first rows of one table.
    Inspect {
        /// The output location (path or URL).
        location: String,
        /// A table to show (`user_segments`, `user_features`, ...).
        #[arg(long)]
        table: Option<String>,
        /// The run date to show (default: the latest committed one).
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Rows to show with `--table`.
        #[arg(long, default_value_t = 10)]
        head: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove abandoned and superseded run data after a grace period, and repair stable copies.
    Gc {
        /// The output location (path or URL).
        location: String,
        /// Keep unreferenced run data younger than this (readers may still be reading it).
        #[arg(long, default_value_t = 24.0)]
        grace_hours: f64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Apply a saved churn model to a user_features table, without retraining.
    Score {
        /// The model: a `.json` artifact, or an output location (its latest run's churn model).
        #[arg(long)]
        model: String,
        /// The user_features Parquet file or folder to score.
        #[arg(long)]
        features: String,
        /// Where to write the churn_scores Parquet file.
        #[arg(long)]
        output: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Serve as a Ballista scheduler for `lifecycle run --cluster` (knows lifecycle's functions and
    /// builds stores from each job's storage settings).
    Scheduler(SchedulerArgs),
    /// Serve as a Ballista executor of a `lifecycle scheduler`.
    Executor(ExecutorArgs),
    /// Generate sample data, run jobs/demo.toml on it, and print a summary.
    Demo {
        /// Folder for the sample data, the spec copy and the outputs.
        #[arg(long, default_value = "demo-output")]
        dir: PathBuf,
        /// Users to generate.
        #[arg(long, default_value_t = 2000)]
        users: u64,
    },
}

#[derive(Args)]
struct GenerateArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = GeneratorParams::default().users)]
    users: u64,
    #[arg(long, default_value_t = GeneratorParams::default().items)]
    items: u32,
    /// Days simulated.
    #[arg(long, default_value_t = GeneratorParams::default().days)]
    days: u32,
    /// First simulated day (YYYY-MM-DD).
    #[arg(long, default_value_t = GeneratorParams::default().start)]
    start: NaiveDate,
    #[arg(long, default_value_t = GeneratorParams::default().seed)]
    seed: u64,
    /// Users simulated together (bounds memory).
    #[arg(long, default_value_t = GeneratorParams::default().chunk_users)]
    chunk_users: u64,
}

#[derive(Args)]
struct StoreArgs {
    /// A store option, `KEY=VALUE` (as in a spec's `[storage.options]`: `endpoint=...`); repeatable.
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

impl StoreArgs {
    /// The location, with credentials from this process's environment and the given options.
    fn open(&self, location: &str) -> anyhow::Result<lifecycle_storage::Location> {
        self.open_as(location, true)
    }

    /// [`StoreArgs::open`] for a folder (`dir`) or a single file.
    fn open_as(&self, location: &str, dir: bool) -> anyhow::Result<lifecycle_storage::Location> {
        let url = resolve_location(location, &std::env::current_dir()?, dir).map_err(|reason| {
            SpecError::Invalid {
                setting: "location".into(),
                reason,
            }
        })?;
        let stores = Stores::default()
            .with_env(credential_env())
            .with_settings(&self.options.iter().cloned().collect(), Default::default())?;
        Ok(stores.open(&url)?)
    }
}

#[derive(Args)]
struct JobArgs {
    /// The job spec (TOML).
    spec: PathBuf,
    /// Cutoff date (YYYY-MM-DD); overrides `job.as_of`.
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Events location; overrides `events.url`.
    #[arg(long)]
    input: Option<String>,
    /// Output location; overrides `job.output`.
    #[arg(long)]
    output: Option<String>,
    /// Run the SQL steps on this Ballista scheduler (`df://host:port`); overrides `[cluster] url`.
    #[arg(long, env = "LIFECYCLE_CLUSTER")]
    cluster: Option<String>,
}

/// Flags named as Ballista's own `ballista-scheduler` names them; each also reads a
/// `LIFECYCLE_*` variable (for pods).
#[derive(Args)]
struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, env = "LIFECYCLE_BIND_HOST", default_value = "0.0.0.0")]
    bind_host: String,
    /// Port for gRPC, Flight and the /healthz and /readyz probes.
    #[arg(long, env = "LIFECYCLE_BIND_PORT", default_value_t = 50050)]
    bind_port: u16,
    /// Host name executors and clients reach this scheduler by (a Service name in Kubernetes).
    #[arg(long, env = "LIFECYCLE_EXTERNAL_HOST", default_value = "localhost")]
    external_host: String,
    /// Seconds without a heartbeat after which an executor is lost and its tasks rerun elsewhere.
    #[arg(long, env = "LIFECYCLE_EXECUTOR_TIMEOUT_SECONDS", default_value_t = 30)]
    executor_timeout_seconds: u64,
    /// Attempts of one task before its job fails.
    #[arg(long, env = "LIFECYCLE_TASK_MAX_FAILURES", default_value_t = 4)]
    task_max_failures: usize,
}

/// Flags named as Ballista's own `ballista-executor` names them; each also reads a
/// `LIFECYCLE_*` variable (for pods).
#[derive(Args)]
struct ExecutorArgs {
    /// Address to listen on.
    #[arg(long, env = "LIFECYCLE_BIND_HOST", default_value = "0.0.0.0")]
    bind_host: String,
    /// Host name or IP the scheduler and other executors reach this one by (the pod IP).
    #[arg(long, env = "LIFECYCLE_EXTERNAL_HOST")]
    external_host: Option<String>,
    /// Arrow Flight port: other executors and the client fetch results here.
    #[arg(long, env = "LIFECYCLE_BIND_PORT", default_value_t = 50051)]
    bind_port: u16,
    /// gRPC port: the scheduler sends tasks here.
    #[arg(long, env = "LIFECYCLE_BIND_GRPC_PORT", default_value_t = 50052)]
    bind_grpc_port: u16,
    /// HTTP port of /healthz and /readyz.
    #[arg(long, env = "LIFECYCLE_BIND_HEALTH_PORT", default_value_t = 50053)]
    bind_health_port: u16,
    #[arg(long, env = "LIFECYCLE_SCHEDULER_HOST", default_value = "localhost")]
    scheduler_host: String,
    #[arg(long, env = "LIFECYCLE_SCHEDULER_PORT", default_value_t = 50050)]
    scheduler_port: u16,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(
        long,
        env = "LIFECYCLE_SCHEDULER_CONNECT_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    scheduler_connect_timeout_seconds: u16,
    /// Tasks run at once (0: one per core).
    #[arg(long, env = "LIFECYCLE_CONCURRENT_TASKS", default_value_t = 0)]
    concurrent_tasks: usize,
    /// Folder for shuffle and spill files (default: a temporary folder).
    #[arg(long, env = "LIFECYCLE_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Memory for all running tasks (`4GiB`, `512MiB`); operators spill to the work folder
    /// beyond it. Default: 70% of the container's memory limit.
    #[arg(long, env = "LIFECYCLE_MEMORY_POOL_SIZE", value_parser = lifecycle_cluster::parse_bytes)]
    memory_pool_size: Option<u64>,
    /// Seconds between heartbeats (keep well under the scheduler's executor timeout).
    #[arg(
        long,
        env = "LIFECYCLE_EXECUTOR_HEARTBEAT_INTERVAL_SECONDS",
        default_value_t = 5
    )]
    executor_heartbeat_interval_seconds: u64,
}

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => 0,
        Err(e) => {
            // Our errors already say what caused them: print the outermost message only.
            eprintln!("error: {e}");
            exit_code(&e)
        }
    }
}

fn exit_code(e: &anyhow::Error) -> i32 {
    if let Some(run) = e.downcast_ref::<RunError>() {
        return run.exit_code();
    }
    if e.downcast_ref::<SpecError>().is_some() {
        return 2;
    }
    1
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("LIFECYCLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.compact().with_target(false).init();
    } else {
        builder.json().init();
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(a) => {
            let params = GeneratorParams {
                users: a.users,
                items: a.items,
                days: a.days,
                start: a.start,
                seed: a.seed,
                chunk_users: a.chunk_users,
            };
            generate(&params, &a.out)
        }
        Command::Validate(a) => {
            let spec = load_spec(&a)?;
            let inputs = lifecycle_pipeline::validate_job(&spec, &run_options(None)).await?;
            println!("spec {} is valid", a.spec.display());
            for i in inputs {
                println!("  {}: {} file(s) at {}", i.table, i.files.len(), i.location);
            }
            Ok(())
        }
        Command::Run(a) => {
            let spec = load_spec(&a)?;
            let summary = lifecycle_pipeline::run_job(&spec, &run_options(a.as_of)).await?;
            print_summary(&summary);
            Ok(())
        }
        Command::Demo { dir, users } => demo(&dir, users).await,
        Command::Scheduler(a) => {
            let opts = lifecycle_cluster::SchedulerOptions {
                bind_host: a.bind_host,
                bind_port: a.bind_port,
                external_host: a.external_host,
                executor_timeout_secs: a.executor_timeout_seconds,
                task_max_failures: a.task_max_failures,
                env: credential_env(),
                ..Default::default()
            };
            Ok(lifecycle_cluster::run_scheduler(opts).await?)
        }
        Command::Executor(a) => {
            let opts = lifecycle_cluster::ExecutorOptions {
                bind_host: a.bind_host,
                external_host: a.external_host,
                bind_port: a.bind_port,
                bind_grpc_port: a.bind_grpc_port,
                bind_health_port: a.bind_health_port,
                scheduler_host: a.scheduler_host,
                scheduler_port: a.scheduler_port,
                scheduler_connect_timeout_secs: a.scheduler_connect_timeout_seconds,
                concurrent_tasks: a.concurrent_tasks,
                work_dir: a.work_dir,
                memory_limit: a.memory_pool_size,
                heartbeat_interval_secs: a.executor_heartbeat_interval_seconds,
                env: credential_env(),
            };
            Ok(lifecycle_cluster::run_executor(opts).await?)
        }
        Command::Score {
            model,
            features,
            output,
            store,
        } => {
            let open_url = |u: &str| -> lifecycle_pipeline::Result<lifecycle_storage::Location> {
                store.open_as(u, !u.ends_with(".json")).map_err(|e| {
                    match e.downcast::<RunError>() {
                        Ok(run) => run,
                        Err(e) => SpecError::Invalid {
                            setting: "location".into(),
                            reason: e.to_string(),
                        }
                        .into(),
                    }
                })
            };
            let s = lifecycle_pipeline::score_saved_model(
                &store.open_as(&model, !model.ends_with(".json"))?,
                &store.open_as(&features, !features.ends_with(".parquet"))?,
                &store.open_as(&output, false)?,
                &open_url,
            )
            .await?;
            println!(
                "scored {} of {} users with the {} model {} -> {}",
                s.written.rows, s.feature_rows, s.classifier, s.model_url, output
            );
            Ok(())
        }
        Command::Inspect {
            location,
            table,
            date,
            head,
            store,
        } => inspect(&store.open(&location)?, table.as_deref(), date, head).await,
        Command::Gc {
            location,
            grace_hours,
            store,
        } => {
            let out = store.open(&location)?;
            let grace = std::time::Duration::from_secs_f64(grace_hours.max(0.0) * 3600.0);
            let r = lifecycle_storage::gc(&out, grace, chrono::Utc::now()).await?;
            println!(
                "removed {} run folder(s), kept {} within the grace period, removed {} lease(s), \
                 checked the stable copies of {} date(s)",
                r.runs_removed.len(),
                r.runs_in_grace.len(),
                r.leases_removed,
                r.dates_materialized
            );
            for id in r.runs_removed {
                println!("  removed _runs/{id}/");
            }
            Ok(())
        }
    }
}

/// Run options for the CLI: stores read credentials from this process's environment.
fn run_options(as_of: Option<NaiveDate>) -> RunOptions {
    RunOptions {
        as_of,
        stores: Stores::default().with_env(credential_env()),
        ..RunOptions::default()
    }
}

/// This process's environment, plus the AWS shared profile (`AWS_PROFILE`, default `default`)
/// from `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE` and
/// `AWS_CONFIG_FILE`) for what the environment does not set.
fn credential_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    let var = |k: &str| std::env::var(k).ok();
    let home = var("HOME").unwrap_or_default();
    let read = |over: &str, default: &str| {
        std::fs::read_to_string(var(over).unwrap_or_else(|| format!("{home}/.aws/{default}")))
            .unwrap_or_default()
    };
    let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let from_profile = lifecycle_storage::aws_profile_env(
        &read("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        &read("AWS_CONFIG_FILE", "config"),
        &profile,
    );
    for (k, v) in from_profile {
        if !env.iter().any(|(e, _)| *e == k) {
            env.push((k, v));
        }
    }
    env
}

fn generate(params: &GeneratorParams, out: &Path) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let s = lifecycle_synth::generate(params, out)?;
    println!(
        "generated {} users, {} items, {} events ({} purchases, {} users churned) in {} files under {} ({:.1} s)",
        s.users,
        s.items,
        s.events,
        s.purchases,
        s.churned_users,
        s.event_files,
        out.display(),
        t.elapsed().as_secs_f64()
    );
    println!("a run on it: --as-of {}", params.end());
    Ok(())
}

/// Reads the spec and applies command-line overrides (resolved against the working folder).
fn load_spec(a: &JobArgs) -> anyhow::Result<ValidJobSpec> {
    let mut raw = JobSpec::from_file(&a.spec)?;
    let cwd = std::env::current_dir()?;
    let mut spec = {
        if let Some(i) = &a.input {
            raw.events.url = resolve_location(i, &cwd, false)
                .map_err(|reason| SpecError::Invalid {
                    setting: "--input".into(),
                    reason,
                })?
                .to_string();
        }
        if let Some(o) = &a.output {
            raw.job.output = resolve_location(o, &cwd, true)
                .map_err(|reason| SpecError::Invalid {
                    setting: "--output".into(),
                    reason,
                })?
                .to_string();
        }
        raw.validate()?
    };
    if let Some(d) = a.as_of {
        spec.as_of = Some(d);
    }
    if let Some(c) = &a.cluster {
        spec.cluster = Some(lifecycle_spec::validate_cluster_url(c, "--cluster")?);
    }
    Ok(spec)
}

async fn demo(dir: &Path, users: u64) -> anyhow::Result<()> {
    let params = GeneratorParams {
        users,
        ..GeneratorParams::default()
    };
    generate(&params, &dir.join("data"))?;
    let spec_path = dir.join("demo.toml");
    std::fs::write(&spec_path, DEMO_SPEC)?;
    let args = JobArgs {
        spec: spec_path.clone(),
        as_of: Some(params.end()),
        input: None,
        output: None,
        cluster: None,
    };
    let spec = load_spec(&args)?;
    let summary = lifecycle_pipeline::run_job(&spec, &run_options(args.as_of)).await?;
    print_summary(&summary);
    println!(
        "\nrerun or change it: lifecycle run {} --as-of {}",
        spec_path.display(),
        params.end()
    );
    Ok(())
}

/// Lists committed runs, or shows the head of one table of one committed run.
async fn inspect(
    out: &lifecycle_storage::Location,
    table: Option<&str>,
    date: Option<NaiveDate>,
    head: usize,
) -> anyhow::Result<()> {
    let dates = lifecycle_storage::committed_runs(out).await?;
    if dates.is_empty() {
        println!("no committed run under {}", out.url());
        return Ok(());
    }
    let Some(table) = table else {
        println!("committed runs under {}:", out.url());
        for d in dates {
            let m = lifecycle_storage::read_manifest(out, d).await?;
            let tables: Vec<String> = m["outputs"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}={}", v["rows"]))
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "  {d}  run {}  cutoff {}  rows: {}",
                m["run_id"].as_str().unwrap_or("?"),
                m["cutoff"].as_str().unwrap_or("?"),
                tables.join(" ")
            );
        }
        return Ok(());
    };
    let d = match date {
        Some(d) => d,
        None => *dates.last().expect("not empty"),
    };
    let m = lifecycle_storage::read_manifest(out, d).await?;
    let Some(url) = m["outputs"][table]["url"].as_str() else {
        anyhow::bail!("the run of {d} has no table `{table}`");
    };
    let ctx = lifecycle_features::new_session();
    ctx.register_object_store(&out.store_url(), out.store().clone());
    let df = ctx
        .read_parquet(url, datafusion::prelude::ParquetReadOptions::default())
        .await?
        .limit(0, Some(head))?;
    let batches = df.collect().await?;
    println!(
        "{table} of the run of {d} ({} rows in all; {url}):",
        m["outputs"][table]["rows"]
    );
    println!(
        "{}",
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
    );
    Ok(())
}

fn print_summary(s: &RunSummary) {
    let m = &s.manifest;
    println!(
        "\nrun {} committed for {} (events before {})",
        m.run_id, m.run_date, m.cutoff
    );
    println!(
        "events: {} read, {} filtered by the spec, {} quarantined, {} good",
        m.rows.read, m.rows.filtered, m.rows.bad, m.rows.good
    );
    let bad: Vec<String> = m
        .quality
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    if !bad.is_empty() {
        println!("quarantined by rule: {}", bad.join(", "));
    }
    let stages: Vec<String> = s.stages.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("users by stage: {}", stages.join(", "));
    if let Some(seg) = m.models.get("segmentation") {
        let clusters: Vec<String> = seg["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} \"{}\" {}",
                    c["cluster"],
                    c["name"].as_str().unwrap_or(""),
                    c["users"]
                )
            })
            .collect();
        println!("clusters (k = {}): {}", seg["k"], clusters.join(", "));
    }
    if let Some(churn) = m.models.get("churn") {
        let selected = churn["selected"].as_str().unwrap_or("?");
        let test = churn["evaluations"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["model"] == selected && e["split"] == "test")
            .map(|e| &e["metrics"]);
        if let Some(t) = test {
            let f = |k: &str| t[k].as_f64().map_or("-".to_string(), |v| format!("{v:.3}"));
            println!(
                "churn: {selected} model; on the test date ROC-AUC {}, PR-AUC {}, top-decile lift {} (base rate {})",
                f("roc_auc"),
                f("pr_auc"),
                f("top_decile_lift"),
                f("base_rate")
            );
        }
        if let Some(reason) = churn["reason"].as_str() {
            println!("churn scores NOT published: {reason}");
        }
    }
    println!("outputs (stable copies for importers; the manifest lists the committed ones):");
    for (name, t) in &m.outputs {
        println!("  {name:<18} {:>9} rows  {}", t.rows, t.published_url);
    }
    println!("\nuser_segments (first rows):\n{}", s.preview);
}
