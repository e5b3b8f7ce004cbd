//! `uplift_scores` and `contact_plan` as Arrow tables: each scored user's predicted uplift under
//! each model, and each audience member's place in the contact plan.

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

    pub fn rows(&self) -> usize {
        self.users.len()
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

/// What `contact_plan`'s rows are made of: the scored members, in input order.
pub(crate) struct PlanRows<'a> {
    pub audience: &'a str,
    pub ids: &'a [String],
    pub uplift: &'a [f64],
    pub clv: &'a [f64],
    pub cost: f64,
}

impl PlanRows<'_> {
    /// `contact_plan`: audience, user_id, rank, uplift, clv, cost, expected_value, send; by rank.
    pub fn batch(&self, planned: &[lifecycle_audiences::plan::Planned]) -> RecordBatch {
        use datafusion::arrow::array::{BooleanArray, UInt64Array};
        let number = |name: &str| Field::new(name, DataType::Float64, false);
        let schema = Schema::new(vec![
            Field::new("audience", DataType::Utf8, false),
            Field::new("user_id", DataType::Utf8, false),
            Field::new("rank", DataType::UInt64, false),
            number("uplift"),
            number("clv"),
            number("cost"),
            number("expected_value"),
            Field::new("send", DataType::Boolean, false),
        ]);
        let of = |f: &dyn Fn(usize) -> f64| -> Float64Array {
            Float64Array::from_iter_values(planned.iter().map(|p| f(p.member)))
        };
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    planned.iter().map(|_| self.audience),
                )),
                Arc::new(StringArray::from_iter_values(
                    planned.iter().map(|p| self.ids[p.member].as_str()),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    planned.iter().map(|p| p.rank as u64),
                )),
                Arc::new(of(&|i| self.uplift[i])),
                Arc::new(of(&|i| self.clv[i])),
                Arc::new(of(&|_| self.cost)),
                Arc::new(Float64Array::from_iter_values(
                    planned.iter().map(|p| p.value),
                )),
                Arc::new(BooleanArray::from_iter(
                    planned.iter().map(|p| Some(p.send)),
                )),
            ],
        )
        .expect("columns fit their schema")
    }
}
