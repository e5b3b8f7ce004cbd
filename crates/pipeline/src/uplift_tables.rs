//! `uplift_scores` as an Arrow table: each scored user's predicted uplift under each model.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

/// Rows of `uplift_scores` as they are gathered: model by model, users in order.
#[derive(Debug, Default)]
pub(crate) struct ScoresTable {
    models: Vec<String>,
    users: Vec<String>,
    uplift: Vec<f64>,
}

impl ScoresTable {
    /// Adds `model`'s scores of `users`.
    pub fn push(&mut self, model: &str, users: &[String], scores: &[f64]) {
        self.models.extend(users.iter().map(|_| model.to_string()));
        self.users.extend(users.iter().cloned());
        self.uplift.extend(scores);
    }

    /// `uplift_scores`: user_id, model, uplift (by model, then user).
    pub fn batch(self) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("uplift", DataType::Float64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(self.users)),
                Arc::new(StringArray::from(self.models)),
                Arc::new(Float64Array::from(self.uplift)),
            ],
        )
        .expect("columns fit their schema")
    }
}
