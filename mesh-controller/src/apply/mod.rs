//! The applier: writes desired objects into member clusters with server-side apply, writes
//! ServiceExport status through the status subresource, prunes what it owns and no longer
//! wants, and records Kubernetes Events when an export enters or leaves conflict.
//!
//! Everything is written with the field manager [`FIELD_MANAGER`] and must carry the ownership
//! label [`MANAGED_BY`]`=`[`MANAGED_BY_VALUE`]; pruning lists by that label, so objects users
//! wrote are never touched. A per-cluster cache of what was last written skips unchanged
//! objects; a full pass (`full = true`, on start and on the periodic resync) clears it, re-applies
//! everything and starts a prune listing in the background: writes never wait for it, and the
//! first pass after it finished prunes the owned objects it found that are no longer desired.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use isthmus_api::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_VALUE};
use isthmus_api::mcs;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::model::{DesiredObject, ObjectKey, fingerprint};
pub use crate::ownership::prune_selector;
use crate::ownership::{has_owner_label, is_owned};
pub use crate::plan::{EventWrite, StatusWrite};
pub use crate::resource::api_resource;
use crate::resource::dyn_api;

/// How many writes run at once against one cluster.
const CONCURRENCY: usize = 16;

/// Longest time one prune listing (every managed kind of one member) may take; a listing cut
/// short is started again by the next pass.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Kinds never deleted by pruning, even when they carry the ownership label (a Namespace
/// holds user objects).
pub const NEVER_PRUNED: &[&str] = &["Namespace"];

/// What was last written of one object.
#[derive(Clone, Debug)]
struct Applied {
    key: Arc<ObjectKey>,
    /// Fingerprint of the body written.
    body: u64,
    /// Fingerprint of the status written through the status subresource (0: none).
    status: u64,
}

/// Errors of the applier.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A desired object lacks a field the applier needs.
    #[error("cluster {cluster}: desired object {what}: missing or invalid {field}")]
    InvalidObject {
        /// Target cluster.
        cluster: String,
        /// Which object (as far as known).
        what: String,
        /// The missing field.
        field: &'static str,
    },
    /// The API server rejected or failed a write.
    #[error("cluster {cluster}: {verb} {kind} {name}: {source}")]
    Api {
        /// Target cluster.
        cluster: String,
        /// `apply`, `apply-status`, `delete`, `list`, `event`.
        verb: &'static str,
        /// Object kind.
        kind: String,
        /// `namespace/name`.
        name: String,
        /// The client error.
        source: Box<kube::Error>,
    },
}

/// The identity of one object in one cluster (see [`ObjectKey`]).
pub type ObjKey = ObjectKey;

/// What one pass did in one cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Objects written.
    pub applied: usize,
    /// Statuses written.
    pub statuses: usize,
    /// Objects deleted.
    pub pruned: usize,
    /// Events created.
    pub events: usize,
    /// Writes that failed (they are retried on the next pass).
    pub errors: usize,
}

/// The error class used in metrics labels.
pub fn error_class(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(s) => match s.code {
            404 => "not_found",
            409 => "conflict",
            422 => "invalid",
            401 | 403 => "forbidden",
            429 => "throttled",
            500..=599 => "server",
            _ => "other",
        },
        _ => "unavailable",
    }
}

fn hash_of(v: &Value) -> u64 {
    fingerprint(v)
}

/// Whether a ServiceExport status says it is in conflict, with the condition's message.
pub fn conflict_of(status: &Value) -> (bool, String) {
    let conds = status.get("conditions").and_then(Value::as_array);
    for c in conds.into_iter().flatten() {
        if c.get("type").and_then(Value::as_str) == Some(mcs::condition::CONFLICT) {
            let on = c.get("status").and_then(Value::as_str) == Some("True");
            let msg = c
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return (on, msg);
        }
    }
    (false, String::new())
}

/// Rewrites MCS objects to the MCS API version the cluster serves (the schemas are identical).
pub fn to_served_version(obj: &mut Value, mcs_version: &str) {
    let Some(av) = obj.get("apiVersion").and_then(Value::as_str) else {
        return;
    };
    if let Some((group, version)) = av.split_once('/')
        && group == mcs::GROUP
        && version != mcs_version
    {
        obj["apiVersion"] = Value::String(format!("{group}/{mcs_version}"));
    }
}

