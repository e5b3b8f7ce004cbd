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
    ClvError, FitSettings, GammaGamma, GammaGammaParams, HoldoutCustomer, Purchaser, RepeatModel,
    RepeatModelKind, Rfm, ValueParams,
};
use lifecycle_features::clv_summary;
use lifecycle_features::sql::views;
use lifecycle_spec::ClvModel;

use super::{Run, StepInfo};
use crate::manifest::{ClvHoldout, ClvReport};
use crate::query::Query;
use crate::reports::ClvCandidate;
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "clv",
    from_rollup: false,
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
    let kinds = kinds(c.model, c.holdout_days > 0);
    let settings = FitSettings {
        penalty: c.penalty,
        periods_per_unit: c.time_unit_days / c.period_days as f64,
    };
    let holdout = match c.holdout_days {
        0 => vec![],
        _ => holdout(run, q.step("CLV holdout"), &kinds, settings).await?,
    };
    let (fits, gg) = fit(customers.clone(), &kinds, settings).await?;
    let chosen = choose(&fits, &holdout);
    let value = ValueParams {
        horizons_days: c.horizons_days.clone(),
        unit_days: c.time_unit_days,
        annual_discount_rate: c.annual_discount_rate,
    };
    let batch = customer_value(&customers, &chosen, &gg, &value)?;
    let rfm: Vec<Rfm> = customers.iter().map(|c| c.purchaser.rfm).collect();
    run.models.clv = Some(ClvReport {
        time_unit_days: c.time_unit_days,
        period_days: c.period_days,
        customers: customers.len(),
        repeat_customers: rfm.iter().filter(|r| r.frequency > 0.0).count(),
        model: chosen.kind().name().into(),
        bgnbd: match chosen {
            RepeatModel::Bgnbd(m) => Some(m),
            _ => None,
        },
        gamma_gamma: gg,
        candidates: candidates(&fits, &holdout, &chosen, &rfm),
        holdout: holdout
            .iter()
            .find(|(k, _)| *k == chosen.kind())
            .or(holdout.first())
            .map(|(_, h)| h.clone()),
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
        let ids = q.texts(b, 0)?;
        let col = |i: usize| b.column(i).as_primitive::<Float64Type>();
        let (x, tx, t, m) = (col(1), col(2), col(3), col(4));
        for (i, id) in ids.into_iter().enumerate() {
            let rfm = Rfm {
                frequency: x.value(i),
                recency: tx.value(i),
                t: t.value(i),
            };
            let monetary = m.is_valid(i).then(|| m.value(i));
            out.push(Customer {
                user_id: id.unwrap_or_default(),
                purchaser: Purchaser { rfm, monetary },
            });
        }
    }
    Ok(out)
}

/// The models `[clv] model` asks for. `auto` fits the BG/BB only with a holdout: its
/// likelihood is of discrete opportunities, so only a holdout error compares it with the rest.
fn kinds(model: ClvModel, holdout: bool) -> Vec<RepeatModelKind> {
    match model {
        ClvModel::Bgnbd => vec![RepeatModelKind::Bgnbd],
        ClvModel::Mbgnbd => vec![RepeatModelKind::Mbgnbd],
        ClvModel::ParetoNbd => vec![RepeatModelKind::ParetoNbd],
        ClvModel::Bgbb => vec![RepeatModelKind::Bgbb],
        ClvModel::Auto => RepeatModelKind::ALL
            .into_iter()
            .filter(|k| holdout || k.continuous())
            .collect(),
    }
}

/// Fits the repeat-purchase models and the Gamma-Gamma on a blocking thread (they use rayon).
/// Among several, one that cannot be fitted is left out (logged); the run fails only when none
/// can.
async fn fit(
    customers: Arc<Vec<Customer>>,
    kinds: &[RepeatModelKind],
    settings: FitSettings,
) -> Result<(Vec<RepeatModel>, GammaGamma)> {
    let kinds = kinds.to_vec();
    let work = move || {
        let rfm: Vec<Rfm> = customers.iter().map(|c| c.purchaser.rfm).collect();
        let mut fits = vec![];
        let mut first_error = None;
        for kind in &kinds {
            match kind.fit(&rfm, settings) {
                Ok(m) => fits.push(m),
                Err(e) if kinds.len() > 1 => {
                    tracing::warn!(model = kind.label(), error = %e, "left out of [clv] model = auto");
                    first_error.get_or_insert(RunError::model(kind.label())(e));
                }
                Err(e) => return Err(RunError::model(kind.label())(e)),
            }
        }
        if fits.is_empty() {
            return Err(first_error.expect("a kind was tried"));
        }
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
            penalty: settings.penalty,
            ..Default::default()
        };
        let gg = gg_params
            .fit(&spend)
            .map_err(RunError::model("Gamma-Gamma"))?;
        Ok((fits, gg))
    };
    super::blocking("clv", work).await?
}

