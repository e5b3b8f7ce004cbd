//! Property: for any spec that validates, the feature, CLV and churn-label SQL builds without
//! panicking and plans on DataFusion over a table of the contract's shape.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use datafusion::datasource::MemTable;
use proptest::prelude::*;

use lifecycle_spec::{JobSpec, MAX_DAYS};

use crate::user_features::FeatureSource;

/// Mostly ordinary day counts, so that a good share of the specs validate; now and then the
/// longest allowed, one more, or the largest a spec can hold.
fn days() -> impl Strategy<Value = u64> {
    prop_oneof![
        24 => 1..=120u64,
        1 => Just(MAX_DAYS / 8),
        1 => Just(MAX_DAYS + 1),
        1 => Just(u32::MAX as u64),
    ]
}

/// A spec with random windows, horizons and periods; the rest defaults.
fn spec() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(days(), 1..4),
        days(),
        days(),
        (days(), days(), 3..6usize),
        (days(), days(), prop::collection::vec(days(), 1..3)),
    )
        .prop_map(|(windows, activity, long, churn, clv)| {
            let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
            format!(
                "[job]\nname = 'p'\noutput = 'out'\n[events]\nurl = 'ev/'\n\
                 [features]\nwindows_days = [{}]\nactivity_window_days = {activity}\n\
                 long_window_days = {long}\n\
                 [churn]\nenabled = true\nhorizon_days = {}\nstep_days = {}\nobservation_dates = {}\n\
                 [clv]\nenabled = true\nperiod_days = {}\nholdout_days = {}\nhorizons_days = [{}]\n",
                list(&windows),
                churn.0,
                churn.1,
                churn.2,
                clv.0,
                clv.1,
                list(&clv.2)
            )
        })
}

fn events_table() -> Arc<MemTable> {
    let schema = crate::test_support::events_schema();
    Arc::new(MemTable::try_new(schema, vec![vec![]]).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_specs_give_sql_that_plans(doc in spec(), year in 1971..2200i32) {
        let Ok(spec) = JobSpec::from_toml_str(&doc, Path::new("/p.toml")).and_then(|s| s.validate())
        else {
            return Ok(()); // refused with a named setting: the spec crate's property
        };
        let cutoff: DateTime<Utc> = format!("{year}-03-01T00:00:00Z").parse().unwrap();
        let c = &spec.churn;
        let lookback = c.horizon_days as i64 + (c.observation_dates as i64) * c.step() as i64;
        let t0 = cutoff - Duration::days(lookback);
        let types = &spec.purchase_types;
        let sqls = [
            crate::user_features::user_features_sql(&spec.features, types, cutoff, FeatureSource::Events),
            crate::user_features::user_features_sql(&spec.features, types, t0, FeatureSource::Events),
            crate::clv_summary::clv_summary_sql(types, cutoff, spec.clv.period_days, spec.clv.time_unit_days),
            crate::clv_summary::holdout_sql(types, t0, cutoff, spec.clv.period_days),
        ];
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let ctx = crate::new_session();
            ctx.register_table("events_clean", events_table()).unwrap();
            for sql in &sqls {
                ctx.sql(sql).await.unwrap();
            }
        });
    }
}

/// The longest windows a spec may name, from the earliest cutoff the property tries.
#[test]
fn the_longest_windows_plan() {
    let max = MAX_DAYS;
    let doc = format!(
        "[job]\nname = 'p'\noutput = 'out'\n[events]\nurl = 'ev/'\n\
         [features]\nwindows_days = [{max}]\nactivity_window_days = {max}\nlong_window_days = {max}\n"
    );
    let spec = JobSpec::from_toml_str(&doc, Path::new("/p.toml"))
        .unwrap()
        .validate()
        .unwrap();
    let cutoff: DateTime<Utc> = "1971-03-01T00:00:00Z".parse().unwrap();
    let sql = crate::user_features::user_features_sql(
        &spec.features,
        &spec.purchase_types,
        cutoff,
        FeatureSource::Events,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = crate::new_session();
        ctx.register_table("events_clean", events_table()).unwrap();
        ctx.sql(&sql).await.unwrap();
    });
    let too_long = doc.replace(
        &format!("windows_days = [{max}]"),
        &format!("windows_days = [{}]", max + 1),
    );
    let e = JobSpec::from_toml_str(&too_long, Path::new("/p.toml"))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("`features.windows_days`"), "{e}");
}
