//! Istio multi-network objects: the east-west gateway (three install forms), the
//! `cross-network-gateway` Gateway, the istiod exposure for primary-remote, the network
//! label of the system namespace, the istiod install settings (sidecar and ambient, with the
//! ztunnel and CNI values of the ambient data plane), and the mesh networks with istiod's
//! checks of them.
//!
//! Every function is pure and deterministic: the same input gives the same object with
//! the same field order (the order of Istio's samples), so rendered YAML diffs cleanly.
//! Objects are `serde_json::Value` (Istio CRDs and install documents) or k8s-openapi
//! types (core objects).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};

use crate::clusterset::{ClusterSet, GatewayExposure, Member};
use isthmus_api::names;

/// Namespace of the Istio control plane and the east-west gateway.
pub const ISTIO_SYSTEM: &str = "istio-system";
/// Label naming the network of a namespace, gateway or pod.
pub const NETWORK_LABEL: &str = "topology.istio.io/network";
/// Service annotation choosing the nodes whose addresses Istio advertises for a NodePort gateway.
pub const NODE_SELECTOR_ANNOTATION: &str = "traffic.istio.io/nodeSelector";
/// Name of the east-west gateway component, Deployment and Service.
pub const EASTWEST_GATEWAY_NAME: &str = "istio-eastwestgateway";
/// Value of the `istio` label selecting the east-west gateway pods.
pub const EASTWEST_SELECTOR: &str = "eastwestgateway";
/// Name of the Gateway exposing services on the east-west gateway.
pub const CROSS_NETWORK_GATEWAY: &str = "cross-network-gateway";
/// Gateway class of Istio's ambient east-west gateway.
pub const EASTWEST_GATEWAY_CLASS: &str = "istio-east-west";
/// Port carrying mTLS traffic between networks (SNI routed, `AUTO_PASSTHROUGH`).
pub const TLS_PORT: u16 = crate::clusterset::GATEWAY_TLS_PORT;
/// Port of istiod's XDS/CA over TLS.
pub const ISTIOD_PORT: u16 = 15012;
/// Port exposing istiod's webhook on the gateway.
pub const WEBHOOK_PORT: u16 = 15017;
/// Health/status port of Istio gateways.
pub const STATUS_PORT: u16 = 15021;
/// HBONE port of the ambient east-west gateway.
pub const HBONE_PORT: u16 = 15008;
/// Service type of the east-west gateway of a member with `Static` exposure: `NodePort`
/// without the `traffic.istio.io/nodeSelector` annotation.
///
/// istiod advertises a network gateway from every Service labelled
/// `topology.istio.io/network` that has a load-balancer ingress address or `externalIPs`,
/// or that is a NodePort Service carrying that annotation
/// (`pilot/pkg/serviceregistry/kube/conversion.go`, `controller/network.go`
/// `extractGatewaysInner`), beside the gateways of the mesh networks (`pilot/pkg/model/network.go`
/// `reload`). A Static member must be reached at its listed addresses only, so its Service
/// must give istiod no address: a LoadBalancer Service would add the load balancer's. A
/// NodePort Service without the annotation gives none, and the external load balancer or NAT
/// in front of the gateway can still reach it on the node port (a ClusterIP Service would
/// leave it only the pod addresses).
pub const STATIC_SERVICE_TYPE: &str = "NodePort";

/// Name of istiod's Service and Deployment for a revision: `istiod`, or `istiod-<revision>`.
pub fn istiod_name(revision: Option<&str>) -> String {
    revision.map_or_else(|| "istiod".to_owned(), |r| format!("istiod-{r}"))
}

/// Errors from the generators' inputs.
#[derive(Debug, thiserror::Error)]
pub enum IstioError {
    /// A flag or field holds an invalid value.
    #[error("{field}: {value:?} {reason}")]
    Invalid {
        /// Flag or field name.
        field: String,
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A member named on the command line is not in the clusterset.
    #[error("cluster {0:?} is not a member of the clusterset")]
    UnknownMember(String),
}

fn check(field: &str, value: &str, result: Result<(), names::NameError>) -> Result<(), IstioError> {
    result.map_err(|why| IstioError::Invalid {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: why.to_string(),
    })
}

/// What the east-west gateway generators need to know about one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EastWestParams {
    /// Cluster name. Validated but not written: the current upstream script accepts
    /// `--cluster` and ignores it (the injected gateway takes the cluster from istiod).
    pub cluster: Option<String>,
    /// Network of the cluster (`topology.istio.io/network`); `None` for a single-cluster
    /// gateway (`--single-cluster`), which carries no network label, env or value.
    pub network: Option<String>,
    /// Mesh ID. Validated but not written, as `--mesh` in the current upstream script.
    pub mesh_id: Option<String>,
    /// Istio revision the gateway is injected by.
    pub revision: Option<String>,
    /// How the gateway Service is exposed.
    pub exposure: GatewayExposure,
}

impl EastWestParams {
    /// Parameters for a plain LoadBalancer gateway on `network`, validating the names.
    pub fn new(
        cluster: Option<&str>,
        network: &str,
        mesh_id: Option<&str>,
        revision: Option<&str>,
    ) -> Result<Self, IstioError> {
        if let Some(c) = cluster {
            check("cluster", c, names::rfc1123_label(c))?;
        }
        check("network", network, names::label_value_nonempty(network))?;
        if let Some(m) = mesh_id {
            check("mesh", m, names::label_value_nonempty(m))?;
        }
        let mut p = Self::single_cluster(revision)?;
        p.cluster = cluster.map(str::to_owned);
        p.network = Some(network.to_owned());
        p.mesh_id = mesh_id.map(str::to_owned);
        Ok(p)
    }

    /// Parameters for a gateway without network topology, as `gen-eastwest-gateway.sh
    /// --single-cluster` (a single-cluster mesh whose VMs reach istiod through it).
    pub fn single_cluster(revision: Option<&str>) -> Result<Self, IstioError> {
        if let Some(r) = revision {
            check("revision", r, names::rfc1123_label(r))?;
        }
        Ok(Self {
            cluster: None,
            network: None,
            mesh_id: None,
            revision: revision.map(str::to_owned),
            exposure: GatewayExposure::LoadBalancer,
        })
    }

    /// Parameters for a member of a (validated) clusterset.
    pub fn for_member(clusterset: &ClusterSet, member: &Member) -> Self {
        Self {
            cluster: Some(member.name.clone()),
            network: Some(member.network.clone()),
            mesh_id: Some(clusterset.mesh_id.clone()),
            revision: member.revision.clone(),
            exposure: member.east_west_gateway.clone(),
        }
    }
}

