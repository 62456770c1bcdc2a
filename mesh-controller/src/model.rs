//! The contract between the live half of the controller (watchers, applier) and the pure
//! reconcile: projected cluster state, the reconcile configuration and the desired state.
//!
//! Watchers feed Kubernetes objects into the clusterset index (`index::Index`), which keeps
//! only the fields below. The reconcile (`reconcile::reconcile`) turns an index [`Snapshot`]
//! into [`Desired`]: the objects to server-side apply per member, the ServiceExport statuses,
//! the member statuses and the events to record. See `docs/controller.md`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use gateway_config::ca::{CaCerts, RenewalPolicy, RootCa};
use gateway_config::clusterset::GatewayExposure;
use isthmus_api::mcs::ServiceExportStatus;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::SessionAffinityConfig;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::Value;

use crate::root_of_trust::RootOfTrust;

/// A member cluster's ID (its name in the clusterset).
pub type ClusterName = String;

/// A namespaced object name.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsName {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl NsName {
    /// `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for NsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The MCS API version a member serves (both have the same schema).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum McsVersion {
    /// `multicluster.x-k8s.io/v1beta1`, preferred.
    #[default]
    V1beta1,
    /// `multicluster.x-k8s.io/v1alpha1`, for members whose CRDs serve only that.
    V1alpha1,
}

impl McsVersion {
    /// The `apiVersion` string of MCS objects in this version.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1beta1 => "multicluster.x-k8s.io/v1beta1",
            Self::V1alpha1 => "multicluster.x-k8s.io/v1alpha1",
        }
    }

    /// The bare version (`v1beta1` / `v1alpha1`).
    pub fn version(self) -> &'static str {
        match self {
            Self::V1beta1 => "v1beta1",
            Self::V1alpha1 => "v1alpha1",
        }
    }
}

/// What the registry knows about a member (from the clusterset file or a MemberCluster).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberInfo {
    /// Cluster ID.
    pub name: ClusterName,
    /// Istio network ID.
    pub network: String,
    /// Region, informational.
    pub region: Option<String>,
    /// Zone, informational.
    pub zone: Option<String>,
    /// Istio revision of the member's control plane.
    pub revision: Option<String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// How the member's east-west gateway is reached from other networks.
    pub exposure: GatewayExposure,
    /// Kubeconfig of a reader identity of the member (`spec.readerKubeconfigSecretRef`), used
    /// instead of its reader token Secret to build the remote secrets other members get.
    /// `None`: the reader token Secret read from the member ([`IstioState::reader`]).
    pub reader_kubeconfig: Option<Arc<Vec<u8>>>,
}

impl MemberInfo {
    /// A member on `network` with defaults for everything else.
    pub fn new(name: impl Into<String>, network: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            network: network.into(),
            ..Self::default()
        }
    }
}

/// Whether the controller can currently talk to a member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reachability {
    /// Its API server answers.
    #[default]
    Reachable,
    /// It stopped answering at `since`.
    Unreachable {
        /// When it was last known reachable (start of the outage).
        since: Timestamp,
    },
}

