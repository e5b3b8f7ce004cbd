//! `[features.behaviour]`: per-event-type features that carry churn signal, after "Fighting
//! Churn with Data" (Gold, 2020): counts over every window, rates per active day and per month
//! of tenure, the change between consecutive windows, days since the last event of each type,
//! and ratios between types. All off by default: each adds a column per counted event type.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};
use crate::valid::PerTypeColumn;

/// `[features.behaviour]` as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourSettings {
    /// `<type>_<N>d` for every `windows_days` N (not only the activity window).
    #[serde(default)]
    pub per_type_windows: bool,
    /// `<type>_per_active_day_<A>d`: the type's events per active day in the activity window.
    #[serde(default)]
    pub per_active_day: bool,
    /// `<type>_per_month`: the type's events before the cutoff per month (30.4375 days) of
    /// tenure, counting at least one month.
    #[serde(default)]
    pub per_month: bool,
    /// `<type>_change_<A>d`: `(this window − the one before) / (the one before + 1)`.
    #[serde(default)]
    pub change: bool,
    /// `days_since_<type>`: days since the type's last event (null: never).
    #[serde(default)]
    pub days_since: bool,
    /// `[numerator, denominator]` event type pairs: `<num>_per_<den>_<A>d`, the ratio of their
    /// activity-window counts (null when the denominator's is 0).
    #[serde(default)]
    pub ratios: Vec<[String; 2]>,
}

/// Checked `[features.behaviour]`.
#[derive(Debug, Clone, Default)]
pub struct ValidBehaviour {
    pub per_type_windows: bool,
    pub per_active_day: bool,
    pub per_month: bool,
    pub change: bool,
    pub days_since: bool,
    /// Numerator and denominator, both among the counted types.
    pub ratios: Vec<(PerTypeColumn, PerTypeColumn)>,
}

impl BehaviourSettings {
    /// Checks that every ratio names counted event types (`per_type`), once.
    pub(crate) fn validate(&self, per_type: &[PerTypeColumn]) -> Result<ValidBehaviour> {
        let find = |ty: &str| {
            per_type
                .iter()
                .find(|p| p.event_type == ty)
                .cloned()
                .ok_or_else(|| {
                    SpecError::invalid(
                        "features.behaviour.ratios",
                        format!("`{ty}` is not a counted event type (see features.per_type)"),
                    )
                })
        };
        let mut ratios: Vec<(PerTypeColumn, PerTypeColumn)> = vec![];
        for [num, den] in &self.ratios {
            let pair = (find(num)?, find(den)?);
            if num == den || ratios.iter().any(|(a, b)| (a, b) == (&pair.0, &pair.1)) {
                return Err(SpecError::invalid(
                    "features.behaviour.ratios",
                    format!("[\"{num}\", \"{den}\"] is the same type twice or listed twice"),
                ));
            }
            ratios.push(pair);
        }
        Ok(ValidBehaviour {
            per_type_windows: self.per_type_windows,
            per_active_day: self.per_active_day,
            per_month: self.per_month,
            change: self.change,
            days_since: self.days_since,
            ratios,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(types: &[&str]) -> Vec<PerTypeColumn> {
        types
            .iter()
            .map(|t| PerTypeColumn {
                event_type: t.to_string(),
                column: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn ratios_must_name_counted_types_once() {
        let b = |ratios: &[[&str; 2]]| BehaviourSettings {
            ratios: ratios.iter().map(|r| r.map(String::from)).collect(),
            ..Default::default()
        };
        let types = counted(&["post", "ad_view"]);
        let ok = b(&[["ad_view", "post"]]).validate(&types).unwrap();
        assert_eq!(ok.ratios[0].0.event_type, "ad_view");
        for bad in [
            b(&[["ad_view", "like"]]),
            b(&[["post", "post"]]),
            b(&[["ad_view", "post"], ["ad_view", "post"]]),
        ] {
            let e = bad.validate(&types).unwrap_err().to_string();
            assert!(e.contains("features.behaviour.ratios"), "{e}");
        }
    }
}
