//! Subscription mode: a social app sold by the month, whose users cancel when what they do there
//! stops being worth the price, after the utility model of ChurnSim (Gold, "Fighting Churn with
//! Data", 2020, and its ChurnSim report).
//!
//! Per user:
//! - a plan ([`PLANS`]) and a monthly rate for each behaviour ([`BEHAVIOURS`]): the behaviour's
//!   mean times `exp(a + e_b)`, with `a` a shared activity level and `e_b` the user's own mix
//!   (log-normal, so active users do more of everything, ads included, and the mix varies);
//! - both drift from one 30-day billing period to the next (a random walk), so that recent
//!   activity says more than old activity;
//! - at the end of each period the period's counts give a utility
//!   `U = Σ_b w_b m_b (1 − exp(−n_b / m_b))` (weight `w_b`, mean `m_b`, count `n_b`; good things
//!   have diminishing returns, and ads, dislikes and unfriends cost), scaled by the user's
//!   satisfaction propensity `s` (`U s` when positive, `U / s` otherwise; unobserved, so no model
//!   reaches a perfect score); the user cancels with probability `1 − σ(SCALE · U + OFFSET)`,
//!   a `cancel` event in the period's last week, after which they do nothing more; otherwise a
//!   `renewal` (the plan's price, a purchase) starts the next period.
//!
//! So churn depends on the mix of behaviours, not on the amount of activity alone. Counts are
//! drawn for whole periods, also past the log's end, so a user's history does not depend on
//! `--days`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::{Catalog, DAY_US, Event, GeneratorParams, UserTruth, pick_item, poisson, rng_for};

/// The event types of a subscription log (`Event::kind` indexes it).
pub(crate) const EVENT_TYPES: [&str; 11] = [
    "subscribe",
    "renewal",
    "cancel",
    "post",
    "like",
    "message",
    "reply",
    "friend",
    "ad_view",
    "dislike",
    "unfriend",
];
const SUBSCRIBE: u8 = 0;
const RENEWAL: u8 = 1;
const CANCEL: u8 = 2;
/// `EVENT_TYPES` index of the first behaviour.
const FIRST_BEHAVIOUR: u8 = 3;

/// One behaviour: its mean count per period over all users, its utility weight, and whether its
/// events name an item.
pub struct Behaviour {
    pub name: &'static str,
    pub per_period: f64,
    pub utility: f64,
    pub has_item: bool,
}

/// The behaviours, in `EVENT_TYPES` order from `post`.
pub const BEHAVIOURS: [Behaviour; 8] = [
    behaviour("post", 8.0, 1.0, false),
    behaviour("like", 40.0, 0.5, true),
    behaviour("message", 20.0, 1.0, false),
    behaviour("reply", 15.0, 1.0, false),
    behaviour("friend", 3.0, 6.0, false),
    behaviour("ad_view", 50.0, -1.5, false),
    behaviour("dislike", 6.0, -1.0, true),
    behaviour("unfriend", 0.6, -10.0, false),
];

const fn behaviour(name: &'static str, per_period: f64, utility: f64, has_item: bool) -> Behaviour {
    Behaviour {
        name,
        per_period,
        utility,
        has_item,
    }
}

/// The plans: name (the ground truth's `latent_segment`), monthly price, share of users.
pub const PLANS: [(&str, f64, f64); 3] = [
    ("basic", 9.99, 0.5),
    ("standard", 14.99, 0.35),
    ("premium", 24.99, 0.15),
];

/// Days in a billing period.
pub const PERIOD_DAYS: i64 = 30;
/// `σ(SCALE · U + OFFSET)` is the probability to renew.
const SCALE: f64 = 0.12;
const OFFSET: f64 = 2.2;
/// Standard deviations of the shared activity level, of each behaviour's own level, of the
/// satisfaction propensity's logarithm, and of the per-period drift of the two levels.
const SD_ACTIVITY: f64 = 0.6;
const SD_MIX: f64 = 0.5;
const SD_PROPENSITY: f64 = 0.3;
const SD_DRIFT_ACTIVITY: f64 = 0.15;
const SD_DRIFT_MIX: f64 = 0.1;

