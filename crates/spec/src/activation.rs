//! `[consent]`, `[contacts]`, `[holdout]`, `[caps.<channel>]` and `[[audiences]]`: turning the
//! run's scores into who is contacted, on which channel, and why. The audience rules are SQL
//! over `user_profile`, whose columns follow from the spec ([`profile_columns`]), so a rule that
//! names an unknown column is refused here, before any data is read.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use serde::{Deserialize, Deserializer, Serialize};
use sqlparser::ast::{Expr, visit_expressions};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::error::{Result, SpecError, check_days};
use crate::raw::SourceSpec;

/// `[consent]`: the consent table, read like `[users]`, and what a user with no row gets.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentSpec {
    #[serde(flatten)]
    pub source: SourceSpec,
    /// Whether a user without a consent row for a channel may be contacted on it.
    pub default: ConsentDefault,
}

/// What a user with no consent row for a channel gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentDefault {
    /// Contactable (opt-out regimes).
    #[default]
    Allow,
    /// Not contactable until they subscribe (GDPR-style opt-in).
    Deny,
}

impl<'de> Deserialize<'de> for ConsentSpec {
    /// A source table plus `default`: the source keys stay checked (unknown ones are errors).
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let default = match table.remove("default") {
            Some(v) => ConsentDefault::deserialize(v).map_err(D::Error::custom)?,
            None => ConsentDefault::default(),
        };
        let source =
            SourceSpec::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(ConsentSpec { source, default })
    }
}

/// `[holdout]`: the global holdout group, never contacted, so that every campaign can be
/// measured against it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoldoutSettings {
    /// The share of users held out, in [0, 1).
    pub share: f64,
    /// The hash seed (GrowthBook's hash version 2): the same seed holds out the same users.
    pub seed: String,
}

/// `[caps.<channel>]`: at most `max` contacts on the channel within `days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapSettings {
    pub max: u32,
    pub days: u32,
}

/// One `[[audiences]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceSpec {
    /// Lower case letters, digits, `_` and `-`: it names files of per-audience exports.
    pub name: String,
    /// What the audience is for; the start of each member's `reason`.
    pub description: String,
    /// A SQL predicate over `user_profile`'s columns.
    pub when: String,
    pub channel: String,
    /// Higher goes first (caps and exclusive groups); ties go in the spec's order.
    #[serde(default)]
    pub priority: i64,
    /// At most this many members: the highest `order_by` first.
    #[serde(default)]
    pub max_size: Option<usize>,
    /// A SQL expression over `user_profile`; higher first. Required with `max_size`.
    #[serde(default)]
    pub order_by: Option<String>,
    /// A user lands in at most one audience of a group: the one of highest priority.
    #[serde(default)]
    pub exclusive_group: Option<String>,
    /// What one contact costs (the contact plan's: value = uplift × CLV − cost).
    #[serde(default)]
    pub cost: Option<f64>,
    /// At most this much spent on contacts per run (the contact plan's).
    #[serde(default)]
    pub budget: Option<f64>,
}

/// `[exports]`: text copies of tables for CRMs that import CSV or JSON lines, written inside
/// the same commit as the Parquet files.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSettings {
    /// Formats of the listed tables; Parquet is always written, `csv` and `jsonl` add files.
    #[serde(default = "default_formats")]
    pub formats: Vec<ExportFormat>,
    /// The tables exported (names of published tables).
    #[serde(default = "default_export_tables")]
    pub tables: Vec<String>,
    /// Also one file per audience of `audience_members` (`audience=<name>.<ext>`).
    #[serde(default)]
    pub per_audience: bool,
    /// After the commit, an HTTP POST of what was published (never undoes the commit).
    #[serde(default)]
    pub notify_url: Option<String>,
    /// Timeout of one notification attempt.
    #[serde(default = "default_notify_timeout")]
    pub notify_timeout_secs: u64,
    /// Attempts in all (transient failures: connection errors, timeouts, 5xx, 429).
    #[serde(default = "default_notify_attempts")]
    pub notify_attempts: u32,
}

fn default_notify_timeout() -> u64 {
    10
}

