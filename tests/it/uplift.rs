//! `[uplift]` on a generated past campaign (`lifecycle generate --experiment`) whose effect on
//! purchases depends on a latent segment: every model ranks the users whose planted uplift is
//! high first (the top decile's true uplift well above the average), the manifest evaluates
//! each on held-out users, and `uplift_scores` holds every user under every model.

use std::collections::HashMap;

use arrow::array::AsArray;
use arrow::datatypes::Float64Type;

use crate::common::*;

fn truth(dir: &std::path::Path) -> HashMap<String, f64> {
    let t = Table::read_file(&dir.join("data/uplift_truth.parquet"));
    let b = &t.batch;
    let users = b.column_by_name("user_id").unwrap().as_string::<i32>();
    let uplift = b
        .column_by_name("uplift")
        .unwrap()
        .as_primitive::<Float64Type>();
    (0..b.num_rows())
        .map(|i| (users.value(i).to_string(), uplift.value(i)))
        .collect()
}

#[tokio::test]
async fn models_from_a_past_campaign_find_the_planted_uplift() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = lifecycle_out(&[
        "generate",
        "--out",
        dir.path().join("data").to_str().unwrap(),
        "--users",
        "12000",
        "--items",
        "100",
        "--days",
        "100",
        "--experiment",
    ]);
    assert_eq!(code, 0, "{err}");
    let spec = write_spec(
        dir.path(),
        "[events]\nurl = \"data/events/\"\npartition_key = \"dt\"\n[clv]\nenabled = true\n\
         [[audiences]]\nname = \"everyone\"\ndescription = \"All\"\nwhen = \"stage IS NOT NULL\"\n\
         channel = \"email\"\ncost = 0.5\nbudget = 200\n\
         [uplift]\nassignments = \"data/experiment.parquet\"\nwindow_days = 21\n\
         audience = \"everyone\"\n",
    );
    run(&spec, "2024-04-10", "2024-04-10T06:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("run_manifest/run_date=2024-04-10/manifest.json")).unwrap(),
    )
    .unwrap();
    let report = &manifest["models"]["uplift"];
    assert_eq!(report["models"].as_array().unwrap().len(), 4, "{report}");
    assert!(report["test_users"].as_u64().unwrap() > 1000, "{report}");
    let truth = truth(dir.path());
    let mean = truth.values().sum::<f64>() / truth.len() as f64;
    let t = Table::read(&out, "uplift_scores", "2024-04-10");
    let b = &t.batch;
    let (users, models) = (
        b.column(0).as_string::<i32>(),
        b.column(1).as_string::<i32>(),
    );
    let scores = b.column(2).as_primitive::<Float64Type>();
    let mut by_model: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for i in 0..b.num_rows() {
        if let Some(u) = truth.get(users.value(i)) {
            by_model
                .entry(models.value(i))
                .or_default()
                .push((scores.value(i), *u));
        }
    }
    assert_eq!(by_model.len(), 4);
    for (model, mut rows) in by_model {
        assert_eq!(
            rows.len(),
            truth.len(),
            "{model} scores every assigned user"
        );
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top = &rows[..rows.len() / 10];
        let top_mean = top.iter().map(|r| r.1).sum::<f64>() / top.len() as f64;
        assert!(
            top_mean > 1.5 * mean,
            "{model}: top decile {top_mean}, mean {mean}"
        );
    }
    check_plan(&out, &report["plan"]);
}

/// `contact_plan`: every member ranked by uplift × CLV − cost under the model the manifest
/// names, sent to exactly when that is positive and the budget allows, best first.
fn check_plan(out: &std::path::Path, summary: &serde_json::Value) {
    let model = summary["model"].as_str().unwrap();
    let t = Table::read(out, "uplift_scores", "2024-04-10");
    let b = &t.batch;
    let (users, models) = (
        b.column(0).as_string::<i32>(),
        b.column(1).as_string::<i32>(),
    );
    let scores = b.column(2).as_primitive::<Float64Type>();
    let uplift: HashMap<&str, f64> = (0..b.num_rows())
        .filter(|&i| models.value(i) == model)
        .map(|i| (users.value(i), scores.value(i)))
        .collect();
    let plan = Table::read(out, "contact_plan", "2024-04-10");
    let p = &plan.batch;
    let col = |n: &str| {
        p.column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (clv, value) = (col("clv"), col("expected_value"));
    let ids = p.column_by_name("user_id").unwrap().as_string::<i32>();
    let send = p.column_by_name("send").unwrap().as_boolean();
    assert_eq!(p.num_rows(), uplift.len(), "every scored member is planned");
    let (mut spent, mut total, mut previous) = (0.0, 0.0, f64::INFINITY);
    for i in 0..p.num_rows() {
        let want = uplift[ids.value(i)] * clv.value(i) - 0.5;
        assert!((value.value(i) - want).abs() < 1e-9, "row {i}");
        assert!(value.value(i) <= previous, "ranked best first");
        previous = value.value(i);
        let affordable = spent + 0.5 <= 200.0;
        assert_eq!(send.value(i), value.value(i) > 0.0 && affordable, "row {i}");
        if send.value(i) {
            (spent, total) = (spent + 0.5, total + value.value(i));
        }
    }
    assert!(spent > 0.0 && spent <= 200.0, "{spent}");
    assert!(
        (summary["expected_value"].as_f64().unwrap() - total).abs() < 1e-6,
        "{summary}"
    );
    assert!(
        total > summary["expected_value_all"].as_f64().unwrap(),
        "{summary}"
    );
}
