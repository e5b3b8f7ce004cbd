use chrono::TimeZone;

use super::*;
use crate::test_support::{events_session, text_rows, ts};

fn session(events: &[(&str, &str, &str)]) -> datafusion::prelude::SessionContext {
    let events: Vec<_> = events.iter().map(|e| (e.0, e.1, e.2, None)).collect();
    events_session(&events)
}

/// The table's rows: each step registered as the view a run stages, then the table over them.
async fn rows(ctx: &datafusion::prelude::SessionContext, q: &FunnelQueries) -> Vec<String> {
    for (k, sql) in q.steps.iter().enumerate() {
        let step = ctx
            .sql(sql)
            .await
            .unwrap()
            .cache()
            .await
            .unwrap()
            .into_view();
        ctx.register_table(step_view(0, k + 1), step).unwrap();
    }
    text_rows(ctx, &q.table).await
}

#[tokio::test]
async fn steps_count_in_order_within_the_window() {
    let ctx = session(&[
        // a: view, like 2 h later, purchase 10 h after the view: all three.
        ("a", "2024-03-01T00:00:00Z", "view"),
        ("a", "2024-03-01T02:00:00Z", "like"),
        ("a", "2024-03-01T10:00:00Z", "purchase"),
        // b: like before its view does not count; the like after it does; the purchase falls
        // one microsecond after the 1-day window closes.
        ("b", "2024-03-02T00:00:00Z", "like"),
        ("b", "2024-03-02T01:00:00Z", "view"),
        ("b", "2024-03-02T05:00:00Z", "like"),
        ("b", "2024-03-03T01:00:00.000001Z", "purchase"),
        // c: purchase exactly at the window's end counts (<=); like 4 h after the view.
        ("c", "2024-03-04T00:00:00Z", "view"),
        ("c", "2024-03-04T04:00:00Z", "like"),
        ("c", "2024-03-05T00:00:00Z", "purchase"),
        // d: a view only. e: a view at the cutoff: not seen.
        ("d", "2024-03-06T00:00:00Z", "view"),
        ("e", "2024-03-10T00:00:00Z", "view"),
    ]);
    let f = FunnelSpec {
        name: "buy".into(),
        steps: vec!["view".into(), "like".into(), "purchase".into()],
        window_days: 1,
    };
    let cutoff = Utc.timestamp_micros(ts("2024-03-10T00:00:00Z")).unwrap();
    assert_eq!(
        rows(&ctx, &funnel_sql(&f, 0, cutoff)).await,
        [
            "buy,1,view,4,null,1.0,null",
            "buy,2,like,3,0.75,0.75,4.0",
            "buy,3,purchase,2,0.6666666666666666,0.5,14.0",
        ]
    );
}