/// The JSON text of a node selector, as Istio's `traffic.istio.io/nodeSelector` expects.
fn node_selector_json(selector: &BTreeMap<String, String>) -> String {
    Value::Object(
        selector
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
    .to_string()
}

/// The east-west gateway Service ports, as upstream `gen-eastwest-gateway.sh` lists them.
/// `tls_node_port` sets a fixed node port on the `tls` (15443) port.
fn eastwest_ports(tls_node_port: Option<u16>) -> Value {
    let mut tls = json!({"name": "tls", "port": TLS_PORT, "targetPort": TLS_PORT});
    if let (Some(p), Some(obj)) = (tls_node_port, tls.as_object_mut()) {
        obj.insert("nodePort".to_owned(), json!(p));
    }
    json!([
        {"name": "status-port", "port": STATUS_PORT, "targetPort": STATUS_PORT},
        tls,
        {"name": "tls-istiod", "port": ISTIOD_PORT, "targetPort": ISTIOD_PORT},
        {"name": "tls-webhook", "port": WEBHOOK_PORT, "targetPort": WEBHOOK_PORT},
    ])
}

/// The east-west gateway as an `IstioOperator` for `istioctl install -f`, field for field
/// as the current upstream `samples/multicluster/gen-eastwest-gateway.sh` prints it:
/// `spec.revision` always present (`""` for the default revision), profile `empty`,
/// component `istio-eastwestgateway`, and, unless single-cluster, the network label, the
/// `ISTIO_META_REQUESTED_NETWORK_VIEW` env and `values.global.network`. NodePort exposure
/// adds the Service type, the fixed node port and the `traffic.istio.io/nodeSelector`
/// annotation; Static exposure adds the Service type [`STATIC_SERVICE_TYPE`] only.
pub fn eastwest_istio_operator(p: &EastWestParams) -> Value {
    let mut spec = Map::new();
    spec.insert(
        "revision".into(),
        json!(p.revision.as_deref().unwrap_or_default()),
    );
    spec.insert("profile".into(), json!("empty"));

    let mut service = Map::new();
    let mut annotations = None;
    match &p.exposure {
        GatewayExposure::NodePort {
            node_selector,
            node_port,
        } => {
            service.insert("type".into(), json!("NodePort"));
            service.insert("ports".into(), eastwest_ports(*node_port));
            annotations =
                Some(json!({ NODE_SELECTOR_ANNOTATION: node_selector_json(node_selector) }));
        }
        GatewayExposure::Static { .. } => {
            // Not advertisable by istiod: see `STATIC_SERVICE_TYPE`.
            service.insert("type".into(), json!(STATIC_SERVICE_TYPE));
            service.insert("ports".into(), eastwest_ports(None));
        }
        GatewayExposure::LoadBalancer => {
            service.insert("ports".into(), eastwest_ports(None));
        }
    }
    let mut label = Map::new();
    label.insert("istio".into(), json!(EASTWEST_SELECTOR));
    label.insert("app".into(), json!(EASTWEST_GATEWAY_NAME));
    let mut k8s = Map::new();
    if let Some(network) = &p.network {
        label.insert(NETWORK_LABEL.into(), json!(network));
        k8s.insert(
            "env".into(),
            json!([{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": network}]),
        );
    }
    k8s.insert("service".into(), Value::Object(service));
    if let Some(a) = annotations {
        k8s.insert("serviceAnnotations".into(), a);
    }
    spec.insert(
        "components".into(),
        json!({
            "ingressGateways": [{
                "name": EASTWEST_GATEWAY_NAME,
                "label": Value::Object(label),
                "enabled": true,
                "k8s": Value::Object(k8s),
            }]
        }),
    );
    let mut values = Map::new();
    values.insert(
        "gateways".into(),
        json!({"istio-ingressgateway": {"injectionTemplate": "gateway"}}),
    );
    if let Some(network) = &p.network {
        values.insert("global".into(), json!({"network": network}));
    }
    spec.insert("values".into(), Value::Object(values));
    json!({
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": "eastwest"},
        "spec": Value::Object(spec),
    })
}

/// Values for the `istio/gateway` Helm chart installing the east-west gateway, as Istio's
/// multi-network guide passes them (`helm install istio-eastwestgateway istio/gateway -n
/// istio-system --set name=istio-eastwestgateway --set networkGateway=<network>`).
///
/// `networkGateway` makes the chart add the network label, the
/// `ISTIO_META_REQUESTED_NETWORK_VIEW` env and the four east-west ports; the chart's default
/// labels for this name are already `app: istio-eastwestgateway, istio: eastwestgateway`
/// and its default Service type is `LoadBalancer`, so neither is repeated. A NodePort
/// gateway adds the Service type and the node selector annotation, a Static one the Service
/// type [`STATIC_SERVICE_TYPE`] without the annotation. The chart ignores
/// `service.ports` when `networkGateway` is set, so a fixed node port is expressed by
/// leaving `networkGateway` unset and giving the labels, env and ports explicitly.
pub fn eastwest_helm_values(p: &EastWestParams) -> Value {
    let mut v = Map::new();
    v.insert("name".into(), json!(EASTWEST_GATEWAY_NAME));
    if let Some(r) = &p.revision {
        v.insert("revision".into(), json!(r));
    }
    let fixed_node_port = match &p.exposure {
        GatewayExposure::NodePort {
            node_port: Some(np),
            ..
        } => Some(*np),
        _ => None,
    };
    match (&p.network, fixed_node_port) {
        (Some(network), None) => {
            v.insert("networkGateway".into(), json!(network));
        }
        (network, Some(_)) => {
            let mut labels = json!({"istio": EASTWEST_SELECTOR, "app": EASTWEST_GATEWAY_NAME});
            if let (Some(network), Some(map)) = (network, labels.as_object_mut()) {
                map.insert(NETWORK_LABEL.into(), json!(network));
            }
            v.insert("labels".into(), labels);
            if let Some(network) = network {
                v.insert(
                    "env".into(),
                    json!({"ISTIO_META_REQUESTED_NETWORK_VIEW": network}),
                );
            }
        }
        (None, None) => {}
    }
    match &p.exposure {
        GatewayExposure::NodePort {
            node_selector,
            node_port,
        } => {
            let mut service = Map::new();
            service.insert(
                "annotations".into(),
                json!({ NODE_SELECTOR_ANNOTATION: node_selector_json(node_selector) }),
            );
            service.insert("type".into(), json!("NodePort"));
            if node_port.is_some() {
                service.insert("ports".into(), eastwest_ports(*node_port));
            }
            v.insert("service".into(), Value::Object(service));
        }
        GatewayExposure::Static { .. } => {
            // Not advertisable by istiod: see `STATIC_SERVICE_TYPE`.
            v.insert("service".into(), json!({"type": STATIC_SERVICE_TYPE}));
        }
        GatewayExposure::LoadBalancer => {}
    }
    Value::Object(v)
}

/// The east-west gateway in the Gateway API form Istio documents for ambient multi-network
/// (`gen-eastwest-gateway.sh --ambient`): a `gateway.networking.k8s.io/v1` Gateway of class
/// `istio-east-west` with one HBONE listener on 15008 terminating Istio mTLS. Sidecar
/// meshes use the IstioOperator or Helm forms instead.
pub fn eastwest_gateway_api(p: &EastWestParams) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(EASTWEST_GATEWAY_NAME));
    metadata.insert("namespace".into(), json!(ISTIO_SYSTEM));
    let mut labels = Map::new();
    if let Some(network) = &p.network {
        labels.insert(NETWORK_LABEL.into(), json!(network));
    }
    if let Some(r) = &p.revision {
        labels.insert("istio.io/rev".into(), json!(r));
    }
    metadata.insert("labels".into(), Value::Object(labels));
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": Value::Object(metadata),
        "spec": {
            "gatewayClassName": EASTWEST_GATEWAY_CLASS,
            "listeners": [{
                "name": "mesh",
                "port": HBONE_PORT,
                "protocol": "HBONE",
                "tls": {
                    "mode": "Terminate",
                    "options": {"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"},
                },
            }],
        },
    })
}

/// Which hosts the `cross-network-gateway` accepts on 15443.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExposeHosts {
    /// `*.local`, as upstream `expose-services.yaml`: every service of the mesh.
    #[default]
    All,
    /// `*.svc.clusterset.local`: only traffic Istio addresses by clusterset names
    /// (Istio's MCS host mode). Traffic to `cluster.local` names is not accepted.
    Clusterset,
    /// These hosts only (exported services). A `name.ns.svc.clusterset.local` entry also
    /// admits `name.ns.svc.cluster.local`, the name Istio puts in the SNI.
    List(Vec<String>),
}

