//! The clusterset index: per member, only the projected fields reconcile uses.
//!
//! One apply/delete function per kind per cluster. Apply functions project a Kubernetes object
//! and return whether the index changed (`Ok(false)`: nothing to reconcile), or an
//! [`IndexError`] naming the object and field when it is malformed; the caller logs it and
//! skips the object. Member states are `Arc`-shared with snapshots (copy on write), so
//! [`Index::snapshot`] costs one `Arc` clone per member.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gateway_config::ca::CaCerts;
use isthmus_api::labels::{
    ENDPOINTSLICE_MANAGED_BY, ENDPOINTSLICE_MANAGER, ENDPOINTSLICE_SERVICE_NAME, MANAGED_BY,
    MANAGED_BY_VALUE, MCS_SOURCE_CLUSTER,
};
use isthmus_api::mcs::{self, ServiceExportSpec, ServiceExportStatus, ServiceImportSpec};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{
    ClusterName, EndpointObj, ExportObj, GatewayObj, ImportObj, IstioFact, McsVersion, MemberInfo,
    MemberState, NsName, Observed, ObservedCaCerts, PortObj, Reachability, ServiceObj, SliceObj,
    SlicePortObj, Snapshot,
};
use crate::root_of_trust::CA_ROOT_KEY;

/// Errors projecting an object into the index.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    /// The cluster is not a registered member.
    #[error("cluster {cluster}: not a registered member")]
    UnknownMember {
        /// The cluster.
        cluster: String,
    },
    /// A required field is missing or invalid.
    #[error("cluster {cluster}: {kind} {object}: {field}: {problem}")]
    Invalid {
        /// The cluster.
        cluster: String,
        /// Object kind.
        kind: &'static str,
        /// `namespace/name` as far as known.
        object: String,
        /// Field path.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// What changed in the index since the last [`Index::take_dirty`]: the input of an
/// incremental reconcile pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    /// Something every service depends on changed (membership, reachability, MCS version, a
    /// member's whole object set): recompute everything.
    pub all: bool,
    /// Services (namespace/name) whose exports, Services, EndpointSlices or ServiceImports
    /// changed in some member.
    pub services: BTreeSet<NsName>,
    /// Namespaces created or deleted in some member: every service of them is recomputed.
    pub namespaces: BTreeSet<String>,
}

impl Dirty {
    /// Everything is dirty.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.all && self.services.is_empty() && self.namespaces.is_empty()
    }

    /// Whether `key` must be recomputed.
    pub fn contains(&self, key: &NsName) -> bool {
        self.all || self.services.contains(key) || self.namespaces.contains(&key.namespace)
    }

    /// Adds what `other` marks.
    pub fn merge(&mut self, other: Dirty) {
        self.all |= other.all;
        self.services.extend(other.services);
        self.namespaces.extend(other.namespaces);
    }
}

/// The in-memory index of every member.
#[derive(Clone, Debug, Default)]
pub struct Index {
    members: BTreeMap<ClusterName, Arc<MemberState>>,
    dirty: Dirty,
}

fn object_name(meta: &ObjectMeta) -> String {
    match (&meta.namespace, &meta.name) {
        (Some(ns), Some(n)) => format!("{ns}/{n}"),
        (None, Some(n)) => n.clone(),
        _ => "<unnamed>".to_owned(),
    }
}

fn ns_name(cluster: &str, kind: &'static str, meta: &ObjectMeta) -> Result<NsName, IndexError> {
    let invalid = |field, problem: &str| IndexError::Invalid {
        cluster: cluster.to_owned(),
        kind,
        object: object_name(meta),
        field,
        problem: problem.to_owned(),
    };
    let name = meta
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("metadata.name", "is missing"))?;
    let namespace = meta
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("metadata.namespace", "is missing"))?;
    Ok(NsName::new(namespace, name))
}

