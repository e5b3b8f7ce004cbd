//! Implicit ALS time per iteration at 64 factors on a generated 1M-user × 100k-item matrix
//! (about 20 interactions per user, items drawn from a Zipf-like popularity curve), against the
//! Python package `implicit` (CPU, same threads, same confidence `1 + alpha · w`, 3 CG steps)
//! on the same matrix; the script also prints both models' training loss by implicit's own
//! `calculate_loss`, so that the speeds compare at equal quality.
//!
//! `cargo bench -p lifecycle-recommend --bench als`. `implicit` runs when `LIFECYCLE_PEER_PYTHON`
//! names a Python with it (benches/peers/als_implicit.py reads the matrix this bench writes as
//! .npy files). Settings: `LIFECYCLE_BENCH_USERS` (1,000,000), `LIFECYCLE_BENCH_ITEMS`
//! (100,000), `LIFECYCLE_BENCH_ITERATIONS` (3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lifecycle_recommend::Csr;
use lifecycle_recommend::als::AlsParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn matrix(users: usize, items: usize) -> Csr {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut t = Vec::with_capacity(users * 20);
    for u in 0..users {
        let n = rng.gen_range(5..35);
        for _ in 0..n {
            // Item popularity ~ 1/rank: rank = items^U.
            let i = ((items as f64).powf(rng.gen_range(0.0..1.0)) as usize).min(items) - 1;
            t.push((u as u32, i as u32, rng.gen_range(1..=5) as f32));
        }
    }
    Csr::from_triples(users, items, t)
}

fn write_npy(path: &Path, descr: &str, len: usize, bytes: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    f.write_all(bytes).unwrap();
}

fn main() {
    let users = env_or("LIFECYCLE_BENCH_USERS", 1_000_000usize);
    let items = env_or("LIFECYCLE_BENCH_ITEMS", 100_000usize);
    let iterations = env_or("LIFECYCLE_BENCH_ITERATIONS", 3usize);
    let threads = rayon::current_num_threads();
    let m = matrix(users, items);
    println!(
        "als: {users} users x {items} items, {} interactions, 64 factors, {threads} threads",
        m.nnz()
    );
    let p = AlsParams {
        factors: 64,
        regularization: 0.01,
        alpha: 1.0,
        iterations,
        cg_steps: 3,
        seed: 1,
        track_loss: false,
    };
    let t = Instant::now();
    let als = p.fit(&m).unwrap();
    let per = t.elapsed().as_secs_f64() / iterations as f64;
    println!(
        "  lifecycle ALS  {per:.3} s/iteration ({} user factors)",
        als.user_factors.len() / 64
    );
    let Ok(python) = std::env::var("LIFECYCLE_PEER_PYTHON") else {
        println!("  implicit: set LIFECYCLE_PEER_PYTHON to a python with `implicit` to compare");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_matrix(dir.path(), &m);
    write_factors(dir.path(), &als.user_factors, &als.item_factors);
    let script = manifest_dir().join("../../benches/peers/als_implicit.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .args([
            users.to_string(),
            items.to_string(),
            iterations.to_string(),
            threads.to_string(),
        ])
        .env("OPENBLAS_NUM_THREADS", "1")
        .output()
        .unwrap();
    if !out.status.success() {
        println!(
            "  implicit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if let Some(theirs) = text
        .lines()
        .find_map(|l| l.strip_prefix("implicit "))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
    {
        println!(
            "  ratio: implicit {theirs:.3} s / lifecycle {per:.3} s per iteration = {:.2}x",
            theirs / per
        );
    }
}

/// The interaction matrix as implicit's CSR arrays: `indptr.npy` (i64), `indices.npy` (i32),
/// `values.npy` (f32).
fn write_matrix(dir: &Path, m: &Csr) {
    let u64s = |v: &[usize]| {
        v.iter()
            .flat_map(|x| (*x as i64).to_le_bytes())
            .collect::<Vec<u8>>()
    };
    write_npy(
        &dir.join("indptr.npy"),
        "<i8",
        m.indptr.len(),
        &u64s(&m.indptr),
    );
    let idx: Vec<u8> = m
        .indices
        .iter()
        .flat_map(|x| (*x as i32).to_le_bytes())
        .collect();
    write_npy(&dir.join("indices.npy"), "<i4", m.indices.len(), &idx);
    let val: Vec<u8> = m.values.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(&dir.join("values.npy"), "<f4", m.values.len(), &val);
}

/// Our factors as `ours_users.npy` and `ours_items.npy` (flat f32), for the script to compute
/// both models' loss with implicit's own function.
fn write_factors(dir: &Path, users: &[f32], items: &[f32]) {
    for (name, factors) in [("ours_users.npy", users), ("ours_items.npy", items)] {
        let bytes: Vec<u8> = factors.iter().flat_map(|x| x.to_le_bytes()).collect();
        write_npy(&dir.join(name), "<f4", factors.len(), &bytes);
    }
}

/// This package's directory, read at run time (cargo sets it for what it runs): a path baked in
/// at compile time belongs to whichever checkout built the shared target dir last.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
