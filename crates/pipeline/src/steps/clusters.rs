//! Segmentation: K-means on the chosen `user_features` columns of every user, standardised
//! (skewed columns through `log1p` first: see `lifecycle_models::scale`), with cluster numbers
//! kept from the previous run (`lifecycle_models::kmeans::match_labels`).
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
use lifecycle_features::sql::{self, views};
use lifecycle_models::kmeans::{KMeansParams, choose_k, match_labels};
use lifecycle_models::scale::Scaler;
use lifecycle_models::{FORMAT_VERSION, Matrix, ModelError, SegmentModel, profile};
use lifecycle_spec::SegmentationSettings;

use super::{Run, StepInfo};
use crate::frame::{Frame, check_columns, collect};
use crate::manifest::SegmentationReport;
use crate::query::Query;
use crate::reports::{ClusterSummary, FeatureScaling, LabelMatching};
use crate::tables::Table;
use crate::{Result, RunError};

pub(crate) const STEP: StepInfo = StepInfo {
    name: "segmentation",
    from_rollup: false,
    reads: &[views::USER_FEATURES],
    writes: &[Table::UserClusters, Table::ClusterProfiles],
};

/// A fitted segmentation and each user's (cluster, distance).
struct Fitted {
    model: SegmentModel,
    assigned: Vec<(usize, f64)>,
    matching: LabelMatching,
}

/// Fits, writes `user_clusters` and `cluster_profiles`, saves the model.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let s = run.spec.segmentation.clone();
    let q = Query::new(&run.ctx, "segmentation");
    let schema = q.schema(views::USER_FEATURES).await?;
    check_columns(&schema, &s.features, "segmentation.features")?;
    if !run.out.publishes() {
        return Ok(None);
    }
    let previous = crate::previous::segmentation(&run.stores, run.previous.as_ref()).await;
    let frame = collect(q, &sql::by_user(views::USER_FEATURES), &s.features, None).await?;
    // The frame goes to the blocking thread and comes back: one copy of the matrix.
    let work = move || fit(&s, &frame.x, previous).map(|f| (frame, f));
    let (frame, fitted) = super::blocking("segmentation", work).await??;
    let rows = run
        .out
        .batch(Table::UserClusters, assignments(&frame, &fitted))
        .await?;
    run.out
        .batch(Table::ClusterProfiles, profiles(&frame, &fitted))
        .await?;
    let artifact = run
        .out
        .artifact("segmentation", fitted.model.to_json())
        .await?;
    run.models.segmentation = Some(report(&fitted, frame.x.rows, artifact));
    Ok(Some(rows))
}

fn fit(s: &SegmentationSettings, x: &Matrix, previous: Option<SegmentModel>) -> Result<Fitted> {
    let err = RunError::model::<ModelError>;
    let scaler = Scaler::fit(x, &s.features).map_err(err("segmentation"))?;
    let z = scaler.transform(x).map_err(err("segmentation"))?;
    let params = KMeansParams {
        k: s.k.unwrap_or(2),
        max_iterations: s.max_iterations,
        n_init: s.n_init,
        seed: s.seed,
        ..Default::default()
    };
    let (mut kmeans, choice) = match s.k {
        Some(_) => (params.fit(&z).map_err(err("segmentation"))?, None),
        None => {
            let [lo, hi] = s.k_range;
            let hi = hi.min(x.rows.saturating_sub(1)).max(lo);
            let sample = s.silhouette_sample;
            let (m, c) = choose_k(&z, lo..=hi, &params, sample).map_err(err("segmentation"))?;
            (m, Some(c))
        }
    };
    // Keep the previous run's numbers when it clustered the same features.
    let method = |m: &str| LabelMatching {
        method: m.to_string(),
        relabelled: None,
    };
    let matching = match &previous {
        Some(prev) if prev.feature_names == s.features => {
            let prev_centroids = scaler
                .transform(&prev.raw_centroids())
                .map_err(err("segmentation"))?;
            let labels = match_labels(&prev_centroids, &kmeans.centroids);
            kmeans = kmeans.relabel(&labels);
            LabelMatching {
                relabelled: Some(labels),
                ..method("matched to the previous run's centroids")
            }
        }
        Some(_) => method("none: the previous run clustered other features"),
        None => method("none: no previous segmentation"),
    };
    let names = profile::cluster_names(&s.features, &kmeans.centroids);
    let assigned = (0..z.rows).map(|i| kmeans.predict_one(z.row(i))).collect();
    let model = SegmentModel {
        format_version: FORMAT_VERSION,
        trained_by: env!("CARGO_PKG_VERSION").to_string(),
        feature_names: s.features.clone(),
        scaler,
        kmeans,
        names,
        choice,
    };
    Ok(Fitted {
        model,
        assigned,
        matching,
    })
}

