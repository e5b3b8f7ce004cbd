//! The recommendations step: interactions from SQL (`lifecycle_features::interactions`), the
//! algorithms of `lifecycle-recommend` fitted on this process with rayon (one row per user and
//! item touched is small next to the events), a blended and rule-checked list for every user in
//! `user_segments`, and an offline evaluation on a time split.
//!
//! Users with history get the blend of the enabled algorithms; when the blend runs short, and
//! for users without history (cold start), the popularity of their lifecycle stage fills the
//! list, then global popularity; the `reason` column says which.
//!
//! Evaluation: every algorithm alone, the blend and the popularity baseline are fitted on the
//! interactions before `T0 = cutoff − test_days` and judged on the items each user touched in
//! `[T0, cutoff)` (users with history before `T0` only), at `k = n`, with the same rules as the
//! served lists.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use datafusion::arrow::array::{
    Array, AsArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::prelude::SessionContext;
use lifecycle_recommend::als::{Als, AlsParams};
use lifecycle_recommend::blend::{Rules, Source, apply_rules, blend};
use lifecycle_recommend::content::Content;
use lifecycle_recommend::interactions::{Event, InteractionsBuilder};
use lifecycle_recommend::item_knn::{ItemKnn, ItemKnnParams, Similarity};
use lifecycle_recommend::metrics::{RankingMetrics, evaluate};
use lifecycle_recommend::popularity::Popularity;
use lifecycle_recommend::{Csr, Interactions};
use lifecycle_spec::{RecommendationSettings, ValidJobSpec};
use rayon::prelude::*;
use serde_json::json;

use crate::{Result, RunError};

/// What the step produced.
pub(crate) struct Recommendations {
    pub list: RecordBatch,
    pub neighbours: Option<RecordBatch>,
    /// `recommendation_train` and `recommendation_test`, with `export_split`.
    pub split: Option<(RecordBatch, RecordBatch)>,
    pub metrics: RecordBatch,
    pub report: serde_json::Value,
}

/// Interactions with the decayed purchase counts on the same indices.
struct Data {
    inter: Interactions,
    bought: Csr,
}

async fn collect(ctx: &SessionContext, step: &'static str, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql)
        .await
        .map_err(RunError::engine(step))?
        .collect()
        .await
        .map_err(RunError::engine(step))
}

async fn load(ctx: &SessionContext, spec: &ValidJobSpec, end: DateTime<Utc>) -> Result<Data> {
    let r = &spec.recommendations;
    let sql = lifecycle_features::interactions::interactions_sql(r, &spec.purchase_types, end);
    let batches = collect(ctx, "recommendation interactions", &sql).await?;
    let mut rows: Vec<(String, String, f32, f32)> = vec![];
    for b in &batches {
        let (u, i) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        let w = b.column(2).as_primitive::<Float64Type>();
        let p = b.column(3).as_primitive::<Float64Type>();
        for k in 0..b.num_rows() {
            rows.push((
                u.value(k).into(),
                i.value(k).into(),
                w.value(k) as f32,
                p.value(k) as f32,
            ));
        }
    }
    let inter = InteractionsBuilder::new(None)
        .extend(rows.iter().map(|(u, i, w, _)| Event {
            user: u,
            item: i,
            weight: *w,
            age_days: 0.0,
        }))
        .build();
    let bought = Csr::from_triples(
        inter.users(),
        inter.items(),
        rows.iter()
            .filter(|r| r.3 > 0.0)
            .map(|(u, i, _, p)| {
                (
                    inter.user_index(u).expect("indexed"),
                    inter.item_index(i).expect("indexed"),
                    *p,
                )
            })
            .collect(),
    );
    Ok(Data { inter, bought })
}

/// The fitted algorithms over one [`Data`].
struct Fitted<'a> {
    data: &'a Data,
    weights: BTreeMap<String, f32>,
    knn: Option<ItemKnn>,
    als: Option<Als>,
    content: Option<Content>,
    popular: Popularity,
    popular_by_stage: BTreeMap<String, Popularity>,
    /// Per user index: the stage (for per-segment popularity).
    stage_of: Vec<Option<String>>,
}

