//! Model training time on 1M users × 20 features: K-means (k = 8), logistic regression and
//! gradient-boosted trees (100 trees, depth 6), against scikit-learn's KMeans,
//! LogisticRegression and HistGradientBoostingClassifier on the same matrix, and against
//! linfa-clustering's KMeans when built with `--features linfa-peer`.
//!
//! `cargo bench -p lifecycle-models --bench training [--features linfa-peer]`. scikit-learn runs when
//! `LIFECYCLE_PEER_PYTHON` names a Python with scikit-learn (benches/peers/models_sklearn.py
//! reads the matrix this bench writes as .npy files). Settings: `LIFECYCLE_BENCH_ROWS`
//! (default 1,000,000), `LIFECYCLE_BENCH_RUNS` (default 2, best of).
//!
//! The matrix: 8 Gaussian blobs in 20 dimensions (centres drawn in [−3, 3], unit noise); the
//! label is a non-linear rule of four columns with 10% of labels flipped (about 30% positive).
//! Every fit runs a fixed amount of work so that times compare: K-means 50 Lloyd iterations from
//! one k-means++ start (tolerance 0), logistic regression to a gradient tolerance of 1e-6
//! (iterations reported), trees without early stopping. Quality is printed beside the times:
//! K-means inertia, the trees' training ROC-AUC (scikit-learn's too). Also timed: exact TreeSHAP
//! values of the fitted trees for 100,000 rows (what `churn_scores`' drivers cost).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lifecycle_models::Matrix;
use lifecycle_models::Scorer;
use lifecycle_models::gbdt::GbdtParams;
use lifecycle_models::kmeans::KMeansParams;
use lifecycle_models::logistic::LogisticParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const COLS: usize = 20;
const K: usize = 8;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data(rows: usize) -> (Matrix, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let centres: Vec<Vec<f64>> = (0..K)
        .map(|_| (0..COLS).map(|_| rng.gen_range(-3.0..3.0)).collect())
        .collect();
    let normal = rand_distr::StandardNormal;
    let mut x = Vec::with_capacity(rows * COLS);
    let mut y = Vec::with_capacity(rows);
    for i in 0..rows {
        let c = &centres[i % K];
        let row: Vec<f64> = c.iter().map(|m| m + rng.sample::<f64, _>(normal)).collect();
        let rule = (row[0] > 0.0) != (row[1] > 0.5) || row[2] * row[3] > 2.0;
        y.push(rule ^ rng.gen_bool(0.1));
        x.extend(row);
    }
    (Matrix::new(rows, COLS, x).unwrap(), y)
}

/// Writes a 2-D f64 or 1-D bool array as NumPy's .npy.
fn write_npy(path: &Path, descr: &str, shape: &str, bytes: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
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

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.unwrap())
}

#[cfg(feature = "linfa-peer")]
fn linfa_kmeans(x: &Matrix, runs: usize) -> f64 {
    use linfa::prelude::*;
    use linfa_clustering::KMeans;
    let arr = ndarray::Array2::from_shape_vec((x.rows, x.cols), x.data.clone()).unwrap();
    let ds = linfa::DatasetBase::from(arr);
    best_of(runs, || {
        KMeans::params_with_rng(K, rand_xoshiro::Xoshiro256Plus::seed_from_u64(1))
            .n_runs(1)
            .max_n_iterations(50)
            .tolerance(1e-12)
            .fit(&ds)
            .unwrap()
    })
    .0
}