fn default_notify_attempts() -> u32 {
    3
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            formats: default_formats(),
            tables: default_export_tables(),
            per_audience: false,
            notify_url: None,
            notify_timeout_secs: default_notify_timeout(),
            notify_attempts: default_notify_attempts(),
        }
    }
}

fn default_formats() -> Vec<ExportFormat> {
    vec![ExportFormat::Parquet]
}

fn default_export_tables() -> Vec<String> {
    vec!["user_profile".into(), "audience_members".into()]
}

/// A format of `[exports] formats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Parquet,
    /// RFC 4180, a header, UTF-8; lists as JSON arrays.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The validated audience settings.
#[derive(Debug, Clone, Default)]
pub struct ValidActivation {
    pub consent: Option<(crate::ValidSource, ConsentDefault)>,
    pub contacts: Option<crate::ValidSource>,
    pub holdout: Option<HoldoutSettings>,
    /// Every channel the spec names (audiences and caps), sorted.
    pub channels: Vec<String>,
    pub caps: BTreeMap<String, CapSettings>,
    pub audiences: Vec<ValidAudience>,
    pub exports: ExportSettings,
}

/// A validated audience.
#[derive(Debug, Clone)]
pub struct ValidAudience {
    pub spec: AudienceSpec,
    /// The `user_profile` columns its `when` reads, in the order they appear (for `reason`).
    pub when_columns: Vec<String>,
}

/// The columns of `user_profile` a spec produces, in order, without `audiences` (which the
/// rules decide, so they cannot read it).
pub struct ProfileShape<'a> {
    pub segmentation: bool,
    pub churn: bool,
    /// The longest CLV horizon, when CLV is on.
    pub clv_horizon: Option<u32>,
    pub recommendations: bool,
    pub attributes: &'a [String],
    pub channels: &'a [String],
}

impl<'a> ProfileShape<'a> {
    /// The shape of `spec`'s profile with `channels`.
    pub fn of(spec: &'a crate::JobSpec, channels: &'a [String]) -> ProfileShape<'a> {
        ProfileShape {
            segmentation: spec.segmentation.enabled,
            churn: spec.churn.enabled,
            clv_horizon: spec
                .clv
                .enabled
                .then(|| spec.clv.horizons_days.iter().copied().max())
                .flatten(),
            recommendations: spec.recommendations.enabled,
            attributes: spec.users.as_ref().map_or(&[], |u| &u.attributes),
            channels,
        }
    }
}

/// The column names of `user_profile` (without `audiences`), in order.
pub fn profile_columns(p: &ProfileShape<'_>) -> Vec<String> {
    let mut cols: Vec<String> = [
        "user_id",
        "stage",
        "recency_score",
        "frequency_score",
        "monetary_score",
        "rfm_segment",
        "recency_days",
        "tenure_days",
        "purchases_total",
        "revenue_total",
    ]
    .map(String::from)
    .to_vec();
    let parts: [(bool, Vec<String>); 4] = [
        (
            p.segmentation,
            vec!["cluster".into(), "cluster_name".into()],
        ),
        (
            p.churn,
            vec!["churn_probability".into(), "risk_decile".into()],
        ),
        (
            p.clv_horizon.is_some(),
            p.clv_horizon
                .map(|h| vec!["p_alive".into(), format!("clv_{h}d")])
                .unwrap_or_default(),
        ),
        (p.recommendations, vec!["recommended_items".into()]),
    ];
    for (on, names) in parts {
        if on {
            cols.extend(names);
        }
    }
    cols.extend(p.attributes.iter().cloned());
    cols.extend(p.channels.iter().map(|c| format!("contactable_{c}")));
    cols
}

/// The raw activation sections of a spec.
pub(crate) struct RawActivation<'a> {
    pub consent: Option<&'a ConsentSpec>,
    pub contacts: Option<&'a SourceSpec>,
    pub holdout: Option<&'a HoldoutSettings>,
    pub caps: &'a BTreeMap<String, CapSettings>,
    pub audiences: &'a [AudienceSpec],
    pub exports: &'a ExportSettings,
}

