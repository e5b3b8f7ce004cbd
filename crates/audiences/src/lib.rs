//! Marketing audiences: who, of the users an audience's rule matched, is contacted this run.
//!
//! Start from [`select`]: given each audience's matched users (in the order the audience ranks
//! them), who may be contacted on each channel ([`Population`]) and the channels' frequency
//! caps, it walks the audiences from the highest priority down and decides for each matched
//! user either membership or the one [`Suppression`] that kept them out. [`holdout`] holds the
//! GrowthBook-compatible hash that picks the global holdout group, so an analyst can recompute
//! it in SQL, Python or GrowthBook itself. [`plan`] decides, of an audience's members, whom
//! contacting is worth its cost under a budget.
//!
//! The crate knows nothing of DataFusion or files: the pipeline evaluates the rules in SQL and
//! hands over indices.

pub mod holdout;
pub mod plan;
mod select;

pub use select::{Audience, Decision, Population, Selection, Suppression, select};
