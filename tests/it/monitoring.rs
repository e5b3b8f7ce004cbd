//! `monitoring` against the previous run: an upstream change that multiplies `events_30d`
//! stops a run with `action = "fail"` (nothing published, the column named) and is flagged with
//! `"warn"`; and `stage_forecast` from the transitions.

use crate::common::*;

const USERS: usize = 40;

/// Each user's views in February: 1 to 5 of them.
fn february(dir: &std::path::Path) {
    let users: Vec<String> = (0..USERS).map(|i| format!("u{i:02}")).collect();
    let times: Vec<String> = (1..=5)
        .map(|d| format!("2024-02-{:02}T10:00:00Z", d * 4))
        .collect();
    let events: Vec<Ev> = users
        .iter()
        .enumerate()
        .flat_map(|(i, u)| {
            times
                .iter()
                .take(i % 5 + 1)
                .map(move |t| (u.as_str(), t.as_str(), "view", None, None))
        })
        .collect();
    write_events(&dir.join("events/dt=2024-02/part-0.parquet"), &events);
}

/// The upstream change: every user logs twenty views in the first week of March.
fn march_spike(dir: &std::path::Path) {
    let users: Vec<String> = (0..USERS).map(|i| format!("u{i:02}")).collect();
    let times: Vec<String> = (0..20)
        .map(|h| format!("2024-03-0{}T{:02}:00:00Z", h % 7 + 1, h))
        .collect();
    let events: Vec<Ev> = users
        .iter()
        .flat_map(|u| {
            times
                .iter()
                .map(move |t| (u.as_str(), t.as_str(), "view", None, None))
        })
        .collect();
    write_events(&dir.join("events/dt=2024-03/part-0.parquet"), &events);
}

fn spec(dir: &std::path::Path, action: &str) -> std::path::PathBuf {
    write_spec(
        dir,
        &format!("[events]\nurl = \"events/\"\n[monitoring]\naction = \"{action}\"\n"),
    )
}

/// An integer `column` of `table` for every user, by user id.
fn values(out: &std::path::Path, table: &str, date: &str, column: &str) -> Vec<f64> {
    let t = Table::read(out, table, date);
    let mut users: Vec<&String> = t.rows.keys().collect();
    users.sort();
    users
        .iter()
        .map(|u| t.i64(u, column).map_or(f64::NAN, |v| v as f64))
        .collect()
}

/// `current` of the `monitoring` row of `table.column`'s `metric` on `date`.
fn monitored(out: &std::path::Path, date: &str, table: &str, column: &str, metric: &str) -> f64 {
    let m = Table::read(out, "monitoring", date);
    let (tables, columns, metrics) = (m.strings("table"), m.strings("column"), m.strings("metric"));
    let row = (0..m.len())
        .find(|&i| {
            tables[i].as_deref() == Some(table)
                && columns[i].as_deref() == Some(column)
                && metrics[i].as_deref() == Some(metric)
        })
        .unwrap_or_else(|| panic!("a {metric} row for {table}.{column}"));
    let current = m.batch.column_by_name("current").unwrap();
    let current = current
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>();
    current.unwrap().value(row)
}

#[tokio::test]
async fn drift_fails_the_run_naming_the_column_or_is_flagged_with_warn() {
    let dir = tempfile::tempdir().unwrap();
    february(dir.path());
    let out = dir.path().join("out");
    run(
        &spec(dir.path(), "fail"),
        "2024-03-01",
        "2024-03-09T00:00:00Z",
    )
    .await
    .unwrap();
    let before = snapshot(&out);

    march_spike(dir.path());
    let err = run(
        &spec(dir.path(), "fail"),
        "2024-03-08",
        "2024-03-09T00:00:00Z",
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("user_features.events_30d: psi"),
        "{message}"
    );
    assert!(
        message.contains("events.rows_read: row_change"),
        "{message}"
    );
    let published = |snap: &[(String, Vec<u8>)]| -> Vec<String> {
        snap.iter()
            .map(|(p, _)| p.clone())
            .filter(|p| !p.starts_with("_runs") && !p.starts_with("_leases"))
            .collect()
    };
    assert_eq!(
        published(&snapshot(&out)),
        published(&before),
        "nothing published"
    );

    let ok = run(
        &spec(dir.path(), "warn"),
        "2024-03-08",
        "2024-03-09T00:00:00Z",
    )
    .await
    .unwrap();
    let report = ok.manifest.monitoring.expect("a monitoring report");
    assert_eq!(report.compared_with, Some(date("2024-03-01")));
    let flagged: Vec<String> = report
        .flagged
        .iter()
        .map(|f| format!("{}.{}", f.table, f.column))
        .collect();
    assert!(
        flagged.contains(&"user_features.events_30d".to_string()),
        "{flagged:?}"
    );
    assert!(
        !flagged.contains(&"user_features.purchases_total".to_string()),
        "{flagged:?}"
    );

    // The table's PSI is the statistic over the two published user_features tables.
    let previous = values(&out, "user_features", "2024-03-01", "events_30d");
    let current = values(&out, "user_features", "2024-03-08", "events_30d");
    let want = lifecycle_models::drift::Baseline::of(&previous)
        .psi(&current)
        .unwrap();
    let psi = monitored(&out, "2024-03-08", "user_features", "events_30d", "psi");
    assert!((psi - want).abs() < 1e-12 && psi > 0.25, "{psi} vs {want}");
}