const REASONS: [(&str, &str); 5] = [
    ("item_item", "similar to items you engaged with"),
    ("als", "liked by people with tastes like yours"),
    ("buy_again", "you bought it before"),
    ("content", "matches the categories you like"),
    ("popularity", "popular right now"),
];

fn reason(algorithm: &str) -> &'static str {
    REASONS
        .iter()
        .find(|r| r.0 == algorithm)
        .map_or("", |r| r.1)
}

fn fit<'a>(
    r: &RecommendationSettings,
    data: &'a Data,
    stages: &HashMap<String, String>,
    attributes: Option<&HashMap<String, Vec<String>>>,
) -> Result<Fitted<'a>> {
    let fit_error = |e: lifecycle_recommend::RecommendError| RunError::Recommend { source: e };
    let weights: BTreeMap<String, f32> = r
        .algorithms
        .iter()
        .filter(|(_, w)| **w > 0.0)
        .map(|(k, v)| (k.clone(), *v as f32))
        .collect();
    let m = &data.inter.matrix;
    let knn = weights
        .contains_key("item_item")
        .then(|| {
            ItemKnnParams {
                neighbours: r.neighbours,
                similarity: if r.similarity == "bm25" {
                    Similarity::Bm25 { k1: 100.0, b: 0.8 }
                } else {
                    Similarity::Cosine
                },
            }
            .fit(m)
        })
        .transpose()
        .map_err(fit_error)?;
    let als = weights
        .contains_key("als")
        .then(|| {
            let a = &r.als;
            AlsParams {
                factors: a.factors,
                regularization: a.regularization as f32,
                alpha: a.alpha as f32,
                iterations: a.iterations,
                cg_steps: a.cg_steps,
                seed: a.seed,
                track_loss: true,
            }
            .fit(m)
        })
        .transpose()
        .map_err(fit_error)?;
    let content = match (weights.contains_key("content"), attributes) {
        (true, Some(attrs)) => Some(Content::new(
            &(0..data.inter.items() as u32)
                .map(|i| {
                    attrs
                        .get(data.inter.item_id(i))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>(),
        )),
        _ => None,
    };
    let stage_of: Vec<Option<String>> = (0..data.inter.users() as u32)
        .map(|u| stages.get(data.inter.user_id(u)).cloned())
        .collect();
    Ok(Fitted {
        data,
        popular: Popularity::global(m),
        popular_by_stage: Popularity::by_segment(m, &stage_of),
        stage_of,
        weights,
        knn,
        als,
        content,
    })
}

/// One user's list entry.
struct Pick {
    item: u32,
    score: f32,
    algorithm: String,
    reason: String,
}

impl Fitted<'_> {
    /// The user's list: the blend for a user with history, then popularity to fill it.
    fn list(
        &self,
        user: Option<u32>,
        stage: Option<&str>,
        rules: &Rules,
        category: &HashMap<u32, String>,
    ) -> Vec<Pick> {
        let m = &self.data.inter.matrix;
        let mut picks: Vec<Pick> = vec![];
        if let Some(u) = user {
            let (items, weights) = m.row(u as usize);
            let mut owned: Vec<(String, Vec<f32>)> = vec![];
            for name in self.weights.keys() {
                let scores = match name.as_str() {
                    "item_item" => self.knn.as_ref().map(|k| k.scores(items, weights)),
                    "als" => self.als.as_ref().map(|a| a.scores(u)),
                    "content" => self.content.as_ref().map(|c| c.scores(items, weights)),
                    "buy_again" => {
                        let mut s = vec![0f32; m.cols];
                        let (bi, bw) = self.data.bought.row(u as usize);
                        bi.iter().zip(bw).for_each(|(i, w)| s[*i as usize] = *w);
                        Some(s)
                    }
                    "popularity" => Some(self.popularity(Some(u), stage).users_per_item.clone()),
                    _ => None,
                };
                if let Some(s) = scores {
                    owned.push((name.clone(), s));
                }
            }
            let sources: Vec<Source> = owned
                .iter()
                .map(|(name, s)| Source {
                    name,
                    weight: self.weights[name],
                    scores: s,
                })
                .collect();
            for c in apply_rules(blend(&sources), |c| c.item, rules, category) {
                picks.push(Pick {
                    item: c.item,
                    score: c.score,
                    reason: reason(&c.algorithm).to_string(),
                    algorithm: c.algorithm,
                });
            }
        }
        if picks.len() < rules.n {
            // Fill up from popularity: the user's stage first, then everyone. The rules run
            // again over the whole list, so the category limit counts the blend's picks too.
            let mut sources: Vec<(&Popularity, String)> = vec![];
            if let Some((p, s)) = stage.and_then(|s| self.popular_by_stage.get(s).map(|p| (p, s))) {
                sources.push((p, format!("fallback: popular with {s} users")));
            }
            sources.push((&self.popular, "fallback: popular overall".to_string()));
            let mut seen: HashSet<u32> = picks.iter().map(|p| p.item).collect();
            for (pop, why) in sources {
                let ranked = lifecycle_recommend::top_n(&pop.users_per_item, m.cols, |i| {
                    pop.users_per_item[i as usize] <= 0.0
                });
                for s in ranked {
                    if seen.insert(s.item) {
                        picks.push(Pick {
                            item: s.item,
                            score: s.score,
                            algorithm: "popularity".into(),
                            reason: why.clone(),
                        });
                    }
                }
            }
            picks = apply_rules(picks, |p| p.item, rules, category);
        }
        picks
    }

    fn popularity(&self, user: Option<u32>, stage: Option<&str>) -> &Popularity {
        let stage = stage.or_else(|| user.and_then(|u| self.stage_of[u as usize].as_deref()));
        stage
            .and_then(|s| self.popular_by_stage.get(s))
            .unwrap_or(&self.popular)
    }
}

