//! Job specs for `lifecycle`: the TOML a user writes, its validation, and the error vocabulary
//! shared by every step of a run.
//!
//! Start from [`JobSpec::from_file`], which parses a spec and checks it once into a
//! [`ValidJobSpec`]. Only validated values reach the engine: relative paths are resolved against
//! the spec's folder, dates are parsed, windows are sorted, stage rules are named uniquely.
//!
//! ```
//! let toml = r#"
//! [job]
//! name = "shop"
//! output = "out"
//! [events]
//! url = "events/"
//! "#;
//! let spec = lifecycle_spec::JobSpec::from_toml_str(toml, std::path::Path::new("/data/jobs/shop.toml"))
//!     .unwrap()
//!     .validate()
//!     .unwrap();
//! assert_eq!(spec.output.as_str(), "file:///data/jobs/out/");
//! assert_eq!(spec.features.windows_days, vec![7, 30, 90]);
//! assert_eq!(spec.stages.otherwise, "churned");
//! ```
//!
//! The full list of settings and their defaults is in `docs/job-spec.md`.

mod activation;
mod analyses;
mod behaviour;
mod engine;
mod error;
mod experiments;
mod incremental;
mod models;
mod privacy;
#[cfg(test)]
mod properties;
mod raw;
mod recommend;
mod uplift;
mod valid;

pub use activation::{
    AudienceSpec, CapSettings, ConsentDefault, ConsentSpec, ExportFormat, ExportSettings,
    HoldoutSettings, ProfileShape, ValidActivation, ValidAudience, profile_columns,
};
pub use analyses::{
    CohortActivity, CohortPeriod, CohortSettings, DriftAction, FunnelSpec, MonitoringSettings,
};
pub use behaviour::{BehaviourSettings, ValidBehaviour};
pub use engine::{EngineSettings, ValidEngine};
pub use error::{DataError, MAX_DAYS, Result, SpecError};
pub use experiments::{ArmSpec, ExperimentSpec, RETENTION_DAYS, ValidExperiment};
pub use incremental::{IncrementalMode, IncrementalSettings};
pub use models::{
    ChurnActivity, ChurnCalibration, ChurnModelKind, ChurnSettings, ClassWeight, GbdtSettings,
    SegmentationSettings,
};
pub use privacy::{ERASURES, PrivacySettings, RetentionSettings, ValidPrivacy};
pub use raw::{
    ClusterSettings, ClvModel, ClvSettings, ColumnMap, CsvOptions, EventTypes, FeatureSettings,
    InputFormat, JobSection, JobSpec, QualitySettings, SourceSpec, StageRule, StageSettings,
    StorageSettings, TextOptions, TimeUnit,
};
pub use recommend::{Algorithm, AlsSettings, RecommendationSettings, Similarity};
pub use uplift::{UpliftLearnerName, UpliftMethodName, UpliftSettings, UpliftSource, ValidUplift};
pub use valid::{
    ColumnSource, Contract, ContractColumn, ContractKind, Overrides, PerTypeColumn, TimeParse,
    ValidFeatures, ValidJobSpec, ValidSource, ValidStages, resolve_location, validate_cluster_url,
};