/// A ServiceExport, projected.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportObj {
    /// `metadata.creationTimestamp`: decides conflict precedence.
    pub created: Timestamp,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation` (0 when absent).
    pub generation: i64,
    /// `spec.exportedLabels`.
    pub exported_labels: BTreeMap<String, String>,
    /// `spec.exportedAnnotations`.
    pub exported_annotations: BTreeMap<String, String>,
    /// `status.conditions` as currently stored, for stable `lastTransitionTime`s.
    pub conditions: Vec<Condition>,
}

/// A Service port, projected (protocol defaulted to `TCP`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortObj {
    /// Port name; empty when unnamed.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// `appProtocol`.
    pub app_protocol: Option<String>,
    /// Port number.
    pub port: i32,
}

/// A Service, projected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceObj {
    /// `spec.type` (`ClusterIP` when absent).
    pub type_: String,
    /// `spec.ports`.
    pub ports: Vec<PortObj>,
    /// `spec.sessionAffinity` (`None` when absent).
    pub session_affinity: String,
    /// `spec.sessionAffinityConfig`.
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// `spec.internalTrafficPolicy`.
    pub internal_traffic_policy: Option<String>,
    /// `spec.trafficDistribution`.
    pub traffic_distribution: Option<String>,
    /// `spec.ipFamilies`.
    pub ip_families: Vec<String>,
    /// `spec.clusterIP` is `None`.
    pub headless: bool,
}

/// One endpoint of an EndpointSlice, projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointObj {
    /// Addresses.
    pub addresses: Vec<String>,
    /// Hostname (kept for headless services).
    pub hostname: Option<String>,
    /// `conditions.ready`.
    pub ready: Option<bool>,
    /// `conditions.serving`.
    pub serving: Option<bool>,
    /// `conditions.terminating`.
    pub terminating: Option<bool>,
    /// `nodeName` (in the source cluster).
    pub node_name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
}

/// An EndpointSlice port, projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlicePortObj {
    /// Name.
    pub name: Option<String>,
    /// Protocol.
    pub protocol: Option<String>,
    /// appProtocol.
    pub app_protocol: Option<String>,
    /// Port number.
    pub port: Option<i32>,
}

/// An EndpointSlice of an exported service, projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceObj {
    /// `IPv4`, `IPv6` or `FQDN`.
    pub address_type: String,
    /// Endpoints.
    pub endpoints: Vec<EndpointObj>,
    /// Ports.
    pub ports: Vec<SlicePortObj>,
}

/// A ServiceImport found in a member, projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportObj {
    /// Carries the ownership label (`app.kubernetes.io/managed-by=isthmus`).
    pub owned_by_us: bool,
    /// `spec.ips`: adopted as the clusterset VIPs when owned.
    pub ips: Vec<String>,
    /// `spec.type`.
    pub type_: String,
}

/// The member's east-west gateway Service (`istio-system/istio-eastwestgateway`), projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayObj {
    /// `spec.type`.
    pub service_type: String,
    /// `status.loadBalancer.ingress[*].ip|hostname`.
    pub lb_addresses: Vec<String>,
    /// The node port of the `tls` (15443) port, when any.
    pub tls_node_port: Option<i32>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<String>,
}

/// What the controller knows of one object it reads from a member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Observed<T> {
    /// Not read yet.
    #[default]
    Unknown,
    /// Read: it does not exist.
    Absent,
    /// Read and usable.
    Present(T),
    /// Read, but it cannot be used (the reason names the field).
    Invalid(String),
    /// Could not be read (the request failed) and nothing was read before.
    Unreadable(String),
}

impl<T> Observed<T> {
    /// The value, when present.
    pub fn present(&self) -> Option<&T> {
        match self {
            Self::Present(v) => Some(v),
            _ => None,
        }
    }

    /// Whether it was read (present, absent or invalid) or its read failed.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown)
    }
}

/// How the controller reaches a member's API server (from its own kubeconfig for it), without
/// the controller's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// API server URL.
    pub server: String,
    /// PEM of the certificate authorities the controller verifies the server with.
    pub ca_pem: Option<String>,
    /// `tls-server-name`, when set.
    pub tls_server_name: Option<String>,
    /// The kubeconfig skips TLS verification.
    pub insecure: bool,
}

/// The member's reader identity: its `istio-reader-service-account` token (from the Secret
/// `istio-system/istio-reader-service-account-istio-remote-secret-token`) and where its API
/// server is. `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ReaderAccess {
    /// The API server, as the controller reaches it.
    pub endpoint: ApiEndpoint,
    /// `data.token`.
    pub token: String,
    /// `data.ca.crt` (PEM), preferred over the endpoint's CA when present.
    pub ca_crt: Option<String>,
}

impl fmt::Debug for ReaderAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReaderAccess")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field("ca_crt", &self.ca_crt.as_ref().map(String::len))
            .finish()
    }
}

