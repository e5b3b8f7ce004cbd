//! The spec as written: serde structs that mirror the TOML. Unknown keys are errors everywhere.
//! Every default lives in a `default_*` function next to its field and is documented in
//! `docs/job-spec.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Result, SpecError};

/// A job spec as parsed from TOML, before validation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub job: JobSection,
    pub events: SourceSpec,
    #[serde(default)]
    pub users: Option<SourceSpec>,
    #[serde(default)]
    pub items: Option<SourceSpec>,
    #[serde(default)]
    pub event_types: EventTypes,
    #[serde(default)]
    pub quality: QualitySettings,
    #[serde(default)]
    pub features: FeatureSettings,
    #[serde(default)]
    pub stages: StageSettings,
    #[serde(default)]
    pub storage: StorageSettings,
    #[serde(default)]
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub engine: crate::EngineSettings,
    /// `user_features` from a rollup updated with the recent days (`[incremental]`).
    #[serde(default)]
    pub incremental: Option<crate::IncrementalSettings>,
    #[serde(default)]
    pub clv: ClvSettings,
    #[serde(default)]
    pub segmentation: crate::SegmentationSettings,
    #[serde(default)]
    pub churn: crate::ChurnSettings,
    #[serde(default)]
    pub recommendations: crate::RecommendationSettings,
    /// Who may be contacted on which channel (`[consent]`).
    #[serde(default)]
    pub consent: Option<crate::ConsentSpec>,
    /// The send history (`[contacts]`), for frequency caps.
    #[serde(default)]
    pub contacts: Option<SourceSpec>,
    #[serde(default)]
    pub holdout: Option<crate::HoldoutSettings>,
    /// `[caps.<channel>]`
    #[serde(default)]
    pub caps: std::collections::BTreeMap<String, crate::CapSettings>,
    #[serde(default)]
    pub audiences: Vec<crate::AudienceSpec>,
    /// A/B tests over audiences (`[[experiments]]`).
    #[serde(default)]
    pub experiments: Vec<crate::ExperimentSpec>,
    /// Uplift models from a finished experiment (`[uplift]`).
    #[serde(default)]
    pub uplift: Option<crate::UpliftSettings>,
    #[serde(default)]
    pub exports: crate::ExportSettings,
    #[serde(default)]
    pub cohorts: crate::CohortSettings,
    #[serde(default)]
    pub funnels: Vec<crate::FunnelSpec>,
    #[serde(default)]
    pub monitoring: crate::MonitoringSettings,
    /// Pseudonymous ids (`[privacy]`).
    #[serde(default)]
    pub privacy: crate::PrivacySettings,
    /// How long committed dates are kept (`[retention]`).
    #[serde(default)]
    pub retention: crate::RetentionSettings,
    /// The folder relative paths resolve against (the spec file's folder); not part of the TOML.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[cluster]`: where the DataFusion steps run.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// A Ballista scheduler, `df://host:port`: the SQL steps run on its executors. Unset: in
    /// this process. `lifecycle run --cluster` overrides it.
    #[serde(default)]
    pub url: Option<String>,
}

/// `[storage]`: how object stores are reached. Credentials belong in the environment (the
/// standard chains of each cloud), not here; values given here win over the environment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Store options by object_store key (`endpoint`, `region`, `allow_http`,
    /// `virtual_hosted_style_request`, `google_service_account`, `azure_storage_account_name`, ...).
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    /// Retries of a failed request (transient errors: 5xx, timeouts, connection resets).
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    #[serde(default = "default_retry_timeout")]
    pub retry_timeout_secs: u64,
    /// Timeout of one request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Timeout of establishing a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            options: Default::default(),
            max_retries: default_max_retries(),
            retry_timeout_secs: default_retry_timeout(),
            request_timeout_secs: default_request_timeout(),
            connect_timeout_secs: default_connect_timeout(),
        }
    }
}

fn default_max_retries() -> usize {
    10
}
fn default_retry_timeout() -> u64 {
    180
}
fn default_request_timeout() -> u64 {
    30
}
fn default_connect_timeout() -> u64 {
    5
}

/// `[clv]`: customer lifetime value with BG/NBD and Gamma-Gamma, written to `customer_value`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClvSettings {
    #[serde(default)]
    pub enabled: bool,
    /// Length of a purchase period: several purchases in one period count as one.
    #[serde(default = "default_period_days")]
    pub period_days: u32,
    /// The time unit of the models' recency and age (7: weeks).
    #[serde(default = "default_time_unit_days")]
    pub time_unit_days: f64,
    /// Horizons of the expected purchases and CLV columns.
    #[serde(default = "default_horizons")]
    pub horizons_days: Vec<u32>,
    /// Yearly discount rate of future value in the CLV.
    #[serde(default = "default_discount")]
    pub annual_discount_rate: f64,
    /// L2 penalty on the model parameters.
    #[serde(default)]
    pub penalty: f64,
    /// When above 0: also fit on the data before `cutoff − holdout_days` and compare the
    /// predictions with what happened in the holdout days (in the manifest).
    #[serde(default)]
    pub holdout_days: u32,
    /// The repeat-purchase model: `bgnbd`, `mbgnbd`, `pareto_nbd`, `bgbb` (discrete
    /// opportunities: one per `period_days`), or `auto` (with `holdout_days` above 0 all four
    /// fitted and the lowest holdout error chosen; else the three continuous-time ones and the
    /// lowest AIC).
    #[serde(default)]
    pub model: ClvModel,
}

