//! The stage forecast: the expected mix of lifecycle stages some periods ahead, treating the
//! transitions observed between two runs as a Markov chain.
//!
//! It assumes what a Markov chain assumes: a user's next stage depends on the current one only,
//! the shares of one period hold in the next, and the population is closed (new users are not
//! forecast). A stage no user was in last period has no observed row; its users are forecast to
//! stay.
//!
//! ```
//! use lifecycle_models::markov::StageChain;
//! let chain = StageChain::from_counts([("active", "active", 9), ("active", "lapsed", 1), ("lapsed", "lapsed", 1)]);
//! let mix = [("active".to_string(), 100.0)].into_iter().collect();
//! let ahead = chain.forecast(&mix, 1);
//! assert!((ahead["lapsed"] - 10.0).abs() < 1e-9);
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// Row-stochastic transition shares between stages.
#[derive(Debug, Clone, PartialEq)]
pub struct StageChain {
    /// `shares[from][to]`: of the users in `from` last period, the share in `to` now.
    shares: BTreeMap<String, BTreeMap<String, f64>>,
}

impl StageChain {
    /// The chain of observed `(from, to, users)` counts (users who were in neither stage on one
    /// side, new or gone, are left out by the caller).
    pub fn from_counts<S: Into<String>>(counts: impl IntoIterator<Item = (S, S, u64)>) -> Self {
        let mut users: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (from, to, n) in counts {
            *users
                .entry(from.into())
                .or_default()
                .entry(to.into())
                .or_default() += n;
        }
        let shares = users
            .into_iter()
            .filter_map(|(from, row)| {
                let total: u64 = row.values().sum();
                let row = row.into_iter().map(|(to, n)| (to, n as f64 / total as f64));
                (total > 0).then(|| (from, row.collect()))
            })
            .collect();
        StageChain { shares }
    }

    /// Whether no transition was observed (nothing to forecast from).
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// The expected users per stage `periods` steps after `mix` (users per stage now).
    pub fn forecast(&self, mix: &BTreeMap<String, f64>, periods: u32) -> BTreeMap<String, f64> {
        let mut now = self.with_every_stage(mix);
        for _ in 0..periods {
            let mut next: BTreeMap<String, f64> = now.keys().map(|k| (k.clone(), 0.0)).collect();
            for (from, users) in &now {
                match self.shares.get(from) {
                    Some(row) => row.iter().for_each(|(to, share)| {
                        *next.entry(to.clone()).or_default() += users * share
                    }),
                    None => *next.entry(from.clone()).or_default() += users,
                }
            }
            now = next;
        }
        now
    }

    /// `mix` with a zero for every stage the chain knows and the mix does not hold.
    fn with_every_stage(&self, mix: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        let known: BTreeSet<&String> = self
            .shares
            .iter()
            .flat_map(|(from, row)| std::iter::once(from).chain(row.keys()))
            .collect();
        let mut all = mix.clone();
        for stage in known {
            all.entry(stage.clone()).or_insert(0.0);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn close(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> bool {
        a.len() == b.len() && a.iter().all(|(k, v)| (b[k] - v).abs() < 1e-9)
    }

    #[test]
    fn two_stages_by_hand() {
        // active -> active 0.9, -> lapsed 0.1; lapsed -> active 0.5, -> lapsed 0.5.
        let chain = StageChain::from_counts([
            ("active", "active", 90),
            ("active", "lapsed", 10),
            ("lapsed", "active", 20),
            ("lapsed", "lapsed", 20),
        ]);
        let now = mix(&[("active", 100.0)]);
        assert!(close(
            &chain.forecast(&now, 0),
            &mix(&[("active", 100.0), ("lapsed", 0.0)])
        ));
        assert!(close(
            &chain.forecast(&now, 1),
            &mix(&[("active", 90.0), ("lapsed", 10.0)])
        ));
        // 2: 81 + 5, 9 + 5; 3: 77.4 + 7, 8.6 + 7.
        assert!(close(
            &chain.forecast(&now, 3),
            &mix(&[("active", 84.4), ("lapsed", 15.6)])
        ));
        // The stationary mix (5/6, 1/6) stays.
        let stationary = mix(&[("active", 500.0), ("lapsed", 100.0)]);
        assert!(close(&chain.forecast(&stationary, 3), &stationary));
    }

    #[test]
    fn a_stage_without_observed_transitions_stays_and_users_are_kept() {
        let chain = StageChain::from_counts([("new", "active", 3), ("new", "churned", 1)]);
        let now = mix(&[("new", 40.0), ("churned", 10.0), ("dormant", 5.0)]);
        let ahead = chain.forecast(&now, 2);
        let want = mix(&[
            ("new", 0.0),
            ("active", 30.0),
            ("churned", 20.0),
            ("dormant", 5.0),
        ]);
        assert!(close(&ahead, &want), "{ahead:?}");
        assert!((ahead.values().sum::<f64>() - 55.0).abs() < 1e-9);
        assert!(StageChain::from_counts(Vec::<(String, String, u64)>::new()).is_empty());
    }
}
