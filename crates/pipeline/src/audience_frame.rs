//! The audience step's one read of the profile: per user, each rule's match and ranking value,
//! the consent and the sends of each channel, and the values the rules read (for `reason`).

use std::collections::BTreeSet;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use lifecycle_features::sql::{ident, lit};
use lifecycle_spec::ValidJobSpec;

use crate::query::Query;
use crate::{Result, RunError};

/// The profile's staged copy, which the rules are evaluated on.
pub(crate) const PROFILE_BASE: &str = "profile_base";

/// Every profile user, in `user_id` order, with what selection needs.
pub(crate) struct AudienceFrame {
    pub user_ids: Vec<String>,
    /// Per audience, per user: did the rule hold?
    pub matched: Vec<Vec<bool>>,
    /// Per audience, per user: the `order_by` value (None: null, or no `order_by`).
    pub order: Vec<Vec<Option<f64>>>,
    /// Per channel (the spec's order), per user.
    pub contactable: Vec<Vec<bool>>,
    /// Per channel, per user: sends within the channel cap's window.
    pub sent: Vec<Vec<u32>>,
    /// The columns the rules read, by name, for reasons.
    reasons: RecordBatch,
}

/// The evaluation query: one row per profile user.
pub(crate) fn frame_sql(spec: &ValidJobSpec) -> String {
    let act = &spec.activation;
    let mut cols = vec!["b.user_id".to_string()];
    for (i, a) in act.audiences.iter().enumerate() {
        cols.push(format!("coalesce(({}), false) AS m{i}", a.spec.when));
        let order = a.spec.order_by.as_deref().unwrap_or("NULL");
        cols.push(format!("CAST(({order}) AS DOUBLE) AS o{i}"));
    }
    for c in &act.channels {
        cols.push(format!(
            "coalesce(b.{}, false)",
            ident(&format!("contactable_{c}"))
        ));
    }
    let mut joins = String::new();
    let capped: Vec<&String> = act.caps.keys().collect();
    if act.contacts.is_some() && !capped.is_empty() {
        let sums: Vec<String> = capped
            .iter()
            .map(|c| {
                format!(
                    "sum(sent) FILTER (WHERE channel = {}) AS {}",
                    lit(c),
                    ident(&format!("sent_{c}"))
                )
            })
            .collect();
        joins = format!(
            " LEFT JOIN (SELECT user_id, {} FROM {} GROUP BY user_id) w ON w.user_id = b.user_id",
            sums.join(", "),
            lifecycle_features::consent::CONTACTS_IN_WINDOW
        );
    }
    for c in &act.channels {
        match joins.is_empty() || !act.caps.contains_key(c) {
            true => cols.push("CAST(0 AS BIGINT)".into()),
            false => cols.push(format!("coalesce(w.{}, 0)", ident(&format!("sent_{c}")))),
        }
    }
    for name in reason_columns(spec) {
        cols.push(format!("b.{}", ident(&name)));
    }
    format!(
        "SELECT {} FROM {PROFILE_BASE} b{joins} ORDER BY b.user_id",
        cols.join(", ")
    )
}

/// Boolean column `i`, null as false.
fn flags(b: &RecordBatch, i: usize) -> Vec<bool> {
    let a = b.column(i).as_boolean();
    (0..a.len()).map(|k| a.is_valid(k) && a.value(k)).collect()
}

/// Double column `i`.
fn numbers(b: &RecordBatch, i: usize) -> Vec<Option<f64>> {
    let a = b.column(i).as_primitive::<Float64Type>();
    (0..a.len())
        .map(|k| a.is_valid(k).then(|| a.value(k)))
        .collect()
}

/// Integer column `i` as counts (null as 0).
fn counts(
    b: &RecordBatch,
    i: usize,
) -> std::result::Result<Vec<u32>, datafusion::arrow::error::ArrowError> {
    let a = cast(b.column(i), &DataType::Int64)?;
    let a = a.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|k| a.value(k).clamp(0, u32::MAX as i64) as u32)
        .collect())
}

/// Every column some rule reads, once.
fn reason_columns(spec: &ValidJobSpec) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let all = spec
        .activation
        .audiences
        .iter()
        .flat_map(|a| &a.when_columns);
    all.filter(|c| seen.insert(c.as_str())).cloned().collect()
}

impl AudienceFrame {
    /// Runs [`frame_sql`] and splits its columns (in the order `frame_sql` lists them).
    pub async fn read(q: Query<'_>, spec: &ValidJobSpec) -> Result<AudienceFrame> {
        let df = q.plan(&frame_sql(spec)).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await.map_err(RunError::engine(q.step))?;
        let engine = |e: datafusion::arrow::error::ArrowError| RunError::engine(q.step)(e.into());
        let all = concat_batches(&std::sync::Arc::new(schema), &batches).map_err(engine)?;
        let act = &spec.activation;
        let (audiences, channels) = (act.audiences.len(), act.channels.len());
        let first_channel = 1 + 2 * audiences;
        let first_reason = first_channel + 2 * channels;
        let sent = (0..channels)
            .map(|c| counts(&all, first_channel + channels + c).map_err(engine))
            .collect::<Result<Vec<Vec<u32>>>>()?;
        let reasons = all
            .project(&(first_reason..all.num_columns()).collect::<Vec<_>>())
            .map_err(engine)?;
        Ok(AudienceFrame {
            user_ids: q
                .texts(&all, 0)?
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
            matched: (0..audiences).map(|a| flags(&all, 1 + 2 * a)).collect(),
            order: (0..audiences).map(|a| numbers(&all, 2 + 2 * a)).collect(),
            contactable: (0..channels)
                .map(|c| flags(&all, first_channel + c))
                .collect(),
            sent,
            reasons,
        })
    }

    /// The users audience `a` matched, best first: highest `order_by`, nulls last, then by id.
    pub fn ranked(&self, a: usize) -> Vec<u32> {
        let mut users: Vec<u32> = (0..self.user_ids.len() as u32)
            .filter(|&u| self.matched[a][u as usize])
            .collect();
        let key = |u: &u32| self.order[a][*u as usize];
        users.sort_by(|x, y| match (key(x), key(y)) {
            (Some(p), Some(q)) => q.total_cmp(&p),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }); // stable: ties stay in user_id order
        users
    }

    /// "`description`: col=value, ..." for user `u`, over the columns `columns`.
    pub fn reason(&self, description: &str, columns: &[String], u: usize) -> String {
        let values: Vec<String> = columns
            .iter()
            .map(|c| format!("{c}={}", self.value(c, u)))
            .collect();
        match values.is_empty() {
            true => description.to_string(),
            false => format!("{description}: {}", values.join(", ")),
        }
    }

    fn value(&self, column: &str, u: usize) -> String {
        let Some(a) = self.reasons.column_by_name(column) else {
            return "?".into();
        };
        if a.is_null(u) {
            return "null".into();
        }
        if let Some(f) = a.as_primitive_opt::<Float64Type>() {
            let v = format!("{:.2}", f.value(u));
            return v.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        let opts = FormatOptions::default();
        ArrayFormatter::try_new(a.as_ref(), &opts)
            .map(|f| f.value(u).to_string())
            .unwrap_or_else(|_| "?".into())
    }
}
