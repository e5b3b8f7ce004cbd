//! `funnel` (`lifecycle_features::funnels`): each `[[funnels]]` entry's steps, users and
//! conversions.

use lifecycle_features::funnels::{funnel_sql, step_view};
use lifecycle_features::sql::views;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "funnels",
    from_rollup: false,
    reads: &[views::EVENTS_CLEAN],
    writes: &[Table::Funnel],
};

/// Stages each funnel's steps in order, then writes `funnel`: the funnels in spec order, each
/// by step.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let q = Query::new(&run.ctx, Table::Funnel.name());
    let mut tables = vec![];
    for (id, f) in run.spec.funnels.iter().enumerate() {
        let queries = funnel_sql(f, id, run.cutoff);
        for (k, sql) in queries.steps.iter().enumerate() {
            let view = step_view(id, k + 1);
            let users = run.out.staged(q, &format!("_{view}"), sql, &view).await?;
            tracing::debug!(users, view, "funnel step staged");
        }
        tables.push(format!("SELECT {id} AS i, * FROM ({})", queries.table));
    }
    let sql = format!(
        "SELECT funnel, step, event_type, users, conversion_from_previous, \
             conversion_from_first, median_hours_from_previous \
         FROM ({}) ORDER BY i, step",
        tables.join(" UNION ALL ")
    );
    let rows = run.out.sql(q, Table::Funnel, &sql, None).await?;
    Ok(Some(rows))
}
