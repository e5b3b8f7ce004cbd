//! The daily lifecycle job: reads and checks the events, computes features, stages and RFM
//! segments with DataFusion, trains and applies the models, and publishes every table together
//! with a run manifest.
//!
//! Start from [`run_job`] with a validated spec and [`RunOptions`]. A run either commits all its
//! tables (see `lifecycle_storage::Publisher` for the protocol) or publishes nothing, leaving the
//! previous outputs as they were. `runner` holds the ordered steps; each step is a module of
//! `steps`; [`Table`] lists what a run publishes and [`Manifest`] records what it did.

mod audience_frame;
mod audience_tables;
mod cells;
mod churn_curves;
mod churn_tables;
mod drift_table;
mod engine;
mod erase;
mod error;
mod experiment_tables;
mod frame;
mod history;
mod lease;
mod manifest;
mod notify;
mod output;
mod previous;
mod privacy;
mod progress;
mod query;
mod raw_ids;
mod recommend_tables;
mod report;
mod reports;
mod rollup;
mod rotation;
mod runner;
mod score;
mod session;
mod stage_forecast;
mod steps;
mod tables;
mod uplift_tables;

pub use engine::ResourceUsage;
pub use erase::{
    DateErasure, ERASURE_LOG, EraseOptions, ErasureList, ErasureLog, ErasureRecord, NamedKey,
    erase_users,
};
pub use error::{ModelFailure, Result, RunError};
pub use history::{DatePlan, StaleDate, backfill_plan, catch_up_dates, job_output, stale_dates};
pub use manifest::{MANIFEST_FORMAT, Manifest, RowCounts, StepTiming};
pub use notify::Notification;
pub use progress::Progress;
pub use report::{REPORT_FILE, build_report};
pub use reports::{
    AlgorithmEvaluation, AudienceCounts, AudienceReport, ChurnReport, ClusterSummary, ClvHoldout,
    ClvReport, DriftFlag, DriftMetric, FeatureScaling, FeatureShare, LabelMatching, ModelReports,
    MonitoringReport, ObservationSummary, RecommendationReport, SegmentationReport,
};
pub use runner::{
    RunOptions, RunSummary, cutoff_date, first_kept, run_job, run_job_until, validate_job,
};
pub use score::{ScoreSummary, score_saved_model};
pub use tables::Table;