/// The kinds a full pass lists for pruning: the managed kinds and the desired ones, sorted,
/// without the [`NEVER_PRUNED`] kinds.
pub fn prune_kinds(
    managed: &[(String, String)],
    desired: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut kinds: HashSet<(String, String)> = managed.iter().cloned().collect();
    kinds.extend(desired);
    let mut kinds: Vec<_> = kinds
        .into_iter()
        .filter(|(_, k)| !NEVER_PRUNED.contains(&k.as_str()))
        .collect();
    kinds.sort();
    kinds
}

/// Writes one member cluster's desired state.
pub struct ClusterApplier {
    cluster: String,
    client: Client,
    /// Key hash -> what was last written successfully (fingerprints only, no JSON).
    applied: HashMap<u64, Applied>,
    statuses: HashMap<ObjKey, u64>,
    /// Object (namespace, name) -> reason of the last event recorded for it.
    last_event: HashMap<(String, String), String>,
    /// Cluster-scoped kinds the member does not serve (skipped until the next full pass).
    unserved: HashSet<(String, String)>,
    /// Kinds (`apiVersion`, `kind`) pruned on a full pass even when nothing of them is desired.
    managed_kinds: Vec<(String, String)>,
    /// Bound on writes in flight, shared by the appliers of every member.
    limit: Option<Arc<Semaphore>>,
    /// A full pass was cut short before starting its prune listing: the next pass starts it.
    list_pending: bool,
    /// The prune listing running in the background; a pass that finds it finished prunes
    /// what it found and no longer desires. Writes never wait for it.
    listing: Option<tokio::task::JoinHandle<Listing>>,
    /// Bound on prune listings in flight, shared by the appliers of every member.
    list_limit: Arc<Semaphore>,
}

/// What a background prune listing found in one member.
#[derive(Debug, Default)]
struct Listing {
    /// Owned objects of the listed kinds (desired or not; the consuming pass decides).
    found: Vec<ObjKey>,
    /// Kinds that could not be listed (kind, error).
    errors: Vec<(String, ApplyError)>,
}

impl Drop for ClusterApplier {
    fn drop(&mut self) {
        if let Some(h) = self.listing.take() {
            h.abort();
        }
    }
}

/// Write order within one pass: new ServiceImports first (what a new export waits for), then
/// new objects, then changed ones.
fn priority(obj: &DesiredObject, new: bool) -> u8 {
    match (obj.key.kind.as_str() == "ServiceImport", new) {
        (true, true) => 0,
        (false, true) => 1,
        (true, false) => 2,
        (false, false) => 3,
    }
}