/// A member's `istio-system/cacerts` Secret, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedCaCerts {
    /// It carries the Isthmus ownership label (the controller wrote it).
    pub owned: bool,
    /// Its four parts.
    pub bundle: CaCerts,
}

/// What restarting a member's istiod found (reported back by the live half).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IstiodState {
    /// Every istiod Deployment of the member's revision carries the restart annotation with
    /// this root fingerprint on its pod template.
    Annotated(String),
    /// No istiod Deployment of the member's revision in `istio-system`.
    NotFound,
}

/// Istio state of a member the controller reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IstioState {
    /// The reader token Secret.
    pub reader: Observed<ReaderAccess>,
    /// `root-cert.pem` of `istio-system/istio-ca-root-cert` (what istiod publishes).
    pub ca_root: Observed<String>,
    /// `istio-system/cacerts`.
    pub cacerts: Observed<ObservedCaCerts>,
    /// The istiod Deployments, after a restart was asked for.
    pub istiod: Option<IstiodState>,
}

/// One Istio fact about a member, as the live half reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IstioFact {
    /// The reader token Secret.
    Reader(Observed<ReaderAccess>),
    /// `root-cert.pem` of `istio-ca-root-cert`.
    CaRoot(Observed<String>),
    /// The `cacerts` Secret.
    CaCerts(Observed<ObservedCaCerts>),
    /// The istiod Deployments after a restart.
    Istiod(IstiodState),
}

/// Everything indexed for one member.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberState {
    /// Registry data.
    pub info: MemberInfo,
    /// Whether it answers.
    pub reachability: Reachability,
    /// The MCS version its CRDs serve.
    pub mcs_version: McsVersion,
    /// Existing namespaces.
    pub namespaces: BTreeSet<String>,
    /// ServiceExports.
    pub exports: BTreeMap<NsName, ExportObj>,
    /// Services (only those with a ServiceExport need be watched).
    pub services: BTreeMap<NsName, ServiceObj>,
    /// EndpointSlices of services, by service then slice name.
    pub slices: BTreeMap<NsName, BTreeMap<String, SliceObj>>,
    /// ServiceImports found in the member (ours and users').
    pub imports: BTreeMap<NsName, ImportObj>,
    /// The east-west gateway Service.
    pub gateway: Option<GatewayObj>,
    /// External/internal addresses of the nodes the NodePort exposure selects.
    pub node_addresses: Vec<String>,
    /// The `istio-system/cacerts` bundle the member holds, or was last given: what
    /// [`gateway_config::ca::desired_cacerts`] reuses while it is good.
    pub cacerts: Option<CaCerts>,
    /// Istio objects the controller reads from the member.
    pub istio: IstioState,
    /// When the member's watches last completed a full list.
    pub last_sync: Option<Timestamp>,
}

/// A consistent, cheap-to-clone view of the index.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Members by name.
    pub members: BTreeMap<ClusterName, Arc<MemberState>>,
}

/// Istio wiring settings.
#[derive(Clone, Debug)]
pub struct IstioWiring {
    /// Istio mesh ID.
    pub mesh_id: String,
    /// SPIFFE trust domain.
    pub trust_domain: String,
    /// Hosts accepted by the `cross-network-gateway`.
    pub expose_hosts: gateway_config::istio::ExposeHosts,
    /// Shared root CA; `None`: `cacerts` are not managed.
    pub root: Option<Arc<RootCa>>,
    /// When intermediates are renewed.
    pub renewal: RenewalPolicy,
    /// Restart a member's istiod once its `cacerts` hold the clusterset chain while it still
    /// publishes a foreign root (needs `root`).
    pub restart_istiod: bool,
    /// Write the `isthmus-mesh-networks` ConfigMap into every member when some gateway is
    /// Static or NodePort (read by istiods run with `SHARED_MESH_CONFIG` naming it).
    pub mesh_networks: bool,
}

