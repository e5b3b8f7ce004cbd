//! `monitoring`: every model feature, score and segment share against the previous committed
//! run, and the input's row count; `[monitoring] action = "fail"` stops the run on a flag.

use std::collections::BTreeMap;

use lifecycle_features::sql::views;
use lifecycle_spec::DriftAction;

use super::{Run, StepInfo};
use crate::drift_table::{self, DriftRow};
use crate::query::Query;
use crate::reports::MonitoringReport;
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "monitoring",
    from_rollup: false,
    reads: &[views::USER_FEATURES],
    writes: &[Table::Monitoring],
};

/// The scores watched beside every numeric column of `user_features`.
const SCORES: [(Table, &[&str]); 2] = [
    (Table::ChurnScores, &["churn_probability"]),
    (
        Table::CustomerValue,
        &["p_alive", "expected_purchases_365d", "clv_365d"],
    ),
];

/// The text columns whose category shares are watched.
const CATEGORIES: [(Table, &str); 3] = [
    (Table::UserSegments, "stage"),
    (Table::UserSegments, "rfm_segment"),
    (Table::UserClusters, "cluster_name"),
];

/// Which run a table is read from.
#[derive(Clone, Copy)]
enum Side {
    Previous,
    Current,
}

/// Writes `monitoring` and records the flags (a real run only).
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    if !run.out.publishes() {
        return Ok(None);
    }
    let rows = drift_rows(run).await?;
    let flagged: Vec<_> = rows.iter().filter_map(DriftRow::flag).collect();
    for flag in &flagged {
        tracing::warn!(%flag, "drift beyond the [monitoring] limits");
    }
    let written = run
        .out
        .batch(Table::Monitoring, drift_table::batch(&rows))
        .await?;
    run.monitoring = Some(MonitoringReport {
        compared_with: run.previous.as_ref().map(|p| p.run_date),
        flagged,
    });
    Ok(Some(written))
}

