//! Recommendations in the daily job: every user gets a list, the rules hold, cold-start users
//! get the fallback and say so, and the evaluation table is written.

use arrow::array::AsArray;
use arrow::datatypes::Int32Type;

use crate::common::*;

const EVENTS: &[Ev] = &[
    // a and b share tastes (x, y); b also likes z. a bought x.
    (
        "a",
        "2024-04-01T00:00:00Z",
        "purchase",
        Some("x"),
        Some(10.0),
    ),
    ("a", "2024-04-02T00:00:00Z", "view", Some("y"), None),
    ("b", "2024-04-01T00:00:00Z", "view", Some("x"), None),
    ("b", "2024-04-03T00:00:00Z", "like", Some("y"), None),
    (
        "b",
        "2024-04-05T00:00:00Z",
        "purchase",
        Some("z"),
        Some(5.0),
    ),
    ("d", "2024-04-06T00:00:00Z", "view", Some("z"), None),
    ("d", "2024-04-07T00:00:00Z", "view", Some("w"), None),
    ("d", "2024-04-08T00:00:00Z", "view", Some("banned"), None),
    // In the test period [04-15, 05-01): a views z.
    ("a", "2024-04-20T00:00:00Z", "view", Some("z"), None),
];

const SPEC: &str = r#"
[events]
url = "events/"

[users]
url = "users.parquet"

[recommendations]
enabled = true
n = 3
test_days = 16
exclude_purchased = true
deny = ["banned"]
algorithms = { item_item = 1.0, als = 0.5, buy_again = 0.5, popularity = 0.1 }
als = { factors = 4, iterations = 5 }
write_neighbours = true
"#;

#[tokio::test]
async fn every_user_gets_a_list_that_follows_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    write_events(&dir.path().join("events/part-0.parquet"), EVENTS);
    let users = arrow::array::RecordBatch::try_from_iter([(
        "user_id",
        std::sync::Arc::new(arrow::array::StringArray::from(vec!["a", "b", "c", "d"])) as _,
    )])
    .unwrap();
    write_batch(&dir.path().join("users.parquet"), &users);
    let spec = write_spec(dir.path(), SPEC);
    let s = run(&spec, "2024-05-01", "2024-06-01T00:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let t = Table::read(&out, "recommendations", "2024-05-01");
    let users = t.strings("user_id");
    let items = t.strings("item_id");
    let reasons = t.strings("reason");
    let algos = t.strings("algorithm");
    let ranks: Vec<i32> = t
        .batch
        .column_by_name("rank")
        .unwrap()
        .as_primitive::<Int32Type>()
        .values()
        .to_vec();
    let list = |u: &str| -> Vec<(i32, String, String, String)> {
        (0..t.len())
            .filter(|k| users[*k].as_deref() == Some(u))
            .map(|k| {
                (
                    ranks[k],
                    items[k].clone().unwrap(),
                    algos[k].clone().unwrap(),
                    reasons[k].clone().unwrap(),
                )
            })
            .collect()
    };
    for u in ["a", "b", "c", "d"] {
        let l = list(u);
        assert!(!l.is_empty() && l.len() <= 3, "{u}: {l:?}");
        assert_eq!(
            l.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=l.len() as i32).collect::<Vec<_>>()
        );
        assert!(
            l.iter().all(|e| e.1 != "banned"),
            "{u}: denied item listed: {l:?}"
        );
    }
    // a bought x (durable goods): never offered again.
    assert!(list("a").iter().all(|e| e.1 != "x"), "{:?}", list("a"));
    // c has no history: the popularity fallback, and the reason says so.
    assert!(
        list("c")
            .iter()
            .all(|e| e.2 == "popularity" && e.3.starts_with("fallback: popular")),
        "{:?}",
        list("c")
    );
    // d viewed z and w: item-item suggests what z's other users touched (x, y).
    assert!(
        list("d").iter().any(|e| e.2 == "item_item"),
        "{:?}",
        list("d")
    );

    let m = Table::read(&out, "recommendation_metrics", "2024-05-01");
    let algos: std::collections::BTreeSet<String> =
        m.strings("algorithm").into_iter().flatten().collect();
    for a in ["item_item", "als", "buy_again", "popularity", "blend"] {
        assert!(algos.contains(a), "{algos:?}");
    }
    let report = s.manifest.models.recommendations.as_ref().unwrap();
    assert_eq!(report.test_users, 1, "only a, seen before 04-15, is tested");
    assert_eq!(
        report.evaluated_users, 1,
        "fewer than evaluation_users: all"
    );
    let n = Table::read(&out, "item_neighbours", "2024-05-01");
    assert!(n.len() > 0);
}

#[tokio::test]
async fn content_from_item_categories_and_a_category_limit() {
    // Items: m1, m2, m3 are mugs, t1, t2 tea. e bought mug m1: content-based scoring ranks the
    // other mugs first, but `per_category = 1` allows one mug; the popularity fallback may not
    // add another mug either, so one tea completes the list (two categories, two items).
    let dir = tempfile::tempdir().unwrap();
    let events: &[Ev] = &[
        (
            "e",
            "2024-04-01T00:00:00Z",
            "purchase",
            Some("m1"),
            Some(5.0),
        ),
        ("f", "2024-04-01T00:00:00Z", "view", Some("m2"), None),
        ("f", "2024-04-02T00:00:00Z", "view", Some("m3"), None),
        ("g", "2024-04-02T00:00:00Z", "view", Some("t1"), None),
        ("g", "2024-04-03T00:00:00Z", "view", Some("t2"), None),
    ];
    write_events(&dir.path().join("events/part-0.parquet"), events);
    let items = arrow::array::RecordBatch::try_from_iter([
        (
            "item_id",
            std::sync::Arc::new(arrow::array::StringArray::from(vec![
                "m1", "m2", "m3", "t1", "t2",
            ])) as _,
        ),
        (
            "category",
            std::sync::Arc::new(arrow::array::StringArray::from(vec![
                "mugs", "mugs", "mugs", "tea", "tea",
            ])) as _,
        ),
    ])
    .unwrap();
    write_batch(&dir.path().join("items.parquet"), &items);
    let spec = write_spec(
        dir.path(),
        r#"
[events]
url = "events/"

[items]
url = "items.parquet"

[recommendations]
enabled = true
n = 3
exclude_purchased = true
per_category = 1
algorithms = { content = 1.0 }
"#,
    );
    run(&spec, "2024-05-01", "2024-06-01T00:00:00Z")
        .await
        .unwrap();
    let t = Table::read(&dir.path().join("out"), "recommendations", "2024-05-01");
    let (users, items, reasons) = (
        t.strings("user_id"),
        t.strings("item_id"),
        t.strings("reason"),
    );
    let e: Vec<(String, String)> = (0..t.len())
        .filter(|k| users[*k].as_deref() == Some("e"))
        .map(|k| (items[k].clone().unwrap(), reasons[k].clone().unwrap()))
        .collect();
    assert_eq!(e.len(), 2, "one mug and one tea: {e:?}");
    assert_eq!(e[0].0, "m2", "the first other mug (ties by id): {e:?}");
    assert_eq!(e[0].1, "matches the categories you like");
    assert!(
        e[1].0.starts_with('t') && e[1].1.starts_with("fallback"),
        "{e:?}"
    );
}
