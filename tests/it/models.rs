//! Segmentation and churn in the daily job: point-in-time labels worked out by hand, no leakage
//! from events after the cutoff, stable cluster numbers, the quality gate, and `lifecycle
//! score` reproducing a run's scores from the saved model.

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Date32Type, Float64Type, Int32Type};

use crate::common::*;

/// Cutoff T = 2024-05-01, H = 30 days, three observation dates 30 days apart:
/// test T0 = 04-01, validation T0 = 03-02, training T0 = 02-01 (2024 is a leap year).
/// Populations (an event in the 30 days before T0): [03-02, 04-01), [02-01, 03-02),
/// [01-02, 02-01). Labels: no event in [T0, T0 + 30 days).
const LABEL_EVENTS: &[Ev] = &[
    // a: active all along -> never churned.
    ("a", "2024-01-10T00:00:00Z", "view", None, None),
    ("a", "2024-02-10T00:00:00Z", "view", None, None),
    ("a", "2024-03-10T00:00:00Z", "view", None, None),
    ("a", "2024-04-10T00:00:00Z", "view", None, None),
    // b: January only -> churned at 02-01; not in later populations.
    ("b", "2024-01-05T00:00:00Z", "view", None, None),
    ("b", "2024-01-20T00:00:00Z", "view", None, None),
    // c: back on 02-20 -> stays at 02-01; silent after -> churned at 03-02.
    ("c", "2024-01-15T00:00:00Z", "view", None, None),
    ("c", "2024-02-20T00:00:00Z", "view", None, None),
    // d: an event one hour before the 03-02 observation: in its population, and in the 02-01
    // label window (so not churned then); churned at 03-02.
    ("d", "2024-01-20T00:00:00Z", "view", None, None),
    ("d", "2024-03-01T23:00:00Z", "view", None, None),
    // e: active in March, back only after the cutoff: churned at 04-01 (the later event must
    // not count).
    ("e", "2024-03-15T00:00:00Z", "view", None, None),
    (
        "e",
        "2024-05-03T00:00:00Z",
        "purchase",
        Some("i1"),
        Some(5.0),
    ),
    // f: an event exactly at the 04-01 observation counts for the label window (inclusive).
    ("f", "2024-03-20T00:00:00Z", "view", None, None),
    ("f", "2024-04-01T00:00:00Z", "view", None, None),
    // g: an event exactly at the start of the 02-01 population window (01-02 00:00, recency
    // exactly 30 days) is in it.
    ("g", "2024-01-02T00:00:00Z", "view", None, None),
    ("g", "2024-02-15T00:00:00Z", "view", None, None),
    // h: one second before that window: not in the 02-01 population.
    ("h", "2024-01-01T23:59:59Z", "view", None, None),
    ("h", "2024-02-10T00:00:00Z", "view", None, None),
];

const LABEL_SPEC: &str = r#"
[events]
url = "events/"

[churn]
enabled = true
observation_dates = 3
min_validation_auc = 0.0
export_training = true
"#;

/// `(user, observation date, split, churned)` rows of `churn_training`.
fn training_rows(out: &Path, run_date: &str) -> BTreeSet<(String, String, String, bool)> {
    let t = Table::read(out, "churn_training", run_date);
    let b = &t.batch;
    let users = b.column_by_name("user_id").unwrap().as_string::<i32>();
    let dates = b
        .column_by_name("observation_date")
        .unwrap()
        .as_primitive::<Date32Type>();
    let splits = b.column_by_name("split").unwrap().as_string::<i32>();
    let churned = b.column_by_name("churned").unwrap().as_boolean();
    (0..b.num_rows())
        .map(|i| {
            let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Duration::days(dates.value(i) as i64);
            (
                users.value(i).to_string(),
                d.to_string(),
                splits.value(i).to_string(),
                churned.value(i),
            )
        })
        .collect()
}

