//! `[privacy] publish_raw_ids`: with keyed ids, the activation tables (those a CRM contacts
//! people from: `user_profile` and the audience tables) carry the raw `user_id` beside
//! `user_key`; every other table stays keyed. The raw ids come from a lookup of key to raw id
//! made from the inputs' raw ids as the run reads them (in this process's memory only).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use lifecycle_features::input::raw_ids_view;
use lifecycle_features::pseudonym::{IdKey, USER_ID};
use rayon::prelude::*;

use crate::Result;
use crate::privacy::USER_KEY;
use crate::query::Query;
use crate::steps::Run;
use crate::tables::Table;

/// The tables that carry raw ids with `publish_raw_ids`.
pub const RAW_ID_TABLES: [Table; 7] = [
    Table::UserProfile,
    Table::AudienceMembers,
    Table::AudienceSuppressions,
    Table::AudienceChanges,
    Table::Assignments,
    Table::UpliftScores,
    Table::ContactPlan,
];

/// Each user key of the run and its raw id.
#[derive(Debug, Default)]
pub(crate) struct RawIds {
    by_key: HashMap<Box<str>, Box<str>>,
}

impl RawIds {
    /// The lookup for `ids` keyed with `key`.
    pub fn new(ids: &[String], key: &IdKey) -> RawIds {
        let by_key = ids
            .par_iter()
            .map(|id| (key.user_key(id).into(), id.as_str().into()))
            .collect();
        RawIds { by_key }
    }

    /// The raw ids of a column of keys (null where a key is unknown or null).
    pub fn column(&self, keys: &ArrayRef) -> std::result::Result<ArrayRef, ArrowError> {
        let keys = cast(keys, &DataType::Utf8)?;
        let keys = keys.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(keys.len(), keys.len() * 12);
        for i in 0..keys.len() {
            let raw = keys.is_valid(i).then(|| self.by_key.get(keys.value(i)));
            out.append_option(raw.flatten());
        }
        Ok(Arc::new(out.finish()))
    }
}

/// Whether `table` carries raw ids.
pub(crate) fn carries_raw_ids(table: Table) -> bool {
    RAW_ID_TABLES.contains(&table)
}

/// `schema` (as published, with `user_key`) with `user_id` after `user_key`.
pub(crate) fn schema(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    if let Ok(i) = schema.index_of(USER_KEY) {
        fields.insert(i + 1, Field::new(USER_ID, DataType::Utf8, true));
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `columns` (of a batch whose schema `schema` has `user_id` as the step wrote it, i.e. the
/// keys) with the raw ids inserted after the keys.
pub(crate) fn columns(
    lookup: &RawIds,
    schema: &Schema,
    mut columns: Vec<ArrayRef>,
) -> std::result::Result<Vec<ArrayRef>, ArrowError> {
    if let Ok(i) = schema.index_of(USER_ID) {
        let raw = lookup.column(&columns[i])?;
        columns.insert(i + 1, raw);
    }
    Ok(columns)
}

/// Builds the lookup from the events' and users' raw ids when the spec asks for raw ids.
pub(crate) async fn lookup(run: &Run<'_>) -> Result<Option<Arc<RawIds>>> {
    let (true, Some(key)) = (run.spec.privacy.publish_raw_ids, &run.id_key) else {
        return Ok(None);
    };
    if !run.out.publishes() {
        return Ok(None);
    }
    let ids = input_ids(Query::new(&run.ctx, "look up raw ids"), run).await?;
    Ok(Some(Arc::new(RawIds::new(&ids, key))))
}

/// The distinct raw ids of the run's events and users, as the mapping reads them (before
/// keying): what a key rotation and the raw id lookup key with their keys.
pub(crate) async fn input_ids(q: Query<'_>, run: &Run<'_>) -> Result<Vec<String>> {
    let sources: Vec<String> = run
        .inputs
        .iter()
        .filter(|i| ["events", "users"].contains(&i.table.as_str()))
        .map(|i| format!("SELECT {USER_ID} FROM {}", raw_ids_view(&i.table)))
        .collect();
    let mut ids = vec![];
    for b in q.collect(&sources.join(" UNION ")).await? {
        ids.extend(q.texts(&b, 0)?.into_iter().flatten());
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;

    #[test]
    fn keys_become_their_raw_ids_and_unknown_keys_null() {
        let key = IdKey::new(b"a key of sixteen bytes");
        let lookup = RawIds::new(&["u1".into(), "u2".into()], &key);
        let keys: ArrayRef = Arc::new(StringArray::from(vec![
            Some(key.user_key("u2")),
            None,
            Some("not a key".to_string()),
            Some(key.user_key("u1")),
        ]));
        let raw = lookup.column(&keys).unwrap();
        let raw: Vec<Option<&str>> = raw.as_string::<i32>().iter().collect();
        assert_eq!(raw, [Some("u2"), None, None, Some("u1")]);
    }
}