/// `[clv] model`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClvModel {
    #[default]
    Bgnbd,
    Mbgnbd,
    ParetoNbd,
    Bgbb,
    Auto,
}

impl Default for ClvSettings {
    fn default() -> Self {
        ClvSettings {
            enabled: false,
            period_days: default_period_days(),
            time_unit_days: default_time_unit_days(),
            horizons_days: default_horizons(),
            annual_discount_rate: default_discount(),
            penalty: 0.0,
            holdout_days: 0,
            model: ClvModel::default(),
        }
    }
}

fn default_period_days() -> u32 {
    1
}
fn default_time_unit_days() -> f64 {
    7.0
}
fn default_horizons() -> Vec<u32> {
    vec![30, 90, 365]
}
fn default_discount() -> f64 {
    0.1
}

/// `[job]`: what the job is called, where it writes, and its cutoff.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    /// Name used in logs and the run manifest.
    pub name: String,
    /// Output location (path or URL); tables go under `<output>/<table>/run_date=YYYY-MM-DD/`.
    pub output: String,
    /// Cutoff date `YYYY-MM-DD` (UTC midnight); only events strictly before it are used.
    /// Default: today (UTC) when the run starts.
    #[serde(default)]
    pub as_of: Option<String>,
    /// A run holds its date's lease for this long and renews it while it works, so a crashed
    /// run blocks the date for at most this long.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

fn default_lease_seconds() -> u64 {
    300
}

/// An input table (`[events]`, `[users]`, `[items]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A file, a folder, or a hive-partitioned tree.
    pub url: String,
    /// `parquet`, `csv` or `text`; default from the file extension, else `parquet`.
    #[serde(default)]
    pub format: Option<InputFormat>,
    /// Hive partition key that holds a UTC date (`dt=2024-01-31`), used to skip partitions on
    /// or after the cutoff date.
    #[serde(default = "default_partition_key")]
    pub partition_key: String,
    /// SQL predicate over the source columns; rows it rejects are excluded on purpose (documented
    /// cleaning such as cancelled orders) and counted in the manifest, not quarantined.
    #[serde(default)]
    pub filter: Option<String>,
    /// Contract column -> where it comes from. Unmapped contract columns default to a source
    /// column of the same name (optional ones to null when absent).
    #[serde(default)]
    pub columns: std::collections::BTreeMap<String, ColumnMap>,
    #[serde(default)]
    pub csv: CsvOptions,
    #[serde(default)]
    pub text: TextOptions,
    /// `[users]` only: source columns copied as they are into `user_profile` (no other column
    /// of the users table is published).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
}

fn default_partition_key() -> String {
    "dt".to_string()
}

/// Input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Parquet,
    Csv,
    /// One string column `line` per line of text, for dumps no CSV reader takes (split it with
    /// SQL expressions in `columns`).
    Text,
}

impl InputFormat {
    /// The lower-case name used in specs and messages.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Parquet => "parquet",
            InputFormat::Csv => "csv",
            InputFormat::Text => "text",
        }
    }
}

/// `[<table>.csv]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// File extension of the CSV files in a folder (`.csv`, `.csv.gz`: gzip is detected from it).
    #[serde(default)]
    pub extension: Option<String>,
    /// Rows read to infer column types.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: default_delimiter(),
            has_header: true,
            extension: None,
            infer_rows: default_infer_rows(),
        }
    }
}

fn default_delimiter() -> char {
    ','
}
fn default_true() -> bool {
    true
}
fn default_infer_rows() -> usize {
    10_000
}

/// `[<table>.text]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TextOptions {
    /// Lines to skip at the top of each file (a header).
    #[serde(default)]
    pub skip_lines: usize,
}

/// Where one contract column comes from: a bare string names a source column; a table says more.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ColumnMap {
    /// A source column.
    pub column: Option<String>,
    /// A SQL expression over source columns (`Quantity * UnitPrice`).
    pub expr: Option<String>,
    /// A constant string (`event_type = { value = "purchase" }`).
    pub value: Option<String>,
    /// For times held as text: a chrono format (`%Y-%m-%d %H:%M:%S`, `%Y%m%d`).
    pub format: Option<String>,
    /// For times without a zone: the IANA zone they are in (default UTC).
    pub timezone: Option<String>,
    /// For times held as integers: `seconds`, `milliseconds` or `microseconds` since the epoch.
    pub unit: Option<TimeUnit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnMapTable {
    column: Option<String>,
    expr: Option<String>,
    value: Option<String>,
    format: Option<String>,
    timezone: Option<String>,
    unit: Option<TimeUnit>,
}

