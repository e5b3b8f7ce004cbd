//! Drift of one column between two runs: the population stability index (PSI) at the previous
//! run's deciles, the share of nulls and the mean.
//!
//! A value falls in bin `i` when `i` decile edges are at or below it (left-closed bins, open at
//! both ends, as `np.digitize` and toad's quantile combiner bin), so a value outside the previous
//! range still counts. Equal deciles (ties, e.g. counts that are mostly zero) merge into one edge.
//! A bin empty on one side only counts with its share floored at [`SHARE_FLOOR`]; a bin empty on
//! both sides adds nothing. `NaN` is a missing value: it counts in the null share, not in a bin.
//!
//! ```
//! use lifecycle_models::drift::Baseline;
//! let previous: Vec<f64> = (0..1000).map(f64::from).collect();
//! let same = Baseline::of(&previous).psi(&previous).unwrap();
//! assert!(same.abs() < 1e-12);
//! let shifted: Vec<f64> = (500..1500).map(f64::from).collect();
//! assert!(Baseline::of(&previous).psi(&shifted).unwrap() > 0.25);
//! ```

use std::collections::BTreeMap;

/// The share a bin empty on one side counts with (the usual choice, as in the widely used
/// `calculate_psi` of mwburke/population-stability-index).
pub const SHARE_FLOOR: f64 = 1e-4;

/// The number of quantile bins (deciles).
pub const BINS: usize = 10;

/// The non-null count, null share and mean of a column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Rows, nulls included.
    pub rows: usize,
    /// Nulls over rows (0 for no rows).
    pub null_share: f64,
    /// The mean of the non-null values, if there is one.
    pub mean: Option<f64>,
}

impl Summary {
    /// The summary of `values` (`NaN` = null).
    pub fn of(values: &[f64]) -> Summary {
        let (n, sum) = values
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
        Summary {
            rows: values.len(),
            null_share: match values.len() {
                0 => 0.0,
                rows => (rows - n) as f64 / rows as f64,
            },
            mean: (n > 0).then(|| sum / n as f64),
        }
    }
}

/// A column as the previous run saw it: the edges PSI bins by and the share in each bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    edges: Vec<f64>,
    shares: Vec<f64>,
}

impl Baseline {
    /// The baseline of the previous run's `values` (`NaN` = null).
    pub fn of(values: &[f64]) -> Baseline {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        let edges = deciles(&sorted);
        let shares = bin_shares(&edges, &sorted);
        Baseline { edges, shares }
    }

    /// The decile edges (distinct, ascending).
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// The PSI of `current` against this baseline; `None` when either side has no value.
    pub fn psi(&self, current: &[f64]) -> Option<f64> {
        let current: Vec<f64> = current.iter().copied().filter(|v| !v.is_nan()).collect();
        if current.is_empty() || self.shares.iter().all(|s| *s == 0.0) {
            return None;
        }
        Some(psi_of_shares(
            &self.shares,
            &bin_shares(&self.edges, &current),
        ))
    }
}

/// The PSI between two categorical distributions given as counts per category (e.g. users per
/// stage); `None` when either side has no count.
pub fn category_psi(
    previous: &BTreeMap<String, u64>,
    current: &BTreeMap<String, u64>,
) -> Option<f64> {
    let keys: std::collections::BTreeSet<&String> = previous.keys().chain(current.keys()).collect();
    let over_keys = |counts: &BTreeMap<String, u64>| -> Option<Vec<f64>> {
        keys.iter().map(|k| share(counts, k)).collect()
    };
    Some(psi_of_shares(&over_keys(previous)?, &over_keys(current)?))
}

/// The share of the rows in category `key` (0 when absent); `None` when there are no rows.
pub fn share(counts: &BTreeMap<String, u64>, key: &str) -> Option<f64> {
    let total: u64 = counts.values().sum();
    (total > 0).then(|| counts.get(key).copied().unwrap_or(0) as f64 / total as f64)
}

/// `sum((a - e) * ln(a / e))` over bins, each share floored at [`SHARE_FLOOR`]; a bin empty on
/// both sides adds nothing.
pub fn psi_of_shares(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .filter(|(e, a)| **e > 0.0 || **a > 0.0)
        .map(|(e, a)| {
            let (e, a) = (e.max(SHARE_FLOOR), a.max(SHARE_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// The distinct deciles (10%, ..., 90%) of ascending `sorted`, by linear interpolation between
/// order statistics (numpy's default quantile).
pub fn deciles(sorted: &[f64]) -> Vec<f64> {
    if sorted.is_empty() {
        return vec![];
    }
    let mut edges: Vec<f64> = (1..BINS)
        .map(|i| quantile(sorted, i as f64 / BINS as f64))
        .collect();
    edges.dedup();
    edges
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The share of `values` (no `NaN`) in each of the `edges.len() + 1` bins.
fn bin_shares(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0usize; edges.len() + 1];
    for v in values {
        counts[edges.partition_point(|e| *e <= *v)] += 1;
    }
    let n = values.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

#[cfg(test)]
mod tests;
