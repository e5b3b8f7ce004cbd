//! Applying a saved churn model without retraining (`lifecycle score`): read a model artifact
//! (or find the latest one under an output location), score a `user_features` table, and write
//! `churn_scores`.

use datafusion::prelude::ParquetReadOptions;
use lifecycle_models::{ChurnModel, ModelError};
use lifecycle_storage::{Location, StorageError, WriteStats};

use lifecycle_features::pseudonym::{USER_ID, UserIds};

use crate::frame::from_batches;
use crate::manifest::Manifest;
use crate::privacy::{USER_KEY, published_batch};
use crate::{Result, RunError};

/// What [`score_saved_model`] did.
#[derive(Debug, Clone)]
pub struct ScoreSummary {
    /// The artifact used.
    pub model_url: String,
    pub classifier: &'static str,
    /// Rows of the feature table and rows scored (the model's population).
    pub feature_rows: usize,
    pub written: WriteStats,
}

const MODEL: &str = "saved churn model";

fn artifact_error(reason: String) -> RunError {
    RunError::model(MODEL)(ModelError::Artifact { reason })
}

/// The artifact at `model`: a `.json` file, or else an output location whose latest committed
/// run saved a churn model.
async fn find_artifact(
    model: &Location,
    open: &dyn Fn(&str) -> Result<Location>,
) -> Result<Location> {
    if model.url().path().ends_with(".json") {
        return Ok(model.clone());
    }
    let dates = lifecycle_storage::committed_runs(model).await?;
    let Some(date) = dates.last() else {
        return Err(artifact_error(format!(
            "{} is neither a .json model nor an output location with a committed run",
            model.url()
        )));
    };
    let manifest = Manifest::read(model, *date).await?;
    let Some(churn) = manifest.models.churn else {
        let url = model.url();
        return Err(artifact_error(format!(
            "the run of {date} under {url} trained no churn model"
        )));
    };
    open(&churn.artifact)
}

/// Scores the users in the `user_features` Parquet at `features` with the saved model at
/// `model`, and writes `churn_scores` to the file `output`. The population is the model's:
/// with activity-based churn, users whose `recency_days` is within the model's active window;
/// with explicit churn events, every row.
pub async fn score_saved_model(
    model: &Location,
    features: &Location,
    output: &Location,
    open: &dyn Fn(&str) -> Result<Location>,
) -> Result<ScoreSummary> {
    let artifact = find_artifact(model, open).await?;
    let bytes = artifact.get_bytes().await?;
    let churn = ChurnModel::from_json(&bytes).map_err(RunError::model(MODEL))?;
    let ctx = lifecycle_features::new_session();
    ctx.register_object_store(&features.store_url(), features.store().clone());
    let step = "read user_features";
    let df = ctx
        .read_parquet(features.url().to_string(), ParquetReadOptions::default())
        .await
        .map_err(RunError::engine(step))?;
    // A keyed run's features carry `user_key`: the scores keep that name.
    let ids = match df.schema().has_column_with_unqualified_name(USER_KEY) {
        true => UserIds::Keyed,
        false => UserIds::Raw,
    };
    let df = df
        .with_column_renamed(USER_KEY, USER_ID)
        .map_err(RunError::engine(step))?;
    let columns: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    churn
        .column_positions(&columns)
        .map_err(RunError::model(MODEL))?;
    let batches = df.collect().await.map_err(RunError::engine(step))?;
    let mut frame = from_batches(&batches, &churn.feature_names, None, step)?;
    let feature_rows = frame.ids.len();
    let population = &churn.training.population;
    let explicit = !population.churn_event_types.is_empty();
    let window = Some(population.active_window_days as f64);
    if let (false, Some(window), Some(r)) = (
        explicit,
        window,
        churn.feature_names.iter().position(|f| f == "recency_days"),
    ) {
        let keep: Vec<usize> = (0..frame.ids.len())
            .filter(|i| frame.x.row(*i)[r] <= window)
            .collect();
        frame.ids = keep.iter().map(|i| frame.ids[*i].clone()).collect();
        frame.x = frame.x.select_rows(&keep);
    }
    let p = churn
        .predict_proba(&frame.x)
        .map_err(RunError::model(MODEL))?;
    let batch = published_batch(crate::churn_tables::scores_batch(&churn, &frame, &p), ids)?;
    let schema = batch.schema();
    let written =
        lifecycle_storage::write_parquet(output, schema, futures::stream::iter(vec![Ok(batch)]))
            .await
            .map_err(|e: StorageError| RunError::Storage(e))?;
    Ok(ScoreSummary {
        model_url: artifact.url().to_string(),
        classifier: churn.classifier.name(),
        feature_rows,
        written,
    })
}
