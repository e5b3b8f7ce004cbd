//! The recommendation outputs as Arrow tables: `recommendations`, `recommendation_metrics`,
//! `item_neighbours` and the exported evaluation split.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_recommend::item_knn::ItemKnn;
use lifecycle_recommend::metrics::RankingMetrics;
use lifecycle_recommend::serve::{History, Pick};
use lifecycle_recommend::split::Split;

use crate::churn_tables::days_since_epoch;

fn batch(
    fields: Vec<Field>,
    columns: Vec<Arc<dyn datafusion::arrow::array::Array>>,
) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}

/// `recommendations`: user_id, rank, item_id, score, algorithm, reason.
pub(crate) fn list_batch(
    users: &[(String, String)],
    lists: &[Vec<Pick>],
    h: &History,
) -> RecordBatch {
    let (mut uid, mut rank, mut item, mut score, mut algo, mut why) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for ((id, _), picks) in users.iter().zip(lists) {
        for (k, p) in picks.iter().enumerate() {
            uid.push(id.as_str());
            rank.push(k as i32 + 1);
            item.push(h.inter.item_id(p.item));
            score.push(p.score as f64);
            algo.push(p.algorithm.name());
            why.push(p.reason.as_str());
        }
    }
    batch(
        vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("rank", DataType::Int32, false),
            Field::new("item_id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
        ],
        vec![
            Arc::new(StringArray::from(uid)),
            Arc::new(Int32Array::from(rank)),
            Arc::new(StringArray::from(item)),
            Arc::new(Float64Array::from(score)),
            Arc::new(StringArray::from(algo)),
            Arc::new(StringArray::from(why)),
        ],
    )
}

/// `recommendation_train` (every training interaction, in matrix order) and
/// `recommendation_test` (the relevant (user, item) pairs, sorted).
pub(crate) fn split_batches(split: &Split) -> (RecordBatch, RecordBatch) {
    let train = &split.train;
    let m = &train.inter.matrix;
    let (mut tu, mut ti, mut tw) = (vec![], vec![], vec![]);
    for u in 0..m.rows {
        let (items, weights) = m.row(u);
        for (i, w) in items.iter().zip(weights) {
            tu.push(train.inter.user_id(u as u32));
            ti.push(train.inter.item_id(*i));
            tw.push(*w as f64);
        }
    }
    let pairs: Vec<(&str, &str)> = split.relevant_pairs().collect();
    let text = |f: &str| Field::new(f, DataType::Utf8, false);
    let train = batch(
        vec![
            text("user_id"),
            text("item_id"),
            Field::new("weight", DataType::Float64, false),
        ],
        vec![
            Arc::new(StringArray::from(tu)),
            Arc::new(StringArray::from(ti)),
            Arc::new(Float64Array::from(tw)),
        ],
    );
    let test = batch(
        vec![text("user_id"), text("item_id")],
        vec![
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| p.0))),
            Arc::new(StringArray::from_iter_values(pairs.iter().map(|p| p.1))),
        ],
    );
    (train, test)
}

/// `item_neighbours`: item_id, neighbour_id, score.
pub(crate) fn neighbours_batch(h: &History, knn: &ItemKnn) -> RecordBatch {
    let (mut a, mut b, mut s) = (vec![], vec![], vec![]);
    for (i, list) in knn.neighbours.iter().enumerate() {
        for (j, sim) in list {
            a.push(h.inter.item_id(i as u32));
            b.push(h.inter.item_id(*j));
            s.push(*sim as f64);
        }
    }
    batch(
        vec![
            Field::new("item_id", DataType::Utf8, false),
            Field::new("neighbour_id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
        ],
        vec![
            Arc::new(StringArray::from(a)),
            Arc::new(StringArray::from(b)),
            Arc::new(Float64Array::from(s)),
        ],
    )
}

/// `recommendation_metrics`: algorithm, k, test_start, metric, value.
pub(crate) fn metrics_batch(
    evaluations: &[(String, RankingMetrics)],
    t0: DateTime<Utc>,
) -> RecordBatch {
    let day = days_since_epoch(t0.date_naive());
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
    batch(
        vec![
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("k", DataType::Int32, false),
            Field::new("test_start", DataType::Date32, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ],
        vec![
            Arc::new(StringArray::from(algo)),
            Arc::new(Int32Array::from(k)),
            Arc::new(Date32Array::from(vec![day; n])),
            Arc::new(StringArray::from(metric)),
            Arc::new(Float64Array::from(value)),
        ],
    )
}
