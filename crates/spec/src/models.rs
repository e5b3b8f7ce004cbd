//! `[segmentation]` and `[churn]`: the models trained on the per-user feature table. Feature
//! column names are checked against `user_features` when the run plans its steps (they depend on
//! `[features]`), the rest here.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};

/// `[segmentation]`: K-means clusters of users, written to `user_clusters` and
/// `cluster_profiles`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationSettings {
    #[serde(default)]
    pub enabled: bool,
    /// `user_features` columns to cluster on (standardised; skewed ones get `log1p`).
    #[serde(default = "default_segmentation_features")]
    pub features: Vec<String>,
    /// A fixed number of clusters; without it, `k` is chosen by silhouette over `k_range`.
    #[serde(default)]
    pub k: Option<usize>,
    #[serde(default = "default_k_range")]
    pub k_range: [usize; 2],
    /// Users sampled for the silhouette score.
    #[serde(default = "default_silhouette_sample")]
    pub silhouette_sample: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_kmeans_iterations")]
    pub max_iterations: usize,
    /// Independent k-means++ starts.
    #[serde(default = "default_n_init")]
    pub n_init: usize,
}

impl Default for SegmentationSettings {
    fn default() -> Self {
        SegmentationSettings {
            enabled: false,
            features: default_segmentation_features(),
            k: None,
            k_range: default_k_range(),
            silhouette_sample: default_silhouette_sample(),
            seed: default_seed(),
            max_iterations: default_kmeans_iterations(),
            n_init: default_n_init(),
        }
    }
}

fn default_segmentation_features() -> Vec<String> {
    [
        "recency_days",
        "tenure_days",
        "events_30d",
        "active_days_30d",
        "purchases_total",
        "revenue_total",
    ]
    .map(String::from)
    .to_vec()
}
fn default_k_range() -> [usize; 2] {
    [2, 8]
}
fn default_silhouette_sample() -> usize {
    5000
}
fn default_seed() -> u64 {
    42
}
fn default_kmeans_iterations() -> usize {
    300
}
fn default_n_init() -> usize {
    10
}

/// What counts as activity for a churn label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnActivity {
    /// Any event.
    Any,
    /// A purchase-type event.
    Purchase,
}

/// A churn classifier to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnModelKind {
    Logistic,
    Gbdt,
}

/// `[churn]`: churn probabilities for active users, written to `churn_scores`, with metrics in
/// `model_metrics`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSettings {
    #[serde(default)]
    pub enabled: bool,
    /// `H`: a user churns if they are inactive in `[T0, T0 + H)`.
    #[serde(default = "default_horizon")]
    pub horizon_days: u32,
    /// The population at `T0`: users with an event in `[T0 − active_window_days, T0)`.
    #[serde(default = "default_active_window")]
    pub active_window_days: u32,
    #[serde(default = "default_activity")]
    pub activity: ChurnActivity,
    /// Explicit churn (subscriptions): the population is users with no such event before `T0`,
    /// and churn is such an event in `[T0, T0 + H)`.
    #[serde(default)]
    pub churn_event_types: Vec<String>,
    /// Observation dates `T0 = cutoff − H − j · step_days`, `j = 0..n`: the latest is the test
    /// set, the next the validation set, the rest train. At least 3.
    #[serde(default = "default_observation_dates")]
    pub observation_dates: usize,
    /// Days between observation dates (default: the horizon).
    #[serde(default)]
    pub step_days: Option<u32>,
    /// Classifiers to train; the one with the best validation ROC-AUC scores the users.
    #[serde(default = "default_models")]
    pub models: Vec<ChurnModelKind>,
    /// `user_features` columns to use; empty: every numeric column.
    #[serde(default)]
    pub features: Vec<String>,
    /// Below this ROC-AUC on the test date, no scores are published (the run still commits).
    #[serde(default = "default_min_auc")]
    pub min_validation_auc: f64,
    /// Weigh classes equally in training (`balanced`) or not (`none`).
    #[serde(default = "default_class_weight")]
    pub class_weight: ClassWeight,
    /// How scores become probabilities on the validation date: `platt`, `isotonic`, or `auto`
    /// (the lower cross-validated Brier score there).
    #[serde(default = "default_calibration")]
    pub calibration: ChurnCalibration,
    /// L2 penalty of the logistic regression.
    #[serde(default = "default_l2")]
    pub l2: f64,
    #[serde(default)]
    pub gbdt: GbdtSettings,
    /// Also publish the labelled training frames as `churn_training` (for audits and for
    /// comparing with other libraries).
    #[serde(default)]
    pub export_training: bool,
}

/// `[churn] calibration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnCalibration {
    Platt,
    Isotonic,
    Auto,
}

/// Class weights in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    Balanced,
    None,
}

impl Default for ChurnSettings {
    fn default() -> Self {
        ChurnSettings {
            enabled: false,
            horizon_days: default_horizon(),
            active_window_days: default_active_window(),
            activity: default_activity(),
            churn_event_types: vec![],
            observation_dates: default_observation_dates(),
            step_days: None,
            models: default_models(),
            features: vec![],
            min_validation_auc: default_min_auc(),
            class_weight: default_class_weight(),
            calibration: default_calibration(),
            l2: default_l2(),
            gbdt: GbdtSettings::default(),
            export_training: false,
        }
    }
}

