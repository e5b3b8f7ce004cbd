//! The Ballista scheduler role.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use lifecycle_storage::Stores;
use tokio::task::JoinHandle;

use crate::{ClusterError, Result, server_config, server_state};

/// How to start a scheduler. These are also `lifecycle scheduler`'s
/// flags (named as Ballista's own `ballista-scheduler` names them), each with a `LIFECYCLE_*`
/// variable for pods.
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerOptions {
    /// Address to listen on (`0.0.0.0` in a pod).
    #[arg(
        long,
        env = "LIFECYCLE_BIND_HOST",
        default_value_t = SchedulerOptions::default().bind_host,
    )]
    pub bind_host: String,
    /// Port for gRPC, Flight and the `/healthz` and `/readyz` probes; 0 picks a free port.
    #[arg(
        long,
        env = "LIFECYCLE_BIND_PORT",
        default_value_t = SchedulerOptions::default().bind_port,
    )]
    pub bind_port: u16,
    /// The host name executors and clients use to reach this scheduler (a Service name in
    /// Kubernetes).
    #[arg(
        long,
        env = "LIFECYCLE_EXTERNAL_HOST",
        default_value_t = SchedulerOptions::default().external_host,
    )]
    pub external_host: String,
    /// Seconds without a heartbeat after which an executor is lost and its tasks rerun
    /// elsewhere. Must be longer than the executors' heartbeat interval.
    #[arg(
        long = "executor-timeout-seconds",
        env = "LIFECYCLE_EXECUTOR_TIMEOUT_SECONDS",
        default_value_t = SchedulerOptions::default().executor_timeout_secs,
    )]
    pub executor_timeout_secs: u64,
    /// How often to look for lost executors.
    #[arg(skip = SchedulerOptions::default().expire_dead_executor_interval_secs)]
    pub expire_dead_executor_interval_secs: u64,
    /// Attempts of one task before its job fails.
    #[arg(
        long,
        env = "LIFECYCLE_TASK_MAX_FAILURES",
        default_value_t = SchedulerOptions::default().task_max_failures,
    )]
    pub task_max_failures: usize,
    /// Attempts of one stage (re-run after lost shuffle data) before its job fails.
    #[arg(skip = SchedulerOptions::default().stage_max_failures)]
    pub stage_max_failures: usize,
    /// Credential variables of this process (`AWS_*`, `GOOGLE_*`, `AZURE_*`), under the job's
    /// own storage settings, for listing input files while planning.
    #[arg(skip)]
    pub env: Vec<(String, String)>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            bind_host: "0.0.0.0".into(),
            bind_port: 50050,
            external_host: "localhost".into(),
            executor_timeout_secs: 30,
            expire_dead_executor_interval_secs: 5,
            task_max_failures: 4,
            stage_max_failures: 4,
            env: vec![],
        }
    }
}

impl SchedulerOptions {
    /// A scheduler on 127.0.0.1 and a free port, losing executors after 10 s: for tests and
    /// benchmarks on one machine.
    pub fn local() -> Self {
        SchedulerOptions {
            bind_host: "127.0.0.1".into(),
            bind_port: 0,
            external_host: "127.0.0.1".into(),
            executor_timeout_secs: 10,
            expire_dead_executor_interval_secs: 1,
            ..SchedulerOptions::default()
        }
    }
}

/// A running scheduler.
pub struct SchedulerHandle {
    addr: SocketAddr,
    server: JoinHandle<Result<()>>,
}

impl SchedulerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients pass to `lifecycle run --cluster`.
    pub fn url(&self) -> String {
        format!("df://{}", self.addr)
    }

    /// Waits until the server stops (it only stops on an error).
    pub async fn wait(mut self) -> Result<()> {
        joined((&mut self.server).await)
    }

    /// Stops serving: running jobs fail, connected clients see an error.
    pub fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts a scheduler in this process and returns once it listens.
pub async fn start_scheduler(opts: SchedulerOptions) -> Result<SchedulerHandle> {
    if opts.executor_timeout_secs == 0 {
        return Err(ClusterError::Setting {
            setting: "executor-timeout-seconds".into(),
            reason: "must be at least 1".into(),
        });
    }
    let bind = format!("{}:{}", opts.bind_host, opts.bind_port);
    let bind_error = |source| ClusterError::Bind {
        addr: bind.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let base = Stores::default().with_env(opts.env.clone());
    let mut config = SchedulerConfig::default()
        .with_hostname(opts.external_host.clone())
        .with_port(addr.port())
        .with_override_config_producer(Arc::new(server_config))
        .with_override_session_builder(Arc::new(move |config| server_state(config, &base)));
    config.bind_host = opts.bind_host.clone();
    config.executor_timeout_seconds = opts.executor_timeout_secs;
    config.no_executors_grace_period_seconds = opts.executor_timeout_secs;
    config.expire_dead_executor_interval_seconds = opts.expire_dead_executor_interval_secs;
    config.task_max_failures = opts.task_max_failures;
    config.stage_max_failures = opts.stage_max_failures;
    let ballista = |source| ClusterError::Ballista {
        role: "scheduler",
        source,
    };
    config.validate().map_err(ballista)?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista)?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(ballista)?;
    let server = tokio::spawn(async move {
        start_grpc_service_with_listener(listener, scheduler)
            .await
            .map_err(ballista)
    });
    tracing::info!(%addr, url = format!("df://{}:{}", opts.external_host, addr.port()), "scheduler ready");
    Ok(SchedulerHandle { addr, server })
}

/// Runs a scheduler until SIGTERM or Ctrl-C (then stops accepting work and returns) or until
/// the server fails.
pub async fn run_scheduler(opts: SchedulerOptions) -> Result<()> {
    let mut handle = start_scheduler(opts).await?;
    tokio::select! {
        r = &mut handle.server => joined(r),
        s = crate::shutdown_signal() => {
            tracing::info!(signal = s, "scheduler stopping");
            handle.stop();
            Ok(())
        }
    }
}

fn joined(r: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    r.unwrap_or_else(|e| {
        Err(ClusterError::Setting {
            setting: "scheduler".into(),
            reason: format!("the server task ended abnormally: {e}"),
        })
    })
}