fn main() {
    let rows = env_or("LIFECYCLE_BENCH_ROWS", 1_000_000usize);
    let runs = env_or("LIFECYCLE_BENCH_RUNS", 2usize);
    let threads = rayon::current_num_threads();
    println!("models: {rows} rows x {COLS} features, {threads} threads, best of {runs}");
    let (x, y) = data(rows);

    let (t_km, km) = best_of(runs, || {
        KMeansParams {
            k: K,
            max_iterations: 50,
            tolerance: 0.0,
            n_init: 1,
            seed: 1,
        }
        .fit(&x)
        .unwrap()
    });
    println!(
        "  lifecycle K-means     {t_km:8.3} s  ({} iterations, {:.4} s/iteration, inertia {:.6e})",
        km.iterations,
        t_km / km.iterations as f64,
        km.inertia
    );
    #[cfg(feature = "linfa-peer")]
    {
        let t = linfa_kmeans(&x, runs);
        println!(
            "  linfa K-means         {t:8.3} s  (at most 50 iterations, tolerance 1e-12): {:.2}x our time",
            t / t_km
        );
    }
    let (t_lr, lr) = best_of(runs, || {
        LogisticParams {
            l2: 1e-4,
            max_iterations: 1000,
            tolerance: 1e-6,
        }
        .fit(&x, &y, None)
        .unwrap()
    });
    println!(
        "  lifecycle logistic    {t_lr:8.3} s  ({} iterations, converged {})",
        lr.iterations, lr.converged
    );
    let (t_gb, gb) = best_of(runs, || {
        GbdtParams {
            max_trees: 100,
            max_depth: 6,
            min_samples_leaf: 20,
            learning_rate: 0.1,
            ..Default::default()
        }
        .fit(&x, &y, None, None)
        .unwrap()
    });
    let auc = lifecycle_models::metrics::roc_auc(&y, &gb.predict_proba(&x)).unwrap();
    println!(
        "  lifecycle GBDT        {t_gb:8.3} s  ({} trees, training AUC {auc:.4})",
        gb.trees.len()
    );
    time_tree_shap(&gb, &x);

    compare_with_sklearn(
        &x,
        &y,
        runs,
        &[
            ("K-means", t_km, "kmeans"),
            ("logistic", t_lr, "logistic"),
            ("GBDT", t_gb, "hist_gbdt"),
        ],
    );
}

/// Runs benches/peers/models_sklearn.py on the same data (with `LIFECYCLE_PEER_PYTHON`) and
/// prints each model's time against ours: `timings` are (name, our seconds, the script's key).
fn compare_with_sklearn(x: &Matrix, y: &[bool], runs: usize, timings: &[(&str, f64, &str)]) {
    let (rows, threads) = (x.rows, rayon::current_num_threads());
    let Ok(python) = std::env::var("LIFECYCLE_PEER_PYTHON") else {
        println!(
            "  scikit-learn: set LIFECYCLE_PEER_PYTHON to a python with scikit-learn to compare"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = x.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(
        &dir.path().join("x.npy"),
        "<f8",
        &format!("({rows}, {COLS})"),
        &bytes,
    );
    let labels: Vec<u8> = y.iter().map(|v| *v as u8).collect();
    write_npy(
        &dir.path().join("y.npy"),
        "|b1",
        &format!("({rows},)"),
        &labels,
    );
    let script = manifest_dir().join("../../benches/peers/models_sklearn.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .arg(runs.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    if !out.status.success() {
        println!(
            "  scikit-learn failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let peer = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    print!("{text}");
    for &(name, ours, key) in timings {
        if let Some(theirs) = peer(key) {
            println!(
                "  {name:<9} lifecycle {ours:.3} s, scikit-learn {theirs:.3} s: {:.2}x",
                theirs / ours
            );
        }
    }
}

/// Times exact SHAP values of the fitted trees for up to 100,000 rows, as `churn_scores`
/// computes its drivers (leaf tables, blocks of 256 rows, in parallel).
fn time_tree_shap(gb: &lifecycle_models::gbdt::Gbdt, x: &Matrix) {
    let explained = x.rows.min(100_000);
    let t = Instant::now();
    let leaves = lifecycle_models::leaf_shap::LeafShap::new(gb);
    let total: f64 = {
        use rayon::prelude::*;
        (0..explained.div_ceil(256))
            .into_par_iter()
            .map(|b| {
                let rows = b * 256..((b + 1) * 256).min(explained);
                leaves.shap_block(x, rows).iter().sum::<f64>()
            })
            .sum()
    };
    println!(
        "  lifecycle TreeSHAP    {:8.3} s  ({explained} rows, {} trees; checksum {total:.3})",
        t.elapsed().as_secs_f64(),
        gb.trees.len()
    );
}

/// This package's directory, read at run time (cargo sets it for what it runs): a path baked in
/// at compile time belongs to whichever checkout built the shared target dir last.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
