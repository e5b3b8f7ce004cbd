//! Stores for commands that take a location: credentials from this process's environment and
//! the AWS shared profile, plus `--option KEY=VALUE`.

use lifecycle_spec::{SpecError, resolve_location};
use lifecycle_storage::{Location, Stores};

use crate::args::StoreArgs;

impl StoreArgs {
    /// The folder location, with credentials from this process's environment and the options.
    pub(crate) fn open(&self, location: &str) -> anyhow::Result<Location> {
        self.open_as(location, true)
    }

    /// [`StoreArgs::open`] for a folder (`dir`) or a single file.
    pub(crate) fn open_as(&self, location: &str, dir: bool) -> anyhow::Result<Location> {
        let cwd = std::env::current_dir()?;
        let url = resolve_location(location, &cwd, dir).map_err(|reason| SpecError::Invalid {
            setting: "location".into(),
            reason,
        })?;
        let options = self.options.iter().cloned().collect();
        let stores = Stores::default()
            .with_env(credential_env())
            .with_settings(&options, Default::default())?;
        Ok(stores.open(&url)?)
    }
}

/// Stores that read credentials from this process's environment.
pub(crate) fn env_stores() -> Stores {
    Stores::default().with_env(credential_env())
}

/// This process's environment, plus the AWS shared profile (`AWS_PROFILE`, default `default`)
/// from `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE` and
/// `AWS_CONFIG_FILE`) for what the environment does not set.
pub(crate) fn credential_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    let var = |k: &str| std::env::var(k).ok();
    let home = var("HOME").unwrap_or_default();
    let read = |over: &str, default: &str| {
        std::fs::read_to_string(var(over).unwrap_or_else(|| format!("{home}/.aws/{default}")))
            .unwrap_or_default()
    };
    let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let from_profile = lifecycle_storage::aws_profile_env(
        &read("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        &read("AWS_CONFIG_FILE", "config"),
        &profile,
    );
    for (k, v) in from_profile {
        if !env.iter().any(|(e, _)| *e == k) {
            env.push((k, v));
        }
    }
    env
}

/// A DataFusion session that reads the committed tables under `out` (its store registered).
pub(crate) fn session_on(out: &Location) -> datafusion::prelude::SessionContext {
    let ctx = lifecycle_features::new_session();
    ctx.register_object_store(&out.store_url(), out.store().clone());
    ctx
}