/// The rules for one user: the spec's lists mapped to item indices, and their purchases.
fn rules_for(r: &RecommendationSettings, data: &Data, user: Option<u32>) -> Rules {
    let index = |ids: &[String]| -> HashSet<u32> {
        ids.iter()
            .filter_map(|i| data.inter.item_index(i))
            .collect()
    };
    let mut allow = index(&r.allow);
    if !r.allow.is_empty() && allow.is_empty() {
        // Allowed items nobody interacted with: nothing can be recommended.
        allow.insert(u32::MAX);
    }
    Rules {
        exclude: match (r.exclude_purchased, user) {
            (true, Some(u)) => data.bought.row(u as usize).0.iter().copied().collect(),
            _ => HashSet::new(),
        },
        allow,
        deny: index(&r.deny),
        per_category: r.per_category,
        n: r.n,
    }
}

async fn stages(ctx: &SessionContext) -> Result<Vec<(String, String)>> {
    let batches = collect(
        ctx,
        "recommendation users",
        "SELECT user_id, stage FROM user_segments ORDER BY user_id",
    )
    .await?;
    let mut out = vec![];
    for b in &batches {
        let (u, s) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for k in 0..b.num_rows() {
            out.push((u.value(k).to_string(), s.value(k).to_string()));
        }
    }
    Ok(out)
}

/// Item attributes (`category=...`) and categories, from `[items]` when it has a category.
async fn categories(ctx: &SessionContext, spec: &ValidJobSpec) -> Result<HashMap<String, String>> {
    if spec.items.is_none() {
        return Ok(HashMap::new());
    }
    let batches = collect(
        ctx,
        "item categories",
        "SELECT CAST(item_id AS VARCHAR), CAST(category AS VARCHAR) FROM items_mapped WHERE category IS NOT NULL",
    )
    .await?;
    let mut out = HashMap::new();
    for b in &batches {
        let (i, c) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for k in 0..b.num_rows() {
            if i.is_valid(k) {
                out.insert(i.value(k).to_string(), c.value(k).to_string());
            }
        }
    }
    Ok(out)
}

fn category_index(data: &Data, cats: &HashMap<String, String>) -> HashMap<u32, String> {
    (0..data.inter.items() as u32)
        .filter_map(|i| cats.get(data.inter.item_id(i)).map(|c| (i, c.clone())))
        .collect()
}

