//! CLV fit time: BG/NBD and Gamma-Gamma on the CDNOW master file (23,570 customers, summary
//! computed by the daily job's SQL) and on 1M customers drawn from the models themselves,
//! against the Python package `lifetimes` fitting the same matrices.
//!
//! `cargo bench --bench clv`. The peer runs when `LIFECYCLE_PEER_PYTHON` names a Python with
//! `lifetimes` installed (`python -m venv v && v/bin/pip install lifetimes`). Settings:
//! `LIFECYCLE_BENCH_CLV_CUSTOMERS` (default 1,000,000), `LIFECYCLE_BENCH_RUNS` (default 3).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use lifecycle_clv::{BgNbd, BgNbdParams, GammaGamma, GammaGammaParams, Rfm};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `(x, t_x, T, zbar)` rows; zbar is 0 without repeats.
type Matrix = Vec<(f64, f64, f64, f64)>;

fn cdnow_master(dir: &Path) -> Matrix {
    let spec_path = manifest_dir().join("jobs/cdnow.toml");
    let mut spec = lifecycle_spec::JobSpec::from_file(&spec_path).unwrap();
    spec.job.output = dir.join("cdnow-out").to_str().unwrap().to_string();
    spec.clv.holdout_days = 0;
    let spec = spec.validate().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let summary = rt
        .block_on(lifecycle_pipeline::run_job(
            &spec,
            &lifecycle_pipeline::RunOptions::default(),
        ))
        .unwrap();
    let url = &summary.manifest.commit.outputs["customer_value"].published_url;
    let path = url::Url::parse(url).unwrap().to_file_path().unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let col = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        let (x, tx, t, m) = (col("frequency"), col("recency"), col("t"), col("monetary"));
        for i in 0..b.num_rows() {
            out.push((
                x.value(i),
                tx.value(i),
                t.value(i),
                if m.is_valid(i) { m.value(i) } else { 0.0 },
            ));
        }
    }
    out
}

fn generated(n: usize) -> Matrix {
    let bg = BgNbd::new(0.25, 4.0, 0.8, 2.5);
    let gg = GammaGamma::new(6.0, 3.7, 15.0);
    lifecycle_clv::simulate::simulate(&bg, Some(&gg), n, (1.0, 78.0), 0.0, 42)
        .into_iter()
        .map(|s| {
            (
                s.calibration.frequency,
                s.calibration.recency,
                s.calibration.t,
                s.mean_value.unwrap_or(0.0),
            )
        })
        .collect()
}

fn write_csv(path: &Path, m: &Matrix) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "x,t_x,T,zbar").unwrap();
    for (x, tx, t, z) in m {
        writeln!(f, "{x},{tx},{t},{z}").unwrap();
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.unwrap())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = env_or("LIFECYCLE_BENCH_RUNS", 3);
    let n: usize = env_or("LIFECYCLE_BENCH_CLV_CUSTOMERS", 1_000_000);
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("bench-data/clv");
    std::fs::create_dir_all(&dir).unwrap();
    let threads = rayon::current_num_threads();
    println!("threads: {threads}");
    for (name, matrix) in [
        ("cdnow_master", cdnow_master(&dir)),
        ("generated", generated(n)),
    ] {
        let csv = dir.join(format!("{name}.csv"));
        write_csv(&csv, &matrix);
        let rfm: Vec<Rfm> = matrix
            .iter()
            .map(|r| Rfm {
                frequency: r.0,
                recency: r.1,
                t: r.2,
            })
            .collect();
        // As the pipeline does: Gamma-Gamma needs a positive mean value ($0 orders exist in CDNOW).
        let spend: Vec<(f64, f64)> = matrix
            .iter()
            .filter(|r| r.0 > 0.0 && r.3 > 0.0)
            .map(|r| (r.0, r.3))
            .collect();
        let (bg_s, bg) = best_of(runs, || BgNbdParams::default().fit(&rfm).unwrap());
        let (gg_s, gg) = best_of(runs, || GammaGammaParams::default().fit(&spend).unwrap());
        println!(
            "\n{name}: {} customers ({} repeat)\n  ours      BG/NBD {:>8.3} s  (r={:.4} alpha={:.4} a={:.4} b={:.4}, {} iterations)\n            Gamma-Gamma {:>8.3} s  (p={:.4} q={:.4} v={:.4})",
            rfm.len(),
            spend.len(),
            bg_s,
            bg.r,
            bg.alpha,
            bg.a,
            bg.b,
            bg.iterations,
            gg_s,
            gg.p,
            gg.q,
            gg.v
        );
        let Ok(python) = std::env::var("LIFECYCLE_PEER_PYTHON") else {
            println!(
                "  lifetimes: set LIFECYCLE_PEER_PYTHON to a python with `lifetimes` to compare"
            );
            continue;
        };
        let script = manifest_dir().join("benches/peers/clv_lifetimes.py");
        let out = std::process::Command::new(python)
            .arg(script)
            .arg(&csv)
            .arg(runs.to_string())
            .output()
            .unwrap();
        if !out.status.success() {
            println!(
                "  lifetimes failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let peer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (pbg, pgg) = (
            peer["bgnbd_seconds"].as_f64().unwrap(),
            peer["gamma_gamma_seconds"].as_f64().unwrap(),
        );
        println!(
            "  lifetimes BG/NBD {pbg:>8.3} s  ({})\n            Gamma-Gamma {pgg:>8.3} s  ({})\n  speed-up: BG/NBD {:.1}x, Gamma-Gamma {:.1}x",
            peer["bgnbd"],
            peer["gamma_gamma"],
            pbg / bg_s,
            pgg / gg_s
        );
    }
}

/// This package's directory, read at run time (cargo sets it for what it runs): a path baked in
/// at compile time belongs to whichever checkout built the shared target dir last.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
