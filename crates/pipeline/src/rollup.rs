//! Incremental `user_features` and `cohort_retention` (`[incremental]`): this run's rollup
//! (`user_daily`, `user_history`, `user_items_daily`, `user_periods`; SQL in
//! `lifecycle_features::rollup`) from the previous committed run's and the recent days' clean
//! events, or rebuilt from every event when there is no usable previous rollup or
//! `mode = "full"`. Committed with the run like any table. A run that updates a rollup, and
//! has no step that needs every event, reads only the recent date partitions ([`Plan`]).

use chrono::{Days, NaiveDate};
use lifecycle_features::cohorts::unit;
use lifecycle_features::rollup::{self, RollupDays};
use lifecycle_features::sql::{in_list, views};
use lifecycle_spec::{IncrementalMode, IncrementalSettings, ValidJobSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Result;
use crate::manifest::Manifest;
use crate::query::Query;
use crate::steps::Run;
use crate::tables::Table;

/// The rollup's layout: a build that changes what the tables hold changes it, and a rollup of
/// another layout is rebuilt.
const ROLLUP_FORMAT: u32 = 2;

/// How a rollup table is computed from the recomputed days and the cohort period's unit.
type TableSql = fn(&RollupDays, &str) -> String;

/// The rollup's tables, each with the view of this run's and of the previous run's rows, and
/// its SQL.
const TABLES: [(Table, &str, &str, TableSql); 4] = [
    (
        Table::UserDaily,
        views::USER_DAILY,
        views::PREVIOUS_DAILY,
        |d, _| rollup::daily_sql(d),
    ),
    (
        Table::UserHistory,
        views::USER_HISTORY,
        views::PREVIOUS_HISTORY,
        |d, _| rollup::history_sql(d),
    ),
    (
        Table::UserItemsDaily,
        views::USER_ITEMS_DAILY,
        views::PREVIOUS_ITEMS,
        |d, _| rollup::items_sql(d),
    ),
    (
        Table::UserPeriods,
        views::USER_PERIODS,
        views::PREVIOUS_PERIODS,
        rollup::periods_sql,
    ),
];

/// The recent days' sums, staged: this run's daily rows and history both read them.
const RECENT_DAILY_FILE: &str = "_rollup_recent_daily";

/// What the manifest records of a run's rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupReport {
    /// SHA-256 of what the rollup's rows depend on: the events' location and mapping, the
    /// quality rules, the windows it keeps, the id key. A previous rollup with another is
    /// rebuilt.
    pub fingerprint: String,
    /// Why the rollup was rebuilt from every event; None: updated from the previous run's.
    pub rebuilt: Option<String>,
    /// The first day recomputed from the events (None: every day).
    pub recomputed_from: Option<NaiveDate>,
    /// The first day kept per day in `user_daily` (earlier ones are in `user_history`).
    pub daily_from: NaiveDate,
    /// The first date partition of the events the run read (the day before the first
    /// recomputed one: a partition's date may be a local one); None: every partition.
    #[serde(default)]
    pub partitions_from: Option<NaiveDate>,
    /// The steps (or `privacy.publish_raw_ids`) that needed every event, so that the run read
    /// every partition although it updated a rollup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_read_by: Vec<String>,
}

/// Whether a run read only the recent date partitions of the events (its `rows.read` counts
/// those alone).
pub(crate) fn read_recent_only(report: Option<&RollupReport>) -> bool {
    report.is_some_and(|r| r.partitions_from.is_some())
}

/// What a run does with its rollup, decided before the read step: what it builds on, which
/// days it recomputes, and which event partitions the run reads.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    fingerprint: String,
    /// The run whose rollup this one updates (boxed: a run's futures hold the plan, and a
    /// test's stack holds them), or why the rollup is rebuilt.
    previous: std::result::Result<Box<Manifest>, String>,
    days: RollupDays,
    /// The first date partition of the events to read; None: every partition.
    pub partitions_from: Option<NaiveDate>,
    history_read_by: Vec<&'static str>,
}

/// The plan of a run with `settings`; `history_read_by`: what needs every clean event (its
/// enabled steps that read them all, `publish_raw_ids`): then every partition is read.
pub(crate) fn plan(
    run: &Run<'_>,
    settings: &IncrementalSettings,
    history_read_by: Vec<&'static str>,
) -> Plan {
    let key = run.id_key.as_ref().map(|k| k.fingerprint());
    let fingerprint = fingerprint(run.spec, settings.lookback_days, key.as_deref());
    let previous =
        previous_rollup(settings, run.previous.as_ref(), &fingerprint).map(|m| Box::new(m.clone()));
    let f = &run.spec.features;
    let days = RollupDays::new(
        run.run_date,
        previous.as_ref().ok().map(|m| m.run_date),
        settings.lookback_days,
        rollup::horizon_days(f),
        f.long_window_days,
    );
    let partitions_from = match (&previous, history_read_by.is_empty()) {
        (Ok(_), true) => days.recompute_from.map(|d| d - Days::new(1)),
        _ => None,
    };
    Plan {
        fingerprint,
        previous,
        days,
        partitions_from,
        history_read_by,
    }
}

