//! Synthetic event logs with planted churn and latent segments, deterministic for a seed.
//!
//! Start from [`GeneratorParams`] and [`generate`]. Users are independent, so they are simulated
//! in parallel with rayon, in chunks that bound memory. They sign up over the period, more of
//! them later (a growing app), or, with [`GeneratorParams::warmup_days`], at a constant rate
//! from before it (a steady app); the signup is an event. What they do then depends on the
//! [`Mode`]:
//! - [`Mode::Social`] ([`social`]): a social shop; latent segments set rates of engagement and
//!   purchases and an exponential lifetime after which the user falls silent; items are
//!   Zipf-popular and users have tastes ([`tastes`]);
//! - [`Mode::Subscription`] ([`subscription`]): a social app sold by the month (after ChurnSim);
//!   users renew every 30 days or send a `cancel` event, with a probability that depends on
//!   their mix of behaviours.
//!
//! Output under the target folder: `users.parquet`, `items.parquet`, `ground_truth.parquet`,
//! `events/dt=YYYY-MM-DD/part-NNNNN.parquet` (one file per day per chunk of users), and the
//! marketing side (`consent.parquet`, `contacts.parquet`; see [`outreach`]).

pub mod campaign;
mod outreach;
pub mod social;
pub mod subscription;
mod tastes;
mod write;

pub use social::{SEGMENTS, Segment};
pub use write::event_schema;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};
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
    /// What kind of product the log comes from.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = Mode::Social))]
    pub mode: Mode,
    /// Days before `start` over which users already sign up, at a constant rate through to the
    /// end (0: a growing app, every signup inside the period). Long enough (about three of the
    /// longest mean lifetime, 300 days) and the log is in a steady state from its first day:
    /// about the same users active and events written every day. Events before `start` are
    /// not written; users who left before it are still in `users.parquet`.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0))]
    pub warmup_days: u32,
    /// Also a past campaign with a planted, segment-dependent effect on purchases
    /// (`experiment.parquet`, `uplift_truth.parquet`, its sends in `contacts.parquet`; see
    /// [`campaign`]). Social mode only.
    #[cfg_attr(feature = "cli", arg(long))]
    pub experiment: bool,
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
            mode: Mode::Social,
            warmup_days: 0,
            experiment: false,
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

/// What kind of product a generated log comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Mode {
    /// A social shop: engagement and purchases; users churn by falling silent ([`social`]).
    #[default]
    Social,
    /// A social app sold by monthly subscription: `renewal` purchases every 30 days, and
    /// explicit `cancel` events driven by each user's mix of behaviours ([`subscription`]).
    Subscription,
}

impl Mode {
    /// The event types of this mode's logs.
    pub fn event_types(self) -> &'static [&'static str] {
        match self {
            Mode::Social => &social::EVENT_TYPES,
            Mode::Subscription => &subscription::EVENT_TYPES,
        }
    }

    /// The ground truth's `latent_segment` of `UserTruth::segment`: the segment, or the plan.
    fn segment_name(self, segment: usize) -> &'static str {
        match self {
            Mode::Social => SEGMENTS[segment].name,
            Mode::Subscription => subscription::PLANS[segment].0,
        }
    }
}

/// Item categories and their typical price.
const CATEGORIES: [(&str, f64); 6] = [
    ("fashion", 35.0),
    ("beauty", 22.0),
    ("home", 48.0),
    ("electronics", 120.0),
    ("books", 15.0),
    ("sports", 55.0),
];
const DAY_US: i64 = 86_400_000_000;

/// One generated event; `kind` indexes the mode's event types.
struct Event {
    user: u64,
    t_us: i64,
    kind: u8,
    item: Option<u32>,
    amount: Option<f64>,
}

impl Event {
    fn new(user: u64, t_us: i64, kind: u8, item: Option<u32>, amount: Option<f64>) -> Event {
        Event {
            user,
            t_us,
            kind,
            item,
            amount,
        }
    }
}

