//! Implicit feedback: one weight per (user, item), the sum over the user's events on the item
//! of `weight(event type) · 0.5^(age / half_life)`. Several events of one user on one item
//! collapse into that one entry. String ids get dense indices in sorted order, so the same
//! events always give the same matrix, whatever their order.

use crate::Csr;

/// One event as the recommender sees it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub user: &'a str,
    pub item: &'a str,
    /// The weight of the event's type (spec: purchase 5, share 3, ...).
    pub weight: f32,
    /// Days from the event to the cutoff (>= 0).
    pub age_days: f32,
}

/// Collects events into [`Interactions`]: ids are numbered as they first come (one string kept
/// per distinct id), renumbered in sorted order when built.
pub struct InteractionsBuilder {
    half_life_days: Option<f32>,
    users: Ids,
    items: Ids,
    triples: Vec<(u32, u32, f32)>,
}

/// Distinct ids, numbered by first appearance.
#[derive(Default)]
pub(crate) struct Ids {
    index: foldhash::HashMap<String, u32>,
}

impl Ids {
    pub(crate) fn intern(&mut self, id: &str) -> u32 {
        if let Some(k) = self.index.get(id) {
            return *k;
        }
        let k = self.index.len() as u32;
        self.index.insert(id.to_string(), k);
        k
    }

    /// The ids sorted, their index by id, and each first-come number's sorted index.
    pub(crate) fn sorted(self) -> (Vec<String>, foldhash::HashMap<String, u32>, Vec<u32>) {
        let mut ids: Vec<(String, u32)> = self.index.into_iter().collect();
        ids.sort_unstable();
        let mut renumber = vec![0u32; ids.len()];
        for (sorted, (_, first)) in ids.iter().enumerate() {
            renumber[*first as usize] = sorted as u32;
        }
        let index = ids
            .iter()
            .enumerate()
            .map(|(sorted, (id, _))| (id.clone(), sorted as u32))
            .collect();
        (ids.into_iter().map(|(id, _)| id).collect(), index, renumber)
    }
}

impl InteractionsBuilder {
    /// With time decay of the given half-life, or none.
    pub fn new(half_life_days: Option<f32>) -> Self {
        InteractionsBuilder {
            half_life_days,
            users: Ids::default(),
            items: Ids::default(),
            triples: vec![],
        }
    }

    /// Adds events.
    pub fn extend<'a>(mut self, events: impl IntoIterator<Item = Event<'a>>) -> Self {
        for e in events {
            let decay = self
                .half_life_days
                .map_or(1.0, |h| 0.5f32.powf(e.age_days.max(0.0) / h));
            let (u, i) = (self.users.intern(e.user), self.items.intern(e.item));
            self.triples.push((u, i, e.weight * decay));
        }
        self
    }

    /// The matrix, ids sorted so that it does not depend on the events' order.
    pub fn build(self) -> Interactions {
        let (users, user_index, user_of) = self.users.sorted();
        let (items, item_index, item_of) = self.items.sorted();
        let t = self
            .triples
            .into_iter()
            .map(|(u, i, w)| (user_of[u as usize], item_of[i as usize], w))
            .collect();
        let matrix = Csr::from_triples(users.len(), items.len(), t);
        Interactions {
            matrix,
            users,
            items,
            user_index,
            item_index,
        }
    }
}

/// The user × item weights with their ids.
#[derive(Debug, Clone)]
pub struct Interactions {
    /// Rows are users, columns items.
    pub matrix: Csr,
    users: Vec<String>,
    items: Vec<String>,
    user_index: foldhash::HashMap<String, u32>,
    item_index: foldhash::HashMap<String, u32>,
}

impl Interactions {
    /// From ids already sorted and a matrix over their indices.
    pub(crate) fn from_sorted(users: Vec<String>, items: Vec<String>, matrix: Csr) -> Interactions {
        let index = |ids: &[String]| {
            ids.iter()
                .enumerate()
                .map(|(k, id)| (id.clone(), k as u32))
                .collect()
        };
        Interactions {
            user_index: index(&users),
            item_index: index(&items),
            matrix,
            users,
            items,
        }
    }

    pub fn users(&self) -> usize {
        self.users.len()
    }

    pub fn items(&self) -> usize {
        self.items.len()
    }

    pub fn user_id(&self, u: u32) -> &str {
        &self.users[u as usize]
    }

    pub fn item_id(&self, i: u32) -> &str {
        &self.items[i as usize]
    }

    pub fn user_index(&self, id: &str) -> Option<u32> {
        self.user_index.get(id).copied()
    }

    pub fn item_index(&self, id: &str) -> Option<u32> {
        self.item_index.get(id).copied()
    }

    /// The collapsed weight of (user, item), if they interacted.
    pub fn weight(&self, user: &str, item: &str) -> Option<f32> {
        let (u, i) = (self.user_index(user)?, self.item_index(item)?);
        self.matrix.get(u as usize, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_decay_and_duplicates_collapse() {
        let ev = |user, item, weight, age_days| Event {
            user,
            item,
            weight,
            age_days,
        };
        let m = InteractionsBuilder::new(Some(10.0))
            .extend([
                ev("b", "x", 1.0, 0.0),
                ev("a", "x", 5.0, 10.0), // one half-life: 2.5
                ev("a", "x", 1.0, 20.0), // two: 0.25 -> collapsed with the above: 2.75
                ev("a", "y", 3.0, 0.0),
            ])
            .build();
        assert_eq!((m.users(), m.items()), (2, 2));
        assert_eq!(m.user_id(0), "a");
        assert!((m.weight("a", "x").unwrap() - 2.75).abs() < 1e-6);
        assert_eq!(m.weight("a", "y"), Some(3.0));
        assert_eq!(m.weight("b", "y"), None);
        assert_eq!(m.matrix.nnz(), 3);
    }
}
