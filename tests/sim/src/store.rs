//! Per-cluster object storage: one resourceVersion counter, objects as compact JSON, a bounded
//! event history for watches, and the write semantics of the real API server (generation,
//! finalizers, cascading deletion, namespaces, CRDs, status subresource, server-side apply).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::apply::{self, ApplyError, ApplyRequest, Part};
use crate::error::ApiError;
use crate::patch::{self, PatchType};
use crate::registry::{Registry, ResourceInfo, ResourceKey, from_crd};
use crate::selector::{FieldSelector, LabelSelector};

/// Storage key of the namespaces resource.
const NAMESPACES: &str = "/namespaces";
/// Finalizer of an owner waiting for its dependents (foreground deletion).
const FOREGROUND: &str = "foregroundDeletion";
/// Storage key of the CRD resource.
const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// One stored object: its serialized JSON plus the metadata selectors and deletion need.
#[derive(Debug)]
pub struct Stored {
    /// metadata.name
    pub name: Box<str>,
    /// metadata.namespace
    pub namespace: Option<Box<str>>,
    /// metadata.uid
    pub uid: Box<str>,
    /// metadata.resourceVersion
    pub rv: u64,
    /// metadata.labels
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// uids from metadata.ownerReferences
    pub owners: Box<[Box<str>]>,
    /// metadata.finalizers is not empty
    pub has_finalizers: bool,
    /// metadata.deletionTimestamp is set
    pub deleting: bool,
    /// compact JSON of the object in its storage version
    pub json: Bytes,
}