impl ExposeHosts {
    /// Parses the `--hosts` flag: `all`, `clusterset`, or a comma-separated list of
    /// service host names (a leading `*.` wildcard is allowed).
    pub fn parse(flag: &str) -> Result<Self, IstioError> {
        match flag.trim() {
            "" | "all" => Ok(Self::All),
            "clusterset" => Ok(Self::Clusterset),
            list => {
                let mut hosts = Vec::new();
                for h in list.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                    let bare = h.strip_prefix("*.").unwrap_or(h);
                    if !bare.contains('.') || names::rfc1123_subdomain(bare).is_err() {
                        return Err(IstioError::Invalid {
                            field: "hosts".into(),
                            value: h.into(),
                            reason: "is not a fully qualified service host name".into(),
                        });
                    }
                    hosts.push(h.to_owned());
                }
                if hosts.is_empty() {
                    return Err(IstioError::Invalid {
                        field: "hosts".into(),
                        value: flag.into(),
                        reason: "names no host".into(),
                    });
                }
                Ok(Self::List(hosts))
            }
        }
    }

    /// The `hosts` list of the Gateway server, deduplicated, in a stable order.
    pub fn hosts(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*.local".to_owned()],
            Self::Clusterset => vec!["*.svc.clusterset.local".to_owned()],
            Self::List(list) => {
                let mut out: Vec<String> = Vec::new();
                let mut push = |h: String| {
                    if !out.contains(&h) {
                        out.push(h);
                    }
                };
                for h in list {
                    if let Some(stem) = h.strip_suffix(".svc.clusterset.local") {
                        push(format!("{stem}.svc.cluster.local"));
                    }
                    push(h.clone());
                }
                out
            }
        }
    }
}

/// The `cross-network-gateway` Gateway (upstream `expose-services.yaml`): port 15443,
/// `AUTO_PASSTHROUGH`, on the pods labelled `istio: eastwestgateway`.
pub fn expose_services(hosts: &ExposeHosts) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": CROSS_NETWORK_GATEWAY, "namespace": ISTIO_SYSTEM},
        "spec": {
            "selector": {"istio": EASTWEST_SELECTOR},
            "servers": [{
                "port": {"number": TLS_PORT, "name": "tls", "protocol": "TLS"},
                "tls": {"mode": "AUTO_PASSTHROUGH"},
                "hosts": hosts.hosts(),
            }],
        },
    })
}

/// The istiod exposure of a primary cluster for primary-remote topologies: the
/// `istiod-gateway` Gateway (15012 and 15017, TLS `PASSTHROUGH`) and the VirtualService
/// routing both to istiod, as upstream `expose-istiod.yaml`; with a revision, as
/// `expose-istiod-rev.yaml.tmpl` (VirtualService `istiod-vs-<rev>` matching the revision's
/// SNI names and routing to `istiod-<rev>`).
pub fn expose_istiod(revision: Option<&str>) -> Vec<Value> {
    let gateway = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "istiod-gateway", "namespace": ISTIO_SYSTEM},
        "spec": {
            "selector": {"istio": EASTWEST_SELECTOR},
            "servers": [
                {
                    "port": {"name": "tls-istiod", "number": ISTIOD_PORT, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"},
                    "hosts": ["*"],
                },
                {
                    "port": {"name": "tls-istiodwebhook", "number": WEBHOOK_PORT, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"},
                    "hosts": ["*"],
                },
            ],
        },
    });
    let (vs_name, service, sni) = match revision {
        None => (
            "istiod-vs".to_owned(),
            istiod_name(None),
            vec!["*".to_owned()],
        ),
        Some(r) => (
            format!("istiod-vs-{r}"),
            istiod_name(Some(r)),
            vec![
                format!("istiod-{r}.{ISTIO_SYSTEM}.svc"),
                format!("istiod-{r}.{ISTIO_SYSTEM}.svc.cluster.local"),
            ],
        ),
    };
    let host = format!("{service}.{ISTIO_SYSTEM}.svc.cluster.local");
    let virtual_service = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": vs_name, "namespace": ISTIO_SYSTEM},
        "spec": {
            "hosts": ["*"],
            "gateways": ["istiod-gateway"],
            "tls": [
                {
                    "match": [{"port": ISTIOD_PORT, "sniHosts": sni}],
                    "route": [{"destination": {"host": host, "port": {"number": ISTIOD_PORT}}}],
                },
                {
                    "match": [{"port": WEBHOOK_PORT, "sniHosts": sni}],
                    "route": [{"destination": {"host": host, "port": {"number": 443}}}],
                },
            ],
        },
    });
    vec![gateway, virtual_service]
}

/// Labels that put a namespace on a network (`topology.istio.io/network: <network>`).
pub fn network_namespace_labels(network: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(NETWORK_LABEL.to_owned(), network.to_owned())])
}

