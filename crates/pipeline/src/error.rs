//! Why a run failed, split by who is at fault, and the one mapping to exit codes.

use lifecycle_features::FeatureError;
use lifecycle_spec::{DataError, SpecError};
use lifecycle_storage::StorageError;

/// Result with a [`RunError`] by default.
pub type Result<T, E = RunError> = std::result::Result<T, E>;

/// Why a run failed. [`RunError::exit_code`] maps it to the CLI's exit codes.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The user's spec: a setting that is wrong or does not work against the data.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The input data breaks the contract or the quality gate.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Reading, writing or committing storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A step of the SQL layer failed: its own split by fault (the data, the spec, storage, or
    /// DataFusion or the Ballista cluster while planning or running a step). Boxed: it holds
    /// the other errors, and a run's `Result` should stay small.
    #[error(transparent)]
    Features(Box<FeatureError>),
    /// A committed run's manifest cannot be read by this build.
    #[error("run manifest {url}: {reason}")]
    Manifest { url: String, reason: String },
    /// The Ballista cluster could not be set up.
    #[error(transparent)]
    Cluster(#[from] lifecycle_cluster::ClusterError),
    /// A model could not be fitted or applied; the run publishes nothing.
    #[error("{model}: {source}")]
    Model {
        model: &'static str,
        #[source]
        source: ModelFailure,
    },
    /// The SQL steps needed more memory or spill space than `[engine]` gives them; the error
    /// names the setting to change.
    #[error("{setting}: {reason} ({detail})")]
    Resources {
        setting: &'static str,
        reason: String,
        /// DataFusion's own message.
        detail: String,
    },
    /// The run was asked to stop (SIGTERM, Ctrl-C) and published nothing.
    #[error("stopped by {signal} before committing; nothing was published")]
    Stopped { signal: &'static str },
    /// Drift beyond `[monitoring]`'s limits with `action = "fail"`.
    #[error("drift beyond the [monitoring] limits (action = \"fail\"), nothing published: {}", list_flags(.flags))]
    Drift {
        flags: Vec<crate::reports::DriftFlag>,
    },
    /// A broken invariant of this program (not the user's data or spec): a bug to report.
    #[error("internal error in {step}: {reason}")]
    Internal { step: &'static str, reason: String },
}

/// What went wrong inside a model crate.
#[derive(Debug, thiserror::Error)]
pub enum ModelFailure {
    #[error(transparent)]
    Clv(#[from] lifecycle_clv::ClvError),
    #[error(transparent)]
    Fit(#[from] lifecycle_models::ModelError),
    #[error(transparent)]
    Recommend(#[from] lifecycle_recommend::RecommendError),
}

impl RunError {
    /// 2 for a bad spec (the user's configuration); 3 when another run of the same date holds
    /// the lease or committed first; 143 (128 + SIGTERM) when it was stopped; 1 for everything
    /// else that went wrong at run time.
    pub fn exit_code(&self) -> i32 {
        use StorageError::{CommitConflict, LeaseHeld};
        match self {
            RunError::Spec(_) => 2,
            RunError::Features(f) if matches!(**f, FeatureError::Spec(_)) => 2,
            RunError::Storage(LeaseHeld { .. } | CommitConflict { .. }) => 3,
            RunError::Stopped { .. } => 143,
            _ => 1,
        }
    }

    /// Wraps a DataFusion error with the step it happened in.
    pub(crate) fn engine(
        step: &'static str,
    ) -> impl FnOnce(datafusion::error::DataFusionError) -> RunError {
        move |source| FeatureError::Engine { step, source }.into()
    }

    /// Wraps a model crate's error with the model it came from.
    pub(crate) fn model<E: Into<ModelFailure>>(model: &'static str) -> impl FnOnce(E) -> RunError {
        move |e| RunError::Model {
            model,
            source: e.into(),
        }
    }
}

impl From<FeatureError> for RunError {
    fn from(e: FeatureError) -> Self {
        RunError::Features(Box::new(e))
    }
}

fn list_flags(flags: &[crate::reports::DriftFlag]) -> String {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    flags.join("; ")
}
