//! The validated spec: what the engine is allowed to see.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use chrono::NaiveDate;
use url::Url;

use crate::error::{Result, SpecError, check_days};
use crate::raw::{
    ClvSettings, ColumnMap, CsvOptions, InputFormat, JobSpec, QualitySettings, SourceSpec,
    StageRule, StorageSettings, TextOptions, TimeUnit,
};

/// The kind of value a contract column holds, which decides how a source column is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractKind {
    /// Utf8; integers are accepted and rendered as text.
    Text,
    /// Timestamp (UTC, microseconds).
    Time,
    /// Float64.
    Number,
}

/// The event contract: each input table's columns, in output order.
pub struct Contract;

impl Contract {
    /// `(column, required, kind)` for the table (`events`, `users`, `items`, `consent` or
    /// `contacts`).
    pub fn columns(table: &str) -> &'static [(&'static str, bool, ContractKind)] {
        use ContractKind::*;
        match table {
            "events" => &[
                ("user_id", true, Text),
                ("event_time", true, Time),
                ("event_type", true, Text),
                ("item_id", false, Text),
                ("amount", false, Number),
            ],
            "users" => &[("user_id", true, Text), ("signup_time", false, Time)],
            "items" => &[("item_id", true, Text), ("category", false, Text)],
            "consent" => &[
                ("user_id", true, Text),
                ("channel", true, Text),
                ("status", true, Text),
                ("updated_at", true, Time),
            ],
            "contacts" => &[
                ("user_id", true, Text),
                ("channel", true, Text),
                ("campaign", false, Text),
                ("sent_at", true, Time),
            ],
            crate::privacy::ERASURES => &[
                ("user_id", true, Text),
                ("requested_at", true, Time),
                ("request_id", false, Text),
            ],
            _ => &[],
        }
    }
}

/// How a text or integer column becomes a UTC time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeParse {
    /// chrono format for text; `None` accepts ISO-8601 / RFC 3339 forms.
    pub format: Option<String>,
    /// IANA zone of zone-less values (`None`: UTC).
    pub timezone: Option<String>,
    /// Unit of integer epochs (`None`: seconds).
    pub unit: Option<TimeUnit>,
}

/// Where a contract column's values come from, after validation.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSource {
    /// A source column. `implicit` is true when the spec did not map it and the contract name
    /// is used as is (an optional contract column is then null when the source lacks it).
    Column {
        name: String,
        implicit: bool,
        time: TimeParse,
    },
    /// A SQL expression over the source columns.
    Expr { sql: String, time: TimeParse },
    /// A constant.
    Value(String),
}

/// One contract column of an input table and where its values come from.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractColumn {
    /// The contract's name (`user_id`, `event_time`, ...).
    pub name: String,
    pub kind: ContractKind,
    pub required: bool,
    pub source: ColumnSource,
}

/// A validated input table.
#[derive(Debug, Clone)]
pub struct ValidSource {
    /// `events`, `users` or `items`.
    pub table: String,
    pub url: Url,
    pub format: InputFormat,
    pub partition_key: String,
    pub filter: Option<String>,
    /// The contract's columns, in contract order.
    pub columns: Vec<ContractColumn>,
    pub csv: CsvOptions,
    pub text: TextOptions,
    /// Source columns passed through as they are (`[users] attributes`).
    pub attributes: Vec<String>,
}

/// An event type whose events get their own count columns (`<column>_<days>d`).
#[derive(Debug, Clone, PartialEq)]
pub struct PerTypeColumn {
    pub event_type: String,
    /// The column-safe name: lower case, other characters as `_`.
    pub column: String,
}

/// Validated `[features]`.
#[derive(Debug, Clone)]
pub struct ValidFeatures {
    /// Sorted, distinct, positive.
    pub windows_days: Vec<u32>,
    pub activity_window_days: u32,
    pub long_window_days: u32,
    /// The event types counted per type, with the column-safe names of their counts.
    pub per_type: Vec<PerTypeColumn>,
    /// `[features.behaviour]`.
    pub behaviour: crate::ValidBehaviour,
}

