//! Popularity: an item's score is the number of distinct users who interacted with it, over
//! everyone or over one segment's users. The fallback for users with no history of their own.

use std::collections::BTreeMap;

use crate::Csr;

/// Distinct users per item.
#[derive(Debug, Clone, PartialEq)]
pub struct Popularity {
    pub users_per_item: Vec<f32>,
}

impl Popularity {
    /// Over the rows (users) `rows` of a user × item matrix.
    pub fn fit(m: &Csr, rows: impl IntoIterator<Item = usize>) -> Popularity {
        let mut users_per_item = vec![0f32; m.cols];
        for u in rows {
            for i in m.row(u).0 {
                users_per_item[*i as usize] += 1.0;
            }
        }
        Popularity { users_per_item }
    }

    /// Over every user.
    pub fn global(m: &Csr) -> Popularity {
        Popularity::fit(m, 0..m.rows)
    }

    /// One popularity per segment; `segment_of[u]` is user `u`'s segment, if any.
    pub fn by_segment(m: &Csr, segment_of: &[Option<String>]) -> BTreeMap<String, Popularity> {
        let mut rows: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (u, s) in segment_of.iter().enumerate().take(m.rows) {
            if let Some(s) = s {
                rows.entry(s.clone()).or_default().push(u);
            }
        }
        rows.into_iter()
            .map(|(s, r)| (s, Popularity::fit(m, r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_users_overall_and_per_segment() {
        // u0: items 0, 1 (item 1 weight 9: weights do not matter); u1: item 1; u2: item 2.
        let m = Csr::from_triples(
            3,
            3,
            vec![(0, 0, 1.0), (0, 1, 9.0), (1, 1, 1.0), (2, 2, 1.0)],
        );
        assert_eq!(Popularity::global(&m).users_per_item, vec![1.0, 2.0, 1.0]);
        let seg = Popularity::by_segment(&m, &[Some("a".into()), None, Some("b".into())]);
        assert_eq!(seg["a"].users_per_item, vec![1.0, 1.0, 0.0]);
        assert_eq!(seg["b"].users_per_item, vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn top_n_skips_excluded_items_and_breaks_ties_by_index() {
        let s = [3.0, 5.0, 5.0, 1.0, f32::NAN];
        let top = crate::top_n(&s, 3, |i| i == 1);
        assert_eq!(top.iter().map(|t| t.item).collect::<Vec<_>>(), [2, 0, 3]);
    }
}
