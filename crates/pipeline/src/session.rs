//! The session the SQL steps run on: DataFusion in this process, or a Ballista cluster when the
//! spec names a scheduler; and the run's stores. Model training runs in this process either
//! way, on the per-user tables the SQL steps produce (see the README's "Running on a cluster").

use datafusion::prelude::SessionContext;
use lifecycle_spec::{SpecError, ValidJobSpec};
use lifecycle_storage::{Location, Stores};

use crate::Result;
use crate::engine::{Usage, local_session};

/// A run's session: the context, where it runs for the manifest (`local` or the scheduler's
/// URL), and for a local run what its engine uses.
pub(crate) struct Session {
    pub ctx: SessionContext,
    pub engine: String,
    pub usage: Option<Usage>,
}

/// The session `spec` asks for: local as `[engine]` sizes it, or on the Ballista cluster.
pub(crate) async fn session(spec: &ValidJobSpec, stores: &Stores) -> Result<Session> {
    let Some(url) = spec.cluster.as_ref() else {
        let (ctx, usage) = local_session(&spec.engine)?;
        return Ok(Session {
            ctx,
            engine: "local".to_string(),
            usage: Some(usage),
        });
    };
    if spec.engine != lifecycle_spec::ValidEngine::default() {
        tracing::warn!(
            "[engine] sizes local runs only: a cluster's executors take their own memory and \
             spill settings (see the README's executor sizing)"
        );
    }
    let locations = [
        ("job.output", Some(&spec.output)),
        ("events.url", Some(&spec.events.url)),
        ("users.url", spec.users.as_ref().map(|u| &u.url)),
        ("items.url", spec.items.as_ref().map(|u| &u.url)),
    ];
    for (setting, url) in locations {
        if let Some(url) = url.filter(|u| u.scheme() == "memory") {
            return Err(SpecError::Invalid {
                setting: setting.into(),
                reason: format!(
                    "{url} exists only inside this process, so a cluster's executors cannot read \
                     it: use an object store (s3://, gs://, az://), or file:// when every \
                     process runs on this machine"
                ),
            }
            .into());
        }
    }
    let ctx = lifecycle_cluster::remote_context(url, stores).await?;
    tracing::info!(cluster = %url, "the SQL steps run on the Ballista cluster");
    Ok(Session {
        ctx,
        engine: url.clone(),
        usage: None,
    })
}

/// The run's store factory: the caller's (environment, memory stores, test wrappers) with the
/// spec's `[storage]` options and retry settings.
pub(crate) fn stores_for(spec: &ValidJobSpec, stores: &Stores) -> Result<Stores> {
    let st = &spec.storage;
    let secs = std::time::Duration::from_secs;
    let retry = lifecycle_storage::RetrySettings {
        max_retries: st.max_retries,
        retry_timeout: secs(st.retry_timeout_secs),
        request_timeout: secs(st.request_timeout_secs),
        connect_timeout: secs(st.connect_timeout_secs),
    };
    Ok(stores.with_settings(&st.options, retry)?)
}

/// The location of the spec's `setting`; a scheme no store serves is the spec's fault (exit 2),
/// named by its setting.
pub(crate) fn open_setting(stores: &Stores, url: &url::Url, setting: &str) -> Result<Location> {
    stores.open(url).map_err(|e| match e {
        lifecycle_storage::StorageError::UnsupportedScheme { .. } => SpecError::Invalid {
            setting: setting.to_string(),
            reason: e.to_string(),
        }
        .into(),
        e => e.into(),
    })
}

/// Makes `loc`'s store readable by SQL on `ctx`.
pub(crate) fn register_store(ctx: &SessionContext, loc: &Location) {
    ctx.register_object_store(&loc.store_url(), loc.store().clone());
}

/// The spec as written, for the manifest, with secret storage options replaced.
pub(crate) fn redacted_spec(spec: &ValidJobSpec) -> serde_json::Value {
    let mut source = spec.source.clone();
    for (key, value) in source.storage.options.iter_mut() {
        if lifecycle_storage::is_secret_key(key) {
            *value = "***".to_string();
        }
    }
    serde_json::to_value(&source).unwrap_or_default()
}
