//! One algorithm's view of one user, as the blend needs it: its best eligible candidates, its
//! best score over the whole catalogue (the blend's normaliser), a bound on every item it did
//! not list, and its score of any one item. Nothing here holds a score per catalogue item
//! beyond one reusable buffer per thread.

use crate::Csr;

/// Whether an item may be listed for the user at all (the rules that need no order: their
/// purchases when excluded, the deny list, the allow list).
pub(crate) trait Eligible {
    fn eligible(&self, item: u32) -> bool;
}

/// An algorithm's scores for one user.
pub(crate) enum Scorer<'a> {
    /// Every positive score there is, sorted by item (item-item, buy-again, content).
    Sparse(Vec<(u32, f32)>),
    /// A score for every item, computed once for the user (ALS), or a row of a block of users.
    Dense(std::borrow::Cow<'a, [f32]>),
    /// The same scores for every user of a stage (popularity), with their ranking.
    Ranked(&'a Ranking),
}

/// One algorithm's candidates for one user.
pub(crate) struct Top {
    /// Eligible items with a positive score, best first (ties: the lower item first).
    pub items: Vec<(u32, f32)>,
    /// The best finite score over every item, eligible or not, and at least 0.
    pub max: f32,
    /// No eligible item missing from `items` scores above it (0: none scores above 0).
    pub bound: f32,
}

impl Scorer<'_> {
    /// The algorithm's score of `item` (0 where it has none).
    pub fn at(&self, item: u32) -> f32 {
        match self {
            Scorer::Sparse(s) => s
                .binary_search_by_key(&item, |(i, _)| *i)
                .map_or(0.0, |k| s[k].1),
            Scorer::Dense(s) => s[item as usize],
            Scorer::Ranked(r) => r.scores[item as usize],
        }
    }

    /// The `k` best eligible items, the normaliser and the bound on the rest.
    pub fn top(&self, k: usize, rules: &impl Eligible) -> Top {
        match self {
            Scorer::Sparse(s) => {
                let max = max_of(s.iter().map(|(_, v)| *v));
                best_of(s.iter().copied(), k, max, rules)
            }
            Scorer::Dense(s) => best_of_dense(s, k, rules),
            Scorer::Ranked(r) => r.top(k, rules),
        }
    }
}

/// A positive, finite score: the only kind the blend counts.
fn good(v: f32) -> bool {
    v.is_finite() && v > 0.0
}

/// The blend's normaliser: the largest finite score, and at least 0.
fn max_of(scores: impl Iterator<Item = f32>) -> f32 {
    scores.filter(|v| v.is_finite()).fold(0f32, f32::max)
}

/// Best first; ties: the lower item first.
fn rank(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The `k` best eligible items of `items` with a positive score, and the best eligible score
/// left out. One pass, holding `k` items; an item is checked against the rules only when it
/// could enter the list or raise the bound.
fn best_of(
    items: impl Iterator<Item = (u32, f32)>,
    k: usize,
    max: f32,
    rules: &impl Eligible,
) -> Top {
    if k > INSERTION_LIMIT {
        return selected(items, k, max, rules);
    }
    let mut best = Best::new(k);
    items.for_each(|(i, v)| best.offer(i, v, rules));
    best.into_top(max)
}

/// [`best_of`] over a score per item, a chunk of 16 at a time: a chunk whose largest finite
/// score can neither enter the list nor raise the bound is passed over whole (most are, once the
/// list is full); the same largest finite scores give the normaliser. One pass.
fn best_of_dense(scores: &[f32], k: usize, rules: &impl Eligible) -> Top {
    if k > INSERTION_LIMIT {
        let items = scores.iter().enumerate().map(|(i, v)| (i as u32, *v));
        return selected(items, k, max_of(scores.iter().copied()), rules);
    }
    let mut best = Best::new(k);
    let mut max = 0f32;
    for (c, chunk) in scores.chunks(CHUNK).enumerate() {
        let top = finite_max(chunk);
        max = max.max(top);
        // Infinities and NaNs are never good: a chunk's finite maximum is all the test needs.
        if best.passes_over(top) {
            continue;
        }
        for (j, v) in chunk.iter().enumerate() {
            best.offer((c * CHUNK + j) as u32, *v, rules);
        }
    }
    best.into_top(max)
}

/// Scores per chunk of [`best_of_dense`].
const CHUNK: usize = 16;

/// The largest finite value of `chunk`, and at least 0: in lanes, with no branch and no NaN
/// rule, so that it vectorises (a running `f32::max` stays scalar: its NaN rule orders it).
fn finite_max(chunk: &[f32]) -> f32 {
    let lane = |m: f32, v: f32| {
        let v = if v.abs() < f32::INFINITY { v } else { 0.0 };
        if v > m { v } else { m }
    };
    let mut m = [0f32; 8];
    let mut halves = chunk.chunks_exact(8);
    for half in halves.by_ref() {
        for k in 0..8 {
            m[k] = lane(m[k], half[k]);
        }
    }
    let rest = halves.remainder().iter().fold(0f32, |a, v| lane(a, *v));
    m.iter().fold(rest, |a, v| lane(a, *v))
}

/// The running `k` best of [`best_of`]: sorted, best first.
struct Best {
    k: usize,
    items: Vec<(u32, f32)>,
    /// The best eligible score left out so far.
    bound: f32,
    /// Once the list is full: the score below which nothing enters (ties go by item).
    floor: f32,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            items: Vec::with_capacity(k + 1),
            bound: 0.0,
            floor: f32::NEG_INFINITY,
        }
    }

    /// Whether a score can change nothing: below the floor and not above the bound.
    fn passes_over(&self, v: f32) -> bool {
        v < self.floor && v <= self.bound
    }

    fn offer(&mut self, i: u32, v: f32, rules: &impl Eligible) {
        if !good(v) || self.passes_over(v) {
            return;
        }
        let full = self.items.len() == self.k;
        let enters = !full || self.items.last().is_some_and(|w| rank(&(i, v), w).is_lt());
        if !enters {
            if v > self.bound && rules.eligible(i) {
                self.bound = v;
            }
            return;
        }
        if !rules.eligible(i) {
            return;
        }
        if full {
            let (_, out) = self.items.pop().expect("a full list has a last item");
            self.bound = self.bound.max(out);
        }
        let at = self.items.partition_point(|b| rank(b, &(i, v)).is_lt());
        self.items.insert(at, (i, v));
        if self.items.len() == self.k {
            self.floor = self.items[self.k - 1].1;
        }
    }

    fn into_top(self, max: f32) -> Top {
        Top {
            items: self.items,
            max,
            bound: self.bound,
        }
    }
}

