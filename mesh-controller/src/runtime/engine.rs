//! The [`Engine`] over the clusterset [`Index`] and the pure
//! [`reconcile`](crate::reconcile::reconcile).
//!
//! Watched objects are decoded into their typed form and handed to the index's per-kind
//! apply/delete handlers; a malformed object is logged with the cluster, kind, object and
//! field, counted, and skipped. A relist replaces the kind's set: indexed objects that were not
//! listed again are deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use gateway_config::ca::{CACERTS_NAMESPACE, CACERTS_SECRET_NAME, CaCerts};
use isthmus_api::labels::ENDPOINTSLICE_SERVICE_NAME;
use isthmus_api::mcs;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::DynamicObject;
use tracing::{debug, info, warn};

use crate::index::{Index, IndexError, is_mcs_slice, project_ca_root};
use crate::members::{MemberStatus, Reachability};
use crate::metrics::Metrics;
use crate::model::{
    self, Desired, IstioFact, McsVersion, MemberInfo, NsName, Observed, ReconcileConfig, Snapshot,
};
use crate::plan::Plan;
use crate::reconcile::plan::to_plan;
use crate::reconcile::{Reconciler, SharedDesired};
use crate::root_of_trust::{CA_ROOT_CONFIGMAP, Trust};
use crate::runtime::Engine;
use crate::watch::{Sink, WatchError, WatchKind, typed};