/// The previous run's rollup when it can be built on, or why not.
fn previous_rollup<'m>(
    settings: &IncrementalSettings,
    previous: Option<&'m Manifest>,
    fingerprint: &str,
) -> std::result::Result<&'m Manifest, String> {
    if settings.mode == IncrementalMode::Full {
        return Err("mode = \"full\"".into());
    }
    let Some(previous) = previous else {
        return Err("no earlier committed run".into());
    };
    let date = previous.run_date;
    let Some(report) = &previous.rollup else {
        return Err(format!("the run of {date} kept no rollup"));
    };
    if report.fingerprint != fingerprint {
        return Err(format!(
            "the rollup of {date} was built under other settings (events, quality, windows, cohort period or id key)"
        ));
    }
    if let Some((t, ..)) = TABLES
        .iter()
        .find(|(t, ..)| !previous.commit.outputs.contains_key(t.name()))
    {
        return Err(format!("the run of {date} did not commit `{t}`"));
    }
    Ok(previous)
}

/// The fingerprint of what the rollup's rows depend on (see [`RollupReport::fingerprint`]).
/// The daily days count the lookback when it is the longer: a previous rollup whose history
/// holds days this run recomputes would count them twice.
fn fingerprint(spec: &ValidJobSpec, lookback: u32, key: Option<&str>) -> String {
    let parts = serde_json::json!({
        "format": ROLLUP_FORMAT,
        "events_url": spec.events.url.as_str(),
        "events": spec.source.events,
        "quality": spec.quality,
        "daily_days": rollup::horizon_days(&spec.features).max(lookback),
        "items_days": spec.features.long_window_days,
        "cohort_period": unit(spec.cohorts.period),
        "id_key": key,
    });
    hex::encode(Sha256::digest(parts.to_string().as_bytes()))
}

/// Writes this run's rollup tables as `plan` says and registers them for `user_features`
/// and `cohort_retention`; returns what the manifest records.
pub(crate) async fn update(run: &mut Run<'_>, plan: Plan) -> Result<RollupReport> {
    let days = plan.days;
    let q = Query::new(&run.ctx, "rollup");
    run.out
        .staged(
            q,
            RECENT_DAILY_FILE,
            &rollup::recent_daily_sql(&days),
            views::RECENT_DAILY,
        )
        .await?;
    q.register_view(views::RECENT_ITEMS, &rollup::recent_items_sql(&days))
        .await?;
    register_previous(run, plan.previous.as_deref().ok()).await?;
    let period = unit(run.spec.cohorts.period);
    for (table, view, _, sql) in TABLES {
        let q = Query::new(&run.ctx, table.name());
        run.out
            .sql(q, table, &sql(&days, period), Some(view))
            .await?;
    }
    let rebuilt = plan.previous.err();
    if let Some(why) = &rebuilt {
        tracing::info!(why, "rollup rebuilt from every event");
    }
    Ok(RollupReport {
        fingerprint: plan.fingerprint,
        rebuilt,
        recomputed_from: days.recompute_from,
        daily_from: days.daily_from,
        partitions_from: plan.partitions_from,
        history_read_by: plan.history_read_by.iter().map(|s| s.to_string()).collect(),
    })
}

/// Registers the `previous_*` views: the previous run's rollup tables (without the users of
/// the run's erase list), or empty ones.
async fn register_previous(run: &Run<'_>, previous: Option<&Manifest>) -> Result<()> {
    let q = Query::new(&run.ctx, "rollup");
    let erased = &run.erased_ids;
    for (table, _, view, _) in TABLES {
        let Some(committed) = previous.and_then(|m| m.commit.outputs.get(table.name())) else {
            q.register_view(view, &rollup::no_previous_sql(view))
                .await?;
            continue;
        };
        let file = format!("{view}_file");
        q.register_parquet(&file, &committed.url).await?;
        let sql = match erased.is_empty() {
            true => format!("SELECT * FROM {file}"),
            false => format!(
                "SELECT * FROM {file} WHERE user_id NOT IN ({})",
                in_list(erased)
            ),
        };
        q.register_view(view, &sql).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ValidJobSpec {
        let doc = "[job]\nname = 'r'\noutput = 'out'\n[events]\nurl = 'ev/'\n";
        lifecycle_spec::JobSpec::from_toml_str(doc, std::path::Path::new("/r.toml"))
            .unwrap()
            .validate()
            .unwrap()
    }

    #[test]
    fn a_lookback_longer_than_the_windows_changes_the_fingerprint() {
        let s = spec();
        // The default windows reach back 90 days (the long window, 2 x 30).
        assert_eq!(fingerprint(&s, 3, None), fingerprint(&s, 90, None));
        assert_ne!(fingerprint(&s, 3, None), fingerprint(&s, 120, None));
        assert_ne!(fingerprint(&s, 3, None), fingerprint(&s, 3, Some("00ff")));
    }
}
