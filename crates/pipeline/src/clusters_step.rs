//! The segmentation step: K-means on the chosen `user_features` columns of every user,
//! standardised (skewed columns through `log1p` first: see `lifecycle_models::scale`).
//!
//! Stable labels: when the previous committed run saved a segmentation on the same features,
//! its centroids are brought back to raw units, scaled with today's scaler, and today's
//! clusters take the numbers of the nearest previous clusters (a minimum-cost matching), so
//! cluster 3 stays cluster 3 while the population drifts.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use lifecycle_models::kmeans::{KMeansParams, choose_k, match_labels};
use lifecycle_models::scale::Scaler;
use lifecycle_models::{FORMAT_VERSION, ModelError, SegmentModel, profile};
use lifecycle_spec::ValidJobSpec;
use serde_json::json;

use crate::frame::{check_columns, collect};
use crate::{Result, RunError};

/// What the step produced.
pub(crate) struct Clusters {
    /// `user_clusters`: user_id, cluster, cluster_name, distance.
    pub assignments: RecordBatch,
    /// `cluster_profiles`: one row per cluster.
    pub profiles: RecordBatch,
    pub model: SegmentModel,
    pub report: serde_json::Value,
}

fn fit_error(source: ModelError) -> RunError {
    RunError::Fit {
        model: "segmentation",
        source,
    }
}

pub(crate) async fn clusters(
    ctx: &SessionContext,
    spec: &ValidJobSpec,
    previous: Option<SegmentModel>,
) -> Result<Clusters> {
    let s = spec.segmentation.clone();
    let schema = ctx
        .table("user_features")
        .await
        .map_err(RunError::engine("segmentation"))?
        .schema()
        .as_arrow()
        .clone();
    check_columns(&schema, &s.features, "segmentation.features")?;
    let frame = collect(
        ctx,
        "segmentation",
        "SELECT * FROM user_features ORDER BY user_id",
        &s.features,
        None,
    )
    .await?;
    let n = frame.x.rows;
    let fitted = tokio::task::spawn_blocking(move || -> Result<_> {
        let scaler = Scaler::fit(&frame.x, &s.features).map_err(fit_error)?;
        let z = scaler.transform(&frame.x).map_err(fit_error)?;
        let params = KMeansParams {
            k: s.k.unwrap_or(2),
            max_iterations: s.max_iterations,
            n_init: s.n_init,
            seed: s.seed,
            ..Default::default()
        };
        let (mut kmeans, choice) = match s.k {
            Some(_) => (params.fit(&z).map_err(fit_error)?, None),
            None => {
                let [lo, hi] = s.k_range;
                let hi = hi.min(n.saturating_sub(1)).max(lo);
                let (m, c) =
                    choose_k(&z, lo..=hi, &params, s.silhouette_sample).map_err(fit_error)?;
                (m, Some(c))
            }
        };
        // Keep the previous run's numbers when it clustered the same features.
        let matching = match &previous {
            Some(prev) if prev.feature_names == s.features => {
                let prev_centroids = scaler.transform(&prev.raw_centroids()).map_err(fit_error)?;
                let labels = match_labels(&prev_centroids, &kmeans.centroids);
                kmeans = kmeans.relabel(&labels);
                json!({"method": "matched to the previous run's centroids", "relabelled": labels})
            }
            Some(_) => json!({"method": "none: the previous run clustered other features"}),
            None => json!({"method": "none: no previous segmentation"}),
        };
        let names = profile::cluster_names(&s.features, &kmeans.centroids);
        let assigned: Vec<(usize, f64)> =
            (0..z.rows).map(|i| kmeans.predict_one(z.row(i))).collect();
        let model = SegmentModel {
            format_version: FORMAT_VERSION,
            trained_by: env!("CARGO_PKG_VERSION").to_string(),
            feature_names: s.features.clone(),
            scaler,
            kmeans,
            names,
            choice,
        };
        Ok((frame, model, assigned, matching))
    })
    .await
    .expect("the segmentation fit does not panic")?;
    let (frame, model, assigned, matching) = fitted;
    let k = model.kmeans.centroids.rows;

    let assignments = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("cluster", DataType::Int32, false),
            Field::new("cluster_name", DataType::Utf8, false),
            Field::new("distance", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(&frame.ids)),
            Arc::new(Int32Array::from_iter_values(
                assigned.iter().map(|(c, _)| *c as i32),
            )),
            Arc::new(StringArray::from_iter_values(
                assigned.iter().map(|(c, _)| model.names[*c].as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(
                assigned.iter().map(|(_, d)| *d),
            )),
        ],
    )
    .expect("columns match the schema");

    // Profiles: size and the mean of each raw feature (missing values skipped).
    let mut users = vec![0i64; k];
    let mut sums = vec![vec![(0.0, 0u64); model.feature_names.len()]; k];
    for (i, (c, _)) in assigned.iter().enumerate() {
        users[*c] += 1;
        for (j, v) in frame.x.row(i).iter().enumerate() {
            if !v.is_nan() {
                sums[*c][j].0 += v;
                sums[*c][j].1 += 1;
            }
        }
    }
    let mut fields = vec![
        Field::new("cluster", DataType::Int32, false),
        Field::new("cluster_name", DataType::Utf8, false),
        Field::new("users", DataType::Int64, false),
        Field::new("share", DataType::Float64, false),
    ];
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Int32Array::from_iter_values(0..k as i32)),
        Arc::new(StringArray::from_iter_values(&model.names)),
        Arc::new(Int64Array::from(users.clone())),
        Arc::new(Float64Array::from_iter_values(
            users.iter().map(|u| *u as f64 / n.max(1) as f64),
        )),
    ];
    for (j, f) in model.feature_names.iter().enumerate() {
        fields.push(Field::new(format!("mean_{f}"), DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from_iter(
            sums.iter()
                .map(|s| (s[j].1 > 0).then(|| s[j].0 / s[j].1 as f64)),
        )));
    }
    let profiles = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("columns match the schema");

    let report = json!({
        "users": n,
        "k": k,
        "features": model.feature_names,
        "scaling": model.scaler.columns.iter().map(|c| json!({"feature": c.name, "log1p": c.log1p})).collect::<Vec<_>>(),
        "k_choice": model.choice,
        "inertia": model.kmeans.inertia,
        "iterations": model.kmeans.iterations,
        "label_matching": matching,
        "clusters": (0..k).map(|c| json!({"cluster": c, "name": model.names[c], "users": users[c]})).collect::<Vec<_>>(),
    });
    Ok(Clusters {
        assignments,
        profiles,
        model,
        report,
    })
}
