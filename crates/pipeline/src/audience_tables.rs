//! The audience step's outputs as Arrow tables: `audience_members`, `audience_suppressions`,
//! `audience_changes`, and each user's list of audiences for `user_profile`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lifecycle_audiences::{Decision, Selection, Suppression};
use lifecycle_spec::ValidAudience;

use crate::audience_frame::AudienceFrame;
use crate::churn_tables::days_since_epoch;

/// `(audience, user_id)` → the first run date of the current membership, from the previous run.
pub(crate) type PreviousMembers = HashMap<(String, String), NaiveDate>;

fn batch(fields: Vec<Field>, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("columns fit their schema")
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// Members of each audience (spec order), by `user_id`.
fn members_by_audience(sel: &Selection, audiences: &[ValidAudience]) -> Vec<Vec<u32>> {
    (0..audiences.len())
        .map(|a| {
            let mut m: Vec<u32> = sel.members(a).collect();
            m.sort_unstable();
            m
        })
        .collect()
}

/// `audience_members`: audience, user_id, channel, reason, entered_on.
pub(crate) fn members_batch(
    frame: &AudienceFrame,
    sel: &Selection,
    audiences: &[ValidAudience],
    previous: &PreviousMembers,
    run_date: NaiveDate,
) -> RecordBatch {
    let (mut aud, mut users, mut chan, mut reason, mut entered) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (a, members) in members_by_audience(sel, audiences).into_iter().enumerate() {
        let spec = &audiences[a].spec;
        for u in members {
            let id = &frame.user_ids[u as usize];
            let since = previous.get(&(spec.name.clone(), id.clone())).copied();
            aud.push(spec.name.clone());
            users.push(id.clone());
            chan.push(spec.channel.clone());
            reason.push(frame.reason(&spec.description, &audiences[a].when_columns, u as usize));
            entered.push(days_since_epoch(since.unwrap_or(run_date)));
        }
    }
    batch(
        vec![
            text("audience"),
            text("user_id"),
            text("channel"),
            text("reason"),
            Field::new("entered_on", DataType::Date32, false),
        ],
        vec![
            Arc::new(StringArray::from(aud)),
            Arc::new(StringArray::from(users)),
            Arc::new(StringArray::from(chan)),
            Arc::new(StringArray::from(reason)),
            Arc::new(Date32Array::from(entered)),
        ],
    )
}

/// `audience_suppressions`: audience, user_id, reason (spec order, then user_id).
pub(crate) fn suppressions_batch(
    frame: &AudienceFrame,
    sel: &Selection,
    audiences: &[ValidAudience],
) -> RecordBatch {
    let (mut aud, mut users, mut reason) = (vec![], vec![], vec![]);
    for (a, decisions) in sel.decisions.iter().enumerate() {
        let mut kept: Vec<(u32, Suppression)> = decisions
            .iter()
            .filter_map(|(u, d)| match d {
                Decision::Suppressed(r) => Some((*u, *r)),
                Decision::Member => None,
            })
            .collect();
        kept.sort_unstable();
        for (u, r) in kept {
            aud.push(audiences[a].spec.name.clone());
            users.push(frame.user_ids[u as usize].clone());
            reason.push(r.name());
        }
    }
    batch(
        vec![text("audience"), text("user_id"), text("reason")],
        vec![
            Arc::new(StringArray::from(aud)),
            Arc::new(StringArray::from(users)),
            Arc::new(StringArray::from(reason)),
        ],
    )
}

/// `audience_changes`: audience, user_id, change (`entered` or `exited`) since the previous
/// committed run; ordered by audience, change, user_id.
pub(crate) fn changes_batch(
    frame: &AudienceFrame,
    sel: &Selection,
    audiences: &[ValidAudience],
    previous: &PreviousMembers,
) -> (RecordBatch, BTreeMap<String, (u64, u64)>) {
    let mut now: BTreeSet<(String, String)> = BTreeSet::new();
    for (a, members) in members_by_audience(sel, audiences).into_iter().enumerate() {
        for u in members {
            now.insert((
                audiences[a].spec.name.clone(),
                frame.user_ids[u as usize].clone(),
            ));
        }
    }
    let before: BTreeSet<(String, String)> = previous.keys().cloned().collect();
    let mut rows: Vec<(String, &str, String)> = now
        .difference(&before)
        .map(|(a, u)| (a.clone(), "entered", u.clone()))
        .chain(
            before
                .difference(&now)
                .map(|(a, u)| (a.clone(), "exited", u.clone())),
        )
        .collect();
    rows.sort();
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (a, change, _) in &rows {
        let c = counts.entry(a.clone()).or_default();
        match *change == "entered" {
            true => c.0 += 1,
            false => c.1 += 1,
        }
    }
    let b = batch(
        vec![text("audience"), text("user_id"), text("change")],
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.2.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    );
    (b, counts)
}

/// `(user_id, audiences)`: every profile user with the audiences they joined, highest
/// priority first (the order selection decided them in).
pub(crate) fn profile_audiences_batch(
    frame: &AudienceFrame,
    sel: &Selection,
    audiences: &[ValidAudience],
) -> RecordBatch {
    let mut order: Vec<usize> = (0..audiences.len()).collect();
    order.sort_by_key(|&a| std::cmp::Reverse(audiences[a].spec.priority));
    let mut per_user: Vec<Vec<&str>> = vec![vec![]; frame.user_ids.len()];
    for a in order {
        for u in sel.members(a) {
            per_user[u as usize].push(&audiences[a].spec.name);
        }
    }
    let mut lists = ListBuilder::new(StringBuilder::new()).with_field(Field::new(
        "item",
        DataType::Utf8,
        false,
    ));
    for names in per_user {
        for n in names {
            lists.values().append_value(n);
        }
        lists.append(true);
    }
    let list = lists.finish();
    let list_type = list.data_type().clone();
    batch(
        vec![text("user_id"), Field::new("audiences", list_type, false)],
        vec![
            Arc::new(StringArray::from(frame.user_ids.clone())),
            Arc::new(list),
        ],
    )
}