/// Reconcile settings.
#[derive(Clone, Debug)]
pub struct ReconcileConfig {
    /// Clusterset VIP ranges, at most one per IP family.
    pub clusterset_cidrs: Vec<ipnet::IpNet>,
    /// How long an unreachable member's exports are kept before being withdrawn.
    pub unreachable_grace: Duration,
    /// Istio wiring; `None` disables it.
    pub istio: Option<IstioWiring>,
}

/// Default IPv4 clusterset VIP range.
pub const DEFAULT_CIDR_V4: &str = "242.0.0.0/16";
/// Default IPv6 clusterset VIP range.
pub const DEFAULT_CIDR_V6: &str = "fd00:242::/112";
/// Default unreachable grace period.
pub const DEFAULT_UNREACHABLE_GRACE: Duration = Duration::from_secs(300);

impl Default for ReconcileConfig {
    fn default() -> Self {
        let cidrs = [DEFAULT_CIDR_V4, DEFAULT_CIDR_V6]
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        Self {
            clusterset_cidrs: cidrs,
            unreachable_grace: DEFAULT_UNREACHABLE_GRACE,
            istio: None,
        }
    }
}

/// Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

impl EventType {
    /// The Kubernetes string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// An Event to record on a ServiceExport.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventIntent {
    /// Cluster holding the export.
    pub cluster: ClusterName,
    /// The export.
    pub export: NsName,
    /// Type.
    pub type_: EventType,
    /// Reason (CamelCase).
    pub reason: String,
    /// Message.
    pub message: String,
}

/// Status of one member, for the MemberCluster status and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberStatus {
    /// Currently reachable.
    pub reachable: bool,
    /// Unreachable for longer than the grace period: its exports are withdrawn.
    pub withdrawn: bool,
    /// Network.
    pub network: String,
    /// Addresses other networks reach its east-west gateway at (`host:port`-less).
    pub gateway_addresses: Vec<String>,
    /// Port on those addresses forwarding to 15443.
    pub gateway_port: Option<i32>,
    /// ServiceExports it holds.
    pub exports: usize,
    /// ServiceImports desired in it.
    pub imports: usize,
    /// Human-readable notes (missing kubeconfig, gateway without address...).
    pub notes: Vec<String>,
    /// Whether its istiod publishes the clusterset root; `None` when the controller does not
    /// run the clusterset CA.
    pub root_of_trust: Option<RootOfTrust>,
    /// Its istiod Deployments are to be restarted (see [`IstiodRestart`]).
    pub restart_istiod: Option<IstiodRestart>,
}

/// A restart of a member's istiod: the pod template of every istiod Deployment of its revision
/// gets the annotation [`ROOT_FINGERPRINT_ANNOTATION`] with the clusterset root's fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IstiodRestart {
    /// SHA-256 fingerprint of the clusterset root.
    pub fingerprint: String,
    /// The member's Istio revision (`istio.io/rev`); `None`: the default revision.
    pub revision: Option<String>,
}

/// Pod template annotation that restarts istiod, valued with the clusterset root's
/// fingerprint: a changed pod template is a rollout, an equal one is no second restart.
pub const ROOT_FINGERPRINT_ANNOTATION: &str = "isthmus.io/root-fingerprint";

/// Counts for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Services exported from at least one active member.
    pub services: usize,
    /// Services with a conflict.
    pub conflicts: usize,
    /// Desired objects over all members.
    pub objects: usize,
    /// ServiceExports without a valid Service.
    pub invalid_exports: usize,
}

/// The result of a reconcile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// Every object to server-side apply, per member: full objects with `apiVersion`, `kind`,
    /// `metadata` (incl. the ownership label), sorted by (apiVersion, kind, namespace, name).
    pub objects: BTreeMap<ClusterName, Vec<Value>>,
    /// ServiceExport statuses to write through the status subresource.
    pub export_status: BTreeMap<(ClusterName, NsName), ServiceExportStatus>,
    /// Per member.
    pub member_status: BTreeMap<ClusterName, MemberStatus>,
    /// Events.
    pub events: Vec<EventIntent>,
    /// Counts.
    pub summary: Summary,
}

