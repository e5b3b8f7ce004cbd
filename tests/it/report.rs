//! `report.html`: committed with every run beside the stable manifest, self-contained (no URL
//! at all), a section with plots for each enabled feature, and rebuilt byte for byte by
//! `lifecycle report`.

use crate::common::*;

/// The section ids of a report, each with the plots it holds.
fn sections(html: &str) -> Vec<(String, usize)> {
    html.split("<section id=\"")
        .skip(1)
        .map(|s| {
            let id = s.split('"').next().unwrap().to_string();
            let body = s.split("</section>").next().unwrap();
            (id, body.matches("<svg").count())
        })
        .collect()
}

/// No URL or external element; the demo job's sections in order, each with a plot.
fn assert_self_contained_with_every_section(html: &str) {
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no URL of any kind"
    );
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<link"));
    let got = sections(html);
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    let want = [
        "input",
        "stages",
        "rfm",
        "clusters",
        "churn",
        "clv",
        "recommendations",
        "cohorts",
        "funnels",
        "monitoring",
        "audiences",
    ];
    assert_eq!(ids, want);
    for (id, plots) in &got {
        assert!(*plots > 0, "section {id} has no plot");
    }
}

#[test]
fn every_run_commits_a_self_contained_report_that_the_cli_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let (code, _, err) =
        lifecycle_out(&["demo", "--dir", demo.to_str().unwrap(), "--users", "300"]);
    assert_eq!(code, 0, "{err}");
    // A second date, a week on: monitoring then has a previous run, the forecast has moves.
    let spec = demo.join("demo.toml");
    let (code, err) = lifecycle(&["run", spec.to_str().unwrap(), "--as-of", "2024-07-06"]);
    assert_eq!(code, 0, "{err}");

    let out = demo.join("out");
    let stable = out.join("run_manifest/run_date=2024-07-06/report.html");
    let html = std::fs::read_to_string(&stable).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("run_manifest/run_date=2024-07-06/manifest.json")).unwrap(),
    )
    .unwrap();
    let run_id = manifest["run_id"].as_str().unwrap();
    let committed =
        std::fs::read_to_string(out.join(format!("_runs/{run_id}/report.html"))).unwrap();
    assert_eq!(html, committed, "the stable copy is the committed one");
    assert_eq!(manifest["run_files"], serde_json::json!(["report.html"]));

    assert_self_contained_with_every_section(&html);
    // Stages: counts, moves and the forecast; the flagged PSI bars in the warning colour.
    let got = sections(&html);
    assert_eq!(got[1].1, 3, "{got:?}");
    let monitoring = html.split("<section id=\"monitoring\"").nth(1).unwrap();
    let monitoring = monitoring.split("</section>").next().unwrap();
    assert!(
        manifest["monitoring"]["flagged"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert!(
        monitoring.to_lowercase().contains("fill=\"#d6453d\""),
        "flagged bars highlighted"
    );

    let rebuilt = dir.path().join("rebuilt.html");
    let (code, stdout, err) = lifecycle_out(&[
        "report",
        out.to_str().unwrap(),
        "--date",
        "2024-07-06",
        "--out",
        rebuilt.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("rebuilt.html"), "{stdout}");
    assert!(
        std::fs::read_to_string(&rebuilt).unwrap() == html,
        "rebuilt byte for byte"
    );
    let (code, _, err) = lifecycle_out(&["report", out.to_str().unwrap(), "--date", "1999-01-01"]);
    assert_ne!(code, 0);
    assert!(err.contains("no committed run of 1999-01-01"), "{err}");
}

#[tokio::test]
async fn a_run_without_models_reports_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let spec = two_events_job(dir.path());
    run(&spec, "2024-03-01", "2024-03-01T06:00:00Z")
        .await
        .unwrap();
    let html = std::fs::read_to_string(
        dir.path()
            .join("out/run_manifest/run_date=2024-03-01/report.html"),
    )
    .unwrap();
    let ids: Vec<String> = sections(&html).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["input", "stages", "rfm", "cohorts", "monitoring"]);
    assert!(html.contains("The first run: nothing to compare with yet."));
}
