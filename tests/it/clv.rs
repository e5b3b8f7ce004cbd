//! The CLV summary computed by the pipeline's SQL from the raw CDNOW sample equals the published
//! summary row for row, and the models fitted on it give the published parameters.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use lifecycle_features::pseudonym::UserIds;
use lifecycle_spec::JobSpec;
use lifecycle_storage::Stores;

use crate::common::*;

/// The raw 1/10 sample: master id, sample id, date, CDs, dollars; whitespace-aligned.
const SAMPLE_SPEC: &str = r#"
[job]
name = "cdnow_sample"
output = "out"
[events]
url = "../shared/datasets/cdnow/CDNOW_sample.txt"
format = "text"
[events.columns]
user_id = { expr = "split_part(regexp_replace(trim(line), '\\s+', ' ', 'g'), ' ', 2)" }
event_time = { expr = "split_part(regexp_replace(trim(line), '\\s+', ' ', 'g'), ' ', 3)", format = "%Y%m%d" }
event_type = { value = "purchase" }
amount = { expr = "CAST(split_part(regexp_replace(trim(line), '\\s+', ' ', 'g'), ' ', 5) AS DOUBLE)" }
[quality]
deduplicate = false
"#;

/// The summary rows `(id, x, t_x, T, monetary)` computed by the SQL, for a cutoff of 1997-10-01.
async fn summary() -> Vec<(u32, f64, f64, f64, Option<f64>)> {
    let spec = JobSpec::from_toml_str(SAMPLE_SPEC, &repo_dir().join("job.toml"))
        .unwrap()
        .validate()
        .unwrap();
    let ctx = lifecycle_features::new_session();
    let loc = Stores::default().open(&spec.events.url).unwrap();
    lifecycle_features::input::register_input(&ctx, &spec.events, &loc, None, UserIds::Raw)
        .await
        .unwrap();
    lifecycle_features::quality::register_checked(
        &ctx,
        &spec.purchase_types,
        chrono::Utc::now(),
        24.0,
    )
    .await
    .unwrap();
    let distinct = lifecycle_features::quality::Distinct::AsTheyAre;
    lifecycle_features::quality::register_clean(&ctx, &distinct, false)
        .await
        .unwrap();
    let cutoff = chrono::DateTime::parse_from_rfc3339("1997-10-01T00:00:00Z")
        .unwrap()
        .into();
    let sql =
        lifecycle_features::clv_summary::clv_summary_sql(&spec.purchase_types, cutoff, 1, 7.0);
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        // The engine's text is a string view.
        let id = b.column(0).as_string_view();
        let col = |i: usize| b.column(i).as_primitive::<Float64Type>();
        let (x, tx, t, m) = (col(1), col(2), col(3), col(4));
        for i in 0..b.num_rows() {
            rows.push((
                id.value(i).parse().unwrap(),
                x.value(i),
                tx.value(i),
                t.value(i),
                m.is_valid(i).then(|| m.value(i)),
            ));
        }
    }
    rows
}

#[tokio::test]
async fn cdnow_summary_from_raw_transactions_matches_the_published_one() {
    let ours = summary().await;
    let published = std::fs::read_to_string(
        shared_datasets().join("cdnow/cdnow_customers_summary_with_transactions.csv"),
    )
    .unwrap();
    let published: Vec<(u32, f64, f64, f64, f64)> = published
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ours.len(),
        published.len(),
        "every customer bought in the calibration period"
    );
    // The published file has 2 decimals: equal at that precision. (Rounding ours instead would
    // fail on exact ties such as customer 401's (24.02 + 12.25) / 2 = 18.135.)
    let same = |ours: f64, published: f64| (ours - published).abs() <= 0.005 + 1e-9;
    for (o, p) in ours.iter().zip(&published) {
        assert_eq!((o.0, o.1), (p.0, p.1), "id and repeat purchase days");
        assert!(
            same(o.2, p.2) && same(o.3, p.3),
            "customer {}: {o:?} vs {p:?}",
            o.0
        );
        assert!(
            same(o.4.unwrap_or(0.0), p.4),
            "customer {} mean repeat value: {o:?} vs {p:?}",
            o.0
        );
    }
    // And the models fitted on it give the published parameters.
    let rfm: Vec<lifecycle_clv::Rfm> = ours
        .iter()
        .map(|o| lifecycle_clv::Rfm {
            frequency: o.1,
            recency: o.2,
            t: o.3,
        })
        .collect();
    let m = lifecycle_clv::BgNbdParams::default().fit(&rfm).unwrap();
    assert!(
        (m.r - 0.2426).abs() < 1e-3 && (m.alpha - 4.4135).abs() < 2e-3,
        "{m:?}"
    );
    let spend: Vec<(f64, f64)> = ours.iter().filter_map(|o| o.4.map(|z| (o.1, z))).collect();
    assert_eq!(spend.len(), 946);
    let gg = lifecycle_clv::GammaGammaParams::default()
        .fit(&spend)
        .unwrap();
    assert!(
        (gg.p - 6.25).abs() < 0.01 && (gg.q - 3.74).abs() < 0.01 && (gg.v - 15.44).abs() < 0.02,
        "{gg:?}"
    );
}

