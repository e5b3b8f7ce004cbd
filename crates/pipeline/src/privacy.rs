//! A run's pseudonymous ids (`[privacy] id_key_env`): the key from the environment, the SQL
//! function that keys the inputs' ids as they are mapped, and the published column name.
//! Published tables carry `user_key` where the steps say `user_id`: [`Output`] renames the
//! column as it writes a table and [`Query::register_parquet`] back as it reads one, so no step
//! knows whether ids are keyed.
//!
//! [`Output`]: crate::output::Output
//! [`Query::register_parquet`]: crate::query::Query::register_parquet

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use lifecycle_features::pseudonym::{self, IdKey, USER_ID, UserIds};
use lifecycle_spec::{SpecError, ValidJobSpec};

use crate::{Result, RunError};

/// The column that holds keyed ids in a published table.
pub const USER_KEY: &str = "user_key";

/// The key `spec` names, read from the environment; None without `[privacy] id_key_env`. A
/// missing or short key is the spec's fault (exit 2), named by its variable, never shown.
pub(crate) fn id_key(spec: &ValidJobSpec) -> Result<Option<IdKey>> {
    let Some(var) = &spec.privacy.id_key_env else {
        return Ok(None);
    };
    if spec.cluster.is_some() {
        return Err(SpecError::Invalid {
            setting: "privacy.id_key_env".into(),
            reason: "pseudonymous ids run locally only so far: a cluster's executors do not \
                     have the keyed function (run without --cluster)"
                .into(),
        }
        .into());
    }
    let key = IdKey::from_env(var).map_err(|e| SpecError::Invalid {
        setting: "privacy.id_key_env".into(),
        reason: e.to_string(),
    })?;
    Ok(Some(key))
}

/// Registers `lc_user_key` on `ctx` when ids are keyed.
pub(crate) fn register(ctx: &SessionContext, key: Option<&IdKey>) {
    if let Some(key) = key {
        ctx.register_udf(pseudonym::user_key_udf(key.clone()));
    }
}

/// How ids are mapped and published with `key`.
pub(crate) fn user_ids(key: Option<&IdKey>) -> UserIds {
    match key {
        Some(_) => UserIds::Keyed,
        None => UserIds::Raw,
    }
}

/// `batch` as published: its `user_id` named `user_key` when ids are keyed.
pub(crate) fn published_batch(batch: RecordBatch, ids: UserIds) -> Result<RecordBatch> {
    let schema = published_schema(batch.schema(), ids);
    RecordBatch::try_new(schema, batch.columns().to_vec()).map_err(|e| RunError::Internal {
        step: "publish",
        reason: format!("renaming user_id: {e}"),
    })
}

/// `schema` as published: `user_id` named `user_key` when ids are keyed.
pub(crate) fn published_schema(schema: SchemaRef, ids: UserIds) -> SchemaRef {
    let keyed = ids == UserIds::Keyed && schema.column_with_name(USER_ID).is_some();
    if !keyed {
        return schema;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.name() == USER_ID {
            true => f.as_ref().clone().with_name(USER_KEY),
            false => f.as_ref().clone(),
        })
        .collect();
    std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
