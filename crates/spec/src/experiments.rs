//! `[[experiments]]`: A/B tests over an audience (who gets which arm from which date, and what
//! is measured), as written and checked.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};

/// One `[[experiments]]` entry as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Lower case letters, digits, `_` and `-`.
    pub name: String,
    /// The `[[audiences]]` entry whose members enter the experiment.
    pub audience: String,
    /// The arms in order: each takes the next `weight` of the hash's [0, 1).
    pub arms: Vec<ArmSpec>,
    /// The arm every other is compared with.
    pub control: String,
    /// The hash seed (GrowthBook's hash version 2); default: the name.
    #[serde(default)]
    pub seed: Option<String>,
    /// The first run date that assigns users (YYYY-MM-DD).
    pub start: String,
    /// The last run date that assigns new users; assigned users keep their arm after it.
    #[serde(default)]
    pub end: Option<String>,
    /// Days after assignment over which the metrics are measured.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Days before assignment over which the same metrics are the CUPED covariate.
    #[serde(default = "default_pre_days")]
    pub pre_days: u32,
    /// Event types counted per user as further metrics (beside conversion, revenue and
    /// retention).
    #[serde(default)]
    pub metrics: Vec<String>,
}

/// One arm as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArmSpec {
    pub name: String,
    pub weight: f64,
}

fn default_window_days() -> u32 {
    14
}

fn default_pre_days() -> u32 {
    14
}

/// The retention metric's last week: a window must hold it.
pub const RETENTION_DAYS: u32 = 7;

/// A checked experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidExperiment {
    pub name: String,
    pub audience: String,
    pub arms: Vec<ArmSpec>,
    /// The control's index in `arms`.
    pub control: usize,
    pub seed: String,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub window_days: u32,
    pub pre_days: u32,
    pub metrics: Vec<String>,
}

impl ValidExperiment {
    /// Whether a run of `date` assigns new users.
    pub fn assigns_on(&self, date: NaiveDate) -> bool {
        date >= self.start && self.end.is_none_or(|end| date <= end)
    }
}

/// Checks every experiment against the spec's audience names.
pub(crate) fn validate_experiments(
    list: &[ExperimentSpec],
    audiences: &[String],
) -> Result<Vec<ValidExperiment>> {
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let key = format!("experiments.{}", e.name);
        crate::activation::check_name("experiments", &e.name)?;
        if !names.insert(e.name.as_str()) {
            return Err(SpecError::invalid(key, "two experiments have this name"));
        }
        if !audiences.contains(&e.audience) {
            let reason = format!("`{}` is not an [[audiences]] name", e.audience);
            return Err(SpecError::invalid(format!("{key}.audience"), reason));
        }
        let control = check_arms(&key, &e.arms, &e.control)?;
        let (start, end) = check_dates(&key, e)?;
        check_days(&key, e)?;
        check_metrics(&key, &e.metrics)?;
        let seed = e.seed.clone().unwrap_or_else(|| e.name.clone());
        if seed.is_empty() {
            return Err(SpecError::invalid(
                format!("{key}.seed"),
                "must not be empty",
            ));
        }
        out.push(ValidExperiment {
            name: e.name.clone(),
            audience: e.audience.clone(),
            arms: e.arms.clone(),
            control,
            seed,
            start,
            end,
            window_days: e.window_days,
            pre_days: e.pre_days,
            metrics: e.metrics.clone(),
        });
    }
    Ok(out)
}

/// Two or more arms of distinct names and positive weights summing to 1; the control's index.
fn check_arms(key: &str, arms: &[ArmSpec], control: &str) -> Result<usize> {
    let setting = format!("{key}.arms");
    if arms.len() < 2 {
        return Err(SpecError::invalid(setting, "needs at least two arms"));
    }
    let distinct: BTreeSet<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    if distinct.len() != arms.len() || distinct.contains("") {
        return Err(SpecError::invalid(
            setting,
            "arm names must be distinct and not empty",
        ));
    }
    if arms
        .iter()
        .any(|a| !(a.weight > 0.0 && a.weight.is_finite()))
    {
        return Err(SpecError::invalid(setting, "every weight must be above 0"));
    }
    let total: f64 = arms.iter().map(|a| a.weight).sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(SpecError::invalid(
            setting,
            format!("weights sum to {total}, not 1"),
        ));
    }
    arms.iter().position(|a| a.name == control).ok_or_else(|| {
        SpecError::invalid(
            format!("{key}.control"),
            format!("`{control}` is not an arm"),
        )
    })
}