impl<'de> Deserialize<'de> for ColumnMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ColumnMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a source column name or a table with column/expr/value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<ColumnMap, E> {
                Ok(ColumnMap {
                    column: Some(v.to_string()),
                    ..ColumnMap::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ColumnMap, A::Error> {
                let t =
                    ColumnMapTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ColumnMap {
                    column: t.column,
                    expr: t.expr,
                    value: t.value,
                    format: t.format,
                    timezone: t.timezone,
                    unit: t.unit,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Unit of an integer epoch time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Seconds,
    Milliseconds,
    Microseconds,
}

/// `[event_types]`: which free-string event types mean what.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypes {
    #[serde(default = "default_purchase")]
    pub purchase: Vec<String>,
    #[serde(default = "default_engagement")]
    pub engagement: Vec<String>,
    #[serde(default = "default_signup")]
    pub signup: Vec<String>,
}

impl Default for EventTypes {
    fn default() -> Self {
        EventTypes {
            purchase: default_purchase(),
            engagement: default_engagement(),
            signup: default_signup(),
        }
    }
}

fn default_purchase() -> Vec<String> {
    vec!["purchase".into()]
}
fn default_engagement() -> Vec<String> {
    ["view", "like", "comment", "share", "follow"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
fn default_signup() -> Vec<String> {
    vec!["signup".into()]
}

/// `[quality]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySettings {
    /// The run fails when more than this fraction of event rows is quarantined.
    #[serde(default = "default_max_bad_fraction")]
    pub max_bad_fraction: f64,
    /// Events later than the run's wall-clock time plus this many hours are quarantined.
    #[serde(default = "default_max_future_hours")]
    pub max_future_hours: f64,
    /// Quarantine exact duplicate events (all five contract columns equal), keeping one copy.
    /// Turn off for logs where identical rows are separate real events (orders logged by day).
    #[serde(default = "default_true")]
    pub deduplicate: bool,
}

impl Default for QualitySettings {
    fn default() -> Self {
        QualitySettings {
            max_bad_fraction: default_max_bad_fraction(),
            max_future_hours: default_max_future_hours(),
            deduplicate: true,
        }
    }
}

fn default_max_bad_fraction() -> f64 {
    0.01
}
fn default_max_future_hours() -> f64 {
    24.0
}

/// `[features]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSettings {
    /// `events_<N>d` for each N.
    #[serde(default = "default_windows")]
    pub windows_days: Vec<u32>,
    /// The short window: `<type>_<N>d`, `active_days_<N>d`, and the trend's two halves.
    #[serde(default = "default_activity_window")]
    pub activity_window_days: u32,
    /// The long window: `revenue_<N>d`, `distinct_items_<N>d`.
    #[serde(default = "default_long_window")]
    pub long_window_days: u32,
    /// Event types that get a `<type>_<activity window>d` count. Default: every type named in
    /// `[event_types]`.
    #[serde(default)]
    pub per_type: Option<Vec<String>>,
    /// `[features.behaviour]`: per-type churn features, all off by default.
    #[serde(default)]
    pub behaviour: crate::BehaviourSettings,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        FeatureSettings {
            windows_days: default_windows(),
            activity_window_days: default_activity_window(),
            long_window_days: default_long_window(),
            per_type: None,
            behaviour: Default::default(),
        }
    }
}

fn default_windows() -> Vec<u32> {
    vec![7, 30, 90]
}
fn default_activity_window() -> u32 {
    30
}
fn default_long_window() -> u32 {
    90
}

/// `[stages]`: ordered rules; the first that holds names the stage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageSettings {
    #[serde(default = "default_stage_rules")]
    pub rules: Vec<StageRule>,
    /// The stage of a user no rule matched.
    #[serde(default = "default_otherwise")]
    pub otherwise: String,
    /// The stage of a user in the users table with no event before the cutoff.
    #[serde(default = "default_prospect")]
    pub prospect: String,
}

impl Default for StageSettings {
    fn default() -> Self {
        StageSettings {
            rules: default_stage_rules(),
            otherwise: default_otherwise(),
            prospect: default_prospect(),
        }
    }
}

/// One stage rule: a SQL predicate over the `user_features` columns.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageRule {
    pub name: String,
    pub when: String,
}

fn default_stage_rules() -> Vec<StageRule> {
    [
        ("new", "tenure_days < 30"),
        ("active", "recency_days < 30"),
        ("at_risk", "recency_days < 90"),
    ]
    .iter()
    .map(|(n, w)| StageRule {
        name: n.to_string(),
        when: w.to_string(),
    })
    .collect()
}
fn default_otherwise() -> String {
    "churned".into()
}
fn default_prospect() -> String {
    "prospect".into()
}

impl JobSpec {
    /// Reads and parses a spec file; relative paths in it resolve against its folder.
    pub fn from_file(path: &Path) -> Result<JobSpec> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses spec text; `path` is where it came from (for messages and relative paths).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<JobSpec> {
        let mut spec: JobSpec = toml::from_str(text).map_err(|e| SpecError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        };
        spec.base_dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(spec)
    }
}