fn rows(list: &[(&str, &str, &str, bool)]) -> BTreeSet<(String, String, String, bool)> {
    list.iter()
        .map(|(u, d, s, c)| (u.to_string(), d.to_string(), s.to_string(), *c))
        .collect()
}

#[tokio::test]
async fn churn_labels_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    write_events(&dir.path().join("events/part-0.parquet"), LABEL_EVENTS);
    let spec = write_spec(dir.path(), LABEL_SPEC);
    let s = run(&spec, "2024-05-01", "2024-06-01T00:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let (tr, va, te) = ("2024-02-01", "2024-03-02", "2024-04-01");
    assert_eq!(
        training_rows(&out, "2024-05-01"),
        rows(&[
            ("a", tr, "train", false),
            ("b", tr, "train", true),
            ("c", tr, "train", false),
            ("d", tr, "train", false),
            ("g", tr, "train", false),
            ("a", va, "validation", false),
            ("c", va, "validation", true),
            ("d", va, "validation", true),
            ("g", va, "validation", true),
            ("h", va, "validation", true),
            ("a", te, "test", false),
            ("e", te, "test", true),
            ("f", te, "test", false),
        ])
    );
    // Scored: the users with an event in [04-01, 05-01).
    let scores = Table::read(&out, "churn_scores", "2024-05-01");
    assert_eq!(
        scores.strings("user_id"),
        [Some("a".into()), Some("f".into())]
    );
    let churn = s.manifest.models.churn.as_ref().unwrap();
    assert_eq!(churn.observation_dates[0].churned, 1);
    assert_eq!(churn.observation_dates[1].users, 5);
}

#[tokio::test]
async fn explicit_churn_events_by_hand() {
    // Subscriptions: churn is a `cancel` event. Population: no cancel before T0.
    let dir = tempfile::tempdir().unwrap();
    let mut events = LABEL_EVENTS.to_vec();
    events.extend([
        ("b", "2024-02-10T00:00:00Z", "cancel", None, None),
        ("c", "2024-03-10T00:00:00Z", "cancel", None, None),
        ("e", "2024-04-20T00:00:00Z", "cancel", None, None),
    ]);
    write_events(&dir.path().join("events/part-0.parquet"), &events);
    let spec = write_spec(
        dir.path(),
        &format!("{LABEL_SPEC}churn_event_types = [\"cancel\"]\n"),
    );
    run(&spec, "2024-05-01", "2024-06-01T00:00:00Z")
        .await
        .unwrap();
    let out = dir.path().join("out");
    let (tr, va, te) = ("2024-02-01", "2024-03-02", "2024-04-01");
    let mut want = vec![];
    // 02-01: everyone with an event before it; b cancels in [02-01, 03-02).
    for u in ["a", "b", "c", "d", "g", "h"] {
        want.push((u, tr, "train", u == "b"));
    }
    // 03-02: b has cancelled; c cancels in [03-02, 04-01).
    for u in ["a", "c", "d", "g", "h"] {
        want.push((u, va, "validation", u == "c"));
    }
    // 04-01: b and c have cancelled; e and f arrived in March; e cancels on 04-20.
    for u in ["a", "d", "e", "f", "g", "h"] {
        want.push((u, te, "test", u == "e"));
    }
    assert_eq!(training_rows(&out, "2024-05-01"), rows(&want));
    let scores = Table::read(&out, "churn_scores", "2024-05-01");
    assert_eq!(
        scores.strings("user_id"),
        ["a", "d", "f", "g", "h"].map(|u| Some(u.to_string()))
    );
}

const MODEL_SPEC: &str = r#"
[events]
url = "events/"
format = "parquet"

[segmentation]
enabled = true
k_range = [3, 5]

[churn]
enabled = true
observation_dates = 4
"#;

/// Generated data (600 users, 180 days from 2024-01-01) in `dir/events/dt=.../`.
fn generate(dir: &Path) {
    let params = lifecycle_synth::GeneratorParams {
        users: 600,
        days: 180,
        ..Default::default()
    };
    lifecycle_synth::generate(&params, dir).unwrap();
}