/// The index plus reconcile settings; the live controller's [`Engine`].
pub struct IndexEngine {
    index: Mutex<Index>,
    /// Services and EndpointSlices of services that are not exported: kept out of the index
    /// (their changes trigger no reconcile) until a ServiceExport names them. Locked after
    /// `index`.
    parked: Mutex<Parked>,
    cfg: ReconcileConfig,
    metrics: Option<Arc<Metrics>>,
    /// The incremental reconcile state (previous outcome per service). Locked after `index`.
    reconciler: Mutex<Reconciler>,
    last: Mutex<Option<Arc<Desired>>>,
    last_shared: Mutex<Option<Arc<SharedDesired>>>,
    notes: Mutex<BTreeMap<String, Vec<String>>>,
    /// The last logged root-of-trust verdict per member.
    trust: Mutex<BTreeMap<String, Trust>>,
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

/// Objects of services without a ServiceExport.
#[derive(Default)]
struct Parked {
    services: HashMap<(String, NsName), Service>,
    /// Slice key -> (its service, the slice).
    slices: HashMap<(String, NsName), (NsName, EndpointSlice)>,
}

/// Whether `key` (a Service) is exported in `cluster`, or already indexed there.
fn indexed_service(index: &Index, cluster: &str, key: &NsName) -> bool {
    index
        .member(cluster)
        .is_some_and(|m| m.exports.contains_key(key) || m.services.contains_key(key))
}

fn slice_indexed(index: &Index, cluster: &str, svc: &NsName, slice: &str) -> bool {
    index
        .member(cluster)
        .and_then(|m| m.slices.get(svc))
        .is_some_and(|s| s.contains_key(slice))
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
            parked: Mutex::new(Parked::default()),
            cfg,
            metrics: None,
            reconciler: Mutex::new(Reconciler::new()),
            last: Mutex::new(None),
            last_shared: Mutex::new(None),
            notes: Mutex::new(BTreeMap::new()),
            trust: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts malformed objects in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The result of the last reconcile, if any ran, without its objects (statuses, events,
    /// member status and counts).
    pub fn last_desired(&self) -> Option<Arc<Desired>> {
        lock(&self.last).clone()
    }

    /// The last pass's desired state with its (shared) objects, if any ran.
    pub fn last_shared(&self) -> Option<Arc<SharedDesired>> {
        lock(&self.last_shared).clone()
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

    /// Moves the parked Service and slices of a newly exported service into the index.
    fn unpark(&self, index: &mut Index, cluster: &str, key: &NsName) -> bool {
        let mut parked = lock(&self.parked);
        let mut changed = false;
        if let Some(svc) = parked.services.remove(&(cluster.to_owned(), key.clone())) {
            changed |= index.apply_service(cluster, &svc).unwrap_or(false);
        }
        let slices: Vec<(String, NsName)> = parked
            .slices
            .iter()
            .filter(|((c, _), (svc, _))| c == cluster && svc == key)
            .map(|(k, _)| k.clone())
            .collect();
        for k in slices {
            if let Some((_, slice)) = parked.slices.remove(&k) {
                match index.apply_slice(cluster, &slice) {
                    Ok(c) => changed |= c,
                    Err(e) => self.skipped(cluster, WatchKind::EndpointSlice, &Skip::Index(e)),
                }
            }
        }
        changed
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
                let svc = typed::<Service>(cluster, kind, obj)?;
                let key = NsName::new(
                    svc.metadata.namespace.clone().unwrap_or_default(),
                    svc.metadata.name.clone().unwrap_or_default(),
                );
                if indexed_service(index, cluster, &key) {
                    index.apply_service(cluster, &svc)?
                } else {
                    lock(&self.parked)
                        .services
                        .insert((cluster.to_owned(), key), svc);
                    false
                }
            }
            WatchKind::EndpointSlice => {
                let slice = typed::<EndpointSlice>(cluster, kind, obj)?;
                if is_mcs_slice(&slice.metadata) {
                    // Imported slices (ours or another MCS implementation's) are not sources.
                    return Ok(false);
                }
                let ns = slice.metadata.namespace.clone().unwrap_or_default();
                let name = slice.metadata.name.clone().unwrap_or_default();
                let svc = slice
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(ENDPOINTSLICE_SERVICE_NAME))
                    .map(|s| NsName::new(ns.clone(), s.clone()));
                match svc {
                    Some(svc)
                        if !indexed_service(index, cluster, &svc)
                            && !slice_indexed(index, cluster, &svc, &name) =>
                    {
                        lock(&self.parked)
                            .slices
                            .insert((cluster.to_owned(), NsName::new(ns, name)), (svc, slice));
                        false
                    }
                    // Exported (or a slice without service, which the index reports).
                    _ => index.apply_slice(cluster, &slice)?,
                }
            }
            WatchKind::Gateway => {
                index.apply_gateway_service(cluster, &typed::<Service>(cluster, kind, obj)?)?
            }
            WatchKind::IstioCaRoot => {
                let cm = typed::<ConfigMap>(cluster, kind, obj)?;
                let seen = match project_ca_root(cluster, &cm) {
                    Ok(pem) => Observed::Present(pem),
                    Err(e) => {
                        // Unusable, and said so in the member's status.
                        self.skipped(cluster, kind, &Skip::Index(e.clone()));
                        Observed::Invalid(e.to_string())
                    }
                };
                index.apply_istio(cluster, IstioFact::CaRoot(seen))?
            }
            WatchKind::ServiceExport => {
                let obj = with_spec(obj);
                let key = ns_name(&obj);
                let before = index
                    .member(cluster)
                    .and_then(|m| m.exports.get(&key))
                    .cloned();
                let changed = if is_v1alpha1(&obj) {
                    index.apply_export_v1alpha1(
                        cluster,
                        &typed::<mcs::v1alpha1::ServiceExport>(cluster, kind, obj)?,
                    )?
                } else {
                    index.apply_export(
                        cluster,
                        &typed::<mcs::v1beta1::ServiceExport>(cluster, kind, obj)?,
                    )?
                };
                // Only the status conditions changed (the echo of the status this controller
                // wrote): indexed, but no reconcile is needed for it.
                let only_conditions = changed
                    && before.is_some_and(|mut b| {
                        index
                            .member(cluster)
                            .and_then(|m| m.exports.get(&key))
                            .is_some_and(|now| {
                                b.conditions.clone_from(&now.conditions);
                                &b == now
                            })
                    });
                (changed && !only_conditions) | self.unpark(index, cluster, &key)
            }
            WatchKind::ServiceImport => {
                let obj = with_spec(obj);
                // The echo of an import this controller wrote is indexed (its VIP is adopted
                // after a restart) but needs no reconcile; users' imports do.
                let ours = crate::ownership::is_owned(&obj);
                let changed = if is_v1alpha1(&obj) {
                    index.apply_import_v1alpha1(
                        cluster,
                        &typed::<mcs::v1alpha1::ServiceImport>(cluster, kind, obj)?,
                    )?
                } else {
                    index.apply_import(
                        cluster,
                        &typed::<mcs::v1beta1::ServiceImport>(cluster, kind, obj)?,
                    )?
                };
                changed && !ours
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
            WatchKind::IstioCaRoot => {
                index.apply_istio(cluster, IstioFact::CaRoot(Observed::Absent))
            }
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
            WatchKind::Gateway | WatchKind::IstioCaRoot => BTreeSet::new(),
            WatchKind::ServiceExport => st.exports.keys().cloned().collect(),
            WatchKind::ServiceImport => st.imports.keys().cloned().collect(),
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
        if kind == WatchKind::IstioCaRoot {
            let chosen = objects
                .into_iter()
                .find(|o| o.metadata.name.as_deref() == Some(CA_ROOT_CONFIGMAP));
            return match chosen {
                Some(o) => match self.apply_one(&mut index, cluster, kind, o) {
                    Ok(c) => c,
                    Err(e) => {
                        self.skipped(cluster, kind, &e);
                        false
                    }
                },
                None => index
                    .apply_istio(cluster, IstioFact::CaRoot(Observed::Absent))
                    .unwrap_or(false),
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
        {
            let mut parked = lock(&self.parked);
            match kind {
                WatchKind::Service => parked.services.retain(|(c, _), _| c != cluster),
                WatchKind::EndpointSlice => parked.slices.retain(|(c, _), _| c != cluster),
                _ => {}
            }
        }
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
        {
            let mut parked = lock(&self.parked);
            match kind {
                WatchKind::Service => {
                    parked.services.remove(&(cluster.to_owned(), key.clone()));
                }
                WatchKind::EndpointSlice => {
                    parked.slices.remove(&(cluster.to_owned(), key.clone()));
                }
                _ => {}
            }
        }
        Self::delete_key(&mut index, cluster, kind, &key).unwrap_or(false)
    }
}

impl IndexEngine {
    /// Remembers the `cacerts` bundles this pass planned as the ones the members hold, so the
    /// next pass plans the same intermediate instead of issuing another before the member's
    /// Secret is read again.
    fn keep_planned_cacerts(&self, desired: &SharedDesired) {
        let mut index = lock(&self.index);
        for (cluster, objects) in desired.members.iter().zip(&desired.member_objects) {
            let Some(obj) = objects.iter().find(|o| {
                o.key.kind == "Secret"
                    && o.key.namespace == CACERTS_NAMESPACE
                    && o.key.name == CACERTS_SECRET_NAME
            }) else {
                continue;
            };
            let bundle = serde_json::from_value::<Secret>(obj.body.clone())
                .map_err(|e| e.to_string())
                .and_then(|secret| {
                    CaCerts::from_secret(&secret, "planned cacerts").map_err(|e| e.to_string())
                });
            match bundle {
                Ok(b) => {
                    let _ = index.set_cacerts(cluster, Some(b));
                }
                Err(e) => {
                    warn!(cluster = %cluster, error = %e, "cannot read back the planned cacerts")
                }
            }
        }
    }

    /// Logs every member's root-of-trust verdict when it changes.
    fn log_root_of_trust(&self, desired: &SharedDesired) {
        let mut seen = lock(&self.trust);
        for (cluster, st) in &desired.member_status {
            let Some(r) = &st.root_of_trust else {
                continue;
            };
            if seen.get(cluster) == Some(&r.trust) {
                continue;
            }
            seen.insert(cluster.clone(), r.trust);
            let published = r.published.join(",");
            match r.trust {
                Trust::ForeignRoot => warn!(
                    cluster = %cluster,
                    clusterset_root = %r.clusterset,
                    published = %published,
                    restart = st.restart_istiod.is_some(),
                    "istiod publishes a foreign root"
                ),
                Trust::ClustersetRoot => info!(
                    cluster = %cluster,
                    clusterset_root = %r.clusterset,
                    "istiod publishes the clusterset root"
                ),
                Trust::NotPublished => info!(
                    cluster = %cluster,
                    clusterset_root = %r.clusterset,
                    reason = %r.message,
                    "istiod's root is not known"
                ),
            }
        }
    }
}

impl Engine for IndexEngine {
    fn observe(&self, cluster: &str, fact: IstioFact) -> bool {
        match lock(&self.index).apply_istio(cluster, fact) {
            Ok(changed) => changed,
            Err(e) => {
                debug!(error = %e, "Istio fact for an unknown member");
                false
            }
        }
    }

    fn plan(&self, members: &[MemberStatus], now: Timestamp) -> Plan {
        let mut reconciler = lock(&self.reconciler);
        let (snap, dirty) = {
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
            (index.snapshot(), index.take_dirty())
        };
        let rewrite_namespaces = dirty.namespaces.clone();
        let desired = reconciler.pass(&snap, dirty, &self.cfg, now);
        drop(reconciler);
        debug!(
            full = desired.stats.full,
            recomputed = desired.stats.recomputed,
            services = desired.services.len(),
            "reconciled"
        );
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
        if self.cfg.istio.as_ref().is_some_and(|w| w.root.is_some()) {
            self.keep_planned_cacerts(&desired);
            self.log_root_of_trust(&desired);
        }
        let mut plan = to_plan(&desired, &snap);
        if !rewrite_namespaces.is_empty() {
            for cp in plan.clusters.values_mut() {
                cp.rewrite_namespaces.clone_from(&rewrite_namespaces);
            }
        }
        *lock(&self.last) = Some(Arc::new(desired.to_desired_without_objects()));
        *lock(&self.last_shared) = Some(Arc::new(desired));
        plan
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn services_are_indexed_only_once_exported() {
        let engine = IndexEngine::new(
            vec![MemberInfo::new("east", "n1")],
            ReconcileConfig::default(),
        );
        let svc = obj(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1", "ports": [{"port": 80}]}}));
        let slice = obj(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.1"]}]}),
        );
        // Not exported: no reconcile needed, nothing indexed.
        assert!(!engine.apply("east", WatchKind::Service, svc.clone()));
        assert!(!engine.apply("east", WatchKind::EndpointSlice, slice));
        let key = NsName::new("shop", "web");
        assert!(
            !engine.snapshot().members["east"]
                .services
                .contains_key(&key)
        );
        // The export brings the parked Service and slice into the index.
        let export = obj(
            json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
            "metadata": {"name": "web", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"}}),
        );
        assert!(engine.apply("east", WatchKind::ServiceExport, export));
        let snap = engine.snapshot();
        assert!(snap.members["east"].services.contains_key(&key));
        assert_eq!(snap.members["east"].slices[&key].len(), 1);
        // Further changes of an exported Service are indexed directly.
        let mut changed = svc;
        changed.data["spec"]["ports"] = json!([{"port": 81}]);
        assert!(engine.apply("east", WatchKind::Service, changed));
    }

    #[test]
    fn the_published_root_is_indexed_and_planned_cacerts_are_kept() {
        let root =
            gateway_config::ca::RootCa::generate(&Default::default(), Timestamp::now()).unwrap();
        let cfg = ReconcileConfig {
            istio: Some(model::IstioWiring {
                mesh_id: "m".into(),
                trust_domain: "cluster.local".into(),
                expose_hosts: gateway_config::istio::ExposeHosts::All,
                root: Some(Arc::new(root)),
                renewal: Default::default(),
                restart_istiod: false,
                mesh_networks: true,
            }),
            ..ReconcileConfig::default()
        };
        let engine = IndexEngine::new(vec![MemberInfo::new("east", "n1")], cfg);
        let cm = |data: serde_json::Value| {
            obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CA_ROOT_CONFIGMAP, "namespace": "istio-system"},
                "data": data}))
        };
        let root_of = |e: &IndexEngine| e.snapshot().members["east"].istio.ca_root.clone();
        assert!(engine.replace(
            "east",
            WatchKind::IstioCaRoot,
            vec![cm(json!({"root-cert.pem": "PEM"}))]
        ));
        assert_eq!(root_of(&engine), Observed::Present("PEM".into()));
        // Without its key, or malformed: skipped, the last reading stays.
        assert!(!engine.apply("east", WatchKind::IstioCaRoot, cm(json!({}))));
        assert!(!engine.apply("east", WatchKind::IstioCaRoot, cm(json!(["x"]))));
        assert_eq!(root_of(&engine), Observed::Present("PEM".into()));
        assert!(engine.delete("east", WatchKind::IstioCaRoot, cm(json!({}))));
        assert_eq!(root_of(&engine), Observed::Absent);
        // Unusable when nothing usable was read: said so.
        assert!(engine.apply("east", WatchKind::IstioCaRoot, cm(json!({}))));
        assert!(matches!(root_of(&engine), Observed::Invalid(_)));
        assert!(engine.replace(
            "east",
            WatchKind::IstioCaRoot,
            vec![cm(json!({"root-cert.pem": "PEM"}))]
        ));
        assert!(engine.replace("east", WatchKind::IstioCaRoot, Vec::new()));
        assert_eq!(root_of(&engine), Observed::Absent);

        // cacerts are planned once read, and the next pass plans the same bundle.
        let cacerts = |e: &IndexEngine| {
            e.last_shared().and_then(|d| {
                d.member_objects[0]
                    .iter()
                    .find(|o| o.key.kind == "Secret" && o.key.name == "cacerts")
                    .map(|o| o.fingerprint)
            })
        };
        engine.plan(&[], Timestamp::now());
        assert_eq!(cacerts(&engine), None);
        assert!(engine.observe("east", IstioFact::CaCerts(Observed::Absent)));
        engine.plan(&[], Timestamp::now());
        let first = cacerts(&engine).unwrap();
        engine.plan(&[], Timestamp::now());
        assert_eq!(cacerts(&engine), Some(first));
    }

    #[test]
    fn malformed_objects_are_skipped() {
        let engine = IndexEngine::new(
            vec![MemberInfo::new("east", "n1")],
            ReconcileConfig::default(),
        );
        let bad = obj(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": {"ports": "eighty"}}));
        assert!(!engine.apply("east", WatchKind::Service, bad));
        // An export without creationTimestamp is reported by the index and skipped.
        let export = obj(
            json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
            "metadata": {"name": "web", "namespace": "shop"}}),
        );
        assert!(!engine.apply("east", WatchKind::ServiceExport, export));
        assert!(engine.snapshot().members["east"].exports.is_empty());
    }
}
