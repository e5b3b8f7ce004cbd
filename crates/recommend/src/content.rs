//! Content-based scores from item attributes (category, brand, ...): a user's profile is the
//! weighted sum of the attribute tokens of the items they interacted with; an item's score is
//! the cosine between the profile and the item's tokens. Needs no other user, so it works for
//! items nobody has touched yet.

use std::collections::HashMap;

/// Item attribute tokens, as a sparse item × token incidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// Per item: its distinct token indices.
    tokens: Vec<Vec<u32>>,
    tokens_total: usize,
    /// Per token: the items that have it.
    items_of: Vec<Vec<u32>>,
}

impl Content {
    /// `attributes[i]` lists item `i`'s attribute values (e.g. `["category=mugs", "brand=acme"]`).
    pub fn new(attributes: &[Vec<String>]) -> Content {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let tokens: Vec<Vec<u32>> = attributes
            .iter()
            .map(|attrs| {
                let mut t: Vec<u32> = attrs
                    .iter()
                    .map(|a| {
                        let next = index.len() as u32;
                        *index.entry(a.as_str()).or_insert(next)
                    })
                    .collect();
                t.sort_unstable();
                t.dedup();
                t
            })
            .collect();
        let mut items_of = vec![Vec::new(); index.len()];
        for (i, t) in tokens.iter().enumerate() {
            t.iter().for_each(|k| items_of[*k as usize].push(i as u32));
        }
        Content {
            tokens,
            tokens_total: index.len(),
            items_of,
        }
    }

    /// The user's profile (token weights) and its norm.
    fn profile(&self, items: &[u32], weights: &[f32]) -> (Vec<f32>, f32) {
        let mut profile = vec![0f32; self.tokens_total];
        for (i, w) in items.iter().zip(weights) {
            for t in &self.tokens[*i as usize] {
                profile[*t as usize] += w;
            }
        }
        let norm = profile.iter().map(|v| v * v).sum::<f32>().sqrt();
        (profile, norm)
    }

    /// Item `i`'s score against a profile (as in [`Content::scores`]).
    fn score(&self, i: usize, profile: &[f32], norm: f32) -> f32 {
        let t = &self.tokens[i];
        if t.is_empty() {
            return 0.0;
        }
        let dot: f32 = t.iter().map(|k| profile[*k as usize]).sum();
        dot / (norm * (t.len() as f32).sqrt())
    }

    /// The positive scores only, sorted by item: the items sharing a token with the user's,
    /// each scored as [`Content::scores`] does.
    pub fn sparse_scores(&self, items: &[u32], weights: &[f32]) -> Vec<(u32, f32)> {
        let (profile, norm) = self.profile(items, weights);
        if norm == 0.0 {
            return vec![];
        }
        let mut support: Vec<u32> = (0..self.tokens_total)
            .filter(|k| profile[*k] != 0.0)
            .flat_map(|k| self.items_of[k].iter().copied())
            .collect();
        support.sort_unstable();
        support.dedup();
        support
            .into_iter()
            .map(|i| (i, self.score(i as usize, &profile, norm)))
            .filter(|(_, v)| *v > 0.0)
            .collect()
    }

    /// Scores of every item for a user with interactions `(items, weights)`.
    pub fn scores(&self, items: &[u32], weights: &[f32]) -> Vec<f32> {
        let (profile, norm) = self.profile(items, weights);
        if norm == 0.0 {
            return vec![0.0; self.tokens.len()];
        }
        (0..self.tokens.len())
            .map(|i| self.score(i, &profile, norm))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        // Items: 0 = {mugs, acme}, 1 = {mugs, zeta}, 2 = {tea}. A user with item 0 (weight 2):
        // profile = (mugs 2, acme 2), norm 2√2. Item 1: dot 2 / (2√2 · √2) = 0.5; item 0: 4 / 4 = 1;
        // item 2: 0.
        let c = Content::new(&[
            vec!["category=mugs".into(), "brand=acme".into()],
            vec!["category=mugs".into(), "brand=zeta".into()],
            vec!["category=tea".into()],
        ]);
        let s = c.scores(&[0], &[2.0]);
        assert!(
            (s[0] - 1.0).abs() < 1e-6 && (s[1] - 0.5).abs() < 1e-6 && s[2] == 0.0,
            "{s:?}"
        );
        assert_eq!(c.sparse_scores(&[0], &[2.0]), [(0, s[0]), (1, s[1])]);
    }
}
