//! End-to-end benchmark of the daily job on a generated log (default about 10M events).
//!
//! `cargo bench --bench features` (release). The data is generated once by the `lifecycle`
//! binary in its own process (so its memory does not count here) into
//! `$LIFECYCLE_BENCH_DATA` (default `<target dir>/bench-data/users-<N>`), then the job runs in
//! this process. Prints each step's time, events per second for the feature step and the whole
//! run, and this process's peak resident memory (VmHWM).
//!
//! Settings: `LIFECYCLE_BENCH_USERS` (default 140000, about 10M events over 180 days),
//! `LIFECYCLE_BENCH_RUNS` (default 3; the best run is reported), `LIFECYCLE_BENCH_CLUSTER=1`:
//! run the SQL steps on a `lifecycle scheduler` with two `lifecycle executor` processes on this
//! machine (one task slot each, so both modes use two cores), then print where the executors'
//! time went per operator (from Ballista's per-task plan metrics, logged at debug level).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use lifecycle_pipeline::RunOptions;
use lifecycle_spec::JobSpec;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let users: u64 = env_or("LIFECYCLE_BENCH_USERS", 140_000);
    let runs: usize = env_or("LIFECYCLE_BENCH_RUNS", 3);
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let data = std::env::var("LIFECYCLE_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join(format!("bench-data/users-{users}")));
    if !data.join("users.parquet").exists() {
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
            .args(["generate", "--users", &users.to_string(), "--out"])
            .arg(&data)
            .status()
            .expect("run lifecycle generate");
        assert!(status.success(), "generate failed");
        println!("generated data in {:.1} s", t.elapsed().as_secs_f64());
    }

    let spec_path = data.join("bench.toml");
    std::fs::write(
        &spec_path,
        "[job]\nname = \"bench\"\noutput = \"out\"\n[events]\nurl = \"events/\"\n[users]\nurl = \"users.parquet\"\n",
    )
    .unwrap();
    let mut spec = JobSpec::from_file(&spec_path).unwrap().validate().unwrap();
    let cluster = std::env::var_os("LIFECYCLE_BENCH_CLUSTER").map(|_| Cluster::start(&data));
    if let Some(c) = &cluster {
        spec.cluster = Some(c.url.clone());
        println!("SQL steps on {}", c.url);
    }
    let as_of = lifecycle_synth::GeneratorParams::default().end();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let mut best: Option<(f64, lifecycle_pipeline::RunSummary)> = None;
    for i in 0..runs {
        let t = Instant::now();
        let summary = runtime
            .block_on(lifecycle_pipeline::run_job(
                &spec,
                &RunOptions {
                    as_of: Some(as_of),
                    ..RunOptions::default()
                },
            ))
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!("run {i}: {secs:.2} s");
        if best.as_ref().is_none_or(|(b, _)| secs < *b) {
            best = Some((secs, summary));
        }
    }
    let (total, summary) = best.unwrap();
    let m = &summary.manifest;
    let events = m.rows.read as f64;
    println!(
        "\nevents: {}  users: {}  threads: {}",
        m.rows.read,
        m.outputs["user_features"].rows,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for s in &m.steps {
        println!(
            "  step {:<10} {:>7.2} s  {:>12.0} events/s",
            s.step,
            s.seconds,
            events / s.seconds
        );
    }
    println!(
        "  whole run  {total:>7.2} s  {:>12.0} events/s",
        events / total
    );
    println!(
        "peak memory (VmHWM of this process): {:.0} MiB",
        peak_rss_mib()
    );
    if let Some(c) = cluster {
        c.report(runs);
    }
}

/// A scheduler and two executors as processes of the release binary; killed on drop.
struct Cluster {
    url: String,
    procs: Vec<std::process::Child>,
    logs: Vec<PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn start(data: &std::path::Path) -> Cluster {
        let dir = data.join("cluster");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let spawn = |args: Vec<String>, log: PathBuf| {
            Command::new(env!("CARGO_BIN_EXE_lifecycle"))
                .args(args)
                .env("LIFECYCLE_LOG", "info,ballista_executor::metrics=debug")
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap()
        };
        let s = |v: &str| v.to_string();
        let mut procs = vec![spawn(
            vec![
                s("scheduler"),
                s("--bind-host"),
                s("127.0.0.1"),
                s("--bind-port"),
                port.to_string(),
                s("--external-host"),
                s("127.0.0.1"),
            ],
            dir.join("scheduler.log"),
        )];
        std::thread::sleep(std::time::Duration::from_secs(1));
        let mut logs = vec![];
        for i in 0..2 {
            let log = dir.join(format!("executor-{i}.log"));
            procs.push(spawn(
                vec![
                    s("executor"),
                    s("--bind-host"),
                    s("127.0.0.1"),
                    s("--external-host"),
                    s("127.0.0.1"),
                    s("--bind-port"),
                    free_port().to_string(),
                    s("--bind-grpc-port"),
                    free_port().to_string(),
                    s("--bind-health-port"),
                    free_port().to_string(),
                    s("--scheduler-port"),
                    port.to_string(),
                    s("--scheduler-host"),
                    s("127.0.0.1"),
                    s("--concurrent-tasks"),
                    s("1"),
                    s("--work-dir"),
                    dir.join(format!("work-{i}")).display().to_string(),
                ],
                log.clone(),
            ));
            logs.push(log);
        }
        // Both executors log "executor ready" once the scheduler acknowledged them.
        let t = Instant::now();
        while !logs.iter().all(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .contains("executor ready")
        }) {
            assert!(t.elapsed().as_secs() < 60, "executors not ready");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Cluster {
            url: format!("df://127.0.0.1:{port}"),
            procs,
            logs,
        }
    }

    /// Sums `elapsed_compute` (and the shuffle writer's `write_time`) per operator over every
    /// task of every run, from the executors' logs; prints them per run.
    fn report(&self, runs: usize) {
        let mut by_op: std::collections::BTreeMap<String, f64> = Default::default();
        for log in &self.logs {
            for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(msg) = v["fields"]["message"].as_str() else {
                    continue;
                };
                if !msg.contains("Physical plan with metrics") {
                    continue;
                }
                for plan_line in msg.lines() {
                    let t = plan_line.trim();
                    let Some((op, _)) = t.split_once(':') else {
                        continue;
                    };
                    if op.contains(' ') || !op.ends_with("Exec") {
                        continue;
                    }
                    for key in ["elapsed_compute=", "write_time="] {
                        if let Some(secs) = metric_secs(t, key) {
                            *by_op.entry(op.to_string()).or_default() += secs;
                        }
                    }
                }
            }
        }
        let total: f64 = by_op.values().sum();
        println!("\nexecutor time per operator (CPU seconds per run, all tasks):");
        let mut ops: Vec<_> = by_op.into_iter().collect();
        ops.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (op, secs) in ops {
            println!(
                "  {op:<28} {:>7.2} s  {:>5.1}%",
                secs / runs as f64,
                100.0 * secs / total.max(1e-9)
            );
        }
    }
}

/// The value of `key` (`elapsed_compute=12.3ms`) in a metrics line, in seconds.
fn metric_secs(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let end = rest.find([',', ']']).unwrap_or(rest.len());
    let v = rest[..end].trim();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "ns" => 1e-9,
        "µs" | "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return None,
    };
    Some(n * scale)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}
