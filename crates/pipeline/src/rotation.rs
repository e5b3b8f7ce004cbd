//! The previous run's user ids in this run's form, so stage transitions and audience changes
//! follow users when ids became keyed or the key was rotated (`[privacy] previous_key_env`).
//!
//! - Same key (or none) on both runs: ids as they are.
//! - The previous run had raw ids and this one keys them: the previous ids are keyed as read.
//! - The previous run used the previous key: a translation table from previous keys to this
//!   run's keys is made from the inputs' raw ids (each keyed with both keys, in this process)
//!   and staged as `_previous_keys` (keys only: no raw id is written); previous ids are looked
//!   up in it.
//! - Any other change (a new key without `previous_key_env`, or keys turned off): ids cannot
//!   be followed; the previous run's users count as gone and today's as new (logged).

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_features::pseudonym::{IdKey, USER_KEY};
use lifecycle_spec::{SpecError, ValidJobSpec};
use rayon::prelude::*;

use crate::manifest::Manifest;
use crate::query::Query;
use crate::steps::Run;
use crate::{Result, RunError};

/// The translation table's view (`previous_key`, `user_id`).
const PREVIOUS_KEYS: &str = "previous_keys";

/// The setting a rotation's errors name.
const SETTING: &str = "privacy.previous_key_env";

/// How the previous committed run's user ids become this run's.
#[derive(Debug, Clone, Default)]
pub(crate) enum PreviousIds {
    /// The same form on both runs (or no previous run).
    #[default]
    AsTheyAre,
    /// Raw before, keyed now: key them as read.
    Key,
    /// Keyed with this key before (the previous key): translate through [`PREVIOUS_KEYS`].
    Translate(IdKey),
    /// They cannot be followed.
    Unmatched,
}

/// How the previous run's ids relate to this run's key.
pub(crate) fn previous_ids(
    spec: &ValidJobSpec,
    previous: Option<&Manifest>,
    key: Option<&IdKey>,
) -> Result<PreviousIds> {
    let Some(previous) = previous else {
        return Ok(PreviousIds::AsTheyAre);
    };
    let before = previous.privacy.as_ref().map(|p| p.key_fingerprint.clone());
    let now = key.map(IdKey::fingerprint);
    let ids = match (&before, &now) {
        (b, n) if b == n => PreviousIds::AsTheyAre,
        (None, None) => PreviousIds::AsTheyAre,
        (None, Some(_)) => PreviousIds::Key,
        (Some(before), Some(_)) => match previous_key(spec, before, previous)? {
            Some(old) => PreviousIds::Translate(old),
            None => PreviousIds::Unmatched,
        },
        (Some(_), None) => PreviousIds::Unmatched,
    };
    if matches!(ids, PreviousIds::Unmatched) {
        tracing::warn!(
            previous = %previous.run_date,
            "the previous run's ids were keyed otherwise and no previous_key_env translates \
             them: stage transitions and audience changes start afresh"
        );
    }
    Ok(ids)
}

/// The key of `previous_key_env`, when set; an error when it is not the key of fingerprint
/// `before` (the previous run's).
fn previous_key(spec: &ValidJobSpec, before: &str, previous: &Manifest) -> Result<Option<IdKey>> {
    let Some(var) = &spec.privacy.previous_key_env else {
        return Ok(None);
    };
    let bad = |reason: String| -> RunError {
        SpecError::Invalid {
            setting: SETTING.into(),
            reason,
        }
        .into()
    };
    let key = IdKey::from_env(var).map_err(|e| bad(e.to_string()))?;
    if key.fingerprint() != before {
        return Err(bad(format!(
            "{var} holds the key of fingerprint {}, but the previous run ({}) used the key of \
             fingerprint {before}",
            key.fingerprint(),
            previous.run_date
        )));
    }
    Ok(Some(key))
}

/// Stages and registers the translation table when the previous ids need one.
pub(crate) async fn register(run: &mut Run<'_>) -> Result<()> {
    let PreviousIds::Translate(old) = run.previous_ids.clone() else {
        return Ok(());
    };
    let key = run.id_key.clone().ok_or_else(|| RunError::Internal {
        step: "rotation",
        reason: "a translation without a key".into(),
    })?;
    let q = Query::new(&run.ctx, "translate the previous keys");
    let ids = crate::raw_ids::input_ids(q, run).await?;
    let batch = translation(&ids, &old, &key);
    tracing::info!(users = ids.len(), "previous keys translated");
    match run.out.staged_batch("_previous_keys", batch).await? {
        Some(url) => q.register_parquet(PREVIOUS_KEYS, &url).await,
        None => Ok(()),
    }
}

/// (`previous_key`, `user_id`): each raw id keyed with the previous key and with this run's.
fn translation(ids: &[String], old: &IdKey, key: &IdKey) -> RecordBatch {
    let pairs: Vec<(String, String)> = ids
        .par_iter()
        .map(|id| (old.user_key(id), key.user_key(id)))
        .collect();
    let (before, now): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
    let schema = Schema::new(vec![
        Field::new("previous_key", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(before)),
            Arc::new(StringArray::from(now)),
        ],
    )
    .expect("two string columns of one length")
}

/// The SELECT of `columns` (`user_id` among them) from the previous run's table registered as
/// `file`, with `user_id` in this run's form.
pub(crate) fn previous_select(ids: &PreviousIds, file: &str, columns: &[&str]) -> String {
    let user_id = match ids {
        PreviousIds::AsTheyAre | PreviousIds::Unmatched => "f.user_id".to_string(),
        PreviousIds::Key => format!("{USER_KEY}(f.user_id)"),
        PreviousIds::Translate(_) => "coalesce(t.user_id, f.user_id)".to_string(),
    };
    let cols: Vec<String> = columns
        .iter()
        .map(|c| match *c {
            "user_id" => format!("{user_id} AS user_id"),
            c => format!("f.{c}"),
        })
        .collect();
    let from = match ids {
        PreviousIds::Translate(_) => {
            format!("{file} f LEFT JOIN {PREVIOUS_KEYS} t ON f.user_id = t.previous_key")
        }
        _ => format!("{file} f"),
    };
    format!("SELECT {} FROM {from}", cols.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_translation_maps_each_previous_key_to_the_new_one() {
        let (old, new) = (
            IdKey::new(b"old key, sixteen+"),
            IdKey::new(b"new key, sixteen+"),
        );
        let ids = vec!["u1".to_string(), "u2".to_string()];
        let t = translation(&ids, &old, &new);
        let col = |i: usize| {
            let a = t.column(i).as_any().downcast_ref::<StringArray>().unwrap();
            a.iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(col(0), [old.user_key("u1"), old.user_key("u2")]);
        assert_eq!(col(1), [new.user_key("u1"), new.user_key("u2")]);
    }

    #[test]
    fn previous_ids_are_selected_in_this_runs_form() {
        let cols = ["user_id", "stage"];
        assert_eq!(
            previous_select(&PreviousIds::AsTheyAre, "p", &cols),
            "SELECT f.user_id AS user_id, f.stage FROM p f"
        );
        assert_eq!(
            previous_select(&PreviousIds::Key, "p", &cols),
            "SELECT lc_user_key(f.user_id) AS user_id, f.stage FROM p f"
        );
        let old = IdKey::new(b"old key, sixteen+");
        assert!(
            previous_select(&PreviousIds::Translate(old), "p", &cols)
                .ends_with("FROM p f LEFT JOIN previous_keys t ON f.user_id = t.previous_key")
        );
    }
}