/// Validated `[stages]`.
#[derive(Debug, Clone)]
pub struct ValidStages {
    /// Evaluated in order; the first whose predicate holds names the stage.
    pub rules: Vec<StageRule>,
    pub otherwise: String,
    pub prospect: String,
}

/// A checked job spec. Build it with [`JobSpec::validate`].
#[derive(Debug, Clone)]
pub struct ValidJobSpec {
    pub name: String,
    pub output: Url,
    pub as_of: Option<NaiveDate>,
    /// How long a run's lease lasts before it must be renewed.
    pub lease: std::time::Duration,
    pub events: ValidSource,
    pub users: Option<ValidSource>,
    pub items: Option<ValidSource>,
    pub purchase_types: Vec<String>,
    pub engagement_types: Vec<String>,
    pub signup_types: Vec<String>,
    pub quality: QualitySettings,
    pub features: ValidFeatures,
    pub stages: ValidStages,
    pub storage: StorageSettings,
    /// The Ballista scheduler (`df://host:port`) to run the SQL steps on; None: in process.
    pub cluster: Option<String>,
    /// Memory, spill and parallelism of a local run (`[engine]`).
    pub engine: crate::ValidEngine,
    /// `user_features` from a rollup updated with the recent days; None: from the events.
    pub incremental: Option<crate::IncrementalSettings>,
    pub clv: ClvSettings,
    pub segmentation: crate::SegmentationSettings,
    pub churn: crate::ChurnSettings,
    pub recommendations: crate::RecommendationSettings,
    pub cohorts: crate::CohortSettings,
    pub funnels: Vec<crate::FunnelSpec>,
    pub monitoring: crate::MonitoringSettings,
    pub privacy: crate::ValidPrivacy,
    pub retention: crate::RetentionSettings,
    /// Consent, contacts, holdout, caps and audiences.
    pub activation: crate::ValidActivation,
    /// A/B tests over the audiences.
    pub experiments: Vec<crate::ValidExperiment>,
    /// Uplift models from a finished experiment.
    pub uplift: Option<crate::ValidUplift>,
    /// The spec as written, for the run manifest.
    pub source: JobSpec,
}

impl JobSpec {
    /// `[[experiments]]` and `[uplift]`, checked against the audience names.
    fn validate_experimentation(
        &self,
        base: &Path,
    ) -> Result<(Vec<crate::ValidExperiment>, Option<crate::ValidUplift>)> {
        let audiences: Vec<String> = self.audiences.iter().map(|a| a.name.clone()).collect();
        let experiments = crate::experiments::validate_experiments(&self.experiments, &audiences)?;
        let uplift = self
            .uplift
            .as_ref()
            .map(|u| crate::uplift::validate_uplift(u, &experiments, &audiences, base))
            .transpose()?;
        Ok((experiments, uplift))
    }

