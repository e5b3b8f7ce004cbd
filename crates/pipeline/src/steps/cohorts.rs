//! `cohort_retention` (`lifecycle_features::cohorts`): retention and revenue per cohort member
//! by period since each user's first event.

use lifecycle_features::cohorts::cohort_retention_sql;
use lifecycle_features::sql::views;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "cohorts",
    reads: &[views::EVENTS_CLEAN, views::USERS_MAPPED],
    writes: &[Table::CohortRetention],
};

/// Writes `cohort_retention`.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let sql = cohort_retention_sql(&run.spec.cohorts, run.cutoff, &run.spec.purchase_types);
    let q = Query::new(&run.ctx, Table::CohortRetention.name());
    let rows = run.out.sql(q, Table::CohortRetention, &sql, None).await?;
    Ok(Some(rows))
}
