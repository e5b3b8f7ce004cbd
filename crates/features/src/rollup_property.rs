//! Property: `user_features` and `cohort_retention` from a rollup updated run after run
//! (`crate::rollup`) equal the same tables from the events, value for value, on every run
//! date, when each event arrives at most `lookback` days after its day.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use lifecycle_spec::{JobSpec, ValidJobSpec};
use proptest::prelude::*;

use crate::cohorts::{cohort_retention_sql, unit};
use crate::differential::{Ev, events, table};
use crate::rollup::{self, RollupDays};
use crate::sql::views;
use crate::test_support::text_rows;
use crate::user_features::{FeatureSource, user_features_sql};

const DAY: i64 = 86_400_000_000;

/// The spec of the property: the default features with every behaviour column on, cohorts by
/// `cohorts` (e.g. weeks of purchases).
fn spec(cohorts: &str) -> ValidJobSpec {
    let doc = format!(
        "[job]\nname = 'p'\noutput = 'out'\n[events]\nurl = 'ev/'\n\
        [features.behaviour]\nper_type_windows = true\nper_active_day = true\nper_month = true\n\
        change = true\ndays_since = true\nratios = [['purchase', 'view']]\n[cohorts]\n{cohorts}\n"
    );
    JobSpec::from_toml_str(&doc, Path::new("/p.toml"))
        .unwrap()
        .validate()
        .unwrap()
}

fn date_of(ts: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(ts.div_euclid(DAY) * DAY)
        .unwrap()
        .date_naive()
}

/// Runs `sql` on `from` and registers its rows on `into` as `view`.
async fn collect_into(from: &SessionContext, into: &SessionContext, sql: &str, view: &str) {
    let df = from.sql(sql).await.unwrap();
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap();
    let mem = MemTable::try_new(schema, vec![batches]).unwrap();
    into.deregister_table(view).unwrap();
    into.register_table(view, Arc::new(mem)).unwrap();
}

/// This run's rollup, from `previous` (the previous run's session holding its rollup views),
/// into `ctx`: the pipeline's order of SQL, with in-memory tables; cohort periods of `unit`.
async fn update(
    ctx: &SessionContext,
    previous: Option<&SessionContext>,
    d: &RollupDays,
    unit: &str,
) {
    collect_into(ctx, ctx, &rollup::recent_daily_sql(d), views::RECENT_DAILY).await;
    collect_into(ctx, ctx, &rollup::recent_items_sql(d), views::RECENT_ITEMS).await;
    for (mine, theirs) in [
        (views::PREVIOUS_DAILY, views::USER_DAILY),
        (views::PREVIOUS_HISTORY, views::USER_HISTORY),
        (views::PREVIOUS_ITEMS, views::USER_ITEMS_DAILY),
        (views::PREVIOUS_PERIODS, views::USER_PERIODS),
    ] {
        match previous {
            Some(p) => collect_into(p, ctx, &format!("SELECT * FROM {theirs}"), mine).await,
            None => collect_into(ctx, ctx, &rollup::no_previous_sql(mine), mine).await,
        }
    }
    collect_into(ctx, ctx, &rollup::daily_sql(d), views::USER_DAILY).await;
    collect_into(ctx, ctx, &rollup::history_sql(d), views::USER_HISTORY).await;
    collect_into(ctx, ctx, &rollup::items_sql(d), views::USER_ITEMS_DAILY).await;
    collect_into(ctx, ctx, &rollup::periods_sql(d, unit), views::USER_PERIODS).await;
}

/// `cohort_retention` from `source`, with its activity staged as a run stages it.
async fn cohort_rows(
    ctx: &SessionContext,
    s: &ValidJobSpec,
    at: DateTime<chrono::Utc>,
    source: FeatureSource,
) -> Vec<String> {
    let sql = cohort_retention_sql(&s.cohorts, at, &s.purchase_types, source);
    collect_into(ctx, ctx, &sql.activity, views::COHORT_ACTIVITY).await;
    text_rows(ctx, &sql.table).await
}

