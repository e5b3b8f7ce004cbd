//! A past campaign with a planted, segment-dependent effect (`--experiment`): on the day
//! [`DAYS_BEFORE_END`] days before the end, every user active that day is assigned to
//! `control` or `treatment` (half each, by a stream of their own, so the flag changes nothing
//! else); the treatment, an email, multiplies the user's purchase rate for [`WINDOW_DAYS`]
//! days by their segment's [`EFFECT`]: browsers are persuadable, buyers a little, casual users
//! not at all, and vips are put off (a "sleeping dog"). Written beside the log:
//! `experiment.parquet` (user_id, arm, assigned_on), the treatment's sends in
//! `contacts.parquet`, and `uplift_truth.parquet`: each assigned user's expected uplift, the
//! change in the probability of at least one purchase in the window that the treatment makes.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use rand::Rng;

use crate::write::{batch, user_id, write_batch};
use crate::{DAY_US, GeneratorParams, Result, SEGMENTS, UserTruth, rng_for};

/// The campaign's day, counted back from the end of the log.
pub const DAYS_BEFORE_END: i64 = 35;
/// The days the treatment acts for, from the campaign's day.
pub const WINDOW_DAYS: i64 = 21;
/// The treatment's purchase-rate multiplier per segment (`SEGMENTS`' order).
pub const EFFECT: [f64; 4] = [1.0, 3.0, 1.5, 0.6];
/// Keeps the assignment's random stream apart from every other draw.
const SALT: u64 = 0x0e4b_e41c_a3b1_a1c0;

/// A user's part in the campaign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Assigned {
    /// The campaign's first microsecond.
    pub at_us: i64,
    pub treated: bool,
}

impl Assigned {
    /// The purchase-rate multiplier on the day that starts at `day_us`.
    pub fn boost(&self, segment: usize, day_us: i64) -> f64 {
        let inside = day_us >= self.at_us && day_us < self.at_us + WINDOW_DAYS * DAY_US;
        if self.treated && inside {
            EFFECT[segment]
        } else {
            1.0
        }
    }
}

/// The campaign's first microsecond for a log from `start_us`.
fn campaign_us(p: &GeneratorParams, start_us: i64) -> i64 {
    start_us + (p.days as i64 - DAYS_BEFORE_END) * DAY_US
}

/// Whether and how `user` (signed up at `signup_us`, silent from `churn_us`) takes part.
pub(crate) fn assign(
    p: &GeneratorParams,
    user: u64,
    (signup_us, churn_us): (i64, i64),
    start_us: i64,
) -> Option<Assigned> {
    let at_us = campaign_us(p, start_us);
    if !p.experiment || signup_us > at_us || churn_us <= at_us {
        return None;
    }
    let treated = rng_for(p.seed.wrapping_add(SALT), user).r#gen::<f64>() < 0.5;
    Some(Assigned { at_us, treated })
}

/// The expected uplift of a user of `segment` active until `churn_us`: P(a purchase in the
/// window | treated) − P(… | control), at the segment's base rate (Poisson purchases).
pub fn expected_uplift(segment: usize, at_us: i64, churn_us: i64) -> f64 {
    let days = ((churn_us - at_us) as f64 / DAY_US as f64).clamp(0.0, WINDOW_DAYS as f64);
    let rate = SEGMENTS[segment].purchases_per_day * days;
    (-rate).exp() - (-EFFECT[segment] * rate).exp()
}

/// The campaign's date.
pub(crate) fn date(p: &GeneratorParams) -> NaiveDate {
    p.start + chrono::Days::new((p.days as i64 - DAYS_BEFORE_END).max(0) as u64)
}

