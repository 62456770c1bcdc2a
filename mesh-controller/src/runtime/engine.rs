//! The [`Engine`] over the clusterset [`Index`] and the pure [`reconcile`].
//!
//! Watched objects are decoded into their typed form and handed to the index's per-kind
//! apply/delete handlers; a malformed object is logged with the cluster, kind, object and
//! field, counted, and skipped. A relist replaces the kind's set: indexed objects that were not
//! listed again are deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use isthmus_api::mcs;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;
use tracing::{debug, info, warn};

use crate::apply::{EventWrite, StatusWrite};
use crate::index::{Index, IndexError};
use crate::metrics::Metrics;
use crate::model::{self, Desired, McsVersion, MemberInfo, NsName, ReconcileConfig, Snapshot};
use crate::reconcile::reconcile;
use crate::runtime::members::{MemberStatus, Reachability};
use crate::runtime::{ClusterPlan, Engine, Plan};
use crate::watch::{Sink, WatchError, WatchKind, typed};

/// The index plus reconcile settings; the live controller's [`Engine`].
pub struct IndexEngine {
    index: Mutex<Index>,
    cfg: ReconcileConfig,
    metrics: Option<Arc<Metrics>>,
    last: Mutex<Option<Arc<Desired>>>,
    notes: Mutex<BTreeMap<String, Vec<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ns_name(obj: &DynamicObject) -> NsName {
    NsName::new(
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// MCS objects may omit `spec` (a ServiceExport usually has none); the typed form needs one.
fn with_spec(mut obj: DynamicObject) -> DynamicObject {
    if let Some(map) = obj.data.as_object_mut() {
        map.entry("spec").or_insert_with(|| serde_json::json!({}));
    } else if obj.data.is_null() {
        obj.data = serde_json::json!({"spec": {}});
    }
    obj
}

fn is_v1alpha1(obj: &DynamicObject) -> bool {
    obj.types
        .as_ref()
        .is_some_and(|t| t.api_version.ends_with("/v1alpha1"))
}

/// Why a watched object was skipped.
#[derive(Debug, thiserror::Error)]
enum Skip {
    #[error(transparent)]
    Decode(#[from] WatchError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl IndexEngine {
    /// An engine for `members` with reconcile settings `cfg`.
    pub fn new(members: Vec<MemberInfo>, cfg: ReconcileConfig) -> Self {
        let mut index = Index::new();
        for m in members {
            index.upsert_member(m);
        }
        Self {
            index: Mutex::new(index),
            cfg,
            metrics: None,
            last: Mutex::new(None),
            notes: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts malformed objects in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The result of the last reconcile, if any ran.
    pub fn last_desired(&self) -> Option<Arc<Desired>> {
        lock(&self.last).clone()
    }

    /// A snapshot of the index.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.index).snapshot()
    }

    fn skipped(&self, cluster: &str, kind: WatchKind, err: &Skip) {
        match err {
            // Slices without a service name are not ours to import; nothing to report.
            Skip::Index(IndexError::Invalid {
                kind: "EndpointSlice",
                field,
                ..
            }) if field.contains("service-name") => {
                debug!(error = %err, "skipping EndpointSlice without a service");
            }
            _ => {
                warn!(error = %err, "skipping malformed object");
                if let Some(m) = &self.metrics {
                    m.malformed
                        .get_or_create(&Metrics::ck(cluster, kind.as_str()))
                        .inc();
                }
            }
        }
    }

    fn apply_one(
        &self,
        index: &mut Index,
        cluster: &str,
        kind: WatchKind,
        obj: DynamicObject,
    ) -> Result<bool, Skip> {
        Ok(match kind {
            WatchKind::Namespace => {
                index.apply_namespace(cluster, &typed::<Namespace>(cluster, kind, obj)?)?
            }
            WatchKind::Service => {
                index.apply_service(cluster, &typed::<Service>(cluster, kind, obj)?)?
            }
            WatchKind::EndpointSlice => {
                index.apply_slice(cluster, &typed::<EndpointSlice>(cluster, kind, obj)?)?
            }
            WatchKind::Gateway => {
                index.apply_gateway_service(cluster, &typed::<Service>(cluster, kind, obj)?)?
            }
            WatchKind::ServiceExport => {
                let obj = with_spec(obj);
                if is_v1alpha1(&obj) {
                    index.apply_export_v1alpha1(
                        cluster,
                        &typed::<mcs::v1alpha1::ServiceExport>(cluster, kind, obj)?,
                    )?
                } else {
                    index.apply_export(
                        cluster,
                        &typed::<mcs::v1beta1::ServiceExport>(cluster, kind, obj)?,
                    )?
                }
            }
            WatchKind::ServiceImport => {
                let obj = with_spec(obj);
                if is_v1alpha1(&obj) {
                    index.apply_import_v1alpha1(
                        cluster,
                        &typed::<mcs::v1alpha1::ServiceImport>(cluster, kind, obj)?,
                    )?
                } else {
                    index.apply_import(
                        cluster,
                        &typed::<mcs::v1beta1::ServiceImport>(cluster, kind, obj)?,
                    )?
                }
            }
        })
    }

    fn delete_key(
        index: &mut Index,
        cluster: &str,
        kind: WatchKind,
        key: &NsName,
    ) -> Result<bool, IndexError> {
        match kind {
            WatchKind::Namespace => index.delete_namespace(cluster, &key.name),
            WatchKind::Service => index.delete_service(cluster, key),
            WatchKind::EndpointSlice => index.delete_slice(cluster, key),
            WatchKind::Gateway => index.delete_gateway_service(cluster),
            WatchKind::ServiceExport => index.delete_export(cluster, key),
            WatchKind::ServiceImport => index.delete_import(cluster, key),
        }
    }

    fn indexed_keys(index: &Index, cluster: &str, kind: WatchKind) -> BTreeSet<NsName> {
        let Some(st) = index.member(cluster) else {
            return BTreeSet::new();
        };
        match kind {
            WatchKind::Namespace => st
                .namespaces
                .iter()
                .map(|n| NsName::new("", n.clone()))
                .collect(),
            WatchKind::Service => st.services.keys().cloned().collect(),
            WatchKind::EndpointSlice => st
                .slices
                .iter()
                .flat_map(|(svc, slices)| {
                    slices
                        .keys()
                        .map(|n| NsName::new(svc.namespace.clone(), n.clone()))
                })
                .collect(),
            WatchKind::Gateway => BTreeSet::new(),
            WatchKind::ServiceExport => st.exports.keys().cloned().collect(),
            WatchKind::ServiceImport => st.imports.keys().cloned().collect(),
        }
    }

    /// Moves the desired objects out of `desired` into a plan.
    fn to_plan(desired: &mut Desired, snap: &Snapshot) -> Plan {
        let version = |cluster: &str| {
            snap.members
                .get(cluster)
                .map(|m| m.mcs_version)
                .unwrap_or_default()
                .api_version()
                .to_owned()
        };
        let mut clusters: BTreeMap<String, ClusterPlan> = BTreeMap::new();
        let mut imports = 0;
        for (cluster, objects) in std::mem::take(&mut desired.objects) {
            imports += objects
                .iter()
                .filter(|o| o.get("kind").and_then(|k| k.as_str()) == Some("ServiceImport"))
                .count();
            clusters.entry(cluster).or_default().objects = objects;
        }
        for ((cluster, key), status) in &desired.export_status {
            let status = match serde_json::to_value(status) {
                Ok(v) => v,
                Err(e) => {
                    warn!(cluster = %cluster, export = %key, error = %e, "cannot encode export status");
                    continue;
                }
            };
            clusters
                .entry(cluster.clone())
                .or_default()
                .statuses
                .push(StatusWrite {
                    api_version: version(cluster),
                    kind: "ServiceExport".into(),
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    status,
                });
        }
        for ev in &desired.events {
            clusters
                .entry(ev.cluster.clone())
                .or_default()
                .events
                .push(EventWrite {
                    api_version: version(&ev.cluster),
                    kind: "ServiceExport".into(),
                    namespace: ev.export.namespace.clone(),
                    name: ev.export.name.clone(),
                    type_: ev.type_.as_str().into(),
                    reason: ev.reason.clone(),
                    message: ev.message.clone(),
                });
        }
        Plan {
            clusters,
            exports: snap.members.values().map(|m| m.exports.len()).sum(),
            imports,
            conflicts: desired.summary.conflicts,
        }
    }
}

impl Sink for IndexEngine {
    fn replace(&self, cluster: &str, kind: WatchKind, objects: Vec<DynamicObject>) -> bool {
        let mut index = lock(&self.index);
        let mut changed = false;
        if kind == WatchKind::Gateway {
            // Prefer the conventional name when several Services carry the gateway label.
            let chosen = objects
                .iter()
                .position(|o| o.metadata.name.as_deref() == Some("istio-eastwestgateway"))
                .or(if objects.is_empty() { None } else { Some(0) });
            return match chosen.and_then(|i| objects.into_iter().nth(i)) {
                Some(o) => match self.apply_one(&mut index, cluster, kind, o) {
                    Ok(c) => c,
                    Err(e) => {
                        self.skipped(cluster, kind, &e);
                        false
                    }
                },
                None => index.delete_gateway_service(cluster).unwrap_or(false),
            };
        }
        let listed: BTreeSet<NsName> = objects
            .iter()
            .map(|o| {
                if kind == WatchKind::Namespace {
                    NsName::new("", o.metadata.name.clone().unwrap_or_default())
                } else {
                    ns_name(o)
                }
            })
            .collect();
        for gone in Self::indexed_keys(&index, cluster, kind).difference(&listed) {
            changed |= Self::delete_key(&mut index, cluster, kind, gone).unwrap_or(false);
        }
        for o in objects {
            match self.apply_one(&mut index, cluster, kind, o) {
                Ok(c) => changed |= c,
                Err(e) => self.skipped(cluster, kind, &e),
            }
        }
        if changed {
            let _ = index.set_last_sync(cluster, Timestamp::now());
        }
        changed
    }

    fn apply(&self, cluster: &str, kind: WatchKind, object: DynamicObject) -> bool {
        let mut index = lock(&self.index);
        match self.apply_one(&mut index, cluster, kind, object) {
            Ok(c) => c,
            Err(e) => {
                self.skipped(cluster, kind, &e);
                false
            }
        }
    }

    fn delete(&self, cluster: &str, kind: WatchKind, object: DynamicObject) -> bool {
        let key = if kind == WatchKind::Namespace {
            NsName::new("", object.metadata.name.clone().unwrap_or_default())
        } else {
            ns_name(&object)
        };
        let mut index = lock(&self.index);
        Self::delete_key(&mut index, cluster, kind, &key).unwrap_or(false)
    }
}

impl Engine for IndexEngine {
    fn plan(&self, members: &[MemberStatus], now: Timestamp) -> Plan {
        let snap = {
            let mut index = lock(&self.index);
            for m in members {
                let r = match m.reachability {
                    Reachability::Unreachable { since } => {
                        model::Reachability::Unreachable { since }
                    }
                    Reachability::Pending | Reachability::Reachable => {
                        model::Reachability::Reachable
                    }
                };
                let _ = index.set_reachability(&m.name, r);
                let v = match m.mcs_version.as_deref() {
                    Some("v1alpha1") => McsVersion::V1alpha1,
                    _ => McsVersion::V1beta1,
                };
                let _ = index.set_mcs_version(&m.name, v);
            }
            index.snapshot()
        };
        let mut desired = reconcile(&snap, &self.cfg, now);
        // Log member notes (user-owned objects left alone, gateways without address...) when they change.
        {
            let mut notes = lock(&self.notes);
            for (cluster, st) in &desired.member_status {
                if notes.get(cluster) != Some(&st.notes) {
                    for n in &st.notes {
                        info!(cluster = %cluster, note = %n, "member note");
                    }
                    notes.insert(cluster.clone(), st.notes.clone());
                }
            }
        }
        let plan = Self::to_plan(&mut desired, &snap);
        *lock(&self.last) = Some(Arc::new(desired));
        plan
    }
}