/// The `istio-system` Namespace labelled with the cluster's network, which sets the
/// default network of the cluster's workloads.
pub fn network_namespace(network: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(ISTIO_SYSTEM.to_owned()),
            labels: Some(network_namespace_labels(network)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// Name of the ConfigMap in `istio-system` whose `meshNetworks` key istiod reads ahead of its
/// own mesh networks, through [`SHARED_MESH_CONFIG_ENV`]. The controller keeps it in sync.
pub const MESH_NETWORKS_CONFIGMAP: &str = "isthmus-mesh-networks";
/// Key holding the mesh networks document, in that ConfigMap as in istiod's own `istio`
/// ConfigMap (`MeshNetworksKey` in Istio's `pkg/config/mesh/kubemesh/watcher.go`).
pub const MESH_NETWORKS_KEY: &str = "meshNetworks";
/// istiod env naming an extra ConfigMap, in istiod's namespace, that istiod reads mesh
/// config and mesh networks from (`SharedMeshConfig` in `pilot/pkg/features/pilot.go`).
pub const SHARED_MESH_CONFIG_ENV: &str = "SHARED_MESH_CONFIG";
/// istiod env: only exported services are reachable from other clusters
/// (`pilot/pkg/features/experimental.go`).
pub const ENABLE_MCS_SERVICE_DISCOVERY_ENV: &str = "ENABLE_MCS_SERVICE_DISCOVERY";
/// istiod env: a `<svc>.<ns>.svc.clusterset.local` service with the ServiceImport's IPs;
/// needs [`ENABLE_MCS_SERVICE_DISCOVERY_ENV`] (`pilot/pkg/features/experimental.go`).
pub const ENABLE_MCS_HOST_ENV: &str = "ENABLE_MCS_HOST";
/// istiod env: `cluster.local` names reach the caller's own cluster only; needs
/// [`ENABLE_MCS_HOST_ENV`] (`pilot/pkg/features/experimental.go`).
pub const ENABLE_MCS_CLUSTER_LOCAL_ENV: &str = "ENABLE_MCS_CLUSTER_LOCAL";
/// istiod env: the MCS API version istiod watches (`pilot/pkg/features/experimental.go`).
pub const MCS_API_VERSION_ENV: &str = "MCS_API_VERSION";
/// The MCS API version written to [`MCS_API_VERSION_ENV`]: istiod's default, served by the
/// MCS CRDs Isthmus installs (they serve `v1alpha1` and `v1beta1`).
pub const MCS_API_VERSION: &str = "v1alpha1";
/// istiod env switching on ambient multi-network (`pilot/pkg/features/ambient.go`; read only
/// when `PILOT_ENABLE_AMBIENT` is on, which the `ambient` profile sets).
pub const AMBIENT_ENABLE_MULTI_NETWORK_ENV: &str = "AMBIENT_ENABLE_MULTI_NETWORK";
/// Install profile of the ambient data plane (istioctl `spec.profile`, Helm `profile`).
pub const AMBIENT_PROFILE: &str = "ambient";

/// The istiod install settings of one cluster.
///
/// Every output carries `meshID`, `multiCluster.clusterName` and `network` (as Istio's
/// multi-primary multi-network guides) and istiod's environment ([`IstiodSettings::env`]):
/// the MCS switches, so istiod routes ServiceImport IPs for `clusterset.local` names, and
/// `SHARED_MESH_CONFIG`, so istiod also reads the mesh networks the controller writes.
#[derive(Debug, Clone, PartialEq)]
pub struct IstiodSettings {
    /// `values.global.meshID`.
    pub mesh_id: String,
    /// `values.global.multiCluster.clusterName`.
    pub cluster_name: String,
    /// `values.global.network`.
    pub network: String,
    /// Istio revision, if any.
    pub revision: Option<String>,
    /// `meshConfig.trustDomain`; omitted from the output when it is `cluster.local`.
    pub trust_domain: String,
    /// `values.global.meshNetworks`, when some gateway has no load-balancer address.
    pub mesh_networks: Option<Value>,
    /// Adds `ENABLE_MCS_CLUSTER_LOCAL=true`: `<svc>.<ns>.svc.cluster.local` then reaches the
    /// caller's own cluster only, as the MCS specification defines `cluster.local`.
    pub mcs_cluster_local: bool,
    /// The ambient form: profile `ambient` and `AMBIENT_ENABLE_MULTI_NETWORK=true`, as
    /// Istio's ambient multi-primary multi-network guide installs istiod.
    pub ambient: bool,
}

impl IstiodSettings {
    /// Settings for one member of a clusterset (the sidecar form; set
    /// [`IstiodSettings::ambient`] for the ambient one).
    pub fn for_member(clusterset: &ClusterSet, member: &Member) -> Self {
        Self {
            mesh_id: clusterset.mesh_id.clone(),
            cluster_name: member.name.clone(),
            network: member.network.clone(),
            revision: member.revision.clone(),
            trust_domain: clusterset.trust_domain.clone(),
            mesh_networks: mesh_networks(clusterset),
            mcs_cluster_local: clusterset.mcs_cluster_local,
            ambient: false,
        }
    }

    /// Settings of the member called `cluster`.
    pub fn for_cluster(clusterset: &ClusterSet, cluster: &str) -> Result<Self, IstioError> {
        let member = clusterset
            .member(cluster)
            .ok_or_else(|| IstioError::UnknownMember(cluster.to_owned()))?;
        Ok(Self::for_member(clusterset, member))
    }

    /// istiod's environment, in the order written. Values are strings, as container env
    /// values are:
    /// - `ENABLE_MCS_SERVICE_DISCOVERY`, `ENABLE_MCS_HOST`: `"true"`; with both istiod
    ///   builds `<svc>.<ns>.svc.clusterset.local` from each ServiceImport and routes its
    ///   `spec.ips` (`serviceimportcache.go`), and a cluster's endpoints reach other
    ///   clusters only while the Service is exported there (`serviceexportcache.go`);
    /// - `ENABLE_MCS_CLUSTER_LOCAL`: `"true"`, only with [`IstiodSettings::mcs_cluster_local`];
    /// - `MCS_API_VERSION`: [`MCS_API_VERSION`], written out so an Istio with another
    ///   default keeps reading the version the CRDs serve;
    /// - `SHARED_MESH_CONFIG`: [`MESH_NETWORKS_CONFIGMAP`];
    /// - ambient form only: `AMBIENT_ENABLE_MULTI_NETWORK`: `"true"`.
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        let mut env = vec![
            (ENABLE_MCS_SERVICE_DISCOVERY_ENV, "true"),
            (ENABLE_MCS_HOST_ENV, "true"),
        ];
        if self.mcs_cluster_local {
            env.push((ENABLE_MCS_CLUSTER_LOCAL_ENV, "true"));
        }
        env.push((MCS_API_VERSION_ENV, MCS_API_VERSION));
        env.push((SHARED_MESH_CONFIG_ENV, MESH_NETWORKS_CONFIGMAP));
        if self.ambient {
            env.push((AMBIENT_ENABLE_MULTI_NETWORK_ENV, "true"));
        }
        env
    }

    /// The env as a map, for `values.pilot.env` (IstioOperator) and `env` (Helm). Without
    /// `AMBIENT_ENABLE_MULTI_NETWORK` when `with_ambient` is false.
    fn env_map(&self, with_ambient: bool) -> Value {
        Value::Object(
            self.env()
                .into_iter()
                .filter(|(k, _)| with_ambient || *k != AMBIENT_ENABLE_MULTI_NETWORK_ENV)
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect(),
        )
    }

    fn global(&self) -> Value {
        let mut global = Map::new();
        global.insert("meshID".into(), json!(self.mesh_id));
        global.insert(
            "multiCluster".into(),
            json!({"clusterName": self.cluster_name}),
        );
        global.insert("network".into(), json!(self.network));
        if let Some(mn) = &self.mesh_networks {
            global.insert("meshNetworks".into(), mn.clone());
        }
        Value::Object(global)
    }

    fn mesh_config(&self) -> Option<Value> {
        (self.trust_domain != crate::clusterset::DEFAULT_TRUST_DOMAIN)
            .then(|| json!({"trustDomain": self.trust_domain}))
    }

    /// The settings as an `IstioOperator` for `istioctl install -f` (no metadata, as the
    /// `cluster1.yaml` of Istio's multi-primary multi-network guides).
    ///
    /// The env goes to `values.pilot.env`, as Istio's MCS integration tests pass it
    /// (`tests/integration/pilot/mcs/discoverability/discoverability_test.go`); istioctl
    /// hands `pilot.*` to the istiod chart, which copies it to the top level
    /// (`templates/zzy_descope_legacy.yaml`) where the Deployment reads `.Values.env`. The
    /// ambient form adds `profile: ambient` and puts `AMBIENT_ENABLE_MULTI_NETWORK` under
    /// `components.pilot.k8s.env`, as the ambient guide's `cluster1.yaml`.
    pub fn istio_operator(&self) -> Value {
        let mut spec = Map::new();
        if self.ambient {
            spec.insert("profile".into(), json!(AMBIENT_PROFILE));
        }
        if let Some(r) = &self.revision {
            spec.insert("revision".into(), json!(r));
        }
        if let Some(mc) = self.mesh_config() {
            spec.insert("meshConfig".into(), mc);
        }
        if self.ambient {
            spec.insert(
                "components".into(),
                json!({"pilot": {"k8s": {"env": [
                    {"name": AMBIENT_ENABLE_MULTI_NETWORK_ENV, "value": "true"}
                ]}}}),
            );
        }
        spec.insert(
            "values".into(),
            json!({"global": self.global(), "pilot": {"env": self.env_map(false)}}),
        );
        json!({
            "apiVersion": "install.istio.io/v1alpha1",
            "kind": "IstioOperator",
            "spec": Value::Object(spec),
        })
    }

    /// The settings as values for the `istio/istiod` Helm chart. The chart reads istiod's
    /// env from the top-level `env` (`templates/deployment.yaml`, `.Values.env`; the 1.30
    /// chart keeps the former `pilot.*` values at the top level). The ambient form adds
    /// `profile: ambient` and `AMBIENT_ENABLE_MULTI_NETWORK`, as the ambient guide's
    /// `helm install istiod ... --set profile=ambient --set env.AMBIENT_ENABLE_MULTI_NETWORK="true"`.
    pub fn helm_values(&self) -> Value {
        let mut v = Map::new();
        if self.ambient {
            v.insert("profile".into(), json!(AMBIENT_PROFILE));
        }
        if let Some(r) = &self.revision {
            v.insert("revision".into(), json!(r));
        }
        if let Some(mc) = self.mesh_config() {
            v.insert("meshConfig".into(), mc);
        }
        v.insert("global".into(), self.global());
        v.insert("env".into(), self.env_map(true));
        Value::Object(v)
    }

    /// Values for the `istio/ztunnel` Helm chart of the ambient data plane, as the ambient
    /// guide installs it (`--set multiCluster.clusterName=<cluster> --set
    /// global.network=<network>`), plus `revision` when there is one. Without the cluster
    /// name ztunnel reports cluster `Kubernetes` (`templates/daemonset.yaml`,
    /// `ISTIO_META_CLUSTER_ID`); the chart copies `global.*` to the top level, where it
    /// reads `network` (`templates/zzz_profile.yaml`).
    pub fn ztunnel_helm_values(&self) -> Value {
        let mut v = Map::new();
        if let Some(r) = &self.revision {
            v.insert("revision".into(), json!(r));
        }
        v.insert(
            "multiCluster".into(),
            json!({"clusterName": self.cluster_name}),
        );
        v.insert("global".into(), json!({"network": self.network}));
        Value::Object(v)
    }

    /// Values for the `istio/cni` Helm chart of the ambient data plane, as the ambient guide
    /// installs it (`--set profile=ambient`).
    pub fn cni_helm_values(&self) -> Value {
        json!({"profile": AMBIENT_PROFILE})
    }
}

/// One member as the mesh networks see it.
#[derive(Debug, Clone, Copy)]
pub struct NetworkMember<'a> {
    /// Cluster name (the `fromRegistry` of its endpoints).
    pub name: &'a str,
    /// Network ID.
    pub network: &'a str,
    /// How its east-west gateway is reached.
    pub exposure: &'a GatewayExposure,
}