    /// Checks every setting once. Errors name the setting at fault.
    pub fn validate(self) -> Result<ValidJobSpec> {
        let base = self.base_dir.clone();
        validate_job(&self.job)?;
        let output = resolve_location(&self.job.output, &base, true)
            .map_err(|reason| SpecError::invalid("job.output", reason))?;
        let as_of = self
            .job
            .as_of
            .as_deref()
            .map(|s| parse_date(s, "job.as_of"))
            .transpose()?;

        let events = validate_source("events", &self.events, &base)?;
        let users = self
            .users
            .as_ref()
            .map(|s| validate_source("users", s, &base))
            .transpose()?;
        let items = self
            .items
            .as_ref()
            .map(|s| validate_source("items", s, &base))
            .transpose()?;
        for src in std::iter::once(&events).chain(&users).chain(&items) {
            check_apart(&output, src)?;
        }

        let t = &self.event_types;
        validate_event_types(t)?;

        let q = &self.quality;
        validate_quality(q)?;
        validate_storage(&self.storage)?;
        let cluster = self
            .cluster
            .url
            .as_deref()
            .map(|u| validate_cluster_url(u, "cluster.url"))
            .transpose()?;
        let engine = self.engine.validate(&base)?;
        let incremental = self
            .incremental
            .as_ref()
            .map(|i| i.validate())
            .transpose()?;
        validate_clv(&self.clv)?;
        crate::models::validate_segmentation(&self.segmentation)?;
        crate::models::validate_churn(&self.churn)?;
        crate::recommend::validate_recommendations(&self.recommendations)?;
        let features = validate_features(&self)?;
        let stages = validate_stages(&self)?;
        let activation = validate_activation(&self, &base)?;
        let (experiments, uplift) = self.validate_experimentation(&base)?;
        crate::analyses::validate_cohorts(&self)?;
        crate::analyses::validate_funnels(&self.funnels)?;
        crate::analyses::validate_monitoring(&self.monitoring)?;
        let privacy = crate::privacy::validate(&self.privacy, &base)?;
        crate::privacy::validate_retention(&self.retention)?;

        Ok(ValidJobSpec {
            name: self.job.name.clone(),
            output,
            as_of,
            lease: std::time::Duration::from_secs(self.job.lease_seconds),
            events,
            users,
            items,
            purchase_types: t.purchase.clone(),
            engagement_types: t.engagement.clone(),
            signup_types: t.signup.clone(),
            quality: q.clone(),
            features,
            stages,
            storage: self.storage.clone(),
            cluster,
            engine,
            incremental,
            clv: self.clv.clone(),
            segmentation: self.segmentation.clone(),
            churn: self.churn.clone(),
            recommendations: self.recommendations.clone(),
            activation,
            experiments,
            uplift,
            cohorts: self.cohorts.clone(),
            funnels: self.funnels.clone(),
            monitoring: self.monitoring.clone(),
            privacy,
            retention: self.retention,
            source: self,
        })
    }
}

/// The job has a name and a lease between a second and a week.
fn validate_job(job: &crate::raw::JobSection) -> Result<()> {
    if job.name.trim().is_empty() {
        return Err(SpecError::invalid("job.name", "must not be empty"));
    }
    if !(1..=7 * 86_400).contains(&job.lease_seconds) {
        return Err(SpecError::invalid(
            "job.lease_seconds",
            "must be between 1 second and a week",
        ));
    }
    Ok(())
}

/// The bad-row gate is a fraction and the future allowance is not negative.
fn validate_quality(q: &crate::raw::QualitySettings) -> Result<()> {
    if !(0.0..=1.0).contains(&q.max_bad_fraction) {
        return Err(SpecError::invalid(
            "quality.max_bad_fraction",
            format!("{} is not a fraction between 0 and 1", q.max_bad_fraction),
        ));
    }
    if q.max_future_hours.is_nan() || q.max_future_hours < 0.0 {
        return Err(SpecError::invalid(
            "quality.max_future_hours",
            "must be zero or more",
        ));
    }
    Ok(())
}

/// Storage timeouts of at least a second.
fn validate_storage(st: &crate::raw::StorageSettings) -> Result<()> {
    if st.request_timeout_secs == 0 || st.connect_timeout_secs == 0 {
        return Err(SpecError::invalid(
            "storage.request_timeout_secs / storage.connect_timeout_secs",
            "timeouts must be at least 1 second",
        ));
    }
    Ok(())
}

