//! The [`Store`] of one cluster: its resourceVersion counter, objects by resource and key, the
//! owner index, and lookups and rendering of single objects. Lists, watches and writes are
//! implemented in the sibling modules.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::event::Event;
use super::object::{Stored, obj_key};
use crate::error::ApiError;
use crate::registry::{Registry, ResourceInfo, ResourceKey};

/// Storage key of the namespaces resource.
pub(super) const NAMESPACES: &str = "/namespaces";
/// Storage key of the CRD resource.
pub(super) const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Storage tuning.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Events kept for watches that resume from a resourceVersion.
    pub history: usize,
    /// Capacity of the per-cluster event channel; a watcher further behind gets 410.
    pub watch_buffer: usize,
}

/// The objects of one cluster.
pub struct Store {
    pub(super) rv: u64,
    pub(super) registry: Registry,
    pub(super) data: HashMap<ResourceKey, BTreeMap<String, Arc<Stored>>>,
    pub(super) history: VecDeque<Arc<Event>>,
    pub(super) limits: StoreLimits,
    pub(super) oldest_watchable: u64,
    pub(super) tx: broadcast::Sender<Arc<Event>>,
    /// How many stored objects name each owner uid (to skip the dependents scan on delete).
    pub(super) owned: HashMap<Box<str>, u32>,
    /// The CA the token controller writes into token Secrets (`ca.crt`), if any.
    pub(super) sa_root_ca: Option<Vec<u8>>,
}

impl Store {
    /// A store with no objects (not even the default namespaces; see [`Store::new`]).
    pub(super) fn empty(limits: StoreLimits) -> Self {
        let (tx, _) = broadcast::channel(limits.watch_buffer.max(16));
        Self {
            rv: 0,
            registry: Registry::default(),
            data: HashMap::new(),
            history: VecDeque::new(),
            limits,
            oldest_watchable: 0,
            tx,
            owned: HashMap::new(),
            sa_root_ca: None,
        }
    }

    /// The resource registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.data.values().map(BTreeMap::len).sum()
    }

    pub(super) fn count_owners(&mut self, obj: &Stored, add: bool) {
        for uid in &obj.owners {
            if add {
                *self.owned.entry(uid.clone()).or_default() += 1;
            } else if let Some(n) = self.owned.get_mut(uid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.owned.remove(uid);
                }
            }
        }
    }

    /// Stores an object under its keys, keeping the owner index right.
    pub(super) fn put_obj(&mut self, key: &ResourceKey, okey: String, obj: Arc<Stored>) {
        self.count_owners(&obj, true);
        if let Some(old) = self.data.entry(key.clone()).or_default().insert(okey, obj) {
            self.count_owners(&old, false);
        }
    }

    /// Removes an object, keeping the owner index right.
    pub(super) fn take_obj(&mut self, key: &ResourceKey, okey: &str) -> Option<Arc<Stored>> {
        let old = self.data.get_mut(key).and_then(|m| m.remove(okey))?;
        self.count_owners(&old, false);
        Some(old)
    }

    /// Looks up one object.
    pub fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Option<Arc<Stored>> {
        self.data.get(&info.key())?.get(&obj_key(ns, name)).cloned()
    }

    pub(super) fn get_required(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Arc<Stored>, ApiError> {
        self.get(info, ns, name)
            .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, name))
    }

    /// Renders a stored object in a served version.
    pub fn render(info: &ResourceInfo, version: &str, obj: &Stored) -> Bytes {
        if version == info.storage_version {
            return obj.json.clone();
        }
        let mut v = obj.value();
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version(version)));
        }
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    pub(super) fn to_version(info: &ResourceInfo, version: &str, mut v: Value) -> Value {
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version(version)));
        }
        v
    }

    pub(super) fn ns_info(&self) -> Arc<ResourceInfo> {
        self.registry.by_key(NAMESPACES).unwrap_or_else(|| {
            // The namespaces resource is built in and never removed.
            Arc::new(crate::registry::builtins().remove(0))
        })
    }
}
