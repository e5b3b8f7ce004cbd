//! `lifecycle scheduler` and `lifecycle executor` as OS processes on 127.0.0.1: used by the
//! integration tests (`tests/it/cluster.rs`) and by the cluster mode of `benches/features.rs`,
//! each including this file as a module.

// Each includer uses its own part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The HTTP status of `GET path` on 127.0.0.1:port, or None when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits until `GET path` on `port` answers 200.
pub fn wait_http_ok(port: u16, path: &str, what: &str) {
    let t = Instant::now();
    while http_status(port, path) != Some(200) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{what}: {path} not answering 200 after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `/readyz` on `port` answers 200.
pub fn wait_ready(port: u16, what: &str) {
    wait_http_ok(port, "/readyz", what)
}

/// A child process of the `lifecycle` binary, killed (SIGKILL) when dropped; its stderr (the
/// log, at level `log_filter`) goes to a file.
pub struct Proc {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[String], log: PathBuf, log_filter: &str) -> Proc {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_lifecycle"))
            .args(args)
            .env("LIFECYCLE_LOG", log_filter)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Proc { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lifecycle scheduler` and two `lifecycle executor` processes on 127.0.0.1, each ready when
/// `start` returns. Logs and work dirs go to `dir`, named after `name`.
pub struct ProcessCluster {
    pub scheduler: Proc,
    pub executors: Vec<Proc>,
    pub port: u16,
}

impl ProcessCluster {
    /// `scheduler_args` and `executor_args` are added to the addresses and ports every process
    /// needs; `log_filter` is their `LIFECYCLE_LOG`.
    pub fn start(
        dir: &Path,
        name: &str,
        log_filter: &str,
        scheduler_args: &[&str],
        executor_args: &[&str],
    ) -> ProcessCluster {
        let port = free_port();
        let mut args: Vec<String> = [
            "scheduler",
            "--bind-host",
            "127.0.0.1",
            "--external-host",
            "127.0.0.1",
        ]
        .map(String::from)
        .into();
        args.extend(["--bind-port".into(), port.to_string()]);
        args.extend(scheduler_args.iter().map(|a| a.to_string()));
        let scheduler = Proc::spawn(&args, dir.join(format!("{name}-scheduler.log")), log_filter);
        wait_http_ok(port, "/healthz", "scheduler");
        let mut executors = vec![];
        for i in 0..2 {
            let health = free_port();
            let mut args: Vec<String> = [
                "executor",
                "--bind-host",
                "127.0.0.1",
                "--external-host",
                "127.0.0.1",
                "--scheduler-host",
                "127.0.0.1",
            ]
            .map(String::from)
            .into();
            for (flag, value) in [
                ("--bind-port", free_port().to_string()),
                ("--bind-grpc-port", free_port().to_string()),
                ("--bind-health-port", health.to_string()),
                ("--scheduler-port", port.to_string()),
                (
                    "--work-dir",
                    dir.join(format!("{name}-work-{i}")).display().to_string(),
                ),
            ] {
                args.extend([flag.to_string(), value]);
            }
            args.extend(executor_args.iter().map(|a| a.to_string()));
            executors.push(Proc::spawn(
                &args,
                dir.join(format!("{name}-executor-{i}.log")),
                log_filter,
            ));
            wait_ready(health, &format!("executor {i}"));
        }
        ProcessCluster {
            scheduler,
            executors,
            port,
        }
    }

    /// The scheduler's address, as `lifecycle run --cluster` takes it.
    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }
}