/// The model job on generated data, as of 2024-06-01.
async fn trained(dir: &Path) -> lifecycle_pipeline::RunSummary {
    trained_with(dir, "").await
}

/// The model job with `extra` lines appended to its `[churn]` section.
async fn trained_with(dir: &Path, extra: &str) -> lifecycle_pipeline::RunSummary {
    generate(dir);
    let spec = write_spec(dir, &format!("{MODEL_SPEC}{extra}"));
    run(&spec, "2024-06-01", "2024-07-01T00:00:00Z")
        .await
        .unwrap()
}

#[tokio::test]
async fn models_ignore_events_after_the_cutoff() {
    // The full log (six more weeks after the cutoff, read in full: no partition pruning) and
    // the same log cut at the cutoff give byte-identical model outputs.
    let full = tempfile::tempdir().unwrap();
    generate(full.path());
    let cut = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(full.path().join("events")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if name.as_str() < "dt=2024-05-18" {
            let to = cut.path().join("events").join(&name);
            std::fs::create_dir_all(&to).unwrap();
            for f in std::fs::read_dir(e.path()).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        }
    }
    for dir in [full.path(), cut.path()] {
        let spec = write_spec(dir, MODEL_SPEC);
        run(&spec, "2024-05-18", "2024-07-01T00:00:00Z")
            .await
            .unwrap();
    }
    // Byte for byte: revenue is summed exactly (as a decimal), so not even the rounding of a
    // float sum depends on which files the events came from.
    for table in [
        "user_features",
        "churn_scores",
        "model_metrics",
        "user_clusters",
        "cluster_profiles",
    ] {
        let file = |d: &Path| {
            std::fs::read(d.join(format!("out/{table}/run_date=2024-05-18/part-0.parquet")))
                .unwrap()
        };
        assert!(
            file(full.path()) == file(cut.path()),
            "{table} changed with events after the cutoff"
        );
    }
}

/// `user_id -> cluster` of a run.
fn clusters(out: &Path, run_date: &str) -> std::collections::HashMap<String, i32> {
    let t = Table::read(out, "user_clusters", run_date);
    let ids = t.strings("user_id");
    let c = t
        .batch
        .column_by_name("cluster")
        .unwrap()
        .as_primitive::<Int32Type>();
    ids.into_iter()
        .map(|u| u.unwrap())
        .zip(c.values().iter().copied())
        .collect()
}

#[tokio::test]
async fn cluster_numbers_stay_stable_across_runs() {
    // A week later, with another K-means seed: the fit finds nearly the same clusters but
    // numbers them differently (`relabelled` is not the identity); matching them to last week's
    // centroids gives most users their old number back. k = 3 is what the silhouette picks on
    // this log (0.416 against 0.376 for 4, whose fourth cluster splits users differently from
    // seed to seed, so no numbering could keep them).
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let spec = write_spec(dir.path(), &MODEL_SPEC.replace("k_range = [3, 5]", "k = 3"));
    run(&spec, "2024-06-01", "2024-07-01T00:00:00Z")
        .await
        .unwrap();
    let spec = write_spec(
        dir.path(),
        &MODEL_SPEC.replace("k_range = [3, 5]", "k = 3\nseed = 7"),
    );
    let s = run(&spec, "2024-06-08", "2024-07-01T00:00:00Z")
        .await
        .unwrap();
    let segmentation = s.manifest.models.segmentation.as_ref().unwrap();
    let matching = &serde_json::to_value(&segmentation.label_matching).unwrap();
    assert_eq!(
        matching["method"],
        "matched to the previous run's centroids"
    );
    assert_ne!(
        matching["relabelled"],
        serde_json::json!([0, 1, 2]),
        "{matching}"
    );
    let out = dir.path().join("out");
    let (before, after) = (clusters(&out, "2024-06-01"), clusters(&out, "2024-06-08"));
    let both: Vec<&String> = before.keys().filter(|u| after.contains_key(*u)).collect();
    let same = both.iter().filter(|u| before[**u] == after[**u]).count();
    let share = same as f64 / both.len() as f64;
    assert!(
        share > 0.8,
        "only {same} of {} users kept their cluster",
        both.len()
    );
}

