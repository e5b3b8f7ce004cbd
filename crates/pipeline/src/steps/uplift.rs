//! `[uplift]`: uplift models trained on a finished experiment. Each assigned user whose window
//! has ended is a training row (features as of the assignment date, arm, a purchase in the
//! window); a hash of the id holds `test_share` of them out for the evaluation (Qini, AUUC,
//! uplift at the top 10% and 30%: `lifecycle_experiments::uplift_metrics`); every method ×
//! learner (`lifecycle_models::uplift`) then scores the audience at the cutoff into
//! `uplift_scores`.

use chrono::{TimeZone, Utc};
use lifecycle_audiences::holdout::bucket;
use lifecycle_experiments::uplift_metrics::{TopK, qini_auc_score, uplift_at_k, uplift_auc_score};
use lifecycle_features::sql::{in_list, lit, views};
use lifecycle_features::uplift::{UPLIFT_ASSIGNMENTS, finished_days_sql, training_rows_sql};
use lifecycle_features::user_features::{FeatureSource, user_features_sql};
use lifecycle_models::Matrix;
use lifecycle_models::gbdt::GbdtParams;
use lifecycle_models::logistic::LogisticParams;
use lifecycle_models::uplift::{BaseLearner, UpliftMethod, UpliftParams};
use lifecycle_spec::{UpliftLearnerName, UpliftMethodName, UpliftSource, ValidUplift};

use super::{Run, StepInfo, blocking};
use crate::frame::{Frame, from_batches, numeric_columns};
use crate::query::Query;
use crate::reports::{UpliftEvaluation, UpliftReport};
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "uplift",
    from_rollup: false,
    reads: &[views::EVENTS_CLEAN, views::USER_FEATURES],
    writes: &[Table::UpliftScores, Table::ContactPlan],
};

/// A model's name and its uplift for each scored user.
pub(super) type ModelScores = (String, Vec<f64>);

/// The past campaign's file, as read.
const CAMPAIGN_FILE: &str = "uplift_campaign_file";

/// The training rows: features, outcomes and arms.
struct Rows {
    frame: Frame,
    treated: Vec<bool>,
}

/// Fits, evaluates and scores; writes `uplift_scores`.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let Some(u) = run.spec.uplift.as_ref() else {
        return Ok(None);
    };
    if !run.out.publishes() {
        return Ok(None);
    }
    let q = Query::new(&run.ctx, "uplift");
    register_assignments(q, run, u).await?;
    let features = numeric_columns(&q.schema(views::USER_FEATURES).await?);
    let rows = training_rows(q, run, u, &features).await?;
    let (train, held) = split(u, &rows);
    if let Some(why) = unfit(&train) {
        tracing::info!(why, "no uplift model this run");
        run.models.uplift = Some(UpliftReport {
            skipped: Some(why),
            ..Default::default()
        });
        return Ok(None);
    }
    let scoring = audience_frame(q, run, u, &features).await?;
    let (u2, names) = (u.clone(), features.clone());
    let ids = scoring.ids.clone();
    let (mut report, scores) = blocking(STEP.name, move || {
        fit_all(&u2, &names, (train, held), &scoring)
    })
    .await??;
    let mut table = crate::uplift_tables::ScoresTable::default();
    for (name, s) in &scores {
        table.push(name, &ids, s);
    }
    let written = table.rows() as u64;
    run.out.batch(Table::UpliftScores, table.batch()).await?;
    report.plan = super::contact_plan::write(run, &report, (&ids, &scores)).await?;
    run.models.uplift = Some(report);
    Ok(Some(written))
}

/// Why the training users cannot train the models, if they cannot: each arm needs users
/// with and without the outcome.
fn unfit(train: &Part) -> Option<String> {
    for arm in [true, false] {
        let outcomes: Vec<bool> = (0..train.y.len())
            .filter(|&i| train.treated[i] == arm)
            .map(|i| train.y[i])
            .collect();
        if !(outcomes.contains(&true) && outcomes.contains(&false)) {
            let name = if arm { "treatment" } else { "control" };
            return Some(format!(
                "the {name} arm has {} finished training users, not both outcomes among them",
                outcomes.len()
            ));
        }
    }
    None
}

/// `uplift_assignments`: the experiment's assignments this run wrote, or the campaign file.
async fn register_assignments(q: Query<'_>, run: &Run<'_>, u: &ValidUplift) -> Result<()> {
    match &u.source {
        UpliftSource::Experiment(name) => {
            let sql = format!(
                "SELECT user_id, arm, assigned_on FROM {} WHERE experiment = {}",
                views::ASSIGNMENTS,
                lit(name)
            );
            q.register_view(UPLIFT_ASSIGNMENTS, &sql).await
        }
        UpliftSource::File(url) => {
            run.stores.open(url)?;
            q.register_parquet(CAMPAIGN_FILE, url.as_str()).await?;
            // The file has the ids as the events have them: keyed like them when ids are.
            let id = run.user_ids().map("CAST(user_id AS VARCHAR)".into());
            let sql = format!("SELECT {id} AS user_id, arm, assigned_on FROM {CAMPAIGN_FILE}");
            q.register_view(UPLIFT_ASSIGNMENTS, &sql).await
        }
    }
}

