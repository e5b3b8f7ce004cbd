//! Models on the per-user feature matrix: K-means segments ([`kmeans`]), churn classifiers
//! ([`logistic`], [`gbdt`]) trained and chosen on a time split ([`churn`]), probability
//! calibration ([`calibrate`], [`isotonic`], chosen by [`calibration`]), evaluation metrics
//! ([`metrics`]) and their curves ([`curves`]) and the saved models ([`ChurnModel`], [`SegmentModel`]); beside them, drift
//! between two runs ([`drift`]) and the stage forecast ([`markov`]).
//!
//! Everything works on a dense row-major [`Matrix`] of `f64` with `NaN` for a missing value,
//! gathered on one machine: one row per user is small next to the events the features came
//! from. Kernels are parallel with rayon. An algorithm is a `Params` struct whose `fit` returns
//! a model with `predict`; every random choice comes from a seed, so a fit is reproducible.
//!
//! ```
//! use lifecycle_models::{Matrix, kmeans::KMeansParams};
//! let x = Matrix::from_rows(&[vec![0.0, 0.0], vec![0.1, 0.0], vec![9.0, 9.0], vec![9.1, 9.0]]).unwrap();
//! let model = KMeansParams { k: 2, ..Default::default() }.fit(&x).unwrap();
//! let labels = model.predict(&x);
//! assert_eq!(labels[0], labels[1]);
//! assert_ne!(labels[0], labels[2]);
//! ```

mod artifacts;
pub mod calibrate;
pub mod calibration;
pub mod churn;
pub mod curves;
pub mod drift;
pub mod drivers;
mod error;
pub mod gbdt;
pub mod isotonic;
pub mod kmeans;
pub mod leaf_shap;
pub mod logistic;
pub mod markov;
mod matrix;
pub mod metrics;
pub mod profile;
pub mod scale;
pub mod tree_shap;
pub mod uplift;

pub use artifacts::{ChurnModel, Classifier, FORMAT_VERSION, SegmentModel};
pub use error::{ModelError, Result};
pub use matrix::Matrix;

pub(crate) use lifecycle_optim::fold_chunks;

/// A binary classifier's score of one row of features.
pub trait Scorer: Sync {
    /// The raw score (log-odds) of one row.
    fn decision(&self, row: &[f64]) -> f64;

    /// `P(y = 1)` for each row, uncalibrated.
    fn predict_proba(&self, x: &Matrix) -> Vec<f64> {
        use rayon::prelude::*;
        (0..x.rows)
            .into_par_iter()
            .map(|i| logistic::sigmoid(self.decision(x.row(i))))
            .collect()
    }
}
