//! Test fixtures: small constructors with chainable modifiers, applied to an [`Index`].

use std::collections::BTreeMap;

use isthmus_api::labels::{ENDPOINTSLICE_SERVICE_NAME, MANAGED_BY, MANAGED_BY_VALUE};
use isthmus_api::mcs::{ServiceExportSpec, ServiceImportSpec};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Namespace, Service, ServicePort, ServiceSpec, SessionAffinityConfig,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::Value;

use crate::index::Index;
use crate::model::{
    Desired, McsVersion, MemberInfo, NsName, Reachability, ReconcileConfig, Snapshot,
};

/// Seconds since the epoch as a timestamp (panics only on absurd test input).
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The `now` tests reconcile at unless they say otherwise.
pub fn now() -> Timestamp {
    ts(1_800_000_000)
}

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.to_owned()),
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

/// Something that can be put into the index.
pub trait Fixture {
    /// Puts it in.
    fn apply(&self, index: &mut Index);
}

/// A Service fixture.
#[derive(Clone)]
pub struct SvcFx {
    cluster: String,
    svc: Service,
}

/// A ClusterIP Service `ns/name` in `c1` with port `http` 80/TCP.
pub fn svc(ns: &str, name: &str) -> SvcFx {
    SvcFx {
        cluster: "c1".to_owned(),
        svc: Service {
            metadata: meta(ns, name),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".to_owned()),
                cluster_ip: Some("10.96.0.10".to_owned()),
                ports: Some(vec![ServicePort {
                    name: Some("http".to_owned()),
                    port: 80,
                    protocol: Some("TCP".to_owned()),
                    ..ServicePort::default()
                }]),
                ip_families: Some(vec!["IPv4".to_owned()]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        },
    }
}

impl SvcFx {
    fn spec(&mut self) -> &mut ServiceSpec {
        self.svc.spec.get_or_insert_with(ServiceSpec::default)
    }
    /// In another cluster.
    pub fn in_cluster(mut self, c: &str) -> Self {
        c.clone_into(&mut self.cluster);
        self
    }
    /// Replaces the ports with (name, port, protocol).
    pub fn ports(mut self, ports: &[(&str, i32, &str)]) -> Self {
        self.spec().ports = Some(
            ports
                .iter()
                .map(|(n, p, proto)| ServicePort {
                    name: (!n.is_empty()).then(|| (*n).to_owned()),
                    port: *p,
                    protocol: Some((*proto).to_owned()),
                    ..ServicePort::default()
                })
                .collect(),
        );
        self
    }
    /// Headless (`clusterIP: None`).
    pub fn headless(mut self) -> Self {
        self.spec().cluster_ip = Some("None".to_owned());
        self
    }
    /// `type: ExternalName`.
    pub fn external_name(mut self) -> Self {
        let s = self.spec();
        s.type_ = Some("ExternalName".to_owned());
        s.external_name = Some("example.com".to_owned());
        s.cluster_ip = None;
        self
    }
    /// Session affinity.
    pub fn affinity(mut self, a: &str) -> Self {
        self.spec().session_affinity = Some(a.to_owned());
        self
    }
    /// ClientIP timeout.
    pub fn affinity_timeout(mut self, secs: i32) -> Self {
        self.spec().session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIPConfig {
                timeout_seconds: Some(secs),
            }),
        });
        self
    }
    /// Internal traffic policy.
    pub fn itp(mut self, p: &str) -> Self {
        self.spec().internal_traffic_policy = Some(p.to_owned());
        self
    }
    /// Traffic distribution.
    pub fn td(mut self, t: &str) -> Self {
        self.spec().traffic_distribution = Some(t.to_owned());
        self
    }
    /// IP families.
    pub fn families(mut self, f: &[&str]) -> Self {
        self.spec().ip_families = Some(f.iter().map(|s| (*s).to_owned()).collect());
        self
    }
}

fn add_ns(index: &mut Index, cluster: &str, ns: &str) {
    let _ = index.apply_namespace(
        cluster,
        &Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        },
    );
}

impl Fixture for SvcFx {
    fn apply(&self, index: &mut Index) {
        let ns = self.svc.metadata.namespace.clone().unwrap_or_default();
        add_ns(index, &self.cluster, &ns);
        let _ = index.apply_service(&self.cluster, &self.svc);
    }
}

