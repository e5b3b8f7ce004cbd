//! Recommendations from implicit feedback: the user × item [`Interactions`] matrix built from
//! weighted, time-decayed events with string ids mapped to dense indices ([`interactions`]),
//! item-item neighbours ([`item_knn`]), implicit ALS ([`als`]), popularity ([`popularity`]),
//! content-based scores ([`content`]), the blend and business rules ([`blend`]) and the
//! offline ranking metrics they are judged by ([`metrics`]); [`serve`] puts them together into a
//! list for every user, with the fallback cascade, and evaluates them on a time split.
//!
//! Callers speak in string ids: matrix orientation and dense indices stay inside this crate.
//!
//! ```
//! use lifecycle_recommend::interactions::{Event, InteractionsBuilder};
//! let events = [
//!     Event { user: "ann", item: "tea", weight: 1.0, age_days: 0.0 },
//!     Event { user: "ann", item: "cup", weight: 5.0, age_days: 0.0 },
//!     Event { user: "bob", item: "tea", weight: 1.0, age_days: 0.0 },
//! ];
//! let m = InteractionsBuilder::new(None).extend(events).build();
//! assert_eq!((m.users(), m.items()), (2, 2));
//! assert_eq!(m.weight("ann", "cup"), Some(5.0));
//! ```

pub mod als;
pub mod blend;
mod candidates;
pub mod content;
pub mod interactions;
pub mod item_knn;
pub mod metrics;
pub mod popularity;
pub mod serve;
mod shortlist;
mod sparse;
pub mod split;

pub use interactions::Interactions;
pub use sparse::Csr;

/// Result with a [`RecommendError`] by default.
pub type Result<T, E = RecommendError> = std::result::Result<T, E>;

/// Why a recommender could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error("parameter `{name}`: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("{what}: {reason}")]
    InvalidData { what: &'static str, reason: String },
}

/// A scored item for one user, best first in any list.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    /// Dense item index (see [`Interactions::item_id`]).
    pub item: u32,
    pub score: f32,
}

/// The `n` best of `scores` (by score, then by lower index), skipping `exclude(item)`: the
/// whole-catalogue ranking the tests' reference listing uses (serving ranks with
/// `candidates`).
#[cfg(test)]
pub(crate) fn top_n(scores: &[f32], n: usize, exclude: impl Fn(u32) -> bool) -> Vec<Scored> {
    let mut best: Vec<Scored> = Vec::with_capacity(n + 1);
    for (i, s) in scores.iter().enumerate() {
        let i = i as u32;
        if !s.is_finite() || exclude(i) {
            continue;
        }
        if best.len() == n && best.last().is_some_and(|w| *s <= w.score) {
            continue;
        }
        let at = best.partition_point(|b| b.score > *s || (b.score == *s && b.item < i));
        best.insert(at, Scored { item: i, score: *s });
        best.truncate(n);
    }
    best
}
