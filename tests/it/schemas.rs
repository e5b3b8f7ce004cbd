//! The published schemas are a contract with CRM importers: pinned in a golden file, and the
//! same whatever the nullability and types of the input. Regenerate the golden file after a
//! deliberate change with `LIFECYCLE_BLESS=1 cargo test --test it schemas`.

use std::fs::File;
use std::path::Path;

use lifecycle_pipeline::Table;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

/// The tables computed in SQL, whose schemas must not depend on the input's types.
const SQL_TABLES: [Table; 4] = [
    Table::Quarantine,
    Table::UserFeatures,
    Table::UserSegments,
    Table::StageTransitions,
];
const GOLDEN: &str = "tests/it/golden/output_schemas.txt";

/// The models' tables the run under `out` published (every registry table but the SQL ones):
/// their schemas do not depend on the input's types (they are built in memory), so they are
/// pinned from the generated-data run only.
fn model_tables(out: &Path, run_date: &str) -> Vec<Table> {
    Table::ALL
        .into_iter()
        .filter(|t| !SQL_TABLES.contains(t))
        .filter(|t| {
            out.join(format!("{}/run_date={run_date}", t.name()))
                .exists()
        })
        .collect()
}

fn render(out: &Path, run_date: &str, tables: &[Table]) -> String {
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
    let out = dir.path().join("out");
    let from_parquet = render(&out, &end, &SQL_TABLES);
    let models = render(&out, &end, &model_tables(&out, &end));

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
    let from_csv = render(&csv.path().join("out"), "2024-03-01", &SQL_TABLES);
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
