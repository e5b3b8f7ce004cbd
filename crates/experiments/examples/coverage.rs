//! How often the 95% intervals cover a known effect: 200 generated A/B tests (seeds 0..200)
//! with a planted lift on a conversion and a revenue metric whose pre-assignment values
//! predict them, read out as the pipeline does (plain and CUPED, absolute and relative).
//! An evaluation, never part of the test command:
//!
//!     cargo run --release -p lifecycle-experiments --example coverage [-- TESTS USERS]

use lifecycle_experiments::readout::{Comparison, Estimate, compare};
use lifecycle_experiments::sample::{Kind, Paired};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Control conversion, its planted absolute lift; revenue mean, its planted absolute lift.
const CONVERSION: (f64, f64) = (0.20, 0.02);
const REVENUE: (f64, f64) = (50.0, 3.0);

/// One arm's users: conversion and revenue, each with its pre-assignment value.
fn arm(rng: &mut ChaCha8Rng, users: usize, treated: bool) -> (Paired, Paired) {
    let noise = Normal::new(0.0, 20.0).expect("valid normal");
    let (mut conv, mut rev) = (vec![], vec![]);
    for _ in 0..users {
        let engaged: f64 = rng.r#gen();
        let p = CONVERSION.0 - 0.1 + 0.2 * engaged + if treated { CONVERSION.1 } else { 0.0 };
        let pre = (rng.r#gen::<f64>() < CONVERSION.0 - 0.1 + 0.2 * engaged) as u8 as f64;
        conv.push(((rng.r#gen::<f64>() < p) as u8 as f64, pre));
        let base = REVENUE.0 - 25.0 + 50.0 * engaged;
        let lift = if treated { REVENUE.1 } else { 0.0 };
        rev.push((base + lift + noise.sample(rng), base + noise.sample(rng)));
    }
    (
        Paired::of(Kind::Proportion, &conv),
        Paired::of(Kind::Mean, &rev),
    )
}

fn covers(e: Option<Estimate>, truth: f64) -> bool {
    e.is_some_and(|e| e.ci_low <= truth && truth <= e.ci_high)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (tests, users) = (
        args.first().copied().unwrap_or(200),
        args.get(1).copied().unwrap_or(2_000),
    );
    let mut hits = [[0usize; 4]; 2];
    let mut reduction = [0.0f64; 2];
    for seed in 0..tests as u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (cc, cr) = arm(&mut rng, users, false);
        let (tc, tr) = arm(&mut rng, users, true);
        for (m, (c, base, lift)) in [
            (compare(&cc, &tc), CONVERSION),
            (compare(&cr, &tr), REVENUE),
        ]
        .into_iter()
        .map(|(c, (b, l))| (c, b, l))
        .enumerate()
        {
            let c: Comparison = c;
            let rel = lift / base;
            let checks = [
                covers(c.absolute, lift),
                covers(c.relative, rel),
                covers(c.cuped_absolute, lift),
                covers(c.cuped_relative, rel),
            ];
            for (k, hit) in checks.into_iter().enumerate() {
                hits[m][k] += hit as usize;
            }
            reduction[m] += c.variance_reduction.unwrap_or(0.0) / tests as f64;
        }
    }
    println!(
        "{tests} tests of {users} users per arm; share of 95% intervals covering the planted lift"
    );
    println!("metric      absolute  relative  cuped_abs  cuped_rel  mean CUPED variance reduction");
    for (m, name) in ["conversion", "revenue"].iter().enumerate() {
        let share = |k: usize| hits[m][k] as f64 / tests as f64;
        println!(
            "{name:10}  {:8.3}  {:8.3}  {:9.3}  {:9.3}  {:.3}",
            share(0),
            share(1),
            share(2),
            share(3),
            reduction[m]
        );
    }
}
