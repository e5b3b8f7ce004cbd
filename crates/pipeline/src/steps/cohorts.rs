//! `cohort_retention` (`lifecycle_features::cohorts`): retention and revenue per cohort member
//! by period since each user's first event. With `[incremental]`, from the rollup the
//! features step wrote (`user_periods` and `user_daily`) rather than the events.

use lifecycle_features::cohorts::cohort_retention_sql;
use lifecycle_features::sql::views;
use lifecycle_features::user_features::FeatureSource;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "cohorts",
    from_rollup: true,
    reads: &[views::EVENTS_CLEAN, views::USERS_MAPPED],
    writes: &[Table::CohortRetention],
};

/// The staged (user, period) activity, never published.
const ACTIVITY_FILE: &str = "_cohort_activity";

/// Stages each user's activity per period (the one scan of the events, or of the rollup),
/// then writes `cohort_retention` from it.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let source = match run.rollup {
        Some(_) => FeatureSource::Rollup,
        None => FeatureSource::Events,
    };
    let s = run.spec;
    let sql = cohort_retention_sql(&s.cohorts, run.cutoff, &s.purchase_types, source);
    let q = Query::new(&run.ctx, Table::CohortRetention.name());
    let activity = views::COHORT_ACTIVITY;
    let staged = run
        .out
        .staged(q, ACTIVITY_FILE, &sql.activity, activity)
        .await?;
    tracing::debug!(staged, "cohort activity staged");
    let rows = run
        .out
        .sql(q, Table::CohortRetention, &sql.table, None)
        .await?;
    Ok(Some(rows))
}
