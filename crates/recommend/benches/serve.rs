//! Recommendation serving at scale: building the history, fitting item-item and ALS, listing
//! every user with the demo job's blend, and each algorithm alone (what the evaluation lists),
//! timed phase by phase, with the process's peak memory.
//!
//! `cargo bench -p lifecycle-recommend --bench serve`. The interactions come from
//! `LIFECYCLE_BENCH_INTERACTIONS` (a headerless CSV of `user,item,weight,bought`, e.g. the
//! decayed (user, item) sums of a generated log, which `benches/peers/interactions.py` writes),
//! or else a generated matrix: `LIFECYCLE_BENCH_USERS` (92,000) users with a taste for one of 50
//! categories of `LIFECYCLE_BENCH_ITEMS` (100,000) items, about 70 items each.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use lifecycle_recommend::als::AlsParams;
use lifecycle_recommend::item_knn::ItemKnnParams;
use lifecycle_recommend::serve::{Algorithm, History, InteractionRow, ServeParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The rows of a `user,item,weight,bought` CSV.
fn read_csv(path: &str) -> Vec<InteractionRow> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let number = |k: usize| {
                f[k].parse::<f32>()
                    .unwrap_or_else(|e| panic!("{line}: {e}"))
            };
            InteractionRow {
                user: f[0].to_string(),
                item: f[1].to_string(),
                weight: number(2),
                purchases: number(3),
            }
        })
        .collect()
}

/// Users who each like one of 50 categories: 80% of their items from it, the rest from
/// everything, both by a 1/rank popularity curve.
fn generated(users: usize, items: usize) -> Vec<InteractionRow> {
    const CATEGORIES: usize = 50;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let per_category = (items / CATEGORIES).max(1);
    let zipf =
        |rng: &mut ChaCha8Rng, n: usize| (n as f64).powf(rng.gen_range(0.0..1.0)) as usize - 1;
    let mut rows = vec![];
    for u in 0..users {
        let taste = rng.gen_range(0..CATEGORIES);
        let n = (rng.gen_range(1.0f64..3.0).exp().powi(2) as usize).clamp(1, 2000);
        let mut picked: Vec<usize> = (0..n)
            .map(|_| match rng.gen_bool(0.8) {
                true => taste * per_category + zipf(&mut rng, per_category),
                false => zipf(&mut rng, items),
            })
            .map(|i| i.min(items - 1))
            .collect();
        picked.sort_unstable();
        picked.dedup();
        for i in picked {
            let bought = rng.gen_bool(0.1);
            rows.push(InteractionRow {
                user: format!("u{u:07}"),
                item: format!("i{i:06}"),
                weight: rng.gen_range(0.1f32..6.0) + if bought { 5.0 } else { 0.0 },
                purchases: if bought {
                    rng.gen_range(0.2f32..1.0)
                } else {
                    0.0
                },
            });
        }
    }
    rows
}

/// The process's peak resident memory so far, in MiB (Linux).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn lap(what: &str, t: Instant) {
    println!(
        "  {what:<28} {:>7.2} s   peak {:>6.0} MiB",
        t.elapsed().as_secs_f64(),
        peak_mib()
    );
}

/// The demo job's `[recommendations]`.
fn params() -> ServeParams {
    ServeParams {
        weights: BTreeMap::from([
            (Algorithm::Als, 1.0),
            (Algorithm::BuyAgain, 0.5),
            (Algorithm::ItemItem, 1.0),
            (Algorithm::Popularity, 0.1),
        ]),
        item_knn: ItemKnnParams::default(),
        als: AlsParams {
            factors: 32,
            iterations: 10,
            ..Default::default()
        },
        n: 10,
        exclude_purchased: false,
        allow: vec![],
        deny: vec![],
        per_category: None,
    }
}

fn main() {
    let t = Instant::now();
    let rows = match std::env::var("LIFECYCLE_BENCH_INTERACTIONS") {
        Ok(path) => read_csv(&path),
        Err(_) => generated(
            env_or("LIFECYCLE_BENCH_USERS", 92_000),
            env_or("LIFECYCLE_BENCH_ITEMS", 100_000),
        ),
    };
    lap("rows read or generated", t);
    let t = Instant::now();
    let history = History::new(&rows);
    drop(rows);
    let (users, items) = (history.inter.users(), history.inter.items());
    println!(
        "serve: {users} users x {items} items, {} interactions, {} threads",
        history.inter.matrix.nnz(),
        rayon::current_num_threads()
    );
    lap("history built", t);
    let p = params();
    let t = Instant::now();
    p.item_knn.fit(&history.inter.matrix).unwrap();
    lap("item-item fitted", t);
    let t = Instant::now();
    p.als.fit(&history.inter.matrix).unwrap();
    lap("ALS fitted (10 iterations)", t);
    let stages = ["new", "active", "at_risk", "churned"];
    let stage_of: HashMap<String, String> = (0..users as u32)
        .map(|u| {
            (
                history.inter.user_id(u).to_string(),
                stages[u as usize % 4].to_string(),
            )
        })
        .collect();
    let t = Instant::now();
    let mut fitted = p.fit(&history, &stage_of, &HashMap::new()).unwrap();
    lap("both fitted for serving", t);
    let asked: Vec<(&str, Option<&str>)> = (0..users as u32)
        .map(|u| (history.inter.user_id(u), Some(stages[u as usize % 4])))
        .collect();
    let no_categories = HashMap::new();
    let t = Instant::now();
    let lists = fitted.lists(&asked, &no_categories);
    lap("every user listed (blend)", t);
    assert_eq!(lists.len(), users);
    let blend = fitted.weights.clone();
    for a in blend.keys() {
        fitted.weights = BTreeMap::from([(*a, 1.0)]);
        let t = Instant::now();
        fitted.lists(&asked, &no_categories);
        lap(&format!("every user listed ({})", a.name()), t);
    }
}
