//! `lifecycle inspect`: the committed runs under an output, or the head of one table.

use chrono::NaiveDate;
use lifecycle_pipeline::{Manifest, Table};
use lifecycle_storage::Location;

use crate::args::InspectArgs;

pub(crate) async fn inspect(a: &InspectArgs) -> anyhow::Result<()> {
    let out = a.store.open(&a.location)?;
    let dates = lifecycle_storage::committed_runs(&out).await?;
    let Some(latest) = dates.last().copied() else {
        println!("no committed run under {}", out.url());
        for inner in outputs_below(&out).await? {
            println!("there are committed runs under {inner}: lifecycle inspect {inner}");
        }
        return Ok(());
    };
    match &a.table {
        None => list_runs(&out, &dates).await,
        Some(table) => head(&out, table, a.date.unwrap_or(latest), a.head).await,
    }
}

/// The output locations below `out` that hold commits (`lifecycle inspect demo-output` when
/// the runs are in `demo-output/out`).
async fn outputs_below(out: &Location) -> anyhow::Result<Vec<String>> {
    let marker = format!("/{}/run_date=", lifecycle_storage::MANIFEST_TABLE);
    let mut found: Vec<String> = vec![];
    for meta in out.list().await? {
        let url = out.url_of(&meta.location).to_string();
        if let Some((prefix, _)) = url.split_once(&marker)
            && !found.iter().any(|f| f == prefix)
        {
            found.push(prefix.to_string());
        }
    }
    Ok(found)
}

/// A line per committed run: id, cutoff and rows per table.
async fn list_runs(out: &Location, dates: &[NaiveDate]) -> anyhow::Result<()> {
    println!("committed runs under {}:", out.url());
    for d in dates {
        let m = Manifest::read(out, *d).await?;
        let outputs = &m.commit.outputs;
        let tables: Vec<String> = outputs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.rows))
            .collect();
        let cutoff = m
            .cutoff
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        println!(
            "  {d}  run {}  cutoff {cutoff}  rows: {}",
            m.run_id(),
            tables.join(" ")
        );
    }
    Ok(())
}

/// The first `n` rows of `table` in the run of `date`.
async fn head(out: &Location, table: &str, date: NaiveDate, n: usize) -> anyhow::Result<()> {
    let m = Manifest::read(out, date).await?;
    let outputs = &m.commit.outputs;
    let Some(t) = Table::from_name(table).and_then(|t| outputs.get(t.name())) else {
        let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
        anyhow::bail!(
            "the run of {date} has no table `{table}`; it has: {}",
            names.join(", ")
        );
    };
    let ctx = crate::stores::session_on(out);
    let options = datafusion::prelude::ParquetReadOptions::default();
    let df = ctx
        .read_parquet(t.url.as_str(), options)
        .await?
        .limit(0, Some(n))?;
    let batches = df.collect().await?;
    // The stable copy, as the run's summary names it (the committed copy is in the manifest).
    println!(
        "{table} of the run of {date} ({} rows in all; {}):",
        t.rows, t.published_url
    );
    let options = datafusion::arrow::util::display::FormatOptions::default().with_null("-");
    let pretty = datafusion::arrow::util::pretty::pretty_format_batches_with_options;
    println!("{}", pretty(&batches, &options)?);
    Ok(())
}
