//! The holdout hash: GrowthBook's hash version 2, so that the same users are held out on every
//! run and anyone can recompute who they are (`fnv1a32(str(fnv1a32(seed + id))) % 10000 / 10000`).

/// FNV-1a, 32 bits, over the UTF-8 bytes of `s` (GrowthBook's SDKs hash the characters of the
/// string; for ASCII ids the two are the same).
pub fn fnv1a32(s: &str) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    s.bytes()
        .fold(OFFSET, |h, b| (h ^ b as u32).wrapping_mul(PRIME))
}

/// The bucket of `id` under `seed` in [0, 1), to four decimals: GrowthBook's `hash(seed, value,
/// 2)`.
pub fn bucket(seed: &str, id: &str) -> f64 {
    let inner = fnv1a32(&format!("{seed}{id}"));
    (fnv1a32(&inner.to_string()) % 10_000) as f64 / 10_000.0
}

/// The global holdout group: users whose bucket is below `share` are never contacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    pub share: f64,
    pub seed: String,
}

impl Holdout {
    /// Whether `id` is held out.
    pub fn holds_out(&self, id: &str) -> bool {
        bucket(&self.seed, id) < self.share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GrowthBook's published hash test cases for version 2 (`packages/sdk-js/test/cases.json`,
    /// section `hash`: seed, value, version, expected), and the check value of NOTES.md.
    const GROWTHBOOK_V2: [(&str, &str, f64); 8] = [
        ("seed", "a", 0.0505),
        ("seed", "b", 0.2696),
        ("foo", "ab", 0.2575),
        ("foo", "def", 0.2019),
        ("89123klj", "8952klfjas09ujkasdf", 0.124),
        ("90850943850283058242805", "123", 0.7516),
        ("()**(%$##$%#$#", "___)((*\":&", 0.0128),
        ("feature-exp", "i123", 0.9943),
    ];

    #[test]
    fn matches_growthbooks_vectors() {
        for (seed, id, expected) in GROWTHBOOK_V2 {
            assert_eq!(bucket(seed, id), expected, "seed {seed:?}, id {id:?}");
        }
    }

    #[test]
    fn fnv1a_reference_values() {
        // The FNV reference: the empty string is the offset basis.
        assert_eq!(fnv1a32(""), 0x811c_9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn share_is_kept_within_a_point_on_100k_ids() {
        let h = Holdout {
            share: 0.05,
            seed: "holdout-2024".into(),
        };
        let held = (0..100_000)
            .filter(|i| h.holds_out(&format!("u{i:06}")))
            .count();
        let share = held as f64 / 100_000.0;
        assert!((share - 0.05).abs() < 0.01, "held out {share}");
        // Another seed holds out other users.
        let other = Holdout {
            seed: "other".into(),
            ..h.clone()
        };
        let both = (0..100_000)
            .map(|i| format!("u{i:06}"))
            .filter(|id| h.holds_out(id) && other.holds_out(id))
            .count();
        assert!(both < held / 5, "{both} of {held} held out by both seeds");
    }
}
