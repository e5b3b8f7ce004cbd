//! Per-user features as of the cutoff (`lifecycle_features::user_features`), from the clean
//! events only: no event at or after the cutoff. With `[incremental]`, from the rollup this
//! step updates first (`crate::rollup`), which the cohorts read too.

use lifecycle_features::sql::views;
use lifecycle_features::user_features::FeatureSource;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "features",
    from_rollup: true,
    reads: &[views::EVENTS_CLEAN],
    writes: &[
        Table::UserDaily,
        Table::UserHistory,
        Table::UserItemsDaily,
        Table::UserPeriods,
        Table::UserFeatures,
    ],
};

/// Writes `user_features` (and with `[incremental]`, the rollup) and registers it for the
/// later steps.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let s = run.spec;
    let source = match run.rollup_plan.take() {
        Some(plan) => {
            run.rollup = Some(crate::rollup::update(run, plan).await?);
            FeatureSource::Rollup
        }
        None => FeatureSource::Events,
    };
    let sql = lifecycle_features::user_features::user_features_sql(
        &s.features,
        &s.purchase_types,
        run.cutoff,
        source,
    );
    let q = Query::new(&run.ctx, Table::UserFeatures.name());
    let view = Some(views::USER_FEATURES);
    let rows = run.out.sql(q, Table::UserFeatures, &sql, view).await?;
    Ok(Some(rows))
}