/// Run dates ending at the cutoff (day 0), `gaps` apart, oldest first, as days from it.
fn run_days(gaps: &[i64]) -> Vec<i64> {
    let mut days = vec![0];
    for g in gaps.iter().rev() {
        days.insert(0, days[0] - g);
    }
    days
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn features_and_cohorts_from_the_rollup_equal_those_from_the_events(
        cohorts in prop::sample::select(vec!["", "period = 'week'\nactivity = 'purchase'"]),
        (t, evs, delays, gaps, lookback) in (0..4u32).prop_flat_map(|lookback| {
            let t = "2024-03-01T00:00:00Z".parse::<DateTime<chrono::Utc>>().unwrap().timestamp_micros();
            events(t).prop_flat_map(move |evs| {
                let n = evs.len();
                (Just(t), Just(evs), prop::collection::vec(0..=lookback as i64, n),
                 prop::collection::vec(1..6i64, 1..4), Just(lookback))
            })
        })
    ) {
        let s = spec(cohorts);
        let f = &s.features;
        let unit = unit(s.cohorts.period);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut previous: Option<(NaiveDate, SessionContext)> = None;
            for day in run_days(&gaps) {
                let cutoff = t + day * DAY;
                // Visible: arrived (its day plus its delay) before the run's date.
                let seen: Vec<Ev> = evs
                    .iter()
                    .zip(&delays)
                    .filter(|(e, d)| e.ts.div_euclid(DAY) + **d < cutoff / DAY)
                    .map(|(e, _)| e.clone())
                    .collect();
                let ctx = crate::new_session();
                ctx.register_table("events_clean", table(&seen)).unwrap();
                let d = RollupDays::new(
                    date_of(cutoff),
                    previous.as_ref().map(|p| p.0),
                    lookback,
                    rollup::horizon_days(f),
                    f.long_window_days,
                );
                update(&ctx, previous.as_ref().map(|(_, c)| c), &d, unit).await;
                let at = DateTime::from_timestamp_micros(cutoff).unwrap();
                let sql = |source| user_features_sql(f, &s.purchase_types, at, source);
                let from_events = text_rows(&ctx, &sql(FeatureSource::Events)).await;
                let from_rollup = text_rows(&ctx, &sql(FeatureSource::Rollup)).await;
                assert_eq!(from_rollup, from_events, "run of {}, {d:?}", date_of(cutoff));
                let from_events = cohort_rows(&ctx, &s, at, FeatureSource::Events).await;
                let from_rollup = cohort_rows(&ctx, &s, at, FeatureSource::Rollup).await;
                assert_eq!(from_rollup, from_events, "cohorts of {}, {d:?}", date_of(cutoff));
                previous = Some((date_of(cutoff), ctx));
            }
        });
    }
}

/// The rollup drops what windows no longer reach: days before the horizon are summed per
/// user and type, items before the long window are gone.
#[test]
fn old_days_are_summed_into_the_history() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let at = |s: &str| {
            s.parse::<DateTime<chrono::Utc>>()
                .unwrap()
                .timestamp_micros()
        };
        let ev = |ts: &str, item| Ev {
            user: 1,
            ts: at(ts),
            ty: "view",
            item,
            amount: None,
        };
        let evs = vec![
            ev("2023-06-01T10:00:00Z", Some(1)),
            ev("2023-06-02T11:00:00Z", Some(2)),
            ev("2024-02-28T12:00:00Z", Some(3)),
        ];
        let ctx = crate::new_session();
        ctx.register_table("events_clean", table(&evs)).unwrap();
        let cutoff = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let d = RollupDays::new(cutoff, None, 3, 90, 90);
        update(&ctx, None, &d, "month").await;
        let daily = text_rows(&ctx, "SELECT user_id, day, events FROM user_daily").await;
        assert_eq!(daily, vec!["u1,2024-02-28,1"]);
        let sql = "SELECT user_id, event_type, events, first_at, last_at FROM user_history";
        let history = text_rows(&ctx, sql).await;
        assert_eq!(
            history,
            vec!["u1,view,2,2023-06-01T10:00:00Z,2023-06-02T11:00:00Z"]
        );
        let items = text_rows(&ctx, "SELECT * FROM user_items_daily").await;
        assert_eq!(items, vec!["u1,i3,2024-02-28"]);
        let periods = text_rows(&ctx, "SELECT * FROM user_periods").await;
        assert_eq!(periods, vec!["u1,2023-06-01,view,2,null"]);
    });
}
