//! `[incremental]`: whether `user_features` is built from a rollup of daily per-user counts
//! that each run updates with the recent days only, as written and checked.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};

/// `[incremental]` as written. Without the section a run computes `user_features` from the
/// events directly and keeps no rollup.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalSettings {
    /// `"incremental"` (default): update the previous run's rollup with the recent days;
    /// `"full"`: rebuild the rollup from every event.
    #[serde(default)]
    pub mode: IncrementalMode,
    /// Days before the previous run's date recomputed again, to take in events that arrived
    /// late. Default 3.
    #[serde(default = "default_lookback_days")]
    pub lookback_days: u32,
}

/// How a run builds the rollup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncrementalMode {
    /// The previous commit's rollup plus the recent days (a rebuild when there is none or
    /// it was built under other settings).
    #[default]
    Incremental,
    /// Every event, every run.
    Full,
}

fn default_lookback_days() -> u32 {
    3
}

impl Default for IncrementalSettings {
    /// As an empty `[incremental]` section.
    fn default() -> IncrementalSettings {
        IncrementalSettings {
            mode: IncrementalMode::Incremental,
            lookback_days: default_lookback_days(),
        }
    }
}

/// The longest lookback taken: more is a typo, and would read most of a year each day.
const MAX_LOOKBACK_DAYS: u32 = 366;

impl IncrementalSettings {
    /// Checks the lookback.
    pub(crate) fn validate(&self) -> Result<IncrementalSettings> {
        if self.lookback_days > MAX_LOOKBACK_DAYS {
            return Err(SpecError::invalid(
                "incremental.lookback_days",
                format!(
                    "{} is more than {MAX_LOOKBACK_DAYS} days",
                    self.lookback_days
                ),
            ));
        }
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> std::result::Result<IncrementalSettings, toml::de::Error> {
        toml::from_str(toml)
    }

    #[test]
    fn defaults_to_incremental_with_three_days_of_lookback() {
        let s = parse("").unwrap();
        assert_eq!(s.mode, IncrementalMode::Incremental);
        assert_eq!(s.lookback_days, 3);
        assert_eq!(IncrementalSettings::default().lookback_days, 3);
        let s = parse("mode = \"full\"\nlookback_days = 0").unwrap();
        assert_eq!((s.mode, s.lookback_days), (IncrementalMode::Full, 0));
    }

    #[test]
    fn a_mode_out_of_the_list_or_a_year_long_lookback_is_refused() {
        assert!(parse("mode = \"partial\"").is_err());
        let e = parse("lookback_days = 400")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("incremental.lookback_days"), "{e}");
    }
}
