//! Synthetic social-commerce event logs with planted churn and latent segments, deterministic
//! for a seed.
//!
//! Start from [`GeneratorParams`] and [`generate`]. The model, per user (users are independent,
//! so they are simulated in parallel with rayon, in chunks that bound memory):
//! - a latent segment (`casual`, `browser`, `buyer`, `vip`) sets base daily rates of engagement
//!   events and purchases, and the typical basket;
//! - users sign up over the period, more of them later (a growing app); the signup is an event;
//! - rates drift week to week (a multiplicative log-normal random walk) and dip at weekends;
//! - each user churns after an exponential lifetime whose mean depends on the segment; after
//!   churn the user sends nothing more (the ground truth records the churn time);
//! - engagement is a mix of view, like, comment, share and follow on items whose popularity is
//!   Zipf-distributed; a purchase buys an item at its category's price, one or more units;
//! - users have tastes: most of their items come from two favourite categories, drawn with
//!   their segment's preferences ([`tastes`]).
//!
//! Output under the target folder: `users.parquet`, `items.parquet`, `ground_truth.parquet`,
//! `events/dt=YYYY-MM-DD/part-NNNNN.parquet` (one file per day per chunk of users), and the
//! marketing side (`consent.parquet`, `contacts.parquet`; see [`outreach`]).

mod outreach;
mod tastes;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, NaiveDate};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};
use rayon::prelude::*;

/// Result with a [`SynthError`] by default.
pub type Result<T, E = SynthError> = std::result::Result<T, E>;

/// Generation failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid generator parameter `{param}`: {reason}")]
    Param { param: &'static str, reason: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write Parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
}

/// What to generate. With the `cli` feature these are also `lifecycle generate`'s flags.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct GeneratorParams {
    /// Users to simulate.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GeneratorParams::default().users))]
    pub users: u64,
    /// Items in the catalogue.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GeneratorParams::default().items))]
    pub items: u32,
    /// Days simulated.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GeneratorParams::default().days))]
    pub days: u32,
    /// First simulated day (YYYY-MM-DD).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GeneratorParams::default().start))]
    pub start: NaiveDate,
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GeneratorParams::default().seed))]
    pub seed: u64,
    /// Users simulated together (bounds memory).
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value_t = GeneratorParams::default().chunk_users)
    )]
    pub chunk_users: u64,
}

impl Default for GeneratorParams {
    fn default() -> Self {
        GeneratorParams {
            users: 2_000,
            items: 500,
            days: 180,
            start: NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date"),
            seed: 42,
            chunk_users: 50_000,
        }
    }
}

impl GeneratorParams {
    /// The day after the last simulated day: a natural cutoff for a run on this data.
    pub fn end(&self) -> NaiveDate {
        self.start + chrono::Days::new(self.days as u64)
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Default)]
pub struct GenerateSummary {
    pub users: u64,
    pub items: u32,
    pub events: u64,
    pub purchases: u64,
    pub churned_users: u64,
    pub event_files: u64,
    /// Rows of `consent.parquet` and `contacts.parquet`.
    pub consent_rows: u64,
    pub contact_rows: u64,
}

/// The latent segments with their base behaviour.
pub const SEGMENTS: [Segment; 4] = [
    Segment {
        name: "casual",
        share: 0.45,
        engagement_per_day: 0.4,
        purchases_per_day: 0.005,
        lifetime_days: 45.0,
    },
    Segment {
        name: "browser",
        share: 0.25,
        engagement_per_day: 2.5,
        purchases_per_day: 0.01,
        lifetime_days: 100.0,
    },
    Segment {
        name: "buyer",
        share: 0.20,
        engagement_per_day: 1.0,
        purchases_per_day: 0.06,
        lifetime_days: 140.0,
    },
    Segment {
        name: "vip",
        share: 0.10,
        engagement_per_day: 3.0,
        purchases_per_day: 0.15,
        lifetime_days: 300.0,
    },
];

/// A latent segment.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub name: &'static str,
    /// Fraction of users.
    pub share: f64,
    pub engagement_per_day: f64,
    pub purchases_per_day: f64,
    /// Mean time from signup to churn.
    pub lifetime_days: f64,
}

const CATEGORIES: [(&str, f64); 6] = [
    ("fashion", 35.0),
    ("beauty", 22.0),
    ("home", 48.0),
    ("electronics", 120.0),
    ("books", 15.0),
    ("sports", 55.0),
];
const ENGAGEMENT: [(&str, f64); 5] = [
    ("view", 0.70),
    ("like", 0.15),
    ("comment", 0.06),
    ("share", 0.05),
    ("follow", 0.04),
];
const EVENT_TYPES: [&str; 7] = [
    "signup", "purchase", "view", "like", "comment", "share", "follow",
];
const DAY_US: i64 = 86_400_000_000;

