//! `lifecycle erase`: the users of an erase list removed from every committed date of every
//! table under an output, for requests under the GDPR's right to erasure or the CCPA's right to
//! delete.
//!
//! Each committed date whose tables hold a listed user is rewritten without their rows and
//! committed anew through the commit protocol ([`rewrite`]), so a reader sees a date either as
//! it was or as erased, never half. Then every run folder no latest commit names is deleted
//! (the replaced commits' and superseded or failed runs': they hold the rows too) and the
//! stable copies are brought in line. A run that crashes part-way is finished by running it
//! again: dates already erased hold none of the users and are left alone, so it is idempotent.
//! An [`ErasureLog`] records what was removed, with no id or key.
//!
//! Aggregate tables (counts per stage, cohort or cluster) are left as committed: they hold no
//! id. With keyed outputs the list's ids are keyed with the key whose fingerprint each date's
//! manifest records.

mod list;
mod log;
mod rewrite;

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use lifecycle_features::pseudonym::IdKey;
use lifecycle_spec::SpecError;
use lifecycle_storage::Location;

pub use list::ErasureList;
pub use log::{DateErasure, ERASURE_LOG, ErasureLog, ErasureRecord};
use rewrite::{DateIds, Request};

use crate::Result;
use crate::manifest::Manifest;

/// A key an erasure may match keyed dates with, and the variable it came from (for errors).
#[derive(Debug, Clone)]
pub struct NamedKey {
    pub var: String,
    pub key: IdKey,
}

/// How to erase.
#[derive(Debug, Clone)]
pub struct EraseOptions {
    /// Keys for dates published with keyed ids (each date's manifest names the fingerprint of
    /// its key; the matching one is used).
    pub keys: Vec<NamedKey>,
    /// The lease taken on each rewritten date (renewed after each table).
    pub lease_ttl: Duration,
}

/// Removes the users of `list` from every committed date under `output`, then writes and
/// returns the [`ErasureLog`] (with where it was written).
pub async fn erase_users(
    output: &Location,
    list: &ErasureList,
    opts: &EraseOptions,
) -> Result<(ErasureLog, Location)> {
    let started_at = Utc::now();
    let dates = lifecycle_storage::committed_runs(output).await?;
    // Every date's ids first: a missing key stops the erasure before it changes anything.
    let mut plan = vec![];
    for &date in &dates {
        let manifest = Manifest::read(output, date).await?;
        plan.push((date, date_ids(list, &opts.keys, &manifest)?));
    }
    let request = Request {
        list_sha256: &list.sha256,
        request_ids: &list.request_ids,
        lease_ttl: opts.lease_ttl,
    };
    let ctx = lifecycle_features::new_session();
    ctx.register_object_store(&output.store_url(), output.store().clone());
    let mut erased = vec![];
    for (date, ids) in &plan {
        if let Some(e) = rewrite::erase_date(output, *date, ids, &request, &ctx).await? {
            erased.push(e);
        }
    }
    let runs_removed = lifecycle_storage::remove_unreferenced_runs(output, Utc::now()).await?;
    for &date in &dates {
        lifecycle_storage::materialize(output, date).await?;
    }
    let log = ErasureLog {
        list_url: list.url.clone(),
        list_sha256: list.sha256.clone(),
        request_ids: list.request_ids.clone(),
        users_listed: list.ids.len(),
        started_at,
        completed_at: Utc::now(),
        dates_checked: dates.len(),
        dates: erased,
        runs_removed,
    };
    let at = log.write(output).await?;
    Ok((log, at))
}

/// The ids to remove from the date `manifest` committed: raw, or keyed with its key.
fn date_ids(list: &ErasureList, keys: &[NamedKey], manifest: &Manifest) -> Result<DateIds> {
    let Some(privacy) = &manifest.privacy else {
        return Ok(DateIds {
            column: lifecycle_features::pseudonym::USER_ID.to_string(),
            ids: list.ids.iter().cloned().collect(),
        });
    };
    let fingerprint = &privacy.key_fingerprint;
    let key = keys
        .iter()
        .find(|k| k.key.fingerprint() == *fingerprint)
        .ok_or_else(|| missing_key(manifest, fingerprint, keys))?;
    let ids: HashSet<String> = list.ids.iter().map(|id| key.key.user_key(id)).collect();
    Ok(DateIds {
        column: privacy.id_column.clone(),
        ids,
    })
}

fn missing_key(manifest: &Manifest, fingerprint: &str, keys: &[NamedKey]) -> crate::RunError {
    let tried: Vec<String> = keys
        .iter()
        .map(|k| format!("{} (fingerprint {})", k.var, k.key.fingerprint()))
        .collect();
    let tried = match tried.is_empty() {
        true => "no key was given".to_string(),
        false => format!("the keys given are {}", tried.join(", ")),
    };
    SpecError::Invalid {
        setting: "--id-key-env".into(),
        reason: format!(
            "the run of {} published keyed ids with the key of fingerprint {fingerprint}; \
             {tried}: give the variable that holds that key",
            manifest.run_date
        ),
    }
    .into()
}
