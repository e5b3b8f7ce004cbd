//! Turning algorithms' scores into one list per user: a weighted blend, and the business
//! rules a shop applies to whatever the algorithms say.
//!
//! Blend: each algorithm's scores for the user are divided by that algorithm's best score for
//! the user (so every algorithm's scores lie in [0, 1] whatever its scale), multiplied by its
//! weight and summed. The algorithm that contributed most to an item is its `algorithm`.
//!
//! Rules, in order: drop items the user already bought (when asked: durable goods), keep only
//! the allow list (when given), drop the deny list, keep at most `per_category` items of one
//! category, keep the first `n`.

use std::collections::{HashMap, HashSet};

/// An algorithm's share of an item's blended score: its score over its best, times its weight;
/// none for a score that is not positive and finite, or an algorithm whose best is not positive.
/// The one definition both the short lists (`shortlist`) and the whole-catalogue reference use.
pub(crate) fn share(weight: f32, score: f32, best: f32) -> Option<f32> {
    (best > 0.0 && score.is_finite() && score > 0.0).then(|| weight * score / best)
}

/// One algorithm's scores for one user, over every item (the whole-catalogue blend, kept as
/// the reference the short lists are tested against).
#[cfg(test)]
pub(crate) struct Source<'a> {
    pub name: &'a str,
    pub weight: f32,
    pub scores: &'a [f32],
}

/// A blended candidate.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Blended {
    pub item: u32,
    pub score: f32,
    /// The algorithm with the largest weighted share of the score.
    pub algorithm: String,
}

/// Blends `sources` (all over the same items) and returns every item with a positive score,
/// best first (ties: lower item index first).
#[cfg(test)]
pub(crate) fn blend(sources: &[Source]) -> Vec<Blended> {
    let n = sources.iter().map(|s| s.scores.len()).max().unwrap_or(0);
    let mut total = vec![0f32; n];
    let mut best: Vec<(f32, usize)> = vec![(0.0, 0); n];
    for (k, s) in sources.iter().enumerate() {
        let max = s
            .scores
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0f32, f32::max);
        for (i, v) in s.scores.iter().enumerate() {
            let Some(part) = share(s.weight, *v, max) else {
                continue;
            };
            total[i] += part;
            if part > best[i].0 {
                best[i] = (part, k);
            }
        }
    }
    let mut out: Vec<Blended> = total
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .map(|(i, v)| Blended {
            item: i as u32,
            score: *v,
            algorithm: sources[best[i].1].name.to_string(),
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    out
}

/// The business rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Items the user must not get again (their purchases, for durable goods).
    pub exclude: HashSet<u32>,
    /// When not empty, only these items may be recommended.
    pub allow: HashSet<u32>,
    pub deny: HashSet<u32>,
    /// At most this many items of one category (`None`: no limit).
    pub per_category: Option<usize>,
    /// The list's length.
    pub n: usize,
}

impl crate::candidates::Eligible for Rules {
    fn eligible(&self, i: u32) -> bool {
        let allowed = self.allow.is_empty() || self.allow.contains(&i);
        allowed && !self.deny.contains(&i) && !self.exclude.contains(&i)
    }
}

/// Applies `rules` to candidates (best first); `category` maps an item to its category.
pub fn apply_rules<T>(
    candidates: impl IntoIterator<Item = T>,
    item_of: impl Fn(&T) -> u32,
    rules: &Rules,
    category: &HashMap<u32, String>,
) -> Vec<T> {
    let mut per_cat: HashMap<&str, usize> = HashMap::new();
    let mut out = vec![];
    for c in candidates {
        if out.len() == rules.n {
            break;
        }
        let i = item_of(&c);
        if !crate::candidates::Eligible::eligible(rules, i) {
            continue;
        }
        if let (Some(limit), Some(cat)) = (rules.per_category, category.get(&i)) {
            let seen = per_cat.entry(cat.as_str()).or_default();
            if *seen >= limit {
                continue;
            }
            *seen += 1;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_by_hand() {
        // A: [4, 2, 0] -> normalised [1, 0.5, 0] × 0.5; B: [0, 1, 3] -> [0, 1/3, 1] × 1.
        // Totals: item 0 = 0.5 (A), item 1 = 0.25 + 0.333 = 0.583 (B), item 2 = 1 (B).
        let a = [4.0, 2.0, 0.0];
        let b = [0.0, 1.0, 3.0];
        let out = blend(&[
            Source {
                name: "A",
                weight: 0.5,
                scores: &a,
            },
            Source {
                name: "B",
                weight: 1.0,
                scores: &b,
            },
        ]);
        let items: Vec<(u32, &str)> = out.iter().map(|c| (c.item, c.algorithm.as_str())).collect();
        assert_eq!(items, [(2, "B"), (1, "B"), (0, "A")]);
        assert!((out[1].score - (0.25 + 1.0 / 3.0)).abs() < 1e-6);
    }

    #[test]
    fn rules_in_order() {
        let cands: Vec<u32> = (0..8).collect();
        let category: HashMap<u32, String> = (0..8)
            .map(|i| (i, if i < 4 { "mugs" } else { "tea" }.to_string()))
            .collect();
        let rules = Rules {
            exclude: [0].into(),
            deny: [5].into(),
            per_category: Some(2),
            n: 3,
            ..Default::default()
        };
        // 0 bought, 1 and 2 fill "mugs", 3 is a third mug, 4 tea, 5 denied -> [1, 2, 4].
        assert_eq!(
            apply_rules(cands.clone(), |i| *i, &rules, &category),
            [1, 2, 4]
        );
        let only = Rules {
            allow: [6, 7].into(),
            n: 10,
            ..Default::default()
        };
        assert_eq!(apply_rules(cands, |i| *i, &only, &category), [6, 7]);
    }
}
