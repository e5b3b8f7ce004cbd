//! From scores to actions: `user_profile` (every user's stage, scores, allowed attributes and
//! consent in one row), then the `[[audiences]]` decided over it (`lifecycle_audiences::select`:
//! consent, the holdout group, exclusive groups, frequency caps, sizes) into
//! `audience_members`, `audience_suppressions` and `audience_changes`.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use lifecycle_audiences::holdout::Holdout;
use lifecycle_audiences::{Audience, Population, Selection, Suppression};
use lifecycle_features::consent;
use lifecycle_features::profile::{Part, user_profile_sql};
use lifecycle_features::sql::views;
use lifecycle_spec::{ProfileShape, SpecError, ValidJobSpec};

use super::{Run, StepInfo};
use crate::Result;
use crate::audience_frame::{AudienceFrame, PROFILE_BASE, frame_sql};
use crate::audience_tables::{self as tables, PreviousMembers};
use crate::query::Query;
use crate::reports::{AudienceCounts, AudienceReport};
use crate::tables::Table;

pub(crate) const STEP: StepInfo = StepInfo {
    name: "audiences",
    from_rollup: false,
    reads: &[
        views::USER_SEGMENTS,
        views::USER_FEATURES,
        views::USERS_MAPPED,
    ],
    writes: &[
        Table::UserProfile,
        Table::AudienceMembers,
        Table::AudienceSuppressions,
        Table::AudienceChanges,
    ],
};

/// The profile's staged file (never published: `user_profile` adds `audiences` to it).
const PROFILE_FILE: &str = "_user_profile";
const PROFILE_AUDIENCES: &str = "profile_audiences";
const PROFILE_AUDIENCES_FILE: &str = "_profile_audiences";
/// Consent and contacts as of the cutoff, staged (never published) to keep the profile's plan
/// shallow.
const CONSENT_FILE: &str = "_consent_state";
const CONTACTS_FILE: &str = "_contacts_in_window";
const PREVIOUS_MEMBERS: &str = "previous_audience_members";

/// Writes `user_profile` and, with `[[audiences]]`, the audience tables.
pub(crate) async fn run(run: &mut Run<'_>) -> Result<Option<u64>> {
    let spec = run.spec;
    let shape = ProfileShape::of(&spec.source, &spec.activation.channels);
    register_parts(run, &shape).await?;
    let mut report = register_consent_and_contacts(run).await?;
    let q = Query::new(&run.ctx, Table::UserProfile.name());
    let default = spec.activation.consent.as_ref().map(|(_, d)| *d);
    let sql = user_profile_sql(&shape, default);
    run.out.staged(q, PROFILE_FILE, &sql, PROFILE_BASE).await?;
    check_rules(q, spec).await?;
    if !run.out.publishes() {
        q.plan(&frame_sql(spec)).await?;
        return Ok(None);
    }
    let frame = AudienceFrame::read(q.step("evaluate audiences"), spec).await?;
    let sel = decide(spec, &frame, &mut report);
    let previous = previous_members(q.step("read the previous members"), run).await?;
    let rows = write_tables(run, &frame, &sel, &previous, &mut report).await?;
    if !spec.activation.audiences.is_empty() {
        run.audiences = Some(report);
    }
    Ok(Some(rows))
}

/// The model table each profile part reads.
fn part_table(part: Part) -> Table {
    match part {
        Part::Clusters => Table::UserClusters,
        Part::Churn => Table::ChurnScores,
        Part::Value(_) => Table::CustomerValue,
        Part::Recommendations => Table::Recommendations,
    }
}

/// Registers each enabled model's table for the profile: the file this run wrote, or typed
/// empty rows (planning, or scores a quality gate withheld).
async fn register_parts(run: &Run<'_>, shape: &ProfileShape<'_>) -> Result<()> {
    let q = Query::new(&run.ctx, "read the model tables for user_profile");
    for part in Part::of(shape) {
        let table = part_table(part);
        let url = run
            .out
            .wrote(table)
            .then(|| run.out.staged_url(table.name()));
        let sql = match url.flatten() {
            Some(url) => {
                let file = format!("{}_file", part.view());
                q.register_parquet(&file, &url).await?;
                part.from_file_sql(&file)
            }
            None => part.empty_sql(),
        };
        q.register_view(part.view(), &sql).await?;
    }
    Ok(())
}

