//! The run manifest: `run_manifest/run_date=YYYY-MM-DD/manifest.json`, written last, so a run
//! date with a manifest is a committed run. Its fields are documented in `docs/outputs.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use lifecycle_features::input::RegisteredInput;
use serde::Serialize;

/// Everything a run did, for people and for the next run.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// The `lifecycle` version that wrote it.
    pub version: String,
    pub job: String,
    pub run_id: String,
    pub run_date: NaiveDate,
    /// Only events strictly before this instant were used.
    pub cutoff: DateTime<Utc>,
    pub run_time: DateTime<Utc>,
    /// Where the SQL steps ran: `local` (DataFusion in the job's process) or the Ballista
    /// scheduler's `df://host:port`.
    pub engine: String,
    /// The committed run the stage transitions start from.
    pub previous_run_date: Option<NaiveDate>,
    /// The job spec as written.
    pub spec: serde_json::Value,
    pub inputs: Vec<RegisteredInput>,
    pub rows: RowCounts,
    /// Quarantined rows per data-quality rule (every rule listed, zeros included).
    pub quality: BTreeMap<String, u64>,
    /// Users per lifecycle stage.
    pub stages: BTreeMap<String, u64>,
    /// Fitted models: parameters, log-likelihood, iterations, convergence, evaluation.
    pub models: BTreeMap<String, serde_json::Value>,
    pub outputs: BTreeMap<String, OutputTable>,
    pub steps: Vec<StepTiming>,
}

/// Event rows through the quality step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    /// Rows in the input files read (after partition pruning).
    pub read: u64,
    /// Rows the spec's `filter` excluded on purpose.
    pub filtered: u64,
    /// Rows quarantined (duplicates count each extra copy).
    pub bad: u64,
    /// Rows that passed every rule.
    pub good: u64,
}

/// A published table.
#[derive(Debug, Clone, Serialize)]
pub struct OutputTable {
    /// The committed copy, in the run's own folder: what readers that need a consistent set of
    /// tables read.
    pub url: String,
    /// The stable copy for CRM importers (`<table>/run_date=YYYY-MM-DD/part-0.parquet`).
    pub published_url: String,
    pub rows: u64,
    pub bytes: u64,
}

/// How long a step took.
#[derive(Debug, Clone, Serialize)]
pub struct StepTiming {
    pub step: String,
    pub seconds: f64,
    pub rows: Option<u64>,
}

impl Manifest {
    /// Pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest always serializes")
    }
}
