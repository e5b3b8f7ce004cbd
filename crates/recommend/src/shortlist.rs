//! The blend over short candidate lists, ranking as a blend over the whole catalogue would.
//!
//! Each algorithm offers its `k` best eligible items; every offered item is scored by every
//! algorithm (as [`crate::blend`] defines the blend) and the rules run over them, best first.
//! An item nobody offered scores at most the sum of each algorithm's best left-out score: when
//! the last pick beats that bound, no left-out item could have ranked above it, and the list is
//! the whole-catalogue list. Otherwise `k` grows and the step repeats (at worst up to the
//! catalogue).

use std::collections::HashMap;

use crate::blend::{Rules, apply_rules, share};
use crate::candidates::{Scorer, Top};

/// One algorithm of a blend, for one user.
pub(crate) struct Part<'a> {
    pub weight: f32,
    pub scorer: Scorer<'a>,
}

/// A blended pick: its score and the part (by position) with the largest share of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Blended {
    pub item: u32,
    pub score: f32,
    pub part: usize,
}

/// Candidates offered per algorithm at first: enough for the list and the picks the rules drop.
fn first_k(n: usize) -> usize {
    2 * n + 16
}

/// The user's blended list under `rules` (at most `rules.n` picks); `catalogue` is the number of
/// items.
pub(crate) fn blend(
    parts: &[Part],
    rules: &Rules,
    category: &HashMap<u32, String>,
    catalogue: usize,
) -> Vec<Blended> {
    let mut k = first_k(rules.n).min(catalogue.max(1));
    loop {
        let tops: Vec<Top> = parts.iter().map(|p| p.scorer.top(k, rules)).collect();
        let mut offered: Vec<u32> = tops
            .iter()
            .flat_map(|t| t.items.iter().map(|(i, _)| *i))
            .collect();
        offered.sort_unstable();
        offered.dedup();
        let mut scored: Vec<Blended> = offered
            .into_iter()
            .filter_map(|i| score(parts, &tops, i))
            .collect();
        scored.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        let picks = apply_rules(scored, |b| b.item, rules, category);
        let bound = left_out_bound(parts, &tops);
        let last_beats = picks.len() == rules.n && picks.last().is_some_and(|p| p.score > bound);
        if bound <= 0.0 || last_beats || k >= catalogue {
            return picks;
        }
        k = (k * 4).min(catalogue);
    }
}

/// `item`'s blended score: each algorithm's score over its best, times its weight, summed in
/// the parts' order (the sum the whole-catalogue blend adds).
fn score(parts: &[Part], tops: &[Top], item: u32) -> Option<Blended> {
    let mut total = 0f32;
    let mut best = (0f32, 0usize);
    for (k, (p, t)) in parts.iter().zip(tops).enumerate() {
        let Some(share) = share(p.weight, p.scorer.at(item), t.max) else {
            continue;
        };
        total += share;
        if share > best.0 {
            best = (share, k);
        }
    }
    (total > 0.0).then_some(Blended {
        item,
        score: total,
        part: best.1,
    })
}

/// The most an item no algorithm offered can score (adds are monotone, so the same sum over
/// larger values bounds it).
fn left_out_bound(parts: &[Part], tops: &[Top]) -> f32 {
    let mut bound = 0f32;
    for (p, t) in parts.iter().zip(tops) {
        bound += share(p.weight, t.bound, t.max).unwrap_or(0.0);
    }
    bound
}
