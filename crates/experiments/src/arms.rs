//! Arm assignment: GrowthBook's bucket ranges (`getBucketRanges`) and choice of variation
//! (`chooseVariation`) over the version-2 hash of the holdout group.

use lifecycle_audiences::holdout::bucket;

/// The ranges of [0, 1) that the arms take, in order, each `coverage × weight` wide from the
/// start of its share (GrowthBook's `getBucketRanges`: coverage clamped to [0, 1]; weights
/// that are not one per arm or do not sum to 1 ± 0.01 fall back to equal weights).
pub fn bucket_ranges(arms: usize, coverage: f64, weights: Option<&[f64]>) -> Vec<(f64, f64)> {
    let coverage = coverage.clamp(0.0, 1.0);
    let equal = vec![1.0 / arms as f64; arms];
    let weights = match weights {
        Some(w) if w.len() == arms && (0.99..=1.01).contains(&w.iter().sum::<f64>()) => w,
        _ => &equal,
    };
    let mut start = 0.0;
    weights
        .iter()
        .map(|w| {
            let range = (start, start + coverage * w);
            start += w;
            range
        })
        .collect()
}

/// The arm whose range holds `n` (GrowthBook's `chooseVariation`), or None.
pub fn choose(n: f64, ranges: &[(f64, f64)]) -> Option<usize> {
    ranges.iter().position(|&(lo, hi)| n >= lo && n < hi)
}

/// A user's bucket and arm in an experiment of `seed` with these `ranges`.
pub fn assign(seed: &str, user_id: &str, ranges: &[(f64, f64)]) -> (f64, Option<usize>) {
    let b = bucket(seed, user_id);
    (b, choose(b, ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GrowthBook's `getBucketRange` cases (`packages/sdk-js/test/cases.json`): arms, coverage,
    /// weights, expected ranges.
    #[allow(clippy::type_complexity)]
    const RANGES: [(&str, usize, f64, Option<&[f64]>, &[(f64, f64)]); 12] = [
        ("normal 50/50", 2, 1.0, None, &[(0.0, 0.5), (0.5, 1.0)]),
        (
            "reduced coverage",
            2,
            0.5,
            None,
            &[(0.0, 0.25), (0.5, 0.75)],
        ),
        ("zero coverage", 2, 0.0, None, &[(0.0, 0.0), (0.5, 0.5)]),
        (
            "4 variations",
            4,
            1.0,
            None,
            &[(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)],
        ),
        (
            "uneven weights",
            2,
            1.0,
            Some(&[0.4, 0.6]),
            &[(0.0, 0.4), (0.4, 1.0)],
        ),
        (
            "uneven weights, 3 variations",
            3,
            1.0,
            Some(&[0.2, 0.3, 0.5]),
            &[(0.0, 0.2), (0.2, 0.5), (0.5, 1.0)],
        ),
        (
            "uneven weights, reduced coverage, 3 variations",
            3,
            0.2,
            Some(&[0.2, 0.3, 0.5]),
            &[(0.0, 0.04), (0.2, 0.26), (0.5, 0.6)],
        ),
        (
            "negative coverage",
            2,
            -0.2,
            None,
            &[(0.0, 0.0), (0.5, 0.5)],
        ),
        ("coverage above 1", 2, 1.5, None, &[(0.0, 0.5), (0.5, 1.0)]),
        (
            "weights sum below 1",
            2,
            1.0,
            Some(&[0.4, 0.1]),
            &[(0.0, 0.5), (0.5, 1.0)],
        ),
        (
            "weights sum above 1",
            2,
            1.0,
            Some(&[0.7, 0.6]),
            &[(0.0, 0.5), (0.5, 1.0)],
        ),
        (
            "weights sum almost equals 1",
            2,
            1.0,
            Some(&[0.4, 0.5999]),
            &[(0.0, 0.4), (0.4, 0.9999)],
        ),
    ];

    #[test]
    fn bucket_ranges_match_growthbooks_cases() {
        for (name, arms, coverage, weights, expected) in RANGES {
            let got = bucket_ranges(arms, coverage, weights);
            assert_eq!(got.len(), expected.len(), "{name}");
            for ((lo, hi), (elo, ehi)) in got.iter().zip(expected) {
                assert!(
                    (lo - elo).abs() < 1e-9 && (hi - ehi).abs() < 1e-9,
                    "{name}: {got:?}"
                );
            }
        }
        // "weights.length not equal to num variations": equal weights.
        assert_eq!(bucket_ranges(4, 1.0, Some(&[0.4, 0.4, 0.2])).len(), 4);
    }

    #[test]
    fn choice_matches_growthbooks_cases() {
        let even = [(0.0, 0.5), (0.5, 1.0)];
        let reduced = [(0.0, 0.25), (0.5, 0.75)];
        for (n, ranges, expected) in [
            (0.2, &even[..], Some(0)),
            (0.4, &even, Some(0)),
            (0.6, &even, Some(1)),
            (0.8, &even, Some(1)),
            (0.0, &even, Some(0)),
            (0.5, &even, Some(1)),
            (0.2, &reduced, Some(0)),
            (0.4, &reduced, None),
            (0.6, &reduced, Some(1)),
            (0.8, &reduced, None),
            (0.25, &reduced, None),
            (0.5, &reduced, Some(1)),
            (0.5, &[(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)], Some(2)),
        ] {
            assert_eq!(choose(n, ranges), expected, "{n} in {ranges:?}");
        }
    }

    #[test]
    fn assignment_matches_growthbooks_experiment_case() {
        // cases.json, feature "creates experiments properly": seed "feature", hash version 2,
        // anonId "123", weights 0.1 / 0.9: bucket 0.5231, variation 1.
        let ranges = bucket_ranges(2, 1.0, Some(&[0.1, 0.9]));
        assert_eq!(assign("feature", "123", &ranges), (0.5231, Some(1)));
    }

    #[test]
    fn arm_shares_are_kept_within_a_point_on_100k_users() {
        let weights = [0.2, 0.3, 0.5];
        let ranges = bucket_ranges(3, 1.0, Some(&weights));
        let mut counts = [0usize; 3];
        for i in 0..100_000 {
            let (_, arm) = assign("exp-2026-winback", &format!("u{i:06}"), &ranges);
            counts[arm.expect("full coverage assigns everyone")] += 1;
        }
        for (c, w) in counts.iter().zip(weights) {
            let share = *c as f64 / 100_000.0;
            assert!((share - w).abs() < 0.01, "{counts:?}");
        }
    }
}