struct Event {
    user: u64,
    t_us: i64,
    kind: u8,
    item: Option<u32>,
    amount: Option<f64>,
}

struct UserTruth {
    signup_us: i64,
    segment: usize,
    churn_us: i64,
    country: &'static str,
    channel: &'static str,
}

struct Catalog {
    /// Cumulative Zipf weights over items (item 0 is the most popular).
    cdf: Vec<f64>,
    category: Vec<usize>,
    price: Vec<f64>,
}

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

fn catalog(p: &GeneratorParams) -> Catalog {
    let mut rng = rng_for(p.seed, u64::MAX);
    let mut cdf = Vec::with_capacity(p.items as usize);
    let mut acc = 0.0;
    for i in 0..p.items {
        acc += 1.0 / ((i + 1) as f64).powf(1.05);
        cdf.push(acc);
    }
    let mut category = Vec::new();
    let mut price = Vec::new();
    let spread = LogNormal::new(0.0, 0.5).expect("valid log-normal");
    for _ in 0..p.items {
        let c = rng.gen_range(0..CATEGORIES.len());
        category.push(c);
        price.push((CATEGORIES[c].1 * spread.sample(&mut rng) * 100.0).round() / 100.0);
    }
    Catalog {
        cdf,
        category,
        price,
    }
}

fn pick_item(cat: &Catalog, rng: &mut ChaCha8Rng) -> u32 {
    let total = *cat.cdf.last().expect("at least one item");
    let x = rng.r#gen::<f64>() * total;
    cat.cdf.partition_point(|c| *c < x).min(cat.cdf.len() - 1) as u32
}

fn pick_segment(rng: &mut ChaCha8Rng) -> usize {
    let x: f64 = rng.r#gen();
    let mut acc = 0.0;
    for (i, s) in SEGMENTS.iter().enumerate() {
        acc += s.share;
        if x < acc {
            return i;
        }
    }
    SEGMENTS.len() - 1
}

fn simulate_user(
    p: &GeneratorParams,
    cat: &Catalog,
    by_category: &tastes::CategoryIndex,
    user: u64,
    start_us: i64,
) -> (UserTruth, Vec<Event>) {
    let mut rng = rng_for(p.seed, user);
    let seg_idx = pick_segment(&mut rng);
    let mut taste = tastes::Taste::draw(p, user, seg_idx);
    let seg = SEGMENTS[seg_idx];
    let period_us = p.days as i64 * DAY_US;
    // More signups later in the period: a growing app.
    let signup_us = start_us + (rng.r#gen::<f64>().powf(0.8) * period_us as f64) as i64;
    let lifetime = Exp::new(1.0 / seg.lifetime_days)
        .expect("positive rate")
        .sample(&mut rng);
    let churn_us = signup_us + (lifetime * DAY_US as f64) as i64;
    let end_us = (start_us + period_us).min(churn_us);
    let countries = ["GB", "US", "DE", "FR", "NL", "ES"];
    let channels = ["organic", "paid_social", "referral", "search"];
    let truth = UserTruth {
        signup_us,
        segment: seg_idx,
        churn_us,
        country: countries[rng.gen_range(0..countries.len())],
        channel: channels[rng.gen_range(0..channels.len())],
    };
    let mut events = vec![Event {
        user,
        t_us: signup_us,
        kind: 0,
        item: None,
        amount: None,
    }];
    let drift_step = Normal::<f64>::new(0.0, 0.15).expect("valid normal");
    let basket = Poisson::new(0.3).expect("valid rate");
    let mut drift = 1.0f64;
    let first_day = (signup_us - start_us) / DAY_US;
    let mut day = first_day;
    while start_us + day * DAY_US < end_us {
        if (day - first_day) % 7 == 6 {
            drift = (drift * drift_step.sample(&mut rng).exp()).clamp(0.2, 5.0);
        }
        let day_start = start_us + day * DAY_US;
        let weekday = (p.start + chrono::Days::new(day as u64))
            .weekday()
            .num_days_from_monday();
        let weekend = if weekday >= 5 { 0.7 } else { 1.0 };
        let n_eng = poisson(&mut rng, seg.engagement_per_day * drift * weekend);
        let n_buy = poisson(&mut rng, seg.purchases_per_day * drift);
        for i in 0..(n_eng + n_buy) {
            let t_us = day_start + rng.gen_range(0..DAY_US);
            if t_us < signup_us || t_us >= end_us {
                continue;
            }
            let item = taste.pick(by_category, pick_item(cat, &mut rng));
            if i < n_eng {
                let x: f64 = rng.r#gen();
                let mut acc = 0.0;
                let mut kind = 2;
                for (k, (_, share)) in ENGAGEMENT.iter().enumerate() {
                    acc += share;
                    if x < acc {
                        kind = 2 + k as u8;
                        break;
                    }
                }
                events.push(Event {
                    user,
                    t_us,
                    kind,
                    item: Some(item),
                    amount: None,
                });
            } else {
                let qty = 1.0 + basket.sample(&mut rng);
                let amount = (cat.price[item as usize] * qty * 100.0).round() / 100.0;
                events.push(Event {
                    user,
                    t_us,
                    kind: 1,
                    item: Some(item),
                    amount: Some(amount),
                });
            }
        }
        day += 1;
    }
    (truth, events)
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda)
        .map(|d| d.sample(rng) as u64)
        .unwrap_or(0)
}

