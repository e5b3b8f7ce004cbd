//! Session settings and session state shared by the client, the scheduler and the executors.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use lifecycle_storage::{RetrySettings, Stores};

use crate::{ClusterError, Result, StoreRegistry};

/// The job's storage settings as a session extension: `lifecycle.storage.<option>` (an
/// object_store configuration key, as in a spec's `[storage.options]`) and
/// `lifecycle.retry.<max_retries|retry_timeout_secs|request_timeout_secs|connect_timeout_secs>`.
///
/// Ballista sends every session setting with each query to the scheduler and with each task to
/// the executors, which is how credentials reach them. The values include secrets: `Debug`
/// shows option names only, and the scheduler's port must stay on a trusted network.
#[derive(Clone, Default)]
pub struct JobStorage {
    pub options: BTreeMap<String, String>,
    pub retry: RetrySettings,
}

impl std::fmt::Debug for JobStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobStorage")
            .field("option_keys", &self.options.keys().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .finish()
    }
}

impl JobStorage {
    /// The settings another process needs to build the stores `stores` builds.
    pub fn from_stores(stores: &Stores) -> Self {
        JobStorage {
            options: stores.portable_options(),
            retry: stores.retry(),
        }
    }

    /// `base` (this process's environment) with these options and retry settings over it.
    pub fn stores(&self, base: &Stores) -> lifecycle_storage::Result<Stores> {
        base.with_settings(&self.options, self.retry)
    }
}

const RETRY_KEYS: [&str; 4] = [
    "max_retries",
    "retry_timeout_secs",
    "request_timeout_secs",
    "connect_timeout_secs",
];

impl ExtensionOptions for JobStorage {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> DfResult<()> {
        let bad =
            |reason: String| DataFusionError::Configuration(format!("lifecycle.{key}: {reason}"));
        if let Some(option) = key.strip_prefix("storage.") {
            self.options.insert(option.to_string(), value.to_string());
            return Ok(());
        }
        let Some(setting) = key.strip_prefix("retry.") else {
            return Err(bad("not a lifecycle setting (storage.* or retry.*)".into()));
        };
        let n: u64 = value
            .parse()
            .map_err(|e| bad(format!("`{value}` is not a whole number: {e}")))?;
        let r = &mut self.retry;
        match setting {
            "max_retries" => r.max_retries = n as usize,
            "retry_timeout_secs" => r.retry_timeout = Duration::from_secs(n),
            "request_timeout_secs" => r.request_timeout = Duration::from_secs(n),
            "connect_timeout_secs" => r.connect_timeout = Duration::from_secs(n),
            _ => return Err(bad(format!("unknown; known: {}", RETRY_KEYS.join(", ")))),
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let r = &self.retry;
        let retry = [
            r.max_retries as u64,
            r.retry_timeout.as_secs(),
            r.request_timeout.as_secs(),
            r.connect_timeout.as_secs(),
        ];
        let storage = self.options.iter().map(|(k, v)| ConfigEntry {
            key: format!("lifecycle.storage.{k}"),
            value: Some(v.clone()),
            description: "object store option of the job",
        });
        let retry = RETRY_KEYS.iter().zip(retry).map(|(k, v)| ConfigEntry {
            key: format!("lifecycle.retry.{k}"),
            value: Some(v.to_string()),
            description: "object store retry setting of the job",
        });
        storage.chain(retry).collect()
    }
}

impl ConfigExtension for JobStorage {
    const PREFIX: &'static str = "lifecycle";
}

/// The session configuration of every `lifecycle` process in a cluster: Ballista's settings,
/// the pipeline's SQL settings and an empty [`JobStorage`] that the session's settings fill.
///
/// Ballista's adaptive planner is off: in Ballista 55 it returned the rows of `user_segments`
/// (window ranks, a left join, a UNION ALL with an empty branch, an ORDER BY) ten times over;
/// the test `cluster::user_segments_are_not_duplicated_on_the_cluster` pins it down. The static
/// planner gives the same rows as a local run.
pub fn server_config() -> SessionConfig {
    lifecycle_features::session_config(SessionConfig::new_with_ballista())
        .with_option_extension(JobStorage::default())
        .set_bool("ballista.planner.adaptive.enabled", false)
}

/// A runtime whose object stores are built from the session's [`JobStorage`] over `base` (the
/// process's own environment); spill files go to `temp_dir` when given.
pub fn runtime_env(
    config: &SessionConfig,
    base: &Stores,
    temp_dir: Option<&str>,
) -> DfResult<Arc<RuntimeEnv>> {
    let job = config
        .options()
        .extensions
        .get::<JobStorage>()
        .cloned()
        .unwrap_or_default();
    let stores = job
        .stores(base)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut builder =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(StoreRegistry::new(stores)));
    if let Some(dir) = temp_dir {
        builder = builder.with_temp_file_path(dir);
    }
    builder.build_arc()
}

/// The scheduler's session state for a session's `config`: Ballista's default state with the
/// pipeline's functions and stores from the session's settings.
pub fn server_state(config: SessionConfig, base: &Stores) -> DfResult<SessionState> {
    let runtime = runtime_env(&config, base, None)?;
    let state = ballista_core::utils::default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .build();
    for f in lifecycle_features::functions() {
        state.register_udf(f)?;
    }
    Ok(state)
}

/// A client session whose queries run on the Ballista scheduler at `url` (`df://host:port`).
/// The stores `stores` builds are this session's stores, and their settings travel with it.
/// Connecting happens at the first query: a scheduler that cannot be reached fails that query.
pub async fn remote_context(url: &str, stores: &Stores) -> Result<SessionContext> {
    let connect = |source| ClusterError::Connect {
        url: url.to_string(),
        source,
    };
    let config = server_config().with_option_extension(JobStorage::from_stores(stores));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(StoreRegistry::new(stores.clone())))
        .build_arc()
        .map_err(connect)?;
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .map_err(connect)?;
    // `remote_with_state` replaces the function list: register ours on what it returns.
    lifecycle_features::register_functions(&ctx);
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_storage_round_trips_through_session_settings() {
        let mut job = JobStorage::default();
        job.options
            .insert("endpoint".into(), "http://127.0.0.1:9000".into());
        job.options
            .insert("aws_secret_access_key".into(), "s3cr3t".into());
        job.retry.max_retries = 3;
        job.retry.connect_timeout = Duration::from_secs(7);
        let sent = SessionConfig::new().with_option_extension(job.clone());
        // What an executor does with the settings it receives.
        let mut got = server_config();
        for e in sent.options().entries() {
            if let Some(v) = e.value {
                got.options_mut().set(&e.key, &v).unwrap();
            }
        }
        let got = got.options().extensions.get::<JobStorage>().unwrap();
        assert_eq!(got.options, job.options);
        assert_eq!(got.retry, job.retry);
        assert!(!format!("{got:?}").contains("s3cr3t"), "Debug hides values");
        let mut bad = JobStorage::default();
        let err = bad.set("retry.max_retires", "3").unwrap_err().to_string();
        assert!(err.contains("lifecycle.retry.max_retires"), "{err}");
    }
}
