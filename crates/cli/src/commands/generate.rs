//! `lifecycle generate`: a synthetic event log.

use std::path::Path;

use lifecycle_synth::GeneratorParams;

/// Generates `params` into `out` and says what it wrote.
pub(crate) fn generate(params: &GeneratorParams, out: &Path) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let bar = crate::progress::users_bar(params.users);
    let s = lifecycle_synth::generate_with(params, out, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    println!(
        "generated {} users, {} items, {} events ({} purchases, {} users churned) in {} files under {} ({:.1} s)",
        s.users,
        s.items,
        s.events,
        s.purchases,
        s.churned_users,
        s.event_files,
        out.display(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "and {} consent rows (consent.parquet), {} past sends (contacts.parquet)",
        s.consent_rows, s.contact_rows
    );
    println!(
        "the log ends the day before {0}: run a job on all of it with --as-of {0}",
        params.end()
    );
    Ok(())
}
