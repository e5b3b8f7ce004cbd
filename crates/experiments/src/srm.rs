//! The sample-ratio-mismatch check: a chi-square goodness-of-fit test of the arms' sizes
//! against their weights (gbstats' `check_srm`).

use crate::dist::chi_square_sf;

/// The p-value below which a readout is flagged: the arms' sizes are too unlikely under the
/// weights for the assignment to be trusted.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The p-value of observing `users` per arm under `weights` (1 without users).
pub fn srm_p_value(users: &[u64], weights: &[f64]) -> f64 {
    let total: u64 = users.iter().sum();
    if total == 0 {
        return 1.0;
    }
    let total_weight: f64 = weights.iter().sum();
    let x: f64 = users
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&o, w)| {
            let e = w / total_weight * total as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    chi_square_sf(x, (users.len() - 1) as f64)
}