/// A ServiceExport fixture.
#[derive(Clone)]
pub struct ExportFx {
    cluster: String,
    meta: ObjectMeta,
    spec: ServiceExportSpec,
}

/// A ServiceExport `ns/name` in `c1` created at second 1000, generation 1.
pub fn export(ns: &str, name: &str) -> ExportFx {
    let mut m = meta(ns, name);
    m.creation_timestamp = Some(Time(ts(1000)));
    m.generation = Some(1);
    m.uid = Some(format!("uid-{ns}-{name}"));
    ExportFx {
        cluster: "c1".to_owned(),
        meta: m,
        spec: ServiceExportSpec::default(),
    }
}

impl ExportFx {
    /// In another cluster.
    pub fn in_cluster(mut self, c: &str) -> Self {
        c.clone_into(&mut self.cluster);
        self
    }
    /// Created at `secs`.
    pub fn at(mut self, secs: i64) -> Self {
        self.meta.creation_timestamp = Some(Time(ts(secs)));
        self
    }
    /// Generation.
    pub fn generation(mut self, g: i64) -> Self {
        self.meta.generation = Some(g);
        self
    }
    /// An exported label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.spec.exported_labels.insert(k.to_owned(), v.to_owned());
        self
    }
    /// An exported annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.spec
            .exported_annotations
            .insert(k.to_owned(), v.to_owned());
        self
    }
}

impl Fixture for ExportFx {
    fn apply(&self, index: &mut Index) {
        let _ = index.apply_export_parts(&self.cluster, &self.meta, &self.spec, None);
    }
}

/// An EndpointSlice fixture.
#[derive(Clone)]
pub struct SliceFx {
    cluster: String,
    slice: EndpointSlice,
}

/// An empty IPv4 EndpointSlice `name` of service `ns/svc` in `c1`, port `http` 8080.
pub fn slice(ns: &str, svc: &str, name: &str) -> SliceFx {
    let mut m = meta(ns, name);
    m.labels = Some(BTreeMap::from([(
        ENDPOINTSLICE_SERVICE_NAME.to_owned(),
        svc.to_owned(),
    )]));
    SliceFx {
        cluster: "c1".to_owned(),
        slice: EndpointSlice {
            metadata: m,
            address_type: "IPv4".to_owned(),
            endpoints: Vec::new(),
            ports: Some(vec![EndpointPort {
                name: Some("http".to_owned()),
                port: Some(8080),
                protocol: Some("TCP".to_owned()),
                app_protocol: None,
            }]),
        },
    }
}

impl SliceFx {
    /// In another cluster.
    pub fn in_cluster(mut self, c: &str) -> Self {
        c.clone_into(&mut self.cluster);
        self
    }
    /// Adds an endpoint.
    pub fn endpoint(mut self, addr: &str, ready: bool) -> Self {
        self.slice.endpoints.push(Endpoint {
            addresses: vec![addr.to_owned()],
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                serving: Some(ready),
                terminating: Some(false),
            }),
            node_name: Some("node-1".to_owned()),
            zone: Some("zone-a".to_owned()),
            ..Endpoint::default()
        });
        self
    }
    /// Adds an endpoint with a hostname.
    pub fn host(mut self, addr: &str, hostname: &str) -> Self {
        self = self.endpoint(addr, true);
        if let Some(e) = self.slice.endpoints.last_mut() {
            e.hostname = Some(hostname.to_owned());
        }
        self
    }
}

impl Fixture for SliceFx {
    fn apply(&self, index: &mut Index) {
        let _ = index.apply_slice(&self.cluster, &self.slice);
    }
}

/// An existing ServiceImport fixture.
#[derive(Clone)]
pub struct ImportFx {
    cluster: String,
    meta: ObjectMeta,
    spec: ServiceImportSpec,
}

/// A ServiceImport `ns/name` in `c1` owned by Isthmus, without IPs.
pub fn import(ns: &str, name: &str) -> ImportFx {
    let mut m = meta(ns, name);
    m.labels = Some(BTreeMap::from([(
        MANAGED_BY.to_owned(),
        MANAGED_BY_VALUE.to_owned(),
    )]));
    ImportFx {
        cluster: "c1".to_owned(),
        meta: m,
        spec: ServiceImportSpec {
            type_: "ClusterSetIP".to_owned(),
            ..ServiceImportSpec::default()
        },
    }
}