/// Checks the activation sections; `profile` says which columns the rules may read.
pub(crate) fn validate_activation(
    raw: RawActivation<'_>,
    base: &std::path::Path,
    profile: impl Fn(&[String]) -> Vec<String>,
) -> Result<ValidActivation> {
    let consent = raw
        .consent
        .map(|c| crate::valid::validate_source("consent", &c.source, base).map(|s| (s, c.default)))
        .transpose()?;
    let contacts = raw
        .contacts
        .map(|c| crate::valid::validate_source("contacts", c, base))
        .transpose()?;
    if let Some(h) = raw.holdout {
        validate_holdout(h)?;
    }
    for (channel, cap) in raw.caps {
        check_channel(channel, &format!("caps.{channel}"))?;
        validate_cap(channel, cap)?;
    }
    let channels: BTreeSet<String> = raw
        .audiences
        .iter()
        .map(|a| a.channel.clone())
        .chain(raw.caps.keys().cloned())
        .collect();
    let channels: Vec<String> = channels.into_iter().collect();
    let columns = profile(&channels);
    let audiences = validate_audiences(raw.audiences, &columns)?;
    validate_notify(raw.exports)?;
    if raw.exports.per_audience && raw.audiences.is_empty() {
        return Err(SpecError::invalid(
            "exports.per_audience",
            "there are no [[audiences]] to write files of",
        ));
    }
    Ok(ValidActivation {
        exports: raw.exports.clone(),
        consent,
        contacts,
        holdout: raw.holdout.cloned(),
        channels,
        caps: raw.caps.clone(),
        audiences,
    })
}

fn validate_notify(ex: &ExportSettings) -> Result<()> {
    if let Some(u) = &ex.notify_url {
        let ok = url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(SpecError::invalid(
                "exports.notify_url",
                format!("`{u}` is not an http(s) URL"),
            ));
        }
    }
    if ex.notify_timeout_secs == 0 || ex.notify_attempts == 0 {
        return Err(SpecError::invalid(
            "exports.notify_timeout_secs / exports.notify_attempts",
            "must be at least 1",
        ));
    }
    Ok(())
}

fn validate_holdout(h: &HoldoutSettings) -> Result<()> {
    if !(0.0..1.0).contains(&h.share) {
        return Err(SpecError::invalid(
            "holdout.share",
            format!("{} is not a share in [0, 1)", h.share),
        ));
    }
    if h.seed.is_empty() {
        return Err(SpecError::invalid("holdout.seed", "must not be empty"));
    }
    Ok(())
}

fn validate_cap(channel: &str, cap: &CapSettings) -> Result<()> {
    if cap.days == 0 {
        return Err(SpecError::invalid(
            format!("caps.{channel}.days"),
            "must be at least 1 day",
        ));
    }
    check_days(&format!("caps.{channel}.days"), cap.days as u64)
}

/// A channel names a column (`contactable_<channel>`): lower case letters, digits and `_`.
fn check_channel(channel: &str, setting: &str) -> Result<()> {
    let ok = !channel.is_empty()
        && channel
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(SpecError::invalid(
            setting,
            format!("channel `{channel}` must be lower case letters, digits and `_`"),
        ));
    }
    Ok(())
}

/// Checks a name that names files and rows (audiences, experiments): lower case letters,
/// digits, `_` and `-`; the error names `<what>.name`.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        return Err(SpecError::invalid(
            format!("{what}.name `{name}`"),
            "must be lower case letters, digits, `_` and `-`",
        ));
    }
    Ok(())
}

fn validate_audiences(list: &[AudienceSpec], columns: &[String]) -> Result<Vec<ValidAudience>> {
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let key = format!("audiences.{}", a.name);
        check_name("audiences", &a.name)?;
        if !names.insert(a.name.as_str()) {
            return Err(SpecError::invalid(key, "two audiences have this name"));
        }
        check_channel(&a.channel, &format!("{key}.channel"))?;
        let when_columns = expression_columns(&a.when, columns, &format!("{key}.when"))?;
        if a.cost.is_some_and(|c| !(c >= 0.0 && c.is_finite())) {
            return Err(SpecError::invalid(
                format!("{key}.cost"),
                "must be a number of 0 or more",
            ));
        }
        if a.budget.is_some_and(|b| !(b > 0.0 && b.is_finite())) {
            return Err(SpecError::invalid(
                format!("{key}.budget"),
                "must be above 0",
            ));
        }
        match (&a.order_by, a.max_size) {
            (Some(o), _) => drop(expression_columns(o, columns, &format!("{key}.order_by"))?),
            (None, Some(_)) => {
                return Err(SpecError::invalid(
                    format!("{key}.order_by"),
                    "give an expression to rank users by when max_size is set",
                ));
            }
            (None, None) => {}
        }
        out.push(ValidAudience {
            spec: a.clone(),
            when_columns,
        });
    }
    Ok(out)
}

