//! Recommendations: interactions from SQL (`lifecycle_features::interactions`), the algorithms
//! fitted and served by `lifecycle_recommend::serve` on this process with rayon (one row per
//! user and item touched is small next to the events): a blended, rule-checked list for every
//! user of `user_segments`, and an offline evaluation on a time split.
//!
//! Evaluation: every algorithm alone, the blend and the popularity baseline are fitted on the
//! interactions before `T0 = cutoff − test_days` and judged on the items each user touched in
//! `[T0, cutoff)` (users with history before `T0` only), at `k = n`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use lifecycle_audiences::holdout::fnv1a32;
use lifecycle_features::interactions;
use lifecycle_features::sql::views;
use lifecycle_recommend::als::AlsParams;
use lifecycle_recommend::item_knn::{ItemKnnParams, Similarity};
use lifecycle_recommend::serve::{Evaluation, History, ServeParams};
use lifecycle_recommend::split::{Split, SplitRow, Weights};
use lifecycle_spec::RecommendationSettings;

use super::{Run, StepInfo};
use crate::query::{Query, with_text_views};
use crate::recommend_tables::{list_batch, metrics_batch, neighbours_batch, split_batches};
use crate::reports::{AlgorithmEvaluation, RecommendationReport};
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "recommendations",
    from_rollup: false,
    reads: &[
        views::EVENTS_CLEAN,
        views::USER_SEGMENTS,
        views::ITEMS_MAPPED,
    ],
    writes: &[
        Table::Recommendations,
        Table::RecommendationMetrics,
        Table::ItemNeighbours,
        Table::RecommendationTrain,
        Table::RecommendationTest,
    ],
};

/// What the step read before fitting.
struct Inputs {
    users: Vec<(String, String)>,
    categories: HashMap<String, String>,
    split: Split,
}

/// Fits, serves every user, evaluates, and writes the recommendation tables.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    if !run.out.publishes() {
        return Ok(None);
    }
    let r = &run.spec.recommendations;
    let t0 = run.cutoff - Duration::days(r.test_days as i64);
    let inputs = read(run, Query::new(&run.ctx, "recommendation inputs"), t0).await?;
    let params = serve_params(r);
    let export = r.export_split;
    let evaluation_users = r.evaluation_users;
    let write_neighbours = r.write_neighbours;
    let work = move || -> Result<_> {
        let stages: HashMap<String, String> = inputs.users.iter().cloned().collect();
        let attributes: HashMap<String, Vec<String>> = inputs
            .categories
            .iter()
            .map(|(i, c)| (i.clone(), vec![format!("category={c}")]))
            .collect();
        let clock = std::time::Instant::now();
        let lap = |what: &str| {
            tracing::debug!(
                seconds = clock.elapsed().as_secs_f64(),
                "recommendations: {what}"
            )
        };
        let sizes = (
            inputs.split.full.inter.users(),
            inputs.split.full.inter.items(),
        );
        let served = Served {
            params: &params,
            inputs: &inputs,
            stages: &stages,
            attributes: &attributes,
        };
        let (list, neighbours) = served.lists(write_neighbours, &lap)?;
        // The served fit is gone; its history goes too, before the evaluation's fit.
        let mut split = inputs.split;
        split.full = History::new(&[]);
        let judge = Judge {
            params: &params,
            stages: &stages,
            attributes: &attributes,
            categories: &inputs.categories,
        };
        let (evaluation, test_users) = judge.evaluate(&split, evaluation_users, &lap)?;
        let split = export.then(|| split_batches(&split));
        Ok((list, neighbours, evaluation, split, (sizes, test_users)))
    };
    let (list, neighbours, evaluation, split, ((users, items), test_users)) =
        super::blocking("recommendations", work).await??;
    let rows = run.out.batch(Table::Recommendations, list).await?;
    let metrics = metrics_batch(&evaluation.runs, t0);
    run.out.batch(Table::RecommendationMetrics, metrics).await?;
    if let Some(n) = neighbours {
        run.out.batch(Table::ItemNeighbours, n).await?;
    }
    if let Some((train, test)) = split {
        run.out.batch(Table::RecommendationTrain, train).await?;
        run.out.batch(Table::RecommendationTest, test).await?;
    }
    run.models.recommendations = Some(RecommendationReport {
        users_with_history: users,
        items,
        test_start: t0.date_naive(),
        test_users,
        evaluated_users: evaluation.test_users,
        k: r.n,
        evaluation: evaluation
            .runs
            .into_iter()
            .map(|(algorithm, metrics)| AlgorithmEvaluation { algorithm, metrics })
            .collect(),
    });
    Ok(Some(rows))
}