impl Stored {
    fn from_value(v: &Value, rv: u64) -> Self {
        let meta = v.get("metadata");
        let s = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .map(|(k, v)| {
                        (
                            Box::from(k.as_str()),
                            Box::from(v.as_str().unwrap_or_default()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("uid").and_then(Value::as_str))
                    .map(Box::from)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name: Box::from(s("name").unwrap_or_default()),
            namespace: s("namespace").map(Box::from),
            uid: Box::from(s("uid").unwrap_or_default()),
            rv,
            labels,
            owners,
            has_finalizers: meta
                .and_then(|m| m.get("finalizers"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()),
            deleting: s("deletionTimestamp").is_some(),
            // Exact-size allocation: a serializer buffer may have twice the capacity it needs.
            json: Bytes::from(serde_json::to_vec(v).unwrap_or_default().into_boxed_slice()),
        }
    }

    /// Parses the stored JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// Watch event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// ADDED
    Added,
    /// MODIFIED
    Modified,
    /// DELETED
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// A change to one object.
#[derive(Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Storage key of the resource.
    pub key: ResourceKey,
    /// What happened.
    pub etype: EventType,
    /// The object after the change (for DELETED, its last state).
    pub obj: Arc<Stored>,
    /// The object before the change, for selector transitions.
    pub old: Option<Arc<Stored>>,
}

/// Storage tuning.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Events kept for watches that resume from a resourceVersion.
    pub history: usize,
    /// Capacity of the per-cluster event channel; a watcher further behind gets 410.
    pub watch_buffer: usize,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`
    pub dry_run: bool,
    /// Field manager for managedFields (from `fieldManager` or the User-Agent).
    pub manager: String,
    /// Whether to track managedFields (off for direct seeding).
    pub track_fields: bool,
}

/// How a delete treats dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete dependents after the owner.
    Background,
    /// Delete dependents first; the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Remove the owner reference from dependents.
    Orphan,
}

/// Result of a list.
pub struct ListPage {
    /// Matching objects, in key order.
    pub items: Vec<Arc<Stored>>,
    /// Current resourceVersion.
    pub rv: u64,
    /// Continue token, if more items exist.
    pub continue_token: Option<String>,
    /// Items after this page (only without selectors).
    pub remaining: Option<u64>,
}

/// Where a watch starts.
pub enum WatchStart {
    /// Synthetic ADDED events for the current state, then changes.
    Current,
    /// Changes after this resourceVersion.
    From(u64),
}

/// A registered watch: what to send first, then the live channel.
pub struct WatchInit {
    /// Objects to send as ADDED first (watch from current state).
    pub initial: Vec<Arc<Stored>>,
    /// Past events to replay (watch from a resourceVersion).
    pub backlog: Vec<Arc<Event>>,
    /// Live events.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// resourceVersion at registration.
    pub rv: u64,
}

/// The objects of one cluster.
pub struct Store {
    rv: u64,
    registry: Registry,
    data: HashMap<ResourceKey, BTreeMap<String, Arc<Stored>>>,
    history: VecDeque<Arc<Event>>,
    limits: StoreLimits,
    oldest_watchable: u64,
    tx: broadcast::Sender<Arc<Event>>,
    /// How many stored objects name each owner uid (to skip the dependents scan on delete).
    owned: HashMap<Box<str>, u32>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn obj_key(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn valid_name(name: &str, label: bool) -> Result<(), String> {
    let max = if label { 63 } else { 253 };
    if name.len() > max {
        return Err(format!("must be no more than {max} characters"));
    }
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    let good = if label {
        ok_part(name)
    } else {
        name.split('.').all(ok_part)
    };
    if good {
        Ok(())
    } else if label {
        Err("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".into())
    } else {
        Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into())
    }
}

/// Everything except metadata and status, to decide whether generation changes.
fn spec_part(v: &Value) -> Map<String, Value> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = Value::Object(Map::new());
    }
    match v.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

impl Store {
    /// A store with the default namespaces.
    pub fn new(limits: StoreLimits) -> Self {
        let (tx, _) = broadcast::channel(limits.watch_buffer.max(16));
        let mut s = Self {
            rv: 0,
            registry: Registry::default(),
            data: HashMap::new(),
            history: VecDeque::new(),
            limits,
            oldest_watchable: 0,
            tx,
            owned: HashMap::new(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = s.seed(obj);
        }
        s
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

    /// Forgets all history: every resourceVersion older than now is compacted.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest_watchable = self.rv;
    }

    fn count_owners(&mut self, obj: &Stored, add: bool) {
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
    fn put_obj(&mut self, key: &ResourceKey, okey: String, obj: Arc<Stored>) {
        self.count_owners(&obj, true);
        if let Some(old) = self.data.entry(key.clone()).or_default().insert(okey, obj) {
            self.count_owners(&old, false);
        }
    }

    /// Removes an object, keeping the owner index right.
    fn take_obj(&mut self, key: &ResourceKey, okey: &str) -> Option<Arc<Stored>> {
        let old = self.data.get_mut(key).and_then(|m| m.remove(okey))?;
        self.count_owners(&old, false);
        Some(old)
    }

    /// Looks up one object.
    pub fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Option<Arc<Stored>> {
        self.data.get(&info.key())?.get(&obj_key(ns, name)).cloned()
    }

    fn get_required(
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

    fn to_version(info: &ResourceInfo, version: &str, mut v: Value) -> Value {
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version(version)));
        }
        v
    }

    /// Lists objects.
    #[allow(clippy::too_many_arguments)]
    pub fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        // Pages after the first report the first page's resourceVersion (as a real server
        // does): a watch started from it replays every change made while paging.
        let (list_rv, start) = match cont {
            Some(token) => {
                let (rv, start) = self.decode_continue(token)?;
                (rv, Some(start))
            }
            None => (self.rv, None),
        };
        let empty = BTreeMap::new();
        let map = self.data.get(&info.key()).unwrap_or(&empty);
        let prefix = ns.map(|n| format!("{n}/"));
        let lower = match (&start, &prefix) {
            (Some(s), _) => std::ops::Bound::Excluded(s.clone()),
            (None, Some(p)) => std::ops::Bound::Included(p.clone()),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let mut iter = map
            .range::<String, _>((lower, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())));
        let mut items = Vec::new();
        let mut last_key = None;
        let limit = limit.filter(|l| *l > 0);
        let mut more = false;
        for (k, obj) in iter.by_ref() {
            if !Self::matches_obj(obj, ns, labels, fields) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(obj.clone());
            last_key = Some(k.clone());
        }
        let mut remaining = None;
        let continue_token = if more {
            if labels.is_empty() && fields.is_empty() {
                remaining = Some(1 + iter.count() as u64);
            }
            last_key.map(|k| encode_continue(list_rv, &k))
        } else {
            None
        };
        Ok(ListPage {
            items,
            rv: list_rv,
            continue_token,
            remaining,
        })
    }

    /// Reads a continue token: (resourceVersion of the first page, last key served).
    fn decode_continue(&self, token: &str) -> Result<(u64, String), ApiError> {
        use base64::Engine;
        let bad = || ApiError::bad_request(format!("invalid continue token {token:?}"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
        if rv < self.oldest_watchable {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            ));
        }
        let start = v
            .get("start")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)?;
        Ok((rv, start))
    }

    /// Whether an object matches a namespace and selectors.
    pub fn matches_obj(
        obj: &Stored,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> bool {
        if let Some(ns) = ns
            && obj.namespace.as_deref() != Some(ns)
        {
            return false;
        }
        if !labels.matches(&obj.labels) {
            return false;
        }
        if fields.is_empty() {
            return true;
        }
        let body = if fields.metadata_only() {
            None
        } else {
            Some(obj.value())
        };
        fields.matches(obj.namespace.as_deref(), &obj.name, body.as_ref())
    }

    /// Registers a watch.
    pub fn watch(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        start: WatchStart,
    ) -> Result<WatchInit, ApiError> {
        let rx = self.tx.subscribe();
        match start {
            WatchStart::Current => {
                let page = self.list(info, ns, labels, fields, None, None)?;
                Ok(WatchInit {
                    initial: page.items,
                    backlog: Vec::new(),
                    rx,
                    rv: self.rv,
                })
            }
            WatchStart::From(from) => {
                if from < self.oldest_watchable {
                    return Err(ApiError::gone(from, self.oldest_watchable));
                }
                let key = info.key();
                let backlog = self
                    .history
                    .iter()
                    .filter(|e| e.rv > from && e.key == key)
                    .cloned()
                    .collect();
                Ok(WatchInit {
                    initial: Vec::new(),
                    backlog,
                    rx,
                    rv: self.rv,
                })
            }
        }
    }

    fn emit(
        &mut self,
        key: ResourceKey,
        etype: EventType,
        obj: Arc<Stored>,
        old: Option<Arc<Stored>>,
    ) {
        let ev = Arc::new(Event {
            rv: self.rv,
            key,
            etype,
            obj,
            old,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.limits.history {
            if let Some(e) = self.history.pop_front() {
                self.oldest_watchable = self.oldest_watchable.max(e.rv);
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Direct seeding: create or replace an object as given (status included), bumping the
    /// resourceVersion and emitting a watch event. Missing namespaces are created.
    pub fn seed(&mut self, mut obj: Value) -> Result<Value, ApiError> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (info, _version) = self
            .registry
            .lookup_kind(&api_version, &kind)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "no kind {kind:?} is registered for version {api_version:?}"
                ))
            })?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::invalid(
                    &info.group,
                    &info.kind,
                    "",
                    "metadata.name",
                    "FieldValueRequired",
                    "name or generateName is required",
                )
            })?;
        let ns = if info.namespaced {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            meta_mut(&mut obj).insert("namespace".into(), json!(ns));
            let nsinfo = self.ns_info();
            if self.get(&nsinfo, None, &ns).is_none() {
                self.seed(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )?;
            }
            Some(ns)
        } else {
            None
        };
        let old = self.get(&info, ns.as_deref(), &name);
        if let Some(old) = &old {
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(old.rv.to_string()));
        }
        let opts = WriteOpts::default();
        self.commit(&info, ns.as_deref(), old, obj, &opts, false)
    }

    fn ns_info(&self) -> Arc<ResourceInfo> {
        self.registry.by_key(NAMESPACES).unwrap_or_else(|| {
            // The namespaces resource is built in and never removed.
            Arc::new(crate::registry::builtins().remove(0))
        })
    }

    fn check_namespace(&self, ns: &str) -> Result<(), ApiError> {
        match self.get(&self.ns_info(), None, ns) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if n.deleting => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))),
            Some(_) => Ok(()),
        }
    }

    fn check_body(info: &ResourceInfo, version: &str, body: &Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if let Some(kind) = body.get("kind").and_then(Value::as_str)
            && kind != info.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the body ({kind}) does not match the kind of the resource ({})",
                info.kind
            )));
        }
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && av != info.api_version(version)
            && !info.versions.iter().any(|v| info.api_version(v) == av)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                info.api_version(version)
            )));
        }
        Ok(())
    }

    fn fill_type(info: &ResourceInfo, version: &str, body: &mut Value) {
        if let Some(m) = body.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version(version)));
            m.insert("kind".into(), json!(info.kind));
        }
    }

    fn check_ns_field(
        info: &ResourceInfo,
        ns: Option<&str>,
        body: &mut Value,
    ) -> Result<(), ApiError> {
        let meta = meta_mut(body);
        match (info.namespaced, ns) {
            (true, Some(ns)) => match meta.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && b != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            },
            (false, _) => {
                meta.remove("namespace");
            }
            (true, None) => {
                return Err(ApiError::bad_request(
                    "a namespaced resource needs a namespace in the path",
                ));
            }
        }
        Ok(())
    }

    /// POST: create.
    pub fn create(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(info, version, &body)?;
        Self::fill_type(info, version, &mut body);
        Self::check_ns_field(info, ns, &mut body)?;
        let meta = meta_mut(&mut body);
        let name = match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(n) => n.to_string(),
            None => match meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                Some(prefix) => {
                    let n = format!("{prefix}{}", random_suffix());
                    meta.insert("name".into(), json!(n));
                    n
                }
                None => {
                    return Err(ApiError::invalid(
                        &info.group,
                        &info.kind,
                        "",
                        "metadata.name",
                        "FieldValueRequired",
                        "name or generateName is required",
                    ));
                }
            },
        };
        meta.remove("resourceVersion");
        if let Some(ns) = ns {
            self.check_namespace(ns)?;
        }
        if self.get(info, ns, &name).is_some() {
            return Err(ApiError::already_exists(&info.group, &info.plural, &name));
        }
        // Status is set by the status subresource only: a create drops it (Namespace and CRD
        // statuses are then filled in by the server).
        if info.status_subresource
            && let Some(m) = body.as_object_mut()
        {
            m.remove("status");
        }
        if opts.track_fields {
            let part = Part::of(info, false);
            apply::track_update(
                None,
                &mut body,
                &opts.manager,
                info,
                part,
                &info.api_version(version),
                &now(),
            );
        }
        self.commit(info, ns, None, body, opts, false)
    }

    /// PUT: update the main resource or `/status`.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
        status: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(info, version, &body)?;
        Self::fill_type(info, version, &mut body);
        Self::check_ns_field(info, ns, &mut body)?;
        let body_name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if body_name.is_empty() {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                "",
                "metadata.name",
                "FieldValueRequired",
                "name or generateName is required",
            ));
        }
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let old = self.get_required(info, ns, name)?;
        let rv = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rv.is_empty() && rv != old.rv.to_string() {
            return Err(ApiError::conflict(&info.group, &info.plural, name));
        }
        let old_v = Self::to_version(info, version, old.value());
        let mut new = Self::merge_part(info, &old_v, body, status);
        if opts.track_fields {
            apply::track_update(
                Some(&old_v),
                &mut new,
                &opts.manager,
                info,
                Part::of(info, status),
                &info.api_version(version),
                &now(),
            );
        }
        self.commit(info, ns, Some(old), new, opts, status)
    }

    /// Keeps only what a main-resource or `/status` write may change.
    fn merge_part(info: &ResourceInfo, old: &Value, mut body: Value, status: bool) -> Value {
        if status {
            let mut new = old.clone();
            if let Some(m) = new.as_object_mut() {
                match body.get("status") {
                    Some(s) => {
                        m.insert("status".into(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
            return new;
        }
        if info.status_subresource
            && let Some(m) = body.as_object_mut()
        {
            match old.get("status") {
                Some(s) => {
                    m.insert("status".into(), s.clone());
                }
                None => {
                    m.remove("status");
                }
            }
        }
        body
    }

    /// PATCH (merge, JSON, strategic) of the main resource or `/status`.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        body: &[u8],
        status: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get_required(info, ns, name)?;
        let old_v = Self::to_version(info, version, old.value());
        let mut patched = old_v.clone();
        patch::apply(ptype, &mut patched, body, info).map_err(|e| match e {
            patch::PatchError::JsonPatch(m) => {
                ApiError::invalid(&info.group, &info.kind, name, "", "FieldValueInvalid", &m)
            }
            other => ApiError::bad_request(other.to_string()),
        })?;
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patch turned the object into a non-object",
            ));
        }
        let rv = patched
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rv.is_empty() && rv != old.rv.to_string() {
            return Err(ApiError::conflict(&info.group, &info.plural, name));
        }
        if patched.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::bad_request(
                "the name of the object cannot be changed by a patch",
            ));
        }
        Self::fill_type(info, version, &mut patched);
        Self::check_ns_field(info, ns, &mut patched)?;
        let mut new = Self::merge_part(info, &old_v, patched, status);
        if opts.track_fields {
            apply::track_update(
                Some(&old_v),
                &mut new,
                &opts.manager,
                info,
                Part::of(info, status),
                &info.api_version(version),
                &now(),
            );
        }
        self.commit(info, ns, Some(old), new, opts, status)
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply (creates when missing).
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        applied: &Value,
        status: bool,
        force: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(info, version, applied)?;
        if let Some(n) = applied.pointer("/metadata/name").and_then(Value::as_str)
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let mut applied = applied.clone();
        apply::default_protocols(&mut applied, info);
        if let Some(schema) = &info.schema {
            crate::registry::apply_defaults(schema, &mut applied);
        }
        Self::check_ns_field(info, ns, &mut applied)?;
        let old = self.get(info, ns, name);
        if old.is_none() && status {
            return Err(ApiError::not_found(&info.group, &info.plural, name));
        }
        let live = match &old {
            Some(o) => Self::to_version(info, version, o.value()),
            None => {
                if let Some(ns) = ns {
                    self.check_namespace(ns)?;
                }
                let mut meta = Map::new();
                meta.insert("name".into(), json!(name));
                if let Some(ns) = ns {
                    meta.insert("namespace".into(), json!(ns));
                }
                json!({"apiVersion": info.api_version(version), "kind": info.kind, "metadata": meta})
            }
        };
        if let Some(o) = &old {
            let rv = applied
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !rv.is_empty() && rv != o.rv.to_string() {
                return Err(ApiError::conflict(&info.group, &info.plural, name));
            }
        }
        let part = Part::of(info, status);
        let now = now();
        let api_version = info.api_version(version);
        let req = ApplyRequest {
            applied: &applied,
            manager: &opts.manager,
            force,
            info,
            part,
            api_version: &api_version,
            now: &now,
        };
        let mut new = apply::apply(&live, &req).map_err(|e| match e {
            ApplyError::Conflict(c) => {
                ApiError::apply_conflict(&info.group, &info.plural, name, &c)
            }
            ApplyError::NotAnObject => ApiError::bad_request(e.to_string()),
        })?;
        Self::fill_type(info, version, &mut new);
        self.commit(info, ns, old, new, opts, status)
    }

    /// The write path shared by every verb: server-owned metadata, generation, CRD hooks,
    /// finalizers, storage and watch events.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        info: &Arc<ResourceInfo>,
        ns: Option<&str>,
        old: Option<Arc<Stored>>,
        mut new: Value,
        opts: &WriteOpts,
        status: bool,
    ) -> Result<Value, ApiError> {
        apply::default_protocols(&mut new, info);
        if let Some(schema) = &info.schema {
            crate::registry::apply_defaults(schema, &mut new);
        }
        if info.kind == "Secret"
            && info.group.is_empty()
            && let Some(m) = new.as_object_mut()
            && m.get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            m.insert("type".into(), json!("Opaque"));
        }
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let label =
            matches!(info.plural.as_str(), "namespaces" | "services") && info.group.is_empty();
        if let Err(msg) = valid_name(&name, label) {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                &name,
                "metadata.name",
                "FieldValueInvalid",
                &format!("{name:?}: {msg}"),
            ));
        }
        let old_v = old.as_ref().map(|o| o.value());
        {
            let meta = meta_mut(&mut new);
            match &old_v {
                Some(o) => {
                    for k in [
                        "uid",
                        "creationTimestamp",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                    ] {
                        match o.pointer(&format!("/metadata/{k}")) {
                            Some(v) => {
                                meta.insert(k.into(), v.clone());
                            }
                            None => {
                                meta.remove(k);
                            }
                        }
                    }
                }
                None => {
                    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                    meta.insert("creationTimestamp".into(), json!(now()));
                    meta.remove("deletionTimestamp");
                    meta.remove("deletionGracePeriodSeconds");
                }
            }
            if meta
                .get("labels")
                .is_some_and(|l| l.as_object().is_some_and(Map::is_empty))
            {
                meta.remove("labels");
            }
        }
        let generation = match &old_v {
            None => 1,
            Some(o) => {
                let g = o
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if !status && spec_part(o) != spec_part(&new) {
                    g + 1
                } else {
                    g
                }
            }
        };
        if info.has_generation() {
            meta_mut(&mut new).insert("generation".into(), json!(generation));
        } else {
            meta_mut(&mut new).remove("generation");
        }
        let key = info.key();
        if *key == *NAMESPACES
            && old.is_none()
            && let Some(m) = new.as_object_mut()
        {
            m.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            m.insert("status".into(), json!({"phase": "Active"}));
        }
        let crd = if *key == *CRDS {
            let parsed = from_crd(&new).map_err(|e| {
                ApiError::invalid(
                    &info.group,
                    &info.kind,
                    &name,
                    "spec",
                    "FieldValueInvalid",
                    &e.to_string(),
                )
            })?;
            let expected = format!("{}.{}", parsed.plural, parsed.group);
            if expected != name {
                return Err(ApiError::invalid(
                    &info.group,
                    &info.kind,
                    &name,
                    "metadata.name",
                    "FieldValueInvalid",
                    &format!("{name:?}: must be spec.names.plural+\".\"+spec.group"),
                ));
            }
            let names = new.pointer("/spec/names").cloned().unwrap_or(Value::Null);
            let ts = now();
            if let Some(m) = new.as_object_mut() {
                m.insert(
                    "status".into(),
                    json!({
                        "acceptedNames": names,
                        "conditions": [
                            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": ts},
                            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": ts}
                        ],
                        "storedVersions": [parsed.storage_version],
                    }),
                );
            }
            Some(parsed)
        } else {
            None
        };
        let mut stored_v = new.clone();
        if let Some(m) = stored_v.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                json!(info.api_version(&info.storage_version)),
            );
        }
        let finalize_now = stored_v.pointer("/metadata/deletionTimestamp").is_some()
            && stored_v
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if opts.dry_run {
            if let Some(o) = &old {
                meta_mut(&mut new).insert("resourceVersion".into(), json!(o.rv.to_string()));
            }
            return Ok(new);
        }
        if let Some(parsed) = crd {
            self.registry.upsert_custom(&name, parsed);
        }
        self.rv += 1;
        let rv_s = self.rv.to_string();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv_s));
        meta_mut(&mut stored_v).insert("resourceVersion".into(), json!(rv_s));
        let stored = Arc::new(Stored::from_value(&stored_v, self.rv));
        let okey = obj_key(ns, &name);
        if finalize_now {
            // The DELETED event carries the final state (last finalizer removed).
            self.put_obj(&key, okey.clone(), stored);
            self.remove_object(info, &okey, Propagation::Background);
            return Ok(new);
        }
        self.put_obj(&key, okey, stored.clone());
        let etype = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(key, etype, stored, old);
        Ok(new)
    }

    /// DELETE of one object.
    pub fn delete(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = self.get_required(info, ns, name)?;
        let mut v = Self::to_version(info, version, old.value());
        if dry_run {
            return Ok(v);
        }
        let is_ns = *info.key() == *NAMESPACES;
        if old.has_finalizers || is_ns {
            if old.deleting {
                return Ok(v);
            }
            let meta = meta_mut(&mut v);
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if propagation == Propagation::Orphan && !is_ns {
                self.orphan_dependents(&old.uid);
            }
            if is_ns {
                if let Some(m) = v.as_object_mut() {
                    m.insert("status".into(), json!({"phase": "Terminating"}));
                }
                self.store_modified(info, None, name, v.clone(), old);
                self.delete_namespace_contents(name);
                self.maybe_finish_namespace(name);
                return Ok(v);
            }
            self.store_modified(info, ns, name, v.clone(), old);
            return Ok(v);
        }
        if propagation == Propagation::Foreground && self.owned.contains_key(&*old.uid) {
            // The owner waits, marked with the foregroundDeletion finalizer, until its
            // dependents are gone; then the finalizer goes and so does the owner.
            let meta = meta_mut(&mut v);
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            meta.insert("finalizers".into(), json!([FOREGROUND]));
            self.store_modified(info, ns, name, v.clone(), old.clone());
            for (dinfo, d) in self.dependents(&old.uid) {
                let version = dinfo.storage_version.clone();
                let _ = self.delete(
                    &dinfo,
                    &version,
                    d.namespace.as_deref(),
                    &d.name,
                    Propagation::Foreground,
                    false,
                );
            }
            self.finish_foreground(&old.uid);
            return Ok(v);
        }
        if propagation == Propagation::Orphan {
            self.orphan_dependents(&old.uid);
        }
        self.remove_object(info, &obj_key(ns, name), propagation);
        Ok(v)
    }

    /// Drops the foregroundDeletion finalizer of the object with this uid once nothing it owns
    /// is left (removing the object when that was its last finalizer).
    fn finish_foreground(&mut self, uid: &str) {
        if self.owned.contains_key(uid) {
            return;
        }
        let found = self.data.iter().find_map(|(key, objs)| {
            objs.iter()
                .find(|(_, o)| &*o.uid == uid && o.deleting)
                .map(|(k, o)| (key.clone(), k.clone(), o.clone()))
        });
        let Some((key, okey, obj)) = found else {
            return;
        };
        let Some(info) = self.registry.by_key(&key) else {
            return;
        };
        let mut v = obj.value();
        let Some(fins) = v
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        let before = fins.len();
        fins.retain(|f| f != FOREGROUND);
        if fins.len() == before {
            return;
        }
        if fins.is_empty() {
            // Removing the last finalizer deletes the object: one DELETED event.
            self.put_obj(&key, okey.clone(), Arc::new(Stored::from_value(&v, obj.rv)));
            self.remove_object(&info, &okey, Propagation::Background);
        } else {
            self.store_modified(&info, obj.namespace.as_deref(), &obj.name, v, obj.clone());
        }
    }

    fn store_modified(
        &mut self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut v: Value,
        old: Arc<Stored>,
    ) {
        self.rv += 1;
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                json!(info.api_version(&info.storage_version)),
            );
        }
        meta_mut(&mut v).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let stored = Arc::new(Stored::from_value(&v, self.rv));
        let key = info.key();
        self.put_obj(&key, obj_key(ns, name), stored.clone());
        self.emit(key, EventType::Modified, stored, Some(old));
    }

    /// Removes an object for good, then its dependents and CRD/namespace consequences.
    fn remove_object(&mut self, info: &ResourceInfo, okey: &str, propagation: Propagation) {
        let key = info.key();
        let Some(old) = self.take_obj(&key, okey) else {
            return;
        };
        self.rv += 1;
        let mut last = old.value();
        meta_mut(&mut last).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let gone = Arc::new(Stored::from_value(&last, self.rv));
        self.emit(key.clone(), EventType::Deleted, gone, Some(old.clone()));
        if *key == *CRDS
            && let Some(r) = self.registry.remove_custom(&old.name)
        {
            let rkey = r.key();
            if let Some(objs) = self.data.remove(&rkey) {
                for (_, o) in objs {
                    self.count_owners(&o, false);
                    self.rv += 1;
                    let mut last = o.value();
                    meta_mut(&mut last)
                        .insert("resourceVersion".into(), json!(self.rv.to_string()));
                    let gone = Arc::new(Stored::from_value(&last, self.rv));
                    self.emit(rkey.clone(), EventType::Deleted, gone, Some(o));
                }
            }
        }
        if propagation != Propagation::Orphan {
            self.delete_dependents(&old.uid);
        }
        for owner in old.owners.iter() {
            self.finish_foreground(owner);
        }
        if let Some(ns) = &old.namespace {
            self.maybe_finish_namespace(ns);
        }
    }

    fn dependents(&self, uid: &str) -> Vec<(Arc<ResourceInfo>, Arc<Stored>)> {
        let mut out = Vec::new();
        if !self.owned.contains_key(uid) {
            return out;
        }
        for (key, objs) in &self.data {
            let Some(info) = self.registry.by_key(key) else {
                continue;
            };
            for o in objs.values() {
                if o.owners.iter().any(|u| &**u == uid) {
                    out.push((info.clone(), o.clone()));
                }
            }
        }
        out
    }

    fn delete_dependents(&mut self, uid: &str) {
        for (info, o) in self.dependents(uid) {
            let version = info.storage_version.clone();
            let _ = self.delete(
                &info,
                &version,
                o.namespace.as_deref(),
                &o.name,
                Propagation::Background,
                false,
            );
        }
    }

    fn orphan_dependents(&mut self, uid: &str) {
        for (info, o) in self.dependents(uid) {
            let mut v = o.value();
            if let Some(refs) = v
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
            }
            self.store_modified(&info, o.namespace.as_deref(), &o.name, v, o.clone());
        }
    }

    fn delete_namespace_contents(&mut self, ns: &str) {
        let prefix = format!("{ns}/");
        let mut victims = Vec::new();
        for (key, objs) in &self.data {
            let Some(info) = self.registry.by_key(key) else {
                continue;
            };
            if !info.namespaced {
                continue;
            }
            for (k, o) in objs.range(prefix.clone()..) {
                if !k.starts_with(&prefix) {
                    break;
                }
                victims.push((info.clone(), o.name.clone()));
            }
        }
        for (info, name) in victims {
            let version = info.storage_version.clone();
            let _ = self.delete(
                &info,
                &version,
                Some(ns),
                &name,
                Propagation::Background,
                false,
            );
        }
    }

    fn maybe_finish_namespace(&mut self, ns: &str) {
        let nsinfo = self.ns_info();
        let Some(n) = self.get(&nsinfo, None, ns) else {
            return;
        };
        if !n.deleting || n.has_finalizers {
            return;
        }
        let prefix = format!("{ns}/");
        let empty = self.data.iter().all(|(key, objs)| {
            self.registry.by_key(key).is_none_or(|i| !i.namespaced)
                || objs
                    .range(prefix.clone()..)
                    .next()
                    .is_none_or(|(k, _)| !k.starts_with(&prefix))
        });
        if empty {
            self.remove_object(&nsinfo, ns, Propagation::Background);
        }
    }
}

fn encode_continue(rv: u64, start: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"rv": rv, "start": start}).to_string())
}