/// Writes `experiment.parquet` and `uplift_truth.parquet` for the assigned users.
pub(crate) fn write(p: &GeneratorParams, truths: &[(u64, UserTruth)], out: &Path) -> Result<()> {
    let assigned: Vec<(u64, &UserTruth, Assigned)> = truths
        .iter()
        .filter_map(|(u, t)| t.campaign.map(|c| (*u, t, c)))
        .collect();
    let ids = || -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            assigned.iter().map(|a| user_id(a.0)),
        ))
    };
    let day = crate::write::days_since_epoch(date(p));
    let arms = assigned
        .iter()
        .map(|a| if a.2.treated { "treatment" } else { "control" });
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("arm", DataType::Utf8, false),
        Field::new("assigned_on", DataType::Date32, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        ids(),
        Arc::new(StringArray::from_iter_values(arms)),
        Arc::new(Date32Array::from_iter_values(assigned.iter().map(|_| day))),
    ];
    write_batch(&out.join("experiment.parquet"), batch(schema, columns))?;
    let uplift = assigned
        .iter()
        .map(|(_, t, c)| expected_uplift(t.segment, c.at_us, t.churn_us));
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("latent_segment", DataType::Utf8, false),
        Field::new("uplift", DataType::Float64, false),
    ]));
    let segments = assigned.iter().map(|a| SEGMENTS[a.1.segment].name);
    let columns: Vec<ArrayRef> = vec![
        ids(),
        Arc::new(StringArray::from_iter_values(segments)),
        Arc::new(Float64Array::from_iter_values(uplift)),
    ];
    write_batch(&out.join("uplift_truth.parquet"), batch(schema, columns))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::array::AsArray;
    use arrow::datatypes::TimestampMicrosecondType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::generate;

    type Events = HashMap<String, Vec<(i64, String)>>;

    /// Every event of a generated log by user: (time, type).
    fn events(dir: &Path) -> Events {
        let mut out = Events::new();
        for day in std::fs::read_dir(dir.join("events")).unwrap() {
            for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
                let file = std::fs::File::open(f.unwrap().path()).unwrap();
                for b in ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap()
                {
                    let b = b.unwrap();
                    let users = b.column(0).as_string::<i32>();
                    let times = b.column(1).as_primitive::<TimestampMicrosecondType>();
                    let types = b.column(2).as_string::<i32>();
                    for i in 0..b.num_rows() {
                        let e = (times.value(i), types.value(i).to_string());
                        out.entry(users.value(i).to_string()).or_default().push(e);
                    }
                }
            }
        }
        out.values_mut().for_each(|v| v.sort());
        out
    }

    /// `(user, arm)` of `experiment.parquet` and `(user, segment, uplift)` of the truth.
    fn read_rows(path: &Path) -> Vec<arrow::array::RecordBatch> {
        let file = std::fs::File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        reader.map(|b| b.unwrap()).collect()
    }

    /// Each assigned user's arm, from `experiment.parquet`.
    fn arms(dir: &Path) -> HashMap<String, String> {
        let mut arm = HashMap::new();
        for batch in read_rows(&dir.join("experiment.parquet")) {
            let (u, t) = (
                batch.column(0).as_string::<i32>(),
                batch.column(1).as_string::<i32>(),
            );
            let pairs =
                (0..batch.num_rows()).map(|i| (u.value(i).to_string(), t.value(i).to_string()));
            arm.extend(pairs);
        }
        arm
    }

    /// (users, buyers in the window) per (segment, treated), checking each expected uplift's
    /// sign against its segment's effect on the way.
    fn buyers_by_segment(
        dir: &Path,
        events: &Events,
        at: i64,
        treated: &dyn Fn(&str) -> bool,
    ) -> HashMap<(String, bool), (f64, f64)> {
        let mut by: HashMap<(String, bool), (f64, f64)> = HashMap::new();
        let in_window =
            |(t, k): &(i64, String)| k == "purchase" && *t >= at && *t < at + WINDOW_DAYS * DAY_US;
        for batch in read_rows(&dir.join("uplift_truth.parquet")) {
            let (u, s) = (
                batch.column(0).as_string::<i32>(),
                batch.column(1).as_string::<i32>(),
            );
            let up = batch
                .column(2)
                .as_primitive::<arrow::datatypes::Float64Type>();
            for i in 0..batch.num_rows() {
                let user = u.value(i);
                let bought = events.get(user).is_some_and(|e| e.iter().any(in_window));
                let cell = by
                    .entry((s.value(i).to_string(), treated(user)))
                    .or_default();
                (cell.0, cell.1) = (cell.0 + 1.0, cell.1 + bought as u8 as f64);
                let sign = match s.value(i) {
                    "browser" | "buyer" => 1.0,
                    "vip" => -1.0,
                    _ => 0.0,
                };
                assert!(
                    up.value(i) * sign >= 0.0 && (sign != 0.0 || up.value(i) == 0.0),
                    "{user}"
                );
            }
        }
        by
    }

    #[test]
    fn a_past_campaign_changes_only_the_treated_and_as_planted() {
        let p = GeneratorParams {
            users: 6_000,
            items: 50,
            days: 90,
            experiment: true,
            ..Default::default()
        };
        let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        generate(&p, with.path()).unwrap();
        generate(
            &GeneratorParams {
                experiment: false,
                ..p.clone()
            },
            without.path(),
        )
        .unwrap();
        let (a, b) = (events(with.path()), events(without.path()));
        let arm = arms(with.path());
        let treated = |u: &str| arm.get(u).is_some_and(|a| a == "treatment");
        for (user, evs) in &b {
            if !treated(user) {
                assert_eq!(a.get(user), Some(evs), "{user} is not treated but changed");
            }
        }
        let at = campaign_us(&p, 1_704_067_200_000_000);
        let by = buyers_by_segment(with.path(), &a, at, &treated);
        let rate = |s: &str, t: bool| by[&(s.to_string(), t)].1 / by[&(s.to_string(), t)].0;
        assert!(
            rate("browser", true) > 2.0 * rate("browser", false),
            "{by:?}"
        );
        assert!(rate("vip", true) < rate("vip", false), "{by:?}");
        assert!(arm.values().filter(|a| *a == "treatment").count() * 10 > arm.len() * 4);
    }
}