/// The identity of one object in one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of an object, read from its `apiVersion`, `kind` and metadata; `None` when one
    /// of `apiVersion`, `kind` or `metadata.name` is missing or empty.
    pub fn of(obj: &Value) -> Option<Self> {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str);
        let (api_version, kind, name) = (s("/apiVersion")?, s("/kind")?, s("/metadata/name")?);
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: s("/metadata/namespace").unwrap_or("").to_owned(),
            name: name.to_owned(),
        })
    }

    /// The hash identifying this key (stable within one process).
    pub fn hash(&self) -> u64 {
        key_hash(&self.api_version, &self.kind, &self.namespace, &self.name)
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }
}

/// The hash of an object identity (see [`ObjectKey::hash`]).
pub fn key_hash(api_version: &str, kind: &str, namespace: &str, name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (api_version, kind, namespace, name).hash(&mut h);
    h.finish()
}

/// A fingerprint of a JSON value (object keys are ordered by the map), without serializing it.
pub fn fingerprint(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    hash_value(v, &mut h);
    h.finish()
}

fn hash_value(v: &Value, h: &mut DefaultHasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => {
            2u8.hash(h);
            if let Some(i) = n.as_i64() {
                (0u8, i).hash(h);
            } else if let Some(u) = n.as_u64() {
                (1u8, u).hash(h);
            } else {
                n.to_string().hash(h);
            }
        }
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(a) => {
            (4u8, a.len()).hash(h);
            for x in a {
                hash_value(x, h);
            }
        }
        Value::Object(m) => {
            (5u8, m.len()).hash(h);
            for (k, x) in m {
                k.hash(h);
                hash_value(x, h);
            }
        }
    }
}

/// Kinds whose `status` is written through the status subresource, not with the object.
pub const STATUS_SUBRESOURCE_KINDS: &[&str] = &["ServiceImport"];

/// One object to server-side apply, built once and shared (behind an `Arc`) by every member
/// that gets it. The body and the status carry precomputed fingerprints, so a writer can tell
/// whether a member already holds it without looking at the JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    /// Its identity.
    pub key: Arc<ObjectKey>,
    /// [`ObjectKey::hash`] of `key`.
    pub key_hash: u64,
    /// The object, without `status` for the kinds in [`STATUS_SUBRESOURCE_KINDS`].
    pub body: Value,
    /// The `status` to write through the status subresource (ServiceImport `status.clusters`).
    pub status: Option<Value>,
    /// [`fingerprint`] of `body`.
    pub fingerprint: u64,
    /// [`fingerprint`] of `status` (0 without one).
    pub status_fingerprint: u64,
}

impl DesiredObject {
    /// Wraps a complete object; the `status` of a [`STATUS_SUBRESOURCE_KINDS`] kind is split
    /// off. `None` when the object lacks `apiVersion`, `kind` or `metadata.name`.
    pub fn new(mut obj: Value) -> Option<Self> {
        let key = ObjectKey::of(&obj)?;
        let status = if STATUS_SUBRESOURCE_KINDS.contains(&key.kind.as_str()) {
            obj.as_object_mut().and_then(|m| m.remove("status"))
        } else {
            None
        };
        Some(Self {
            key_hash: key.hash(),
            key: Arc::new(key),
            fingerprint: fingerprint(&obj),
            status_fingerprint: status.as_ref().map_or(0, fingerprint),
            body: obj,
            status,
        })
    }

    /// The complete object (body and status), as `reconcile` renders it.
    pub fn to_value(&self) -> Value {
        let mut v = self.body.clone();
        if let (Some(status), Some(m)) = (&self.status, v.as_object_mut()) {
            m.insert("status".to_owned(), status.clone());
        }
        v
    }

    /// The same object under another `apiVersion` (an MCS object for a member serving another
    /// MCS version; the schemas are identical).
    pub fn with_api_version(&self, api_version: &str) -> Option<Self> {
        let mut v = self.to_value();
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "apiVersion".to_owned(),
                Value::String(api_version.to_owned()),
            );
        }
        Self::new(v)
    }
}
