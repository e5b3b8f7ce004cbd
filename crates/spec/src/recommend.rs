//! `[recommendations]`: a ranked list of items for every user, written to `recommendations`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};

/// `[recommendations]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationSettings {
    #[serde(default)]
    pub enabled: bool,
    /// Weight per event type; events of other types are not interactions.
    #[serde(default = "default_event_weights")]
    pub event_weights: BTreeMap<String, f64>,
    /// An event's weight halves every this many days before the cutoff; none: no decay.
    #[serde(default = "default_half_life")]
    pub half_life_days: Option<f64>,
    /// Only events in the last this many days count.
    #[serde(default = "default_window")]
    pub window_days: u32,
    /// Blend weight per algorithm (`item_item`, `als`, `popularity`, `buy_again`, `content`);
    /// an absent or zero weight turns the algorithm off.
    #[serde(default = "default_algorithms")]
    pub algorithms: BTreeMap<Algorithm, f64>,
    /// Items per user.
    #[serde(default = "default_n")]
    pub n: usize,
    /// Neighbours kept per item (item-item).
    #[serde(default = "default_neighbours")]
    pub neighbours: usize,
    /// How item-item measures similarity.
    #[serde(default)]
    pub similarity: Similarity,
    #[serde(default)]
    pub als: AlsSettings,
    /// Never recommend what the user already bought (durable goods); off for consumables.
    #[serde(default)]
    pub exclude_purchased: bool,
    /// Only these item ids may be recommended (empty: any).
    #[serde(default)]
    pub allow: Vec<String>,
    /// These item ids are never recommended.
    #[serde(default)]
    pub deny: Vec<String>,
    /// At most this many items of one category per list (needs `[items]` with a category).
    #[serde(default)]
    pub per_category: Option<usize>,
    /// Offline evaluation: train before `cutoff − test_days`, test on `[cutoff − test_days, cutoff)`.
    #[serde(default = "default_test_days")]
    pub test_days: u32,
    /// The evaluation judges at most this many test users: a sample by a hash of the id.
    #[serde(default = "default_evaluation_users")]
    pub evaluation_users: usize,
    /// Also publish `item_neighbours`.
    #[serde(default)]
    pub write_neighbours: bool,
    /// Also publish the evaluation's split: `recommendation_train` (user_id, item_id, weight)
    /// and `recommendation_test` (user_id, item_id), to compare other libraries on it.
    #[serde(default)]
    pub export_split: bool,
}

/// `[recommendations.als]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlsSettings {
    #[serde(default = "default_factors")]
    pub factors: usize,
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    #[serde(default = "default_regularization")]
    pub regularization: f64,
    /// Confidence `1 + alpha · weight`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_cg_steps")]
    pub cg_steps: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

impl Default for AlsSettings {
    fn default() -> Self {
        AlsSettings {
            factors: default_factors(),
            iterations: default_iterations(),
            regularization: default_regularization(),
            alpha: default_alpha(),
            cg_steps: default_cg_steps(),
            seed: default_seed(),
        }
    }
}

impl Default for RecommendationSettings {
    fn default() -> Self {
        RecommendationSettings {
            enabled: false,
            event_weights: default_event_weights(),
            half_life_days: default_half_life(),
            window_days: default_window(),
            algorithms: default_algorithms(),
            n: default_n(),
            neighbours: default_neighbours(),
            similarity: Similarity::Cosine,
            als: AlsSettings::default(),
            exclude_purchased: false,
            allow: vec![],
            deny: vec![],
            per_category: None,
            test_days: default_test_days(),
            evaluation_users: default_evaluation_users(),
            write_neighbours: false,
            export_split: false,
        }
    }
}

/// A recommendation algorithm a spec may name: the recommender's own vocabulary.
pub use lifecycle_recommend::serve::Algorithm;

/// `similarity`: how item-item measures the similarity of two items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Similarity {
    /// Cosine of the items' user vectors.
    #[default]
    Cosine,
    /// BM25-weighted (discounts heavy users and popular items; good for products).
    Bm25,
}

fn default_event_weights() -> BTreeMap<String, f64> {
    [
        ("purchase", 5.0),
        ("share", 3.0),
        ("like", 3.0),
        ("comment", 2.0),
        ("view", 1.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
fn default_half_life() -> Option<f64> {
    Some(30.0)
}
fn default_evaluation_users() -> usize {
    20_000
}
fn default_window() -> u32 {
    365
}
fn default_algorithms() -> BTreeMap<Algorithm, f64> {
    [
        (Algorithm::ItemItem, 1.0),
        (Algorithm::Als, 1.0),
        (Algorithm::BuyAgain, 0.5),
        (Algorithm::Popularity, 0.1),
    ]
    .into_iter()
    .collect()
}
fn default_n() -> usize {
    10
}
fn default_neighbours() -> usize {
    50
}
fn default_test_days() -> u32 {
    30
}
fn default_factors() -> usize {
    64
}
fn default_iterations() -> usize {
    15
}
fn default_regularization() -> f64 {
    0.01
}
fn default_alpha() -> f64 {
    10.0
}
fn default_cg_steps() -> usize {
    3
}
fn default_seed() -> u64 {
    42
}

pub(crate) fn validate_recommendations(r: &RecommendationSettings) -> Result<()> {
    if !r.enabled {
        return Ok(());
    }
    if r.event_weights.is_empty() || r.event_weights.values().any(|w| w.is_nan() || *w <= 0.0) {
        return Err(SpecError::invalid(
            "recommendations.event_weights",
            "give at least one event type with a weight above 0",
        ));
    }
    crate::error::check_days("recommendations.window_days", r.window_days as u64)?;
    crate::error::check_days("recommendations.test_days", r.test_days as u64)?;
    if r.half_life_days.is_some_and(|h| !h.is_finite() || h <= 0.0) {
        return Err(SpecError::invalid(
            "recommendations.half_life_days",
            "must be above 0 (leave it out for no decay)",
        ));
    }
    for (name, w) in &r.algorithms {
        if w.is_nan() || *w < 0.0 {
            return Err(SpecError::invalid(
                "recommendations.algorithms",
                format!("the weight of `{}` must be zero or more", name.name()),
            ));
        }
    }
    if !r.algorithms.values().any(|w| *w > 0.0) {
        return Err(SpecError::invalid(
            "recommendations.algorithms",
            "turn on at least one algorithm",
        ));
    }
    if r.n == 0
        || r.neighbours == 0
        || r.window_days == 0
        || r.test_days == 0
        || r.evaluation_users == 0
    {
        return Err(SpecError::invalid(
            "recommendations.n / neighbours / window_days / test_days / evaluation_users",
            "must be at least 1",
        ));
    }
    let a = &r.als;
    if a.factors == 0 || a.iterations == 0 || a.cg_steps == 0 {
        return Err(SpecError::invalid(
            "recommendations.als",
            "factors, iterations and cg_steps must be at least 1",
        ));
    }
    let negative = |v: f64| v.is_nan() || v < 0.0;
    if negative(a.regularization) || negative(a.alpha) {
        return Err(SpecError::invalid(
            "recommendations.als",
            "regularization and alpha must be zero or more",
        ));
    }
    if r.per_category == Some(0) {
        return Err(SpecError::invalid(
            "recommendations.per_category",
            "must be at least 1",
        ));
    }
    Ok(())
}