/// Stages `consent_state` and `contacts_in_window` when their inputs are given (a file each:
/// the profile's plan stays shallow), and counts their unreadable rows.
async fn register_consent_and_contacts(run: &mut Run<'_>) -> Result<AudienceReport> {
    let act = &run.spec.activation;
    let q = Query::new(&run.ctx, "read consent and contacts");
    let mut report = AudienceReport::default();
    if act.consent.is_some() {
        let sql = consent::consent_state_sql(run.cutoff);
        run.out
            .staged(q, CONSENT_FILE, &sql, consent::CONSENT_STATE)
            .await?;
        if run.out.publishes() {
            let sql = consent::unreadable_consent_sql(run.cutoff);
            report.consent_rows_unreadable = Some(q.count(&sql).await?);
        }
    }
    if act.contacts.is_some() {
        let sql = consent::contacts_in_window_sql(run.cutoff, &act.caps);
        run.out
            .staged(q, CONTACTS_FILE, &sql, consent::CONTACTS_IN_WINDOW)
            .await?;
        if run.out.publishes() {
            report.contact_rows_unreadable =
                Some(q.count(consent::unreadable_contacts_sql()).await?);
        }
    }
    Ok(report)
}

/// Plans each audience's `when` and `order_by` on the profile: a type error is the spec's,
/// named by the setting.
async fn check_rules(q: Query<'_>, spec: &ValidJobSpec) -> Result<()> {
    for a in &spec.activation.audiences {
        let checks = [
            ("when", Some(&a.spec.when)),
            ("order_by", a.spec.order_by.as_ref()),
        ];
        for (key, sql) in checks {
            let Some(sql) = sql else { continue };
            let probe = format!("SELECT ({sql}) FROM {PROFILE_BASE} LIMIT 0");
            let wrong = match q.ctx.sql(&probe).await {
                Ok(df) => wrong_type(key, sql, df.schema().field(0).data_type()),
                Err(e) => Some(format!("`{sql}` does not work on user_profile: {e}")),
            };
            if let Some(reason) = wrong {
                let setting = format!("audiences.{}.{key}", a.spec.name);
                return Err(SpecError::Invalid { setting, reason }.into());
            }
        }
    }
    Ok(())
}

/// Why a rule's type does not fit: `when` must be true or false, `order_by` a number.
fn wrong_type(key: &str, sql: &str, t: &DataType) -> Option<String> {
    let fits = match key {
        "when" => matches!(t, DataType::Boolean | DataType::Null),
        _ => t.is_numeric() || t == &DataType::Null,
    };
    let wanted = if key == "when" {
        "true or false"
    } else {
        "a number"
    };
    (!fits).then(|| format!("`{sql}` is {t}, not {wanted}"))
}

/// Runs selection over the frame and fills the report's counts.
fn decide(spec: &ValidJobSpec, frame: &AudienceFrame, report: &mut AudienceReport) -> Selection {
    let pop = population(spec, frame);
    let sel = lifecycle_audiences::select(&audiences(spec, frame), &pop);
    report.users = frame.user_ids.len();
    report.held_out = pop.held_out.iter().filter(|h| **h).count();
    count_decisions(spec, &sel, report);
    sel
}

/// Consent, the holdout group, caps and past sends per user, in the spec's channel order.
fn population(spec: &ValidJobSpec, frame: &AudienceFrame) -> Population {
    let act = &spec.activation;
    let held_out: Vec<bool> = match &act.holdout {
        Some(h) => {
            let h = Holdout {
                share: h.share,
                seed: h.seed.clone(),
            };
            frame.user_ids.iter().map(|id| h.holds_out(id)).collect()
        }
        None => vec![false; frame.user_ids.len()],
    };
    Population {
        contactable: frame.contactable.clone(),
        held_out,
        caps: act
            .channels
            .iter()
            .map(|c| act.caps.get(c).map(|cap| cap.max))
            .collect(),
        sent: frame.sent.clone(),
    }
}

/// The spec's audiences with their ranked matches; exclusive groups numbered as they appear.
fn audiences(spec: &ValidJobSpec, frame: &AudienceFrame) -> Vec<Audience> {
    let act = &spec.activation;
    let mut groups: Vec<String> = vec![];
    let mut group_of = |g: &str| match groups.iter().position(|x| x == g) {
        Some(i) => i,
        None => {
            groups.push(g.to_string());
            groups.len() - 1
        }
    };
    act.audiences
        .iter()
        .enumerate()
        .map(|(i, a)| Audience {
            channel: act
                .channels
                .iter()
                .position(|c| *c == a.spec.channel)
                .expect("a spec channel"),
            priority: a.spec.priority,
            max_size: a.spec.max_size,
            exclusive_group: a.spec.exclusive_group.as_deref().map(&mut group_of),
            matched: frame.ranked(i),
        })
        .collect()
}

