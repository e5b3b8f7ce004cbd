//! `stage_forecast`: today's stage mix and the expected mix one and three periods ahead, from
//! the transitions since the previous run as a Markov chain (`lifecycle_models::markov`). A
//! period is the time between the previous run and this one.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_features::sql::views;
use lifecycle_models::markov::StageChain;

use crate::Result;
use crate::query::Query;

/// The periods ahead the table holds (0 is today's mix).
pub(crate) const PERIODS: [u32; 3] = [0, 1, 3];

/// The chain of the registered `stage_transitions` view (users new or gone are left out).
pub(crate) async fn chain(q: Query<'_>) -> Result<StageChain> {
    let sql = format!(
        "SELECT from_stage, to_stage, users FROM {} \
         WHERE from_stage IS NOT NULL AND to_stage IS NOT NULL",
        views::STAGE_TRANSITIONS
    );
    let mut counts = Vec::new();
    for b in q.collect(&sql).await? {
        let (from, to) = (q.texts(&b, 0)?, q.texts(&b, 1)?);
        let users = q.integers(&b, 2)?;
        for ((f, t), n) in from.into_iter().zip(to).zip(users) {
            counts.push((f.unwrap_or_default(), t.unwrap_or_default(), n as u64));
        }
    }
    Ok(StageChain::from_counts(counts))
}

/// The table: one row per stage and period ahead; no rows without observed transitions.
pub(crate) fn batch(
    chain: &StageChain,
    mix: &BTreeMap<String, u64>,
    period_days: i32,
) -> RecordBatch {
    let mix: BTreeMap<String, f64> = mix.iter().map(|(k, v)| (k.clone(), *v as f64)).collect();
    let total: f64 = mix.values().sum();
    let mut rows: Vec<(String, i32, f64)> = Vec::new();
    if !chain.is_empty() {
        for periods in PERIODS {
            let ahead = chain.forecast(&mix, periods);
            rows.extend(
                ahead
                    .into_iter()
                    .map(|(s, users)| (s, periods as i32, users)),
            );
        }
    }
    let share = |users: f64| if total > 0.0 { users / total } else { 0.0 };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|_| period_days),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| share(r.2)),
        )),
    ];
    let fields = vec![
        Field::new("stage", DataType::Utf8, false),
        Field::new("periods_ahead", DataType::Int32, false),
        Field::new("period_days", DataType::Int32, false),
        Field::new("users", DataType::Float64, false),
        Field::new("share", DataType::Float64, false),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns fit the schema")
}
