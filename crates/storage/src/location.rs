//! URLs to stores: one factory per scheme.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ClientOptions, RetryConfig};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::{Result, StorageError};

/// Wraps each store as it is built: fault injection and request counting in tests.
pub type StoreWrapper =
    Arc<dyn Fn(&Url, Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> + Send + Sync>;

/// Retry and timeout settings for cloud stores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    pub max_retries: usize,
    pub retry_timeout: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Builds stores from URLs, one factory per scheme, and keeps one instance per store root (so
/// every part of a run, and a test that reads its outputs, sees the same `memory://` store).
///
/// Cloud stores read their credentials from an environment snapshot given with
/// [`Stores::with_env`] (the CLI passes the process environment: `AWS_*`, `GOOGLE_*`,
/// `AZURE_*`, the variables each cloud's standard chain uses, including web identity and
/// container credentials), then apply explicit options, which win.
#[derive(Clone, Default)]
pub struct Stores {
    memory: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
    built: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
    env: Arc<BTreeMap<String, String>>,
    options: Arc<BTreeMap<String, String>>,
    retry: RetrySettings,
    wrapper: Option<StoreWrapper>,
}

impl std::fmt::Debug for Stores {
    // Options and the environment hold secrets: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("option_keys", &self.options.keys().collect::<Vec<_>>())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Whether an option or variable name holds a secret, so that it is never shown.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "key", "token", "password", "sas", "credential"]
        .iter()
        .any(|w| k.contains(w))
        && !k.ends_with("key_id")
}

/// Whether `key` is a configuration key of the S3, GCS or Azure store.
fn is_store_option(key: &str) -> bool {
    key.parse::<AmazonS3ConfigKey>().is_ok()
        || key.parse::<GoogleConfigKey>().is_ok()
        || key.parse::<AzureConfigKey>().is_ok()
}

impl Stores {
    /// The environment to read credentials from (variables of other prefixes are ignored).
    pub fn with_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env = Arc::new(
            env.into_iter()
                .filter(|(k, _)| {
                    k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
                })
                .collect(),
        );
        self.built = Default::default();
        self
    }

    /// Wraps every store this factory builds.
    pub fn with_wrapper(mut self, wrapper: StoreWrapper) -> Self {
        self.wrapper = Some(wrapper);
        self.built = Default::default();
        self
    }

    /// Explicit options and retry settings (the spec's `[storage]`). Keeps the memory stores.
    /// Fails, naming the option, when a key is not an option of any store.
    pub fn with_settings(
        &self,
        options: &BTreeMap<String, String>,
        retry: RetrySettings,
    ) -> Result<Stores> {
        for key in options.keys() {
            if !is_store_option(key) {
                return Err(StorageError::UnknownOption { key: key.clone() });
            }
        }
        Ok(Stores {
            memory: self.memory.clone(),
            built: Default::default(),
            env: self.env.clone(),
            options: Arc::new(options.clone()),
            retry,
            wrapper: self.wrapper.clone(),
        })
    }

    /// The retry and timeout settings stores are built with.
    pub fn retry(&self) -> RetrySettings {
        self.retry
    }

    /// The settings another process needs to build the same stores (a Ballista executor): the
    /// credential variables of this factory's environment as store options, then the explicit
    /// options, which win. Variables that name a file or a metadata endpoint local to this
    /// process (web identity token files, container credentials) are left out: each process
    /// resolves those from its own environment. The values include secrets: never log them.
    pub fn portable_options(&self) -> BTreeMap<String, String> {
        let local_only = |k: &str| {
            ["file", "container_credentials", "metadata", "imds"]
                .iter()
                .any(|w| k.contains(w))
        };
        let mut out = BTreeMap::new();
        for (k, v) in self.env.iter() {
            let k = k.to_ascii_lowercase();
            if is_store_option(&k) && !local_only(&k) {
                out.insert(k, v.clone());
            }
        }
        for (k, v) in self.options.iter() {
            out.insert(k.clone(), v.clone());
        }
        out
    }

    /// The store and prefix for a URL.
    pub fn open(&self, url: &Url) -> Result<Location> {
        let root = store_root(url);
        let store = {
            let mut built = self.built.lock().expect("store cache lock poisoned");
            match built.get(&root) {
                Some(s) => s.clone(),
                None => {
                    let s = self.build(url)?;
                    let s = match &self.wrapper {
                        Some(w) => w(url, s),
                        None => s,
                    };
                    built.insert(root, s.clone());
                    s
                }
            }
        };
        let path = Path::from_url_path(url.path()).map_err(|e| StorageError::Store {
            url: url.to_string(),
            source: e.into(),
        })?;
        Ok(Location {
            store,
            url: url.clone(),
            path,
        })
    }

    fn config_error(url: &Url) -> impl FnOnce(object_store::Error) -> StorageError + '_ {
        move |e| StorageError::Config {
            url: url.to_string(),
            reason: e.to_string(),
        }
    }

    fn build(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let client = ClientOptions::new()
            .with_timeout(self.retry.request_timeout)
            .with_connect_timeout(self.retry.connect_timeout);
        let retry = RetryConfig {
            max_retries: self.retry.max_retries,
            retry_timeout: self.retry.retry_timeout,
            ..RetryConfig::default()
        };
        // Environment first, explicit options over it; keys of other clouds are skipped. Client
        // options go in first: `with_client_options` replaces them, `with_config` refines them.
        let settings = || {
            self.env
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .chain(self.options.iter().map(|(k, v)| (k.clone(), v)))
        };
        macro_rules! cloud_store {
            ($builder:ty, $key:ty) => {{
                let mut b = <$builder>::new().with_client_options(client.clone());
                for (k, v) in settings() {
                    if let Ok(key) = k.parse::<$key>() {
                        b = b.with_config(key, v);
                    }
                }
                Arc::new(
                    b.with_url(url.as_str())
                        .with_retry(retry.clone())
                        .build()
                        .map_err(Self::config_error(url))?,
                ) as Arc<dyn ObjectStore>
            }};
        }
        Ok(match url.scheme() {
            "file" => Arc::new(LocalFileSystem::new()),
            "memory" => {
                let host = url.host_str().unwrap_or_default().to_string();
                let mut map = self.memory.lock().expect("store registry lock poisoned");
                map.entry(host)
                    .or_insert_with(|| Arc::new(InMemory::new()))
                    .clone()
            }
            "s3" | "s3a" => cloud_store!(AmazonS3Builder, AmazonS3ConfigKey),
            "gs" => cloud_store!(GoogleCloudStorageBuilder, GoogleConfigKey),
            "az" | "abfs" | "abfss" | "azure" => {
                cloud_store!(MicrosoftAzureBuilder, AzureConfigKey)
            }
            scheme => {
                return Err(StorageError::UnsupportedScheme {
                    url: url.to_string(),
                    scheme: scheme.to_string(),
                });
            }
        })
    }
}