/// With `action = "fail"`, any flag stops the run before anything is published.
pub(crate) fn gate(run: &Run<'_>) -> Result<()> {
    match &run.monitoring {
        Some(m) if !m.flagged.is_empty() && run.spec.monitoring.action == DriftAction::Fail => {
            Err(RunError::Drift {
                flags: m.flagged.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Every row of the table: row counts, numeric columns, category shares.
async fn drift_rows(run: &Run<'_>) -> Result<Vec<DriftRow>> {
    let mut rows = row_counts(run).await?;
    let q = Query::new(&run.ctx, STEP.name);
    let features = crate::frame::numeric_columns(&q.schema(views::USER_FEATURES).await?);
    let features: Vec<&str> = features.iter().map(String::as_str).collect();
    let numeric = std::iter::once((Table::UserFeatures, &features[..])).chain(SCORES);
    for (table, columns) in numeric {
        rows.extend(numeric_drift(run, table, columns).await?);
    }
    for (table, column) in CATEGORIES {
        let Some(now) = shares(run, table, Side::Current, column).await? else {
            continue;
        };
        let before = shares(run, table, Side::Previous, column).await?;
        let max_psi = run.spec.monitoring.max_psi;
        rows.extend(DriftRow::categorical(
            table.name(),
            column,
            before.as_ref(),
            &now,
            max_psi,
        ));
    }
    Ok(rows)
}

/// Events read and users, against the previous run's manifest (events read only when both
/// runs read the same span of partitions).
async fn row_counts(run: &Run<'_>) -> Result<Vec<DriftRow>> {
    let max_change = run.spec.monitoring.max_row_change;
    let previous = run.previous.as_ref();
    let users_before = previous
        .and_then(|p| p.commit.outputs.get(Table::UserFeatures.name()))
        .map(|t| t.rows);
    let q = Query::new(&run.ctx, STEP.name);
    let users = q
        .count(&format!("SELECT count(*) FROM {}", views::USER_FEATURES))
        .await?;
    // Rows read compare runs that read the same partitions: all, or the recent ones only.
    let recent = crate::rollup::read_recent_only;
    let read_before = previous
        .filter(|p| recent(p.rollup.as_ref()) == recent(run.rollup.as_ref()))
        .map(|p| p.rows.read);
    Ok(vec![
        DriftRow::row_count(
            "events",
            "rows_read",
            read_before,
            run.rows.read,
            max_change,
        ),
        DriftRow::row_count(
            Table::UserFeatures.name(),
            "users",
            users_before,
            users,
            max_change,
        ),
    ])
}

/// Mean, nulls and PSI of those `columns` this run's `table` has.
async fn numeric_drift(run: &Run<'_>, table: Table, columns: &[&str]) -> Result<Vec<DriftRow>> {
    let Some(now) = values(run, table, Side::Current, columns).await? else {
        return Ok(vec![]);
    };
    let before = values(run, table, Side::Previous, columns)
        .await?
        .unwrap_or_default();
    let max_psi = run.spec.monitoring.max_psi;
    let rows = now.iter().flat_map(|(column, current)| {
        let previous = before.get(column).map(Vec::as_slice);
        DriftRow::numeric(table.name(), column, previous, current, max_psi)
    });
    Ok(rows.collect())
}

/// Registers `table` of one side as a view; its name, or None when that run has no such table.
async fn register(run: &Run<'_>, table: Table, side: Side) -> Result<Option<String>> {
    let url = match side {
        Side::Current => run
            .out
            .wrote(table)
            .then(|| run.out.staged_url(table.name()))
            .flatten(),
        Side::Previous => run
            .previous
            .as_ref()
            .and_then(|p| p.commit.outputs.get(table.name()))
            .map(|t| t.url.clone()),
    };
    let Some(url) = url else {
        return Ok(None);
    };
    let side = match side {
        Side::Previous => "previous",
        Side::Current => "current",
    };
    let name = format!("_monitoring_{side}_{}", table.name());
    Query::new(&run.ctx, STEP.name)
        .register_parquet(&name, &url)
        .await?;
    Ok(Some(name))
}

/// The values of those `columns` the side's `table` has (as f64, null as `NaN`).
async fn values(
    run: &Run<'_>,
    table: Table,
    side: Side,
    columns: &[&str],
) -> Result<Option<BTreeMap<String, Vec<f64>>>> {
    let Some(name) = register(run, table, side).await? else {
        return Ok(None);
    };
    let q = Query::new(&run.ctx, STEP.name);
    let schema = q.schema(&name).await?;
    let present: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| schema.index_of(c).is_ok())
        .collect();
    let mut out: BTreeMap<String, Vec<f64>> =
        present.iter().map(|c| (c.to_string(), vec![])).collect();
    if present.is_empty() {
        return Ok(Some(out));
    }
    let select: Vec<String> = present.iter().map(|c| format!("\"{c}\"")).collect();
    let batches = q
        .collect(&format!("SELECT {} FROM {name}", select.join(", ")))
        .await?;
    for b in &batches {
        for (i, c) in present.iter().enumerate() {
            let column = out.get_mut(*c).expect("every present column has a vector");
            column.extend(q.numbers(b, i)?);
        }
    }
    Ok(Some(out))
}

/// Rows per category of the side's `table.column` (null as `(none)`); None without the table
/// or the column.
async fn shares(
    run: &Run<'_>,
    table: Table,
    side: Side,
    column: &str,
) -> Result<Option<BTreeMap<String, u64>>> {
    let Some(name) = register(run, table, side).await? else {
        return Ok(None);
    };
    let q = Query::new(&run.ctx, STEP.name);
    if q.schema(&name).await?.index_of(column).is_err() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT COALESCE(CAST(\"{column}\" AS VARCHAR), '(none)'), count(*) FROM {name} GROUP BY 1"
    );
    Ok(Some(q.counts_by(&sql).await?))
}
