//! `monitoring`: the rows of a run's drift check against the previous run (`lifecycle_models::
//! drift` does the statistics), which of them cross a `[monitoring]` limit, and the batch they
//! are written as.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_models::drift::{Baseline, Summary, category_psi, share};

use crate::reports::{DriftFlag, DriftMetric};

/// One row of `monitoring`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DriftRow {
    pub table: &'static str,
    pub column: String,
    pub metric: DriftMetric,
    /// The category of a `share` row.
    pub category: Option<String>,
    pub previous: Option<f64>,
    pub current: Option<f64>,
    /// The limit a `psi` or `row_change` row is checked against.
    pub limit: Option<f64>,
    pub flagged: bool,
}

impl DriftRow {
    fn new(table: &'static str, column: &str, metric: DriftMetric) -> DriftRow {
        DriftRow {
            table,
            column: column.to_string(),
            metric,
            category: None,
            previous: None,
            current: None,
            limit: None,
            flagged: false,
        }
    }

    /// Mean, null share and (with a previous run) PSI of a numeric column (`NaN` = null).
    pub fn numeric(
        table: &'static str,
        column: &str,
        previous: Option<&[f64]>,
        current: &[f64],
        max_psi: f64,
    ) -> Vec<DriftRow> {
        let (before, now) = (previous.map(Summary::of), Summary::of(current));
        let mut rows = vec![
            DriftRow {
                previous: before.and_then(|s| s.mean),
                current: now.mean,
                ..DriftRow::new(table, column, DriftMetric::Mean)
            },
            DriftRow {
                previous: before.map(|s| s.null_share),
                current: Some(now.null_share),
                ..DriftRow::new(table, column, DriftMetric::NullShare)
            },
        ];
        if let Some(psi) = previous.and_then(|p| Baseline::of(p).psi(current)) {
            rows.push(DriftRow::psi(table, column, psi, max_psi));
        }
        rows
    }

    /// The share of each category and (with a previous run) the PSI over categories.
    pub fn categorical(
        table: &'static str,
        column: &str,
        previous: Option<&BTreeMap<String, u64>>,
        current: &BTreeMap<String, u64>,
        max_psi: f64,
    ) -> Vec<DriftRow> {
        let keys: std::collections::BTreeSet<&String> = current
            .keys()
            .chain(previous.into_iter().flat_map(|p| p.keys()))
            .collect();
        let mut rows: Vec<DriftRow> = keys
            .into_iter()
            .map(|k| DriftRow {
                category: Some(k.clone()),
                previous: previous.and_then(|p| share(p, k)),
                current: share(current, k),
                ..DriftRow::new(table, column, DriftMetric::Share)
            })
            .collect();
        if let Some(psi) = previous.and_then(|p| category_psi(p, current)) {
            rows.push(DriftRow::psi(table, column, psi, max_psi));
        }
        rows
    }

    /// A row count, flagged when it changed by more than `max_change` (relative).
    pub fn row_count(
        table: &'static str,
        column: &str,
        previous: Option<u64>,
        current: u64,
        max_change: f64,
    ) -> DriftRow {
        let row = DriftRow {
            previous: previous.map(|p| p as f64),
            current: Some(current as f64),
            limit: Some(max_change),
            ..DriftRow::new(table, column, DriftMetric::RowChange)
        };
        DriftRow {
            flagged: row.relative_change().is_some_and(|c| c.abs() > max_change),
            ..row
        }
    }

    fn psi(table: &'static str, column: &str, psi: f64, max_psi: f64) -> DriftRow {
        DriftRow {
            current: Some(psi),
            limit: Some(max_psi),
            flagged: psi > max_psi,
            ..DriftRow::new(table, column, DriftMetric::Psi)
        }
    }

    /// `current / previous - 1` of a row count (infinite from zero to some).
    fn relative_change(&self) -> Option<f64> {
        match (self.previous, self.current) {
            (Some(p), Some(c)) if p > 0.0 => Some(c / p - 1.0),
            (Some(_), Some(c)) if c > 0.0 => Some(f64::INFINITY),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        }
    }

    /// The flag for the manifest, if this row crossed its limit.
    pub fn flag(&self) -> Option<DriftFlag> {
        let value = match self.metric {
            DriftMetric::RowChange => self.relative_change()?,
            _ => self.current?,
        };
        self.flagged.then(|| DriftFlag {
            table: self.table.to_string(),
            column: self.column.clone(),
            metric: self.metric,
            value,
            limit: self.limit.unwrap_or_default(),
        })
    }
}

/// The `monitoring` table.
pub(crate) fn batch(rows: &[DriftRow]) -> RecordBatch {
    let text = |f: fn(&DriftRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let number = |f: fn(&DriftRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(f)))
    };
    let columns = vec![
        text(|r| r.table),
        text(|r| &r.column),
        text(|r| r.metric.name()),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.category.as_deref()),
        )) as ArrayRef,
        number(|r| r.previous),
        number(|r| r.current),
        number(|r| r.limit),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.flagged)),
        )),
    ];
    let fields = vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("column", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, true),
        Field::new("previous", DataType::Float64, true),
        Field::new("current", DataType::Float64, true),
        Field::new("limit", DataType::Float64, true),
        Field::new("flagged", DataType::Boolean, false),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns fit the schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts_flag_by_relative_change_either_way() {
        let halved = DriftRow::row_count("events", "rows_read", Some(1000), 400, 0.5);
        assert!(halved.flagged);
        assert_eq!(halved.flag().unwrap().value, -0.6);
        assert!(!DriftRow::row_count("events", "rows_read", Some(1000), 1500, 0.5).flagged);
        assert!(DriftRow::row_count("events", "rows_read", Some(0), 5, 0.5).flagged);
        let first = DriftRow::row_count("events", "rows_read", None, 5, 0.5);
        assert!(!first.flagged && first.flag().is_none());
    }

    #[test]
    fn a_shifted_column_is_flagged_and_a_first_run_has_no_psi() {
        let before: Vec<f64> = (0..100).map(f64::from).collect();
        let after: Vec<f64> = (50..150).map(f64::from).collect();
        let rows = DriftRow::numeric("user_features", "events_30d", Some(&before), &after, 0.25);
        let psi = rows.iter().find(|r| r.metric == DriftMetric::Psi).unwrap();
        assert!(psi.flagged, "{psi:?}");
        assert_eq!(psi.flag().unwrap().column, "events_30d");
        let first = DriftRow::numeric("user_features", "events_30d", None, &after, 0.25);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|r| r.previous.is_none() && !r.flagged));
    }

    #[test]
    fn categories_new_on_either_side_get_a_share_row() {
        let counts = |p: &[(&str, u64)]| -> BTreeMap<String, u64> {
            p.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let before = counts(&[("active", 3), ("new", 1)]);
        let now = counts(&[("active", 2), ("lapsed", 2)]);
        let rows = DriftRow::categorical("user_segments", "stage", Some(&before), &now, 0.25);
        let shares: Vec<_> = rows
            .iter()
            .filter(|r| r.metric == DriftMetric::Share)
            .map(|r| (r.category.clone().unwrap(), r.previous, r.current))
            .collect();
        assert_eq!(
            shares,
            vec![
                ("active".into(), Some(0.75), Some(0.5)),
                ("lapsed".into(), Some(0.0), Some(0.5)),
                ("new".into(), Some(0.25), Some(0.0)),
            ]
        );
        assert!(rows.last().unwrap().flagged);
        assert_eq!(batch(&rows).num_rows(), 4);
    }
}
