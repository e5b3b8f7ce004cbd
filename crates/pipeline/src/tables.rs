//! The tables a run publishes: one registry of their names, one-line docs and never-null
//! columns, used by the writers, `inspect`, the schema tests and the docs' table list.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};

/// A published table. [`Table::name`] is its folder under the output location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Quarantine,
    UserDaily,
    UserHistory,
    UserItemsDaily,
    UserPeriods,
    UserFeatures,
    UserSegments,
    StageTransitions,
    StageForecast,
    CohortRetention,
    Funnel,
    CustomerValue,
    UserClusters,
    ClusterProfiles,
    ChurnScores,
    ModelMetrics,
    ChurnCurves,
    ChurnTraining,
    Recommendations,
    RecommendationMetrics,
    ItemNeighbours,
    RecommendationTrain,
    RecommendationTest,
    Monitoring,
    UserProfile,
    AudienceMembers,
    AudienceSuppressions,
    AudienceChanges,
    Assignments,
    ExperimentResults,
    UpliftScores,
    ContactPlan,
}

/// The staged tables of events for the later steps, written to the run's folder and never
/// published: the good rows that can be duplicates, grouped (`quality::Distinct`), and the clean
/// events of a text (CSV) log or a cluster run (see `steps::ingest`).
pub(crate) const GROUPED_EVENTS: &str = "_events_grouped";
pub(crate) const CLEAN_EVENTS: &str = "_events_clean";

impl Table {
    /// Every table, in the order a run writes them.
    pub const ALL: [Table; 32] = [
        Table::Quarantine,
        Table::UserDaily,
        Table::UserHistory,
        Table::UserItemsDaily,
        Table::UserPeriods,
        Table::UserFeatures,
        Table::UserSegments,
        Table::StageTransitions,
        Table::StageForecast,
        Table::CohortRetention,
        Table::Funnel,
        Table::CustomerValue,
        Table::UserClusters,
        Table::ClusterProfiles,
        Table::ChurnScores,
        Table::ModelMetrics,
        Table::ChurnCurves,
        Table::ChurnTraining,
        Table::Recommendations,
        Table::RecommendationMetrics,
        Table::ItemNeighbours,
        Table::RecommendationTrain,
        Table::RecommendationTest,
        Table::Monitoring,
        Table::UserProfile,
        Table::AudienceMembers,
        Table::AudienceSuppressions,
        Table::AudienceChanges,
        Table::Assignments,
        Table::ExperimentResults,
        Table::UpliftScores,
        Table::ContactPlan,
    ];