/// Parses a SQL expression and returns the columns it reads (distinct, in order); every one
/// must be in `columns`.
fn expression_columns(sql: &str, columns: &[String], setting: &str) -> Result<Vec<String>> {
    let bad = |reason: String| SpecError::invalid(setting, reason);
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .map_err(|e| bad(format!("`{sql}` is not SQL: {e}")))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| bad(format!("`{sql}` is not a SQL expression: {e}")))?;
    if parser.peek_token().token != Token::EOF {
        return Err(bad(format!("`{sql}` has text after the expression")));
    }
    let mut found: Vec<String> = vec![];
    let _ = visit_expressions(&expr, |e| {
        let ident = match e {
            Expr::Identifier(i) => Some(i),
            Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        if let Some(i) = ident {
            // The pipeline's sessions take identifiers as written (no case folding).
            let name = i.value.clone();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if let Some(unknown) = found.iter().find(|c| !columns.contains(c)) {
        let why = match unknown.as_str() {
            "audiences" => "`audiences` is what the rules decide; a rule cannot read it".into(),
            _ => format!(
                "`{unknown}` is not a column of user_profile; it has: {}",
                columns.join(", ")
            ),
        };
        return Err(bad(why));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<String> {
        ["user_id", "stage", "churn_probability", "clv_365d"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn expressions_name_their_columns() {
        let got = expression_columns(
            "stage = 'at_risk' AND churn_probability > 0.5 AND \"clv_365d\" >= 100 AND stage <> 'x'",
            &cols(),
            "audiences.a.when",
        )
        .unwrap();
        assert_eq!(got, vec!["stage", "churn_probability", "clv_365d"]);
        let functions = expression_columns("coalesce(clv_365d, 0) > 1", &cols(), "s").unwrap();
        assert_eq!(functions, vec!["clv_365d"]);
    }

    #[test]
    fn unknown_columns_and_bad_sql_name_the_setting() {
        for (sql, says) in [
            ("churn_prob > 0.5", "`churn_prob` is not a column"),
            ("Stage = 'new'", "`Stage` is not a column"),
            ("stage = ", "not a SQL expression"),
            ("stage = 'a' garbage", "text after"),
            ("audiences IS NULL", "what the rules decide"),
        ] {
            let e = expression_columns(sql, &cols(), "audiences.win-back.when").unwrap_err();
            let text = e.to_string();
            assert!(text.contains("audiences.win-back.when"), "{text}");
            assert!(text.contains(says), "{sql}: {text}");
        }
    }

    #[test]
    fn a_notify_url_must_be_http() {
        let mut ex = ExportSettings::default();
        assert!(validate_notify(&ex).is_ok());
        for bad in ["ftp://x/", "not a url", "s3://bucket/hook"] {
            ex.notify_url = Some(bad.into());
            let e = validate_notify(&ex).unwrap_err().to_string();
            assert!(e.contains("exports.notify_url"), "{e}");
        }
        ex.notify_url = Some("https://crm.example.com/hooks/lifecycle".into());
        assert!(validate_notify(&ex).is_ok());
    }

    #[test]
    fn profile_columns_follow_the_spec() {
        let shape = ProfileShape {
            segmentation: false,
            churn: true,
            clv_horizon: Some(365),
            recommendations: false,
            attributes: &["country".to_string()],
            channels: &["email".to_string()],
        };
        let c = profile_columns(&shape);
        assert!(c.contains(&"clv_365d".to_string()) && c.contains(&"contactable_email".into()));
        assert!(!c.contains(&"cluster".to_string()));
        assert_eq!(c.last().unwrap(), "contactable_email");
    }
}
