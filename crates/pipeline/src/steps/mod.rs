//! The steps of a run, one module each. A step says what it reads and which tables it writes
//! ([`StepInfo`]), calls library code for the work (SQL from `lifecycle-features`, fitting from
//! the model crates) and records what it did on the [`Run`]. The runner owns their order,
//! timing, the quality gate and the commit.

pub(crate) mod audiences;
pub(crate) mod churn;
pub(crate) mod clusters;
pub(crate) mod clv;
pub(crate) mod cohorts;
pub(crate) mod contact_plan;
pub(crate) mod experiments;
pub(crate) mod exports;
pub(crate) mod features;
pub(crate) mod funnels;
pub(crate) mod ingest;
pub(crate) mod monitoring;
pub(crate) mod recommend;
pub(crate) mod segments;
pub(crate) mod uplift;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use lifecycle_features::input::RegisteredInput;
use lifecycle_spec::ValidJobSpec;
use lifecycle_storage::Stores;

use crate::manifest::{Manifest, ModelReports, RowCounts};
use crate::output::Output;
use crate::tables::Table;

/// Runs `work` (a model fit, parallel with rayon) on a blocking thread, off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    step: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> crate::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::RunError::Internal {
            step,
            reason: e.to_string(),
        })
}

/// What a step is, for the runner and for readers of the code.
pub(crate) struct StepInfo {
    /// Its name in logs and the manifest's `steps`.
    pub name: &'static str,
    /// The views it reads (registered by earlier steps).
    pub reads: &'static [&'static str],
    /// Whether, with `[incremental]`, it reads the rollup the features step writes instead of
    /// `events_clean`: a run whose other steps do not read `events_clean` then reads only the
    /// recent date partitions (`crate::rollup::Plan`).
    pub from_rollup: bool,
    /// The tables it may write.
    pub writes: &'static [Table],
}

/// One run (or one validation) as the steps see it: the settings, the session, where tables
/// go, and what earlier steps recorded.
pub(crate) struct Run<'a> {
    pub spec: &'a ValidJobSpec,
    pub ctx: SessionContext,
    pub stores: Stores,
    /// The wall-clock time of the run (the future-event rule).
    pub run_time: DateTime<Utc>,
    pub run_date: NaiveDate,
    /// `T`: only events strictly before it are used.
    pub cutoff: DateTime<Utc>,
    pub out: Output<'a>,
    /// The previous committed run, if any.
    pub previous: Option<Manifest>,
    pub inputs: Vec<RegisteredInput>,
    pub rows: RowCounts,
    /// Quarantined rows per rule (rules with rows only).
    pub quality: BTreeMap<String, u64>,
    pub models: ModelReports,
    pub audiences: Option<crate::reports::AudienceReport>,
    pub experiments: Option<crate::reports::ExperimentReport>,
    pub monitoring: Option<crate::reports::MonitoringReport>,
    /// The ids of `[privacy] erase_list` (keyed when ids are), read once by the read step.
    pub erased_ids: Vec<String>,
    /// With `[incremental]`: what this run does with its rollup (planned before the read
    /// step, which lists the partitions it says; taken by the features step).
    pub rollup_plan: Option<crate::rollup::Plan>,
    /// With `[incremental]`: how this run's rollup was built.
    pub rollup: Option<crate::rollup::RollupReport>,
    /// What a local engine used (memory limit, spills); None on a cluster.
    pub usage: Option<crate::engine::Usage>,
    /// The key user ids are pseudonymised with (`[privacy]`), if any.
    pub id_key: Option<lifecycle_features::pseudonym::IdKey>,
    /// How the previous run's ids become this run's (a key turned on or rotated).
    pub previous_ids: crate::rotation::PreviousIds,
}

impl Run<'_> {
    /// Whether the SQL steps run on a Ballista cluster rather than in this process.
    pub fn on_cluster(&self) -> bool {
        self.usage.is_none()
    }

    /// How the inputs' user ids are mapped.
    pub fn user_ids(&self) -> lifecycle_features::pseudonym::UserIds {
        crate::privacy::user_ids(self.id_key.as_ref())
    }
}