fn count_decisions(spec: &ValidJobSpec, sel: &Selection, report: &mut AudienceReport) {
    report.suppressed = Suppression::ALL
        .iter()
        .map(|r| (r.name().to_string(), 0))
        .collect();
    for (a, decisions) in sel.decisions.iter().enumerate() {
        let spec = &spec.activation.audiences[a].spec;
        let mut counts = AudienceCounts {
            name: spec.name.clone(),
            channel: spec.channel.clone(),
            matched: decisions.len() as u64,
            suppressed: report.suppressed.keys().map(|k| (k.clone(), 0)).collect(),
            ..Default::default()
        };
        for (_, d) in decisions {
            match d {
                lifecycle_audiences::Decision::Member => counts.members += 1,
                lifecycle_audiences::Decision::Suppressed(r) => {
                    *counts.suppressed.entry(r.name().into()).or_default() += 1;
                    *report.suppressed.entry(r.name().into()).or_default() += 1;
                }
            }
        }
        report.audiences.push(counts);
    }
}

/// The previous committed run's members and when they entered (none without one).
async fn previous_members(q: Query<'_>, run: &Run<'_>) -> Result<PreviousMembers> {
    let table = Table::AudienceMembers.name();
    let url = run
        .previous
        .as_ref()
        .and_then(|m| m.commit.outputs.get(table));
    let Some(url) = url.map(|t| t.url.clone()) else {
        return Ok(PreviousMembers::new());
    };
    q.register_parquet(PREVIOUS_MEMBERS, &url).await?;
    let columns = ["audience", "user_id", "entered_on"];
    let sql = crate::rotation::previous_select(&run.previous_ids, PREVIOUS_MEMBERS, &columns);
    let mut out = PreviousMembers::new();
    for b in q.collect(&sql).await? {
        let (aud, users) = (q.texts(&b, 0)?, q.texts(&b, 1)?);
        let since = b.column(2).as_primitive::<Date32Type>();
        for (i, (a, u)) in aud.into_iter().zip(users).enumerate() {
            let day = since.is_valid(i).then(|| since.value_as_date(i)).flatten();
            if let (Some(a), Some(u), Some(day)) = (a, u, day) {
                out.insert((a, u), day);
            }
        }
    }
    Ok(out)
}

/// Writes the audience tables (with `[[audiences]]`) and `user_profile`; returns the
/// profile's rows.
async fn write_tables(
    run: &mut Run<'_>,
    frame: &AudienceFrame,
    sel: &Selection,
    previous: &PreviousMembers,
    report: &mut AudienceReport,
) -> Result<u64> {
    let audiences = &run.spec.activation.audiences;
    if !audiences.is_empty() {
        let members = tables::members_batch(frame, sel, audiences, previous, run.run_date);
        run.out.batch(Table::AudienceMembers, members).await?;
        let suppressed = tables::suppressions_batch(frame, sel, audiences);
        run.out
            .batch(Table::AudienceSuppressions, suppressed)
            .await?;
        let (changes, counts) = tables::changes_batch(frame, sel, audiences, previous);
        run.out.batch(Table::AudienceChanges, changes).await?;
        for a in &mut report.audiences {
            (a.entered, a.exited) = counts.get(&a.name).copied().unwrap_or_default();
        }
    }
    // Staged as a file, not a memory table: a cluster's executors read it too.
    let lists = tables::profile_audiences_batch(frame, sel, audiences);
    let q = Query::new(&run.ctx, Table::UserProfile.name());
    if let Some(url) = run.out.staged_batch(PROFILE_AUDIENCES_FILE, lists).await? {
        q.register_parquet(PROFILE_AUDIENCES, &url).await?;
    }
    let sql = format!(
        "SELECT b.*, a.audiences FROM {PROFILE_BASE} b JOIN {PROFILE_AUDIENCES} a \
         ON a.user_id = b.user_id ORDER BY b.user_id"
    );
    run.out.sql(q, Table::UserProfile, &sql, None).await
}
