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
//! machine (one task slot each, so both modes use two cores), then print, per step, where the
//! cluster's time went: scan, filter and project, aggregate, sort/join/window, shuffle write and
//! read (from the metrics the scheduler logs at debug level for every finished stage, summed
//! over its tasks).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use lifecycle_pipeline::RunOptions;
use lifecycle_spec::JobSpec;

#[path = "../tests/support/processes.rs"]
mod processes;
use processes::ProcessCluster;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory (VmHWM) of a process (`"self"` or a pid), in MiB.
fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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
    let cluster = std::env::var_os("LIFECYCLE_BENCH_CLUSTER").map(|_| Cluster::start(&data));
    let overrides = lifecycle_spec::Overrides {
        cluster: cluster.as_ref().map(|c| c.url.clone()),
        ..Default::default()
    };
    let spec = JobSpec::from_file(&spec_path)
        .and_then(|raw| raw.with_overrides(&overrides, &data))
        .and_then(|raw| raw.validate())
        .unwrap();
    if let Some(c) = &cluster {
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
        m.commit.outputs["user_features"].rows,
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
        peak_rss_mib("self")
    );
    if let Some(c) = cluster {
        c.report(runs);
    }
}

/// A scheduler and two executors as processes of the release binary; killed on drop.
struct Cluster {
    url: String,
    procs: ProcessCluster,
    driver_log: PathBuf,
}

