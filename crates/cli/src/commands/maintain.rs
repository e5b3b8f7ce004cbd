//! `lifecycle gc` and `lifecycle score`: working on committed outputs.

use lifecycle_pipeline::RunError;
use lifecycle_spec::SpecError;
use lifecycle_storage::Location;

use crate::args::{GcArgs, ScoreArgs};

/// Removes abandoned and superseded run data, and repairs stable copies.
pub(crate) async fn gc(a: &GcArgs) -> anyhow::Result<()> {
    let out = a.store.open(&a.location)?;
    let grace = std::time::Duration::from_secs_f64(a.grace_hours.max(0.0) * 3600.0);
    let now = chrono::Utc::now();
    if a.retention_days.is_some() || a.quarantine_days.is_some() {
        let today = now.date_naive();
        let first = |n: u32| lifecycle_pipeline::first_kept(today, n.max(1));
        let keep_since = a
            .retention_days
            .map(first)
            .unwrap_or(chrono::NaiveDate::MIN);
        let quarantine = a.quarantine_days.map(first);
        let r = lifecycle_storage::apply_retention(&out, keep_since, quarantine).await?;
        crate::summary::print_retention(&r);
    }
    let r = lifecycle_storage::gc(&out, grace, now).await?;
    println!(
        "removed {} run folder(s), kept {} within the grace period, removed {} lease(s), \
         checked the stable copies of {} date(s)",
        r.runs_removed.len(),
        r.runs_in_grace.len(),
        r.leases_removed,
        r.dates_materialized
    );
    for id in r.runs_removed {
        println!("  removed _runs/{id}/");
    }
    Ok(())
}

/// Applies a saved churn model to a feature table.
pub(crate) async fn score(a: &ScoreArgs) -> anyhow::Result<()> {
    let open_url = |u: &str| -> lifecycle_pipeline::Result<Location> {
        a.store
            .open_as(u, !u.ends_with(".json"))
            .map_err(|e| match e.downcast::<RunError>() {
                Ok(run) => run,
                Err(e) => SpecError::Invalid {
                    setting: "location".into(),
                    reason: e.to_string(),
                }
                .into(),
            })
    };
    let model = a.store.open_as(&a.model, !a.model.ends_with(".json"))?;
    let features = a
        .store
        .open_as(&a.features, !a.features.ends_with(".parquet"))?;
    let output = a.store.open_as(&a.output, false)?;
    let s = lifecycle_pipeline::score_saved_model(&model, &features, &output, &open_url).await?;
    println!(
        "scored {} of {} users with the {} model {} -> {}",
        s.written.rows, s.feature_rows, s.classifier, s.model_url, a.output
    );
    Ok(())
}