/// The holdout's mean absolute error per customer of `kind`, when it was evaluated.
fn holdout_error(holdout: &[(RepeatModelKind, ClvHoldout)], kind: RepeatModelKind) -> Option<f64> {
    holdout.iter().find_map(|(k, h)| match h {
        ClvHoldout::Evaluated { evaluation, .. } if *k == kind => {
            Some(evaluation.repeat_purchases.mae_per_customer)
        }
        _ => None,
    })
}

/// The model to use: of several, the lowest holdout error when every one was evaluated, else
/// the lowest AIC among the continuous-time ones (a discrete likelihood is not comparable).
fn choose(fits: &[RepeatModel], holdout: &[(RepeatModelKind, ClvHoldout)]) -> RepeatModel {
    let errors: Option<Vec<f64>> = fits
        .iter()
        .map(|m| holdout_error(holdout, m.kind()))
        .collect();
    let any_continuous = fits.iter().any(|m| m.kind().continuous());
    let score = |i: usize| match &errors {
        Some(e) => e[i],
        None if any_continuous && !fits[i].kind().continuous() => f64::INFINITY,
        None => fits[i].aic(),
    };
    let best = (0..fits.len())
        .min_by(|a, b| score(*a).total_cmp(&score(*b)))
        .expect("at least one fit");
    fits[best]
}

/// Every fit as the manifest lists it.
fn candidates(
    fits: &[RepeatModel],
    holdout: &[(RepeatModelKind, ClvHoldout)],
    chosen: &RepeatModel,
    rfm: &[Rfm],
) -> Vec<ClvCandidate> {
    fits.iter()
        .map(|m| {
            let names = m.parameters().map(|(n, _)| n.to_string());
            ClvCandidate {
                model: m.kind().name().into(),
                parameters: m.parameters().map(|(n, v)| (n.to_string(), v)).into(),
                standard_errors: m
                    .standard_errors(rfm)
                    .map(|se| names.clone().into_iter().zip(se).collect()),
                log_likelihood: m.fitted_log_likelihood(),
                aic: m.aic(),
                holdout_mae_per_customer: holdout_error(holdout, m.kind()),
                chosen: m.kind() == chosen.kind(),
            }
        })
        .collect()
}

/// `customer_value`: the summary, then each prediction (see `docs/outputs.md`).
fn customer_value(
    customers: &[Customer],
    bg: &RepeatModel,
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
            return Err(RunError::model(bg.kind().label())(ClvError::InvalidData {
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
    let dert = predictions.iter().map(|p| p.dert);
    push("dert".into(), true, Float64Array::from_iter(dert));
    let residual = predictions.iter().map(|p| p.residual_value);
    push(
        "residual_value".into(),
        true,
        Float64Array::from_iter(residual),
    );
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("columns match the schema"))
}

/// Fits each of `kinds` on the data before `cutoff − holdout_days` and compares it with the
/// holdout period.
async fn holdout(
    run: &Run<'_>,
    q: Query<'_>,
    kinds: &[RepeatModelKind],
    settings: FitSettings,
) -> Result<Vec<(RepeatModelKind, ClvHoldout)>> {
    let c = &run.spec.clv;
    let calibration_end = run.cutoff - chrono::Duration::days(c.holdout_days as i64);
    let customers = Arc::new(summary(q, run, calibration_end).await?);
    if customers.is_empty() {
        let error = "no purchases before the holdout".to_string();
        return Ok(vec![(kinds[0], ClvHoldout::Skipped { error })]);
    }
    let (fits, gg) = fit(customers.clone(), kinds, settings).await?;
    let types = &run.spec.purchase_types;
    let sql = clv_summary::holdout_sql(types, calibration_end, run.cutoff, c.period_days);
    let mut actual = HashMap::new();
    for b in &q.collect(&sql).await? {
        let ids = q.texts(b, 0)?;
        let periods = b.column(1).as_primitive::<Float64Type>();
        let spend = b.column(2).as_primitive::<Float64Type>();
        for (i, id) in ids.into_iter().enumerate() {
            actual.insert(id.unwrap_or_default(), (periods.value(i), spend.value(i)));
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
    let mut out = vec![];
    for m in fits {
        let evaluation = lifecycle_clv::holdout::evaluate(&m, &gg, &judged, horizon)
            .map_err(RunError::model("CLV holdout"))?;
        let report = ClvHoldout::Evaluated {
            calibration_end,
            holdout_days: c.holdout_days,
            customers: customers.len(),
            model: m.kind().name().into(),
            bgnbd: match m {
                RepeatModel::Bgnbd(bg) => Some(bg),
                _ => None,
            },
            gamma_gamma: gg,
            evaluation,
        };
        out.push((m.kind(), report));
    }
    Ok(out)
}
