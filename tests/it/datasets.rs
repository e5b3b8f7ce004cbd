//! The real data sets in ../shared/datasets through their documented specs in jobs/.

use std::path::Path;

use lifecycle_pipeline::RunOptions;
use lifecycle_spec::JobSpec;

use crate::common::*;

async fn run_shipped_spec(name: &str, out: &Path) -> lifecycle_pipeline::RunSummary {
    assert!(
        shared_datasets().exists(),
        "../shared/datasets must sit beside the checkout"
    );
    let spec_path = repo_dir().join("jobs").join(name);
    let mut spec = JobSpec::from_file(&spec_path).unwrap();
    spec.job.output = out.to_str().unwrap().to_string();
    let spec = spec.validate().unwrap();
    lifecycle_pipeline::run_job(&spec, &RunOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn online_retail_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_shipped_spec("online_retail.toml", dir.path()).await;
    let m = &s.manifest;
    assert_eq!(m.rows.read, 541_909);
    assert_eq!(
        m.rows.filtered,
        541_909 - 397_924,
        "no CustomerID, or a cancellation"
    );
    assert_eq!(
        m.quality["duplicate"], 5_234,
        "lines that repeat an earlier line exactly"
    );
    assert_eq!(m.rows.bad, 5_234);
    assert_eq!(
        m.commit.outputs["user_features"].rows, 4_339,
        "customers after the documented cleaning"
    );
    assert_eq!(m.commit.outputs["user_segments"].rows, 4_339);
    let seg = Table::read(dir.path(), "user_segments", "2011-12-10");
    assert!(
        seg.strings("rfm_segment").iter().all(|s| s.is_some()),
        "every customer purchased"
    );
    // Customer 12347 bought often and recently (last invoice 2011-12-07): a champion.
    assert_eq!(
        seg.str("12347", "rfm_segment").as_deref(),
        Some("champions")
    );
    let f = Table::read(dir.path(), "user_features", "2011-12-10");
    // 2011-12-07 15:52 London time is 15:52 UTC in winter.
    assert_eq!(
        f.ts("12347", "last_event_at"),
        Some(ts("2011-12-07T15:52:00Z"))
    );
    cohorts_equal_the_duckdb_reference(dir.path());
}

/// The first four monthly cohorts' first four periods equal DuckDB's on the same cleaning
/// (`scripts/reference/online_retail_cohorts.py` made the fixture).
fn cohorts_equal_the_duckdb_reference(out: &Path) {
    use arrow::array::AsArray;
    use arrow::datatypes::{Date32Type, Float64Type, Int32Type, Int64Type};
    let t = Table::read(out, "cohort_retention", "2011-12-10").batch;
    let col = |n: &str| t.column_by_name(n).unwrap().clone();
    let (cohort, period, users) = (col("cohort"), col("period"), col("users"));
    let (retained, rate, revenue) = (col("retained"), col("rate"), col("revenue_per_user"));
    let fixture =
        std::fs::read_to_string(repo_dir().join("tests/it/golden/online_retail_cohorts.csv"))
            .unwrap();
    let mut checked = 0;
    for line in fixture.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let row = (0..t.num_rows())
            .find(|&i| {
                let day = cohort
                    .as_primitive::<Date32Type>()
                    .value_as_date(i)
                    .unwrap();
                day.to_string() == f[0]
                    && period.as_primitive::<Int32Type>().value(i).to_string() == f[1]
            })
            .unwrap_or_else(|| panic!("no row for {line}"));
        let what = format!("cohort {} period {}", f[0], f[1]);
        assert_eq!(
            users.as_primitive::<Int64Type>().value(row).to_string(),
            f[2],
            "{what} users"
        );
        assert_eq!(
            retained.as_primitive::<Int64Type>().value(row).to_string(),
            f[3],
            "{what} retained"
        );
        let close =
            |got: f64, want: &str, tol: f64| (got - want.parse::<f64>().unwrap()).abs() <= tol;
        assert!(
            close(rate.as_primitive::<Float64Type>().value(row), f[4], 1e-9),
            "{what} rate"
        );
        assert!(
            close(revenue.as_primitive::<Float64Type>().value(row), f[5], 1e-6),
            "{what} revenue"
        );
        checked += 1;
    }
    assert_eq!(checked, 16);
}

#[tokio::test]
async fn cdnow_loads_from_whitespace_text() {
    let dir = tempfile::tempdir().unwrap();
    let s = run_shipped_spec("cdnow.toml", dir.path()).await;
    assert_eq!(s.manifest.rows.read, 69_659);
    assert_eq!(
        s.manifest.rows.good, 69_659,
        "identical rows are separate orders here"
    );
    assert_eq!(s.manifest.commit.outputs["user_features"].rows, 23_570);
    let f = Table::read(dir.path(), "user_features", "1998-07-01");
    // Customer 00001: one purchase of $11.77 on 1997-01-01.
    assert_eq!(f.i64("00001", "purchases_total"), Some(1));
    assert_close(f.f64("00001", "revenue_total"), 11.77, "00001 revenue");
    assert_eq!(
        f.ts("00001", "first_event_at"),
        Some(ts("1997-01-01T00:00:00Z"))
    );
}