/// What serving every user needs.
struct Served<'a> {
    params: &'a ServeParams,
    inputs: &'a Inputs,
    stages: &'a HashMap<String, String>,
    attributes: &'a HashMap<String, Vec<String>>,
}

impl Served<'_> {
    /// Fits on the whole history and lists every user: the `recommendations` batch, and the
    /// `item_neighbours` batch when asked for. The fit is dropped on return.
    fn lists(
        &self,
        write_neighbours: bool,
        lap: &impl Fn(&str),
    ) -> Result<(RecordBatch, Option<RecordBatch>)> {
        let history = &self.inputs.split.full;
        let fitted = self
            .params
            .fit(history, self.stages, self.attributes)
            .map_err(RunError::model("recommendations"))?;
        lap("fitted");
        let category = history.category_index(&self.inputs.categories);
        let asked: Vec<(&str, Option<&str>)> = self
            .inputs
            .users
            .iter()
            .map(|(id, stage)| (id.as_str(), Some(stage.as_str())))
            .collect();
        let lists = fitted.lists(&asked, &category);
        lap("listed");
        let list = list_batch(&self.inputs.users, &lists, history);
        let neighbours = match (&fitted.knn, write_neighbours) {
            (Some(knn), true) => Some(neighbours_batch(history, knn)),
            _ => None,
        };
        Ok((list, neighbours))
    }
}

/// What the offline evaluation needs besides the split.
struct Judge<'a> {
    params: &'a ServeParams,
    stages: &'a HashMap<String, String>,
    attributes: &'a HashMap<String, Vec<String>>,
    categories: &'a HashMap<String, String>,
}

impl Judge<'_> {
    /// Fits on the training split and judges at most `users` of its test users: the
    /// evaluation, and how many test users there were.
    fn evaluate(
        &self,
        split: &Split,
        users: usize,
        lap: &impl Fn(&str),
    ) -> Result<(Evaluation, usize)> {
        let trained = self
            .params
            .fit(&split.train, self.stages, self.attributes)
            .map_err(RunError::model("recommendations"))?;
        lap("fitted on the training split");
        let category = split.train.category_index(self.categories);
        let relevant = split.relevant_in_train();
        let test_users = relevant.len();
        let judged = sample(relevant, &split.train, users);
        let evaluation = trained.evaluate(self.stages, &judged, &category);
        lap("evaluated");
        Ok((evaluation, test_users))
    }
}

/// At most `n` of the test users (`relevant`'s keys, by `train`'s user index): those whose id
/// has the smallest FNV-1a hash (ties: the lower id). The same users whatever order they come
/// in, run after run; every test user when there are no more than `n`.
fn sample(
    mut relevant: HashMap<u32, HashSet<u32>>,
    train: &History,
    n: usize,
) -> HashMap<u32, HashSet<u32>> {
    if relevant.len() <= n {
        return relevant;
    }
    let mut users: Vec<(u32, u32)> = relevant
        .keys()
        .map(|u| (fnv1a32(train.inter.user_id(*u)), *u))
        .collect();
    // User indices follow the ids' order, so the index breaks ties as the id would.
    users.select_nth_unstable(n - 1);
    users.truncate(n);
    users
        .into_iter()
        .map(|(_, u)| (u, relevant.remove(&u).expect("a test user")))
        .collect()
}

/// The spec's `[recommendations]` as serving settings.
fn serve_params(r: &RecommendationSettings) -> ServeParams {
    let a = &r.als;
    ServeParams {
        weights: r
            .algorithms
            .iter()
            .filter(|(_, w)| **w > 0.0)
            .map(|(k, v)| (*k, *v as f32))
            .collect::<BTreeMap<_, _>>(),
        item_knn: ItemKnnParams {
            neighbours: r.neighbours,
            similarity: match r.similarity {
                lifecycle_spec::Similarity::Bm25 => Similarity::Bm25 { k1: 100.0, b: 0.8 },
                lifecycle_spec::Similarity::Cosine => Similarity::Cosine,
            },
        },
        als: AlsParams {
            factors: a.factors,
            regularization: a.regularization as f32,
            alpha: a.alpha as f32,
            iterations: a.iterations,
            cg_steps: a.cg_steps,
            seed: a.seed,
            track_loss: true,
        },
        n: r.n,
        exclude_purchased: r.exclude_purchased,
        allow: r.allow.clone(),
        deny: r.deny.clone(),
        per_category: r.per_category,
    }
}

