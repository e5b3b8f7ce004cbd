//! `[privacy]`: pseudonymous user ids and erasure requests; `[retention]`: how long committed
//! dates and the quarantine are kept.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::raw::{CsvOptions, SourceSpec, TextOptions};
use crate::valid::{ValidSource, validate_source};
use crate::{Result, SpecError};

/// The input table of erasure requests (its contract: [`crate::Contract`]).
pub const ERASURES: &str = "erasures";

/// `[privacy]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// The environment variable holding the HMAC key: when set, every published table carries
    /// `user_key = hex(HMAC-SHA256(key, user_id))` instead of `user_id`. Unset: raw ids.
    #[serde(default)]
    pub id_key_env: Option<String>,
    /// After a key rotation: the environment variable holding the key the previous run used,
    /// so its keys are translated to this run's (stage transitions and audience changes then
    /// follow users across the rotation). Needs `id_key_env`.
    #[serde(default)]
    pub previous_key_env: Option<String>,
    /// With a key: the activation tables (`user_profile`, the audience tables) also carry the
    /// raw `user_id` beside `user_key`, for CRMs that contact people by it.
    #[serde(default)]
    pub publish_raw_ids: bool,
    /// A Parquet or CSV file (or folder) of erasure requests: `user_id`, `requested_at`, and
    /// optionally `request_id`. Those users' rows are dropped from every input as it is read.
    #[serde(default)]
    pub erase_list: Option<String>,
    /// Aggregate tables publish no cell counted from fewer users than this (the cell's numbers
    /// are null and `suppressed` is true). 1: off.
    #[serde(default = "one")]
    pub min_cell_size: u64,
}

fn one() -> u64 {
    1
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            id_key_env: None,
            previous_key_env: None,
            publish_raw_ids: false,
            erase_list: None,
            min_cell_size: one(),
        }
    }
}

/// `[retention]`: committed dates older than `days` before a run's date are deleted after its
/// commit (and by `lifecycle gc`); the quarantine, which holds raw input rows, is emptied after
/// `quarantine_days`. Unset: kept forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub quarantine_days: Option<u32>,
}

/// Checks `[retention]`: at least a day each, the quarantine kept no longer than the dates.
pub(crate) fn validate_retention(r: &RetentionSettings) -> Result<()> {
    for (setting, days) in [
        ("retention.days", r.days),
        ("retention.quarantine_days", r.quarantine_days),
    ] {
        match days {
            Some(0) => {
                return Err(SpecError::invalid(
                    setting,
                    "must be at least 1 (a run keeps its own date)",
                ));
            }
            Some(n) => crate::error::check_days(setting, n as u64)?,
            None => {}
        }
    }
    if let (Some(days), Some(q)) = (r.days, r.quarantine_days)
        && q > days
    {
        return Err(SpecError::invalid(
            "retention.quarantine_days",
            format!(
                "{q} is longer than retention.days ({days}): the quarantine goes with its date"
            ),
        ));
    }
    Ok(())
}

/// `[privacy]`, checked.
#[derive(Debug, Clone)]
pub struct ValidPrivacy {
    pub id_key_env: Option<String>,
    /// Only with `id_key_env`, and another variable.
    pub previous_key_env: Option<String>,
    /// Only with `id_key_env`.
    pub publish_raw_ids: bool,
    /// The erasure requests, read as the input table [`ERASURES`].
    pub erase_list: Option<ValidSource>,
    /// At least 1.
    pub min_cell_size: u64,
}

/// Checks `[privacy]`; relative paths resolve against `base`.
pub(crate) fn validate(p: &PrivacySettings, base: &Path) -> Result<ValidPrivacy> {
    validate_privacy(p)?;
    if p.min_cell_size == 0 {
        return Err(SpecError::invalid(
            "privacy.min_cell_size",
            "must be at least 1 (1 publishes every cell)",
        ));
    }
    let erase_list = p
        .erase_list
        .as_ref()
        .map(|url| erase_list_source(url, base))
        .transpose()?;
    Ok(ValidPrivacy {
        id_key_env: p.id_key_env.clone(),
        previous_key_env: p.previous_key_env.clone(),
        publish_raw_ids: p.publish_raw_ids,
        erase_list,
        min_cell_size: p.min_cell_size,
    })
}

