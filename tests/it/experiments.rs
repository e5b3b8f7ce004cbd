//! `[[experiments]]` over a generated log on three weekly runs: assignments are kept from the
//! run that made them (arm, bucket, date), new audience members join on later dates, users who
//! left the audience keep their arm, every arm follows GrowthBook's hash, and
//! `experiment_results` measures each arm as a second computation over the raw events does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, Float64Type, TimestampMicrosecondType};
use lifecycle_audiences::holdout::bucket;

use crate::common::*;

const DATES: [&str; 3] = ["2024-02-10", "2024-02-17", "2024-02-24"];
const DAY_US: i64 = 86_400_000_000;

fn spec(dir: &Path) -> std::path::PathBuf {
    write_spec(
        dir,
        "[events]\nurl = \"data/events/\"\npartition_key = \"dt\"\n\
         [[audiences]]\nname = \"recent\"\ndescription = \"Seen lately\"\n\
         when = \"recency_days <= 2\"\nchannel = \"email\"\n\
         [[experiments]]\nname = \"nudge\"\naudience = \"recent\"\n\
         arms = [{ name = \"control\", weight = 0.5 }, { name = \"push\", weight = 0.5 }]\n\
         control = \"control\"\nseed = \"nudge-2024\"\nstart = \"2024-02-10\"\n\
         window_days = 7\npre_days = 7\nmetrics = [\"view\"]\n\
         [uplift]\nexperiment = \"nudge\"\ntreatment = \"push\"\n\
         methods = [\"two_model\"]\nlearners = [\"logistic\"]\n",
    )
}

/// `(user) → (arm, bucket, assigned_on as days)` of one run's `assignments`.
fn assignments(out: &Path, date: &str) -> BTreeMap<String, (String, f64, i32)> {
    let t = Table::read(out, "assignments", date);
    let b = &t.batch;
    let text = |c: &str| b.column_by_name(c).unwrap().as_string::<i32>().clone();
    let (exp, users, arms) = (text("experiment"), text("user_id"), text("arm"));
    let buckets = b
        .column_by_name("bucket")
        .unwrap()
        .as_primitive::<Float64Type>();
    let on = b
        .column_by_name("assigned_on")
        .unwrap()
        .as_primitive::<Date32Type>();
    (0..b.num_rows())
        .inspect(|&i| assert_eq!(exp.value(i), "nudge"))
        .map(|i| {
            let v = (arms.value(i).to_string(), buckets.value(i), on.value(i));
            (users.value(i).to_string(), v)
        })
        .collect()
}

fn members(out: &Path, date: &str) -> BTreeSet<String> {
    let t = Table::read(out, "audience_members", date);
    t.strings("user_id").into_iter().flatten().collect()
}

fn day_number(date: &str) -> i32 {
    (ts(&format!("{date}T00:00:00Z")) / DAY_US) as i32
}

#[tokio::test]
async fn assignments_are_kept_and_joined_by_new_members() {
    let dir = tempfile::tempdir().unwrap();
    generate_log(&dir.path().join("data"), 600, 40, 60, "2024-01-01");
    let spec = spec(dir.path());
    let out = dir.path().join("out");
    let mut before: BTreeMap<String, (String, f64, i32)> = BTreeMap::new();
    let mut ever_members = BTreeSet::new();
    for date in DATES {
        run(&spec, date, &format!("{date}T06:00:00Z"))
            .await
            .unwrap();
        let now = assignments(&out, date);
        let today = members(&out, date);
        for (user, was) in &before {
            assert_eq!(now.get(user), Some(was), "{user} changed on {date}");
        }
        for (user, (arm, b, on)) in &now {
            assert_eq!(*b, bucket("nudge-2024", user));
            assert_eq!(arm, if *b < 0.5 { "control" } else { "push" });
            if !before.contains_key(user) {
                assert_eq!(*on, day_number(date), "{user}");
                assert!(
                    today.contains(user),
                    "{user} assigned without being a member"
                );
            }
        }
        assert!(
            today.iter().all(|u| now.contains_key(u)),
            "a member left unassigned on {date}"
        );
        assert!(now.len() > before.len(), "nobody new on {date}");
        ever_members.extend(today);
        before = now;
    }
    let gone = before
        .keys()
        .filter(|u| !members(&out, DATES[2]).contains(*u))
        .count();
    assert!(
        gone > 20,
        "only {gone} assigned users left the audience: no churn to test"
    );
    assert_eq!(
        before.keys().cloned().collect::<BTreeSet<_>>(),
        ever_members
    );
    check_results(dir.path(), &before);
    check_uplift(&out);
}

