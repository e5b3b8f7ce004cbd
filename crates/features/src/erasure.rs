//! Erasure requests at read time (`[privacy] erase_list`): the listed users' rows are dropped
//! from every input that holds user ids, as it is mapped, so no table of the run holds them.
//! They are counted (`rows.erased`), never quarantined: a quarantine of an erased person's rows
//! would keep the person. With keyed ids the list is keyed too, so the two still match.

use datafusion::prelude::SessionContext;

use crate::sql::in_list;
use crate::{FeatureError, Result};

/// The inputs with user ids that erased users are dropped from (when the run has them).
pub const ERASED_FROM: [&str; 4] = ["events", "users", "consent", "contacts"];

/// The erase list as mapped (`erasures_mapped`).
const LIST: &str = "erasures_mapped";

/// The mapped rows of `table` before the erasure (`<table>_listed`), kept to count what it
/// dropped.
pub fn listed_view(table: &str) -> String {
    format!("{table}_listed")
}

/// The distinct ids of the erase list, sorted (keyed when ids are).
pub async fn erased_ids(ctx: &SessionContext) -> Result<Vec<String>> {
    let sql = format!("SELECT DISTINCT user_id FROM {LIST} WHERE user_id IS NOT NULL ORDER BY 1");
    let engine = FeatureError::engine("read the erase list");
    let batches = ctx.sql(&sql).await.map_err(engine)?;
    let batches = batches
        .collect()
        .await
        .map_err(FeatureError::engine("read the erase list"))?;
    let mut ids = vec![];
    for b in &batches {
        let column = datafusion::arrow::compute::cast(
            b.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .map_err(|e| FeatureError::Engine {
            step: "read the erase list",
            source: e.into(),
        })?;
        let column = datafusion::arrow::array::AsArray::as_string::<i32>(&column);
        ids.extend(column.iter().flatten().map(str::to_string));
    }
    Ok(ids)
}

/// Re-registers `<table>_mapped` without the rows of the users `ids` (rows without a user id
/// stay: the quality rules quarantine them); the rows as mapped stay as [`listed_view`].
pub async fn drop_erased(ctx: &SessionContext, table: &str, ids: &[String]) -> Result<()> {
    let engine = || FeatureError::engine("apply the erase list");
    let mapped = format!("{table}_mapped");
    let listed = listed_view(table);
    let provider = ctx.table_provider(&mapped).await.map_err(engine())?;
    ctx.deregister_table(&mapped).map_err(engine())?;
    ctx.register_table(&listed, provider).map_err(engine())?;
    // `x NOT IN (NULL)`, what an empty list would write, keeps no row at all.
    let sql = match ids.is_empty() {
        true => format!("SELECT * FROM {listed}"),
        false => format!(
            "SELECT * FROM {listed} WHERE user_id IS NULL OR user_id NOT IN ({})",
            in_list(ids)
        ),
    };
    let kept = ctx.sql(&sql).await.map_err(engine())?;
    ctx.register_table(&mapped, kept.into_view())
        .map_err(engine())?;
    Ok(())
}

#[cfg(test)]
mod tests;
