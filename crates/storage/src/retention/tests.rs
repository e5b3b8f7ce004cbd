use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::publish::CommitRecord;
use crate::{Publisher, Stores, committed_runs};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Commits `date` with a `quarantine` of `bad` rows and a `t` table, as a run does.
async fn commit(out: &Location, date: &str, bad: i64) -> String {
    let p = Publisher::begin(out.clone(), d(date), Duration::from_secs(3600))
        .await
        .unwrap();
    let mut outputs = std::collections::BTreeMap::new();
    for (table, rows) in [("quarantine", bad), ("t", 1)] {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap();
        let stream = futures::stream::iter(vec![Ok(batch)]);
        let stats = write_parquet(&p.staging_file(table), schema, stream)
            .await
            .unwrap();
        outputs.insert(table.to_string(), p.committed_table(table, &stats));
    }
    let id = p.run_id().to_string();
    let record = CommitRecord {
        run_id: id.clone(),
        outputs,
        run_files: vec![],
    };
    p.commit(serde_json::to_vec(&record).unwrap())
        .await
        .unwrap();
    id
}

async fn paths(out: &Location) -> Vec<String> {
    let root = out.path().as_ref().to_string();
    let mut all: Vec<String> = out
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            m.location
                .as_ref()
                .strip_prefix(&root)
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn old_dates_go_whole_and_old_quarantines_are_emptied() {
    let out = Stores::default()
        .open(&url::Url::parse("memory://r/out/").unwrap())
        .unwrap();
    let mut ids = vec![];
    for date in ["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04"] {
        ids.push(commit(&out, date, 3).await);
    }
    // A second commit of the first date: both of its run folders must go.
    ids.push(commit(&out, "2024-06-01", 2).await);
    let before = paths(&out).await;

    let r = apply_retention(&out, d("2024-06-03"), Some(d("2024-06-04")))
        .await
        .unwrap();
    assert_eq!(r.dates_removed, [d("2024-06-01"), d("2024-06-02")]);
    assert_eq!(r.quarantines_emptied, [d("2024-06-03")]);
    assert_eq!(
        committed_runs(&out).await.unwrap(),
        [d("2024-06-03"), d("2024-06-04")]
    );
    let after = paths(&out).await;
    let gone: Vec<&String> = before.iter().filter(|p| !after.contains(p)).collect();
    for p in &after {
        assert!(
            !p.contains("run_date=2024-06-01") && !p.contains("run_date=2024-06-02"),
            "{p} left"
        );
        for id in [&ids[0], &ids[1], &ids[4]] {
            assert!(!p.contains(id.as_str()), "{p}: a removed date's run folder");
        }
    }
    assert!(
        after.iter().all(|p| before.contains(p)),
        "nothing new but the emptied files"
    );
    assert_eq!(r.objects_removed, gone.len(), "{gone:?}");
    // Only 2024-06-03's quarantine is emptied, in its run folder and its stable copy.
    for (date, rows) in [("2024-06-03", 0), ("2024-06-04", 3)] {
        let stable = out.join(&format!("quarantine/run_date={date}/part-0.parquet"));
        assert_eq!(parquet_footer(&stable).await.unwrap().1, rows, "{date}");
    }
    let kept = run_folder(&out, &ids[2]).join("quarantine/part-0.parquet");
    assert_eq!(parquet_footer(&kept).await.unwrap().1, 0);
    assert_eq!(
        parquet_footer(&run_folder(&out, &ids[2]).join("t/part-0.parquet"))
            .await
            .unwrap()
            .1,
        1
    );

    let again = apply_retention(&out, d("2024-06-03"), Some(d("2024-06-04")))
        .await
        .unwrap();
    assert_eq!(
        again,
        RetentionReport::default(),
        "a second pass has nothing to do"
    );
    assert_eq!(paths(&out).await, after);
}

#[tokio::test]
async fn a_pass_cut_short_after_the_commits_is_finished_by_the_next() {
    let out = Stores::default()
        .open(&url::Url::parse("memory://r2/out/").unwrap())
        .unwrap();
    commit(&out, "2024-06-01", 1).await;
    commit(&out, "2024-06-02", 1).await;
    // As if a pass deleted 06-01's commit and died: its stable copies are still there.
    for c in commits(&out)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.run_date == d("2024-06-01"))
    {
        delete(&out, &c.path).await.unwrap();
    }
    assert_eq!(
        committed_runs(&out).await.unwrap(),
        [d("2024-06-02")],
        "the date is gone for readers"
    );
    let r = apply_retention(&out, d("2024-06-02"), None).await.unwrap();
    assert!(r.objects_removed > 0);
    assert!(
        paths(&out)
            .await
            .iter()
            .all(|p| !p.contains("run_date=2024-06-01"))
    );
}
