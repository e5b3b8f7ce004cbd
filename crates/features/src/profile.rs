//! `user_profile`: one row per user of `user_segments`, everything a campaign needs in one
//! place: stage and RFM, a few features, the enabled models' outputs, the allowed user
//! attributes and whether each channel may be used. Its columns follow from the spec
//! (`lifecycle_spec::profile_columns`); `audiences` is added by the audience step.

use lifecycle_spec::{ConsentDefault, ProfileShape};

use crate::consent::CONSENT_STATE;
use crate::sql::{ident, lit};

/// A model table the profile reads, registered under [`Part::view`] either from the file the
/// run wrote ([`Part::from_file_sql`]) or, when the model wrote nothing (planning, or scores
/// withheld by a quality gate), as typed empty rows ([`Part::empty_sql`]): the profile's
/// columns are then null, never absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    Clusters,
    Churn,
    /// CLV at the given horizon (days).
    Value(u32),
    Recommendations,
}

impl Part {
    /// The name the profile reads it under.
    pub fn view(self) -> &'static str {
        match self {
            Part::Clusters => "profile_clusters",
            Part::Churn => "profile_churn",
            Part::Value(_) => "profile_value",
            Part::Recommendations => "profile_recommendations",
        }
    }

    /// The columns read, besides `user_id`, with their SQL types.
    fn columns(self) -> Vec<(String, &'static str)> {
        let v = |n: &str, t| (n.to_string(), t);
        match self {
            Part::Clusters => vec![v("cluster", "INT"), v("cluster_name", "VARCHAR")],
            Part::Churn => vec![v("churn_probability", "DOUBLE"), v("risk_decile", "INT")],
            Part::Value(h) => vec![v("p_alive", "DOUBLE"), (format!("clv_{h}d"), "DOUBLE")],
            Part::Recommendations => vec![v("rank", "INT"), v("item_id", "VARCHAR")],
        }
    }

    /// The part's columns from `table` (the written file, registered).
    pub fn from_file_sql(self, table: &str) -> String {
        let cols: Vec<String> = self.columns().iter().map(|(c, _)| ident(c)).collect();
        format!("SELECT user_id, {} FROM {}", cols.join(", "), ident(table))
    }

    /// No rows, with the part's columns and types.
    pub fn empty_sql(self) -> String {
        let cols: Vec<String> = self
            .columns()
            .iter()
            .map(|(c, t)| format!("CAST(NULL AS {t}) AS {}", ident(c)))
            .collect();
        format!(
            "SELECT CAST(NULL AS VARCHAR) AS user_id, {} WHERE false",
            cols.join(", ")
        )
    }

    /// The parts a spec's shape reads.
    pub fn of(shape: &ProfileShape<'_>) -> Vec<Part> {
        let mut parts = vec![];
        shape.segmentation.then(|| parts.push(Part::Clusters));
        shape.churn.then(|| parts.push(Part::Churn));
        if let Some(h) = shape.clv_horizon {
            parts.push(Part::Value(h));
        }
        shape
            .recommendations
            .then(|| parts.push(Part::Recommendations));
        parts
    }
}

/// How many recommended items the profile keeps.
pub const PROFILE_ITEMS: usize = 3;

/// The profile's SELECT; `consent` is the consent table's default when there is one (its
/// `consent_state` view registered), `None` when every user may be contacted.
pub fn user_profile_sql(shape: &ProfileShape<'_>, consent: Option<ConsentDefault>) -> String {
    let mut cols: Vec<String> = [
        "s.user_id",
        "s.stage",
        "s.recency_score",
        "s.frequency_score",
        "s.monetary_score",
        "s.rfm_segment",
        "f.recency_days",
        "f.tenure_days",
        "f.purchases_total",
        "f.revenue_total",
    ]
    .map(String::from)
    .to_vec();
    let mut joins = vec!["LEFT JOIN user_features f ON f.user_id = s.user_id".to_string()];
    for (i, part) in Part::of(shape).into_iter().enumerate() {
        let alias = format!("p{i}");
        let (select, source) = part_join(part, &alias);
        cols.extend(select);
        joins.push(format!(
            "LEFT JOIN {source} {alias} ON {alias}.user_id = s.user_id"
        ));
    }
    if !shape.attributes.is_empty() {
        let firsts: Vec<String> = shape
            .attributes
            .iter()
            .map(|a| format!("max({0}) AS {0}", ident(a)))
            .collect();
        joins.push(format!(
            "LEFT JOIN (SELECT user_id, {} FROM users_mapped GROUP BY user_id) a \
             ON a.user_id = s.user_id",
            firsts.join(", ")
        ));
        cols.extend(shape.attributes.iter().map(|a| format!("a.{}", ident(a))));
    }
    if let (Some(default), false) = (consent, shape.channels.is_empty()) {
        joins.push(consent_join(shape.channels));
        let default = default == ConsentDefault::Allow;
        cols.extend(shape.channels.iter().map(|c| {
            format!(
                "CASE WHEN k.every_channel = false THEN false ELSE coalesce(k.{}, {default}) END \
                 AS {}",
                ident(&format!("ch_{c}")),
                ident(&format!("contactable_{c}"))
            )
        }));
    } else {
        cols.extend(
            shape
                .channels
                .iter()
                .map(|c| format!("true AS {}", ident(&format!("contactable_{c}")))),
        );
    }
    format!(
        "SELECT {} FROM user_segments s {} ORDER BY s.user_id",
        cols.join(", "),
        joins.join(" ")
    )
}

/// The profile columns of a part (qualified by `alias`) and what to join.
fn part_join(part: Part, alias: &str) -> (Vec<String>, String) {
    match part {
        Part::Recommendations => (
            vec![format!("{alias}.recommended_items")],
            format!(
                "(SELECT user_id, array_agg(item_id ORDER BY rank) AS recommended_items \
                 FROM {} WHERE rank <= {PROFILE_ITEMS} GROUP BY user_id)",
                part.view()
            ),
        ),
        _ => (
            part.columns()
                .iter()
                .map(|(c, _)| format!("{alias}.{}", ident(c)))
                .collect(),
            part.view().to_string(),
        ),
    }
}

/// Per user, the consent of each channel (`ch_<channel>`) and `every_channel` (false when an
/// unreadable row without a channel denies them all).
fn consent_join(channels: &[String]) -> String {
    let per: Vec<String> = channels
        .iter()
        .map(|c| {
            format!(
                "bool_and(allowed) FILTER (WHERE channel = {}) AS {}",
                lit(c),
                ident(&format!("ch_{c}"))
            )
        })
        .collect();
    format!(
        "LEFT JOIN (SELECT user_id, {}, bool_and(allowed) FILTER (WHERE channel IS NULL) \
         AS every_channel FROM {CONSENT_STATE} GROUP BY user_id) k ON k.user_id = s.user_id",
        per.join(", ")
    )
}
