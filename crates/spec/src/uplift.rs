//! `[uplift]`: uplift models trained on a finished experiment (an `[[experiments]]` entry of
//! the spec, or a past campaign's assignments file), as written and checked.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};

/// `[uplift]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpliftSettings {
    /// An `[[experiments]]` name: its `assignments` are the training rows.
    #[serde(default)]
    pub experiment: Option<String>,
    /// Or a past campaign's Parquet file of `user_id`, `arm`, `assigned_on` (a date).
    #[serde(default)]
    pub assignments: Option<String>,
    #[serde(default = "default_control")]
    pub control: String,
    #[serde(default = "default_treatment")]
    pub treatment: String,
    /// Days after assignment in which a purchase is the outcome (default: the experiment's
    /// window, else 14).
    #[serde(default)]
    pub window_days: Option<u32>,
    /// Who gets `uplift_scores` at the cutoff: an `[[audiences]]` name (default: the
    /// experiment's audience; with a file and none, every user of `user_features`).
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default = "default_methods")]
    pub methods: Vec<UpliftMethodName>,
    #[serde(default = "default_learners")]
    pub learners: Vec<UpliftLearnerName>,
    /// The share of assigned users held out from training for the evaluation (by hash).
    #[serde(default = "default_test_share")]
    pub test_share: f64,
    /// The hash seed of the split.
    #[serde(default = "default_seed")]
    pub seed: String,
}

/// A meta-learner by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpliftMethodName {
    TwoModel,
    ClassTransformation,
}

/// A base learner by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpliftLearnerName {
    Gbdt,
    Logistic,
}

fn default_control() -> String {
    "control".into()
}
fn default_treatment() -> String {
    "treatment".into()
}
fn default_methods() -> Vec<UpliftMethodName> {
    vec![
        UpliftMethodName::TwoModel,
        UpliftMethodName::ClassTransformation,
    ]
}
fn default_learners() -> Vec<UpliftLearnerName> {
    vec![UpliftLearnerName::Gbdt, UpliftLearnerName::Logistic]
}
fn default_test_share() -> f64 {
    0.3
}
fn default_seed() -> String {
    "uplift".into()
}

/// Where the training rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum UpliftSource {
    Experiment(String),
    /// The file's resolved URL.
    File(url::Url),
}

/// Checked `[uplift]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidUplift {
    pub source: UpliftSource,
    pub control: String,
    pub treatment: String,
    pub window_days: u32,
    pub audience: Option<String>,
    pub methods: Vec<UpliftMethodName>,
    pub learners: Vec<UpliftLearnerName>,
    pub test_share: f64,
    pub seed: String,
}

/// Checks `[uplift]` against the spec's experiments and audiences; `base` resolves a file.
pub(crate) fn validate_uplift(
    u: &UpliftSettings,
    experiments: &[crate::ValidExperiment],
    audiences: &[String],
    base: &std::path::Path,
) -> Result<ValidUplift> {
    let (source, experiment) = match (&u.experiment, &u.assignments) {
        (Some(name), None) => {
            let e = experiments
                .iter()
                .find(|e| &e.name == name)
                .ok_or_else(|| {
                    SpecError::invalid(
                        "uplift.experiment",
                        format!("`{name}` is not an [[experiments]] name"),
                    )
                })?;
            (UpliftSource::Experiment(name.clone()), Some(e))
        }
        (None, Some(path)) => {
            let url = crate::valid::resolve_location(path, base, false)
                .map_err(|reason| SpecError::invalid("uplift.assignments", reason))?;
            (UpliftSource::File(url), None)
        }
        _ => {
            return Err(SpecError::invalid(
                "uplift.experiment / uplift.assignments",
                "name exactly one: an [[experiments]] entry or a past campaign's file",
            ));
        }
    };
    if let Some(e) = experiment {
        for (key, arm) in [
            ("uplift.control", &u.control),
            ("uplift.treatment", &u.treatment),
        ] {
            if !e.arms.iter().any(|a| &a.name == arm) {
                return Err(SpecError::invalid(
                    key,
                    format!("`{arm}` is not an arm of `{}`", e.name),
                ));
            }
        }
    }
    if u.control == u.treatment {
        return Err(SpecError::invalid(
            "uplift.treatment",
            "must differ from the control",
        ));
    }
    let audience = u
        .audience
        .clone()
        .or_else(|| experiment.map(|e| e.audience.clone()));
    if let Some(a) = audience.as_ref().filter(|a| !audiences.contains(a)) {
        return Err(SpecError::invalid(
            "uplift.audience",
            format!("`{a}` is not an [[audiences]] name"),
        ));
    }
    if u.methods.is_empty() || u.learners.is_empty() {
        return Err(SpecError::invalid(
            "uplift.methods / uplift.learners",
            "must not be empty",
        ));
    }
    if !(u.test_share > 0.0 && u.test_share < 1.0) {
        return Err(SpecError::invalid(
            "uplift.test_share",
            format!("{} is not in (0, 1)", u.test_share),
        ));
    }
    let window_days = u
        .window_days
        .or(experiment.map(|e| e.window_days))
        .unwrap_or(14);
    if window_days == 0 {
        return Err(SpecError::invalid(
            "uplift.window_days",
            "must be at least 1",
        ));
    }
    Ok(ValidUplift {
        source,
        control: u.control.clone(),
        treatment: u.treatment.clone(),
        window_days,
        audience,
        methods: u.methods.clone(),
        learners: u.learners.clone(),
        test_share: u.test_share,
        seed: u.seed.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> UpliftSettings {
        toml::from_str(text).unwrap()
    }

    fn check(text: &str) -> Result<ValidUplift> {
        let e: crate::ExperimentSpec = toml::from_str(
            "name = \"nudge\"\naudience = \"recent\"\ncontrol = \"control\"\nstart = \"2024-01-01\"\n\
             arms = [{ name = \"control\", weight = 0.5 }, { name = \"push\", weight = 0.5 }]",
        )
        .unwrap();
        let experiments =
            crate::experiments::validate_experiments(&[e], &["recent".to_string()]).unwrap();
        let base = std::path::Path::new("/jobs");
        validate_uplift(&settings(text), &experiments, &["recent".to_string()], base)
    }

    #[test]
    fn an_experiment_gives_its_window_and_audience() {
        let v = check("experiment = \"nudge\"\ntreatment = \"push\"").unwrap();
        assert_eq!((v.window_days, v.audience.as_deref()), (14, Some("recent")));
        assert_eq!(v.source, UpliftSource::Experiment("nudge".into()));
        let f = check("assignments = \"past.parquet\"").unwrap();
        assert_eq!(
            f.source,
            UpliftSource::File("file:///jobs/past.parquet".parse().unwrap())
        );
        assert_eq!(f.audience, None);
    }

    #[test]
    fn bad_settings_are_named() {
        for (text, setting) in [
            ("", "uplift.experiment / uplift.assignments"),
            ("experiment = \"other\"", "uplift.experiment"),
            ("experiment = \"nudge\"", "uplift.treatment"),
            (
                "experiment = \"nudge\"\ntreatment = \"push\"\ntest_share = 1.0",
                "uplift.test_share",
            ),
            (
                "assignments = \"x.parquet\"\naudience = \"nobody\"",
                "uplift.audience",
            ),
            (
                "assignments = \"x.parquet\"\nmethods = []",
                "uplift.methods",
            ),
        ] {
            let err = check(text).unwrap_err().to_string();
            assert!(err.contains(setting), "{text}: {err}");
        }
    }
}