    /// The table's name: its folder, and its key in the manifest's `outputs`.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    /// What one row is, in a line (the docs' table list).
    pub fn doc(self) -> &'static str {
        self.info().1
    }

    /// The table of a name, if it is one.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Columns written as not null. Every other column of a table computed in SQL is declared
    /// nullable, so a published schema depends on the spec only, never on the input files.
    pub fn not_null(self) -> &'static [&'static str] {
        match self {
            Table::Quarantine => &["rule", "copies"],
            Table::UserFeatures => &["user_id"],
            Table::UserSegments => &["user_id", "stage"],
            Table::StageTransitions => &["suppressed"],
            Table::CohortRetention => &["cohort", "period", "partial", "suppressed"],
            Table::UserProfile => &["user_id", "stage", "audiences"],
            Table::Funnel => &["funnel", "step", "event_type", "suppressed"],
            Table::ClusterProfiles => &["cluster", "cluster_name", "suppressed"],
            Table::StageForecast => &["stage", "periods_ahead", "period_days", "users", "share"],
            Table::Monitoring => &["table", "column", "metric", "flagged"],
            Table::ChurnCurves => &["model", "split", "curve", "point", "x", "y", "rows"],
            _ => &[],
        }
    }

    /// How an aggregate table's small cells are suppressed (`[privacy] min_cell_size`).
    pub(crate) fn cells(self) -> Option<crate::cells::CellRule> {
        use crate::cells::{CellRule, Numbers};
        Some(match self {
            Table::StageTransitions => CellRule {
                counts: &["users"],
                numbers: Numbers::Only(&["users"]),
            },
            // A cohort's row is its retained users in one period, out of the cohort's users.
            Table::CohortRetention => CellRule {
                counts: &["users", "retained"],
                numbers: Numbers::Only(&["users", "retained", "rate", "revenue_per_user"]),
            },
            Table::Funnel => CellRule {
                counts: &["users"],
                numbers: Numbers::AllBut(&["funnel", "step", "event_type"]),
            },
            Table::ClusterProfiles => CellRule {
                counts: &["users"],
                numbers: Numbers::AllBut(&["cluster", "cluster_name"]),
            },
            _ => return None,
        })
    }

    fn info(self) -> (&'static str, &'static str) {
        match self {
            Table::Quarantine => ("quarantine", "an input row that broke a data-quality rule"),
            Table::UserDaily => (
                "user_daily",
                "a user's events of one type on one day (`[incremental]` rollup)",
            ),
            Table::UserHistory => (
                "user_history",
                "a user's events of one type before the rollup's daily days (`[incremental]`)",
            ),
            Table::UserItemsDaily => (
                "user_items_daily",
                "an item a user had an event with on one day (`[incremental]` rollup)",
            ),
            Table::UserPeriods => (
                "user_periods",
                "a user's events of one type in one cohort period, before the rollup's daily days (`[incremental]`)",
            ),
            Table::UserFeatures => ("user_features", "a user's point-in-time features"),
            Table::UserSegments => ("user_segments", "a user's lifecycle stage and RFM segment"),
            Table::StageTransitions => (
                "stage_transitions",
                "users moving from one stage to another since the previous run",
            ),
            Table::StageForecast => (
                "stage_forecast",
                "the expected users in a stage some periods ahead (Markov chain of transitions)",
            ),
            Table::CohortRetention => (
                "cohort_retention",
                "a cohort's retention and revenue per member in one period since its first",
            ),
            Table::Funnel => (
                "funnel",
                "a funnel step: users who reached it in order, conversions, median time",
            ),
            Table::CustomerValue => (
                "customer_value",
                "a purchaser's P(alive), expected purchases and discounted CLV",
            ),
            Table::UserClusters => ("user_clusters", "a user's K-means cluster"),
            Table::ClusterProfiles => ("cluster_profiles", "a cluster's size and feature means"),
            Table::ChurnScores => (
                "churn_scores",
                "an active user's churn probability, risk decile and drivers",
            ),
            Table::ModelMetrics => (
                "model_metrics",
                "a churn model's metric on the validation or test date",
            ),
            Table::ChurnCurves => (
                "churn_curves",
                "a point of the selected churn model's ROC, calibration or lift curve on the test date",
            ),
            Table::ChurnTraining => (
                "churn_training",
                "a labelled training row of the churn model (with `export_training`)",
            ),
            Table::Recommendations => ("recommendations", "one ranked item for a user"),
            Table::RecommendationMetrics => (
                "recommendation_metrics",
                "a recommender's ranking metric on the time split",
            ),
            Table::ItemNeighbours => (
                "item_neighbours",
                "an item's nearest neighbour (with `write_neighbours`)",
            ),
            Table::RecommendationTrain => (
                "recommendation_train",
                "a training interaction of the evaluation split (with `export_split`)",
            ),
            Table::RecommendationTest => (
                "recommendation_test",
                "a held-out interaction of the evaluation split (with `export_split`)",
            ),
            Table::Monitoring => (
                "monitoring",
                "a column's drift against the previous run (PSI, mean, nulls, shares, rows)",
            ),
            Table::UserProfile => (
                "user_profile",
                "a user's stage, scores, allowed attributes, consent and audiences",
            ),
            Table::AudienceMembers => (
                "audience_members",
                "a user to contact for an audience, on its channel, and why",
            ),
            Table::AudienceSuppressions => (
                "audience_suppressions",
                "a user an audience's rule matched but who is not contacted, and why",
            ),
            Table::AudienceChanges => (
                "audience_changes",
                "a user who entered or exited an audience since the previous run",
            ),
            Table::Assignments => (
                "assignments",
                "a user's arm in an experiment, kept from the run that first assigned it",
            ),
            Table::ExperimentResults => (
                "experiment_results",
                "an arm and metric of an experiment: users, means, lift against the control",
            ),
            Table::UpliftScores => (
                "uplift_scores",
                "a user's predicted uplift under one uplift model",
            ),
            Table::ContactPlan => (
                "contact_plan",
                "an audience member's expected incremental value and whether to send",
            ),
        }
    }

    /// `schema` with this table's nullability ([`Table::not_null`]) and no field metadata.
    pub(crate) fn stable_schema(self, schema: &SchemaRef) -> SchemaRef {
        stable_schema(schema, self.not_null())
    }
}

/// `schema` with every column nullable but `not_null`, and no field metadata.
pub(crate) fn stable_schema(schema: &SchemaRef, not_null: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let nullable = !not_null.contains(&f.name().as_str());
            f.as_ref()
                .clone()
                .with_nullable(nullable)
                .with_metadata(Default::default())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
            assert!(!t.doc().is_empty());
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Table::ALL.len());
        assert_eq!(Table::from_name("run_manifest"), None);
    }

    #[test]
    fn the_docs_list_every_table_with_its_doc() {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
        let path = std::path::Path::new(&dir).join("../../docs/outputs.md");
        let docs = std::fs::read_to_string(&path).unwrap();
        for t in Table::ALL {
            let line = format!("| `{}` | {} |", t.name(), t.doc());
            assert!(
                docs.contains(&line),
                "{} lacks the line {line}",
                path.display()
            );
        }
    }
}
