//! What each model step reports in the manifest's `models`: typed, so the next run, `score`
//! and the CLI summary read the same fields the step wrote.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use lifecycle_clv::{BgNbd, GammaGamma, HoldoutEvaluation};
use lifecycle_models::churn::{ChurnTraining, ModelEvaluation, Split};
use lifecycle_models::kmeans::KChoice;
use lifecycle_recommend::metrics::RankingMetrics;
use serde::{Deserialize, Serialize};

/// One report per model step that ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelReports {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clv: Option<ClvReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<SegmentationReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<RecommendationReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplift: Option<UpliftReport>,
}

/// `[uplift]`: the training and held-out users, and each model's evaluation on the latter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpliftReport {
    pub training_users: usize,
    pub test_users: usize,
    pub models: Vec<UpliftEvaluation>,
    /// Why nothing was fitted (no finished assignments yet, or an arm without users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The contact plan over the scored audience (with `[clv]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<ContactPlanReport>,
}

/// The contact plan: whom contacting is worth its cost, and what that is expected to bring.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactPlanReport {
    pub audience: String,
    /// The uplift model used: the best Qini on the held-out users.
    pub model: String,
    pub cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    pub members: usize,
    pub sent: usize,
    /// Σ expected incremental value (uplift × CLV − cost) over the members sent to.
    pub expected_value: f64,
    /// The same had every member been contacted.
    pub expected_value_all: f64,
}

/// One uplift model on the held-out users (scikit-uplift's definitions).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpliftEvaluation {
    /// `<method>_<learner>`, as in `uplift_scores`.
    pub model: String,
    /// The Qini coefficient (`qini_auc_score`, negative effects allowed); null where it is
    /// undefined (e.g. no held-out user bought), as the others.
    pub qini: Option<f64>,
    /// The normalised area under the uplift curve (`uplift_auc_score`).
    pub auuc: Option<f64>,
    /// Treated minus control purchase rate among the top 10% and 30% by predicted uplift.
    pub uplift_at_10: Option<f64>,
    pub uplift_at_30: Option<f64>,
}

/// `[clv]`: the fitted repeat-purchase and Gamma-Gamma models, and the holdout evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClvReport {
    pub time_unit_days: f64,
    pub period_days: u32,
    pub customers: usize,
    pub repeat_customers: usize,
    /// The repeat-purchase model used (`bgnbd`, `mbgnbd`, `pareto_nbd`).
    #[serde(default = "bgnbd_name")]
    pub model: String,
    /// The BG/NBD fit, when it is the model used (under this name since the first manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgnbd: Option<BgNbd>,
    pub gamma_gamma: GammaGamma,
    /// Every repeat-purchase model fitted (all three with `model = "auto"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<ClvCandidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<ClvHoldout>,
}

fn bgnbd_name() -> String {
    "bgnbd".into()
}

/// One repeat-purchase model fitted on the whole history, and how it did on the holdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvCandidate {
    pub model: String,
    pub parameters: BTreeMap<String, f64>,
    /// From the observed information at the optimum (absent when it is not positive definite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_errors: Option<BTreeMap<String, f64>>,
    pub log_likelihood: f64,
    /// `2k − 2 ln L`, k = 4.
    pub aic: f64,
    /// Mean absolute error of the repeat purchases per customer over the holdout, fitted on the
    /// calibration period (with `holdout_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_mae_per_customer: Option<f64>,
    /// Whether this is the model used.
    pub chosen: bool,
}

/// Models fitted before `calibration_end` and judged on the holdout after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClvHoldout {
    Evaluated {
        calibration_end: DateTime<Utc>,
        holdout_days: u32,
        customers: usize,
        /// The model judged (the one used).
        #[serde(default = "bgnbd_name")]
        model: String,
        /// Its calibration fit, when it is the BG/NBD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bgnbd: Option<BgNbd>,
        gamma_gamma: GammaGamma,
        #[serde(flatten)]
        evaluation: HoldoutEvaluation,
    },
    /// Nothing to evaluate (no purchases before the holdout).
    Skipped { error: String },
}

/// `[segmentation]`: the clusters, how `k` was chosen and how labels were kept stable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentationReport {
    pub users: usize,
    pub k: usize,
    pub features: Vec<String>,
    pub scaling: Vec<FeatureScaling>,
    pub k_choice: Option<KChoice>,
    pub inertia: f64,
    pub iterations: usize,
    pub label_matching: LabelMatching,
    pub clusters: Vec<ClusterSummary>,
    /// The saved model (`_runs/<run_id>/models/segmentation.json`).
    pub artifact: String,
}

/// Whether a feature went through `log1p` before standardising.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureScaling {
    pub feature: String,
    pub log1p: bool,
}

/// How today's cluster numbers relate to the previous run's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelMatching {
    pub method: String,
    /// Today's cluster `i` took the number `relabelled[i]`, when matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relabelled: Option<Vec<usize>>,
}

/// One cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSummary {
    pub cluster: usize,
    pub name: String,
    pub users: i64,
}