/// `values.global.meshNetworks` for a clusterset, or `None` when every gateway is a
/// LoadBalancer (Istio then finds each network's gateway from the labelled Service).
pub fn mesh_networks(clusterset: &ClusterSet) -> Option<Value> {
    mesh_networks_of(clusterset.members.iter().map(|m| NetworkMember {
        name: &m.name,
        network: &m.network,
        exposure: &m.east_west_gateway,
    }))
}

/// Mesh networks for any list of members, or `None` when every gateway is a LoadBalancer.
///
/// Each network with at least one NodePort or Static gateway gets an entry: its endpoints
/// come `fromRegistry` of each member cluster, and its gateways are the Static addresses
/// (port as given, 15443 by default) and, for NodePort, the gateway Service by name on
/// 15443 (Istio maps it to the node port and the selected nodes' addresses).
pub fn mesh_networks_of<'a>(members: impl IntoIterator<Item = NetworkMember<'a>>) -> Option<Value> {
    let mut by_network: BTreeMap<&str, Vec<NetworkMember<'a>>> = BTreeMap::new();
    for m in members {
        by_network.entry(m.network).or_default().push(m);
    }
    let mut out = Map::new();
    for (network, members) in by_network {
        let needs = members
            .iter()
            .any(|m| !matches!(m.exposure, GatewayExposure::LoadBalancer));
        if !needs {
            continue;
        }
        let endpoints: Vec<Value> = members
            .iter()
            .map(|m| json!({"fromRegistry": m.name}))
            .collect();
        let mut gateways: Vec<Value> = Vec::new();
        let mut registry_gateway = false;
        for m in &members {
            match m.exposure {
                GatewayExposure::Static { addresses, port } => {
                    for a in addresses {
                        let gw = json!({"address": a, "port": port.unwrap_or(TLS_PORT)});
                        if !gateways.contains(&gw) {
                            gateways.push(gw);
                        }
                    }
                }
                GatewayExposure::NodePort { .. } => registry_gateway = true,
                GatewayExposure::LoadBalancer => {}
            }
        }
        if registry_gateway {
            gateways.push(json!({
                "registryServiceName": format!("{EASTWEST_GATEWAY_NAME}.{ISTIO_SYSTEM}.svc.cluster.local"),
                "port": TLS_PORT,
            }));
        }
        out.insert(
            network.to_owned(),
            json!({"endpoints": endpoints, "gateways": gateways}),
        );
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The document istiod parses from the [`MESH_NETWORKS_KEY`] key of a ConfigMap:
/// `networks:` followed by `networks` (the value [`mesh_networks_of`] returns), the shape of
/// Istio's `MeshNetworks` (`mesh.ParseMeshNetworks` in `pkg/config/mesh/mesh.go`) and what the
/// istiod chart writes into its own ConfigMap (`networks:` over `global.meshNetworks`, or
/// `networks: {}`).
///
/// For the `meshNetworks` key of the [`MESH_NETWORKS_CONFIGMAP`] ConfigMap. istiod takes the
/// first source that has the key (that ConfigMap, then its own) and falls back to the last
/// valid networks (empty at start) when the document is invalid, so check the networks with
/// [`validate_mesh_networks`] first. An empty object gives `networks: {}`, which also wins over
/// istiod's own networks. The YAML is in the project's one style; should the serializer ever
/// fail, the JSON text is returned instead (JSON is YAML, and istiod reads it alike).
pub fn mesh_networks_yaml(networks: &Value) -> String {
    let doc = json!({ "networks": networks });
    isthmus_api::yaml::to_string(&doc).unwrap_or_else(|_| doc.to_string())
}

/// Checks `address` as istiod checks a mesh-networks gateway address
/// (`validateNetwork` in `pkg/config/validation/agent/validation.go`): an IP address, or
/// (with `RESOLVE_HOSTNAME_GATEWAYS`, on by default in `pilot/pkg/features/pilot.go`) a DNS
/// name: dot-separated RFC 1123 labels, at most 253 characters, one trailing dot allowed,
/// and a last label that is not all digits. Stricter than istiod in two corners: DNS names
/// are checked in lowercase form and IPv6 zones (`%eth0`) are refused.
pub fn check_gateway_address(address: &str) -> Result<(), IstioError> {
    names::address(address).map_err(|_| IstioError::Invalid {
        field: "address".into(),
        value: address.to_owned(),
        reason: "is neither an IP address nor a DNS name istiod accepts (a DNS name's last label must not be all digits)".into(),
    })
}

/// Checks mesh networks (the value of `values.global.meshNetworks`, or what goes under
/// `networks:` in [`mesh_networks_yaml`]) as istiod does before using them
/// (`ValidateMeshNetworks`/`validateNetwork` in `pkg/config/validation/agent/validation.go`),
/// plus the shape of Istio's `MeshNetworks` (`mesh/v1alpha1/network.proto` of istio/api):
/// an object of networks, each with `endpoints` (one of `fromRegistry`, a DNS-1123 label, or
/// `fromCidr`, an IP or CIDR) and `gateways` (one of `address`, see
/// [`check_gateway_address`], or `registryServiceName`, a DNS name; `port` 1-65535).
/// istiod drops invalid mesh networks as a whole, so one bad entry loses every gateway.
pub fn validate_mesh_networks(networks: &Value) -> Result<(), IstioError> {
    let bad = |field: String, value: &Value, reason: &str| IstioError::Invalid {
        field,
        value: match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        reason: reason.to_owned(),
    };
    let Some(networks) = networks.as_object() else {
        return Err(bad(
            "networks".into(),
            networks,
            "is not an object of networks",
        ));
    };
    for (name, network) in networks {
        let at = format!("networks.{name}");
        let Some(fields) = network.as_object() else {
            return Err(bad(at, network, "is not a network object"));
        };
        if let Some(k) = fields
            .keys()
            .find(|k| !["endpoints", "gateways"].contains(&k.as_str()))
        {
            return Err(bad(
                format!("{at}.{k}"),
                &fields[k],
                "is not a field of a network",
            ));
        }
        let list = |key: &str| -> Result<Vec<Value>, IstioError> {
            match fields.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(other) => Err(bad(format!("{at}.{key}"), other, "is not a list")),
            }
        };
        for (i, e) in list("endpoints")?.iter().enumerate() {
            let at = format!("{at}.endpoints[{i}]");
            match one_of(e, &["fromRegistry", "fromCidr"]) {
                Some(("fromRegistry", Value::String(r))) => {
                    // Istio's IsDNS1123Label also admits upper case.
                    if names::rfc1123_label(&r.to_ascii_lowercase()).is_err() {
                        return Err(bad(
                            format!("{at}.fromRegistry"),
                            &json!(r),
                            "is not a DNS-1123 label",
                        ));
                    }
                }
                Some(("fromCidr", Value::String(c))) => {
                    if !is_ip_or_cidr(c) {
                        return Err(bad(
                            format!("{at}.fromCidr"),
                            &json!(c),
                            "is not an IP address or CIDR block",
                        ));
                    }
                }
                _ => {
                    return Err(bad(
                        at,
                        e,
                        "needs exactly one of fromRegistry, fromCidr (strings)",
                    ));
                }
            }
        }
        for (i, g) in list("gateways")?.iter().enumerate() {
            let at = format!("{at}.gateways[{i}]");
            match one_of(g, &["address", "registryServiceName"]) {
                Some(("address", Value::String(a))) => {
                    check_gateway_address(a).map_err(|e| match e {
                        IstioError::Invalid { value, reason, .. } => IstioError::Invalid {
                            field: format!("{at}.address"),
                            value,
                            reason,
                        },
                        other => other,
                    })?;
                }
                Some(("registryServiceName", Value::String(n))) => {
                    let lower = n.to_ascii_lowercase();
                    if names::rfc1123_subdomain(lower.strip_suffix('.').unwrap_or(&lower)).is_err()
                    {
                        return Err(bad(
                            format!("{at}.registryServiceName"),
                            &json!(n),
                            "is not a DNS name",
                        ));
                    }
                }
                _ => {
                    return Err(bad(
                        at,
                        g,
                        "needs exactly one of address, registryServiceName (strings)",
                    ));
                }
            }
            match g.get("port").and_then(Value::as_u64) {
                Some(p) if (1..=65535).contains(&p) => {}
                _ => {
                    return Err(bad(
                        format!("{at}.port"),
                        g.get("port").unwrap_or(&Value::Null),
                        "is not a port number in 1..65535",
                    ));
                }
            }
            if let Some(k) = g.as_object().and_then(|o| {
                o.keys().find(|k| {
                    !["address", "registryServiceName", "port", "locality"].contains(&k.as_str())
                })
            }) {
                return Err(bad(
                    format!("{at}.{k}"),
                    &g[k],
                    "is not a field of a network gateway",
                ));
            }
        }
    }
    Ok(())
}

/// The one key of `obj` among `keys` and its value, or `None` when there is not exactly one.
fn one_of<'v>(obj: &'v Value, keys: &[&'static str]) -> Option<(&'static str, &'v Value)> {
    let mut found = keys.iter().filter_map(|k| obj.get(*k).map(|v| (*k, v)));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// An IP address, or an IP prefix `a.b.c.d/n` / `x::/n` with a valid length.
fn is_ip_or_cidr(s: &str) -> bool {
    match s.split_once('/') {
        None => s.parse::<std::net::IpAddr>().is_ok(),
        Some((ip, len)) => match (ip.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(l)) => l <= 32 && !len.starts_with('+'),
            (Ok(std::net::IpAddr::V6(_)), Ok(l)) => l <= 128 && !len.starts_with('+'),
            _ => false,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::Path;

    use super::*;

    fn params() -> EastWestParams {
        EastWestParams::new(Some("cluster1"), "network1", Some("mesh1"), None).unwrap()
    }

    #[test]
    fn operator_matches_upstream_script_fields() {
        let iop = eastwest_istio_operator(&params());
        assert_eq!(iop["spec"]["profile"], "empty");
        let gw = &iop["spec"]["components"]["ingressGateways"][0];
        assert_eq!(gw["name"], "istio-eastwestgateway");
        assert_eq!(gw["label"]["istio"], "eastwestgateway");
        assert_eq!(gw["label"]["app"], "istio-eastwestgateway");
        assert_eq!(gw["label"]["topology.istio.io/network"], "network1");
        assert_eq!(gw["enabled"], true);
        assert_eq!(
            gw["k8s"]["env"],
            json!([{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": "network1"}])
        );
        let ports = gw["k8s"]["service"]["ports"].as_array().unwrap();
        let pairs: Vec<(String, u64, u64)> = ports
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["port"].as_u64().unwrap(),
                    p["targetPort"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("status-port".to_owned(), 15021, 15021),
                ("tls".to_owned(), 15443, 15443),
                ("tls-istiod".to_owned(), 15012, 15012),
                ("tls-webhook".to_owned(), 15017, 15017)
            ]
        );
        assert_eq!(
            iop["spec"]["values"]["gateways"]["istio-ingressgateway"]["injectionTemplate"],
            "gateway"
        );
        // The current script ignores --mesh and --cluster: global holds the network only.
        assert_eq!(
            iop["spec"]["values"]["global"],
            json!({"network": "network1"})
        );
        assert!(!iop.to_string().contains("ISTIO_META_ROUTER_MODE"));
        // `revision: "${REVISION}"` is always printed, empty for the default revision.
        assert_eq!(iop["spec"]["revision"], "");
    }

    #[test]
    fn operator_nodeport_and_revision() {
        let mut p = EastWestParams::new(Some("c"), "n", None, Some("canary")).unwrap();
        p.exposure = GatewayExposure::NodePort {
            node_selector: BTreeMap::from([("gw".to_owned(), "yes".to_owned())]),
            node_port: Some(31443),
        };
        let iop = eastwest_istio_operator(&p);
        assert_eq!(iop["spec"]["revision"], "canary");
        let k8s = &iop["spec"]["components"]["ingressGateways"][0]["k8s"];
        assert_eq!(k8s["service"]["type"], "NodePort");
        assert_eq!(k8s["service"]["ports"][1]["nodePort"], 31443);
        assert_eq!(
            k8s["serviceAnnotations"]["traffic.istio.io/nodeSelector"],
            r#"{"gw":"yes"}"#
        );
        assert!(iop["spec"]["values"]["global"].get("meshID").is_none());
        let helm = eastwest_helm_values(&p);
        assert!(helm.get("networkGateway").is_none());
        assert_eq!(helm["env"]["ISTIO_META_REQUESTED_NETWORK_VIEW"], "n");
        assert_eq!(helm["labels"]["topology.istio.io/network"], "n");
        assert_eq!(helm["service"]["ports"][1]["nodePort"], 31443);
        assert_eq!(helm["revision"], "canary");
    }

    #[test]
    fn helm_values_use_network_gateway() {
        // Exactly the two values of the guide's `helm install ... --set name=... --set
        // networkGateway=...`; the chart's defaults give the rest.
        let v = eastwest_helm_values(&params());
        assert_eq!(
            v,
            json!({"name": "istio-eastwestgateway", "networkGateway": "network1"})
        );
    }

    #[test]
    fn single_cluster_gateway_has_no_network_topology() {
        let p = EastWestParams::single_cluster(None).unwrap();
        let iop = eastwest_istio_operator(&p);
        let gw = &iop["spec"]["components"]["ingressGateways"][0];
        assert_eq!(
            gw["label"],
            json!({"istio": "eastwestgateway", "app": "istio-eastwestgateway"})
        );
        assert!(gw["k8s"].get("env").is_none());
        assert_eq!(gw["k8s"]["service"]["ports"].as_array().unwrap().len(), 4);
        assert_eq!(
            iop["spec"]["values"],
            json!({"gateways": {"istio-ingressgateway": {"injectionTemplate": "gateway"}}})
        );
        assert_eq!(
            eastwest_helm_values(&p),
            json!({"name": "istio-eastwestgateway"})
        );
        assert!(EastWestParams::single_cluster(Some("Bad")).is_err());
    }

    #[test]
    fn gateway_api_form() {
        let g = eastwest_gateway_api(&params());
        assert_eq!(g["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(g["spec"]["gatewayClassName"], "istio-east-west");
        assert_eq!(
            g["metadata"]["labels"]["topology.istio.io/network"],
            "network1"
        );
        assert_eq!(g["spec"]["listeners"][0]["port"], 15008);
        assert_eq!(g["spec"]["listeners"][0]["protocol"], "HBONE");
    }

    #[test]
    fn expose_services_hosts() {
        let g = expose_services(&ExposeHosts::All);
        assert_eq!(g["metadata"]["name"], "cross-network-gateway");
        assert_eq!(g["spec"]["servers"][0]["tls"]["mode"], "AUTO_PASSTHROUGH");
        assert_eq!(g["spec"]["servers"][0]["hosts"], json!(["*.local"]));
        assert_eq!(ExposeHosts::parse("all").unwrap(), ExposeHosts::All);
        assert_eq!(ExposeHosts::Clusterset.hosts(), ["*.svc.clusterset.local"]);
        let list = ExposeHosts::parse(
            "a.b.svc.cluster.local, c.d.svc.clusterset.local,a.b.svc.cluster.local",
        )
        .unwrap();
        assert_eq!(
            list.hosts(),
            [
                "a.b.svc.cluster.local",
                "c.d.svc.cluster.local",
                "c.d.svc.clusterset.local"
            ]
        );
        assert!(ExposeHosts::parse("reviews").is_err());
        assert!(ExposeHosts::parse("bad host.svc").is_err());
        assert!(ExposeHosts::parse(",").is_err());
    }

    #[test]
    fn expose_istiod_default_and_revision() {
        let objs = expose_istiod(None);
        assert_eq!(objs[0]["metadata"]["name"], "istiod-gateway");
        assert_eq!(objs[1]["metadata"]["name"], "istiod-vs");
        assert_eq!(
            objs[1]["spec"]["tls"][1]["route"][0]["destination"]["port"]["number"],
            443
        );
        assert_eq!(
            objs[1]["spec"]["tls"][0]["route"][0]["destination"]["host"],
            "istiod.istio-system.svc.cluster.local"
        );
        let rev = expose_istiod(Some("canary"));
        assert_eq!(rev[1]["metadata"]["name"], "istiod-vs-canary");
        assert_eq!(
            rev[1]["spec"]["tls"][0]["match"][0]["sniHosts"],
            json!([
                "istiod-canary.istio-system.svc",
                "istiod-canary.istio-system.svc.cluster.local"
            ])
        );
        assert_eq!(
            rev[1]["spec"]["tls"][1]["route"][0]["destination"]["host"],
            "istiod-canary.istio-system.svc.cluster.local"
        );
    }

    #[test]
    fn cluster_and_mesh_do_not_change_the_gateway() {
        let bare = EastWestParams::new(None, "network1", None, None).unwrap();
        assert_eq!(
            eastwest_istio_operator(&bare),
            eastwest_istio_operator(&params())
        );
        assert_eq!(eastwest_helm_values(&bare), eastwest_helm_values(&params()));
    }

    #[test]
    fn params_reject_bad_names() {
        assert!(EastWestParams::new(Some("Bad_Name"), "n", None, None).is_err());
        assert!(EastWestParams::new(Some("c"), "", None, None).is_err());
        assert!(EastWestParams::new(Some("c"), "n", None, Some("Rev")).is_err());
    }

    #[test]
    fn istiod_settings_and_mesh_networks() {
        let cs = ClusterSet::from_yaml(
            "meshID: m\ntrustDomain: example.org\nmembers:\n- {name: a, network: n1}\n- {name: b, network: n2, eastWestGateway: {exposure: Static, addresses: [192.0.2.1], port: 443}}\n- {name: c, network: n2, eastWestGateway: {exposure: NodePort, nodeSelector: {x: y}}}\n",
            Path::new("cs.yaml"),
        )
        .unwrap();
        let mn = mesh_networks(&cs).unwrap();
        assert!(mn.get("n1").is_none());
        assert_eq!(
            mn["n2"]["endpoints"],
            json!([{"fromRegistry": "b"}, {"fromRegistry": "c"}])
        );
        assert_eq!(
            mn["n2"]["gateways"],
            json!([{"address": "192.0.2.1", "port": 443}, {"registryServiceName": "istio-eastwestgateway.istio-system.svc.cluster.local", "port": 15443}])
        );
        let s = IstiodSettings::for_cluster(&cs, "a").unwrap();
        let iop = s.istio_operator();
        assert_eq!(iop["spec"]["values"]["global"]["meshID"], "m");
        assert_eq!(
            iop["spec"]["values"]["global"]["multiCluster"]["clusterName"],
            "a"
        );
        assert_eq!(iop["spec"]["values"]["global"]["network"], "n1");
        assert_eq!(iop["spec"]["meshConfig"]["trustDomain"], "example.org");
        assert_eq!(s.helm_values()["global"]["meshNetworks"], mn);
        assert!(IstiodSettings::for_cluster(&cs, "zz").is_err());
        let lb_only = ClusterSet::from_yaml(
            "meshID: m\nmembers:\n- {name: a, network: n1}\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(mesh_networks(&lb_only), None);
        let s = IstiodSettings::for_cluster(&lb_only, "a").unwrap();
        assert!(s.helm_values().get("meshConfig").is_none());
    }

    #[test]
    fn static_gateways_default_to_15443_and_are_listed_once() {
        let cs = ClusterSet::from_yaml(
            "meshID: m\nmembers:\n- {name: a, network: n, eastWestGateway: {exposure: Static, addresses: [gw.example.com]}}\n- {name: b, network: n, eastWestGateway: {exposure: Static, addresses: [gw.example.com]}}\n",
            Path::new("cs.yaml"),
        )
        .unwrap();
        let mn = mesh_networks(&cs).unwrap();
        assert_eq!(
            mn["n"]["gateways"],
            json!([{"address": "gw.example.com", "port": 15443}])
        );
        assert_eq!(
            mn["n"]["endpoints"],
            json!([{"fromRegistry": "a"}, {"fromRegistry": "b"}])
        );
    }

    #[test]
    fn wildcard_clusterset_hosts_admit_their_cluster_local_names() {
        let hosts = ExposeHosts::parse("*.shop.svc.clusterset.local").unwrap();
        assert_eq!(
            hosts.hosts(),
            ["*.shop.svc.cluster.local", "*.shop.svc.clusterset.local"]
        );
    }

    fn golden_like() -> ClusterSet {
        ClusterSet::from_yaml(
            "meshID: m\ntrustDomain: example.org\nmembers:\n- {name: a, network: n1, revision: canary}\n- {name: b, network: n2, eastWestGateway: {exposure: Static, addresses: [192.0.2.1, gw.example.com.], port: 443}}\n- {name: c, network: n2, eastWestGateway: {exposure: NodePort, nodeSelector: {x: y}}}\n",
            Path::new("cs.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn istiod_env_has_the_mcs_switches_and_the_shared_mesh_config() {
        let cs = golden_like();
        let s = IstiodSettings::for_cluster(&cs, "a").unwrap();
        assert_eq!(
            s.env(),
            [
                ("ENABLE_MCS_SERVICE_DISCOVERY", "true"),
                ("ENABLE_MCS_HOST", "true"),
                ("MCS_API_VERSION", "v1alpha1"),
                ("SHARED_MESH_CONFIG", "isthmus-mesh-networks"),
            ]
        );
        let env = json!({
            "ENABLE_MCS_SERVICE_DISCOVERY": "true",
            "ENABLE_MCS_HOST": "true",
            "MCS_API_VERSION": "v1alpha1",
            "SHARED_MESH_CONFIG": "isthmus-mesh-networks",
        });
        // IstioOperator: values.pilot.env, as Istio's MCS integration tests; Helm: env.
        let iop = s.istio_operator();
        assert_eq!(iop["spec"]["values"]["pilot"]["env"], env);
        assert!(iop["spec"].get("profile").is_none());
        assert!(iop["spec"].get("components").is_none());
        let helm = s.helm_values();
        assert_eq!(helm["env"], env);
        assert!(helm.get("pilot").is_none());
        assert!(helm.get("profile").is_none());
        // Key order of the Helm values: revision, meshConfig, global, env.
        let keys: Vec<&String> = helm.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["revision", "meshConfig", "global", "env"]);

        let mut local = s.clone();
        local.mcs_cluster_local = true;
        assert_eq!(
            local.env()[2],
            ("ENABLE_MCS_CLUSTER_LOCAL", "true"),
            "{:?}",
            local.env()
        );
        assert_eq!(
            local.helm_values()["env"]["ENABLE_MCS_CLUSTER_LOCAL"],
            "true"
        );
        assert_eq!(
            local.istio_operator()["spec"]["values"]["pilot"]["env"]["ENABLE_MCS_CLUSTER_LOCAL"],
            "true"
        );
        // Every env value is a string.
        for (k, v) in local.helm_values()["env"].as_object().unwrap() {
            assert!(v.is_string(), "{k}: {v}");
        }
    }

    #[test]
    fn clusterset_field_turns_on_mcs_cluster_local() {
        let cs = ClusterSet::from_yaml(
            "meshID: m\nmcsClusterLocal: true\nmembers:\n- {name: a, network: n}\n",
            Path::new("cs.yaml"),
        )
        .unwrap();
        let s = IstiodSettings::for_cluster(&cs, "a").unwrap();
        assert!(s.mcs_cluster_local);
        assert_eq!(s.helm_values()["env"]["ENABLE_MCS_CLUSTER_LOCAL"], "true");
    }

    #[test]
    fn ambient_form_matches_the_ambient_guide() {
        let cs = golden_like();
        let mut s = IstiodSettings::for_cluster(&cs, "a").unwrap();
        s.ambient = true;
        let iop = s.istio_operator();
        assert_eq!(iop["spec"]["profile"], "ambient");
        assert_eq!(
            iop["spec"]["components"]["pilot"]["k8s"]["env"],
            json!([{"name": "AMBIENT_ENABLE_MULTI_NETWORK", "value": "true"}])
        );
        // The multi-network env is given once, where the guide gives it.
        assert!(
            iop["spec"]["values"]["pilot"]["env"]
                .get("AMBIENT_ENABLE_MULTI_NETWORK")
                .is_none()
        );
        assert_eq!(
            iop["spec"]["values"]["pilot"]["env"]["ENABLE_MCS_HOST"],
            "true"
        );
        let helm = s.helm_values();
        assert_eq!(helm["profile"], "ambient");
        assert_eq!(helm["env"]["AMBIENT_ENABLE_MULTI_NETWORK"], "true");
        assert_eq!(helm["global"]["multiCluster"]["clusterName"], "a");
        assert_eq!(
            s.ztunnel_helm_values(),
            json!({"revision": "canary", "multiCluster": {"clusterName": "a"}, "global": {"network": "n1"}})
        );
        assert_eq!(s.cni_helm_values(), json!({"profile": "ambient"}));
        // The sidecar form has none of it.
        s.ambient = false;
        assert!(!s.helm_values().to_string().contains("AMBIENT"));
        assert!(!s.istio_operator().to_string().contains("ambient"));
    }

    /// What makes istiod advertise a Service as a network gateway
    /// (`pilot/pkg/serviceregistry/kube/conversion.go`): a load balancer (or the default
    /// type of the charts, LoadBalancer), `externalIPs`, or NodePort with the node selector
    /// annotation.
    fn advertisable(service_type: Option<&str>, annotations: Option<&Value>, spec: &Value) -> bool {
        let node_selector = annotations
            .and_then(|a| a.get(NODE_SELECTOR_ANNOTATION))
            .is_some();
        match service_type {
            None | Some("LoadBalancer") => true,
            Some("NodePort") if node_selector => true,
            _ => spec.get("externalIPs").is_some(),
        }
    }

    #[test]
    fn static_gateway_service_cannot_be_advertised_by_istiod() {
        let mut p = params();
        p.exposure = GatewayExposure::Static {
            addresses: vec!["192.0.2.1".into()],
            port: Some(443),
        };
        let iop = eastwest_istio_operator(&p);
        let k8s = &iop["spec"]["components"]["ingressGateways"][0]["k8s"];
        assert_eq!(k8s["service"]["type"], "NodePort");
        assert!(k8s.get("serviceAnnotations").is_none());
        assert!(!advertisable(
            k8s["service"]["type"].as_str(),
            k8s.get("serviceAnnotations"),
            &k8s["service"]
        ));
        // Still the east-west gateway otherwise: label, env, the four ports (no fixed node port).
        assert_eq!(
            k8s["service"]["ports"],
            eastwest_istio_operator(&params())["spec"]["components"]["ingressGateways"][0]["k8s"]["service"]
                ["ports"]
        );
        let helm = eastwest_helm_values(&p);
        assert_eq!(
            helm,
            json!({"name": "istio-eastwestgateway", "networkGateway": "network1", "service": {"type": "NodePort"}})
        );
        assert!(!advertisable(
            helm["service"]["type"].as_str(),
            helm["service"].get("annotations"),
            &helm["service"]
        ));
        // The other exposures stay advertisable, as they must.
        assert!(advertisable(None, None, &json!({})));
        let lb = eastwest_helm_values(&params());
        assert!(advertisable(
            lb.pointer("/service/type").and_then(Value::as_str),
            lb.pointer("/service/annotations"),
            &json!({})
        ));
        let mut np = params();
        np.exposure = GatewayExposure::NodePort {
            node_selector: BTreeMap::from([("a".into(), "b".into())]),
            node_port: None,
        };
        let np = eastwest_helm_values(&np);
        assert!(advertisable(
            np["service"]["type"].as_str(),
            np["service"].get("annotations"),
            &np["service"]
        ));
    }

    #[test]
    fn mesh_networks_yaml_is_the_document_istiod_parses() {
        let mn = mesh_networks(&golden_like()).unwrap();
        let text = mesh_networks_yaml(&mn);
        assert!(text.starts_with("networks:\n"), "{text}");
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, json!({"networks": mn}));
        assert_eq!(mesh_networks_yaml(&json!({})), "networks: {}\n");
        validate_mesh_networks(&mn).unwrap();
    }

    #[test]
    fn gateway_addresses_as_istiod_checks_them() {
        for ok in [
            "192.0.2.1",
            "2001:db8::1",
            "gw.example.com",
            "gw.example.com.",
            "GW.Example.com",
            "a1.b2",
            "localhost",
        ] {
            check_gateway_address(ok).unwrap();
        }
        for bad in [
            "",
            "gw.123",
            "1.2.3",
            "300.1.1.1",
            "a..b",
            "bad host",
            "-a.example.com",
            "fe80::1%eth0",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(check_gateway_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mesh_network_validation_catches_what_istiod_refuses() {
        let good = json!({"n": {"endpoints": [{"fromRegistry": "a"}, {"fromCidr": "10.0.0.0/8"}], "gateways": [{"address": "192.0.2.1", "port": 15443}, {"registryServiceName": "istio-eastwestgateway.istio-system.svc.cluster.local", "port": 15443}]}});
        validate_mesh_networks(&good).unwrap();
        let cases = [
            (
                json!({"n": {"endpoints": [{"fromRegistry": "Bad_Name"}]}}),
                "networks.n.endpoints[0].fromRegistry",
            ),
            (
                json!({"n": {"endpoints": [{"fromCidr": "10.0.0.0/33"}]}}),
                "networks.n.endpoints[0].fromCidr",
            ),
            (
                json!({"n": {"endpoints": [{"fromRegistry": "a", "fromCidr": "10.0.0.0/8"}]}}),
                "networks.n.endpoints[0]",
            ),
            (
                json!({"n": {"gateways": [{"address": "gw.123", "port": 1}]}}),
                "networks.n.gateways[0].address",
            ),
            (
                json!({"n": {"gateways": [{"address": "192.0.2.1", "port": 0}]}}),
                "networks.n.gateways[0].port",
            ),
            (
                json!({"n": {"gateways": [{"address": "192.0.2.1", "port": 65536}]}}),
                "networks.n.gateways[0].port",
            ),
            (
                json!({"n": {"gateways": [{"address": "192.0.2.1"}]}}),
                "networks.n.gateways[0].port",
            ),
            (
                json!({"n": {"gateways": [{"registryServiceName": "a b", "port": 1}]}}),
                "networks.n.gateways[0].registryServiceName",
            ),
            (
                json!({"n": {"gateways": [{"adress": "192.0.2.1", "port": 1}]}}),
                "networks.n.gateways[0]",
            ),
            (
                json!({"n": {"gateways": [{"address": "192.0.2.1", "port": 1, "weight": 1}]}}),
                "networks.n.gateways[0].weight",
            ),
            (json!({"n": {"endpoint": []}}), "networks.n.endpoint"),
            (json!({"n": []}), "networks.n"),
            (json!([]), "networks"),
        ];
        for (value, field) in cases {
            match validate_mesh_networks(&value) {
                Err(IstioError::Invalid { field: f, .. }) => assert_eq!(f, field, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn namespace_carries_network_label() {
        let ns = network_namespace("net-east");
        assert_eq!(ns.metadata.name.as_deref(), Some("istio-system"));
        assert_eq!(
            ns.metadata.labels.unwrap()["topology.istio.io/network"],
            "net-east"
        );
    }
}