fn check_dates(key: &str, e: &ExperimentSpec) -> Result<(NaiveDate, Option<NaiveDate>)> {
    let start = crate::valid::parse_date(&e.start, &format!("{key}.start"))?;
    let end = e
        .end
        .as_deref()
        .map(|s| crate::valid::parse_date(s, &format!("{key}.end")))
        .transpose()?;
    if end.is_some_and(|end| end < start) {
        return Err(SpecError::invalid(format!("{key}.end"), "is before start"));
    }
    Ok((start, end))
}

fn check_days(key: &str, e: &ExperimentSpec) -> Result<()> {
    if !(RETENTION_DAYS as u64..=crate::MAX_DAYS).contains(&(e.window_days as u64)) {
        let reason = format!(
            "{} days: the window holds the retention week ({RETENTION_DAYS} days or more)",
            e.window_days
        );
        return Err(SpecError::invalid(format!("{key}.window_days"), reason));
    }
    if !(1..=crate::MAX_DAYS).contains(&(e.pre_days as u64)) {
        return Err(SpecError::invalid(
            format!("{key}.pre_days"),
            "must be at least 1",
        ));
    }
    Ok(())
}

fn check_metrics(key: &str, metrics: &[String]) -> Result<()> {
    let distinct: BTreeSet<&String> = metrics.iter().collect();
    if distinct.len() != metrics.len() || distinct.iter().any(|m| m.is_empty()) {
        return Err(SpecError::invalid(
            format!("{key}.metrics"),
            "event types must be distinct and not empty",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> ExperimentSpec {
        toml::from_str(toml_text).unwrap()
    }

    const GOOD: &str = r#"
        name = "winback-2026"
        audience = "at_risk"
        arms = [{ name = "control", weight = 0.5 }, { name = "treatment", weight = 0.5 }]
        control = "control"
        start = "2026-01-01"
    "#;

    fn check(e: ExperimentSpec) -> Result<Vec<ValidExperiment>> {
        validate_experiments(&[e], &["at_risk".to_string()])
    }

    #[test]
    fn a_plain_experiment_takes_its_defaults() {
        let v = check(spec(GOOD)).unwrap().remove(0);
        assert_eq!((v.control, v.seed.as_str()), (0, "winback-2026"));
        assert_eq!((v.window_days, v.pre_days, v.end), (14, 14, None));
        let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(!v.assigns_on(day("2025-12-31")) && v.assigns_on(day("2027-01-01")));
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: [(&str, &str, &str); 6] = [
            (
                "audience = \"at_risk\"",
                "audience = \"nobody\"",
                "experiments.winback-2026.audience",
            ),
            (
                "weight = 0.5 }]",
                "weight = 0.6 }]",
                "experiments.winback-2026.arms",
            ),
            (
                "control = \"control\"",
                "control = \"other\"",
                "experiments.winback-2026.control",
            ),
            (
                "start = \"2026-01-01\"",
                "start = \"2026-01-01\"\nend = \"2025-01-01\"",
                "experiments.winback-2026.end",
            ),
            (
                "start = \"2026-01-01\"",
                "start = \"2026-01-01\"\nwindow_days = 3",
                "experiments.winback-2026.window_days",
            ),
            (
                "name = \"winback-2026\"",
                "name = \"Winback\"",
                "experiments.name `Winback`",
            ),
        ];
        for (from, to, setting) in cases {
            let err = check(spec(&GOOD.replace(from, to))).unwrap_err();
            assert!(err.to_string().contains(setting), "{to}: {err}");
        }
        let one_arm = GOOD.replace(", { name = \"treatment\", weight = 0.5 }", "");
        let err = check(spec(&one_arm.replace("0.5", "1.0"))).unwrap_err();
        assert!(err.to_string().contains("at least two arms"), "{err}");
    }
}