/// `[churn]`: the candidates' metrics, the chosen model, the gate and the saved model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnReport {
    pub population: String,
    pub horizon_days: u32,
    pub observation_dates: Vec<ObservationSummary>,
    pub features: Vec<String>,
    pub selected: String,
    pub evaluations: Vec<ModelEvaluation>,
    pub importance: Vec<FeatureShare>,
    pub min_validation_auc: f64,
    /// Whether `churn_scores` was published (the test ROC-AUC passed the gate).
    pub published: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    pub scored_users: usize,
    pub training: ChurnTraining,
    /// The saved model (`_runs/<run_id>/models/churn.json`).
    pub artifact: String,
}

impl ChurnReport {
    /// The selected model's metrics on the test date.
    pub fn test_metrics(&self) -> Option<&lifecycle_models::metrics::Evaluation> {
        self.evaluations
            .iter()
            .find(|e| e.model == self.selected && e.split == Split::Test)
            .map(|e| &e.metrics)
    }
}

/// One labelled observation date.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservationSummary {
    pub date: NaiveDate,
    pub split: Split,
    pub users: usize,
    pub churned: usize,
    pub base_rate: f64,
}

/// A feature's share of the model's importance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureShare {
    pub feature: String,
    pub share: f64,
}

/// `[recommendations]`: the catalogue and the offline evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecommendationReport {
    pub users_with_history: usize,
    pub items: usize,
    pub test_start: NaiveDate,
    /// Users with history before the test period and items in it.
    pub test_users: usize,
    /// Those the evaluation judged (at most `evaluation_users`).
    pub evaluated_users: usize,
    pub k: usize,
    pub evaluation: Vec<AlgorithmEvaluation>,
}

/// One list's ranking metrics on the time split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlgorithmEvaluation {
    pub algorithm: String,
    pub metrics: RankingMetrics,
}

/// `[[experiments]]`: the users assigned and measured per arm, and the sample-ratio check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// Users this run assigned, over every experiment.
    pub assigned_today: u64,
    pub experiments: std::collections::BTreeMap<String, ExperimentCounts>,
}

/// One experiment's counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExperimentCounts {
    /// Users assigned per arm so far.
    pub assigned: std::collections::BTreeMap<String, u64>,
    /// Users per arm whose window has ended (those the results measure).
    pub measured: std::collections::BTreeMap<String, u64>,
    /// The chi-square p-value of the assigned users against the arms' weights.
    pub srm_p_value: f64,
    /// `srm_p_value` below 0.001: the assignment is not to be trusted.
    pub srm_flagged: bool,
}

/// `[[audiences]]`: who the rules matched, who was kept out and why, and who is contacted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AudienceReport {
    /// Users in `user_profile`.
    pub users: usize,
    /// Users in the global holdout group (`[holdout]`).
    pub held_out: usize,
    /// Consent rows that deny because they cannot be read (no time, channel or known status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_rows_unreadable: Option<u64>,
    /// Contact rows not counted towards caps (no user, channel or readable time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_rows_unreadable: Option<u64>,
    /// Suppressions per reason, over every audience.
    pub suppressed: std::collections::BTreeMap<String, u64>,
    pub audiences: Vec<AudienceCounts>,
}

/// One audience's sizes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AudienceCounts {
    pub name: String,
    pub channel: String,
    /// Users its rule matched.
    pub matched: u64,
    pub members: u64,
    /// Members who were not members on the previous committed run, and the reverse.
    pub entered: u64,
    pub exited: u64,
    /// Matched users kept out, per reason.
    pub suppressed: std::collections::BTreeMap<String, u64>,
}

/// `[monitoring]`: what this run was compared with and what crossed a limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MonitoringReport {
    /// The committed run compared with (None on a first run: nothing to compare).
    pub compared_with: Option<NaiveDate>,
    /// Columns and counts beyond `[monitoring]`'s limits.
    pub flagged: Vec<DriftFlag>,
}

/// One value beyond a `[monitoring]` limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftFlag {
    pub table: String,
    pub column: String,
    /// `psi`, or `row_change` (the relative change of a row count).
    pub metric: DriftMetric,
    pub value: f64,
    pub limit: f64,
}

impl std::fmt::Display for DriftFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}: {} {:.3} above {:.3}",
            self.table,
            self.column,
            self.metric.name(),
            self.value,
            self.limit
        )
    }
}

/// What a `monitoring` row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMetric {
    /// Population stability index against the previous run (10 bins at its deciles, or the
    /// categories of a text column).
    Psi,
    /// Mean of the non-null values.
    Mean,
    /// Share of nulls.
    NullShare,
    /// Share of rows in one category (`category`).
    Share,
    /// A row count; flagged by its relative change.
    RowChange,
}

impl DriftMetric {
    /// Its name in the table and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            DriftMetric::Psi => "psi",
            DriftMetric::Mean => "mean",
            DriftMetric::NullShare => "null_share",
            DriftMetric::Share => "share",
            DriftMetric::RowChange => "row_change",
        }
    }
}
