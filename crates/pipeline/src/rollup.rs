//! Incremental `user_features` (`[incremental]`): this run's rollup (`user_daily`,
//! `user_history`, `user_items_daily`; SQL in `lifecycle_features::rollup`) from the previous
//! committed run's and the recent days' clean events, or rebuilt from every event when there
//! is no usable previous rollup or `mode = "full"`. Committed with the run like any table.

use chrono::NaiveDate;
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
const ROLLUP_FORMAT: u32 = 1;

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
            "the rollup of {date} was built under other settings (events, quality, windows or id key)"
        ));
    }
    let tables = [Table::UserDaily, Table::UserHistory, Table::UserItemsDaily];
    if let Some(t) = tables
        .iter()
        .find(|t| !previous.commit.outputs.contains_key(t.name()))
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
        "id_key": key,
    });
    hex::encode(Sha256::digest(parts.to_string().as_bytes()))
}

/// Writes this run's rollup tables and registers them for `user_features`; returns what the
/// manifest records.
pub(crate) async fn update(
    run: &mut Run<'_>,
    settings: &IncrementalSettings,
) -> Result<RollupReport> {
    let key = run.id_key.as_ref().map(|k| k.fingerprint());
    let fingerprint = fingerprint(run.spec, settings.lookback_days, key.as_deref());
    let previous = previous_rollup(settings, run.previous.as_ref(), &fingerprint);
    let f = &run.spec.features;
    let days = RollupDays::new(
        run.run_date,
        previous.as_ref().ok().map(|m| m.run_date),
        settings.lookback_days,
        rollup::horizon_days(f),
        f.long_window_days,
    );
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
    register_previous(run, previous.as_ref().ok().copied()).await?;
    for (table, sql, view) in [
        (
            Table::UserDaily,
            rollup::daily_sql(&days),
            views::USER_DAILY,
        ),
        (
            Table::UserHistory,
            rollup::history_sql(&days),
            views::USER_HISTORY,
        ),
        (
            Table::UserItemsDaily,
            rollup::items_sql(&days),
            views::USER_ITEMS_DAILY,
        ),
    ] {
        let q = Query::new(&run.ctx, table.name());
        run.out.sql(q, table, &sql, Some(view)).await?;
    }
    let rebuilt = previous.err();
    if let Some(why) = &rebuilt {
        tracing::info!(why, "rollup rebuilt from every event");
    }
    Ok(RollupReport {
        fingerprint,
        rebuilt,
        recomputed_from: days.recompute_from,
        daily_from: days.daily_from,
    })
}

/// Registers the `previous_*` views: the previous run's rollup tables (without the users of
/// the run's erase list), or empty ones.
async fn register_previous(run: &Run<'_>, previous: Option<&Manifest>) -> Result<()> {
    let q = Query::new(&run.ctx, "rollup");
    let erased = &run.erased_ids;
    for (table, view) in [
        (Table::UserDaily, views::PREVIOUS_DAILY),
        (Table::UserHistory, views::PREVIOUS_HISTORY),
        (Table::UserItemsDaily, views::PREVIOUS_ITEMS),
    ] {
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