/// Event type names are not empty and each is in one group only.
fn validate_event_types(t: &crate::raw::EventTypes) -> Result<()> {
    for (key, list) in [
        ("event_types.purchase", &t.purchase),
        ("event_types.engagement", &t.engagement),
        ("event_types.signup", &t.signup),
    ] {
        if list.iter().any(|s| s.is_empty()) {
            return Err(SpecError::invalid(
                key,
                "event type names must not be empty",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for ty in t.purchase.iter().chain(&t.engagement).chain(&t.signup) {
        if !seen.insert(ty.as_str()) {
            return Err(SpecError::invalid(
                "event_types",
                format!("`{ty}` is listed in more than one group"),
            ));
        }
    }
    Ok(())
}

/// Values from the command line that replace spec settings. They are applied to the spec as
/// written, before [`JobSpec::validate`], so they are checked like the spec's own.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces `events.url`; a relative path resolves against `cwd`.
    pub input: Option<String>,
    /// Replaces `job.output`; a relative path resolves against `cwd`.
    pub output: Option<String>,
    /// Replaces `[cluster] url`.
    pub cluster: Option<String>,
}

impl JobSpec {
    /// The spec with `o` applied; errors name the flag (`--input`, `--output`, `--cluster`).
    pub fn with_overrides(mut self, o: &Overrides, cwd: &Path) -> Result<JobSpec> {
        let resolve = |s: &str, folder: bool, flag: &str| {
            resolve_location(s, cwd, folder)
                .map(|u| u.to_string())
                .map_err(|reason| SpecError::invalid(flag, reason))
        };
        if let Some(i) = &o.input {
            self.events.url = resolve(i, false, "--input")?;
        }
        if let Some(out) = &o.output {
            self.job.output = resolve(out, true, "--output")?;
        }
        if let Some(c) = &o.cluster {
            self.cluster.url = Some(validate_cluster_url(c, "--cluster")?);
        }
        Ok(self)
    }
}

/// Refuses an output at, or inside, an input location: the next run would read the outputs (or
/// a folder of its own files) as input, and `gc` could delete input files.
fn check_apart(output: &Url, input: &ValidSource) -> Result<()> {
    let (out, inp) = (output.as_str(), input.url.as_str());
    let folder = |u: &str| format!("{}/", u.trim_end_matches('/'));
    if folder(out).starts_with(&folder(inp)) {
        return Err(SpecError::invalid(
            "job.output",
            format!(
                "{out} is inside {}.url ({inp}): the next run would read its own outputs as \
                 input; put the outputs beside the inputs, not under them",
                input.table
            ),
        ));
    }
    Ok(())
}

/// Checks a Ballista scheduler URL, `df://host:port`; `setting` names where it came from.
pub fn validate_cluster_url(s: &str, setting: &str) -> Result<String> {
    let url = Url::parse(s.trim())
        .map_err(|e| SpecError::invalid(setting, format!("`{s}` is not a URL: {e}")))?;
    if url.scheme() != "df" || url.host_str().is_none_or(str::is_empty) || url.port().is_none() {
        return Err(SpecError::invalid(
            setting,
            format!(
                "`{s}` is not a scheduler address: expected df://host:port (port 50050 by default)"
            ),
        ));
    }
    Ok(format!(
        "df://{}:{}",
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(50050)
    ))
}

pub(crate) fn parse_date(s: &str, setting: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| SpecError::invalid(setting, format!("`{s}` is not a YYYY-MM-DD date: {e}")))
}

/// Turns a path or URL from a spec or the command line into a URL. Relative paths resolve
/// against `base`; `folder` marks locations that are always folders (a trailing `/` is added).
/// A path that names an existing folder also gets the trailing `/`.
pub fn resolve_location(s: &str, base: &Path, folder: bool) -> std::result::Result<Url, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("location must not be empty".into());
    }
    let mut url = if s.contains("://") {
        Url::parse(s).map_err(|e| format!("`{s}` is not a valid URL: {e}"))?
    } else {
        let p = Path::new(s);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        let abs = normalize(&abs);
        let is_dir = s.ends_with('/') || abs.is_dir();
        let mut url = Url::from_file_path(&abs)
            .map_err(|_| format!("`{}` is not an absolute path", abs.display()))?;
        if is_dir && !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        url
    };
    if folder && !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// Removes `.` and `..` without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The activation sections, with the audience rules checked against the columns of
/// `user_profile` this spec produces.
fn validate_activation(spec: &JobSpec, base: &Path) -> Result<crate::ValidActivation> {
    use crate::activation::{ProfileShape, RawActivation, profile_columns};
    let attributes: &[String] = spec.users.as_ref().map_or(&[], |u| &u.attributes);
    let shape = |channels: &[String]| profile_columns(&ProfileShape::of(spec, channels));
    // Each attribute is a profile column once: twice means it is listed twice or is the name
    // of another profile column.
    let columns = shape(&[]);
    for a in attributes {
        let clash = columns.iter().filter(|c| *c == a).count() > 1
            || Contract::columns("users").iter().any(|(c, _, _)| c == a)
            || a.starts_with("raw_")
            || a.starts_with("contactable_")
            || a == "audiences";
        if a.is_empty() || clash {
            return Err(SpecError::invalid(
                "users.attributes",
                format!("`{a}` is empty, listed twice, or the name of a user_profile column"),
            ));
        }
    }
    let raw = RawActivation {
        consent: spec.consent.as_ref(),
        contacts: spec.contacts.as_ref(),
        holdout: spec.holdout.as_ref(),
        caps: &spec.caps,
        audiences: &spec.audiences,
        exports: &spec.exports,
    };
    crate::activation::validate_activation(raw, base, shape)
}

/// Settings only some input tables take.
fn check_source_options(table: &str, s: &SourceSpec) -> Result<()> {
    if !s.attributes.is_empty() && table != "users" {
        return Err(SpecError::invalid(
            format!("{table}.attributes"),
            "only [users] has attributes",
        ));
    }
    Ok(())
}

pub(crate) fn validate_source(table: &str, s: &SourceSpec, base: &Path) -> Result<ValidSource> {
    let url = resolve_location(&s.url, base, false)
        .map_err(|reason| SpecError::invalid(format!("{table}.url"), reason))?;
    let format = match s.format {
        Some(f) => f,
        None => {
            let path = url.path().to_ascii_lowercase();
            if path.ends_with(".csv") || path.ends_with(".csv.gz") {
                InputFormat::Csv
            } else if path.ends_with(".txt") {
                InputFormat::Text
            } else {
                InputFormat::Parquet
            }
        }
    };
    if s.partition_key.is_empty() {
        return Err(SpecError::invalid(
            format!("{table}.partition_key"),
            "must not be empty",
        ));
    }
    let contract = Contract::columns(table);
    for key in s.columns.keys() {
        if !contract.iter().any(|(c, _, _)| c == key) {
            let known: Vec<_> = contract.iter().map(|(c, _, _)| *c).collect();
            return Err(SpecError::invalid(
                format!("{table}.columns.{key}"),
                format!("not a contract column; {table} has: {}", known.join(", ")),
            ));
        }
    }
    let mut columns = Vec::new();
    for &(name, required, kind) in contract {
        let setting = format!("{table}.columns.{name}");
        let source = match s.columns.get(name) {
            None => ColumnSource::Column {
                name: name.to_string(),
                implicit: true,
                time: TimeParse::default(),
            },
            Some(map) => column_source(map, kind, &setting)?,
        };
        columns.push(ContractColumn {
            name: name.to_string(),
            kind,
            required,
            source,
        });
    }
    if let Some(f) = &s.filter
        && f.trim().is_empty()
    {
        return Err(SpecError::invalid(
            format!("{table}.filter"),
            "must not be empty",
        ));
    }
    check_source_options(table, s)?;
    if s.csv.delimiter.len_utf8() != 1 {
        return Err(SpecError::invalid(
            format!("{table}.csv.delimiter"),
            "must be a single-byte character",
        ));
    }
    Ok(ValidSource {
        table: table.to_string(),
        url,
        format,
        partition_key: s.partition_key.clone(),
        filter: s.filter.clone(),
        columns,
        csv: s.csv.clone(),
        text: s.text.clone(),
        attributes: s.attributes.clone(),
    })
}

fn column_source(map: &ColumnMap, kind: ContractKind, setting: &str) -> Result<ColumnSource> {
    let given = [&map.column, &map.expr, &map.value]
        .iter()
        .filter(|o| o.is_some())
        .count();
    if given != 1 {
        return Err(SpecError::invalid(
            setting,
            "give exactly one of `column`, `expr` or `value`",
        ));
    }
    let time_opts = map.format.is_some() || map.timezone.is_some() || map.unit.is_some();
    if time_opts && kind != ContractKind::Time {
        return Err(SpecError::invalid(
            setting,
            "`format`, `timezone` and `unit` apply only to time columns",
        ));
    }
    if let Some(tz) = &map.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(SpecError::invalid(
            format!("{setting}.timezone"),
            format!("`{tz}` is not an IANA time zone name (e.g. Europe/London)"),
        ));
    }
    if map.format.is_some() && map.unit.is_some() {
        return Err(SpecError::invalid(
            setting,
            "`format` is for text times and `unit` for integer times: give one",
        ));
    }
    let time = TimeParse {
        format: map.format.clone(),
        timezone: map.timezone.clone(),
        unit: map.unit,
    };
    Ok(if let Some(c) = &map.column {
        if c.is_empty() {
            return Err(SpecError::invalid(setting, "column name must not be empty"));
        }
        ColumnSource::Column {
            name: c.clone(),
            implicit: false,
            time,
        }
    } else if let Some(e) = &map.expr {
        if e.trim().is_empty() {
            return Err(SpecError::invalid(setting, "expression must not be empty"));
        }
        ColumnSource::Expr {
            sql: e.clone(),
            time,
        }
    } else {
        if kind == ContractKind::Time {
            return Err(SpecError::invalid(
                setting,
                "a time cannot be a constant `value`",
            ));
        }
        ColumnSource::Value(map.value.clone().unwrap_or_default())
    })
}

