//! Lifecycle stages and RFM segments (`lifecycle_features::segments`), the moves between
//! stages since the previous committed run, and the stage forecast they imply.

use datafusion::arrow::array::RecordBatch;
use lifecycle_features::segments;
use lifecycle_features::sql::views;

use super::{Run, StepInfo};
use crate::Result;
use crate::query::Query;
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "segments",
    from_rollup: false,
    reads: &[views::USER_FEATURES, views::USERS_MAPPED],
    writes: &[
        Table::UserSegments,
        Table::StageTransitions,
        Table::StageForecast,
    ],
};

/// Checks the stage rules, writes `user_segments`, `stage_transitions` and `stage_forecast`.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let st = &run.spec.stages;
    lifecycle_features::check_stage_rules(&run.ctx, &st.rules).await?;
    let prospects = run
        .spec
        .users
        .as_ref()
        .map(|_| (st.prospect.as_str(), run.cutoff.timestamp_micros()));
    let sql = segments::user_segments_sql(&st.rules, &st.otherwise, prospects);
    let q = Query::new(&run.ctx, Table::UserSegments.name());
    let view = Some(views::USER_SEGMENTS);
    let rows = match run.out.sql(q, Table::UserSegments, &sql, view).await {
        Ok(rows) => rows,
        Err(e) => return Err(super::ingest::blame_inputs(run, e).await), // users_mapped
    };
    let q = q.step("read the previous run's segments");
    crate::previous::register_segments(q, run.previous.as_ref(), &run.previous_ids).await?;
    let q = q.step(Table::StageTransitions.name());
    let sql = segments::transitions_sql();
    let view = Some(views::STAGE_TRANSITIONS);
    run.out.sql(q, Table::StageTransitions, sql, view).await?;
    if run.out.publishes() {
        let batch = forecast(run).await?;
        run.out.batch(Table::StageForecast, batch).await?;
    }
    Ok(Some(rows))
}

/// `stage_forecast` from the transitions and today's stages.
async fn forecast(run: &Run<'_>) -> Result<RecordBatch> {
    let q = Query::new(&run.ctx, Table::StageForecast.name());
    let chain = crate::stage_forecast::chain(q).await?;
    let mix_sql = format!(
        "SELECT stage, count(*) FROM {} GROUP BY stage",
        views::USER_SEGMENTS
    );
    let mix = q.counts_by(&mix_sql).await?;
    let period_days = run
        .previous
        .as_ref()
        .map_or(0, |p| (run.run_date - p.run_date).num_days() as i32);
    Ok(crate::stage_forecast::batch(&chain, &mix, period_days))
}