impl ClusterApplier {
    /// An applier for `cluster`, pruning `managed_kinds` on full passes.
    pub fn new(
        cluster: impl Into<String>,
        client: Client,
        managed_kinds: Vec<(String, String)>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            client,
            applied: HashMap::new(),
            statuses: HashMap::new(),
            last_event: HashMap::new(),
            unserved: HashSet::new(),
            managed_kinds,
            limit: None,
            list_pending: false,
            listing: None,
            list_limit: Arc::new(Semaphore::new(1)),
        }
    }

    /// Shares a bound on prune listings in flight with other appliers.
    pub fn with_list_limit(mut self, limit: Arc<Semaphore>) -> Self {
        self.list_limit = limit;
        self
    }

    /// Whether a background prune listing has finished and waits for a pass to prune.
    pub fn listing_done(&self) -> bool {
        self.listing.as_ref().is_some_and(|h| h.is_finished())
    }

    /// Whether a prune listing is running or finished and not yet consumed.
    pub fn listing_in_flight(&self) -> bool {
        self.listing.is_some()
    }

    fn abort_listing(&mut self) -> bool {
        match self.listing.take() {
            Some(h) => {
                h.abort();
                true
            }
            None => false,
        }
    }

    /// Shares a bound on writes in flight with other appliers.
    pub fn with_limit(mut self, limit: Arc<Semaphore>) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The cluster name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Objects currently recorded as written.
    pub fn written(&self) -> usize {
        self.applied.len()
    }

    /// Replaces the client (after the member's kubeconfig changed).
    pub fn set_client(&mut self, client: Client) {
        self.client = client;
        self.applied.clear();
        self.statuses.clear();
        // A listing through the old client is not trusted: list again.
        if self.abort_listing() {
            self.list_pending = true;
        }
    }

    /// Forgets the fingerprints of what was written in `namespaces`, so the next pass writes it
    /// again (a namespace deleted and created again lost its objects while their desired state
    /// stayed the same).
    pub fn forget_namespaces(&mut self, namespaces: &BTreeSet<String>) {
        // Kept (so what is no longer desired there is still pruned), with fingerprints that
        // match nothing.
        for a in self.applied.values_mut() {
            if namespaces.contains(&a.key.namespace) {
                a.body = 0;
                a.status = 0;
            }
        }
        self.statuses
            .retain(|k, _| !namespaces.contains(&k.namespace));
    }

    /// Forgets what was written, so the next pass re-applies everything.
    pub fn invalidate(&mut self) {
        self.applied.clear();
        self.statuses.clear();
        self.unserved.clear();
    }

    fn api_err(&self, verb: &'static str, key: &ObjKey, e: kube::Error) -> ApplyError {
        ApplyError::Api {
            cluster: self.cluster.clone(),
            verb,
            kind: key.kind.clone(),
            name: key.display(),
            source: Box::new(e),
        }
    }

    fn count_error(&self, metrics: &Metrics, kind: &str, err: &ApplyError) {
        let class = match err {
            ApplyError::Api { source, .. } => error_class(source),
            ApplyError::InvalidObject { .. } => "invalid_desired",
        };
        metrics.apply_error(&self.cluster, kind, class);
    }

    /// [`Self::sync`] for plain JSON objects; an object without `apiVersion`, `kind` or
    /// `metadata.name` is counted as an error and skipped.
    pub async fn sync_values(
        &mut self,
        objects: Vec<Value>,
        statuses: &[StatusWrite],
        events: &[EventWrite],
        full: bool,
        metrics: &Metrics,
    ) -> SyncReport {
        let mut shared = Vec::with_capacity(objects.len());
        let mut bad = 0;
        for o in objects {
            match DesiredObject::new(o.clone()) {
                Some(d) => shared.push(Arc::new(d)),
                None => {
                    let err = ApplyError::InvalidObject {
                        cluster: self.cluster.clone(),
                        what: o
                            .pointer("/metadata/name")
                            .map(Value::to_string)
                            .unwrap_or_default(),
                        field: "apiVersion/kind/metadata.name",
                    };
                    warn!(error = %err, "skipping desired object");
                    self.count_error(
                        metrics,
                        o.get("kind").and_then(Value::as_str).unwrap_or("unknown"),
                        &err,
                    );
                    bad += 1;
                }
            }
        }
        let mut report = self.sync(shared, statuses, events, full, metrics).await;
        report.errors += bad;
        report
    }

    /// One pass: apply changed objects (new ServiceImports first), write changed ServiceImport
    /// statuses through the status subresource, prune owned objects that are no longer
    /// desired, write changed ServiceExport statuses and record conflict Events. `full`
    /// re-applies everything and starts a background listing of every managed kind; the
    /// first pass after that listing finished prunes what it found and no longer desires.
    /// Only objects whose fingerprint differs from what was last written are sent.
    pub async fn sync(
        &mut self,
        objects: Vec<Arc<DesiredObject>>,
        statuses: &[StatusWrite],
        events: &[EventWrite],
        full: bool,
        metrics: &Metrics,
    ) -> SyncReport {
        let mut report = SyncReport::default();
        if full {
            self.invalidate();
            // Cleared once the listing is started; a pass cut short before leaves it for the
            // next one. A listing still running from before is replaced.
            self.abort_listing();
            self.list_pending = true;
        }
        // The kinds desired are needed when a listing starts in this pass.
        let list = self.list_pending || self.listing.is_some();
        // 1. What changed, by fingerprint.
        let mut desired_keys: HashSet<u64> = HashSet::with_capacity(objects.len());
        let mut desired_kinds: Vec<(String, String)> = Vec::new();
        let mut todo: Vec<(u8, Arc<DesiredObject>)> = Vec::new();
        let mut status_todo: Vec<Arc<DesiredObject>> = Vec::new();
        for obj in objects {
            if !desired_keys.insert(obj.key_hash) {
                continue;
            }
            if list
                && !desired_kinds
                    .iter()
                    .any(|(a, k)| *a == obj.key.api_version && *k == obj.key.kind)
            {
                desired_kinds.push((obj.key.api_version.clone(), obj.key.kind.clone()));
            }
            match self.applied.get(&obj.key_hash) {
                Some(a) if a.body == obj.fingerprint => {
                    if obj.status.is_some() && a.status != obj.status_fingerprint {
                        status_todo.push(obj);
                    }
                    continue;
                }
                prev => {
                    let new = prev.is_none();
                    if !has_owner_label(&obj.body) {
                        let err = ApplyError::InvalidObject {
                            cluster: self.cluster.clone(),
                            what: format!("{} {}", obj.key.kind, obj.key.display()),
                            field: "metadata.labels[app.kubernetes.io/managed-by]",
                        };
                        warn!(error = %err, "refusing to write an object without the ownership label");
                        self.count_error(metrics, &obj.key.kind, &err);
                        report.errors += 1;
                        continue;
                    }
                    if !self.unserved.is_empty()
                        && self
                            .unserved
                            .contains(&(obj.key.api_version.clone(), obj.key.kind.clone()))
                    {
                        continue;
                    }
                    todo.push((priority(&obj, new), obj));
                }
            }
        }
        todo.sort_by_key(|(p, _)| *p);

        // 2. Apply what changed.
        let client = self.client.clone();
        let limit = self.limit.clone();
        let mut results = futures::stream::iter(todo)
            .map(|(_, obj)| {
                let client = client.clone();
                let limit = limit.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let ar = api_resource(&obj.key.api_version, &obj.key.kind);
                    let api = dyn_api(&client, &ar, &obj.key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let r = api
                        .patch(&obj.key.name, &pp, &Patch::Apply(&obj.body))
                        .await
                        .map(|_| ());
                    (obj, r)
                }
            })
            .buffer_unordered(CONCURRENCY);
        // Results are recorded as they arrive, so a pass cut short keeps its progress.
        while let Some((obj, r)) = results.next().await {
            let key = &obj.key;
            match r {
                Ok(()) => {
                    metrics
                        .applies
                        .get_or_create(&Metrics::ck(&self.cluster, &key.kind))
                        .inc();
                    // Applying the object leaves its status as it was.
                    let status = self.applied.get(&obj.key_hash).map_or(0, |a| a.status);
                    self.applied.insert(
                        obj.key_hash,
                        Applied {
                            key: obj.key.clone(),
                            body: obj.fingerprint,
                            status,
                        },
                    );
                    report.applied += 1;
                    if obj.status.is_some() && status != obj.status_fingerprint {
                        status_todo.push(obj);
                    }
                }
                Err(e) => {
                    // A cluster-scoped kind answering 404 is not served (its CRD is not
                    // installed): say so once and skip it until the next full pass.
                    let unserved = matches!(&e, kube::Error::Api(s) if s.code == 404)
                        && key.namespace.is_empty();
                    let err = self.api_err("apply", key, e);
                    self.count_error(metrics, &key.kind, &err);
                    self.applied.remove(&obj.key_hash);
                    report.errors += 1;
                    if unserved {
                        if self
                            .unserved
                            .insert((key.api_version.clone(), key.kind.clone()))
                        {
                            warn!(error = %err, kind = %key.kind, "kind not served by this member; skipped until the next full pass");
                        }
                    } else {
                        warn!(error = %err, "apply failed");
                    }
                }
            }
        }
        drop(results);

        // 3. Statuses of applied objects (ServiceImport status.clusters), through the status
        // subresource with the same field manager.
        self.write_object_statuses(status_todo, metrics, &mut report)
            .await;

        // 4. Prune: what was written and is no longer desired, plus what a finished background
        // listing found and is no longer desired. Listing never delays the writes above: it
        // runs in the background and its result prunes on a later pass.
        let mut gone: Vec<ObjKey> = self
            .applied
            .iter()
            .filter(|(kh, a)| {
                !desired_keys.contains(*kh) && !NEVER_PRUNED.contains(&a.key.kind.as_str())
            })
            .map(|(_, a)| (*a.key).clone())
            .collect();
        if let Some(listing) = self.take_listing().await {
            let mut seen: HashSet<u64> = gone.iter().map(ObjKey::hash).collect();
            for key in listing.found {
                let h = key.hash();
                if !desired_keys.contains(&h)
                    && !NEVER_PRUNED.contains(&key.kind.as_str())
                    && seen.insert(h)
                {
                    gone.push(key);
                }
            }
            if !listing.errors.is_empty() {
                // List again on the next pass (the errors make it a retry pass).
                self.list_pending = true;
            }
            for (kind, err) in listing.errors {
                warn!(error = %err, "cannot list owned objects");
                self.count_error(metrics, &kind, &err);
                report.errors += 1;
            }
        }
        if self.list_pending && self.listing.is_none() {
            let kinds = prune_kinds(&self.managed_kinds, desired_kinds);
            debug!(cluster = %self.cluster, kinds = kinds.len(), "prune listing started");
            self.listing = Some(tokio::spawn(list_owned(
                self.cluster.clone(),
                self.client.clone(),
                kinds,
                self.list_limit.clone(),
            )));
            self.list_pending = false;
        }
        for key in gone {
            match self.delete_owned(&key).await {
                Ok(deleted) => {
                    if deleted {
                        metrics
                            .prunes
                            .get_or_create(&Metrics::ck(&self.cluster, &key.kind))
                            .inc();
                        report.pruned += 1;
                        info!(cluster = %self.cluster, kind = %key.kind, object = %key.display(), "pruned");
                    }
                    self.applied.remove(&key.hash());
                }
                Err(err) => {
                    warn!(error = %err, "prune failed");
                    self.count_error(metrics, &key.kind, &err);
                    report.errors += 1;
                }
            }
        }
        // Objects no longer desired that are never pruned are simply forgotten.
        self.applied.retain(|kh, a| {
            desired_keys.contains(kh) || !NEVER_PRUNED.contains(&a.key.kind.as_str())
        });

        // 5. ServiceExport statuses and events.
        self.write_statuses(statuses, metrics, &mut report).await;
        self.write_events(events, metrics, &mut report).await;
        report
    }

    async fn write_object_statuses(
        &mut self,
        objects: Vec<Arc<DesiredObject>>,
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        let client = self.client.clone();
        let limit = self.limit.clone();
        let objects = objects.into_iter().filter(|o| o.status.is_some());
        let mut results = futures::stream::iter(objects)
            .map(|obj| {
                let client = client.clone();
                let limit = limit.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let key = &obj.key;
                    let body = json!({
                        "apiVersion": key.api_version,
                        "kind": key.kind,
                        "metadata": {"name": key.name, "namespace": key.namespace},
                        "status": obj.status,
                    });
                    let ar = api_resource(&key.api_version, &key.kind);
                    let api = dyn_api(&client, &ar, &key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let r = api
                        .patch_status(&key.name, &pp, &Patch::Apply(&body))
                        .await
                        .map(|_| ());
                    (obj, r)
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((obj, r)) = results.next().await {
            match r {
                Ok(()) => {
                    if let Some(a) = self.applied.get_mut(&obj.key_hash) {
                        a.status = obj.status_fingerprint;
                    }
                    report.statuses += 1;
                }
                Err(e) => {
                    // The object is gone (deleted behind our back): write it again next pass.
                    let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
                    let err = self.api_err("apply-status", &obj.key, e);
                    warn!(error = %err, "status write failed");
                    self.count_error(metrics, &obj.key.kind, &err);
                    if gone {
                        self.applied.remove(&obj.key_hash);
                    } else if let Some(a) = self.applied.get_mut(&obj.key_hash) {
                        // Retried on the next pass.
                        a.status = 0;
                    }
                    report.errors += 1;
                }
            }
        }
    }

    /// The finished background listing, if any (a running one is left running).
    async fn take_listing(&mut self) -> Option<Listing> {
        if !self.listing_done() {
            return None;
        }
        let handle = self.listing.take()?;
        match handle.await {
            Ok(listing) => Some(listing),
            Err(e) => {
                // Aborted or panicked: list again.
                warn!(cluster = %self.cluster, error = %e, "prune listing did not finish; listing again");
                self.list_pending = true;
                None
            }
        }
    }

    /// Deletes `key` if it still carries the ownership label. Returns whether it was deleted.
    async fn delete_owned(&self, key: &ObjKey) -> Result<bool, ApplyError> {
        if NEVER_PRUNED.contains(&key.kind.as_str()) {
            return Ok(false);
        }
        let ar = api_resource(&key.api_version, &key.kind);
        let api = dyn_api(&self.client, &ar, &key.namespace);
        let live = match api.get_opt(&key.name).await {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(false),
            Err(e) => return Err(self.api_err("delete", key, e)),
        };
        if !is_owned(&live) {
            debug!(cluster = %self.cluster, kind = %key.kind, object = %key.display(), "not ours any more, left alone");
            return Ok(false);
        }
        let dp = DeleteParams::default().preconditions(Preconditions {
            resource_version: live.metadata.resource_version.clone(),
            uid: live.metadata.uid.clone(),
        });
        match api.delete(&key.name, &dp).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(self.api_err("delete", key, e)),
        }
    }

    async fn write_statuses(
        &mut self,
        statuses: &[StatusWrite],
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut todo: Vec<(ObjKey, u64, Value)> = Vec::new();
        for sw in statuses {
            let key = ObjKey {
                api_version: sw.api_version.clone(),
                kind: sw.kind.clone(),
                namespace: sw.namespace.clone(),
                name: sw.name.clone(),
            };
            if sw.kind == "ServiceExport" {
                seen.insert((sw.namespace.clone(), sw.name.clone()));
            }
            let body = json!({
                "apiVersion": sw.api_version,
                "kind": sw.kind,
                "metadata": {"name": sw.name, "namespace": sw.namespace},
                "status": sw.status,
            });
            let h = hash_of(&body);
            if self.statuses.get(&key) != Some(&h) {
                todo.push((key, h, body));
            }
        }
        let client = self.client.clone();
        let limit = self.limit.clone();
        let mut results = futures::stream::iter(todo)
            .map(|(key, h, body)| {
                let client = client.clone();
                let limit = limit.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let ar = api_resource(&key.api_version, &key.kind);
                    let api = dyn_api(&client, &ar, &key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let r = api
                        .patch_status(&key.name, &pp, &Patch::Apply(&body))
                        .await
                        .map(|_| ());
                    (key, h, r)
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((key, h, r)) = results.next().await {
            match r {
                Ok(()) => {
                    self.statuses.insert(key, h);
                    report.statuses += 1;
                }
                // The export went away between the read and the write.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    self.statuses.remove(&key);
                }
                Err(e) => {
                    let err = self.api_err("apply-status", &key, e);
                    warn!(error = %err, "status write failed");
                    self.count_error(metrics, &key.kind, &err);
                    self.statuses.remove(&key);
                    report.errors += 1;
                }
            }
        }
        drop(results);
        self.statuses.retain(|k, _| {
            k.kind != "ServiceExport" || seen.contains(&(k.namespace.clone(), k.name.clone()))
        });
    }

    async fn write_events(
        &mut self,
        events: &[EventWrite],
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        for ev in events {
            let id = (ev.namespace.clone(), ev.name.clone());
            // The same event for the same object is recorded once, until its reason changes.
            if self.last_event.get(&id) == Some(&ev.reason) {
                continue;
            }
            match self.record_event(ev).await {
                Ok(()) => {
                    self.last_event.insert(id, ev.reason.clone());
                    report.events += 1;
                }
                Err(err) => {
                    warn!(error = %err, "cannot record event");
                    self.count_error(metrics, "Event", &err);
                }
            }
        }
    }

    async fn record_event(&self, sw: &EventWrite) -> Result<(), ApplyError> {
        let now = jiff::Timestamp::now();
        let name = format!("{}.{:x}", sw.name, now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(sw.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY.to_owned(),
                    MANAGED_BY_VALUE.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(sw.api_version.clone()),
                kind: Some(sw.kind.clone()),
                namespace: Some(sw.namespace.clone()),
                name: Some(sw.name.clone()),
                ..ObjectReference::default()
            },
            reason: Some(sw.reason.clone()),
            message: Some(sw.message.clone()),
            type_: Some(sw.type_.clone()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            source: Some(EventSource {
                component: Some(FIELD_MANAGER.into()),
                host: None,
            }),
            reporting_component: Some(FIELD_MANAGER.into()),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &sw.namespace);
        api.create(&PostParams::default(), &event)
            .await
            .map(|_| ())
            .map_err(|e| {
                self.api_err(
                    "event",
                    &ObjKey {
                        api_version: "v1".into(),
                        kind: "Event".into(),
                        namespace: sw.namespace.clone(),
                        name,
                    },
                    e,
                )
            })?;
        info!(cluster = %self.cluster, namespace = %sw.namespace, object = %sw.name, reason = %sw.reason, "event recorded");
        Ok(())
    }
}

/// Lists the owned objects (by [`prune_selector`]) of `kinds` in one member, one listing at a
/// time per permit of `limit`, bounded by [`LIST_TIMEOUT`].
async fn list_owned(
    cluster: String,
    client: Client,
    kinds: Vec<(String, String)>,
    limit: Arc<Semaphore>,
) -> Listing {
    let _permit = limit.acquire_owned().await.ok();
    let started = std::time::Instant::now();
    let selector = prune_selector();
    let mut listing = Listing::default();
    let list_err = |api_version: String, kind: &str, e: kube::Error| ApplyError::Api {
        cluster: cluster.clone(),
        verb: "list",
        kind: kind.to_owned(),
        name: format!("{api_version} *"),
        source: Box::new(e),
    };
    for (api_version, kind) in kinds {
        let ar = api_resource(&api_version, &kind);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let lp = ListParams::default().labels(&selector);
        let left = LIST_TIMEOUT.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, api.list(&lp)).await {
            Ok(Ok(list)) => {
                for o in list.items {
                    let name = o.metadata.name.unwrap_or_default();
                    if name.is_empty() {
                        continue;
                    }
                    listing.found.push(ObjKey {
                        api_version: api_version.clone(),
                        kind: kind.clone(),
                        namespace: o.metadata.namespace.unwrap_or_default(),
                        name,
                    });
                }
            }
            // The kind is not served here (CRD not installed): nothing of it to prune.
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
                debug!(cluster = %cluster, kind = %kind, "kind not served, nothing to prune");
            }
            Ok(Err(e)) => {
                let err = list_err(api_version, &kind, e);
                listing.errors.push((kind, err));
            }
            Err(_) => {
                let e = kube::Error::Service(
                    format!("prune listing exceeded {}s", LIST_TIMEOUT.as_secs()).into(),
                );
                let err = list_err(api_version, &kind, e);
                listing.errors.push((kind, err));
                break;
            }
        }
    }
    debug!(cluster = %cluster, found = listing.found.len(), errors = listing.errors.len(),
        ms = started.elapsed().as_millis() as u64, "prune listing done");
    listing
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_plurals() {
        let obj = json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": "web", "namespace": "shop", "labels": {MANAGED_BY: MANAGED_BY_VALUE}}});
        let key = ObjKey::of(&obj).unwrap();
        assert_eq!(key.namespace, "shop");
        assert!(has_owner_label(&obj));
        assert_eq!(
            api_resource(&key.api_version, &key.kind).plural,
            "serviceimports"
        );
        assert_eq!(
            api_resource("discovery.k8s.io/v1", "EndpointSlice").plural,
            "endpointslices"
        );
        assert_eq!(
            api_resource("about.k8s.io/v1alpha1", "ClusterProperty").plural,
            "clusterproperties"
        );
        let core = api_resource("v1", "Namespace");
        assert_eq!(
            (
                core.group.as_str(),
                core.version.as_str(),
                core.plural.as_str()
            ),
            ("", "v1", "namespaces")
        );
        assert!(ObjKey::of(&json!({"kind": "X", "metadata": {"name": "a"}})).is_none());
        assert!(!has_owner_label(
            &json!({"metadata": {"labels": {MANAGED_BY: "someone"}}})
        ));
    }

    #[test]
    fn namespaces_are_never_listed_for_pruning() {
        let kinds = prune_kinds(
            &[("discovery.k8s.io/v1".into(), "EndpointSlice".into())],
            vec![
                ("v1".into(), "Namespace".into()),
                ("networking.istio.io/v1".into(), "Gateway".into()),
                ("discovery.k8s.io/v1".into(), "EndpointSlice".into()),
            ],
        );
        assert_eq!(
            kinds,
            vec![
                ("discovery.k8s.io/v1".to_owned(), "EndpointSlice".to_owned()),
                ("networking.istio.io/v1".to_owned(), "Gateway".to_owned()),
            ]
        );
        assert_eq!(
            prune_selector(),
            "app.kubernetes.io/managed-by=isthmus,!placement.isthmus.io/template"
        );
    }

    #[test]
    fn new_imports_are_written_first() {
        let obj = |kind: &str, name: &str| {
            DesiredObject::new(json!({"apiVersion": "v1x", "kind": kind,
                "metadata": {"name": name, "namespace": "ns", "labels": {MANAGED_BY: MANAGED_BY_VALUE}},
                "status": {"clusters": [{"cluster": "a"}]}}))
            .unwrap()
        };
        let import = obj("ServiceImport", "web");
        let slice = obj("EndpointSlice", "web-a");
        assert!(priority(&import, true) < priority(&slice, true));
        assert!(priority(&slice, true) < priority(&import, false));
        // The import's status is split off for the status subresource; the slice keeps it.
        assert!(import.body.get("status").is_none() && import.status.is_some());
        assert!(slice.body.get("status").is_some() && slice.status.is_none());
        assert_eq!(import.to_value()["status"]["clusters"][0]["cluster"], "a");
    }

    fn import(name: &str, owned: bool) -> Value {
        let mut labels = serde_json::Map::new();
        if owned {
            labels.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        }
        json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": name, "namespace": "shop", "labels": labels},
            "spec": {"type": "ClusterSetIP", "ports": [{"port": 80, "protocol": "TCP"}]}})
    }

    /// A full pass writes without waiting for its prune listing; the listing runs in the
    /// background and the pass after it finishes prunes only owned objects no longer desired.
    #[tokio::test]
    async fn background_listing_prunes_on_a_later_pass() {
        let sim = kube_sim::SimCluster::start(kube_sim::SimOptions {
            crds: kube_sim::mcs_crds(),
            ..kube_sim::SimOptions::default()
        })
        .await
        .unwrap();
        sim.apply_json(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {MANAGED_BY: MANAGED_BY_VALUE}}}))
            .unwrap();
        sim.apply_json(import("stale", true)).unwrap();
        sim.apply_json(import("users", false)).unwrap();
        let config = kube::Config::new(sim.url().parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let kinds = vec![(
            "multicluster.x-k8s.io/v1beta1".to_owned(),
            "ServiceImport".to_owned(),
        )];
        let mut applier = ClusterApplier::new("a", client, kinds);
        let metrics = Metrics::default();
        let desired = || vec![import("web", true)];

        let first = applier
            .sync_values(desired(), &[], &[], true, &metrics)
            .await;
        assert_eq!((first.applied, first.errors), (1, 0));
        assert!(applier.listing_in_flight());
        // Bounded wait for the background listing.
        for _ in 0..1000 {
            if applier.listing_done() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(applier.listing_done());

        let second = applier
            .sync_values(desired(), &[], &[], false, &metrics)
            .await;
        assert_eq!((second.applied, second.pruned, second.errors), (0, 1, 0));
        assert!(!applier.listing_in_flight());
        let mut left: Vec<String> = sim
            .list_json(
                "multicluster.x-k8s.io/v1beta1",
                "ServiceImport",
                Some("shop"),
            )
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        left.sort();
        assert_eq!(left, vec!["users".to_owned(), "web".to_owned()]);
        assert!(sim.get_json("v1", "Namespace", None, "shop").is_some());

        // Later passes do not list again.
        let third = applier
            .sync_values(desired(), &[], &[], false, &metrics)
            .await;
        assert_eq!(third, SyncReport::default());
        assert!(!applier.listing_in_flight());
    }

    #[test]
    fn mcs_objects_follow_the_served_version() {
        let mut obj =
            json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport"});
        to_served_version(&mut obj, "v1alpha1");
        assert_eq!(obj["apiVersion"], "multicluster.x-k8s.io/v1alpha1");
        let mut other = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice"});
        to_served_version(&mut other, "v1alpha1");
        assert_eq!(other["apiVersion"], "discovery.k8s.io/v1");
    }

    #[test]
    fn conflict_condition_is_read() {
        let st = json!({"conditions": [
            {"type": "Valid", "status": "True"},
            {"type": "Conflict", "status": "True", "message": "port conflict on 80"}]});
        assert_eq!(conflict_of(&st), (true, "port conflict on 80".into()));
        assert_eq!(conflict_of(&json!({})), (false, String::new()));
    }
}