#[tokio::test]
async fn the_quality_gate_publishes_no_scores_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let spec = write_spec(
        dir.path(),
        &format!("{MODEL_SPEC}min_validation_auc = 0.9999\n"),
    );
    let s = run(&spec, "2024-06-01", "2024-07-01T00:00:00Z")
        .await
        .unwrap();
    let churn = s.manifest.models.churn.as_ref().unwrap();
    assert!(!churn.published);
    let reason = churn.reason.as_deref().unwrap();
    assert!(
        reason.contains("below churn.min_validation_auc = 0.9999"),
        "{reason}"
    );
    assert!(!s.manifest.commit.outputs.contains_key("churn_scores"));
    assert!(s.manifest.commit.outputs.contains_key("model_metrics"));
    assert!(!dir.path().join("out/churn_scores").exists());
}

#[tokio::test]
async fn score_reproduces_the_runs_scores_from_the_saved_model() {
    let dir = tempfile::tempdir().unwrap();
    let s = trained(dir.path()).await;
    let out = dir.path().join("out");
    let features = out.join("user_features/run_date=2024-06-01/part-0.parquet");
    let rescored = dir.path().join("rescored.parquet");
    let (code, stdout, stderr) = lifecycle_score(&out, &features, &rescored);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&s.manifest.models.churn.as_ref().unwrap().artifact),
        "{stdout}"
    );
    assert_same_scores(&out, &rescored);
    // A model file of another version is refused with the reason.
    let artifact = &s.manifest.models.churn.as_ref().unwrap().artifact;
    let path = url::Url::parse(artifact).unwrap().to_file_path().unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"format_version\": 1", "\"format_version\": 2");
    let old = dir.path().join("old.json");
    std::fs::write(&old, text).unwrap();
    let (code, _, stderr) = lifecycle_score(&old, &features, &rescored);
    assert_eq!(code, 1);
    assert!(stderr.contains("format_version Some(2)"), "{stderr}");
}

#[tokio::test]
async fn isotonic_and_auto_calibration_are_recorded_and_reapplied_by_score() {
    let dir = tempfile::tempdir().unwrap();
    let s = trained_with(dir.path(), "calibration = \"isotonic\"\n").await;
    let churn = s.manifest.models.churn.as_ref().unwrap();
    let choice = churn.training.calibration.as_ref().unwrap();
    assert_eq!(
        (choice.method.as_str(), choice.cross_validated.len()),
        ("isotonic", 0)
    );
    let out = dir.path().join("out");
    let features = out.join("user_features/run_date=2024-06-01/part-0.parquet");
    let rescored = dir.path().join("rescored.parquet");
    let (code, _, stderr) = lifecycle_score(&out, &features, &rescored);
    assert_eq!(code, 0, "{stderr}");
    assert_same_scores(&out, &rescored);
    let saved = std::fs::read_to_string(
        url::Url::parse(&churn.artifact)
            .unwrap()
            .to_file_path()
            .unwrap(),
    )
    .unwrap();
    assert!(
        saved.contains("\"probability\""),
        "the isotonic points are saved"
    );

    let dir = tempfile::tempdir().unwrap();
    let s = trained_with(dir.path(), "calibration = \"auto\"\n").await;
    let choice = s
        .manifest
        .models
        .churn
        .unwrap()
        .training
        .calibration
        .unwrap();
    let scores = &choice.cross_validated;
    assert_eq!(scores.len(), 2, "{choice:?}");
    let lower = if scores[1].brier < scores[0].brier {
        1
    } else {
        0
    };
    assert_eq!(
        choice.method, scores[lower].method,
        "the lower Brier score wins"
    );
}

