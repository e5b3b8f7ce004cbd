//! Per-user features as of the cutoff (`lifecycle_features::user_features`), from the clean
//! events only: no event at or after the cutoff.

use lifecycle_features::sql::views;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "features",
    reads: &[views::EVENTS_CLEAN],
    writes: &[Table::UserFeatures],
};

/// Writes `user_features` and registers it for the later steps.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let s = run.spec;
    let sql = lifecycle_features::user_features::user_features_sql(
        &s.features,
        &s.purchase_types,
        run.cutoff,
    );
    let q = Query::new(&run.ctx, Table::UserFeatures.name());
    let view = Some(views::USER_FEATURES);
    let rows = run.out.sql(q, Table::UserFeatures, &sql, view).await?;
    Ok(Some(rows))
}