#[tokio::test]
async fn the_daily_job_writes_customer_value_and_a_holdout_evaluation_for_cdnow() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = repo_dir().join("jobs/cdnow.toml");
    let mut spec = JobSpec::from_file(&spec_path).unwrap();
    spec.job.output = dir.path().to_str().unwrap().to_string();
    let spec = spec.validate().unwrap();
    let s = lifecycle_pipeline::run_job(&spec, &lifecycle_pipeline::RunOptions::default())
        .await
        .unwrap();
    // The manifest's JSON, as a reader of manifest.json sees it.
    let clv = &serde_json::to_value(s.manifest.models.clv.as_ref().unwrap()).unwrap();
    assert_eq!(clv["customers"], 23_570);
    assert_eq!(s.manifest.commit.outputs["customer_value"].rows, 23_570);
    // Fitted on the whole cohort up to 1998-06-30; the parameters are of the CDNOW kind.
    let bg = &clv["bgnbd"];
    assert!(bg["converged"].as_bool().unwrap());
    let r = bg["r"].as_f64().unwrap();
    assert!(r > 0.1 && r < 1.0, "{bg}");
    // Holdout: calibration until 1997-09-30, the holdout the 39 weeks after.
    let h = &clv["holdout"];
    assert_eq!(h["calibration_end"], "1997-10-01T00:00:00Z");
    let hb = &h["bgnbd"];
    for (k, want, tol) in [
        ("r", 0.2426, 0.05),
        ("alpha", 4.4135, 1.0),
        ("a", 0.7929, 0.2),
        ("b", 2.4258, 0.6),
    ] {
        let got = hb[k].as_f64().unwrap();
        assert!(
            (got - want).abs() < tol,
            "holdout {k} = {got}: the master file is the sample's cohort x10"
        );
    }
    // Distinct purchase days from 1997-10-01 to 1998-06-30 in CDNOW_master.txt, counted
    // independently (a Python script over the raw file): 19,684.
    let actual = h["repeat_purchases"]["actual"].as_f64().unwrap();
    assert_eq!(actual, 19_684.0);
    // BG/NBD under-predicts this holdout by about 14% (16,874). The model's own accuracy is
    // checked on planted data in lifecycle-clv; here only a sanity bound.
    let predicted = h["repeat_purchases"]["predicted"].as_f64().unwrap();
    assert!(
        (predicted / actual - 1.0).abs() < 0.2,
        "{predicted} vs {actual}"
    );
    let by_freq = h["by_calibration_frequency"].as_array().unwrap();
    assert_eq!(by_freq.len(), 8, "0..6 and 7+");
    let customers: u64 = by_freq
        .iter()
        .map(|b| b["customers"].as_u64().unwrap())
        .sum();
    assert_eq!(customers, 23_570);

    let t = Table::read(dir.path(), "customer_value", "1998-07-01");
    for col in [
        "p_alive",
        "expected_purchases_90d",
        "expected_purchases_365d",
        "expected_value",
        "clv_90d",
        "clv_365d",
    ] {
        let values = t
            .batch
            .column_by_name(col)
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(values.null_count(), 0, "{col}");
        assert!(
            values
                .iter()
                .all(|v| v.unwrap().is_finite() && v.unwrap() >= 0.0),
            "{col}"
        );
    }
    // A year is worth more than 90 days; P(alive) is a probability.
    for id in ["00001", "00003", "00004"] {
        assert!(
            t.f64(id, "clv_365d").unwrap() > t.f64(id, "clv_90d").unwrap(),
            "{id}"
        );
        let p = t.f64(id, "p_alive").unwrap();
        assert!((0.0..=1.0).contains(&p), "{id}: {p}");
    }
}

