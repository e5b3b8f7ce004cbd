//! `funnel` (`lifecycle_features::funnels`): each `[[funnels]]` entry's steps, users and
//! conversions.

use lifecycle_features::funnels::funnel_sql;
use lifecycle_features::sql::views;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "funnels",
    reads: &[views::EVENTS_CLEAN],
    writes: &[Table::Funnel],
};

/// Writes `funnel`: the funnels in spec order, each by step.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let parts: Vec<String> = run
        .spec
        .funnels
        .iter()
        .enumerate()
        .map(|(i, f)| format!("SELECT {i} AS i, * FROM ({})", funnel_sql(f, run.cutoff)))
        .collect();
    let sql = format!(
        "SELECT funnel, step, event_type, users, conversion_from_previous, \
             conversion_from_first, median_hours_from_previous \
         FROM ({}) ORDER BY i, step",
        parts.join(" UNION ALL ")
    );
    let q = Query::new(&run.ctx, Table::Funnel.name());
    let rows = run.out.sql(q, Table::Funnel, &sql, None).await?;
    Ok(Some(rows))
}
