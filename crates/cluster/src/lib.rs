//! Apache Ballista for `lifecycle`: a scheduler, executors and client sessions that all know the
//! pipeline's SQL functions and build object stores from the job's own storage settings.
//!
//! Stock Ballista executors cannot run a `lifecycle` job: its SQL calls `lc_to_utc`, and its
//! inputs and outputs live in object stores whose endpoints and credentials come from the job
//! spec. This crate starts both server roles from the project's binary with those registered:
//!
//! - [`run_scheduler`] / [`start_scheduler`]: a Ballista scheduler whose sessions know the
//!   functions and build stores from the session's settings;
//! - [`run_executor`]: an executor with the same functions, a memory pool (spilling to its work
//!   folder) and an HTTP health endpoint (`/healthz`, `/readyz`);
//! - [`remote_context`]: the client side, a `SessionContext` whose queries run on the cluster.
//!
//! Storage settings travel with the session, not through each pod's environment: the client
//! puts the store options it uses (its credential variables and the spec's `[storage.options]`,
//! see `Stores::portable_options`) into the [`JobStorage`] session extension; the scheduler and
//! every executor build their stores from it ([`StoreRegistry`]), over their own environment.
//! Every process must reach the same storage: an object store, or a local folder only when
//! all of them run on one machine.
//!
//! The server roles need the `server` feature (the `lifecycle` binary turns it on; their
//! options are also its flags); without it the crate is the client side only.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use lifecycle_cluster::{SchedulerOptions, start_scheduler};
//! let scheduler = start_scheduler(SchedulerOptions::local()).await?;
//! println!("scheduler at df://{}", scheduler.addr());
//! # Ok(()) }
//! ```

#[cfg(feature = "server")]
mod executor;
mod registry;
#[cfg(feature = "server")]
mod scheduler;
mod session;

#[cfg(feature = "server")]
pub use executor::{ExecutorOptions, parse_bytes, run_executor};
pub use registry::StoreRegistry;
#[cfg(feature = "server")]
pub use scheduler::{SchedulerHandle, SchedulerOptions, run_scheduler, start_scheduler};
pub use session::{JobStorage, remote_context, runtime_env, server_config, server_state};

/// Result with a [`ClusterError`] by default.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// A cluster process could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A setting is out of range or does not parse; names the setting.
    #[error("invalid setting `{setting}`: {reason}")]
    Setting { setting: String, reason: String },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// Ballista failed.
    #[error("{role}: {source}")]
    Ballista {
        role: &'static str,
        #[source]
        source: ballista_core::error::BallistaError,
    },
    /// The client session could not be set up.
    #[error("cannot connect to the cluster at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
}

/// Waits for SIGTERM (what Kubernetes sends) or Ctrl-C; returns which. The server roles stop
/// on it, and so does `lifecycle run`.
#[cfg(feature = "server")]
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
