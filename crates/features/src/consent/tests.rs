use std::sync::Arc;

use chrono::TimeZone;
use datafusion::arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::*;

type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<i64>);

/// Registers `name` with the columns `user_id`, `<a>`, `<b>`, `<time>` from `rows`.
fn register(ctx: &SessionContext, name: &str, cols: [&str; 4], rows: &[Row<'_>]) {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new(cols[0], DataType::Utf8, true),
        Field::new(cols[1], DataType::Utf8, true),
        Field::new(cols[2], DataType::Utf8, true),
        Field::new(cols[3], utc, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(
                TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.3)).with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    let table = MemTable::try_new(schema, vec![vec![batch]]).unwrap();
    ctx.register_table(name, Arc::new(table)).unwrap();
}

fn day(d: u32) -> i64 {
    Utc.with_ymd_and_hms(2024, 3, d, 0, 0, 0)
        .unwrap()
        .timestamp_micros()
}

/// The rows of `sql`, sorted.
async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let mut out = crate::test_support::text_rows(ctx, sql).await;
    out.sort();
    out
}

#[tokio::test]
async fn the_latest_status_before_the_cutoff_wins() {
    let ctx = SessionContext::new();
    let cols = ["user_id", "channel", "status", "updated_at"];
    register(
        &ctx,
        "consent_mapped",
        cols,
        &[
            ("a", Some("email"), Some("subscribed"), Some(day(1))),
            ("a", Some("email"), Some("unsubscribed"), Some(day(5))),
            // At or after the cutoff (day 10): not seen.
            ("a", Some("Email "), Some("Subscribed"), Some(day(10))),
            ("b", Some("email"), Some("unsubscribed"), Some(day(2))),
            ("b", Some("email"), Some("subscribed"), Some(day(12))),
            ("c", Some("sms"), Some("subscribed"), Some(day(3))),
            // Same instant: the denying status wins.
            ("d", Some("sms"), Some("subscribed"), Some(day(3))),
            ("d", Some("sms"), Some("bounced"), Some(day(3))),
            // Unreadable: an unknown status before the cutoff, a missing time, no channel.
            ("e", Some("email"), Some("maybe"), Some(day(4))),
            ("e", Some("sms"), Some("subscribed"), Some(day(4))),
            ("f", Some("push"), Some("subscribed"), None),
            ("g", None, Some("subscribed"), Some(day(4))),
            // An unknown status after the cutoff is not seen either.
            ("h", Some("email"), Some("maybe"), Some(day(11))),
        ],
    );
    let cutoff = Utc.timestamp_micros(day(10)).unwrap();
    let got = rows(&ctx, &consent_state_sql(cutoff)).await;
    assert_eq!(
        got,
        [
            "a,email,false",
            "b,email,false",
            "c,sms,true",
            "d,sms,false",
            "e,email,false",
            "e,sms,true",
            "f,push,false",
            "g,null,false",
        ]
    );
    let unreadable = rows(&ctx, &unreadable_consent_sql(cutoff)).await;
    assert_eq!(unreadable, ["3"]);
}

#[tokio::test]
async fn contacts_are_counted_in_each_channels_window() {
    let ctx = SessionContext::new();
    let cols = ["user_id", "channel", "campaign", "sent_at"];
    register(
        &ctx,
        "contacts_mapped",
        cols,
        &[
            ("a", Some("email"), Some("x"), Some(day(8))),
            ("a", Some("email"), Some("y"), Some(day(9))),
            ("a", Some("email"), Some("z"), Some(day(2))), // before the 7-day window
            ("a", Some("email"), Some("z"), Some(day(10))), // at the cutoff
            ("a", Some("SMS"), None, Some(day(1))),        // inside sms' 30 days
            ("b", Some("push"), None, Some(day(9))),       // no cap on push
            ("b", Some("email"), None, None),
        ],
    );
    let caps = BTreeMap::from([
        ("email".to_string(), CapSettings { max: 2, days: 7 }),
        ("sms".to_string(), CapSettings { max: 1, days: 30 }),
    ]);
    let cutoff = Utc.timestamp_micros(day(10)).unwrap();
    let got = rows(&ctx, &contacts_in_window_sql(cutoff, &caps)).await;
    assert_eq!(got, ["a,email,2", "a,sms,1"]);
    assert_eq!(rows(&ctx, unreadable_contacts_sql()).await, ["1"]);
}
