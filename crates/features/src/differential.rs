//! Differential property: the feature SQL against a plain Rust reading of its definitions (the
//! table in `user_features`' module doc), on random small logs, around cutoffs in 2024 and just
//! after 1970 (where times before the epoch are negative).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, AsArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::datasource::MemTable;
use lifecycle_spec::JobSpec;
use proptest::prelude::*;

use crate::user_features::FeatureSource;

const DAY: i64 = 86_400_000_000;
const TYPES: [&str; 5] = ["purchase", "view", "like", "signup", "other"];

/// One clean event: user, µs since the epoch, type, item, amount.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub user: u8,
    pub ts: i64,
    pub ty: &'static str,
    pub item: Option<u8>,
    pub amount: Option<f64>,
}

pub(crate) fn events(cutoff: i64) -> impl Strategy<Value = Vec<Ev>> {
    let one = (
        0..3u8,
        -200 * DAY..5 * DAY,
        prop::sample::select(TYPES.to_vec()),
        prop::option::of(0..4u8),
        prop::sample::select(vec![0.0, 1.5, 2.25, 100.0, 0.1]),
    )
        .prop_map(move |(user, off, ty, item, a)| Ev {
            user,
            ts: cutoff + off,
            ty,
            item,
            // Clean purchases always have an amount; other events may.
            amount: (ty == "purchase" || a > 1.0).then_some(a),
        });
    prop::collection::vec(one, 1..40)
}

/// The definitions, read plainly, for one user's events before `t`.
fn expected(evs: &[&Ev], t: i64) -> BTreeMap<&'static str, Option<f64>> {
    let (a, l) = (30i64, 90i64);
    let since = |d: i64| t - d * DAY;
    let count = |f: &dyn Fn(&Ev) -> bool| evs.iter().filter(|e| f(e)).count() as f64;
    let days = |ts: i64| (t - ts) as f64 / DAY as f64;
    let purchases: Vec<&&Ev> = evs.iter().filter(|e| e.ty == "purchase").collect();
    let revenue = |from: i64| -> f64 {
        // Amounts here have at most two decimals: summing in cents is exact.
        let cents: i64 = purchases
            .iter()
            .filter(|e| e.ts >= from)
            .map(|e| (e.amount.unwrap() * 100.0).round() as i64)
            .sum();
        cents as f64 / 100.0
    };
    let (first, last) = (
        evs.iter().map(|e| e.ts).min().unwrap(),
        evs.iter().map(|e| e.ts).max().unwrap(),
    );
    let total_rev = revenue(i64::MIN);
    let active: BTreeSet<i64> = evs
        .iter()
        .filter(|e| e.ts >= since(a))
        .map(|e| e.ts.div_euclid(DAY))
        .collect();
    let items: BTreeSet<u8> = evs
        .iter()
        .filter(|e| e.ts >= since(l))
        .filter_map(|e| e.item)
        .collect();
    let last_purchase = purchases.iter().map(|e| e.ts).max();
    let recent = count(&|e| e.ts >= since(a));
    let previous = count(&|e| e.ts >= since(2 * a) && e.ts < since(a));
    let mut m = BTreeMap::new();
    m.insert("tenure_days", Some(days(first)));
    m.insert("recency_days", Some(days(last)));
    m.insert("events_total", Some(evs.len() as f64));
    for (name, w) in [("events_7d", 7), ("events_30d", 30), ("events_90d", 90)] {
        m.insert(name, Some(count(&|e| e.ts >= since(w))));
    }
    for (name, ty) in [
        ("purchase_30d", "purchase"),
        ("view_30d", "view"),
        ("like_30d", "like"),
        ("signup_30d", "signup"),
    ] {
        m.insert(name, Some(count(&|e| e.ts >= since(a) && e.ty == ty)));
    }
    m.insert("active_days_30d", Some(active.len() as f64));
    m.insert("purchases_total", Some(purchases.len() as f64));
    m.insert("revenue_total", Some(total_rev));
    m.insert("revenue_90d", Some(revenue(since(l))));
    m.insert(
        "avg_order_value",
        (!purchases.is_empty()).then(|| total_rev / purchases.len() as f64),
    );
    m.insert("purchase_recency_days", last_purchase.map(days));
    m.insert(
        "activity_trend",
        Some((recent - previous) / (previous + 1.0)),
    );
    m.insert("distinct_items_90d", Some(items.len() as f64));
    m
}