/// One user's latent state: activity level, mix, satisfaction propensity.
struct Latent {
    activity: f64,
    mix: [f64; BEHAVIOURS.len()],
    propensity: f64,
}

impl Latent {
    fn draw(rng: &mut ChaCha8Rng) -> Latent {
        let mut mix = [0.0; BEHAVIOURS.len()];
        for m in &mut mix {
            *m = normal(rng, SD_MIX);
        }
        Latent {
            activity: normal(rng, SD_ACTIVITY),
            mix,
            propensity: normal(rng, SD_PROPENSITY).exp(),
        }
    }

    /// The next period's levels.
    fn drift(&mut self, rng: &mut ChaCha8Rng) {
        self.activity += normal(rng, SD_DRIFT_ACTIVITY);
        for m in &mut self.mix {
            *m += normal(rng, SD_DRIFT_MIX);
        }
    }

    /// Behaviour `b`'s expected count this period (mean-preserving at the start).
    fn rate(&self, b: usize) -> f64 {
        let correction = (SD_ACTIVITY * SD_ACTIVITY + SD_MIX * SD_MIX) / 2.0;
        BEHAVIOURS[b].per_period * (self.activity + self.mix[b] - correction).exp()
    }

    /// The probability to cancel after a period with these counts.
    fn cancel_probability(&self, counts: &[u64; BEHAVIOURS.len()]) -> f64 {
        let utility: f64 = BEHAVIOURS
            .iter()
            .zip(counts)
            .map(|(b, n)| b.utility * b.per_period * (1.0 - (-(*n as f64) / b.per_period).exp()))
            .sum();
        let felt = if utility > 0.0 {
            utility * self.propensity
        } else {
            utility / self.propensity
        };
        1.0 - 1.0 / (1.0 + (-(SCALE * felt + OFFSET)).exp())
    }
}

fn normal(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    Normal::new(0.0, sd).expect("valid normal").sample(rng)
}

fn pick_plan(rng: &mut ChaCha8Rng) -> usize {
    crate::pick_share(rng, PLANS.iter().map(|(_, _, share)| *share))
}

/// One simulated subscriber; `UserTruth::segment` is the plan.
pub(crate) fn simulate_user(
    p: &GeneratorParams,
    cat: &Catalog,
    user: u64,
    start_us: i64,
) -> (UserTruth, Vec<Event>) {
    let mut rng = rng_for(p.seed, user);
    let plan = pick_plan(&mut rng);
    let mut latent = Latent::draw(&mut rng);
    let end_us = start_us + p.days as i64 * DAY_US;
    let signup_us = crate::signup_time(&mut rng, p, start_us);
    let mut truth = crate::draw_profile(&mut rng, signup_us, plan);
    truth.churn_us = i64::MAX;
    let mut events = vec![Event::new(user, signup_us, SUBSCRIBE, None, None)];
    let period_us = PERIOD_DAYS * DAY_US;
    let mut period_start = signup_us;
    while period_start < end_us {
        let period_end = period_start + period_us;
        let first = events.len();
        let counts = behave(&latent, &mut rng, cat, user, period_start, &mut events);
        if rng.r#gen::<f64>() < latent.cancel_probability(&counts) {
            let cancel_us = period_end - rng.gen_range(1..7 * DAY_US);
            keep_before(&mut events, first, cancel_us);
            events.push(Event::new(user, cancel_us, CANCEL, None, None));
            truth.churn_us = cancel_us;
            break;
        }
        let price = PLANS[plan].1;
        events.push(Event::new(user, period_end, RENEWAL, None, Some(price)));
        latent.drift(&mut rng);
        period_start = period_end;
    }
    events.retain(|e| e.t_us < end_us);
    (truth, events)
}