impl ImportFx {
    /// In another cluster.
    pub fn in_cluster(mut self, c: &str) -> Self {
        c.clone_into(&mut self.cluster);
        self
    }
    /// With IPs.
    pub fn ips(mut self, ips: &[&str]) -> Self {
        self.spec.ips = ips.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// Written by a user (no ownership label).
    pub fn user_owned(mut self) -> Self {
        self.meta.labels = None;
        self
    }
}

impl Fixture for ImportFx {
    fn apply(&self, index: &mut Index) {
        let _ = index.apply_import_parts(&self.cluster, &self.meta, &self.spec);
    }
}

/// A namespace in a cluster.
pub struct NsFx(pub &'static str, pub &'static str);

impl Fixture for NsFx {
    fn apply(&self, index: &mut Index) {
        add_ns(index, self.0, self.1);
    }
}

/// A clusterset under test.
pub struct World {
    /// The index.
    pub index: Index,
    /// The config.
    pub cfg: ReconcileConfig,
}

/// Members `names`, each on its own network `net-<name>`, reachable, serving v1beta1.
pub fn world(names: &[&str]) -> World {
    let mut index = Index::new();
    for n in names {
        index.upsert_member(MemberInfo::new(*n, format!("net-{n}")));
    }
    World {
        index,
        cfg: ReconcileConfig::default(),
    }
}

impl World {
    /// Adds a fixture.
    pub fn with(mut self, f: impl Fixture) -> Self {
        f.apply(&mut self.index);
        self
    }
    /// Adds a fixture in place.
    pub fn add(&mut self, f: impl Fixture) {
        f.apply(&mut self.index);
    }
    /// Marks a member v1alpha1-only.
    pub fn alpha(mut self, cluster: &str) -> Self {
        let _ = self.index.set_mcs_version(cluster, McsVersion::V1alpha1);
        self
    }
    /// Marks a member unreachable since `since`.
    pub fn down(&mut self, cluster: &str, since: Timestamp) {
        let _ = self
            .index
            .set_reachability(cluster, Reachability::Unreachable { since });
    }
    /// Marks a member reachable.
    pub fn up(&mut self, cluster: &str) {
        let _ = self
            .index
            .set_reachability(cluster, Reachability::Reachable);
    }
    /// The snapshot.
    pub fn snap(&self) -> Snapshot {
        self.index.snapshot()
    }
    /// Reconciles at [`now`].
    pub fn run(&self) -> Desired {
        crate::reconcile::reconcile(&self.snap(), &self.cfg, now())
    }
    /// Reconciles at `at`.
    pub fn run_at(&self, at: Timestamp) -> Desired {
        crate::reconcile::reconcile(&self.snap(), &self.cfg, at)
    }
}

/// The desired object of `kind` named `ns/name` in `cluster`.
pub fn find<'a>(
    d: &'a Desired,
    cluster: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Option<&'a Value> {
    d.objects.get(cluster)?.iter().find(|o| {
        o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name
    })
}

/// The desired ServiceImport `ns/name` in `cluster`.
pub fn import_in<'a>(d: &'a Desired, cluster: &str, ns: &str, name: &str) -> Option<&'a Value> {
    find(d, cluster, "ServiceImport", ns, name)
}

/// The imported EndpointSlices of `ns/svc` in `cluster`.
pub fn slices_in<'a>(d: &'a Desired, cluster: &str, ns: &str, svc: &str) -> Vec<&'a Value> {
    d.objects
        .get(cluster)
        .map(|objs| {
            objs.iter()
                .filter(|o| {
                    o["kind"] == "EndpointSlice"
                        && o["metadata"]["namespace"] == ns
                        && o["metadata"]["labels"][isthmus_api::labels::MCS_SERVICE_NAME] == svc
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A condition of the status of export `ns/name` in `cluster`.
pub fn cond<'a>(
    d: &'a Desired,
    cluster: &str,
    ns: &str,
    name: &str,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    d.export_status
        .get(&(cluster.to_owned(), NsName::new(ns, name)))?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}
