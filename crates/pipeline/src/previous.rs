//! What a run takes from the previous committed run: its date, its segments (for the stage
//! transitions) and its segmentation (for stable cluster numbers).

use chrono::NaiveDate;
use lifecycle_features::sql::views;
use lifecycle_storage::{Location, Stores};

use crate::manifest::Manifest;
use crate::query::Query;
use crate::rotation::PreviousIds;
use crate::tables::Table;
use crate::{Result, RunError};

/// The latest committed run before `run_date`, and its manifest.
pub(crate) async fn previous_run(
    output: &Location,
    run_date: NaiveDate,
) -> Result<Option<Manifest>> {
    let dates = lifecycle_storage::committed_runs(output).await?;
    match dates.into_iter().rfind(|d| *d < run_date) {
        Some(date) => Ok(Some(Manifest::read(output, date).await?)),
        None => Ok(None),
    }
}

/// Registers `previous_segments` (user_id, stage): the previous run's `user_segments`, or no
/// rows. It reads the committed copy the manifest names, never the stable copy (which a
/// concurrent materialization may be rewriting).
pub(crate) async fn register_segments(
    q: Query<'_>,
    previous: Option<&Manifest>,
    ids: &PreviousIds,
) -> Result<()> {
    let table = Table::UserSegments.name();
    let url = previous
        .and_then(|m| m.commit.outputs.get(table))
        .map(|t| t.url.as_str());
    let Some(url) = url else {
        let sql = lifecycle_features::segments::no_previous_segments_sql();
        return q.register_view(views::PREVIOUS_SEGMENTS, sql).await;
    };
    q.register_parquet(views::PREVIOUS_SEGMENTS_FILE, url)
        .await?;
    let file = views::PREVIOUS_SEGMENTS_FILE;
    let sql = crate::rotation::previous_select(ids, file, &["user_id", "stage"]);
    q.register_view(views::PREVIOUS_SEGMENTS, &sql).await
}

/// The previous run's segmentation, if it saved one that this build can read. A missing or
/// unreadable one only means today's cluster numbers start afresh (logged).
pub(crate) async fn segmentation(
    stores: &Stores,
    previous: Option<&Manifest>,
) -> Option<lifecycle_models::SegmentModel> {
    let previous = previous?;
    let url = &previous.models.segmentation.as_ref()?.artifact;
    let load = async {
        let url = url::Url::parse(url).map_err(|e| RunError::Internal {
            step: "segmentation",
            reason: format!("the previous run's artifact URL {url}: {e}"),
        })?;
        let bytes = stores.open(&url)?.get_bytes().await?;
        lifecycle_models::SegmentModel::from_json(&bytes)
            .map_err(RunError::model("previous segmentation"))
    };
    match load.await {
        Ok(model) => Some(model),
        Err(e) => {
            let date = previous.run_date;
            tracing::warn!(error = %e, %date, "could not read the previous segmentation; cluster numbers start afresh");
            None
        }
    }
}