pub(crate) fn table(evs: &[Ev]) -> Arc<MemTable> {
    let schema = crate::test_support::events_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                evs.iter().map(|e| format!("u{}", e.user)),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(evs.iter().map(|e| e.ts))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(evs.iter().map(|e| e.ty))),
            Arc::new(StringArray::from_iter(
                evs.iter().map(|e| e.item.map(|i| format!("i{i}"))),
            )),
            Arc::new(Float64Array::from_iter(evs.iter().map(|e| e.amount))),
        ],
    )
    .unwrap();
    Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
}

/// Column `name` of `b` at row `i` as a float (integers too), `None` when null.
fn value(b: &RecordBatch, name: &str, i: usize) -> Option<f64> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    if c.is_null(i) {
        return None;
    }
    Some(match c.data_type() {
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i) as f64,
        _ => c.as_primitive::<Float64Type>().value(i),
    })
}

fn cutoffs() -> impl Strategy<Value = i64> {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp_micros();
    prop::sample::select(vec![at("2024-03-01T00:00:00Z"), at("1970-01-20T00:00:00Z")])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_feature_sql_agrees_with_its_definitions((t, evs) in cutoffs().prop_flat_map(|t| (Just(t), events(t)))) {
        let doc = "[job]\nname = 'p'\noutput = 'out'\n[events]\nurl = 'ev/'\n";
        let spec = JobSpec::from_toml_str(doc, Path::new("/p.toml")).unwrap().validate().unwrap();
        let cutoff = DateTime::from_timestamp_micros(t).unwrap();
        let sql = crate::user_features::user_features_sql(&spec.features, &spec.purchase_types, cutoff, FeatureSource::Events);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let batches = rt.block_on(async {
            let ctx = crate::new_session();
            ctx.register_table("events_clean", table(&evs)).unwrap();
            ctx.sql(&sql).await.unwrap().collect().await.unwrap()
        });
        let mut seen = BTreeSet::new();
        for b in &batches {
            let ids = b.column_by_name("user_id").unwrap();
            let ids = datafusion::arrow::compute::cast(ids, &DataType::Utf8).unwrap();
            let ids = ids.as_string::<i32>();
            for i in 0..b.num_rows() {
                let user: u8 = ids.value(i)[1..].parse().unwrap();
                seen.insert(user);
                let mine: Vec<&Ev> = evs.iter().filter(|e| e.user == user && e.ts < t).collect();
                for (name, want) in expected(&mine, t) {
                    let got = value(b, name, i);
                    let same = match (got, want) {
                        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        (g, w) => g == w,
                    };
                    prop_assert!(same, "u{user} {name}: SQL {got:?}, definition {want:?}");
                }
            }
        }
        let users: BTreeSet<u8> = evs.iter().filter(|e| e.ts < t).map(|e| e.user).collect();
        prop_assert_eq!(seen, users, "one row per user with an event before the cutoff");
    }
}

/// Active days on both sides of the epoch: 1969-12-31 and 1970-01-01 are two UTC dates.
#[test]
fn days_before_the_epoch_are_dates_of_their_own() {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap().timestamp_micros();
    let ev = |ts| Ev {
        user: 0,
        ts,
        ty: "view",
        item: None,
        amount: None,
    };
    let evs = vec![
        ev(at("1969-12-31T12:00:00Z")),
        ev(at("1970-01-01T12:00:00Z")),
    ];
    let doc = "[job]\nname = 'p'\noutput = 'out'\n[events]\nurl = 'ev/'\n";
    let spec = JobSpec::from_toml_str(doc, Path::new("/p.toml"))
        .unwrap()
        .validate()
        .unwrap();
    let t = at("1970-01-10T00:00:00Z");
    let sql = crate::user_features::user_features_sql(
        &spec.features,
        &spec.purchase_types,
        DateTime::from_timestamp_micros(t).unwrap(),
        FeatureSource::Events,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let batches = rt.block_on(async {
        let ctx = crate::new_session();
        ctx.register_table("events_clean", table(&evs)).unwrap();
        ctx.sql(&sql).await.unwrap().collect().await.unwrap()
    });
    assert_eq!(value(&batches[0], "active_days_30d", 0), Some(2.0));
}
