//! Customer lifetime value: the per-customer summary from SQL
//! (`lifecycle_features::clv_summary`), BG/NBD and Gamma-Gamma fitted here with rayon (one row
//! per purchaser is small next to the events), predictions from `lifecycle_clv::value` into
//! `customer_value`, and optionally a holdout evaluation (`lifecycle_clv::holdout`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use lifecycle_clv::{
    BgNbd, BgNbdParams, ClvError, GammaGamma, GammaGammaParams, HoldoutCustomer, Purchaser, Rfm,
    ValueParams,
};
use lifecycle_features::clv_summary;
use lifecycle_features::sql::views;

use super::{Run, StepInfo};
use crate::manifest::{ClvHoldout, ClvReport};
use crate::query::Query;
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "clv",
    reads: &[views::EVENTS_CLEAN],
    writes: &[Table::CustomerValue],
};

/// A purchaser and their id.
struct Customer {
    user_id: String,
    purchaser: Purchaser,
}

/// Fits, predicts and writes `customer_value`; records the fits in the manifest.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    if !run.out.publishes() {
        return Ok(None);
    }
    let c = &run.spec.clv;
    let q = Query::new(&run.ctx, "CLV summary");
    let customers = Arc::new(summary(q, run, run.cutoff).await?);
    if customers.is_empty() {
        let reason = "no purchases before the cutoff".into();
        return Err(RunError::model("BG/NBD")(ClvError::InvalidData {
            index: 0,
            reason,
        }));
    }
    let (bg, gg) = fit(customers.clone(), c.penalty).await?;
    let value = ValueParams {
        horizons_days: c.horizons_days.clone(),
        unit_days: c.time_unit_days,
        annual_discount_rate: c.annual_discount_rate,
    };
    let batch = customer_value(&customers, &bg, &gg, &value)?;
    let holdout = match c.holdout_days {
        0 => None,
        _ => Some(holdout(run, q.step("CLV holdout")).await?),
    };
    run.models.clv = Some(ClvReport {
        time_unit_days: c.time_unit_days,
        period_days: c.period_days,
        customers: customers.len(),
        repeat_customers: customers
            .iter()
            .filter(|c| c.purchaser.rfm.frequency > 0.0)
            .count(),
        bgnbd: bg,
        gamma_gamma: gg,
        holdout,
    });
    Ok(Some(run.out.batch(Table::CustomerValue, batch).await?))
}

/// The purchasers' summaries as of `end`.
async fn summary(q: Query<'_>, run: &Run<'_>, end: DateTime<Utc>) -> Result<Vec<Customer>> {
    let c = &run.spec.clv;
    let types = &run.spec.purchase_types;
    let sql = clv_summary::clv_summary_sql(types, end, c.period_days, c.time_unit_days);
    let mut out = Vec::new();
    for b in &q.collect(&sql).await? {
        let ids = b.column(0).as_string::<i32>();
        let col = |i: usize| b.column(i).as_primitive::<Float64Type>();
        let (x, tx, t, m) = (col(1), col(2), col(3), col(4));
        for i in 0..b.num_rows() {
            let rfm = Rfm {
                frequency: x.value(i),
                recency: tx.value(i),
                t: t.value(i),
            };
            let monetary = m.is_valid(i).then(|| m.value(i));
            out.push(Customer {
                user_id: ids.value(i).to_string(),
                purchaser: Purchaser { rfm, monetary },
            });
        }
    }
    Ok(out)
}

/// Fits both models on a blocking thread (they use rayon).
async fn fit(customers: Arc<Vec<Customer>>, penalty: f64) -> Result<(BgNbd, GammaGamma)> {
    let work = move || {
        let rfm: Vec<Rfm> = customers.iter().map(|c| c.purchaser.rfm).collect();
        let bg_params = BgNbdParams {
            penalty,
            ..Default::default()
        };
        let bg = bg_params.fit(&rfm).map_err(RunError::model("BG/NBD"))?;
        let spend: Vec<(f64, f64)> = customers
            .iter()
            .filter_map(|c| {
                let p = &c.purchaser;
                p.monetary
                    .filter(|m| *m > 0.0)
                    .map(|m| (p.rfm.frequency, m))
            })
            .collect();
        let gg_params = GammaGammaParams {
            penalty,
            ..Default::default()
        };
        let gg = gg_params
            .fit(&spend)
            .map_err(RunError::model("Gamma-Gamma"))?;
        Ok((bg, gg))
    };
    super::blocking("clv", work).await?
}

