//! The uplift step's contact plan (`contact_plan`): for the audience `[uplift]` scores, with
//! `[clv]` on, each member's expected incremental value = uplift (under the model of the best
//! held-out Qini) × CLV over the longest horizon − the audience's `cost`, and `send` by
//! `lifecycle_audiences::plan` (positive values, best first, within the audience's `budget`).

use std::collections::HashMap;

use lifecycle_audiences::plan::plan;
use lifecycle_spec::ProfileShape;

use super::Run;
use super::uplift::ModelScores;
use crate::Result;
use crate::audience_frame::PROFILE_BASE;
use crate::query::Query;
use crate::reports::{ContactPlanReport, UpliftReport};
use crate::tables::Table;

/// Writes `contact_plan` when there is an audience and CLV; returns the manifest's summary.
pub(super) async fn write(
    run: &mut Run<'_>,
    report: &UpliftReport,
    (ids, scores): (&[String], &[ModelScores]),
) -> Result<Option<ContactPlanReport>> {
    let spec = run.spec;
    let Some(audience) = spec.uplift.as_ref().and_then(|u| u.audience.clone()) else {
        return Ok(None);
    };
    let shape = ProfileShape::of(&spec.source, &spec.activation.channels);
    let (Some(horizon), Some((model, uplift))) = (shape.clv_horizon, best(report, scores)) else {
        return Ok(None);
    };
    let a = spec
        .activation
        .audiences
        .iter()
        .find(|a| a.spec.name == audience);
    let (cost, budget) = a.map_or((0.0, None), |a| (a.spec.cost.unwrap_or(0.0), a.spec.budget));
    let clv = clv_by_user(Query::new(&run.ctx, "contact plan"), horizon).await?;
    let clv: Vec<f64> = ids
        .iter()
        .map(|id| clv.get(id).copied().unwrap_or(0.0))
        .collect();
    let values: Vec<f64> = uplift.iter().zip(&clv).map(|(u, c)| u * c - cost).collect();
    let (planned, totals) = plan(&values, cost, budget);
    let rows = crate::uplift_tables::PlanRows {
        audience: &audience,
        ids,
        uplift,
        clv: &clv,
        cost,
    };
    run.out
        .batch(Table::ContactPlan, rows.batch(&planned))
        .await?;
    Ok(Some(ContactPlanReport {
        audience,
        model: model.clone(),
        cost,
        budget,
        members: totals.members,
        sent: totals.sent,
        expected_value: totals.value_sent,
        expected_value_all: totals.value_all,
    }))
}

/// The model of the best held-out Qini (the first when none has one) and its scores.
fn best<'a>(
    report: &UpliftReport,
    scores: &'a [(String, Vec<f64>)],
) -> Option<&'a (String, Vec<f64>)> {
    let qini = |name: &str| {
        let m = report.models.iter().find(|m| m.model == name);
        m.and_then(|m| m.qini).unwrap_or(f64::MIN)
    };
    scores
        .iter()
        .reduce(|a, b| if qini(&b.0) > qini(&a.0) { b } else { a })
}

/// Each user's CLV over `horizon` days, from the profile (none: 0).
async fn clv_by_user(q: Query<'_>, horizon: u32) -> Result<HashMap<String, f64>> {
    let sql = format!("SELECT user_id, \"clv_{horizon}d\" FROM {PROFILE_BASE}");
    let mut out = HashMap::new();
    for b in q.collect(&sql).await? {
        let (ids, clv) = (q.texts(&b, 0)?, q.numbers(&b, 1)?);
        for (id, v) in ids.into_iter().zip(clv) {
            if let Some(id) = id.filter(|_| v.is_finite()) {
                out.insert(id, v);
            }
        }
    }
    Ok(out)
}