impl Cluster {
    fn start(data: &std::path::Path) -> Cluster {
        let dir = data.join("cluster");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // The scheduler logs every finished stage's metrics at debug level.
        let procs = ProcessCluster::start(
            &dir,
            "bench",
            "info,ballista_scheduler::display=debug",
            &[],
            &["--concurrent-tasks", "1"],
        );
        // The driver's "step done" events, for attributing jobs to steps.
        let driver_log = dir.join("driver.log");
        let file = std::fs::File::create(&driver_log).unwrap();
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::sync::Mutex::new(file))
            .with_env_filter("lifecycle_pipeline=info")
            .init();
        Cluster {
            url: procs.url(),
            procs,
            driver_log,
        }
    }

    /// Where the cluster's time went, per pipeline step: each Ballista job is given to the step
    /// during which the scheduler queued it (step boundaries are the driver's "step done"
    /// events), and each finished stage's metrics (summed over its tasks by the scheduler) are
    /// added up per kind of work. Times are CPU time inside operators, except shuffle read,
    /// which is the time tasks waited for shuffle files (local or over Flight).
    fn report(&self, runs: usize) {
        let ts = |v: &serde_json::Value| {
            chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str()?)
                .ok()
                .map(|t| t.timestamp_micros())
        };
        let json_lines = |path: &std::path::Path| -> Vec<serde_json::Value> {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        // Step windows (start, end, step) from the driver's log.
        let mut windows = vec![];
        let mut last = None;
        for v in json_lines(&self.driver_log) {
            let msg = v["fields"]["message"].as_str().unwrap_or_default();
            if msg == "run starting" {
                last = ts(&v);
            } else if msg == "step done" {
                let (Some(from), Some(to)) = (last, ts(&v)) else {
                    continue;
                };
                let step = v["fields"]["step"].as_str().unwrap_or("?").to_string();
                windows.push((from, to, step));
                last = Some(to);
            }
        }
        let step_of = |t: i64| {
            windows
                .iter()
                .find(|(from, to, _)| *from <= t && t <= *to)
                .map(|w| w.2.clone())
                .unwrap_or_else(|| "(between steps)".into())
        };
        let mut job_step = std::collections::HashMap::new();
        let mut queued = std::collections::HashMap::new();
        // Per step: jobs, job seconds (queued to finished), stages, stages without metrics.
        let mut jobs: std::collections::BTreeMap<String, (u32, f64, u32, u32)> = Default::default();
        // Per (step, kind of work): seconds.
        let mut work: std::collections::BTreeMap<(String, &str), f64> = Default::default();
        // The feature step's stages: (job, seconds since queued when finished, stage, operators).
        let mut timeline: Vec<(String, f64, String, String)> = vec![];
        let job_id = |msg: &str| -> Option<String> {
            let rest = &msg[msg.find('[')? + 1..];
            Some(rest[..rest.find([']', '/'])?].to_string())
        };
        for v in json_lines(&self.procs.scheduler.log) {
            let msg = v["fields"]["message"].as_str().unwrap_or_default();
            let (Some(t), Some(job)) = (ts(&v), job_id(msg)) else {
                continue;
            };
            if msg.starts_with("Job queued") {
                let step = step_of(t);
                jobs.entry(step.clone()).or_default().0 += 1;
                job_step.insert(job.clone(), step);
                queued.insert(job, t);
            } else if msg.starts_with("Job finished successfully") {
                if let (Some(step), Some(q)) = (job_step.get(&job), queued.get(&job)) {
                    jobs.entry(step.clone()).or_default().1 += (t - q) as f64 / 1e6;
                }
            } else if msg.starts_with("Fail to combine stage metrics") {
                if let Some(step) = job_step.get(&job) {
                    jobs.entry(step.clone()).or_default().3 += 1;
                }
            } else if msg.contains("Stage finished, physical plan with metrics") {
                let Some(step) = job_step.get(&job) else {
                    continue;
                };
                jobs.entry(step.clone()).or_default().2 += 1;
                if step == "features" {
                    // The stage's operators, outermost first, for the timeline below.
                    let ops: Vec<&str> = msg
                        .lines()
                        .skip(2)
                        .filter_map(|l| l.trim().split_once(':').map(|(op, _)| op))
                        .filter(|op| !op.contains(' ') && *op != "ProjectionExec")
                        .collect();
                    let stage = msg.split('/').nth(1).and_then(|r| r.split(']').next());
                    let since = (t - queued[&job]) as f64 / 1e6;
                    timeline.push((
                        job.clone(),
                        since,
                        stage.unwrap_or("?").to_string(),
                        ops.join(" < "),
                    ));
                }
                for line in msg.lines() {
                    let t = line.trim();
                    let Some((op, _)) = t.split_once(':') else {
                        continue;
                    };
                    let Some(metrics) = t.rfind("metrics=[").map(|i| &t[i..]) else {
                        continue;
                    };
                    let (kind, keys): (&str, &[&str]) = match op {
                        "DataSourceExec" => {
                            ("scan (decode parquet)", &["time_elapsed_processing="])
                        }
                        "ShuffleWriterExec" | "SortShuffleWriterExec" => {
                            ("shuffle write", &["write_time=", "repart_time="])
                        }
                        "ShuffleReaderExec" => ("shuffle read (wait)", &["fetch_time="]),
                        "AggregateExec" => ("aggregate", &["elapsed_compute="]),
                        "FilterExec" | "ProjectionExec" => {
                            ("filter + project", &["elapsed_compute="])
                        }
                        _ => ("sort, join, window, other", &["elapsed_compute="]),
                    };
                    for key in keys {
                        if let Some(secs) = metric_secs(metrics, key) {
                            *work.entry((step.clone(), kind)).or_default() += secs;
                        }
                    }
                }
            }
        }
        println!("\nwhere the cluster's time went, per step (seconds per run):");
        for (step, (n, job_secs, stages, missing)) in &jobs {
            println!(
                "  {step}: {:.0} jobs, {:.0} stages, {:.2} s from job queued to finished{}",
                *n as f64 / runs as f64,
                *stages as f64 / runs as f64,
                job_secs / runs as f64,
                if *missing > 0 {
                    format!(" ({missing} stages without metrics)")
                } else {
                    String::new()
                }
            );
            let mut kinds: Vec<_> = work
                .iter()
                .filter(|((s, _), _)| s == step)
                .map(|((_, k), secs)| (*k, *secs))
                .collect();
            kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
            for (kind, secs) in kinds.into_iter().filter(|k| k.1 >= 0.005) {
                println!("    {kind:<28} {:>7.2} s", secs / runs as f64);
            }
        }
        let executors = self.procs.executors.iter().enumerate();
        let procs = std::iter::once(("scheduler".to_string(), &self.procs.scheduler))
            .chain(executors.map(|(i, p)| (format!("executor {i}"), p)));
        for (name, p) in procs {
            let mib = peak_rss_mib(&p.child.id().to_string());
            println!("peak memory (VmHWM) of {name}: {mib:.0} MiB");
        }
        if let Some((last_job, ..)) = timeline.last() {
            println!("\nthe last run's feature job, stages as they finished:");
            for (_, since, stage, ops) in timeline.iter().filter(|s| &s.0 == last_job) {
                println!("  +{since:>5.2} s  stage {stage:<2} {ops}");
            }
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