/// The index of the share a uniform draw falls in (shares in order, adding up to 1; the last
/// one if rounding leaves the draw past their sum).
fn pick_share(rng: &mut ChaCha8Rng, shares: impl ExactSizeIterator<Item = f64>) -> usize {
    let x: f64 = rng.r#gen();
    let last = shares.len() - 1;
    let mut acc = 0.0;
    for (i, share) in shares.enumerate() {
        acc += share;
        if x < acc {
            return i;
        }
    }
    last
}

/// What was drawn for a user; `segment` is the latent segment or the plan.
struct UserTruth {
    signup_us: i64,
    segment: usize,
    churn_us: i64,
    /// The past campaign's assignment (with `--experiment`).
    campaign: Option<campaign::Assigned>,
    country: &'static str,
    channel: &'static str,
}

/// The items: popularity, category, price.
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

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda)
        .map(|d| d.sample(rng) as u64)
        .unwrap_or(0)
}

/// A signup time: without warm-up in the period from `start_us`, more of them later (a growing
/// app); with [`GeneratorParams::warmup_days`] at a constant rate from that many days before it.
fn signup_time(rng: &mut ChaCha8Rng, p: &GeneratorParams, start_us: i64) -> i64 {
    let period_us = p.days as i64 * DAY_US;
    if p.warmup_days == 0 {
        return start_us + (rng.r#gen::<f64>().powf(0.8) * period_us as f64) as i64;
    }
    let warmup_us = p.warmup_days as i64 * DAY_US;
    start_us - warmup_us + (rng.r#gen::<f64>() * (warmup_us + period_us) as f64) as i64
}

/// A user's country and channel (churn time to be set by the caller).
fn draw_profile(rng: &mut ChaCha8Rng, signup_us: i64, segment: usize) -> UserTruth {
    let countries = ["GB", "US", "DE", "FR", "NL", "ES"];
    let channels = ["organic", "paid_social", "referral", "search"];
    UserTruth {
        signup_us,
        segment,
        churn_us: 0,
        campaign: None,
        country: countries[rng.gen_range(0..countries.len())],
        channel: channels[rng.gen_range(0..channels.len())],
    }
}

/// One user, simulated as the mode says.
fn simulate(
    p: &GeneratorParams,
    cat: &Catalog,
    by_category: &tastes::CategoryIndex,
    user: u64,
    start_us: i64,
) -> (UserTruth, Vec<Event>) {
    match p.mode {
        Mode::Social => social::simulate_user(p, cat, by_category, user, start_us),
        Mode::Subscription => subscription::simulate_user(p, cat, user, start_us),
    }
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
    if p.experiment && (p.mode != Mode::Social || (p.days as i64) < campaign::DAYS_BEFORE_END) {
        return Err(SynthError::Param {
            param: "experiment",
            reason: format!(
                "needs --mode social and at least {} days",
                campaign::DAYS_BEFORE_END
            ),
        });
    }
    let cat = catalog(p);
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
    write::items(p, &cat, out)?;
    let mut truths: Vec<(u64, UserTruth)> = Vec::with_capacity(p.users as usize);
    let mut chunk_start = 0u64;
    while chunk_start < p.users {
        let chunk_end = (chunk_start + p.chunk_users).min(p.users);
        let chunk = chunk_start / p.chunk_users;
        write_chunk(
            p,
            &cat,
            (chunk_start..chunk_end, chunk),
            start_us,
            out,
            &mut truths,
            &mut summary,
        )?;
        chunk_start = chunk_end;
        users_done(chunk_end);
    }
    let end_us = start_us + p.days as i64 * DAY_US;
    summary.churned_users = truths.iter().filter(|(_, t)| t.churn_us < end_us).count() as u64;
    (summary.consent_rows, summary.contact_rows) = outreach::write(p, &truths, start_us, out)?;
    write::users(&truths, out)?;
    write::ground_truth(&truths, &|s| p.mode.segment_name(s), end_us, out)?;
    if p.experiment {
        campaign::write(p, &truths, out)?;
    }
    Ok(summary)
}

/// Simulates the users of one chunk (`users`, chunk number) and writes their events, one file
/// per day; adds their truths to `truths` and their counts to `summary`.
fn write_chunk(
    p: &GeneratorParams,
    cat: &Catalog,
    (users, chunk): (std::ops::Range<u64>, u64),
    start_us: i64,
    out: &Path,
    truths: &mut Vec<(u64, UserTruth)>,
    summary: &mut GenerateSummary,
) -> Result<()> {
    let by_category = tastes::CategoryIndex::of(cat);
    let simulated: Vec<(UserTruth, Vec<Event>)> = users
        .clone()
        .into_par_iter()
        .map(|u| simulate(p, cat, &by_category, u, start_us))
        .collect();
    let mut by_day: Vec<Vec<Event>> = (0..p.days).map(|_| Vec::new()).collect();
    for (u, (truth, events)) in users.zip(simulated) {
        for e in events {
            if e.t_us < start_us {
                continue; // during the warm-up, before the log begins
            }
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
        .map(|(d, ev)| {
            let date = p.start + chrono::Days::new(d as u64);
            let path = out.join(format!("events/dt={date}/part-{chunk:05}.parquet"));
            let counts = (
                ev.len() as u64,
                ev.iter().filter(|e| e.kind == 1).count() as u64,
            );
            write::events(&path, ev, p.mode.event_types())?;
            Ok(counts)
        })
        .collect();
    for w in written {
        let (n, purchases) = w?;
        summary.events += n;
        summary.purchases += purchases;
        summary.event_files += 1;
    }
    Ok(())
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

    /// Events written per day, from the day folders' Parquet footers.
    fn events_per_day(dir: &Path) -> Vec<(String, i64)> {
        let mut days: Vec<(String, i64)> = vec![];
        for day in std::fs::read_dir(dir.join("events")).unwrap() {
            let day = day.unwrap().path();
            let mut n = 0;
            for f in std::fs::read_dir(&day).unwrap() {
                let file = std::fs::File::open(f.unwrap().path()).unwrap();
                let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
                n += parquet::file::reader::FileReader::metadata(&reader)
                    .file_metadata()
                    .num_rows();
            }
            days.push((day.file_name().unwrap().to_string_lossy().into(), n));
        }
        days.sort();
        days
    }

    #[test]
    fn a_warmed_up_log_writes_about_the_same_events_every_week_from_its_first_day() {
        let p = GeneratorParams {
            users: 6_000,
            days: 84,
            warmup_days: 900,
            ..small()
        };
        let dir = tempfile::tempdir().unwrap();
        generate(&p, dir.path()).unwrap();
        let days = events_per_day(dir.path());
        assert_eq!(days.first().unwrap().0, format!("dt={}", p.start));
        assert_eq!(days.len(), 84);
        let weeks: Vec<i64> = days
            .chunks(7)
            .map(|w| w.iter().map(|d| d.1).sum())
            .collect();
        let mean = weeks.iter().sum::<i64>() as f64 / weeks.len() as f64;
        for w in &weeks {
            assert!((*w as f64 / mean - 1.0).abs() < 0.15, "{weeks:?}");
        }
        // Without the warm-up the same users make a growing app: the last weeks are busier.
        let growing = tempfile::tempdir().unwrap();
        generate(
            &GeneratorParams {
                warmup_days: 0,
                ..p
            },
            growing.path(),
        )
        .unwrap();
        let days = events_per_day(growing.path());
        let (first, last) = (
            days[..7].iter().map(|d| d.1).sum::<i64>(),
            days[77..].iter().map(|d| d.1).sum::<i64>(),
        );
        assert!(last > 3 * first, "{first} {last}");
    }
}