fn ts_field(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        nullable,
    )
}

/// The schema of generated events: the event contract itself.
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        ts_field("event_time", false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("item_id", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

fn user_id(u: u64) -> String {
    format!("u{u:07}")
}

fn item_id(i: u32) -> String {
    format!("i{i:05}")
}

fn write_batch(path: &Path, batch: RecordBatch) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| SynthError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let file = File::create(path).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let perr = |source| SynthError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(perr)?;
    w.write(&batch).map_err(perr)?;
    w.close().map_err(perr)?;
    Ok(())
}

fn batch(schema: SchemaRef, cols: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, cols).expect("generated columns match their schema")
}

/// Generates a data set into `out` (created if missing). See the crate doc for the model.
pub fn generate(p: &GeneratorParams, out: &Path) -> Result<GenerateSummary> {
    generate_with(p, out, &|_| {})
}

/// [`generate`], calling `users_done` with the users written so far after each chunk (for a
/// progress display).
pub fn generate_with(
    p: &GeneratorParams,
    out: &Path,
    users_done: &dyn Fn(u64),
) -> Result<GenerateSummary> {
    if p.users == 0 || p.items == 0 || p.days == 0 || p.chunk_users == 0 {
        return Err(SynthError::Param {
            param: "users/items/days/chunk_users",
            reason: "must all be at least 1".into(),
        });
    }
    let cat = catalog(p);
    let by_category = tastes::CategoryIndex::of(&cat);
    let start_us = p
        .start
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros();
    let mut summary = GenerateSummary {
        users: p.users,
        items: p.items,
        ..Default::default()
    };

    let items_schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
    ]));
    write_batch(
        &out.join("items.parquet"),
        batch(
            items_schema,
            vec![
                Arc::new(StringArray::from_iter_values((0..p.items).map(item_id))),
                Arc::new(StringArray::from_iter_values(
                    cat.category.iter().map(|c| CATEGORIES[*c].0),
                )),
                Arc::new(Float64Array::from(cat.price.clone())),
            ],
        ),
    )?;

    let mut truths: Vec<(u64, UserTruth)> = Vec::with_capacity(p.users as usize);
    let schema = event_schema();
    let mut chunk_start = 0u64;
    let mut chunk_no = 0u64;
    while chunk_start < p.users {
        let chunk_end = (chunk_start + p.chunk_users).min(p.users);
        let simulated: Vec<(UserTruth, Vec<Event>)> = (chunk_start..chunk_end)
            .into_par_iter()
            .map(|u| simulate_user(p, &cat, &by_category, u, start_us))
            .collect();
        let mut by_day: Vec<Vec<Event>> = (0..p.days).map(|_| Vec::new()).collect();
        for (u, (truth, events)) in (chunk_start..chunk_end).zip(simulated) {
            for e in events {
                let d = ((e.t_us - start_us) / DAY_US) as usize;
                if d < by_day.len() {
                    by_day[d].push(e);
                }
            }
            truths.push((u, truth));
        }
        let written: Vec<Result<(u64, u64)>> = by_day
            .into_par_iter()
            .enumerate()
            .filter(|(_, ev)| !ev.is_empty())
            .map(|(d, mut ev)| {
                ev.sort_by_key(|e| (e.t_us, e.user));
                let date = p.start + chrono::Days::new(d as u64);
                let path = out.join(format!("events/dt={date}/part-{chunk_no:05}.parquet"));
                let purchases = ev.iter().filter(|e| e.kind == 1).count() as u64;
                let n = ev.len() as u64;
                write_batch(
                    &path,
                    batch(
                        schema.clone(),
                        vec![
                            Arc::new(StringArray::from_iter_values(
                                ev.iter().map(|e| user_id(e.user)),
                            )),
                            Arc::new(
                                TimestampMicrosecondArray::from_iter_values(
                                    ev.iter().map(|e| e.t_us),
                                )
                                .with_timezone("UTC"),
                            ),
                            Arc::new(StringArray::from_iter_values(
                                ev.iter().map(|e| EVENT_TYPES[e.kind as usize]),
                            )),
                            Arc::new(StringArray::from_iter(
                                ev.iter().map(|e| e.item.map(item_id)),
                            )),
                            Arc::new(Float64Array::from_iter(ev.iter().map(|e| e.amount))),
                        ],
                    ),
                )?;
                Ok((n, purchases))
            })
            .collect();
        for w in written {
            let (n, purchases) = w?;
            summary.events += n;
            summary.purchases += purchases;
            summary.event_files += 1;
        }
        chunk_start = chunk_end;
        chunk_no += 1;
        users_done(chunk_end);
    }

    let end_us = start_us + p.days as i64 * DAY_US;
    summary.churned_users = truths.iter().filter(|(_, t)| t.churn_us < end_us).count() as u64;
    (summary.consent_rows, summary.contact_rows) = outreach::write(p, &truths, start_us, out)?;
    let users_schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        ts_field("signup_time", false),
        Field::new("country", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
    ]));
    write_batch(
        &out.join("users.parquet"),
        batch(
            users_schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    truths.iter().map(|(u, _)| user_id(*u)),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        truths.iter().map(|(_, t)| t.signup_us),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from_iter_values(
                    truths.iter().map(|(_, t)| t.country),
                )),
                Arc::new(StringArray::from_iter_values(
                    truths.iter().map(|(_, t)| t.channel),
                )),
            ],
        ),
    )?;
    let truth_schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("latent_segment", DataType::Utf8, false),
        Field::new("churned", DataType::Boolean, false),
        ts_field("churn_time", true),
    ]));
    write_batch(
        &out.join("ground_truth.parquet"),
        batch(
            truth_schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    truths.iter().map(|(u, _)| user_id(*u)),
                )),
                Arc::new(StringArray::from_iter_values(
                    truths.iter().map(|(_, t)| SEGMENTS[t.segment].name),
                )),
                Arc::new(BooleanArray::from_iter(
                    truths.iter().map(|(_, t)| Some(t.churn_us < end_us)),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter(
                        truths
                            .iter()
                            .map(|(_, t)| (t.churn_us < end_us).then_some(t.churn_us)),
                    )
                    .with_timezone("UTC"),
                ),
            ],
        ),
    )?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GeneratorParams {
        GeneratorParams {
            users: 300,
            items: 50,
            days: 60,
            chunk_users: 120,
            ..Default::default()
        }
    }

    fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((
                        p.strip_prefix(dir).unwrap().display().to_string(),
                        std::fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn deterministic_for_a_seed_and_chunking_does_not_matter() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let s1 = generate(&small(), a.path()).unwrap();
        let s2 = generate(&small(), b.path()).unwrap();
        assert_eq!(all_bytes(a.path()), all_bytes(b.path()));
        assert!(s1.events > 1000, "{s1:?}");
        assert_eq!(s1.events, s2.events);
        // Another chunk size writes other files but the same events in total.
        let s3 = generate(
            &GeneratorParams {
                chunk_users: 1000,
                ..small()
            },
            c.path(),
        )
        .unwrap();
        assert_eq!(s3.events, s1.events);
        assert_eq!(s3.purchases, s1.purchases);
        assert_eq!(
            (s3.consent_rows, s3.contact_rows),
            (s1.consent_rows, s1.contact_rows)
        );
        assert!(
            s1.consent_rows > s1.users && s1.contact_rows > s1.users,
            "{s1:?}"
        );
    }

    #[test]
    fn segments_behave_as_planted() {
        let p = GeneratorParams {
            users: 4000,
            items: 100,
            days: 1,
            ..Default::default()
        };
        let cat = catalog(&p);
        let mut per_seg = [(0u64, 0u64); 4];
        for u in 0..p.users {
            let (t, _) = simulate_user(&p, &cat, &tastes::CategoryIndex::of(&cat), u, 0);
            per_seg[t.segment].0 += 1;
            per_seg[t.segment].1 += (t.churn_us - t.signup_us) as u64 / DAY_US as u64;
        }
        for (i, s) in SEGMENTS.iter().enumerate() {
            let share = per_seg[i].0 as f64 / p.users as f64;
            assert!((share - s.share).abs() < 0.03, "{}: {share}", s.name);
            let mean_life = per_seg[i].1 as f64 / per_seg[i].0 as f64;
            assert!(
                (mean_life / s.lifetime_days - 1.0).abs() < 0.2,
                "{}: {mean_life}",
                s.name
            );
        }
    }
}
