//! What `lifecycle run` and `lifecycle demo` print when a run commits.

use lifecycle_pipeline::{Manifest, RunSummary};

/// The run, its rows, stages, models and outputs, and the first rows of `user_segments`.
pub(crate) fn print_summary(s: &RunSummary) {
    let m = &s.manifest;
    println!(
        "\nrun {} committed for {} (events before {})",
        m.run_id(),
        m.run_date,
        m.cutoff
    );
    let r = &m.rows;
    let erased = match r.erased {
        0 => String::new(),
        n => format!(", {n} of erased users dropped"),
    };
    println!(
        "events: {} read, {} filtered by the spec{erased}, {} quarantined, {} good",
        r.read, r.filtered, r.bad, r.good
    );
    let bad: Vec<String> = m
        .quality
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    if !bad.is_empty() {
        println!("quarantined by rule: {}", bad.join(", "));
    }
    let stages: Vec<String> = s.stages.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("users by stage: {}", stages.join(", "));
    print_models(m);
    print_audiences(m);
    println!("outputs (stable copies for importers; the manifest lists the committed ones):");
    let width = m.commit.outputs.keys().map(String::len).max().unwrap_or(0);
    for (name, t) in &m.commit.outputs {
        println!("  {name:<width$} {:>9} rows  {}", t.rows, t.published_url);
    }
    if let Some(n) = &s.notification {
        match n.delivered {
            true => println!("notified {} ({} attempts)", n.url, n.attempts),
            false => println!(
                "could NOT notify {} after {} attempts ({}); the run is committed all the same",
                n.url,
                n.attempts,
                n.error.as_deref().unwrap_or("no answer")
            ),
        }
    }
    if let Some(r) = s.retention.as_ref() {
        print_retention(r);
    }
    println!("\nuser_segments (first rows):\n{}", s.preview);
    if s.preview.contains("| - ") {
        println!("(-: users without a purchase have no RFM scores or segment)");
    }
}

fn print_models(m: &Manifest) {
    if let Some(seg) = &m.models.segmentation {
        let clusters: Vec<String> = seg
            .clusters
            .iter()
            .map(|c| format!("{} \"{}\" {}", c.cluster, c.name, c.users))
            .collect();
        println!("clusters (k = {}): {}", seg.k, clusters.join(", "));
    }
    let Some(churn) = &m.models.churn else {
        return;
    };
    if let Some(t) = churn.test_metrics() {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "churn: {} model; on the test date ROC-AUC {}, PR-AUC {}, top-decile lift {} (base rate {})",
            churn.selected,
            f(t.roc_auc),
            f(t.pr_auc),
            f(t.top_decile_lift),
            f(Some(t.base_rate))
        );
    }
    if let Some(reason) = &churn.reason {
        println!("churn scores NOT published: {reason}");
    }
}

fn print_audiences(m: &Manifest) {
    let Some(a) = &m.audiences else {
        return;
    };
    let nonzero = |map: &std::collections::BTreeMap<String, u64>| -> String {
        let parts: Vec<String> = map
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        match parts.is_empty() {
            true => "none".into(),
            false => parts.join(", "),
        }
    };
    println!(
        "audiences ({} users, {} in the holdout group): suppressed {}",
        a.users,
        a.held_out,
        nonzero(&a.suppressed)
    );
    for x in &a.audiences {
        println!(
            "  {:<12} {:<6} {:>7} members of {:>7} matched (+{} -{}); suppressed {}",
            x.name,
            x.channel,
            x.members,
            x.matched,
            x.entered,
            x.exited,
            nonzero(&x.suppressed)
        );
    }
}

/// What `[retention]` (or `gc --retention-days`) deleted.
pub(crate) fn print_retention(r: &lifecycle_storage::RetentionReport) {
    let dates: Vec<String> = r.dates_removed.iter().map(|d| d.to_string()).collect();
    let emptied: Vec<String> = r
        .quarantines_emptied
        .iter()
        .map(|d| d.to_string())
        .collect();
    println!(
        "retention: removed {} date(s) [{}] ({} objects); emptied the quarantine of {} date(s) [{}]",
        dates.len(),
        dates.join(", "),
        r.objects_removed,
        emptied.len(),
        emptied.join(", ")
    );
}
