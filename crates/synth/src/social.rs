//! Social mode (the default): a social shop whose users view, like, comment, share, follow and
//! buy, and churn by falling silent.
//!
//! A latent segment ([`SEGMENTS`]) sets each user's base daily rates of engagement and purchases
//! and the mean of an exponential lifetime; rates drift week to week (a log-normal random walk)
//! and dip at weekends; after the lifetime the user sends nothing more. Engagement is a mix of
//! [`ENGAGEMENT`] types on Zipf-popular items taken mostly from the user's favourite categories
//! ([`crate::tastes`]); a purchase buys one or more units at the item's price.

use chrono::Datelike;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal, Poisson};

use crate::{
    Catalog, DAY_US, Event, GeneratorParams, UserTruth, draw_profile, pick_item, pick_share,
    poisson, rng_for, signup_time, tastes,
};

/// The event types of a social log (`Event::kind` indexes it).
pub(crate) const EVENT_TYPES: [&str; 7] = [
    "signup", "purchase", "view", "like", "comment", "share", "follow",
];

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

/// Engagement event types and their shares.
const ENGAGEMENT: [(&str, f64); 5] = [
    ("view", 0.70),
    ("like", 0.15),
    ("comment", 0.06),
    ("share", 0.05),
    ("follow", 0.04),
];

fn pick_segment(rng: &mut ChaCha8Rng) -> usize {
    pick_share(rng, SEGMENTS.iter().map(|s| s.share))
}

pub(crate) fn simulate_user(
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
    let signup_us = signup_time(&mut rng, p, start_us);
    let lifetime = Exp::new(1.0 / seg.lifetime_days)
        .expect("positive rate")
        .sample(&mut rng);
    let churn_us = signup_us + (lifetime * DAY_US as f64) as i64;
    let end_us = (start_us + period_us).min(churn_us);
    let mut truth = draw_profile(&mut rng, signup_us, seg_idx);
    truth.churn_us = churn_us;
    truth.campaign = crate::campaign::assign(p, user, (signup_us, churn_us), start_us);
    let mut events = vec![Event::new(user, signup_us, 0, None, None)];
    let drift_step = Normal::<f64>::new(0.0, 0.15).expect("valid normal");
    let basket = Poisson::new(0.3).expect("valid rate");
    let mut drift = 1.0f64;
    let first_day = (signup_us - start_us).div_euclid(DAY_US);
    let mut day = first_day;
    while start_us + day * DAY_US < end_us {
        if (day - first_day) % 7 == 6 {
            drift = (drift * drift_step.sample(&mut rng).exp()).clamp(0.2, 5.0);
        }
        let day_start = start_us + day * DAY_US;
        let weekday = (p.start + chrono::Duration::days(day))
            .weekday()
            .num_days_from_monday();
        let weekend = if weekday >= 5 { 0.7 } else { 1.0 };
        let n_eng = poisson(&mut rng, seg.engagement_per_day * drift * weekend);
        let boost = truth.campaign.map_or(1.0, |c| c.boost(seg_idx, day_start));
        let n_buy = poisson(&mut rng, seg.purchases_per_day * drift * boost);
        for i in 0..(n_eng + n_buy) {
            let t_us = day_start + rng.gen_range(0..DAY_US);
            if t_us < signup_us || t_us >= end_us {
                continue;
            }
            let item = taste.pick(by_category, pick_item(cat, &mut rng));
            events.push(if i < n_eng {
                engagement(&mut rng, user, t_us, item)
            } else {
                purchase(&mut rng, cat, &basket, (user, t_us, item))
            });
        }
        day += 1;
    }
    (truth, events)
}

/// An engagement event on `item`, of a kind drawn by the [`ENGAGEMENT`] shares.
fn engagement(rng: &mut ChaCha8Rng, user: u64, t_us: i64, item: u32) -> Event {
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
    Event::new(user, t_us, kind, Some(item), None)
}

/// A purchase by `user` at `t_us` of one or more units (1 + `basket`) of `item` at its price.
fn purchase(
    rng: &mut ChaCha8Rng,
    cat: &Catalog,
    basket: &Poisson<f64>,
    (user, t_us, item): (u64, i64, u32),
) -> Event {
    let qty = 1.0 + basket.sample(rng);
    let amount = (cat.price[item as usize] * qty * 100.0).round() / 100.0;
    Event::new(user, t_us, 1, Some(item), Some(amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

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
