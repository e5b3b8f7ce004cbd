//! The duplicate search against the plain grouping of every good row, on random logs drawn
//! from a small domain (so rows repeat often; nulls, bad rows and `-0.0` beside `0.0`): the
//! in-memory and the SQL search find the same candidates, and grouping only the candidates (or
//! any superset of them: a hash collision) gives the same clean events and duplicate records as
//! grouping everything.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

use crate::duplicates::{self, Found};
use crate::quality::Distinct;
use crate::sql::views;

/// user, time, type, item, amount, rule.
type Row = (Option<u8>, i64, u8, Option<u8>, Option<f64>, bool);

fn rows() -> impl Strategy<Value = Vec<Row>> {
    let one = (
        prop::option::weighted(0.95, 0..3u8),
        0..3i64,
        0..2u8,
        prop::option::of(0..2u8),
        prop::option::of(prop::sample::select(vec![0.0, -0.0, 1.5])),
        prop::bool::weighted(0.1),
    );
    prop::collection::vec(one, 0..60)
}

fn checked(rows: &[Row]) -> Arc<MemTable> {
    let utc = DataType::Timestamp(
        datafusion::arrow::datatypes::TimeUnit::Microsecond,
        Some("UTC".into()),
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("event_time", utc, true),
        Field::new("raw_event_time", DataType::Utf8, true),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("rule", DataType::Utf8, true),
    ]));
    let text =
        |f: &dyn Fn(&Row) -> Option<String>| Arc::new(StringArray::from_iter(rows.iter().map(f)));
    let times =
        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1)).with_timezone("UTC");
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            text(&|r| r.0.map(|u| format!("u{u}"))),
            Arc::new(times),
            text(&|_| None),
            text(&|r| Some(format!("t{}", r.2))),
            text(&|r| r.3.map(|i| format!("i{i}"))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.4))),
            text(&|r| r.5.then(|| "missing_user_id".to_string())),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// The clean events and the duplicate records, as sorted text rows.
async fn outcome(ctx: &SessionContext, distinct: &Distinct) -> (Vec<String>, Vec<String>) {
    ctx.deregister_table(views::EVENTS_GROUPED).unwrap();
    if let Some(sql) = distinct.grouped_sql() {
        let grouped = ctx.sql(&sql).await.unwrap().into_view();
        ctx.register_table(views::EVENTS_GROUPED, grouped).unwrap();
    }
    crate::quality::register_clean(ctx, distinct, false)
        .await
        .unwrap();
    crate::quality::register_quarantine(ctx, true, distinct.groups())
        .await
        .unwrap();
    let text = async |sql: &str| {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let table = datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap();
        let mut lines: Vec<String> = table.to_string().lines().map(String::from).collect();
        lines.sort();
        lines
    };
    // A grouping writes its zero as 0.0 whatever the sign of the rows' zero; a row read
    // directly keeps the log's -0.0. Numerically the same: compared without the sign.
    let amount = "CAST(CASE WHEN amount = 0 THEN 0.0 ELSE amount END AS VARCHAR)";
    let clean = text(&format!(
        "SELECT user_id, event_time, event_type, item_id, {amount} FROM events_clean"
    ))
    .await;
    let dups = text(&format!(
        "SELECT user_id, event_time, item_id, {amount}, copies FROM quarantine \
         WHERE rule = 'duplicate'"
    ))
    .await;
    (clean, dups)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn grouping_the_candidates_is_grouping_everything(rows in rows(), extra in prop::collection::vec(any::<i64>(), 0..3)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let ctx = crate::new_session();
            ctx.register_table(views::EVENTS_CHECKED, checked(&rows)).unwrap();
            let in_memory = duplicates::search_in_memory(&ctx).await.unwrap().unwrap();
            let Found::Candidates { hashes, bad_rows } = in_memory else { panic!("a small log") };
            let bad = rows.iter().filter(|r| r.5).count() as u64;
            assert_eq!(bad_rows, Some(bad));
            let Found::Candidates { hashes: by_sql, .. } = duplicates::search_with_sql(&ctx).await.unwrap() else {
                panic!("a small log")
            };
            assert_eq!(by_sql, hashes, "the two searches agree");
            let everything = outcome(&ctx, &Distinct::All).await;
            let candidates = match hashes.is_empty() {
                true => Distinct::AsTheyAre,
                false => Distinct::Candidates(hashes.clone()),
            };
            assert_eq!(outcome(&ctx, &candidates).await, everything);
            // Collisions: hashes that no two rows share only make more rows candidates.
            let mut more = hashes;
            more.extend(extra.iter().map(|h| h.abs()));
            more.sort_unstable();
            more.dedup();
            if !more.is_empty() {
                assert_eq!(outcome(&ctx, &Distinct::Candidates(more)).await, everything);
            }
        });
    }
}

#[tokio::test]
async fn a_log_without_repeats_has_no_candidates() {
    let rows: Vec<Row> = (0..3u8)
        .map(|u| (Some(u), 1, 0, None, Some(1.0), false))
        .collect();
    let ctx = crate::new_session();
    ctx.register_table(views::EVENTS_CHECKED, checked(&rows))
        .unwrap();
    let found = duplicates::search_in_memory(&ctx).await.unwrap().unwrap();
    assert_eq!(
        found,
        Found::Candidates {
            hashes: vec![],
            bad_rows: Some(0)
        }
    );
    let mut twice = rows.clone();
    twice.push(rows[1]);
    twice.push(rows[1]);
    ctx.deregister_table(views::EVENTS_CHECKED).unwrap();
    ctx.register_table(views::EVENTS_CHECKED, checked(&twice))
        .unwrap();
    let Found::Candidates { hashes, .. } =
        duplicates::search_in_memory(&ctx).await.unwrap().unwrap()
    else {
        panic!("one repeat")
    };
    assert_eq!(hashes.len(), 1);
}

#[tokio::test]
async fn a_pool_too_small_for_the_hashes_leaves_it_to_sql() {
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(1024, 1.0)
        .build_arc()
        .unwrap();
    let config = crate::session_config(datafusion::prelude::SessionConfig::new());
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    crate::register_functions(&ctx);
    let rows: Vec<Row> = (0..200)
        .map(|t| (Some(1), t, 0, None, None, false))
        .collect();
    ctx.register_table(views::EVENTS_CHECKED, checked(&rows))
        .unwrap();
    assert_eq!(duplicates::search_in_memory(&ctx).await.unwrap(), None);
}