/// Every finished assignment day's rows, features as of that day.
async fn training_rows(
    q: Query<'_>,
    run: &Run<'_>,
    u: &ValidUplift,
    features: &[String],
) -> Result<Rows> {
    let today = crate::churn_tables::days_since_epoch(run.run_date) as i64;
    let days = q.collect(&finished_days_sql(u.window_days, today)).await?;
    let purchase = in_list(&run.spec.purchase_types);
    let mut batches = vec![];
    for b in &days {
        for day in q.integers(b, 0)? {
            let cutoff = Utc
                .timestamp_opt(day * 86_400, 0)
                .single()
                .expect("a day in range");
            let f = user_features_sql(
                &run.spec.features,
                &run.spec.purchase_types,
                cutoff,
                FeatureSource::Events,
            );
            let sql = training_rows_sql(
                &f,
                (day, u.window_days),
                (&u.treatment, &u.control),
                &purchase,
            );
            batches.extend(q.collect(&sql).await?);
        }
    }
    let mut wanted = features.to_vec();
    wanted.push("uplift_treated".into());
    let frame = from_batches(&batches, &wanted, Some("uplift_outcome"), STEP.name)?;
    let treated: Vec<bool> = frame.x.column(features.len()).map(|v| v == 1.0).collect();
    let x = Matrix::from_columns(
        &(0..features.len())
            .map(|j| frame.x.column(j).collect())
            .collect::<Vec<Vec<f64>>>(),
    )
    .map_err(|e| RunError::Internal {
        step: STEP.name,
        reason: e.to_string(),
    })?;
    Ok(Rows {
        frame: Frame { x, ..frame },
        treated,
    })
}

/// The users scored at the cutoff: the audience's members (or every user) with this run's
/// features.
async fn audience_frame(
    q: Query<'_>,
    run: &Run<'_>,
    u: &ValidUplift,
    features: &[String],
) -> Result<Frame> {
    let sql = match &u.audience {
        Some(a) => {
            let members = super::experiments::audience_members(q, run).await?;
            let ids: Vec<String> = members
                .into_iter()
                .filter(|(audience, _)| audience == a)
                .map(|(_, user)| user)
                .collect();
            format!(
                "SELECT * FROM {} WHERE user_id IN ({}) ORDER BY user_id",
                views::USER_FEATURES,
                in_list(&ids)
            )
        }
        None => format!("SELECT * FROM {} ORDER BY user_id", views::USER_FEATURES),
    };
    crate::frame::collect(q, &sql, features, None).await
}

fn params(method: UpliftMethodName, learner: UpliftLearnerName) -> UpliftParams {
    UpliftParams {
        method: match method {
            UpliftMethodName::TwoModel => UpliftMethod::TwoModel,
            UpliftMethodName::ClassTransformation => UpliftMethod::ClassTransformation,
        },
        learner: match learner {
            UpliftLearnerName::Gbdt => BaseLearner::Gbdt(GbdtParams {
                max_trees: 100,
                max_depth: 4,
                ..GbdtParams::default()
            }),
            UpliftLearnerName::Logistic => BaseLearner::Logistic(LogisticParams::default()),
        },
    }
}

fn model_name(method: UpliftMethodName, learner: UpliftLearnerName) -> String {
    let m = match method {
        UpliftMethodName::TwoModel => "two_model",
        UpliftMethodName::ClassTransformation => "class_transformation",
    };
    let l = match learner {
        UpliftLearnerName::Gbdt => "gbdt",
        UpliftLearnerName::Logistic => "logistic",
    };
    format!("{m}_{l}")
}

/// One side of the split: features, outcomes, arms.
struct Part {
    x: Matrix,
    y: Vec<bool>,
    treated: Vec<bool>,
}

/// The training and held-out users (a hash of the id below `test_share` holds one out).
fn split(u: &ValidUplift, rows: &Rows) -> (Part, Part) {
    let y = rows.frame.labels.clone().unwrap_or_default();
    let held = |i: usize| bucket(&u.seed, &rows.frame.ids[i]) < u.test_share;
    let part = |keep: bool| {
        let idx: Vec<usize> = (0..y.len()).filter(|&i| held(i) == keep).collect();
        Part {
            x: rows.frame.x.select_rows(&idx),
            y: idx.iter().map(|&i| y[i]).collect(),
            treated: idx.iter().map(|&i| rows.treated[i]).collect(),
        }
    };
    (part(false), part(true))
}

/// A model's held-out uplift `h` measured as scikit-uplift does (None where undefined).
fn evaluate(model: String, held: &Part, h: &[f64]) -> UpliftEvaluation {
    let (y, t) = (&held.y, &held.treated);
    let finite = |v: f64| v.is_finite().then_some(v);
    UpliftEvaluation {
        model,
        qini: finite(qini_auc_score(y, h, t, true)),
        auuc: finite(uplift_auc_score(y, h, t)),
        uplift_at_10: finite(uplift_at_k(y, h, t, TopK::Overall, 0.1)),
        uplift_at_30: finite(uplift_at_k(y, h, t, TopK::Overall, 0.3)),
    }
}

/// Every method × learner: fitted on the training users, evaluated on the held-out ones,
/// scoring `scoring`.
fn fit_all(
    u: &ValidUplift,
    names: &[String],
    (train, held): (Part, Part),
    scoring: &Frame,
) -> Result<(UpliftReport, Vec<ModelScores>)> {
    let mut report = UpliftReport {
        training_users: train.y.len(),
        test_users: held.y.len(),
        ..Default::default()
    };
    let mut all = vec![];
    for &method in &u.methods {
        for &learner in &u.learners {
            let fit = params(method, learner).fit(&train.x, names, &train.y, &train.treated);
            let model = fit.map_err(RunError::model(STEP.name))?;
            let name = model_name(method, learner);
            let h = model.uplift(&held.x).map_err(RunError::model(STEP.name))?;
            report.models.push(evaluate(name.clone(), &held, &h));
            let scores = model
                .uplift(&scoring.x)
                .map_err(RunError::model(STEP.name))?;
            all.push((name, scores));
        }
    }
    Ok((report, all))
}
