//! Offline ranking metrics, with the conventions of `../shared/reference/ranking.md` (the
//! Microsoft `recommenders` package's defaults), checked against its fixture:
//!
//! - Users: those with both a recommendation list and at least one relevant item; each
//!   metric is the plain mean over them.
//! - Relevance is binary: an item is relevant if the user interacted with it in the test period.
//! - precision@k = hits in the top k / **k** (even when the list is shorter than k).
//! - recall@k = hits in the top k / number of relevant items.
//! - NDCG@k: gain 1 per hit at rank r, discount 1/log2(1 + r); the ideal puts the relevant items
//!   at ranks 1..min(relevant, k).
//! - MAP@k = Σ over hits at rank r of (hits so far / r), divided by **min(relevant, k)** (as
//!   Spark does).
//! - Item coverage: distinct items recommended (in the top k) over the catalogue size.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// The metrics of one evaluation at `k`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RankingMetrics {
    pub k: usize,
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    /// `None` when no catalogue size was given.
    pub coverage: Option<f64>,
}

/// Evaluates ranked lists (best first) against the relevant sets. `catalogue` is the number of
/// items that could have been recommended, for coverage. Users are summed in id order, so the
/// same lists always give the same bits.
pub fn evaluate<U: Eq + Hash + Ord, I: Eq + Hash + Clone>(
    recommended: &HashMap<U, Vec<I>>,
    relevant: &HashMap<U, HashSet<I>>,
    k: usize,
    catalogue: Option<usize>,
) -> RankingMetrics {
    let (mut n, mut p, mut r, mut nd, mut ap) = (0usize, 0.0, 0.0, 0.0, 0.0);
    let mut shown: HashSet<I> = HashSet::new();
    let mut users: Vec<(&U, &Vec<I>)> = recommended.iter().collect();
    users.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (user, list) in users {
        shown.extend(list.iter().take(k).cloned());
        let Some(truth) = relevant.get(user).filter(|t| !t.is_empty()) else {
            continue;
        };
        n += 1;
        let (mut hits, mut dcg, mut prec_sum) = (0usize, 0.0, 0.0);
        for (rank0, item) in list.iter().take(k).enumerate() {
            if truth.contains(item) {
                hits += 1;
                let rank = (rank0 + 1) as f64;
                dcg += 1.0 / (1.0 + rank).log2();
                prec_sum += hits as f64 / rank;
            }
        }
        let ideal: f64 = (1..=truth.len().min(k))
            .map(|rank| 1.0 / (1.0 + rank as f64).log2())
            .sum();
        p += hits as f64 / k as f64;
        r += hits as f64 / truth.len() as f64;
        nd += dcg / ideal;
        ap += prec_sum / truth.len().min(k) as f64;
    }
    let mean = |v: f64| if n > 0 { v / n as f64 } else { 0.0 };
    RankingMetrics {
        k,
        users: n,
        precision: mean(p),
        recall: mean(r),
        ndcg: mean(nd),
        map: mean(ap),
        coverage: catalogue.map(|c| shown.len() as f64 / c.max(1) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `../shared/reference/ranking_fixture`, loaded from its CSVs when present, else the same
    /// rows inline (the fixture is read-only reference data beside the repository).
    fn fixture() -> (HashMap<u32, Vec<u32>>, HashMap<u32, HashSet<u32>>) {
        // Read at run time: a path baked in at compile time is another checkout's when checkouts
        // share the target dir.
        let dir = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("../../../shared/reference/ranking_fixture");
        let read = |name: &str, inline: &str| {
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|_| inline.to_string())
        };
        let parse = |text: String| -> Vec<(u32, u32, f64)> {
            text.lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (
                        f[0].parse().unwrap(),
                        f[1].parse().unwrap(),
                        f[2].parse().unwrap(),
                    )
                })
                .collect()
        };
        let truth = parse(read("rating_true.csv", TRUE));
        let pred = parse(read("rating_pred.csv", PRED));
        let mut relevant: HashMap<u32, HashSet<u32>> = HashMap::new();
        for (u, i, _) in truth {
            relevant.entry(u).or_default().insert(i);
        }
        let mut scored: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
        for (u, i, s) in pred {
            scored.entry(u).or_default().push((i, s));
        }
        let recommended = scored
            .into_iter()
            .map(|(u, mut v)| {
                // Descending score; a stable sort keeps first occurrence on ties.
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                (u, v.into_iter().map(|(i, _)| i).collect())
            })
            .collect();
        (recommended, relevant)
    }

    const TRUE: &str = "user,item,rating\n1,3,3\n2,1,5\n2,4,5\n2,5,3\n2,6,3\n2,7,1\n3,2,5\n3,5,5\n3,6,5\n3,8,4\n3,9,4\n3,10,3\n3,11,3\n3,12,3\n3,13,2\n3,14,1\n1,1,5\n1,2,4\n";
    const PRED: &str = "user,item,prediction\n1,12,12\n2,10,14\n2,3,13\n2,5,12\n2,11,11\n2,13,10\n3,4,14\n3,10,13\n3,7,12\n3,13,11\n3,1,10\n3,3,9\n3,5,8\n3,2,7\n3,11,6\n3,14,5\n1,3,14\n1,10,13\n";

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1e-9), "{a} vs {b}");
    }

    #[test]
    fn matches_the_recommenders_fixture() {
        let (rec, rel) = fixture();
        let m = evaluate(&rec, &rel, 10, None);
        assert_eq!(m.users, 3);
        close(m.precision, 0.26666);
        close(m.recall, 0.37777);
        close(m.ndcg, 0.38172);
        close(m.map, 0.23613);
        let m = evaluate(&rec, &rel, 5, None);
        close(m.precision, 0.266667);
        close(m.recall, 0.244444);
        close(m.ndcg, 0.332971);
        close(m.map, 0.2);
        let m = evaluate(&rec, &rel, 3, None);
        close(m.ndcg, 0.333333);
        close(m.map, 0.203704);
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let (_, rel) = fixture();
        let perfect: HashMap<u32, Vec<u32>> = rel
            .iter()
            .map(|(u, s)| {
                let mut v: Vec<u32> = s.iter().copied().collect();
                v.sort();
                (*u, v)
            })
            .collect();
        let m = evaluate(&perfect, &rel, 10, None);
        close(m.precision, 0.6); // 3, 5 and 10 relevant items over k = 10
        close(m.recall, 1.0);
        close(m.ndcg, 1.0);
        close(m.map, 1.0);
        let none: HashMap<u32, Vec<u32>> = rel.keys().map(|u| (*u, vec![100])).collect();
        let m = evaluate(&none, &rel, 10, Some(200));
        assert_eq!((m.precision, m.recall, m.ndcg, m.map), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(m.coverage, Some(1.0 / 200.0));
    }
}
