//! The published schemas are a contract with CRM importers: pinned in a golden file, and the
//! same whatever the nullability and types of the input. Regenerate the golden file after a
//! deliberate change with `LIFECYCLE_BLESS=1 cargo test --test it schemas`.

use std::fs::File;
use std::path::Path;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

const TABLES: [&str; 4] = [
    "quarantine",
    "user_features",
    "user_segments",
    "stage_transitions",
];
/// The models' tables: their schemas do not depend on the input's types (they are built in
/// memory), so they are pinned from the generated-data run only.
const MODEL_TABLES: [&str; 7] = [
    "customer_value",
    "user_clusters",
    "cluster_profiles",
    "churn_scores",
    "model_metrics",
    "recommendations",
    "recommendation_metrics",
];
const GOLDEN: &str = "tests/it/golden/output_schemas.txt";

fn render(out: &Path, run_date: &str, tables: &[&str]) -> String {
    let mut text = String::new();
    for table in tables {
        let file =
            File::open(out.join(format!("{table}/run_date={run_date}/part-0.parquet"))).unwrap();
        let schema = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .schema()
            .clone();
        text.push_str(&format!("{table}\n"));
        for f in schema.fields() {
            let null = if f.is_nullable() { "" } else { " not null" };
            text.push_str(&format!("  {} {}{null}\n", f.name(), f.data_type()));
        }
    }
    text
}

#[tokio::test]
async fn output_schemas_match_the_golden_file_for_any_input() {
    // Generated Parquet, whose columns are declared non-null...
    let dir = tempfile::tempdir().unwrap();
    let params = lifecycle_synth::GeneratorParams {
        users: 600,
        days: 150,
        ..Default::default()
    };
    lifecycle_synth::generate(&params, dir.path()).unwrap();
    let demo = std::fs::read_to_string(repo_dir().join("jobs/demo.toml")).unwrap();
    std::fs::write(dir.path().join("demo.toml"), demo.replace("data/", "")).unwrap();
    let end = params.end().to_string();
    run(&dir.path().join("demo.toml"), &end, "2030-01-01T00:00:00Z")
        .await
        .unwrap();
    let from_parquet = render(&dir.path().join("out"), &end, &TABLES);
    let models = render(&dir.path().join("out"), &end, &MODEL_TABLES);

    // ...and a CSV dump, where everything is nullable and times are text.
    let csv = tempfile::tempdir().unwrap();
    std::fs::write(
        csv.path().join("events.csv"),
        "user_id,event_time,event_type,item_id,amount\nu1,2024-02-01 10:00:00,purchase,i1,3.5\n",
    )
    .unwrap();
    let spec = write_spec(csv.path(), "[events]\nurl = \"events.csv\"\n");
    run(&spec, "2024-03-01", "2024-03-01T00:00:00Z")
        .await
        .unwrap();
    let from_csv = render(&csv.path().join("out"), "2024-03-01", &TABLES);
    assert_eq!(
        from_parquet, from_csv,
        "the input's nullability leaked into an output schema"
    );

    let golden = repo_dir().join(GOLDEN);
    let got = format!("{from_csv}{models}");
    if std::env::var_os("LIFECYCLE_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        got, want,
        "schemas differ from {GOLDEN} (LIFECYCLE_BLESS=1 regenerates it)"
    );
}
