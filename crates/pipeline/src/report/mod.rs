//! The run report (`report.html`): each section's data gathered from a run's manifest and the
//! tables it lists, rendered by `lifecycle_report`. A run writes it beside its tables before the
//! commit; `lifecycle report` rebuilds it from any committed run.

mod analyses;
mod churn;
mod models;
mod overview;
mod tables;

use datafusion::prelude::SessionContext;
use lifecycle_report::Report;

use crate::manifest::Manifest;
use crate::{Result, RunError};

/// The report's file name, in the run's folder and beside the stable `manifest.json`.
pub const REPORT_FILE: &str = "report.html";

/// The report's step in the manifest's `steps` (it runs after the others).
pub(crate) const REPORT_STEP: &str = "report";

/// The report of the run `manifest` describes, read from the tables it lists through `ctx`
/// (whose stores reach the output location).
pub async fn build_report(ctx: &SessionContext, manifest: &Manifest) -> Result<String> {
    let t = tables::ReportTables::register(ctx, manifest).await?;
    let mut report = Report::new(&manifest.job, &manifest.run_date.to_string());
    report.subtitle = vec![
        format!(
            "run {} · cutoff {} · engine {}",
            manifest.run_id(),
            manifest.cutoff.format("%Y-%m-%d %H:%M UTC"),
            manifest.engine
        ),
        match manifest.previous_run_date {
            Some(d) => format!("compared with the run of {d}"),
            None => "the first run: nothing to compare with".to_string(),
        },
    ];
    let sections = [
        Some(overview::input(manifest)),
        Some(overview::stages(&t, manifest).await?),
        overview::rfm(&t).await?,
        models::clusters(&t).await?,
        churn::churn(&t, manifest).await?,
        models::clv(&t, manifest).await?,
        models::recommendations(&t).await?,
        analyses::cohorts(&t).await?,
        analyses::funnels(&t).await?,
        analyses::monitoring(&t, manifest).await?,
        analyses::audiences(manifest),
    ];
    report.sections = sections.into_iter().flatten().collect();
    report.to_html().map_err(|e| RunError::Internal {
        step: REPORT_STEP,
        reason: e.to_string(),
    })
}