/// A column-safe name for an event type: lower case, runs of other characters become `_`.
fn column_safe(ty: &str) -> String {
    let mut out = String::new();
    for ch in ty.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// Built-in features named `<name>_<N>d`: an event type counted per type under one of these
/// names would give a second column of the same name.
const BUILT_IN_WINDOWED: [&str; 4] = ["events", "active_days", "revenue", "distinct_items"];

fn validate_features(spec: &JobSpec) -> Result<ValidFeatures> {
    let f = &spec.features;
    let mut windows = f.windows_days.clone();
    windows.sort_unstable();
    windows.dedup();
    if windows.is_empty() || windows[0] == 0 {
        return Err(SpecError::invalid(
            "features.windows_days",
            "give one or more windows of at least 1 day",
        ));
    }
    for (key, v) in [
        ("features.activity_window_days", f.activity_window_days),
        ("features.long_window_days", f.long_window_days),
    ] {
        if v == 0 {
            return Err(SpecError::invalid(key, "must be at least 1 day"));
        }
        check_days(key, v as u64)?;
    }
    check_days(
        "features.windows_days",
        *windows.last().expect("not empty") as u64,
    )?;
    let t = &spec.event_types;
    let types: Vec<String> = match &f.per_type {
        Some(list) => list.clone(),
        None => t
            .purchase
            .iter()
            .chain(&t.engagement)
            .chain(&t.signup)
            .cloned()
            .collect(),
    };
    let mut per_type = Vec::new();
    let mut names = BTreeSet::new();
    for ty in types {
        let safe = column_safe(&ty);
        if safe.is_empty() || safe.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(SpecError::invalid(
                "features.per_type",
                format!("event type `{ty}` does not give a usable column name"),
            ));
        }
        if !names.insert(safe.clone()) {
            return Err(SpecError::invalid(
                "features.per_type",
                format!("two event types give the column name `{safe}`"),
            ));
        }
        if BUILT_IN_WINDOWED.contains(&safe.as_str()) {
            return Err(SpecError::invalid(
                "features.per_type",
                format!(
                    "event type `{ty}` would be counted as `{safe}_<N>d`, which is a built-in \
                     feature's name; leave it out of features.per_type"
                ),
            ));
        }
        per_type.push(PerTypeColumn {
            event_type: ty,
            column: safe,
        });
    }
    Ok(ValidFeatures {
        windows_days: windows,
        activity_window_days: f.activity_window_days,
        long_window_days: f.long_window_days,
        behaviour: f.behaviour.validate(&per_type)?,
        per_type,
    })
}