impl ChurnSettings {
    /// Days between observation dates.
    pub fn step(&self) -> u32 {
        self.step_days.unwrap_or(self.horizon_days)
    }
}

fn default_horizon() -> u32 {
    30
}
fn default_active_window() -> u32 {
    30
}
fn default_activity() -> ChurnActivity {
    ChurnActivity::Any
}
fn default_observation_dates() -> usize {
    4
}
fn default_models() -> Vec<ChurnModelKind> {
    vec![ChurnModelKind::Logistic, ChurnModelKind::Gbdt]
}
fn default_min_auc() -> f64 {
    0.6
}
fn default_class_weight() -> ClassWeight {
    ClassWeight::Balanced
}
fn default_calibration() -> ChurnCalibration {
    ChurnCalibration::Platt
}
fn default_l2() -> f64 {
    1e-4
}

/// `[churn.gbdt]`: gradient-boosted trees.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GbdtSettings {
    #[serde(default = "default_max_trees")]
    pub max_trees: usize,
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    #[serde(default = "default_min_leaf")]
    pub min_samples_leaf: usize,
    #[serde(default = "default_gbdt_l2")]
    pub l2: f64,
    #[serde(default = "default_early_stopping")]
    pub early_stopping_rounds: usize,
}

impl Default for GbdtSettings {
    fn default() -> Self {
        GbdtSettings {
            max_trees: default_max_trees(),
            learning_rate: default_learning_rate(),
            max_depth: default_max_depth(),
            min_samples_leaf: default_min_leaf(),
            l2: default_gbdt_l2(),
            early_stopping_rounds: default_early_stopping(),
        }
    }
}

fn default_max_trees() -> usize {
    300
}
fn default_learning_rate() -> f64 {
    0.1
}
fn default_max_depth() -> usize {
    6
}
fn default_min_leaf() -> usize {
    20
}
fn default_gbdt_l2() -> f64 {
    1.0
}
fn default_early_stopping() -> usize {
    20
}

pub(crate) fn validate_segmentation(s: &SegmentationSettings) -> Result<()> {
    if !s.enabled {
        return Ok(());
    }
    if s.features.is_empty() {
        return Err(SpecError::invalid(
            "segmentation.features",
            "name at least one user_features column",
        ));
    }
    if s.k == Some(0) || s.k == Some(1) {
        return Err(SpecError::invalid("segmentation.k", "must be at least 2"));
    }
    let [lo, hi] = s.k_range;
    if lo < 2 || hi < lo {
        return Err(SpecError::invalid(
            "segmentation.k_range",
            format!("[{lo}, {hi}] is not a range [low, high] with 2 <= low <= high"),
        ));
    }
    if s.silhouette_sample < 10 || s.max_iterations == 0 || s.n_init == 0 {
        return Err(SpecError::invalid(
            "segmentation.silhouette_sample / max_iterations / n_init",
            "silhouette_sample must be at least 10, the others at least 1",
        ));
    }
    Ok(())
}

pub(crate) fn validate_churn(c: &ChurnSettings) -> Result<()> {
    if !c.enabled {
        return Ok(());
    }
    for (key, v) in [
        ("churn.horizon_days", c.horizon_days),
        ("churn.active_window_days", c.active_window_days),
        ("churn.step_days", c.step()),
    ] {
        if v == 0 {
            return Err(SpecError::invalid(key, "must be at least 1 day"));
        }
    }
    let lookback = c.horizon_days as u64 + c.observation_dates as u64 * c.step() as u64;
    crate::error::check_days(
        "churn.horizon_days / observation_dates / step_days",
        lookback,
    )?;
    crate::error::check_days("churn.active_window_days", c.active_window_days as u64)?;
    if c.observation_dates < 3 {
        return Err(SpecError::invalid(
            "churn.observation_dates",
            "at least 3: one to test on, one to validate on, one or more to train on",
        ));
    }
    if c.models.is_empty() {
        return Err(SpecError::invalid(
            "churn.models",
            "name at least one of \"logistic\", \"gbdt\"",
        ));
    }
    if !(0.0..=1.0).contains(&c.min_validation_auc) {
        return Err(SpecError::invalid(
            "churn.min_validation_auc",
            "must be between 0 and 1",
        ));
    }
    if c.l2.is_nan() || c.l2 < 0.0 {
        return Err(SpecError::invalid("churn.l2", "must be zero or more"));
    }
    let g = &c.gbdt;
    if !(g.learning_rate > 0.0 && g.learning_rate <= 1.0) {
        return Err(SpecError::invalid(
            "churn.gbdt.learning_rate",
            "must be in (0, 1]",
        ));
    }
    if g.max_trees == 0 || g.max_depth == 0 || g.min_samples_leaf == 0 {
        return Err(SpecError::invalid(
            "churn.gbdt.max_trees / max_depth / min_samples_leaf",
            "must be at least 1",
        ));
    }
    if g.l2.is_nan() || g.l2 < 0.0 {
        return Err(SpecError::invalid("churn.gbdt.l2", "must be zero or more"));
    }
    if c.churn_event_types.iter().any(|t| t.is_empty()) {
        return Err(SpecError::invalid(
            "churn.churn_event_types",
            "event type names must not be empty",
        ));
    }
    Ok(())
}
