//! `[cohorts]`, `[[funnels]]` and `[monitoring]`: the analyses every run publishes beside the
//! models (`cohort_retention`, `funnel`, `monitoring`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError, check_days};
use crate::raw::JobSpec;

/// `[cohorts]`: the `cohort_retention` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CohortSettings {
    #[serde(default)]
    pub period: CohortPeriod,
    /// What counts as coming back in a period.
    #[serde(default)]
    pub activity: CohortActivity,
    /// One of `[users] attributes` to split every cohort by (e.g. the acquisition channel).
    #[serde(default)]
    pub split_by: Option<String>,
}

/// The length of a cohort period (UTC; weeks start on Monday).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CohortPeriod {
    #[default]
    Month,
    Week,
}

/// What makes a cohort member `retained` in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CohortActivity {
    /// Any event.
    #[default]
    Any,
    /// A purchase.
    Purchase,
}

/// One `[[funnels]]` entry: event types a user should do in order, within a window.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelSpec {
    pub name: String,
    /// Event types, in order (two or more).
    pub steps: Vec<String>,
    /// Every step must follow the first within this many days.
    pub window_days: u32,
}

/// `[monitoring]`: the limits of drift against the previous committed run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    /// A column whose population stability index is above this is flagged.
    #[serde(default = "default_max_psi")]
    pub max_psi: f64,
    /// Input rows read that changed by more than this share (up or down) are flagged.
    #[serde(default = "default_max_row_change")]
    pub max_row_change: f64,
    /// What a flag does.
    #[serde(default)]
    pub action: DriftAction,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            max_psi: default_max_psi(),
            max_row_change: default_max_row_change(),
            action: DriftAction::default(),
        }
    }
}

/// 0.25: the usual "significant shift" line of the PSI.
fn default_max_psi() -> f64 {
    0.25
}

fn default_max_row_change() -> f64 {
    0.5
}

/// What a flagged drift does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftAction {
    /// Log a warning and publish (the flags are in `monitoring` and the manifest).
    #[default]
    Warn,
    /// Stop the run before anything is published, naming the columns.
    Fail,
}

/// Both limits are positive numbers.
pub(crate) fn validate_monitoring(m: &MonitoringSettings) -> Result<()> {
    for (key, value) in [
        ("monitoring.max_psi", m.max_psi),
        ("monitoring.max_row_change", m.max_row_change),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(SpecError::invalid(
                key,
                format!("must be a number above 0, not {value}"),
            ));
        }
    }
    Ok(())
}

/// A cohort split names one of the users' published attributes.
pub(crate) fn validate_cohorts(spec: &JobSpec) -> Result<()> {
    let Some(a) = &spec.cohorts.split_by else {
        return Ok(());
    };
    let allowed: &[String] = spec.users.as_ref().map_or(&[], |u| &u.attributes);
    if !allowed.contains(a) {
        return Err(SpecError::invalid(
            "cohorts.split_by",
            format!(
                "`{a}` is not one of [users] attributes ({})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Funnels have unique names, two or more steps and a window of at least a day.
pub(crate) fn validate_funnels(funnels: &[FunnelSpec]) -> Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for f in funnels {
        let key = format!("funnels.{}", f.name);
        if f.name.is_empty() || !names.insert(f.name.as_str()) {
            return Err(SpecError::invalid(
                key,
                "funnel names must be unique and not empty",
            ));
        }
        if f.steps.len() < 2 || f.steps.iter().any(String::is_empty) {
            return Err(SpecError::invalid(
                format!("{key}.steps"),
                "give two or more event types",
            ));
        }
        if f.window_days == 0 {
            return Err(SpecError::invalid(
                format!("{key}.window_days"),
                "must be at least 1 day",
            ));
        }
        check_days(&format!("{key}.window_days"), f.window_days as u64)?;
    }
    Ok(())
}