/// Projects a Service's ports (protocol defaulted to TCP).
pub fn project_ports(svc: &Service) -> Vec<PortObj> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ports| {
            ports
                .iter()
                .map(|p| PortObj {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                    app_protocol: p.app_protocol.clone(),
                    port: p.port,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Projects a Service.
pub fn project_service(svc: &Service) -> ServiceObj {
    let spec = svc.spec.clone().unwrap_or_default();
    ServiceObj {
        type_: spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned()),
        ports: project_ports(svc),
        session_affinity: spec
            .session_affinity
            .clone()
            .unwrap_or_else(|| "None".to_owned()),
        session_affinity_config: spec.session_affinity_config.clone(),
        internal_traffic_policy: spec.internal_traffic_policy.clone(),
        traffic_distribution: spec.traffic_distribution.clone(),
        ip_families: spec.ip_families.clone().unwrap_or_default(),
        headless: spec.cluster_ip.as_deref() == Some("None"),
    }
}

/// Projects an EndpointSlice.
pub fn project_slice(slice: &EndpointSlice) -> SliceObj {
    SliceObj {
        address_type: slice.address_type.clone(),
        endpoints: slice
            .endpoints
            .iter()
            .map(|e| {
                let c = e.conditions.clone().unwrap_or_default();
                EndpointObj {
                    addresses: e.addresses.clone(),
                    hostname: e.hostname.clone(),
                    ready: c.ready,
                    serving: c.serving,
                    terminating: c.terminating,
                    node_name: e.node_name.clone(),
                    zone: e.zone.clone(),
                }
            })
            .collect(),
        ports: slice
            .ports
            .iter()
            .flatten()
            .map(|p| SlicePortObj {
                name: p.name.clone(),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
                port: p.port,
            })
            .collect(),
    }
}

/// Projects the east-west gateway Service.
pub fn project_gateway(svc: &Service) -> GatewayObj {
    let spec = svc.spec.clone().unwrap_or_default();
    let lb_addresses = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
                .collect()
        })
        .unwrap_or_default();
    let tls_node_port = spec.ports.as_ref().and_then(|ports| {
        ports
            .iter()
            .find(|p| p.port == i32::from(gateway_config::istio::TLS_PORT))
            .and_then(|p| p.node_port)
    });
    GatewayObj {
        service_type: spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned()),
        lb_addresses,
        tls_node_port,
        external_ips: spec.external_ips.clone().unwrap_or_default(),
    }
}

/// The reader token Secret, projected: `data.token` (required: the token controller fills it
/// in) and `data["ca.crt"]` (optional PEM).
pub fn project_reader_token(
    cluster: &str,
    secret: &Secret,
) -> Result<(String, Option<String>), IndexError> {
    let invalid = |field, problem: &str| IndexError::Invalid {
        cluster: cluster.to_owned(),
        kind: "Secret",
        object: object_name(&secret.metadata),
        field,
        problem: problem.to_owned(),
    };
    let data = secret.data.as_ref();
    let text = |key: &str, field| -> Result<Option<String>, IndexError> {
        match data.and_then(|d| d.get(key)) {
            None => Ok(None),
            Some(b) => String::from_utf8(b.0.clone())
                .map(|t| Some(t).filter(|t| !t.trim().is_empty()))
                .map_err(|_| invalid(field, "is not UTF-8 text")),
        }
    };
    let token = text("token", "data.token")?.ok_or_else(|| {
        invalid(
            "data.token",
            "is missing or empty (the service-account token controller has not filled it in yet)",
        )
    })?;
    let token = token.trim().to_owned();
    if token.chars().any(char::is_whitespace) {
        return Err(invalid("data.token", "holds whitespace"));
    }
    let ca = text("ca.crt", "data.ca.crt")?;
    Ok((token, ca))
}

/// A `cacerts` Secret, projected: its four parts and whether it carries the ownership label.
pub fn project_cacerts(cluster: &str, secret: &Secret) -> Result<ObservedCaCerts, IndexError> {
    let what = format!(
        "cluster {cluster}: Secret {}",
        object_name(&secret.metadata)
    );
    let bundle = gateway_config::ca::CaCerts::from_secret(secret, &what).map_err(|e| {
        IndexError::Invalid {
            cluster: cluster.to_owned(),
            kind: "Secret",
            object: object_name(&secret.metadata),
            field: "data",
            problem: e.to_string(),
        }
    })?;
    let owned = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|v| v == MANAGED_BY_VALUE);
    Ok(ObservedCaCerts { owned, bundle })
}

/// The `istio-ca-root-cert` ConfigMap, projected: its `root-cert.pem`.
pub fn project_ca_root(cluster: &str, cm: &ConfigMap) -> Result<String, IndexError> {
    cm.data
        .as_ref()
        .and_then(|d| d.get(CA_ROOT_KEY))
        .filter(|pem| !pem.trim().is_empty())
        .cloned()
        .ok_or_else(|| IndexError::Invalid {
            cluster: cluster.to_owned(),
            kind: "ConfigMap",
            object: object_name(&cm.metadata),
            field: "data.root-cert.pem",
            problem: "is missing or empty".to_owned(),
        })
}

