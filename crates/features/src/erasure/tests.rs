use datafusion::arrow::array::AsArray;

use super::*;
use crate::new_session;

async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Option<String>> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = vec![];
    for b in &batches {
        out.extend(
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string)),
        );
    }
    out
}

#[tokio::test]
async fn listed_users_go_rows_without_a_user_stay_and_the_listed_view_keeps_all() {
    let ctx = new_session();
    ctx.sql("CREATE VIEW erasures_mapped AS SELECT * FROM (VALUES ('b'), ('d'), (NULL), ('b')) AS t(user_id)")
        .await
        .unwrap();
    ctx.sql("CREATE VIEW events_mapped AS SELECT * FROM (VALUES ('a'), ('b'), (NULL), ('c'), ('b')) AS t(user_id)")
        .await
        .unwrap();
    let ids = erased_ids(&ctx).await.unwrap();
    assert_eq!(ids, ["b", "d"]);
    drop_erased(&ctx, "events", &ids).await.unwrap();
    let mut kept = rows(&ctx, "SELECT user_id FROM events_mapped").await;
    kept.sort();
    assert_eq!(kept, [None, Some("a".into()), Some("c".into())]);
    assert_eq!(
        rows(&ctx, "SELECT user_id FROM events_listed").await.len(),
        5
    );
}

#[tokio::test]
async fn an_empty_list_erases_nobody() {
    let ctx = new_session();
    ctx.sql("CREATE VIEW events_mapped AS SELECT * FROM (VALUES ('a'), (NULL)) AS t(user_id)")
        .await
        .unwrap();
    drop_erased(&ctx, "events", &[]).await.unwrap();
    assert_eq!(
        rows(&ctx, "SELECT user_id FROM events_mapped").await.len(),
        2
    );
}
