//! The command line's arguments. Flags of the server roles and the generator come from their
//! library option structs (`SchedulerOptions`, `ExecutorOptions`, `GeneratorParams`).

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use lifecycle_cluster::{ExecutorOptions, SchedulerOptions};
use lifecycle_synth::GeneratorParams;

#[derive(Parser)]
#[command(
    name = "lifecycle",
    version,
    about = "Customer-lifecycle pipeline: features, stages and segments from event logs"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generate a synthetic social-commerce event log (users, items, events, ground truth).
    Generate(GenerateArgs),
    /// Check a job spec and its inputs' schemas without running.
    Validate(JobArgs),
    /// Run the daily job from a spec and publish its outputs.
    Run(RunArgs),
    /// Run a range of dates oldest first (skipping committed ones unless --rerun), each reading
    /// the one before; resumes where a killed backfill stopped.
    Backfill(BackfillArgs),
    /// Show the committed runs under an output location, or the first rows of one table.
    Inspect(InspectArgs),
    /// Rebuild a committed run's report.html from its tables, into a local file.
    Report(ReportArgs),
    /// Remove abandoned and superseded run data after a grace period, and repair stable copies.
    Gc(GcArgs),
    /// Remove the users of an erase list from every committed date of every table, with a log.
    Erase(EraseArgs),
    /// Apply a saved churn model to a user_features table, without retraining.
    Score(ScoreArgs),
    /// Serve as a Ballista scheduler for `lifecycle run --cluster` (knows lifecycle's functions and
    /// builds stores from each job's storage settings).
    Scheduler(SchedulerOptions),
    /// Serve as a Ballista executor of a `lifecycle scheduler`.
    Executor(ExecutorOptions),
    /// Generate sample data, run jobs/demo.toml on it, and print a summary.
    Demo(DemoArgs),
}

#[derive(Args)]
pub(crate) struct GenerateArgs {
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub params: GeneratorParams,
}

#[derive(Args)]
pub(crate) struct JobArgs {
    /// The job spec (TOML).
    pub spec: PathBuf,
    /// Cutoff date (YYYY-MM-DD); overrides `job.as_of`.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Events location; overrides `events.url`.
    #[arg(long)]
    pub input: Option<String>,
    /// Output location; overrides `job.output`.
    #[arg(long)]
    pub output: Option<String>,
    /// Run the SQL steps on this Ballista scheduler (`df://host:port`); overrides `[cluster] url`.
    #[arg(long, env = "LIFECYCLE_CLUSTER")]
    pub cluster: Option<String>,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// First run every date missed since the latest committed one (oldest first), then the
    /// cutoff date: what a scheduled job should do after days it did not run.
    #[arg(long)]
    pub catch_up: bool,
}

#[derive(Args)]
pub(crate) struct BackfillArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// The first date to run (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// The last date to run (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub to: NaiveDate,
    /// Run committed dates again too.
    #[arg(long)]
    pub rerun: bool,
}

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The output location (path or URL).
    pub location: String,
    /// A table to show (`user_segments`, `user_features`, ...).
    #[arg(long)]
    pub table: Option<String>,
    /// The run date to show (default: the latest committed one).
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// Rows to show with `--table`.
    #[arg(long, default_value_t = 10)]
    pub head: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// The output location (path or URL).
    pub location: String,
    /// The run date (default: the latest committed one).
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// The file to write (default: `<job>-<date>-report.html` in the current folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Open it in the default browser.
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub(crate) struct GcArgs {
    /// The output location (path or URL).
    pub location: String,
    /// Keep unreferenced run data younger than this (readers may still be reading it).
    #[arg(long, default_value_t = 24.0)]
    pub grace_hours: f64,
    /// Also delete committed dates older than this many days before today (UTC), as a job's
    /// `[retention] days` does after each run.
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// Also empty the quarantine of dates older than this many days before today (UTC).
    #[arg(long)]
    pub quarantine_days: Option<u32>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub(crate) struct EraseArgs {
    /// The output location (path or URL).
    pub location: String,
    /// The erase list: a Parquet or CSV file with `user_id` (and optionally `request_id`,
    /// `requested_at`).
    #[arg(long)]
    pub list: String,
    /// An environment variable holding a key the outputs' ids were keyed with (repeat it for
    /// dates keyed before a rotation). Default: LIFECYCLE_ID_KEY, when it is set.
    #[arg(long = "id-key-env")]
    pub id_key_env: Vec<String>,
    /// How long each date being rewritten is leased (renewed as it goes).
    #[arg(long, default_value_t = 300)]
    pub lease_seconds: u64,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub(crate) struct ScoreArgs {
    /// The model: a `.json` artifact, or an output location (its latest run's churn model).
    #[arg(long)]
    pub model: String,
    /// The user_features Parquet file or folder to score.
    #[arg(long)]
    pub features: String,
    /// Where to write the churn_scores Parquet file.
    #[arg(long)]
    pub output: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Folder for the sample data, the spec copy and the outputs.
    #[arg(long, default_value = "demo-output")]
    pub dir: PathBuf,
    /// Users to generate.
    #[arg(long, default_value_t = 2000)]
    pub users: u64,
}

#[derive(Args)]
pub(crate) struct StoreArgs {
    /// A store option, `KEY=VALUE` (as in a spec's `[storage.options]`: `endpoint=...`); repeatable.
    #[arg(long = "option", value_parser = parse_option)]
    pub options: Vec<(String, String)>,
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}