/// `churn_scores` of the run as of 2024-06-01 and a `lifecycle score` output are equal.
fn assert_same_scores(out: &Path, rescored: &Path) {
    let ours = Table::read(out, "churn_scores", "2024-06-01");
    let file = std::fs::File::open(rescored).unwrap();
    let batches: Vec<_> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let again = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(
        again, ours.batch,
        "same users, probabilities, deciles and drivers"
    );
    let p = ours
        .batch
        .column_by_name("churn_probability")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(p.values().iter().all(|v| (0.0..=1.0).contains(v)) && p.null_count() == 0);
}

#[tokio::test]
async fn a_feature_that_does_not_exist_is_a_spec_error() {
    let dir = tempfile::tempdir().unwrap();
    write_events(&dir.path().join("events/part-0.parquet"), LABEL_EVENTS);
    let spec = write_spec(
        dir.path(),
        &format!("{LABEL_SPEC}features = [\"recency_days\", \"lifetime_value\"]\n"),
    );
    let e = run(&spec, "2024-05-01", "2024-06-01T00:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.contains("churn.features") && msg.contains("`lifetime_value`"),
        "{msg}"
    );
    assert!(
        !dir.path().join("out/user_features").exists(),
        "a failed run publishes nothing"
    );
}

#[tokio::test]
async fn churn_curves_agree_with_the_reported_test_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let s = trained(dir.path()).await;
    let test = selected_on_the_test_date(&s);
    let t = Table::read(&dir.path().join("out"), "churn_curves", "2024-06-01");
    let curve = t.strings("curve");
    let number = |name: &str| -> Vec<f64> {
        let c = t.batch.column_by_name(name).unwrap();
        c.as_primitive::<Float64Type>().values().to_vec()
    };
    let (x, y, rows) = (number("x"), number("y"), t.column_i64("rows"));
    let of = |name: &str| -> Vec<usize> {
        (0..t.len())
            .filter(|&i| curve[i].as_deref() == Some(name))
            .collect()
    };
    // Lift of the riskiest decile is the reported top-decile lift.
    let lift = of("lift");
    assert_eq!(lift.len(), 10);
    let top = test.metrics.top_decile_lift.unwrap();
    assert!((y[lift[0]] - top).abs() < 1e-12, "{} vs {top}", y[lift[0]]);
    // The ROC curve's area is the reported ROC-AUC (thinned to at most 201 points).
    let roc = of("roc");
    let area: f64 = roc
        .windows(2)
        .map(|w| (x[w[1]] - x[w[0]]) * (y[w[1]] + y[w[0]]) / 2.0)
        .sum();
    let auc = test.metrics.roc_auc.unwrap();
    assert!((area - auc).abs() < 5e-3, "{area} vs {auc}");
    assert_eq!((x[roc[0]], y[roc[0]]), (0.0, 0.0));
    // Calibration bins hold every test row once.
    let binned: i64 = of("calibration").iter().map(|&i| rows[i]).sum();
    assert_eq!(binned as usize, test.metrics.rows);
}