/// Stores a read. A failed read (`Unreadable`) never replaces what was read before, and an
/// unusable object (`Invalid`) never replaces a usable one: it is skipped, the last usable
/// reading stays.
fn observe<T: PartialEq>(slot: &mut Observed<T>, value: Observed<T>) -> bool {
    let keep = match value {
        Observed::Unreadable(_) => !matches!(slot, Observed::Unknown | Observed::Unreadable(_)),
        Observed::Invalid(_) => matches!(slot, Observed::Present(_)),
        _ => false,
    };
    if keep {
        return false;
    }
    set(slot, value)
}

/// Whether an EndpointSlice was written by an MCS controller (ours or another's): such slices
/// are imports, never the source of an export.
pub fn is_mcs_slice(meta: &ObjectMeta) -> bool {
    let labels = meta.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    get(ENDPOINTSLICE_MANAGED_BY) == Some(ENDPOINTSLICE_MANAGER)
        || get(MCS_SOURCE_CLUSTER).is_some()
        || get(MANAGED_BY) == Some(MANAGED_BY_VALUE)
}

fn set<T: PartialEq>(slot: &mut T, value: T) -> bool {
    if *slot == value {
        false
    } else {
        *slot = value;
        true
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// A consistent view for one reconcile.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            members: self.members.clone(),
        }
    }

    /// What changed since the last call (adding a member marks everything).
    pub fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    fn mark(&mut self, changed: bool, key: &NsName) -> bool {
        if changed && !self.dirty.all {
            self.dirty.services.insert(key.clone());
        }
        changed
    }

    fn mark_all(&mut self, changed: bool) -> bool {
        if changed {
            self.dirty = Dirty::all();
        }
        changed
    }

    fn mark_namespace(&mut self, changed: bool, ns: &str) -> bool {
        if changed && !self.dirty.all {
            self.dirty.namespaces.insert(ns.to_owned());
        }
        changed
    }

    /// Registered member names.
    pub fn member_names(&self) -> Vec<ClusterName> {
        self.members.keys().cloned().collect()
    }

    /// The state of one member.
    pub fn member(&self, cluster: &str) -> Option<&MemberState> {
        self.members.get(cluster).map(Arc::as_ref)
    }

    fn state(&mut self, cluster: &str) -> Result<&mut MemberState, IndexError> {
        self.members
            .get_mut(cluster)
            .map(Arc::make_mut)
            .ok_or_else(|| IndexError::UnknownMember {
                cluster: cluster.to_owned(),
            })
    }

    /// Adds or updates a member's registry data; its indexed objects are kept.
    pub fn upsert_member(&mut self, info: MemberInfo) -> bool {
        match self.members.get_mut(&info.name) {
            Some(state) => {
                if state.info == info {
                    false
                } else {
                    Arc::make_mut(state).info = info;
                    self.mark_all(true)
                }
            }
            None => {
                let name = info.name.clone();
                self.members.insert(
                    name,
                    Arc::new(MemberState {
                        info,
                        ..MemberState::default()
                    }),
                );
                self.mark_all(true)
            }
        }
    }

    /// Removes a member and everything indexed for it.
    pub fn remove_member(&mut self, cluster: &str) -> bool {
        let changed = self.members.remove(cluster).is_some();
        self.mark_all(changed)
    }

    /// Forgets every object indexed for a member (before a full relist), keeping its registry
    /// data, reachability and MCS version.
    pub fn clear_objects(&mut self, cluster: &str) -> Result<bool, IndexError> {
        let st = self.state(cluster)?;
        let fresh = MemberState {
            info: st.info.clone(),
            reachability: st.reachability,
            mcs_version: st.mcs_version,
            ..MemberState::default()
        };
        let changed = set(st, fresh);
        Ok(self.mark_all(changed))
    }

    /// Sets whether the member answers.
    pub fn set_reachability(
        &mut self,
        cluster: &str,
        reachability: Reachability,
    ) -> Result<bool, IndexError> {
        let st = self.state(cluster)?;
        // An outage keeps its original start time.
        if matches!(
            (st.reachability, reachability),
            (
                Reachability::Unreachable { .. },
                Reachability::Unreachable { .. }
            )
        ) {
            return Ok(false);
        }
        let changed = set(&mut st.reachability, reachability);
        Ok(self.mark_all(changed))
    }

    /// Sets the MCS version the member serves.
    pub fn set_mcs_version(&mut self, cluster: &str, v: McsVersion) -> Result<bool, IndexError> {
        let changed = set(&mut self.state(cluster)?.mcs_version, v);
        Ok(self.mark_all(changed))
    }

    /// Records a completed full list.
    pub fn set_last_sync(&mut self, cluster: &str, at: Timestamp) -> Result<bool, IndexError> {
        Ok(set(&mut self.state(cluster)?.last_sync, Some(at)))
    }

    /// Sets the addresses of the nodes a NodePort gateway exposure advertises.
    pub fn set_node_addresses(
        &mut self,
        cluster: &str,
        mut addresses: Vec<String>,
    ) -> Result<bool, IndexError> {
        addresses.sort();
        addresses.dedup();
        Ok(set(&mut self.state(cluster)?.node_addresses, addresses))
    }

    /// Sets the member's current `cacerts` contents.
    pub fn set_cacerts(
        &mut self,
        cluster: &str,
        cacerts: Option<CaCerts>,
    ) -> Result<bool, IndexError> {
        Ok(set(&mut self.state(cluster)?.cacerts, cacerts))
    }

    /// Records an Istio fact about a member. A failed read never replaces what was read
    /// before, nor an unusable object a usable one: a member that stops answering, or whose
    /// token Secret is being recreated, keeps its last reader token (the remote secrets other
    /// members hold for it stay) and its last `cacerts`; a deleted object is forgotten. A `cacerts` bundle read from
    /// the member becomes [`MemberState::cacerts`] when the controller has none yet.
    pub fn apply_istio(&mut self, cluster: &str, fact: IstioFact) -> Result<bool, IndexError> {
        let st = self.state(cluster)?;
        Ok(match fact {
            IstioFact::Reader(v) => observe(&mut st.istio.reader, v),
            IstioFact::CaRoot(v) => observe(&mut st.istio.ca_root, v),
            IstioFact::CaCerts(v) => {
                if let (Observed::Present(o), None) = (&v, &st.cacerts) {
                    st.cacerts = Some(o.bundle.clone());
                }
                observe(&mut st.istio.cacerts, v)
            }
            IstioFact::Istiod(v) => set(&mut st.istio.istiod, Some(v)),
        })
    }

    /// Indexes a Namespace.
    pub fn apply_namespace(&mut self, cluster: &str, ns: &Namespace) -> Result<bool, IndexError> {
        let name = ns
            .metadata
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| IndexError::Invalid {
                cluster: cluster.to_owned(),
                kind: "Namespace",
                object: "<unnamed>".to_owned(),
                field: "metadata.name",
                problem: "is missing".to_owned(),
            })?;
        let changed = self.state(cluster)?.namespaces.insert(name.clone());
        Ok(self.mark_namespace(changed, &name))
    }

    /// Removes a Namespace.
    pub fn delete_namespace(&mut self, cluster: &str, name: &str) -> Result<bool, IndexError> {
        let changed = self.state(cluster)?.namespaces.remove(name);
        Ok(self.mark_namespace(changed, name))
    }

    /// Replaces the whole namespace set (after a relist).
    pub fn set_namespaces(
        &mut self,
        cluster: &str,
        names: BTreeSet<String>,
    ) -> Result<bool, IndexError> {
        let st = self.state(cluster)?;
        let differ: Vec<String> = st
            .namespaces
            .symmetric_difference(&names)
            .cloned()
            .collect();
        st.namespaces = names;
        for ns in &differ {
            self.mark_namespace(true, ns);
        }
        Ok(!differ.is_empty())
    }

    /// Indexes a ServiceExport given its parts (either MCS version).
    pub fn apply_export_parts(
        &mut self,
        cluster: &str,
        meta: &ObjectMeta,
        spec: &ServiceExportSpec,
        status: Option<&ServiceExportStatus>,
    ) -> Result<bool, IndexError> {
        let key = ns_name(cluster, "ServiceExport", meta)?;
        let created = meta
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .ok_or_else(|| IndexError::Invalid {
                cluster: cluster.to_owned(),
                kind: "ServiceExport",
                object: key.to_string(),
                field: "metadata.creationTimestamp",
                problem: "is missing".to_owned(),
            })?;
        let obj = ExportObj {
            created,
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
            exported_labels: spec.exported_labels.clone(),
            exported_annotations: spec.exported_annotations.clone(),
            conditions: status.map(|s| s.conditions.clone()).unwrap_or_default(),
        };
        let st = self.state(cluster)?;
        // A change of the stored conditions alone (our own status write coming back through the
        // watch) is kept but does not ask for a reconcile: it cannot change the desired state.
        let changed = st.exports.get(&key).is_none_or(|old| {
            old.created != obj.created
                || old.uid != obj.uid
                || old.generation != obj.generation
                || old.exported_labels != obj.exported_labels
                || old.exported_annotations != obj.exported_annotations
        });
        // The stored conditions feed the status (transition times) and the events, so any
        // stored change makes the service dirty for the next pass, even when it asks for none.
        let stored_change = st.exports.get(&key) != Some(&obj);
        st.exports.insert(key.clone(), obj);
        self.mark(stored_change, &key);
        Ok(changed)
    }

    /// Indexes a `v1beta1` ServiceExport.
    pub fn apply_export(
        &mut self,
        cluster: &str,
        export: &mcs::v1beta1::ServiceExport,
    ) -> Result<bool, IndexError> {
        self.apply_export_parts(
            cluster,
            &export.metadata,
            &export.spec.0,
            export.status.as_ref(),
        )
    }

    /// Indexes a `v1alpha1` ServiceExport.
    pub fn apply_export_v1alpha1(
        &mut self,
        cluster: &str,
        export: &mcs::v1alpha1::ServiceExport,
    ) -> Result<bool, IndexError> {
        self.apply_export_parts(
            cluster,
            &export.metadata,
            &export.spec.0,
            export.status.as_ref(),
        )
    }

    /// Removes a ServiceExport.
    pub fn delete_export(&mut self, cluster: &str, key: &NsName) -> Result<bool, IndexError> {
        let changed = self.state(cluster)?.exports.remove(key).is_some();
        Ok(self.mark(changed, key))
    }

    /// Indexes a Service.
    pub fn apply_service(&mut self, cluster: &str, svc: &Service) -> Result<bool, IndexError> {
        let key = ns_name(cluster, "Service", &svc.metadata)?;
        let obj = project_service(svc);
        let st = self.state(cluster)?;
        let changed = st.services.insert(key.clone(), obj.clone()).as_ref() != Some(&obj);
        Ok(self.mark(changed, &key))
    }

    /// Removes a Service.
    pub fn delete_service(&mut self, cluster: &str, key: &NsName) -> Result<bool, IndexError> {
        let changed = self.state(cluster)?.services.remove(key).is_some();
        Ok(self.mark(changed, key))
    }

    /// Indexes an EndpointSlice of a Service (label `kubernetes.io/service-name`). Slices
    /// written by an MCS controller are ignored (`Ok(false)`).
    pub fn apply_slice(
        &mut self,
        cluster: &str,
        slice: &EndpointSlice,
    ) -> Result<bool, IndexError> {
        let key = ns_name(cluster, "EndpointSlice", &slice.metadata)?;
        if is_mcs_slice(&slice.metadata) {
            return Ok(false);
        }
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ENDPOINTSLICE_SERVICE_NAME))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| IndexError::Invalid {
                cluster: cluster.to_owned(),
                kind: "EndpointSlice",
                object: key.to_string(),
                field: "metadata.labels[kubernetes.io/service-name]",
                problem: "is missing".to_owned(),
            })?;
        let svc = NsName::new(key.namespace.clone(), service.clone());
        let obj = project_slice(slice);
        let st = self.state(cluster)?;
        // A slice never moves between services, but be safe against relabelling.
        let mut moved: Vec<NsName> = Vec::new();
        for (other, slices) in st.slices.iter_mut() {
            if other != &svc
                && other.namespace == key.namespace
                && slices.remove(&key.name).is_some()
            {
                moved.push(other.clone());
            }
        }
        st.slices.retain(|_, s| !s.is_empty());
        let entry = st.slices.entry(svc.clone()).or_default();
        let changed = entry.insert(key.name, obj.clone()).as_ref() != Some(&obj);
        for other in &moved {
            self.mark(true, other);
        }
        Ok(self.mark(changed, &svc) | !moved.is_empty())
    }

    /// Removes an EndpointSlice by its own namespace/name.
    pub fn delete_slice(&mut self, cluster: &str, key: &NsName) -> Result<bool, IndexError> {
        let st = self.state(cluster)?;
        let mut from: Vec<NsName> = Vec::new();
        for (svc, slices) in st.slices.iter_mut() {
            if svc.namespace == key.namespace && slices.remove(&key.name).is_some() {
                from.push(svc.clone());
            }
        }
        st.slices.retain(|_, s| !s.is_empty());
        for svc in &from {
            self.mark(true, svc);
        }
        Ok(!from.is_empty())
    }

    /// Indexes a ServiceImport given its parts (either MCS version).
    pub fn apply_import_parts(
        &mut self,
        cluster: &str,
        meta: &ObjectMeta,
        spec: &ServiceImportSpec,
    ) -> Result<bool, IndexError> {
        let key = ns_name(cluster, "ServiceImport", meta)?;
        let owned_by_us = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(MANAGED_BY))
            .map(String::as_str)
            == Some(MANAGED_BY_VALUE);
        let obj = ImportObj {
            owned_by_us,
            ips: spec.ips.clone(),
            type_: spec.type_.clone(),
        };
        let st = self.state(cluster)?;
        let changed = st.imports.insert(key.clone(), obj.clone()).as_ref() != Some(&obj);
        Ok(self.mark(changed, &key))
    }

    /// Indexes a `v1beta1` ServiceImport.
    pub fn apply_import(
        &mut self,
        cluster: &str,
        import: &mcs::v1beta1::ServiceImport,
    ) -> Result<bool, IndexError> {
        self.apply_import_parts(cluster, &import.metadata, &import.spec.0)
    }

    /// Indexes a `v1alpha1` ServiceImport.
    pub fn apply_import_v1alpha1(
        &mut self,
        cluster: &str,
        import: &mcs::v1alpha1::ServiceImport,
    ) -> Result<bool, IndexError> {
        self.apply_import_parts(cluster, &import.metadata, &import.spec.0)
    }

    /// Removes a ServiceImport.
    pub fn delete_import(&mut self, cluster: &str, key: &NsName) -> Result<bool, IndexError> {
        let changed = self.state(cluster)?.imports.remove(key).is_some();
        Ok(self.mark(changed, key))
    }

    /// Indexes the east-west gateway Service.
    pub fn apply_gateway_service(
        &mut self,
        cluster: &str,
        svc: &Service,
    ) -> Result<bool, IndexError> {
        ns_name(cluster, "Service", &svc.metadata)?;
        let obj = project_gateway(svc);
        Ok(set(&mut self.state(cluster)?.gateway, Some(obj)))
    }

    /// Removes the east-west gateway Service.
    pub fn delete_gateway_service(&mut self, cluster: &str) -> Result<bool, IndexError> {
        Ok(set(&mut self.state(cluster)?.gateway, None))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::Endpoint;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            ..ObjectMeta::default()
        }
    }

    fn index() -> Index {
        let mut i = Index::new();
        i.upsert_member(MemberInfo::new("east", "net1"));
        i
    }

    #[test]
    fn unknown_member_is_an_error() {
        let mut i = Index::new();
        let err = i.set_mcs_version("nope", McsVersion::V1alpha1).unwrap_err();
        assert_eq!(
            err,
            IndexError::UnknownMember {
                cluster: "nope".into()
            }
        );
    }

    #[test]
    fn export_without_creation_timestamp_is_rejected_with_the_field() {
        let mut i = index();
        let err = i
            .apply_export_parts(
                "east",
                &meta("ns", "a"),
                &ServiceExportSpec::default(),
                None,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("metadata.creationTimestamp"),
            "{err}"
        );
        assert!(err.to_string().contains("ns/a"), "{err}");
    }

    #[test]
    fn export_apply_reports_change_only_once() {
        let mut i = index();
        let mut m = meta("ns", "a");
        m.creation_timestamp = Some(Time(Timestamp::from_second(100).unwrap()));
        let spec = ServiceExportSpec::default();
        assert!(i.apply_export_parts("east", &m, &spec, None).unwrap());
        assert!(!i.apply_export_parts("east", &m, &spec, None).unwrap());
        // Our status coming back: stored, but no reconcile needed.
        let status = ServiceExportStatus {
            conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: "Valid".into(),
                status: "True".into(),
                reason: "Valid".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: Time(Timestamp::from_second(5).unwrap()),
            }],
        };
        assert!(
            !i.apply_export_parts("east", &m, &spec, Some(&status))
                .unwrap()
        );
        assert_eq!(
            i.member("east").unwrap().exports[&NsName::new("ns", "a")]
                .conditions
                .len(),
            1
        );
        m.generation = Some(2);
        assert!(i.apply_export_parts("east", &m, &spec, None).unwrap());
        assert!(i.delete_export("east", &NsName::new("ns", "a")).unwrap());
        assert!(!i.delete_export("east", &NsName::new("ns", "a")).unwrap());
    }

    #[test]
    fn service_projection_defaults() {
        let mut i = index();
        let svc = Service {
            metadata: meta("ns", "a"),
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                ports: Some(vec![ServicePort {
                    port: 80,
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        assert!(i.apply_service("east", &svc).unwrap());
        let st = i.member("east").unwrap();
        let s = &st.services[&NsName::new("ns", "a")];
        assert!(s.headless);
        assert_eq!(s.type_, "ClusterIP");
        assert_eq!(s.session_affinity, "None");
        assert_eq!(s.ports[0].protocol, "TCP");
    }

    #[test]
    fn slices_are_keyed_by_service_and_mcs_slices_ignored() {
        let mut i = index();
        let mut m = meta("ns", "a-xyz");
        m.labels = Some(BTreeMap::from([(
            ENDPOINTSLICE_SERVICE_NAME.to_owned(),
            "a".to_owned(),
        )]));
        let slice = EndpointSlice {
            metadata: m.clone(),
            address_type: "IPv4".into(),
            endpoints: vec![Endpoint {
                addresses: vec!["10.0.0.1".into()],
                ..Endpoint::default()
            }],
            ports: None,
        };
        assert!(i.apply_slice("east", &slice).unwrap());
        let st = i.member("east").unwrap();
        assert_eq!(st.slices[&NsName::new("ns", "a")].len(), 1);

        let mut ours = slice.clone();
        ours.metadata.name = Some("a-import".into());
        ours.metadata.labels.as_mut().unwrap().insert(
            ENDPOINTSLICE_MANAGED_BY.to_owned(),
            ENDPOINTSLICE_MANAGER.to_owned(),
        );
        assert!(!i.apply_slice("east", &ours).unwrap());

        let mut bad = slice.clone();
        bad.metadata.labels = None;
        let err = i.apply_slice("east", &bad).unwrap_err();
        assert!(err.to_string().contains("kubernetes.io/service-name"));

        assert!(i.delete_slice("east", &NsName::new("ns", "a-xyz")).unwrap());
        assert!(i.member("east").unwrap().slices.is_empty());
    }

    #[test]
    fn snapshot_is_isolated_from_later_changes() {
        let mut i = index();
        let snap = i.snapshot();
        i.apply_namespace(
            "east",
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("ns".into()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .unwrap();
        assert!(snap.members["east"].namespaces.is_empty());
        assert!(i.member("east").unwrap().namespaces.contains("ns"));
    }

    #[test]
    fn outage_keeps_its_start_time() {
        let mut i = index();
        let t1 = Timestamp::from_second(10).unwrap();
        let t2 = Timestamp::from_second(20).unwrap();
        assert!(
            i.set_reachability("east", Reachability::Unreachable { since: t1 })
                .unwrap()
        );
        assert!(
            !i.set_reachability("east", Reachability::Unreachable { since: t2 })
                .unwrap()
        );
        assert_eq!(
            i.member("east").unwrap().reachability,
            Reachability::Unreachable { since: t1 }
        );
        assert!(i.set_reachability("east", Reachability::Reachable).unwrap());
    }

    fn secret(data: &[(&str, &[u8])], labels: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                namespace: Some("istio-system".into()),
                name: Some("s".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), k8s_openapi::ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn reader_token_secrets_are_projected_or_rejected_with_the_field() {
        let s = secret(&[("token", b"abc\n"), ("ca.crt", b"PEM")], &[]);
        assert_eq!(
            project_reader_token("east", &s).unwrap(),
            ("abc".to_owned(), Some("PEM".to_owned()))
        );
        let s = secret(&[("token", b"abc")], &[]);
        assert_eq!(project_reader_token("east", &s).unwrap().1, None);
        for bad in [
            secret(&[], &[]),
            secret(&[("token", b"  ")], &[]),
            secret(&[("token", b"a b")], &[]),
            secret(&[("token", &[0xff, 0xfe])], &[]),
        ] {
            let e = project_reader_token("east", &bad).unwrap_err().to_string();
            assert!(
                e.contains("data.token") && e.contains("istio-system/s"),
                "{e}"
            );
        }
    }

    #[test]
    fn cacerts_and_the_published_root_are_projected() {
        let mut s = secret(
            &[("ca-cert.pem", b"C"), ("root-cert.pem", b"R")],
            &[(MANAGED_BY, MANAGED_BY_VALUE)],
        );
        s.metadata.name = Some("cacerts".into());
        let o = project_cacerts("east", &s).unwrap();
        assert!(o.owned);
        assert_eq!(
            (o.bundle.ca_cert.as_str(), o.bundle.root_cert.as_str()),
            ("C", "R")
        );
        s.metadata.labels = None;
        assert!(!project_cacerts("east", &s).unwrap().owned);
        let mut cm = ConfigMap {
            metadata: meta("istio-system", "istio-ca-root-cert"),
            data: Some(BTreeMap::from([(CA_ROOT_KEY.to_owned(), "PEM".to_owned())])),
            ..ConfigMap::default()
        };
        assert_eq!(project_ca_root("east", &cm).unwrap(), "PEM");
        cm.data = None;
        let e = project_ca_root("east", &cm).unwrap_err().to_string();
        assert!(e.contains("data.root-cert.pem"), "{e}");
    }

    #[test]
    fn failed_reads_never_replace_what_was_read() {
        let mut i = index();
        let gone = || IstioFact::CaRoot(Observed::Unreadable("refused".into()));
        assert!(i.apply_istio("east", gone()).unwrap());
        assert!(
            i.apply_istio("east", IstioFact::CaRoot(Observed::Present("PEM".into())))
                .unwrap()
        );
        assert!(!i.apply_istio("east", gone()).unwrap());
        assert_eq!(
            i.member("east").unwrap().istio.ca_root,
            Observed::Present("PEM".into())
        );
        // An unusable object is skipped while a usable one was read.
        assert!(
            !i.apply_istio(
                "east",
                IstioFact::CaRoot(Observed::Invalid("no key".into()))
            )
            .unwrap()
        );
        assert!(
            i.apply_istio("east", IstioFact::CaRoot(Observed::Absent))
                .unwrap()
        );
        assert!(
            i.apply_istio(
                "east",
                IstioFact::CaRoot(Observed::Invalid("no key".into()))
            )
            .unwrap()
        );
        // The cacerts read seed the bundle to reuse only when none is known.
        let read = |ca: &str| {
            IstioFact::CaCerts(Observed::Present(ObservedCaCerts {
                owned: true,
                bundle: gateway_config::ca::CaCerts {
                    ca_cert: ca.into(),
                    ..Default::default()
                },
            }))
        };
        i.apply_istio("east", read("first")).unwrap();
        i.apply_istio("east", read("second")).unwrap();
        assert_eq!(
            i.member("east").unwrap().cacerts.as_ref().unwrap().ca_cert,
            "first"
        );
        assert!(
            i.apply_istio("nope", IstioFact::Reader(Observed::Absent))
                .is_err()
        );
    }

    #[test]
    fn imports_record_ownership() {
        let mut i = index();
        let mut m = meta("ns", "a");
        let spec = ServiceImportSpec {
            ips: vec!["242.0.0.9".into()],
            type_: "ClusterSetIP".into(),
            ..ServiceImportSpec::default()
        };
        i.apply_import_parts("east", &m, &spec).unwrap();
        assert!(!i.member("east").unwrap().imports[&NsName::new("ns", "a")].owned_by_us);
        m.labels = Some(BTreeMap::from([(
            MANAGED_BY.to_owned(),
            MANAGED_BY_VALUE.to_owned(),
        )]));
        assert!(i.apply_import_parts("east", &m, &spec).unwrap());
        assert!(i.member("east").unwrap().imports[&NsName::new("ns", "a")].owned_by_us);
    }
}
