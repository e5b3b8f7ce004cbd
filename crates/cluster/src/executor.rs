//! The Ballista executor role, with a memory pool and HTTP health probes.

use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::ExecutorHealth;
use lifecycle_storage::Stores;

use crate::{ClusterError, Result, runtime_env, server_config};

/// How to start an executor. These are also `lifecycle executor`'s
/// flags (named as Ballista's own `ballista-executor` names them), each with a `LIFECYCLE_*`
/// variable for pods.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecutorOptions {
    /// Address to listen on (`0.0.0.0` in a pod).
    #[arg(
        long,
        env = "LIFECYCLE_BIND_HOST",
        default_value_t = ExecutorOptions::default().bind_host,
    )]
    pub bind_host: String,
    /// The host name the scheduler and other executors use to reach this one (the pod IP);
    /// default: `bind_host`.
    #[arg(long, env = "LIFECYCLE_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port: other executors and the client fetch results here.
    #[arg(
        long,
        env = "LIFECYCLE_BIND_PORT",
        default_value_t = ExecutorOptions::default().bind_port,
    )]
    pub bind_port: u16,
    /// gRPC port: the scheduler sends tasks here.
    #[arg(
        long,
        env = "LIFECYCLE_BIND_GRPC_PORT",
        default_value_t = ExecutorOptions::default().bind_grpc_port,
    )]
    pub bind_grpc_port: u16,
    /// HTTP port for `/healthz` (alive) and `/readyz` (registered with the scheduler).
    #[arg(
        long,
        env = "LIFECYCLE_BIND_HEALTH_PORT",
        default_value_t = ExecutorOptions::default().bind_health_port,
    )]
    pub bind_health_port: u16,
    #[arg(
        long,
        env = "LIFECYCLE_SCHEDULER_HOST",
        default_value_t = ExecutorOptions::default().scheduler_host,
    )]
    pub scheduler_host: String,
    #[arg(
        long,
        env = "LIFECYCLE_SCHEDULER_PORT",
        default_value_t = ExecutorOptions::default().scheduler_port,
    )]
    pub scheduler_port: u16,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(
        long = "scheduler-connect-timeout-seconds",
        env = "LIFECYCLE_SCHEDULER_CONNECT_TIMEOUT_SECONDS",
        default_value_t = ExecutorOptions::default().scheduler_connect_timeout_secs,
    )]
    pub scheduler_connect_timeout_secs: u16,
    /// Tasks run at once; 0: one per core.
    #[arg(
        long,
        env = "LIFECYCLE_CONCURRENT_TASKS",
        default_value_t = ExecutorOptions::default().concurrent_tasks,
    )]
    pub concurrent_tasks: usize,
    /// Folder for shuffle and spill files (default: a temporary folder).
    #[arg(long, env = "LIFECYCLE_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory for all running tasks together (`4GiB`, `512MiB`), shared out per task;
    /// operators that need more spill to the work folder. Default: 70% of the container's (or
    /// machine's) memory.
    #[arg(
        long = "memory-pool-size",
        env = "LIFECYCLE_MEMORY_POOL_SIZE",
        value_parser = parse_bytes,
    )]
    pub memory_limit: Option<u64>,
    /// Seconds between heartbeats to the scheduler (keep it well under the scheduler's executor
    /// timeout).
    #[arg(
        long = "executor-heartbeat-interval-seconds",
        env = "LIFECYCLE_EXECUTOR_HEARTBEAT_INTERVAL_SECONDS",
        default_value_t = ExecutorOptions::default().heartbeat_interval_secs,
    )]
    pub heartbeat_interval_secs: u64,
    /// Credential variables of this process, under the job's own storage settings.
    #[arg(skip)]
    pub env: Vec<(String, String)>,
    /// The environment variable holding the key of pseudonymous ids (a job's `[privacy]
    /// id_key_env`): every executor of a keyed job needs the job's key.
    #[arg(
        long,
        env = "LIFECYCLE_ID_KEY_ENV",
        default_value = lifecycle_features::pseudonym::DEFAULT_KEY_ENV,
    )]
    pub id_key_env: String,
    /// The key itself, when the caller has it (else read from `id_key_env`).
    #[arg(skip)]
    pub id_key: Option<lifecycle_features::pseudonym::IdKey>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            bind_host: "0.0.0.0".into(),
            external_host: None,
            bind_port: 50051,
            bind_grpc_port: 50052,
            bind_health_port: 50053,
            scheduler_host: "localhost".into(),
            scheduler_port: 50050,
            scheduler_connect_timeout_secs: 60,
            concurrent_tasks: 0,
            work_dir: None,
            memory_limit: None,
            heartbeat_interval_secs: 5,
            env: vec![],
            id_key_env: lifecycle_features::pseudonym::DEFAULT_KEY_ENV.into(),
            id_key: None,
        }
    }
}

