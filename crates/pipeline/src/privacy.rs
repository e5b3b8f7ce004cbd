//! A run's pseudonymous ids (`[privacy] id_key_env`): the key from the environment, the SQL
//! function that keys the inputs' ids as they are mapped, and the published column name.
//! Published tables carry `user_key` where the steps say `user_id`: [`Output`] renames the
//! column as it writes a table and [`Query::register_parquet`] back as it reads one, so no step
//! knows whether ids are keyed.
//!
//! [`Output`]: crate::output::Output
//! [`Query::register_parquet`]: crate::query::Query::register_parquet

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::prelude::SessionContext;
use lifecycle_features::pseudonym::{self, IdKey, USER_ID, UserIds};
use lifecycle_spec::{SpecError, ValidJobSpec};

use crate::tables::Table;
use crate::{Result, RunError, RunOptions};

/// The column that holds keyed ids in a published table.
pub const USER_KEY: &str = "user_key";

/// The run's key: the caller's, else the one `spec` names, read from the environment; None
/// without either. A missing or short key is the spec's fault (exit 2), named by its variable,
/// never shown.
pub(crate) fn id_key(spec: &ValidJobSpec, opts: &RunOptions) -> Result<Option<IdKey>> {
    if let Some(key) = &opts.id_key {
        return Ok(Some(key.clone()));
    }
    let Some(var) = &spec.privacy.id_key_env else {
        return Ok(None);
    };
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

/// Checks that the cluster's executors key ids with `key`: they compute `lc_user_key` from their
/// own environment (the key never travels in a plan), so a run whose executors hold no key or
/// another one would publish keys that match nothing. Compares fingerprints (the first 8 bytes
/// of the key of "fingerprint"); the error names both, never a key.
pub(crate) async fn check_cluster_key(ctx: &SessionContext, key: &IdKey) -> Result<()> {
    let sql = format!(
        "SELECT {}(probe) FROM (VALUES ('fingerprint')) AS t(probe)",
        pseudonym::USER_KEY
    );
    let fail = |reason: String| SpecError::Invalid {
        setting: "privacy.id_key_env".into(),
        reason,
    };
    let q = crate::query::Query::new(ctx, "check the cluster's key");
    let first = async {
        let batches = q.collect(&sql).await?;
        let first = batches.iter().find(|b| b.num_rows() > 0);
        first.map_or(Ok(vec![]), |b| q.texts(b, 0))
    };
    let keys = first.await.map_err(|e| {
        fail(format!(
            "the cluster's executors cannot key ids ({e}): start each with the job's key in \
                 the variable `lifecycle executor --id-key-env` names (default {})",
            pseudonym::DEFAULT_KEY_ENV
        ))
    })?;
    let theirs: String = keys
        .first()
        .and_then(|k| k.as_deref())
        .map(|k| k.chars().take(16).collect())
        .unwrap_or_default();
    match theirs == key.fingerprint() {
        true => Ok(()),
        false => Err(fail(format!(
            "the cluster's executors hold another key (fingerprint {theirs}; this run's is {})",
            key.fingerprint()
        ))
        .into()),
    }
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

/// What publishing does to a table on top of its schema rules: keyed ids named `user_key`,
/// small cells of aggregate tables suppressed ([`crate::cells`]), and with `publish_raw_ids`
/// the raw ids beside the keys in the activation tables ([`crate::raw_ids`]).
#[derive(Debug, Clone)]
pub(crate) struct Publishing {
    pub ids: UserIds,
    pub min_cell_size: u64,
    pub raw_ids: Option<std::sync::Arc<crate::raw_ids::RawIds>>,
}

impl Publishing {
    /// The published schema of `table` from the schema its query or batch has.
    pub fn schema(&self, table: Table, schema: &SchemaRef) -> SchemaRef {
        let schema = match table.cells() {
            Some(_) => table.stable_schema(&crate::cells::with_flag(schema)),
            None => table.stable_schema(schema),
        };
        self.with_raw_ids(table, published_schema(schema, self.ids))
    }

    /// An in-memory batch of `table` as published. Aggregate tables take their schema rules
    /// and small-cell suppression; others keep the schema their builder gave, keyed ids renamed
    /// (and raw ids added where they are published).
    pub fn batch(&self, table: Table, batch: RecordBatch) -> Result<RecordBatch> {
        let internal = |e: ArrowError| RunError::Internal {
            step: "publish",
            reason: format!("{}: {e}", table.name()),
        };
        let schema = match table.cells() {
            Some(_) => self.schema(table, &batch.schema()),
            None => self.with_raw_ids(table, published_schema(batch.schema(), self.ids)),
        };
        let columns = self.columns(table, &batch).map_err(internal)?;
        RecordBatch::try_new(schema, columns).map_err(internal)
    }

    /// The published columns of `table` from a batch of its rows.
    pub fn columns(
        &self,
        table: Table,
        batch: &RecordBatch,
    ) -> std::result::Result<Vec<ArrayRef>, ArrowError> {
        let columns = match table.cells() {
            Some(rule) => crate::cells::suppress(batch, rule, self.min_cell_size)?,
            None => batch.columns().to_vec(),
        };
        match self.raw_ids_of(table) {
            Some(lookup) => crate::raw_ids::columns(lookup, &batch.schema(), columns),
            None => Ok(columns),
        }
    }

    fn with_raw_ids(&self, table: Table, schema: SchemaRef) -> SchemaRef {
        match self.raw_ids_of(table) {
            Some(_) => crate::raw_ids::schema(&schema),
            None => schema,
        }
    }

    /// The raw id lookup, when `table` publishes raw ids.
    fn raw_ids_of(&self, table: Table) -> Option<&crate::raw_ids::RawIds> {
        let carries = crate::raw_ids::carries_raw_ids(table);
        self.raw_ids.as_deref().filter(|_| carries)
    }
}