/// `scheme://authority`: one store per bucket or container.
/// `scheme://authority` of a URL: the key of the one store (bucket, container, `file://`) it
/// lives in.
pub fn store_root(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

/// A place in a store: a folder prefix or a single object.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    url: Url,
    path: Path,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl Location {
    /// The store this location is in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The full URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The path inside the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `scheme://authority/`: the key under which DataFusion must know this store.
    pub fn store_url(&self) -> Url {
        let mut u = self.url.clone();
        u.set_path("/");
        u.set_query(None);
        u.set_fragment(None);
        u
    }

    /// The URL of an object path in the same store.
    pub fn url_of(&self, path: &Path) -> Url {
        let mut u = self.store_url();
        u.set_path(&format!("/{path}"));
        u
    }

    /// A location below this one; `rel` uses `/` and may end with `/` for a folder.
    pub fn join(&self, rel: &str) -> Location {
        let mut url = self.url.clone();
        let base = if url.path().ends_with('/') {
            url.path().to_string()
        } else {
            format!("{}/", url.path())
        };
        url.set_path(&format!("{base}{}", rel.trim_start_matches('/')));
        let path = Path::from_iter(
            self.path.parts().chain(
                rel.split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| object_store::path::PathPart::from(s.to_string())),
            ),
        );
        Location {
            store: self.store.clone(),
            url,
            path,
        }
    }

    fn err(&self, source: object_store::Error) -> StorageError {
        StorageError::Store {
            url: self.url.to_string(),
            source,
        }
    }

    /// Every object at or below this location, sorted by path. A single object lists itself.
    pub async fn list(&self) -> Result<Vec<ObjectMeta>> {
        if !self.url.path().ends_with('/') {
            match self.store.head(&self.path).await {
                Ok(meta) => return Ok(vec![meta]),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        let mut all: Vec<ObjectMeta> = self
            .store
            .list(Some(&self.path))
            .try_collect()
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(Vec::new()),
                e => Err(self.err(e)),
            })?;
        all.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(all)
    }

    /// Reads the whole object.
    pub async fn get_bytes(&self) -> Result<bytes::Bytes> {
        let r = self.store.get(&self.path).await.map_err(|e| self.err(e))?;
        r.bytes().await.map_err(|e| self.err(e))
    }

    /// Reads the whole object, or `None` when it does not exist.
    pub async fn get_bytes_opt(&self) -> Result<Option<bytes::Bytes>> {
        match self.store.get(&self.path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.err(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Writes the whole object (atomically: readers see the old or the new content).
    pub async fn put_bytes(&self, data: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.path, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Deletes every object at or below this location.
    pub async fn delete_all(&self) -> Result<()> {
        for meta in self.list().await? {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_options_carry_credentials_but_not_local_files() {
        let stores = Stores::default()
            .with_env([
                ("AWS_ACCESS_KEY_ID".to_string(), "AKID".to_string()),
                (
                    "AWS_SECRET_ACCESS_KEY".to_string(),
                    "env-secret".to_string(),
                ),
                ("AWS_REGION".to_string(), "eu-west-1".to_string()),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE".to_string(),
                    "/var/run/token".to_string(),
                ),
                ("AWS_PROFILE".to_string(), "dev".to_string()),
                ("HOME".to_string(), "/root".to_string()),
            ])
            .with_settings(
                &opts(&[
                    ("aws_secret_access_key", "spec-secret"),
                    ("endpoint", "http://s3"),
                ]),
                RetrySettings::default(),
            )
            .unwrap();
        let p = stores.portable_options();
        assert_eq!(p["aws_access_key_id"], "AKID");
        assert_eq!(p["aws_region"], "eu-west-1");
        assert_eq!(
            p["aws_secret_access_key"], "spec-secret",
            "explicit options win"
        );
        assert_eq!(p["endpoint"], "http://s3");
        assert!(!p.contains_key("aws_web_identity_token_file"));
        assert!(
            !p.keys()
                .any(|k| k.contains("profile") || k.contains("home"))
        );
        // What another process builds from them is accepted as settings.
        Stores::default().with_settings(&p, stores.retry()).unwrap();
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_options_are_named() {
        let err = Stores::default()
            .with_settings(&opts(&[("endpiont", "x")]), RetrySettings::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("`storage.options.endpiont`"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_recognised() {
        for k in [
            "secret_access_key",
            "aws_session_token",
            "azure_storage_account_key",
            "google_service_account_key",
            "sas_token",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "access_key_id",
            "endpoint",
            "region",
            "allow_http",
            "azure_storage_account_name",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn each_cloud_builds_from_url_options_and_env() {
        let stores = Stores::default()
            .with_env([
                ("AZURE_STORAGE_ACCOUNT_NAME".to_string(), "acct".to_string()),
                ("HOME".to_string(), "/x".to_string()),
            ])
            .with_settings(
                &opts(&[
                    ("azure_storage_account_key", "a2V5"),
                    ("endpoint", "http://127.0.0.1:1"),
                    ("region", "eu-west-1"),
                ]),
                RetrySettings::default(),
            )
            .unwrap();
        for url in [
            "s3://bucket/p/",
            "az://container/p/",
            "abfss://container@acct.dfs.core.windows.net/p/",
            "gs://bucket/p/",
        ] {
            let loc = stores
                .open(&Url::parse(url).unwrap())
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(loc.url().as_str(), url);
        }
        let debug = format!("{stores:?}");
        assert!(!debug.contains("a2V5"), "{debug}");
        let err = stores
            .open(&Url::parse("ftp://host/p").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("scheme `ftp`"), "{err}");
    }
}