/// The users and stages, item categories, interactions up to the cutoff and up to `t0`, and
/// the test period's relevant items.
async fn read(run: &Run<'_>, q: Query<'_>, t0: DateTime<Utc>) -> Result<Inputs> {
    let mut users = vec![];
    for b in &q.collect(interactions::user_stages_sql()).await? {
        let (u, s) = (q.texts(b, 0)?, q.texts(b, 1)?);
        users.extend(
            u.into_iter()
                .zip(s)
                .map(|(u, s)| (u.unwrap_or_default(), s.unwrap_or_default())),
        );
    }
    let mut categories = HashMap::new();
    if run.spec.items.is_some() {
        for b in &q.collect(interactions::item_categories_sql()).await? {
            let (i, c) = (q.texts(b, 0)?, q.texts(b, 1)?);
            for (i, c) in i.into_iter().zip(c) {
                if let (Some(i), Some(c)) = (i, c) {
                    categories.insert(i, c);
                }
            }
        }
    }
    let r = &run.spec.recommendations;
    let sql = interactions::interactions_sql(r, &run.spec.purchase_types, run.cutoff, t0);
    let clock = std::time::Instant::now();
    let batches = q.collect(&sql).await?;
    let batches = batches
        .iter()
        .map(|b| with_text_views(b, &[0, 1]))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| RunError::engine("recommendation inputs")(e.into()))?;
    let queried = clock.elapsed().as_secs_f64();
    let split = Split::from_rows(batches.iter().flat_map(rows_of));
    let seconds = clock.elapsed().as_secs_f64();
    tracing::debug!(queried, seconds, "recommendations: interactions read");
    Ok(Inputs {
        users,
        categories,
        split,
    })
}

/// A batch of `interactions_sql` (ids as views) as borrowed rows: each history's
/// `(weight, purchases)` where the pair has a weight in that history's window, and whether it
/// is a test-period pair.
fn rows_of(b: &RecordBatch) -> impl Iterator<Item = SplitRow<'_>> {
    let (u, i) = (b.column(0).as_string_view(), b.column(1).as_string_view());
    let float = |k: usize| b.column(k).as_primitive::<Float64Type>();
    let (full, train) = ((float(2), float(3)), (float(4), float(5)));
    let recent = b.column(6).as_boolean();
    (0..b.num_rows()).map(move |k| SplitRow {
        user: u.value(k),
        item: i.value(k),
        full: weights(full, k),
        train: weights(train, k),
        relevant: recent.is_valid(k) && recent.value(k),
    })
}

/// A history's weights of row `k` from its `(weight, purchases)` columns: none without a
/// weight (no event in that history's window); no purchases read as 0.
fn weights((w, p): (&Float64Array, &Float64Array), k: usize) -> Option<Weights> {
    w.is_valid(k).then(|| Weights {
        weight: w.value(k) as f32,
        purchases: if p.is_valid(k) {
            p.value(k) as f32
        } else {
            0.0
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use lifecycle_recommend::serve::InteractionRow;

    use super::*;

    #[test]
    fn the_evaluation_sample_is_the_smallest_id_hashes() {
        let rows: Vec<InteractionRow> = (0..50)
            .map(|k| InteractionRow {
                user: format!("u{k}"),
                item: "x".into(),
                weight: 1.0,
                purchases: 0.0,
            })
            .collect();
        let h = History::new(&rows);
        let relevant: HashMap<u32, HashSet<u32>> =
            (0..50u32).map(|u| (u, HashSet::from([u]))).collect();
        let got = sample(relevant.clone(), &h, 7);
        let mut by_hash: Vec<(u32, &str)> = (0..50)
            .map(|u| h.inter.user_id(u))
            .map(|id| (fnv1a32(id), id))
            .collect();
        by_hash.sort();
        let want: BTreeSet<&str> = by_hash[..7].iter().map(|(_, id)| *id).collect();
        let ids: BTreeSet<&str> = got.keys().map(|u| h.inter.user_id(*u)).collect();
        assert_eq!(ids, want);
        assert!(got.iter().all(|(u, items)| *items == relevant[u]));
        assert_eq!(sample(relevant.clone(), &h, 50), relevant, "all of them");
    }
}