/// `customer_value`: the summary, then each prediction (see `docs/outputs.md`).
fn customer_value(
    customers: &[Customer],
    bg: &BgNbd,
    gg: &GammaGamma,
    value: &ValueParams,
) -> Result<RecordBatch> {
    let mut predictions = Vec::with_capacity(customers.len());
    for cu in customers {
        let p = value
            .predict(bg, gg, &cu.purchaser)
            .map_err(RunError::model("CLV prediction"))?;
        if let Some(bad) = p.non_finite() {
            let reason = format!("customer {}: prediction {bad}", cu.user_id);
            return Err(RunError::model("BG/NBD")(ClvError::InvalidData {
                index: 0,
                reason,
            }));
        }
        predictions.push(p);
    }
    let mut fields = vec![Field::new("user_id", DataType::Utf8, false)];
    let ids = customers.iter().map(|c| c.user_id.as_str());
    let mut arrays: Vec<Arc<dyn Array>> = vec![Arc::new(StringArray::from_iter_values(ids))];
    let mut push = |name: String, nullable: bool, values: Float64Array| {
        fields.push(Field::new(name, DataType::Float64, nullable));
        arrays.push(Arc::new(values));
    };
    let values =
        |f: &dyn Fn(usize) -> f64| Float64Array::from_iter_values((0..customers.len()).map(f));
    let rfm = |i: usize| customers[i].purchaser.rfm;
    push("frequency".into(), false, values(&|i| rfm(i).frequency));
    push("recency".into(), false, values(&|i| rfm(i).recency));
    push("t".into(), false, values(&|i| rfm(i).t));
    let monetary = customers.iter().map(|c| c.purchaser.monetary);
    push("monetary".into(), true, Float64Array::from_iter(monetary));
    push("p_alive".into(), false, values(&|i| predictions[i].p_alive));
    for (k, h) in value.horizons_days.iter().enumerate() {
        let v = values(&|i| predictions[i].expected_purchases[k]);
        push(format!("expected_purchases_{h}d"), false, v);
    }
    push(
        "expected_value".into(),
        false,
        values(&|i| predictions[i].expected_value),
    );
    for (k, h) in value.horizons_days.iter().enumerate() {
        push(
            format!("clv_{h}d"),
            false,
            values(&|i| predictions[i].clv[k]),
        );
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("columns match the schema"))
}

/// Fits on the data before `cutoff − holdout_days` and compares with the holdout period.
async fn holdout(run: &Run<'_>, q: Query<'_>) -> Result<ClvHoldout> {
    let c = &run.spec.clv;
    let calibration_end = run.cutoff - chrono::Duration::days(c.holdout_days as i64);
    let customers = Arc::new(summary(q, run, calibration_end).await?);
    if customers.is_empty() {
        let error = "no purchases before the holdout".to_string();
        return Ok(ClvHoldout::Skipped { error });
    }
    let (bg, gg) = fit(customers.clone(), c.penalty).await?;
    let types = &run.spec.purchase_types;
    let sql = clv_summary::holdout_sql(types, calibration_end, run.cutoff, c.period_days);
    let mut actual = HashMap::new();
    for b in &q.collect(&sql).await? {
        let ids = b.column(0).as_string::<i32>();
        let periods = b.column(1).as_primitive::<Float64Type>();
        let spend = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            actual.insert(ids.value(i).to_string(), (periods.value(i), spend.value(i)));
        }
    }
    let judged: Vec<HoldoutCustomer> = customers
        .iter()
        .map(|cu| {
            let (periods, spend) = actual.get(&cu.user_id).copied().unwrap_or((0.0, 0.0));
            HoldoutCustomer {
                calibration: cu.purchaser,
                periods,
                spend,
            }
        })
        .collect();
    let horizon = c.holdout_days as f64 / c.time_unit_days;
    let evaluation = lifecycle_clv::holdout::evaluate(&bg, &gg, &judged, horizon)
        .map_err(RunError::model("CLV holdout"))?;
    Ok(ClvHoldout::Evaluated {
        calibration_end,
        holdout_days: c.holdout_days,
        customers: customers.len(),
        bgnbd: bg,
        gamma_gamma: gg,
        evaluation,
    })
}