pub(crate) async fn recommendations(
    ctx: &SessionContext,
    spec: &ValidJobSpec,
    cutoff: DateTime<Utc>,
) -> Result<Recommendations> {
    let r = spec.recommendations.clone();
    let users = stages(ctx).await?;
    let stage_map: HashMap<String, String> = users.iter().cloned().collect();
    let cats = categories(ctx, spec).await?;
    let attributes: HashMap<String, Vec<String>> = cats
        .iter()
        .map(|(i, c)| (i.clone(), vec![format!("category={c}")]))
        .collect();
    let data = load(ctx, spec, cutoff).await?;
    let t0 = cutoff - Duration::days(r.test_days as i64);
    let train = load(ctx, spec, t0).await?;
    let relevant_batches = collect(
        ctx,
        "recommendation test set",
        &lifecycle_features::interactions::relevant_sql(&r, t0, cutoff),
    )
    .await?;
    let mut relevant: HashMap<String, HashSet<String>> = HashMap::new();
    for b in &relevant_batches {
        let (u, i) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for k in 0..b.num_rows() {
            relevant
                .entry(u.value(k).to_string())
                .or_default()
                .insert(i.value(k).to_string());
        }
    }

    let train_export: Vec<(String, String, f32)> = if r.export_split {
        let m = &train.inter.matrix;
        (0..m.rows)
            .flat_map(|u| {
                let (items, weights) = m.row(u);
                items
                    .iter()
                    .zip(weights)
                    .map(|(i, w)| {
                        (
                            train.inter.user_id(u as u32).to_string(),
                            train.inter.item_id(*i).to_string(),
                            *w,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        vec![]
    };
    let relevant_export: Vec<(String, String)> = if r.export_split {
        let mut v: Vec<(String, String)> = relevant
            .iter()
            .flat_map(|(u, items)| items.iter().map(|i| (u.clone(), i.clone())))
            .collect();
        v.sort();
        v
    } else {
        vec![]
    };
    let out = tokio::task::spawn_blocking(move || -> Result<_> {
        // Serving lists for every user.
        let fitted = fit(&r, &data, &stage_map, Some(&attributes))?;
        let category = category_index(&data, &cats);
        let lists: Vec<Vec<Pick>> = users
            .par_iter()
            .map(|(id, stage)| {
                let u = data.inter.user_index(id);
                fitted.list(u, Some(stage), &rules_for(&r, &data, u), &category)
            })
            .collect();
        let neighbours = match (&fitted.knn, r.write_neighbours) {
            (Some(knn), true) => Some(neighbours_batch(&data, knn)),
            _ => None,
        };
        let list = list_batch(&users, &lists, &data);
        // Offline evaluation on the time split.
        let train_category = category_index(&train, &cats);
        let test_users: Vec<(String, u32)> = relevant
            .keys()
            .filter_map(|id| train.inter.user_index(id).map(|u| (id.clone(), u)))
            .collect();
        // One fit on the training interactions; each algorithm alone, popularity (the
        // baseline) and the blend rank the same test users.
        let mut trained = fit(&r, &train, &stage_map, Some(&attributes))?;
        let blend_weights = trained.weights.clone();
        let mut runs: Vec<(String, BTreeMap<String, f32>)> = blend_weights
            .keys()
            .map(|n| (n.clone(), [(n.clone(), 1.0)].into_iter().collect()))
            .collect();
        if !blend_weights.contains_key("popularity") {
            runs.push((
                "popularity".into(),
                [("popularity".to_string(), 1.0)].into_iter().collect(),
            ));
        }
        runs.push(("blend".into(), blend_weights));
        let mut evaluations: Vec<(String, RankingMetrics)> = vec![];
        for (name, weights) in runs {
            trained.weights = weights;
            let f = &trained;
            let recommended: HashMap<String, Vec<String>> = test_users
                .par_iter()
                .map(|(id, u)| {
                    let picks = f.list(
                        Some(*u),
                        stage_map.get(id).map(String::as_str),
                        &rules_for(&r, &train, Some(*u)),
                        &train_category,
                    );
                    let items = picks
                        .iter()
                        .map(|p| train.inter.item_id(p.item).to_string());
                    (id.clone(), items.collect())
                })
                .collect();
            evaluations.push((
                name,
                evaluate(&recommended, &relevant, r.n, Some(train.inter.items())),
            ));
        }
        Ok((
            list,
            neighbours,
            evaluations,
            data.inter.users(),
            data.inter.items(),
            test_users.len(),
        ))
    })
    .await
    .expect("the recommendation step does not panic")?;
    let (list, neighbours, evaluations, users_with_history, items, test_users) = out;
    let metrics = metrics_batch(&evaluations, t0);
    let split = spec
        .recommendations
        .export_split
        .then(|| split_batches(&train_export, &relevant_export));
    let report = json!({
        "users_with_history": users_with_history,
        "items": items,
        "test_start": t0.date_naive(),
        "test_users": test_users,
        "k": spec.recommendations.n,
        "evaluation": evaluations.iter().map(|(name, m)| json!({"algorithm": name, "metrics": m})).collect::<Vec<_>>(),
    });
    Ok(Recommendations {
        list,
        neighbours,
        split,
        metrics,
        report,
    })
}

fn list_batch(users: &[(String, String)], lists: &[Vec<Pick>], data: &Data) -> RecordBatch {
    let (mut uid, mut rank, mut item, mut score, mut algo, mut why) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for ((id, _), picks) in users.iter().zip(lists) {
        for (k, p) in picks.iter().enumerate() {
            uid.push(id.as_str());
            rank.push(k as i32 + 1);
            item.push(data.inter.item_id(p.item));
            score.push(p.score as f64);
            algo.push(p.algorithm.as_str());
            why.push(p.reason.as_str());
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("rank", DataType::Int32, false),
            Field::new("item_id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from(uid)),
            Arc::new(Int32Array::from(rank)),
            Arc::new(StringArray::from(item)),
            Arc::new(Float64Array::from(score)),
            Arc::new(StringArray::from(algo)),
            Arc::new(StringArray::from(why)),
        ],
    )
    .expect("columns match the schema")
}

fn split_batches(
    train: &[(String, String, f32)],
    test: &[(String, String)],
) -> (RecordBatch, RecordBatch) {
    let train = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("item_id", DataType::Utf8, false),
            Field::new("weight", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(
                train.iter().map(|t| t.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                train.iter().map(|t| t.1.as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(
                train.iter().map(|t| t.2 as f64),
            )),
        ],
    )
    .expect("columns match the schema");
    let test = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("item_id", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(
                test.iter().map(|t| t.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                test.iter().map(|t| t.1.as_str()),
            )),
        ],
    )
    .expect("columns match the schema");
    (train, test)
}

fn neighbours_batch(data: &Data, knn: &ItemKnn) -> RecordBatch {
    let (mut a, mut b, mut s) = (vec![], vec![], vec![]);
    for (i, list) in knn.neighbours.iter().enumerate() {
        for (j, sim) in list {
            a.push(data.inter.item_id(i as u32));
            b.push(data.inter.item_id(*j));
            s.push(*sim as f64);
        }
    }
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("item_id", DataType::Utf8, false),
            Field::new("neighbour_id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from(a)),
            Arc::new(StringArray::from(b)),
            Arc::new(Float64Array::from(s)),
        ],
    )
    .expect("columns match the schema")
}

/// `recommendation_metrics`: algorithm, k, test_start, metric, value.
fn metrics_batch(evaluations: &[(String, RankingMetrics)], t0: DateTime<Utc>) -> RecordBatch {
    let day = (t0.date_naive() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"))
        .num_days() as i32;
    let (mut algo, mut k, mut metric, mut value) = (vec![], vec![], vec![], vec![]);
    for (name, m) in evaluations {
        for (key, v) in [
            ("users", Some(m.users as f64)),
            ("precision", Some(m.precision)),
            ("recall", Some(m.recall)),
            ("ndcg", Some(m.ndcg)),
            ("map", Some(m.map)),
            ("coverage", m.coverage),
        ] {
            algo.push(name.as_str());
            k.push(m.k as i32);
            metric.push(key);
            value.push(v);
        }
    }
    let n = algo.len();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("k", DataType::Int32, false),
            Field::new("test_start", DataType::Date32, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ])),
        vec![
            Arc::new(StringArray::from(algo)),
            Arc::new(Int32Array::from(k)),
            Arc::new(Date32Array::from(vec![day; n])),
            Arc::new(StringArray::from(metric)),
            Arc::new(Float64Array::from(value)),
        ],
    )
    .expect("columns match the schema")
}
