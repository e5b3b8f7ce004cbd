//! The marketing side of a generated log: `consent.parquet` (email and sms subscriptions and
//! opt-outs, some dated after the period so that a run's point-in-time cut matters) and
//! `contacts.parquet` (past sends: a weekly email newsletter and a fortnightly sms promotion to
//! subscribed users). Drawn from random streams of their own: the events do not change.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use rand::Rng;
use rayon::prelude::*;

use crate::{
    DAY_US, GeneratorParams, Result, UserTruth, rng_for,
    write::{batch, ts_field, user_id, write_batch},
};

/// Offsets the seed so that these draws never share a stream with a user's events.
const SALT: u64 = 0x0063_6f6e_7365_6e74;

/// One consent row: channel, status, time.
type Change = (&'static str, &'static str, i64);

/// One send: channel, campaign, time.
type Send = (&'static str, String, i64);

/// One user's consent history: email subscribed at signup, sms for about a third; some
/// unsubscribe (churned users more often) or bounce later, up to a fifth of the period after it.
fn consent_of(p: &GeneratorParams, u: u64, t: &UserTruth, end_us: i64) -> Vec<Change> {
    let mut rng = rng_for(p.seed.wrapping_add(SALT), u);
    let churned = t.churn_us < end_us;
    let later = |rng: &mut rand_chacha::ChaCha8Rng| {
        let span = ((end_us - t.signup_us) as f64 * 1.2).max(DAY_US as f64);
        t.signup_us + (rng.r#gen::<f64>() * span) as i64
    };
    let mut rows = vec![("email", "subscribed", t.signup_us)];
    let leave = if churned { 0.25 } else { 0.08 };
    let x: f64 = rng.r#gen();
    if x < leave {
        rows.push(("email", "unsubscribed", later(&mut rng)));
    } else if x < leave + 0.02 {
        rows.push(("email", "bounced", later(&mut rng)));
    }
    if rng.r#gen::<f64>() < 0.35 {
        let joined = t.signup_us + rng.gen_range(0..3 * DAY_US);
        rows.push(("sms", "subscribed", joined));
        if rng.r#gen::<f64>() < 0.1 {
            rows.push(("sms", "unsubscribed", later(&mut rng).max(joined + 1)));
        }
    }
    rows
}

/// Whether the latest of `rows` on `channel` before `at` is a subscription.
fn subscribed(rows: &[Change], channel: &str, at: i64) -> bool {
    rows.iter()
        .filter(|(c, _, t)| *c == channel && *t < at)
        .max_by_key(|(_, _, t)| *t)
        .is_some_and(|(_, s, _)| *s == "subscribed")
}

/// One user's sends: (channel, campaign, time).
fn contacts_of(p: &GeneratorParams, u: u64, consent: &[Change], start_us: i64) -> Vec<Send> {
    let mut rng = rng_for(p.seed.wrapping_add(SALT).wrapping_add(1), u);
    let mut sends = vec![];
    for (channel, every, share) in [("email", 7, 0.5), ("sms", 14, 0.3)] {
        for day in (every..p.days).step_by(every as usize) {
            let at = start_us + day as i64 * DAY_US + 10 * 3_600_000_000;
            if subscribed(consent, channel, at) && rng.r#gen::<f64>() < share {
                let date = p.start + chrono::Days::new(day as u64);
                let kind = if channel == "email" {
                    "newsletter"
                } else {
                    "promo"
                };
                sends.push((channel, format!("{kind}-{date}"), at));
            }
        }
    }
    sends
}

/// Writes `consent.parquet` and `contacts.parquet` under `out`; returns their row counts.
pub(crate) fn write(
    p: &GeneratorParams,
    truths: &[(u64, UserTruth)],
    start_us: i64,
    out: &Path,
) -> Result<(u64, u64)> {
    let end_us = start_us + p.days as i64 * DAY_US;
    type Drawn = (Vec<Change>, Vec<Send>);
    let drawn: Vec<Drawn> = truths
        .par_iter()
        .map(|(u, t)| {
            let consent = consent_of(p, *u, t, end_us);
            let mut sends = contacts_of(p, *u, &consent, start_us);
            if let Some(c) = t.campaign.filter(|c| c.treated) {
                let name = format!("campaign-{}", crate::campaign::date(p));
                sends.push(("email", name, c.at_us + 10 * 3_600_000_000));
            }
            (consent, sends)
        })
        .collect();
    let ids = |f: &dyn Fn(&Drawn) -> usize| -> Vec<String> {
        truths
            .iter()
            .zip(&drawn)
            .flat_map(|((u, _), d)| std::iter::repeat_n(user_id(*u), f(d)))
            .collect()
    };
    let consent: Vec<&Change> = drawn.iter().flat_map(|d| &d.0).collect();
    let sends: Vec<&Send> = drawn.iter().flat_map(|d| &d.1).collect();
    let consent_ids = ids(&|d| d.0.len());
    write_batch(
        &out.join("consent.parquet"),
        consent_batch(consent_ids, &consent),
    )?;
    let send_ids = ids(&|d| d.1.len());
    write_batch(
        &out.join("contacts.parquet"),
        contacts_batch(send_ids, &sends),
    )?;
    Ok((consent.len() as u64, sends.len() as u64))
}

fn consent_batch(ids: Vec<String>, rows: &[&Change]) -> arrow::array::RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        ts_field("updated_at", false),
    ]));
    let times = TimestampMicrosecondArray::from_iter_values(rows.iter().map(|c| c.2));
    batch(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|c| c.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|c| c.1))),
            Arc::new(times.with_timezone("UTC")),
        ],
    )
}

fn contacts_batch(ids: Vec<String>, rows: &[&Send]) -> arrow::array::RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("campaign", DataType::Utf8, false),
        ts_field("sent_at", false),
    ]));
    let times = TimestampMicrosecondArray::from_iter_values(rows.iter().map(|s| s.2));
    batch(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|s| s.0))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|s| s.1.as_str()),
            )),
            Arc::new(times.with_timezone("UTC")),
        ],
    )
}
