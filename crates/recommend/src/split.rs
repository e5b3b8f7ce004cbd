//! A time split's inputs from one pass over (user, item) rows: the [`History`] before the cutoff
//! (served), the [`History`] before the split date (evaluated), and the (user, item) pairs of the
//! test period between them. Every id is hashed once, into one numbering sorted by id; each
//! history keeps the ids it has, in that order, so it equals [`History::from_rows`] over its
//! own rows.

use std::collections::{HashMap, HashSet};

use crate::Csr;
use crate::interactions::{Ids, Interactions};
use crate::serve::History;

/// A history's weight and decayed purchases of one (user, item).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub weight: f32,
    pub purchases: f32,
}

/// One (user, item) of the split, borrowing its ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitRow<'a> {
    pub user: &'a str,
    pub item: &'a str,
    /// In the served history (an event before the cutoff, in its window).
    pub full: Option<Weights>,
    /// In the training history (an event before the split date, in its window).
    pub train: Option<Weights>,
    /// An event in the test period.
    pub relevant: bool,
}

/// The two histories and the test period's pairs.
pub struct Split {
    pub full: History,
    pub train: History,
    users: Vec<String>,
    items: Vec<String>,
    /// The test period's pairs, by the split's numbering, sorted.
    relevant: Vec<(u32, u32)>,
    /// The split's user and item numbers in `train` (`u32::MAX`: not in it).
    in_train: Renumbering,
}

/// The split's numbers of users and items onto a history's indices (`u32::MAX`: absent).
struct Renumbering {
    users: Vec<u32>,
    items: Vec<u32>,
}

/// A history's entries by the split's numbering: `(user, item, weight)` and `(user, item,
/// purchases)` where there were purchases.
#[derive(Default)]
struct Entries {
    weights: Vec<(u32, u32, f32)>,
    bought: Vec<(u32, u32, f32)>,
}

impl Entries {
    fn push(&mut self, u: u32, i: u32, w: Weights) {
        self.weights.push((u, i, w.weight));
        if w.purchases > 0.0 {
            self.bought.push((u, i, w.purchases));
        }
    }

    /// Renumbered by `users` and `items` (first-come numbers to sorted order).
    fn renumber(&mut self, users: &[u32], items: &[u32]) {
        for t in self.weights.iter_mut().chain(self.bought.iter_mut()) {
            *t = (users[t.0 as usize], items[t.1 as usize], t.2);
        }
    }

    /// The history of these entries (only the ids they use, in the split's sorted order) and
    /// where the split's numbers went in it.
    fn history(self, users: &[String], items: &[String]) -> (History, Renumbering) {
        let (user_of, user_ids) = compact(users, self.weights.iter().map(|t| t.0));
        let (item_of, item_ids) = compact(items, self.weights.iter().map(|t| t.1));
        let onto = |t: Vec<(u32, u32, f32)>| -> Vec<(u32, u32, f32)> {
            t.into_iter()
                .map(|(u, i, v)| (user_of[u as usize], item_of[i as usize], v))
                .collect()
        };
        let (n_users, n_items) = (user_ids.len(), item_ids.len());
        let matrix = Csr::from_triples(n_users, n_items, onto(self.weights));
        let bought = Csr::from_triples(n_users, n_items, onto(self.bought));
        let history = History {
            inter: Interactions::from_sorted(user_ids, item_ids, matrix),
            bought,
        };
        let renumbering = Renumbering {
            users: user_of,
            items: item_of,
        };
        (history, renumbering)
    }
}

/// Each id's new index among those `used` names (unused: `u32::MAX`), and those ids in order.
fn compact(ids: &[String], used: impl Iterator<Item = u32>) -> (Vec<u32>, Vec<String>) {
    let mut seen = vec![false; ids.len()];
    used.for_each(|k| seen[k as usize] = true);
    let mut of = vec![u32::MAX; ids.len()];
    let mut kept = vec![];
    for (k, id) in ids.iter().enumerate().filter(|(k, _)| seen[*k]) {
        of[k] = kept.len() as u32;
        kept.push(id.clone());
    }
    (of, kept)
}