/// `[uplift]` over the experiment: nothing to learn from on the first date (no window has
/// ended), then the audience's members scored by the one model asked for.
fn check_uplift(out: &Path) {
    let manifest = |date: &str| -> serde_json::Value {
        let path = out.join(format!("run_manifest/run_date={date}/manifest.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let first = &manifest(DATES[0])["models"]["uplift"];
    assert!(
        first["skipped"]
            .as_str()
            .unwrap()
            .contains("finished training users"),
        "{first}"
    );
    assert!(
        !out.join(format!("uplift_scores/run_date={}", DATES[0]))
            .exists()
    );
    let last = &manifest(DATES[2])["models"]["uplift"];
    assert_eq!(last["models"][0]["model"], "two_model_logistic", "{last}");
    let t = Table::read(out, "uplift_scores", DATES[2]);
    let scored: BTreeSet<String> = t.strings("user_id").into_iter().flatten().collect();
    assert_eq!(scored, members(out, DATES[2]));
}

/// Each user's events: `(day, type, amount)`.
fn events_by_user(dir: &Path) -> HashMap<String, Vec<(i32, String, f64)>> {
    let mut out: HashMap<String, Vec<(i32, String, f64)>> = HashMap::new();
    for day in std::fs::read_dir(dir.join("data/events")).unwrap() {
        for file in std::fs::read_dir(day.unwrap().path()).unwrap() {
            let t = Table::read_file(&file.unwrap().path());
            let b = &t.batch;
            let users = b.column_by_name("user_id").unwrap().as_string::<i32>();
            let types = b.column_by_name("event_type").unwrap().as_string::<i32>();
            let times = b.column_by_name("event_time").unwrap();
            let times = times.as_primitive::<TimestampMicrosecondType>();
            let amounts = b
                .column_by_name("amount")
                .unwrap()
                .as_primitive::<Float64Type>();
            for i in 0..b.num_rows() {
                let amount = if amounts.is_valid(i) {
                    amounts.value(i)
                } else {
                    0.0
                };
                let day = times.value(i).div_euclid(DAY_US) as i32;
                let row = (day, types.value(i).to_string(), amount);
                out.entry(users.value(i).to_string()).or_default().push(row);
            }
        }
    }
    out
}

/// The last run's `experiment_results` against the metrics recomputed from the raw events:
/// the users measured (windows ended) and every arm's mean, and the lift.
fn check_results(dir: &Path, assigned: &BTreeMap<String, (String, f64, i32)>) {
    let events = events_by_user(dir);
    let today = day_number(DATES[2]);
    let mut sums: BTreeMap<(String, &str), (u64, f64)> = BTreeMap::new();
    for (user, (arm, _, d0)) in assigned.iter().filter(|(_, v)| v.2 + 7 <= today) {
        let post: Vec<&(i32, String, f64)> = events
            .get(user)
            .map(|e| e.iter().filter(|x| x.0 >= *d0 && x.0 < d0 + 7).collect())
            .unwrap_or_default();
        let bought = post.iter().any(|e| e.1 == "purchase");
        let revenue: f64 = post.iter().filter(|e| e.1 == "purchase").map(|e| e.2).sum();
        let metrics = [
            ("conversion", bought as u8 as f64),
            ("revenue", revenue),
            ("retention", (!post.is_empty()) as u8 as f64),
            (
                "view_events",
                post.iter().filter(|e| e.1 == "view").count() as f64,
            ),
        ];
        for (m, v) in metrics {
            let s = sums.entry((arm.clone(), m)).or_default();
            (s.0, s.1) = (s.0 + 1, s.1 + v);
        }
    }
    let t = Table::read(&dir.join("out"), "experiment_results", DATES[2]);
    let b = &t.batch;
    let text = |c: &str| b.column_by_name(c).unwrap().as_string::<i32>().clone();
    let num = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (arms, metrics, mean, lift) = (text("arm"), text("metric"), num("mean"), num("lift"));
    let users = b
        .column_by_name("users")
        .unwrap()
        .as_primitive::<arrow::datatypes::UInt64Type>();
    assert_eq!(b.num_rows(), 8, "two arms × four metrics");
    for i in 0..b.num_rows() {
        let (arm, metric) = (arms.value(i).to_string(), metrics.value(i));
        let (n, total) = sums[&(arm.clone(), metric)];
        assert_eq!(users.value(i), n, "{arm} {metric}");
        assert!(
            (mean.value(i) - total / n as f64).abs() < 1e-9,
            "{arm} {metric}"
        );
        if arm == "push" {
            let (nc, tc) = sums[&("control".to_string(), metric)];
            let want = total / n as f64 - tc / nc as f64;
            assert!((lift.value(i) - want).abs() < 1e-9, "{metric} lift");
        } else {
            assert!(lift.is_null(i), "the control has no lift");
        }
    }
}