#[tokio::test]
async fn auto_fits_every_model_and_uses_the_lowest_holdout_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = repo_dir().join("jobs/cdnow.toml");
    let mut spec = JobSpec::from_file(&spec_path).unwrap();
    spec.job.output = dir.path().to_str().unwrap().to_string();
    spec.clv.model = lifecycle_spec::ClvModel::Auto;
    let spec = spec.validate().unwrap();
    let s = lifecycle_pipeline::run_job(&spec, &lifecycle_pipeline::RunOptions::default())
        .await
        .unwrap();
    let clv = &serde_json::to_value(s.manifest.models.clv.as_ref().unwrap()).unwrap();
    let candidates = clv["candidates"].as_array().unwrap();
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bgnbd", "mbgnbd", "pareto_nbd", "bgbb"]);
    let error = |c: &serde_json::Value| c["holdout_mae_per_customer"].as_f64().unwrap();
    let best = candidates
        .iter()
        .min_by(|a, b| error(a).total_cmp(&error(b)))
        .unwrap();
    assert_eq!(clv["model"], best["model"]);
    for c in candidates {
        assert_eq!(c["chosen"], c["model"] == best["model"], "{c}");
        let ll = c["log_likelihood"].as_f64().unwrap();
        assert!((c["aic"].as_f64().unwrap() - (8.0 - 2.0 * ll)).abs() < 1e-6);
        for (name, se) in c["standard_errors"].as_object().unwrap() {
            let v = c["parameters"][name].as_f64().unwrap();
            let se = se.as_f64().unwrap();
            assert!(
                se > 0.0 && se.is_finite(),
                "{}: {name} = {v} ± {se}",
                c["model"]
            );
        }
    }
    assert_eq!(clv["holdout"]["model"], best["model"]);
    assert_eq!(s.manifest.commit.outputs["customer_value"].rows, 23_570);
    // Whichever won (the BG/BB over daily opportunities, on this data), its predictions are
    // probabilities and finite, non-negative amounts.
    let t = Table::read(dir.path(), "customer_value", "1998-07-01");
    for col in ["p_alive", "expected_purchases_365d", "clv_365d"] {
        let values = t.batch.column_by_name(col).unwrap();
        let values = values.as_primitive::<Float64Type>();
        assert!(
            values
                .iter()
                .all(|v| v.unwrap().is_finite() && v.unwrap() >= 0.0),
            "{col}"
        );
    }
    let p_alive = t.batch.column_by_name("p_alive").unwrap();
    assert!(
        p_alive
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .all(|p| *p <= 1.0)
    );
}

#[tokio::test]
async fn the_pareto_nbd_publishes_the_discounted_value_of_all_future_purchases() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = JobSpec::from_file(&repo_dir().join("jobs/cdnow.toml")).unwrap();
    spec.job.output = dir.path().to_str().unwrap().to_string();
    spec.clv.model = lifecycle_spec::ClvModel::ParetoNbd;
    spec.clv.holdout_days = 0;
    let rate = spec.clv.annual_discount_rate;
    assert!(rate > 0.0);
    let spec = spec.validate().unwrap();
    lifecycle_pipeline::run_job(&spec, &lifecycle_pipeline::RunOptions::default())
        .await
        .unwrap();
    let t = Table::read(dir.path(), "customer_value", "1998-07-01");
    let column = |name: &str| {
        let c = t.batch.column_by_name(name).unwrap();
        c.as_primitive::<Float64Type>().clone()
    };
    let (dert, residual) = (column("dert"), column("residual_value"));
    let (value, year) = (column("expected_value"), column("clv_365d"));
    assert_eq!(dert.null_count(), 0);
    for i in 0..t.len() {
        let (d, r) = (dert.value(i), residual.value(i));
        assert!(d > 0.0 && d.is_finite(), "row {i}: {d}");
        assert!((r - d * value.value(i)).abs() <= 1e-9 * r, "row {i}");
        assert!(
            r >= year.value(i),
            "row {i}: all future purchases are worth more than a year's"
        );
    }
}