#[tokio::test]
async fn tree_drivers_name_a_feature_and_the_users_value() {
    let dir = tempfile::tempdir().unwrap();
    let s = trained_with(dir.path(), "models = [\"gbdt\"]\n").await;
    let churn = s.manifest.models.churn.as_ref().unwrap();
    assert_eq!(churn.selected, "gbdt");
    let out = dir.path().join("out");
    let scores = Table::read(&out, "churn_scores", "2024-06-01");
    let features = Table::read(&out, "user_features", "2024-06-01");
    let users = scores.strings("user_id");
    let row_of: std::collections::HashMap<_, _> = features
        .strings("user_id")
        .into_iter()
        .enumerate()
        .map(|(i, u)| (u.unwrap(), i))
        .collect();
    let as_f64 = |feature: &str| {
        let column = features.batch.column_by_name(feature).unwrap();
        arrow::compute::cast(column, &arrow::datatypes::DataType::Float64).unwrap()
    };
    let columns: std::collections::HashMap<&str, _> = churn
        .features
        .iter()
        .map(|f| (f.as_str(), as_f64(f)))
        .collect();
    let mut named = 0;
    for k in 1..=3 {
        for (user, driver) in users.iter().zip(scores.strings(&format!("driver_{k}"))) {
            let (user, Some(driver)) = (user.as_deref().unwrap(), driver) else {
                continue;
            };
            let (feature, value) = driver.split_once(" = ").expect("`feature = value`");
            let actual = columns[feature].as_primitive::<Float64Type>();
            let i = row_of[user];
            if actual.is_null(i) {
                assert_eq!(value, "missing", "{user}: {driver}");
            } else {
                let v: f64 = value.parse().unwrap();
                let want = actual.value(i);
                assert!(
                    (v - want).abs() <= 5e-4 + 1e-9,
                    "{user}: {driver} vs {want}"
                );
            }
            named += 1;
        }
    }
    assert!(named >= scores.len(), "most users have drivers: {named}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_job_labels_the_planted_cancels_and_predicts_them() {
    // jobs/subscription.toml over a generated subscription log, as a user would run it.
    let dir = tempfile::tempdir().unwrap();
    let params = lifecycle_synth::GeneratorParams {
        users: 2000,
        days: 240,
        mode: lifecycle_synth::Mode::Subscription,
        ..Default::default()
    };
    lifecycle_synth::generate(&params, &dir.path().join("data")).unwrap();
    let job = std::fs::read_to_string(repo_dir().join("jobs/subscription.toml")).unwrap();
    let job = job.replacen("[churn]\n", "[churn]\nexport_training = true\n", 1);
    let spec = dir.path().join("subscription.toml");
    std::fs::write(&spec, job).unwrap();
    let cutoff = params.end().to_string();
    let s = run(&spec, &cutoff, "2024-09-01T00:00:00Z").await.unwrap();

    // Every label is the ground truth: a cancel in the 30 days from the observation date, and
    // nobody who cancelled before it is in the population.
    let truth = Table::read_file(&dir.path().join("data/ground_truth.parquet"));
    let frames = Table::read(&dir.path().join("out"), "churn_training", &cutoff);
    let users = frames.strings("user_id");
    let dates = frames.batch.column_by_name("observation_date").unwrap();
    let churned = frames.batch.column_by_name("churned").unwrap().as_boolean();
    let day_us = 86_400_000_000i64;
    let mut positives = 0;
    for (i, user) in users.iter().enumerate() {
        let t0 = i64::from(dates.as_primitive::<Date32Type>().value(i)) * day_us;
        let cancel = truth.ts(user.as_deref().unwrap(), "churn_time");
        assert!(
            cancel.is_none_or(|c| c >= t0),
            "{user:?} cancelled before {t0}"
        );
        let planted = cancel.is_some_and(|c| c < t0 + 30 * day_us);
        assert_eq!(churned.value(i), planted, "{user:?} at {t0}");
        positives += usize::from(planted);
    }
    assert!(positives > 100, "{positives} cancels in the frames");

    // The planted signal is found on the test date.
    let auc = selected_on_the_test_date(&s).metrics.roc_auc.unwrap();
    assert!(auc > 0.7, "test ROC-AUC {auc}");
}

/// The evaluation of a run's selected churn model on its test date.
fn selected_on_the_test_date(
    s: &lifecycle_pipeline::RunSummary,
) -> &lifecycle_models::churn::ModelEvaluation {
    let churn = s.manifest.models.churn.as_ref().unwrap();
    churn
        .evaluations
        .iter()
        .find(|e| e.model == churn.selected && e.split.name() == "test")
        .unwrap()
}