/// The erase list as an input table; errors name `privacy.erase_list`.
fn erase_list_source(url: &str, base: &Path) -> Result<ValidSource> {
    let spec = SourceSpec {
        url: url.to_string(),
        format: None,
        partition_key: "dt".into(),
        filter: None,
        columns: Default::default(),
        csv: CsvOptions::default(),
        text: TextOptions::default(),
        attributes: vec![],
    };
    validate_source(ERASURES, &spec, base).map_err(|e| match e {
        SpecError::Invalid { reason, .. } => SpecError::Invalid {
            setting: "privacy.erase_list".into(),
            reason,
        },
        e => e,
    })
}

/// Checks `id_key_env` and `previous_key_env`: variable names (letters, digits and `_`, not
/// starting with a digit), the previous key only beside a key, in another variable.
fn validate_privacy(p: &PrivacySettings) -> Result<()> {
    for (setting, var) in [
        ("privacy.id_key_env", &p.id_key_env),
        ("privacy.previous_key_env", &p.previous_key_env),
    ] {
        if let Some(var) = var {
            validate_var(setting, var)?;
        }
    }
    if p.publish_raw_ids && p.id_key_env.is_none() {
        return Err(SpecError::invalid(
            "privacy.publish_raw_ids",
            "needs privacy.id_key_env: without a key every table publishes raw ids already",
        ));
    }
    match (&p.id_key_env, &p.previous_key_env) {
        (None, Some(_)) => Err(SpecError::invalid(
            "privacy.previous_key_env",
            "needs privacy.id_key_env: a previous key is translated to the current one",
        )),
        (Some(a), Some(b)) if a == b => Err(SpecError::invalid(
            "privacy.previous_key_env",
            format!(
                "names the same variable as privacy.id_key_env (`{a}`): the previous key is another key"
            ),
        )),
        _ => Ok(()),
    }
}

fn validate_var(setting: &str, var: &str) -> Result<()> {
    let ok = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match ok {
        true => Ok(()),
        false => Err(SpecError::Invalid {
            setting: setting.into(),
            reason: format!(
                "`{var}` is not an environment variable's name (letters, digits and _): name \
                 the variable that holds the key, never the key itself"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_name_is_checked_never_a_key() {
        let of = |v: &str| PrivacySettings {
            id_key_env: Some(v.into()),
            ..PrivacySettings::default()
        };
        assert!(validate_privacy(&PrivacySettings::default()).is_ok());
        assert!(validate_privacy(&of("LIFECYCLE_ID_KEY")).is_ok());
        for bad in ["", "9KEY", "my key", "s3cr3t-v@lue"] {
            let err = validate_privacy(&of(bad)).unwrap_err().to_string();
            assert!(err.contains("privacy.id_key_env"), "{bad}: {err}");
        }
        let rotating = |previous: &str| PrivacySettings {
            previous_key_env: Some(previous.into()),
            ..of("LIFECYCLE_ID_KEY")
        };
        assert!(validate_privacy(&rotating("LIFECYCLE_PREVIOUS_ID_KEY")).is_ok());
        for (bad, setting) in [
            (rotating("LIFECYCLE_ID_KEY"), "privacy.previous_key_env"),
            (rotating("old key"), "privacy.previous_key_env"),
            (
                PrivacySettings {
                    publish_raw_ids: true,
                    ..PrivacySettings::default()
                },
                "privacy.publish_raw_ids",
            ),
            (
                PrivacySettings {
                    previous_key_env: Some("OLD".into()),
                    ..PrivacySettings::default()
                },
                "privacy.previous_key_env",
            ),
        ] {
            let err = validate_privacy(&bad).unwrap_err().to_string();
            assert!(err.contains(setting), "{bad:?}: {err}");
        }
    }

    #[test]
    fn retention_keeps_at_least_a_day_and_the_quarantine_no_longer_than_its_dates() {
        let of = |days, quarantine_days| RetentionSettings {
            days,
            quarantine_days,
        };
        assert!(validate_retention(&of(None, None)).is_ok());
        assert!(validate_retention(&of(Some(400), Some(30))).is_ok());
        assert!(validate_retention(&of(None, Some(30))).is_ok());
        for (bad, setting) in [
            (of(Some(0), None), "retention.days"),
            (of(None, Some(0)), "retention.quarantine_days"),
            (of(Some(10), Some(30)), "retention.quarantine_days"),
            (of(Some(100_000), None), "retention.days"),
        ] {
            let err = validate_retention(&bad).unwrap_err().to_string();
            assert!(err.contains(setting), "{bad:?}: {err}");
        }
    }
}