fn validate_clv(c: &ClvSettings) -> Result<()> {
    if c.period_days == 0 {
        return Err(SpecError::invalid("clv.period_days", "must be at least 1"));
    }
    check_days("clv.period_days", c.period_days as u64)?;
    check_days("clv.holdout_days", c.holdout_days as u64)?;
    let longest = c.horizons_days.iter().max().copied().unwrap_or(0);
    check_days("clv.horizons_days", longest as u64)?;
    if !c.time_unit_days.is_finite() || c.time_unit_days <= 0.0 {
        return Err(SpecError::invalid("clv.time_unit_days", "must be above 0"));
    }
    if c.horizons_days.is_empty() || c.horizons_days.contains(&0) {
        return Err(SpecError::invalid(
            "clv.horizons_days",
            "give one or more horizons of at least 1 day",
        ));
    }
    let negative = |v: f64| v.is_nan() || v < 0.0;
    if negative(c.annual_discount_rate) || negative(c.penalty) {
        return Err(SpecError::invalid(
            "clv.annual_discount_rate / clv.penalty",
            "must be zero or more",
        ));
    }
    Ok(())
}

fn validate_stages(spec: &JobSpec) -> Result<ValidStages> {
    let s = &spec.stages;
    let mut names = BTreeSet::new();
    for (i, r) in s.rules.iter().enumerate() {
        let setting = format!("stages.rules[{i}]");
        if r.name.trim().is_empty() {
            return Err(SpecError::invalid(setting, "stage name must not be empty"));
        }
        if r.when.trim().is_empty() {
            return Err(SpecError::invalid(setting, "`when` must not be empty"));
        }
        if !names.insert(r.name.as_str()) {
            return Err(SpecError::invalid(
                setting,
                format!("stage `{}` is named twice", r.name),
            ));
        }
    }
    for (key, name) in [
        ("stages.otherwise", &s.otherwise),
        ("stages.prospect", &s.prospect),
    ] {
        if name.trim().is_empty() {
            return Err(SpecError::invalid(key, "must not be empty"));
        }
    }
    if names.contains(s.prospect.as_str()) {
        return Err(SpecError::invalid(
            "stages.prospect",
            format!("`{}` is also a rule's stage", s.prospect),
        ));
    }
    Ok(ValidStages {
        rules: s.rules.clone(),
        otherwise: s.otherwise.clone(),
        prospect: s.prospect.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<ValidJobSpec> {
        JobSpec::from_toml_str(toml, Path::new("/jobs/x.toml"))?.validate()
    }

    const MIN: &str = "[job]\nname='x'\noutput='out'\n[events]\nurl='ev/'\n";

    #[test]
    fn user_attributes_are_new_profile_columns() {
        let users = |attrs: &str| format!("{MIN}[users]\nurl='u.parquet'\nattributes={attrs}\n");
        assert!(parse(&users("['country', 'plan']")).is_ok());
        for bad in [
            "['country', 'country']",
            "['stage']",
            "['signup_time']",
            "['audiences']",
        ] {
            let err = parse(&users(bad)).unwrap_err().to_string();
            assert!(err.contains("users.attributes"), "{bad}: {err}");
        }
        let err = parse(&format!("{MIN}[monitoring]\nmax_psi=0\n")).unwrap_err();
        assert!(err.to_string().contains("monitoring.max_psi"), "{err}");
        let err = parse(&format!("{MIN}[monitoring]\naction='stop'\n")).unwrap_err();
        assert!(err.to_string().contains("action"), "{err}");
        let err = parse(&format!("{MIN}[cohorts]\nsplit_by='plan'\n")).unwrap_err();
        assert!(err.to_string().contains("cohorts.split_by"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse(&format!("{MIN}[quality]\nmax_bad=0.1\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `max_bad`"), "{err}");
        let err = parse(&format!("{MIN}[events.columns]\nuser_id={{colum='a'}}\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `colum`"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_spec_folder() {
        let s = parse(MIN).unwrap();
        assert_eq!(s.output.as_str(), "file:///jobs/out/");
        assert_eq!(s.events.url.as_str(), "file:///jobs/ev/");
        let s = parse("[job]\nname='x'\noutput='../o'\n[events]\nurl='s3://b/p/'\n").unwrap();
        assert_eq!(s.output.as_str(), "file:///o/");
        assert_eq!(s.events.url.as_str(), "s3://b/p/");
    }

    #[test]
    fn bad_settings_are_named() {
        let cases = [
            (
                "[quality]\nmax_bad_fraction=2.0\n",
                "quality.max_bad_fraction",
            ),
            ("[features]\nwindows_days=[0]\n", "features.windows_days"),
            (
                "[events.columns]\nevent_time={column='t', timezone='Mars/Base'}\n",
                "events.columns.event_time.timezone",
            ),
            (
                "[events.columns]\nuser={column='u'}\n",
                "events.columns.user",
            ),
            (
                "[events.columns]\namount={column='a', format='%Y'}\n",
                "events.columns.amount",
            ),
            (
                "[[stages.rules]]\nname='a'\nwhen='x'\n[[stages.rules]]\nname='a'\nwhen='y'\n",
                "stages.rules[1]",
            ),
            (
                "[event_types]\npurchase=['buy']\nsignup=['buy']\n",
                "event_types",
            ),
            (
                "[event_types]\nengagement=['view', 'Events']\n",
                "features.per_type",
            ),
        ];
        for (extra, setting) in cases {
            let err = parse(&format!("{MIN}{extra}")).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{setting}`")),
                "{extra}: {err}"
            );
        }
    }

    #[test]
    fn defaults_and_mapping_forms() {
        let s = parse(&format!(
            "{MIN}[events.columns]\nuser_id='customer'\nevent_type={{value='purchase'}}\n\
             event_time={{column='ts', unit='seconds'}}\n"
        ))
        .unwrap();
        let cols: Vec<_> = s.events.columns.iter().map(|c| c.source.clone()).collect();
        assert_eq!(
            cols[0],
            ColumnSource::Column {
                name: "customer".into(),
                implicit: false,
                time: TimeParse::default()
            }
        );
        assert_eq!(cols[2], ColumnSource::Value("purchase".into()));
        assert!(
            matches!(&cols[1], ColumnSource::Column { time, .. } if time.unit == Some(TimeUnit::Seconds))
        );
        assert!(matches!(
            &cols[3],
            ColumnSource::Column { implicit: true, .. }
        ));
        let types: Vec<_> = s
            .features
            .per_type
            .iter()
            .map(|p| p.column.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "purchase", "view", "like", "comment", "share", "follow", "signup"
            ]
        );
        assert_eq!(
            s.stages.rules[0],
            StageRule {
                name: "new".into(),
                when: "tenure_days < 30".into()
            }
        );
    }

    #[test]
    fn outputs_inside_or_at_an_input_are_refused() {
        for (output, events) in [
            ("ev/out", "ev/"),
            ("ev", "ev/"),
            ("ev/", "ev"),
            ("s3://b/p/out/", "s3://b/p/"),
        ] {
            let toml = format!("[job]\nname='x'\noutput='{output}'\n[events]\nurl='{events}'\n");
            let err = parse(&toml).unwrap_err().to_string();
            assert!(
                err.contains("`job.output`") && err.contains("events.url"),
                "{output}: {err}"
            );
        }
        let users = "[users]\nurl='u/users.parquet'\n";
        let err = parse(&format!(
            "[job]\nname='x'\noutput='u/users.parquet/o'\n[events]\nurl='ev/'\n{users}"
        ));
        assert!(err.unwrap_err().to_string().contains("users.url"));
        // Beside the inputs, or a sibling whose name starts the same, is fine.
        for output in ["out", "ev-out", "s3://b/other/"] {
            let toml = format!("[job]\nname='x'\noutput='{output}'\n[events]\nurl='ev/'\n");
            parse(&toml).unwrap();
        }
    }

    #[test]
    fn column_safe_names() {
        assert_eq!(column_safe("Add To Cart"), "add_to_cart");
        assert_eq!(column_safe("page-view"), "page_view");
    }
}
