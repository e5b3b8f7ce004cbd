use std::sync::Arc;

use chrono::TimeZone;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::datasource::MemTable;

use super::*;
use crate::test_support::{Ev, events_session as session, text_rows, ts};

/// The table's rows: the activity registered as the view a run stages, then the table over it.
async fn rows(ctx: &datafusion::prelude::SessionContext, q: &CohortQueries) -> Vec<String> {
    let activity = ctx.sql(&q.activity).await.unwrap().into_view();
    ctx.deregister_table(views::COHORT_ACTIVITY).unwrap();
    ctx.register_table(views::COHORT_ACTIVITY, activity)
        .unwrap();
    // Empty split values print as empty cells here.
    text_rows(ctx, &q.table)
        .await
        .into_iter()
        .map(|r| r.replace("null", ""))
        .collect()
}

const LOG: [Ev<'static>; 9] = [
    ("a", "2024-01-15T10:00:00Z", "view", None),
    ("a", "2024-02-10T10:00:00Z", "view", None),
    ("a", "2024-04-05T10:00:00Z", "purchase", Some(10.0)),
    ("b", "2024-01-20T10:00:00Z", "view", None),
    ("b", "2024-02-01T10:00:00Z", "purchase", Some(5.0)),
    ("b", "2024-02-03T10:00:00Z", "purchase", Some(7.0)),
    ("c", "2024-02-03T10:00:00Z", "view", None),
    ("c", "2024-03-01T10:00:00Z", "view", None),
    // At or after the cutoff: not seen at all (d has no cohort).
    ("d", "2024-04-10T00:00:00Z", "view", None),
];

fn cutoff(s: &str) -> DateTime<Utc> {
    Utc.timestamp_micros(ts(s)).unwrap()
}

#[tokio::test]
async fn monthly_cohorts_by_hand() {
    let ctx = session(&LOG);
    let c = CohortSettings::default();
    let purchase = vec!["purchase".to_string()];
    let sql = cohort_retention_sql(
        &c,
        cutoff("2024-04-10T00:00:00Z"),
        &purchase,
        FeatureSource::Events,
    );
    assert_eq!(
        rows(&ctx, &sql).await,
        [
            "2024-01-01,0,2,2,1.0,0.0,false",
            "2024-01-01,1,2,2,1.0,6.0,false",
            "2024-01-01,2,2,0,0.0,0.0,false",
            "2024-01-01,3,2,1,0.5,5.0,true",
            "2024-02-01,0,1,1,1.0,0.0,false",
            "2024-02-01,1,1,1,1.0,0.0,false",
            "2024-02-01,2,1,0,0.0,0.0,true",
        ]
    );
    // Retained means a purchase: the same grid, other counts.
    let c = CohortSettings {
        activity: CohortActivity::Purchase,
        ..c
    };
    let sql = cohort_retention_sql(
        &c,
        cutoff("2024-04-10T00:00:00Z"),
        &purchase,
        FeatureSource::Events,
    );
    let got = rows(&ctx, &sql).await;
    let retained: Vec<&str> = got.iter().map(|r| r.split(',').nth(3).unwrap()).collect();
    assert_eq!(retained, ["0", "1", "0", "1", "0", "0", "0"]);
}

#[tokio::test]
async fn a_cutoff_on_a_period_start_ends_with_a_whole_period() {
    let ctx = session(&[
        ("e", "2024-01-02T10:00:00Z", "view", None), // Tuesday: the week of Monday Jan 1st
        ("e", "2024-01-09T10:00:00Z", "view", None),
        ("f", "2024-01-14T23:59:59Z", "view", None), // Sunday: still the week of Jan 8th
    ]);
    let c = CohortSettings {
        period: CohortPeriod::Week,
        ..CohortSettings::default()
    };
    // Monday January 15th: the last period is the whole week of the 8th.
    let sql = cohort_retention_sql(
        &c,
        cutoff("2024-01-15T00:00:00Z"),
        &[],
        FeatureSource::Events,
    );
    assert_eq!(
        rows(&ctx, &sql).await,
        [
            "2024-01-01,0,1,1,1.0,0.0,false",
            "2024-01-01,1,1,1,1.0,0.0,false",
            "2024-01-08,0,1,1,1.0,0.0,false",
        ]
    );
    assert_eq!(
        period_start(CohortPeriod::Week, cutoff("2024-01-14T23:00:00Z")),
        NaiveDate::from_ymd_opt(2024, 1, 8).unwrap()
    );
}

#[tokio::test]
async fn cohorts_split_by_an_attribute() {
    let ctx = session(&LOG[..8]);
    let users = RecordBatch::try_from_iter(vec![
        (
            "user_id",
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as _,
        ),
        (
            "country",
            Arc::new(StringArray::from(vec![Some("GB"), None, Some("FR")])) as _,
        ),
    ])
    .unwrap();
    let table = MemTable::try_new(users.schema(), vec![vec![users]]).unwrap();
    ctx.register_table("users_mapped", Arc::new(table)).unwrap();
    let c = CohortSettings {
        split_by: Some("country".into()),
        ..CohortSettings::default()
    };
    let sql = cohort_retention_sql(
        &c,
        cutoff("2024-03-01T00:00:00Z"),
        &["purchase".into()],
        FeatureSource::Events,
    );
    assert_eq!(
        rows(&ctx, &sql).await,
        [
            "2024-01-01,GB,0,1,1,1.0,0.0,false",
            "2024-01-01,GB,1,1,1,1.0,0.0,false",
            "2024-01-01,,0,1,1,1.0,0.0,false",
            "2024-01-01,,1,1,1,1.0,12.0,false",
            "2024-02-01,FR,0,1,1,1.0,0.0,false",
        ]
    );
}
