//! `lifecycle erase`: erasure requests applied to committed history.

use lifecycle_features::pseudonym::IdKey;
use lifecycle_pipeline::{EraseOptions, ErasureList, NamedKey, RunError};
use lifecycle_spec::SpecError;

use crate::args::EraseArgs;

/// The key variable tried when none is named.
const DEFAULT_KEY_VAR: &str = "LIFECYCLE_ID_KEY";

pub(crate) async fn erase(a: &EraseArgs) -> anyhow::Result<()> {
    let out = a.store.open(&a.location)?;
    let list = ErasureList::read(&a.store.open_as(&a.list, false)?).await?;
    let opts = EraseOptions {
        keys: keys(&a.id_key_env)?,
        lease_ttl: std::time::Duration::from_secs(a.lease_seconds.max(1)),
    };
    let (log, at) = lifecycle_pipeline::erase_users(&out, &list, &opts).await?;
    println!(
        "erased {} listed user(s) (list sha256 {}): {} row(s) from {} of {} committed date(s)",
        log.users_listed,
        &log.list_sha256[..12],
        log.rows_removed(),
        log.dates.len(),
        log.dates_checked
    );
    for d in &log.dates {
        let tables: Vec<String> = d
            .rows_removed
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        println!("  {}: {}", d.run_date, tables.join(", "));
    }
    println!(
        "removed {} run folder(s) no commit names; log: {}",
        log.runs_removed.len(),
        at.url()
    );
    Ok(())
}

/// The keys named (each must be set), or the default variable's when it is set.
fn keys(vars: &[String]) -> anyhow::Result<Vec<NamedKey>> {
    let named = |var: &str| -> Result<NamedKey, RunError> {
        let key = IdKey::from_env(var).map_err(|e| SpecError::Invalid {
            setting: "--id-key-env".into(),
            reason: e.to_string(),
        })?;
        Ok(NamedKey {
            var: var.to_string(),
            key,
        })
    };
    if vars.is_empty() {
        return Ok(named(DEFAULT_KEY_VAR).into_iter().collect());
    }
    Ok(vars
        .iter()
        .map(|v| named(v))
        .collect::<Result<_, RunError>>()?)
}
