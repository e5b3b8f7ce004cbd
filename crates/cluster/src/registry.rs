//! Object stores built on demand from the job's storage settings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use lifecycle_storage::{Stores, store_root};
use object_store::ObjectStore;
use url::Url;

/// An [`ObjectStoreRegistry`] that builds each store the first time a URL of its bucket (or
/// container, or `file://`) is used, from a [`Stores`] factory (the process's environment and
/// the job's storage options), and keeps stores registered explicitly, which win.
///
/// DataFusion's default registry knows only `file://`: an executor with it fails on the first
/// `s3://` path. This one lets executors and the scheduler read whatever the job reads.
pub struct StoreRegistry {
    stores: Stores,
    registered: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    pub fn new(stores: Stores) -> Self {
        StoreRegistry {
            stores,
            registered: RwLock::new(HashMap::new()),
        }
    }
}

impl std::fmt::Debug for StoreRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registered: Vec<String> = self
            .registered
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("StoreRegistry")
            .field("stores", &self.stores)
            .field("registered", &registered)
            .finish()
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.registered
            .write()
            .expect("store registry lock poisoned")
            .insert(store_root(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.registered
            .write()
            .expect("store registry lock poisoned")
            .remove(&store_root(url))
            .ok_or_else(|| {
                DataFusionError::Execution(format!("no object store registered for {url}"))
            })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Some(s) = self
            .registered
            .read()
            .expect("store registry lock poisoned")
            .get(&store_root(url))
        {
            return Ok(s.clone());
        }
        let loc = self
            .stores
            .open(url)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(loc.store().clone())
    }
}