/// `user_clusters`: user_id, cluster, cluster_name, distance.
fn assignments(frame: &Frame, f: &Fitted) -> RecordBatch {
    let a = &f.assigned;
    let names = a.iter().map(|(c, _)| f.model.names[*c].as_str());
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("cluster", DataType::Int32, false),
            Field::new("cluster_name", DataType::Utf8, false),
            Field::new("distance", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(&frame.ids)),
            Arc::new(Int32Array::from_iter_values(
                a.iter().map(|(c, _)| *c as i32),
            )),
            Arc::new(StringArray::from_iter_values(names)),
            Arc::new(Float64Array::from_iter_values(a.iter().map(|(_, d)| *d))),
        ],
    )
    .expect("columns match the schema")
}

/// Users per cluster.
fn sizes(f: &Fitted) -> Vec<i64> {
    let mut users = vec![0i64; f.model.kmeans.centroids.rows];
    f.assigned.iter().for_each(|(c, _)| users[*c] += 1);
    users
}

/// `cluster_profiles`: size and the mean of each raw feature (missing values skipped).
fn profiles(frame: &Frame, f: &Fitted) -> RecordBatch {
    let (k, n) = (f.model.kmeans.centroids.rows, frame.x.rows);
    let users = sizes(f);
    let mut sums = vec![vec![(0.0, 0u64); f.model.feature_names.len()]; k];
    for (i, (c, _)) in f.assigned.iter().enumerate() {
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
    let share = users.iter().map(|u| *u as f64 / n.max(1) as f64);
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Int32Array::from_iter_values(0..k as i32)),
        Arc::new(StringArray::from_iter_values(&f.model.names)),
        Arc::new(Int64Array::from(users.clone())),
        Arc::new(Float64Array::from_iter_values(share)),
    ];
    for (j, name) in f.model.feature_names.iter().enumerate() {
        fields.push(Field::new(format!("mean_{name}"), DataType::Float64, true));
        let means = sums
            .iter()
            .map(|s| (s[j].1 > 0).then(|| s[j].0 / s[j].1 as f64));
        columns.push(Arc::new(Float64Array::from_iter(means)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the schema")
}

fn report(f: &Fitted, users: usize, artifact: String) -> SegmentationReport {
    let m = &f.model;
    let sizes = sizes(f);
    SegmentationReport {
        users,
        k: m.kmeans.centroids.rows,
        features: m.feature_names.clone(),
        scaling: m
            .scaler
            .columns
            .iter()
            .map(|c| FeatureScaling {
                feature: c.name.clone(),
                log1p: c.log1p,
            })
            .collect(),
        k_choice: m.choice.clone(),
        inertia: m.kmeans.inertia,
        iterations: m.kmeans.iterations,
        label_matching: f.matching.clone(),
        clusters: (0..sizes.len())
            .map(|c| ClusterSummary {
                cluster: c,
                name: m.names[c].clone(),
                users: sizes[c],
            })
            .collect(),
        artifact,
    }
}
