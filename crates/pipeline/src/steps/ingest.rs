//! Reading and checking the inputs: every input file checked against the spec's mapping and
//! registered (`events`, `users`, `items`), then the quality rules: distinct good events staged
//! once for the later steps, bad rows written to `quarantine` and counted per rule.

use lifecycle_features::input::find_unreadable;
use lifecycle_features::quality;
use lifecycle_features::sql::{self, views};
use lifecycle_spec::DataError;

use super::{Run, StepInfo};
use crate::manifest::RowCounts;
use crate::query::Query;
use crate::session::register_store;
use crate::tables::{GOOD_EVENTS, Table};
use crate::{Result, RunError};

pub(crate) const READ: StepInfo = StepInfo {
    name: "read",
    reads: &[],
    writes: &[],
};

pub(crate) const QUALITY: StepInfo = StepInfo {
    name: "quality",
    reads: &[views::EVENTS_CHECKED],
    writes: &[Table::Quarantine],
};

/// Registers the inputs and `events_checked`; counts the rows read and mapped (in a run).
pub(crate) async fn read(run: &mut Run<'_>) -> Result<Option<u64>> {
    let spec = run.spec;
    for (src, prune) in [
        (Some(&spec.events), true),
        (spec.users.as_ref(), false),
        (spec.items.as_ref(), false),
    ] {
        let Some(src) = src else { continue };
        let setting = format!("{}.url", src.table);
        let loc = crate::session::open_setting(&run.stores, &src.url, &setting)?;
        register_store(&run.ctx, &loc);
        let pruned = prune.then_some(run.run_date);
        let input = lifecycle_features::input::register_input(&run.ctx, src, &loc, pruned).await?;
        run.inputs.push(input);
    }
    let q = spec.quality.max_future_hours;
    quality::register_checked(&run.ctx, &spec.purchase_types, run.run_time, q).await?;
    if !run.out.publishes() {
        return Ok(None);
    }
    let q = Query::new(&run.ctx, "count rows");
    run.rows.read = q.count(&sql::row_count(views::EVENTS_RAW)).await?;
    let mapped = q.count(&sql::row_count(views::EVENTS_MAPPED)).await?;
    run.rows.filtered = run.rows.read - mapped;
    Ok(Some(run.rows.read))
}

/// Stages the good events, writes `quarantine`, and counts its rows per rule. Both read the
/// input files: a failure is blamed on the file that cannot be read, when one cannot.
pub(crate) async fn quality(run: &mut Run<'_>) -> Result<Option<u64>> {
    match check_rows(run).await {
        Err(e) => Err(blame_inputs(run, e).await),
        done => done,
    }
}

async fn check_rows(run: &mut Run<'_>) -> Result<Option<u64>> {
    let q = Query::new(&run.ctx, "quality rules");
    let dedup = run.spec.quality.deduplicate;
    let sql = quality::good_events_sql(dedup);
    let good = run
        .out
        .staged(q, GOOD_EVENTS, sql, views::EVENTS_GOOD)
        .await?;
    tracing::debug!(distinct_good_events = good, "good events staged");
    quality::register_quarantine_and_clean(&run.ctx).await?;
    let q = q.step(Table::Quarantine.name());
    run.out
        .sql(q, Table::Quarantine, &quality::quarantine_sql(), None)
        .await?;
    let Some(url) = run.out.staged_url(Table::Quarantine.name()) else {
        return Ok(None);
    };
    let q = q.step("count quarantined rows");
    q.register_parquet(views::QUARANTINE_WRITTEN, &url).await?;
    run.quality = q
        .counts_by(&quality::rule_counts_sql(views::QUARANTINE_WRITTEN))
        .await?;
    let bad: u64 = run.quality.values().sum();
    let mapped = run.rows.read - run.rows.filtered;
    run.rows = RowCounts {
        bad,
        good: mapped - bad,
        ..run.rows
    };
    Ok(Some(bad))
}

/// `e`, or, when an input file cannot be read to its end, the data error that names that file
/// (a read error inside a whole-table step names the step's own output, not the input).
pub(crate) async fn blame_inputs(run: &Run<'_>, e: RunError) -> RunError {
    let spec = run.spec;
    let sources = std::iter::once(&spec.events)
        .chain(&spec.users)
        .chain(&spec.items);
    for src in sources {
        let Some(input) = run.inputs.iter().find(|i| i.table == src.table) else {
            continue;
        };
        if let Some(bad) = find_unreadable(&run.ctx, src, input).await {
            tracing::debug!(error = %e, "the step's own error, blamed on an input file");
            return bad.into();
        }
    }
    e
}

/// The quality gate: fails the run when more than `quality.max_bad_fraction` of the mapped
/// rows broke a rule.
pub(crate) fn bad_row_gate(run: &Run<'_>) -> Result<()> {
    let (bad, mapped) = (run.rows.bad, run.rows.bad + run.rows.good);
    let limit = run.spec.quality.max_bad_fraction;
    if mapped == 0 || bad as f64 <= limit * mapped as f64 {
        return Ok(());
    }
    let by_rule: Vec<String> = run
        .quality
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Err(DataError::TooManyBadRows {
        bad,
        total: mapped,
        percent: 100.0 * bad as f64 / mapped as f64,
        limit_percent: 100.0 * limit,
        by_rule: by_rule.join(", "),
    }
    .into())
}