#[tokio::test]
async fn the_stage_forecast_follows_the_observed_transitions() {
    let dir = tempfile::tempdir().unwrap();
    february(dir.path());
    let spec = spec(dir.path(), "warn");
    let out = dir.path().join("out");
    let first = run(&spec, "2024-03-01", "2024-04-09T00:00:00Z")
        .await
        .unwrap();
    let forecast = &first.manifest.commit.outputs["stage_forecast"];
    assert_eq!(forecast.rows, 0, "a first run has no moves");
    run(&spec, "2024-04-08", "2024-04-09T00:00:00Z")
        .await
        .unwrap();

    // Nobody came back between the runs: the forecast keeps the 40 users in every period, and
    // today's mix is today's stages.
    let f = Table::read(&out, "stage_forecast", "2024-04-08");
    let (stages, ahead) = (f.strings("stage"), f.column_i64("periods_ahead"));
    let days = f.column_i64("period_days");
    assert!(days.iter().all(|d| *d == 38), "{days:?}");
    let users = f.batch.column_by_name("users").unwrap();
    let users = users
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    let total = |p: i64| -> f64 {
        (0..f.len())
            .filter(|&i| ahead[i] == p)
            .map(|i| users.value(i))
            .sum()
    };
    for p in [0, 1, 3] {
        assert!(
            (total(p) - USERS as f64).abs() < 1e-9,
            "period {p}: {}",
            total(p)
        );
    }
    let t = Table::read(&out, "stage_transitions", "2024-04-08");
    let (from, to, moved) = (
        t.strings("from_stage"),
        t.strings("to_stage"),
        t.column_i64("users"),
    );
    let now = Table::read(&out, "user_segments", "2024-04-08");
    for (i, stage) in stages.iter().enumerate().filter(|(i, _)| ahead[*i] == 0) {
        let count = now.strings("stage").iter().filter(|s| s == &stage).count();
        assert_eq!(users.value(i), count as f64, "{stage:?}");
    }
    // One period ahead, by hand from the transition counts: for each stage `s` today, its users
    // spread as last period's users of `s` did.
    let mut want: std::collections::BTreeMap<String, f64> = Default::default();
    let today: std::collections::BTreeMap<String, f64> = (0..f.len())
        .filter(|&i| ahead[i] == 0)
        .map(|i| (stages[i].clone().unwrap(), users.value(i)))
        .collect();
    for (s, n) in &today {
        let out_of_s: i64 = (0..t.len())
            .filter(|&i| from[i].as_ref() == Some(s))
            .map(|i| moved[i])
            .sum();
        if out_of_s == 0 {
            *want.entry(s.clone()).or_default() += n;
            continue;
        }
        for i in (0..t.len()).filter(|&i| from[i].as_ref() == Some(s)) {
            *want.entry(to[i].clone().unwrap()).or_default() +=
                n * moved[i] as f64 / out_of_s as f64;
        }
    }
    for i in (0..f.len()).filter(|&i| ahead[i] == 1) {
        let s = stages[i].clone().unwrap();
        let w = want.get(&s).copied().unwrap_or(0.0);
        assert!(
            (users.value(i) - w).abs() < 1e-9,
            "{s}: {} vs {w}",
            users.value(i)
        );
    }
}
