//! `lifecycle report`: a committed run's report rebuilt from its tables into a local file.

use std::path::PathBuf;

use lifecycle_pipeline::Manifest;

use crate::args::ReportArgs;

pub(crate) async fn report(a: &ReportArgs) -> anyhow::Result<()> {
    let out = a.store.open(&a.location)?;
    let dates = lifecycle_storage::committed_runs(&out).await?;
    let date = match (a.date, dates.last()) {
        (Some(d), _) if dates.contains(&d) => d,
        (Some(d), _) => anyhow::bail!("no committed run of {d} under {}", out.url()),
        (None, Some(d)) => *d,
        (None, None) => anyhow::bail!("no committed run under {}", out.url()),
    };
    let manifest = Manifest::read(&out, date).await?;
    let ctx = crate::stores::session_on(&out);
    let html = lifecycle_pipeline::build_report(&ctx, &manifest).await?;
    let file = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-{date}-report.html", manifest.job)));
    std::fs::write(&file, html)
        .map_err(|e| anyhow::anyhow!("writing the report to {}: {e}", file.display()))?;
    println!("{}", file.display());
    if a.open {
        open::that_detached(&file)
            .map_err(|e| anyhow::anyhow!("opening {} in a browser: {e}", file.display()))?;
    }
    Ok(())
}
