//! Experiments: who gets which arm, and did the treatment work.
//!
//! [`arms`] assigns a user to an arm the way GrowthBook does (the holdout's hash with the
//! experiment's seed; arms take consecutive ranges of [0, 1) sized by weight). [`readout`]
//! compares an arm with the control as GrowthBook's `gbstats` does in its frequentist engine:
//! a two-sided Welch t-test of the absolute and of the relative lift (delta method), with and
//! without CUPED, from per-arm sums ([`sample::Sample`]); [`srm`] checks the arms' sizes
//! against their weights. Start from [`readout::compare`]. [`uplift_metrics`] evaluates a
//! model's predicted uplift as scikit-uplift does (Qini coefficient, AUUC, uplift at k).

pub mod arms;
mod dist;
pub mod readout;
pub mod sample;
pub mod srm;
pub mod uplift_metrics;

#[cfg(test)]
mod gbstats_tests;
#[cfg(test)]
mod sklift_tests;
