//! Per-user features, data quality, lifecycle stages and RFM segments, computed with Apache
//! DataFusion.
//!
//! The steps register named tables on one [`SessionContext`], each built from the last:
//! `<table>_raw` → `<table>_mapped` ([`input::register_input`]) → `events_checked`,
//! `quarantine`, `events_clean` ([`quality`]) → `user_features`
//! ([`user_features::user_features_sql`]) → `user_segments` and `stage_transitions`
//! ([`segments`]). Nothing runs until a table is collected or written. Start from
//! [`new_session`], which also registers the functions the SQL needs.

mod behaviour;
pub mod churn_labels;
pub mod clv_summary;
pub mod cohorts;
pub mod consent;
#[cfg(test)]
mod dedup_property;
#[cfg(test)]
mod differential;
pub mod duplicates;
pub mod erasure;
pub mod experiments;
pub mod funnels;
pub mod input;
pub mod interactions;
pub mod profile;
#[cfg(test)]
mod properties;
pub mod pseudonym;
pub mod quality;
pub mod rollup;
#[cfg(test)]
mod rollup_property;
pub mod row_hash;
pub mod segments;
pub mod sql;
#[cfg(test)]
mod test_support;
pub mod time_udf;
pub mod uplift;
pub mod user_features;

use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use lifecycle_spec::{DataError, SpecError, StageRule};
use lifecycle_storage::StorageError;

/// Result with a [`FeatureError`] by default.
pub type Result<T, E = FeatureError> = std::result::Result<T, E>;

/// A feature-engineering step failed.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// The input data breaks the contract.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A spec setting does not work against the data (a stage rule that does not parse).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Reading or listing storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// DataFusion failed while planning or running a step.
    #[error("{step} failed: {source}")]
    Engine {
        step: &'static str,
        #[source]
        source: DataFusionError,
    },
}

impl FeatureError {
    /// Wraps a DataFusion error with the step it happened in.
    pub fn engine(step: &'static str) -> impl FnOnce(DataFusionError) -> FeatureError {
        move |source| FeatureError::Engine { step, source }
    }
}

/// A DataFusion session set up for the pipeline: [`session_config`] and the `lc_*` functions.
pub fn new_session() -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config(SessionConfig::new()));
    register_functions(&ctx);
    ctx
}

/// The settings the pipeline's SQL relies on, applied to `config`: strings as `Utf8` (the
/// inputs' contract text alone is read as views: `input::text_sql`; written files hold `Utf8`:
/// `lifecycle_storage`'s writers) and identifiers as written. Views everywhere were
/// measured: the user profile's eight-way join over the model tables took 7x as long and 2.5x
/// the memory at 250,000 users.
pub fn session_config(mut config: SessionConfig) -> SessionConfig {
    let opts = config.options_mut();
    opts.execution.parquet.schema_force_view_types = false;
    opts.sql_parser.map_string_types_to_utf8view = false;
    // Spec expressions name the user's own columns (`CustomerID`) as written.
    opts.sql_parser.enable_ident_normalization = false;
    config
}

/// The functions the pipeline's SQL uses. A distributed run registers them on the scheduler
/// and every executor too.
pub fn functions() -> Vec<std::sync::Arc<datafusion::logical_expr::ScalarUDF>> {
    vec![
        std::sync::Arc::new(time_udf::to_utc_udf()),
        std::sync::Arc::new(row_hash::row_hash_udf()),
        // Keyed where a key is given: a run's session and executors replace it.
        std::sync::Arc::new(pseudonym::keyless_user_key_udf(pseudonym::DEFAULT_KEY_ENV)),
    ]
}

/// Registers [`functions`] on `ctx`.
pub fn register_functions(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udf(f.as_ref().clone());
    }
}

/// Checks that each stage rule plans against `user_features` (registered on `ctx`); the error
/// names the rule's setting.
pub async fn check_stage_rules(ctx: &SessionContext, rules: &[StageRule]) -> Result<()> {
    for (i, StageRule { name, when }) in rules.iter().enumerate() {
        let sql = format!("SELECT CASE WHEN ({when}) THEN 1 END FROM user_features LIMIT 0");
        if let Err(e) = ctx.sql(&sql).await {
            return Err(SpecError::Invalid {
                setting: format!("stages.rules[{i}]"),
                reason: format!("rule `{name}` (`{when}`) does not work on user_features: {e}"),
            }
            .into());
        }
    }
    Ok(())
}