/// Runs an executor until SIGTERM or Ctrl-C, then stops taking tasks, tells the scheduler and
/// returns. Logs "executor ready" once the scheduler has acknowledged its first heartbeat.
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    let work_dir = match &opts.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| ClusterError::Setting {
                setting: "work-dir".into(),
                reason: format!("cannot create {}: {e}", d.display()),
            })?;
            Some(d.to_string_lossy().into_owned())
        }
        None => None,
    };
    let base = Stores::default().with_env(opts.env.clone());
    let spill = work_dir.clone();
    let mut functions = BallistaFunctionRegistry::default();
    // Ballista's default registry has DataFusion's core scalar functions but not the nested
    // (array) ones a client session plans with, e.g. `range` (cohort_retention's grid):
    // without them an executor rejects the task.
    let nested = datafusion::functions_nested::all_default_nested_functions();
    for f in nested.into_iter().chain(lifecycle_features::functions()) {
        functions.scalar_functions.insert(f.name().to_string(), f);
    }
    let user_key = Arc::new(user_key_function(&opts)?);
    functions
        .scalar_functions
        .insert(user_key.name().to_string(), user_key);
    let health = ExecutorHealth::new();
    let config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.bind_port,
        grpc_port: opts.bind_grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        scheduler_connect_timeout_seconds: opts.scheduler_connect_timeout_secs,
        vcores: if opts.concurrent_tasks == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.concurrent_tasks
        },
        work_dir: work_dir.clone(),
        executor_heartbeat_interval_seconds: opts.heartbeat_interval_secs.max(1),
        // Shuffle files of finished jobs: the scheduler asks for their removal; this sweeps
        // what a lost scheduler left behind.
        job_data_ttl_seconds: 3600,
        job_data_clean_up_interval_seconds: 600,
        memory_pool_size: opts.memory_limit,
        override_function_registry: Some(Arc::new(functions)),
        override_config_producer: Some(Arc::new(server_config)),
        override_runtime_producer: Some(Arc::new(move |config| {
            runtime_env(config, &base, spill.as_deref())
        })),
        health: health.clone(),
        ..Default::default()
    };
    let health_addr = format!("{}:{}", opts.bind_host, opts.bind_health_port);
    let listener = tokio::net::TcpListener::bind(&health_addr)
        .await
        .map_err(|source| ClusterError::Bind {
            addr: health_addr.clone(),
            source,
        })?;
    let probes = tokio::spawn(serve_health(listener, health.clone()));
    let announce = tokio::spawn(async move {
        while !health.is_ready() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tracing::info!(
            flight_port = opts.bind_port,
            grpc_port = opts.bind_grpc_port,
            health_port = opts.bind_health_port,
            scheduler = format!("{}:{}", opts.scheduler_host, opts.scheduler_port),
            "executor ready"
        );
    });
    let result = start_executor_process(Arc::new(config)).await;
    probes.abort();
    announce.abort();
    result.map_err(|source| ClusterError::Ballista {
        role: "executor",
        source,
    })
}

/// `/healthz`: 200 while the process serves; `/readyz`: 200 once the scheduler acknowledged
/// the executor's last heartbeat, 503 before and after losing it.
async fn serve_health(listener: tokio::net::TcpListener, health: ExecutorHealth) {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = health.is_ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not registered with the scheduler",
                        )
                    }
                }
            }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "health endpoint stopped");
    }
}

/// Parses a byte size: `1073741824`, `512MiB`, `2GiB`, `8GB`, `100M` (K, M, G, T: powers of 1000
/// with `B`, of 1024 with `iB` or alone).
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (like 4GiB or 512MiB)"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let (p, base) = match unit.as_str() {
        "" | "b" => (0, 1024.0),
        "k" | "kib" => (1, 1024.0),
        "m" | "mib" => (2, 1024.0),
        "g" | "gib" => (3, 1024.0),
        "t" | "tib" => (4, 1024.0),
        "kb" => (1, 1000.0),
        "mb" => (2, 1000.0),
        "gb" => (3, 1000.0),
        "tb" => (4, 1000.0),
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    Ok((n * f64::powi(base, p)).round() as u64)
}

/// `lc_user_key` with this executor's key: the one given, else the one in `id_key_env`; without
/// either it plans but fails naming the variable if a keyed job's task calls it. A key too short
/// to use stops the executor.
fn user_key_function(opts: &ExecutorOptions) -> Result<datafusion::logical_expr::ScalarUDF> {
    use lifecycle_features::pseudonym::{self, IdKey, KeyError};
    let key = match &opts.id_key {
        Some(key) => Ok(key.clone()),
        None => IdKey::from_env(&opts.id_key_env),
    };
    match key {
        Ok(key) => {
            tracing::info!(fingerprint = %key.fingerprint(), "pseudonymous ids keyed");
            Ok(pseudonym::user_key_udf(key))
        }
        Err(KeyError::Missing(_)) => Ok(pseudonym::keyless_user_key_udf(&opts.id_key_env)),
        Err(e) => Err(ClusterError::Setting {
            setting: "id-key-env".into(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("8GB").unwrap(), 8_000_000_000);
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert!(parse_bytes("lots").is_err());
        assert!(
            parse_bytes("3 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
