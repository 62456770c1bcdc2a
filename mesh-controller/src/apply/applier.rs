//! The applier of one member: what it last wrote (fingerprints only), and one pass over the
//! member's desired state.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::warn;

use super::ObjKey;
use super::error::{ApplyError, error_class};
use super::listing::Listing;
use super::order::priority;
use crate::leader::Fence;
use crate::metrics::Metrics;
use crate::model::{DesiredObject, fingerprint};
use crate::ownership::has_owner_label;
use crate::plan::{EventWrite, StatusWrite};

/// What was last written of one object.
#[derive(Clone, Debug)]
pub(super) struct Applied {
    pub(super) key: Arc<ObjKey>,
    /// Fingerprint of the body written.
    pub(super) body: u64,
    /// Fingerprint of the status written through the status subresource (0: none).
    pub(super) status: u64,
}

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

pub(super) fn hash_of(v: &Value) -> u64 {
    fingerprint(v)
}

/// Writes one member cluster's desired state.
pub struct ClusterApplier {
    pub(super) cluster: String,
    pub(super) client: Client,
    /// Key hash -> what was last written successfully (fingerprints only, no JSON).
    pub(super) applied: HashMap<u64, Applied>,
    pub(super) statuses: HashMap<ObjKey, u64>,
    /// Object (namespace, name) -> reason of the last event recorded for it.
    pub(super) last_event: HashMap<(String, String), String>,
    /// Cluster-scoped kinds the member does not serve (skipped until the next full pass).
    pub(super) unserved: HashSet<(String, String)>,
    /// Kinds (`apiVersion`, `kind`) pruned on a full pass even when nothing of them is desired.
    pub(super) managed_kinds: Vec<(String, String)>,
    /// Bound on writes in flight, shared by the appliers of every member.
    pub(super) limit: Option<Arc<Semaphore>>,
    /// A full pass was cut short before starting its prune listing: the next pass starts it.
    pub(super) list_pending: bool,
    /// The prune listing running in the background; a pass that finds it finished prunes
    /// what it found and no longer desires. Writes never wait for it.
    pub(super) listing: Option<tokio::task::JoinHandle<Listing>>,
    /// Bound on prune listings in flight, shared by the appliers of every member.
    pub(super) list_limit: Arc<Semaphore>,
    /// Writes are sent only while this is open, and cancelled when it closes.
    pub(super) fence: Fence,
    /// Deadline of one write (shortened to what is left of the lease).
    pub(super) per_write: Duration,
    /// The next pass adopts what the member holds before writing (a fresh applier, or one
    /// that forgot what it wrote).
    pub(super) adopt_pending: bool,
    /// The listing an adopting pass made, consumed by its prune.
    pub(super) adopted: Option<Listing>,
}

/// Default deadline of one write.
pub const PER_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

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
            fence: Fence::open(),
            per_write: PER_WRITE_TIMEOUT,
            adopt_pending: true,
            adopted: None,
        }
    }

    /// Writes only while `fence` is open.
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// Sets the deadline of one write.
    pub fn with_write_deadline(mut self, per_write: Duration) -> Self {
        self.per_write = per_write;
        self
    }

    /// Shares a bound on prune listings in flight with other appliers.
    pub fn with_list_limit(mut self, limit: Arc<Semaphore>) -> Self {
        self.list_limit = limit;
        self
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
        self.adopt_pending = true;
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

    /// Forgets what was written; the next pass adopts what the member holds and writes only
    /// the differences.
    pub fn invalidate(&mut self) {
        self.applied.clear();
        self.statuses.clear();
        self.unserved.clear();
        self.adopt_pending = true;
    }

    pub(super) fn api_err(&self, verb: &'static str, key: &ObjKey, e: kube::Error) -> ApplyError {
        ApplyError::Api {
            cluster: self.cluster.clone(),
            verb,
            kind: key.kind.clone(),
            name: key.display(),
            source: Box::new(e),
        }
    }

    pub(super) fn count_error(&self, metrics: &Metrics, kind: &str, err: &ApplyError) {
        let class = match err {
            ApplyError::Api { source, .. } => error_class(source),
            ApplyError::InvalidObject { .. } => "invalid_desired",
            ApplyError::NotLeader { .. } => "not_leader",
            ApplyError::Deadline { .. } => "timeout",
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
        if full && !self.adopt_pending {
            // A resync of a writer that knows what it wrote: everything is applied again
            // (repairing changes made behind its back).
            self.applied.clear();
            self.statuses.clear();
            self.unserved.clear();
            // Cleared once the listing is started; a pass cut short before leaves it for the
            // next one. A listing still running from before is replaced.
            self.abort_listing();
            self.list_pending = true;
        }
        if self.adopt_pending {
            // Knowing nothing, the writer first reads what it owns in the member: what carries
            // the fingerprint of what it would send is not written again. The listing also
            // serves this pass's prune.
            self.abort_listing();
            let kinds: Vec<(String, String)> = objects
                .iter()
                .map(|o| (o.key.api_version.clone(), o.key.kind.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            self.adopt(kinds).await;
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
        self.apply_changed(todo, &mut status_todo, metrics, &mut report)
            .await;

        // 3. Statuses of applied objects (ServiceImport status.clusters), through the status
        // subresource with the same field manager.
        self.write_object_statuses(status_todo, metrics, &mut report)
            .await;

        // 4. Prune: what was written and is no longer desired, plus what a finished background
        // listing found and is no longer desired.
        self.prune(&desired_keys, desired_kinds, metrics, &mut report)
            .await;

        // 5. ServiceExport statuses and events.
        self.write_statuses(statuses, metrics, &mut report).await;
        self.write_events(events, metrics, &mut report).await;
        report
    }
}