/// One period's behaviour events (appended to `events`), and their counts.
fn behave(
    latent: &Latent,
    rng: &mut ChaCha8Rng,
    cat: &Catalog,
    user: u64,
    period_start: i64,
    events: &mut Vec<Event>,
) -> [u64; BEHAVIOURS.len()] {
    let mut counts = [0u64; BEHAVIOURS.len()];
    for (b, count) in counts.iter_mut().enumerate() {
        *count = poisson(rng, latent.rate(b));
        for _ in 0..*count {
            let t_us = period_start + rng.gen_range(0..PERIOD_DAYS * DAY_US);
            let item = BEHAVIOURS[b].has_item.then(|| pick_item(cat, rng));
            events.push(Event::new(
                user,
                t_us,
                FIRST_BEHAVIOUR + b as u8,
                item,
                None,
            ));
        }
    }
    counts
}

/// Drops the events from `first` on that come at or after `t_us`.
fn keep_before(events: &mut Vec<Event>, first: usize, t_us: i64) {
    let mut i = first;
    while i < events.len() {
        if events[i].t_us >= t_us {
            events.swap_remove(i);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_of(level: f64) -> [u64; BEHAVIOURS.len()] {
        let mut counts = [0; BEHAVIOURS.len()];
        for (c, b) in counts.iter_mut().zip(&BEHAVIOURS) {
            *c = (b.per_period * level).round() as u64;
        }
        counts
    }

    #[test]
    fn the_mix_not_the_amount_drives_cancelling() {
        let latent = Latent {
            activity: 0.0,
            mix: [0.0; BEHAVIOURS.len()],
            propensity: 1.0,
        };
        // More of everything changes little; more ads per post changes a lot.
        let (low, high) = (
            latent.cancel_probability(&counts_of(0.5)),
            latent.cancel_probability(&counts_of(2.0)),
        );
        assert!((low - high).abs() < 0.1, "{low} {high}");
        let mut ads = counts_of(1.0);
        ads[5] *= 3;
        let mut posts = counts_of(1.0);
        posts[0] *= 3;
        posts[4] *= 3;
        let (more_ads, more_posts) = (
            latent.cancel_probability(&ads),
            latent.cancel_probability(&posts),
        );
        assert!(more_ads > 2.0 * more_posts, "{more_ads} {more_posts}");
    }

    #[test]
    fn subscribers_renew_monthly_until_one_cancel_ends_them() {
        let p = GeneratorParams {
            users: 3000,
            items: 50,
            days: 365,
            mode: crate::Mode::Subscription,
            ..Default::default()
        };
        let cat = crate::catalog(&p);
        let (mut periods, mut cancels) = (0u64, 0u64);
        for u in 0..p.users {
            let (truth, mut events) = simulate_user(&p, &cat, u, 0);
            events.sort_by_key(|e| e.t_us);
            assert_eq!(events[0].kind, SUBSCRIBE);
            let renewals: Vec<&Event> = events.iter().filter(|e| e.kind == RENEWAL).collect();
            for (k, r) in renewals.iter().enumerate() {
                let due = truth.signup_us + (k as i64 + 1) * PERIOD_DAYS * DAY_US;
                assert_eq!(r.t_us, due);
                assert_eq!(r.amount, Some(PLANS[truth.segment].1));
            }
            let cancelled: Vec<&Event> = events.iter().filter(|e| e.kind == CANCEL).collect();
            periods += renewals.len() as u64 + cancelled.len() as u64;
            if let Some(c) = cancelled.first() {
                assert_eq!(cancelled.len(), 1);
                assert_eq!(c.t_us, truth.churn_us);
                assert_eq!(
                    events.last().unwrap().kind,
                    CANCEL,
                    "nothing after the cancel"
                );
                cancels += 1;
            } else {
                assert!(
                    truth.churn_us >= p.days as i64 * DAY_US,
                    "a cancel past the log"
                );
            }
        }
        let monthly = cancels as f64 / periods as f64;
        assert!(
            (0.05..0.25).contains(&monthly),
            "{monthly} of periods end in a cancel"
        );
    }
}