impl Split {
    /// From rows with one (user, item) each.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = SplitRow<'a>>) -> Split {
        let (mut users, mut items) = (Ids::default(), Ids::default());
        let (mut full, mut train, mut relevant) = (Entries::default(), Entries::default(), vec![]);
        for r in rows {
            let (u, i) = (users.intern(r.user), items.intern(r.item));
            if let Some(w) = r.full {
                full.push(u, i, w);
            }
            if let Some(w) = r.train {
                train.push(u, i, w);
            }
            if r.relevant {
                relevant.push((u, i));
            }
        }
        let (users, _, user_of) = users.sorted();
        let (items, _, item_of) = items.sorted();
        full.renumber(&user_of, &item_of);
        train.renumber(&user_of, &item_of);
        for p in &mut relevant {
            *p = (user_of[p.0 as usize], item_of[p.1 as usize]);
        }
        relevant.sort_unstable();
        let (train, in_train) = train.history(&users, &items);
        Split {
            full: full.history(&users, &items).0,
            train,
            users,
            items,
            relevant,
            in_train,
        }
    }

    /// The test period's (user, item) pairs, sorted by user, then item.
    pub fn relevant_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.relevant.iter().map(|(u, i)| {
            (
                self.users[*u as usize].as_str(),
                self.items[*i as usize].as_str(),
            )
        })
    }

    /// The test period's items of each user with training history, by the training history's
    /// indices ([`crate::serve::Recommender::evaluate`]'s `relevant`): an item it never saw
    /// gets a number past its catalogue (one per item), so that it counts among the user's
    /// relevant items without ever matching a recommendation.
    pub fn relevant_in_train(&self) -> HashMap<u32, HashSet<u32>> {
        let catalogue = self.train.inter.items() as u32;
        let mut out: HashMap<u32, HashSet<u32>> = HashMap::new();
        for (u, i) in &self.relevant {
            let user = self.in_train.users[*u as usize];
            if user == u32::MAX {
                continue;
            }
            let item = match self.in_train.items[*i as usize] {
                u32::MAX => catalogue + *i,
                item => item,
            };
            out.entry(user).or_default().insert(item);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::RowRef;

    fn w(weight: f32, purchases: f32) -> Option<Weights> {
        Some(Weights { weight, purchases })
    }

    fn row<'a>(
        user: &'a str,
        item: &'a str,
        full: Option<Weights>,
        train: Option<Weights>,
        relevant: bool,
    ) -> SplitRow<'a> {
        SplitRow {
            user,
            item,
            full,
            train,
            relevant,
        }
    }

    fn rows() -> Vec<SplitRow<'static>> {
        vec![
            row("cy", "z", w(1.0, 0.0), None, true),
            row("al", "x", w(2.0, 1.0), w(1.5, 0.5), false),
            row("bo", "y", None, w(3.0, 0.0), false),
            row("al", "z", w(1.0, 0.0), None, true),
            row("bo", "x", w(4.0, 2.0), w(4.0, 2.0), true),
        ]
    }

    /// `from_rows` over the rows that have `pick`'s weights.
    fn reference(pick: impl Fn(&SplitRow) -> Option<Weights>) -> History {
        History::from_rows(rows().iter().filter_map(|r| {
            pick(r).map(|w| RowRef {
                user: r.user,
                item: r.item,
                weight: w.weight,
                purchases: w.purchases,
            })
        }))
    }

    fn same(a: &History, b: &History) {
        assert_eq!(a.inter.matrix, b.inter.matrix);
        assert_eq!(a.bought, b.bought);
        for u in 0..a.inter.users() as u32 {
            assert_eq!(a.inter.user_id(u), b.inter.user_id(u));
        }
        for i in 0..a.inter.items() as u32 {
            assert_eq!(a.inter.item_id(i), b.inter.item_id(i));
        }
        assert_eq!(
            (a.inter.users(), a.inter.items()),
            (b.inter.users(), b.inter.items())
        );
    }

    #[test]
    fn each_history_equals_one_built_from_its_own_rows() {
        let s = Split::from_rows(rows());
        same(&s.full, &reference(|r| r.full));
        same(&s.train, &reference(|r| r.train));
        assert_eq!(s.train.inter.users(), 2, "cy has no training history");
        assert_eq!(s.full.inter.items(), 2, "y is only in the training history");
    }

    #[test]
    fn relevant_pairs_are_sorted_and_mapped_onto_the_training_history() {
        let s = Split::from_rows(rows());
        let pairs: Vec<(&str, &str)> = s.relevant_pairs().collect();
        assert_eq!(pairs, [("al", "z"), ("bo", "x"), ("cy", "z")]);
        let r = s.relevant_in_train();
        let t = &s.train.inter;
        let (al, bo) = (t.user_index("al").unwrap(), t.user_index("bo").unwrap());
        assert_eq!(r.len(), 2, "cy has no training history: {r:?}");
        assert_eq!(r[&bo], HashSet::from([t.item_index("x").unwrap()]));
        // z is not in the training catalogue (x, y): a number past it.
        let z = *r[&al].iter().next().unwrap();
        assert!(z >= t.items() as u32, "{z}");
    }
}