/// Above this many, [`best_of`] selects instead of keeping a sorted list (whose inserts cost
/// `k` moves each).
const INSERTION_LIMIT: usize = 256;

/// [`best_of`] for a large `k`: every eligible item collected, the `k` best selected.
fn selected(
    items: impl Iterator<Item = (u32, f32)>,
    k: usize,
    max: f32,
    rules: &impl Eligible,
) -> Top {
    let mut all: Vec<(u32, f32)> = items
        .filter(|(i, v)| good(*v) && rules.eligible(*i))
        .collect();
    let mut bound = 0.0;
    if all.len() > k {
        all.select_nth_unstable_by(k, rank);
        bound = all[k..].iter().map(|(_, v)| *v).fold(0f32, f32::max);
        all.truncate(k);
    }
    all.sort_unstable_by(rank);
    Top {
        items: all,
        max,
        bound,
    }
}

/// Scores shared by many users (a stage's popularity), ranked once.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub scores: Vec<f32>,
    /// Items with a positive score, best first (ties: the lower item first).
    pub order: Vec<u32>,
}

impl Ranking {
    pub fn new(scores: Vec<f32>) -> Ranking {
        let mut order: Vec<u32> = (0..scores.len() as u32)
            .filter(|i| good(scores[*i as usize]))
            .collect();
        order.sort_unstable_by(|a, b| rank(&(*a, scores[*a as usize]), &(*b, scores[*b as usize])));
        Ranking { scores, order }
    }

    /// The ranked items, best first, with their scores.
    pub fn ranked(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.order.iter().map(|i| (*i, self.scores[*i as usize]))
    }

    fn top(&self, k: usize, rules: &impl Eligible) -> Top {
        let mut eligible = self.ranked().filter(|(i, _)| rules.eligible(*i));
        let items: Vec<(u32, f32)> = eligible.by_ref().take(k).collect();
        let bound = eligible.next().map_or(0.0, |(_, v)| v);
        let max = max_of(self.ranked().take(1).map(|(_, v)| v));
        Top { items, max, bound }
    }
}

/// A user's purchases as buy-again scores (the decayed purchase counts).
pub(crate) fn bought(bought: &Csr, u: u32) -> Vec<(u32, f32)> {
    let (items, counts) = bought.row(u as usize);
    items.iter().copied().zip(counts.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Not(u32);
    impl Eligible for Not {
        fn eligible(&self, item: u32) -> bool {
            item != self.0
        }
    }

    #[test]
    fn each_kind_lists_the_best_eligible_and_bounds_the_rest() {
        let dense = [0.5, 2.0, f32::NAN, 3.0, 2.0, -1.0];
        let ranking = Ranking::new(dense.to_vec());
        assert_eq!(ranking.order, [3, 1, 4, 0]);
        let sparse = Scorer::Sparse(vec![(0, 0.5), (1, 2.0), (3, 3.0), (4, 2.0)]);
        for scorer in [
            Scorer::Dense(dense[..].into()),
            Scorer::Ranked(&ranking),
            sparse,
        ] {
            // Item 3 (the best) is not eligible: it still sets the normaliser.
            let top = scorer.top(2, &Not(3));
            assert_eq!(top.items, [(1, 2.0), (4, 2.0)]);
            assert_eq!((top.max, top.bound), (3.0, 0.5));
            let many = scorer.top(INSERTION_LIMIT + 1, &Not(3));
            assert_eq!(many.items, [(1, 2.0), (4, 2.0), (0, 0.5)]);
            let all = scorer.top(10, &Not(3));
            assert_eq!(all.items.len(), 3);
            assert_eq!(all.bound, 0.0, "every positive eligible item is listed");
            assert_eq!(scorer.at(4), 2.0);
        }
    }
}
