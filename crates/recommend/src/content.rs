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
}

impl Content {
    /// `attributes[i]` lists item `i`'s attribute values (e.g. `["category=mugs", "brand=acme"]`).
    pub fn new(attributes: &[Vec<String>]) -> Content {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let tokens = attributes
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
        Content {
            tokens,
            tokens_total: index.len(),
        }
    }

    /// Scores of every item for a user with interactions `(items, weights)`.
    pub fn scores(&self, items: &[u32], weights: &[f32]) -> Vec<f32> {
        let mut profile = vec![0f32; self.tokens_total];
        for (i, w) in items.iter().zip(weights) {
            for t in &self.tokens[*i as usize] {
                profile[*t as usize] += w;
            }
        }
        let norm = profile.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm == 0.0 {
            return vec![0.0; self.tokens.len()];
        }
        self.tokens
            .iter()
            .map(|t| {
                if t.is_empty() {
                    return 0.0;
                }
                let dot: f32 = t.iter().map(|k| profile[*k as usize]).sum();
                dot / (norm * (t.len() as f32).sqrt())
            })
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
    }
}
