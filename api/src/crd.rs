//! Our CRDs, all served by the hub:
//! - `MemberCluster` (`isthmus.io/v1alpha1`, cluster-scoped): one member of the clusterset, how
//!   to reach it, how its east-west gateway is exposed, and what placement reads (labels,
//!   provider/region/zone, taints);
//! - `PropagationPolicy`, `ClusterPropagationPolicy`, `OverridePolicy` and
//!   `ClusterOverridePolicy` (`placement.isthmus.io/v1alpha1`): Karmada's policy kinds with the
//!   same `spec` shapes (the schema is Karmada's, embedded from the placement crate), plus two
//!   Isthmus fields on the propagation kinds and a status written by the controller.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to one key of a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
    /// Key holding the kubeconfig; `kubeconfig` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// How other networks reach the member's east-west gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EastWestGatewaySpec {
    /// `LoadBalancer` (default), `NodePort` or `Static`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// NodePort: selects the nodes whose addresses are advertised.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// NodePort: fixed node port of the `tls` (15443) port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
    /// Static: addresses (IPs or DNS names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Static: port forwarding to 15443; 15443 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A taint on a member cluster, as placement reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTaint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[schemars(extend("enum" = ["NoSchedule", "PreferNoSchedule", "NoExecute"]))]
    pub effect: String,
}

/// `MemberCluster.spec`.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "isthmus.io",
    version = "v1alpha1",
    kind = "MemberCluster",
    status = "MemberClusterStatus",
    shortname = "member",
    printcolumn = r#"{"name":"Network","type":"string","jsonPath":".spec.network"}"#,
    printcolumn = r#"{"name":"Reachable","type":"boolean","jsonPath":".status.reachable"}"#,
    printcolumn = r#"{"name":"Withdrawn","type":"boolean","priority":1,"jsonPath":".status.withdrawn"}"#,
    printcolumn = r#"{"name":"Gateway","type":"string","jsonPath":".status.gatewayAddresses[0]"}"#,
    printcolumn = r#"{"name":"Exports","type":"integer","jsonPath":".status.exports"}"#,
    printcolumn = r#"{"name":"Imports","type":"integer","jsonPath":".status.imports"}"#,
    printcolumn = r#"{"name":"Region","type":"string","priority":1,"jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","priority":1,"jsonPath":".spec.revision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterSpec {
    /// Istio network ID (`topology.istio.io/network`).
    pub network: String,
    /// Region; placement's `region` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Zone; placement's `zone` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Zones of a multi-zone member; placement's `zone` field matches any of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Cloud provider; placement's `provider` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Taints placement honours (`NoSchedule`, `PreferNoSchedule`, `NoExecute`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<ClusterTaint>,
    /// Istio revision of the member's control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// East-west gateway exposure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub east_west_gateway: Option<EastWestGatewaySpec>,
    /// Kubeconfig the controller uses to reach the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretKeyRef>,
    /// Kubeconfig of a reader identity of the member (Istio's `istio-reader-service-account`,
    /// never an admin credential), for the remote secrets other members get; when unset the
    /// controller reads the token of the member's `istio-reader-service-account` token Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_kubeconfig_secret_ref: Option<SecretKeyRef>,
}

/// `MemberCluster.status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterStatus {
    /// The API server answers.
    #[serde(default)]
    pub reachable: bool,
    /// Unreachable past the grace period; its exports are withdrawn.
    #[serde(default)]
    pub withdrawn: bool,
    /// Addresses of the east-west gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_addresses: Vec<String>,
    /// Port on those addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_port: Option<i32>,
    /// ServiceExports in the member.
    #[serde(default)]
    pub exports: u32,
    /// ServiceImports desired in the member.
    #[serde(default)]
    pub imports: u32,
    /// Notes (missing kubeconfig, gateway without address...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Conditions, by `type`: `IstioRootOfTrust` (whether the member's istiod publishes the
    /// clusterset root) when the controller runs the clusterset CA.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<MemberClusterCondition>,
}

/// One condition of a MemberCluster's status, shaped as Kubernetes conditions are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterCondition {
    /// Condition type, e.g. `IstioRootOfTrust`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,
    /// CamelCase reason of the status.
    pub reason: String,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
}

/// API group of the placement policy kinds served by the hub.
pub const PLACEMENT_GROUP: &str = "placement.isthmus.io";
/// `apiVersion` of the placement policy kinds.
pub const PLACEMENT_API_VERSION: &str = "placement.isthmus.io/v1alpha1";
/// Spec field of the propagation kinds asking for a ServiceExport next to every propagated
/// Service (an Isthmus field, not in Karmada's schema).
pub const EXPORT_SERVICES_FIELD: &str = "exportServices";
/// Spec field of the propagation kinds asking for dependencies to follow their workloads (an
/// Isthmus alias of Karmada's `propagateDeps`).
pub const PROPAGATE_DEPENDENCIES_FIELD: &str = "propagateDependencies";

/// Karmada's policy CRDs (structure only), whose `spec` schemas our kinds serve.
const KARMADA_PP: &str =
    include_str!("../../placement/testdata/schemas/policy.karmada.io_propagationpolicies.yaml");
const KARMADA_CPP: &str = include_str!(
    "../../placement/testdata/schemas/policy.karmada.io_clusterpropagationpolicies.yaml"
);
const KARMADA_OP: &str =
    include_str!("../../placement/testdata/schemas/policy.karmada.io_overridepolicies.yaml");
const KARMADA_COP: &str =
    include_str!("../../placement/testdata/schemas/policy.karmada.io_clusteroverridepolicies.yaml");

/// The `spec` schema of one of Karmada's policy CRDs, with the Isthmus fields added to the
/// propagation kinds. An unreadable embedded file (a build defect; a unit test guards it) gives
/// an open object schema instead of a panic.
fn karmada_spec_schema(crd_yaml: &str, propagation: bool) -> schemars::Schema {
    let spec = serde_saphyr::from_str::<serde_json::Value>(crd_yaml)
        .ok()
        .and_then(|crd| {
            crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec")
                .cloned()
        });
    let Some(mut spec) = spec else {
        return schemars::json_schema!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        });
    };
    if propagation && let Some(props) = spec.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert(
            EXPORT_SERVICES_FIELD.to_owned(),
            serde_json::json!({
                "description": "Isthmus: create a ServiceExport next to every Service this policy propagates.",
                "type": "boolean"
            }),
        );
        props.insert(
            PROPAGATE_DEPENDENCIES_FIELD.to_owned(),
            serde_json::json!({
                "description": "Isthmus: same as propagateDeps; ConfigMaps, Secrets, ServiceAccounts and PersistentVolumeClaims referenced by a workload's pod template follow it.",
                "type": "boolean"
            }),
        );
    }
    schemars::Schema::try_from(spec).unwrap_or_else(|_| {
        schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    })
}

macro_rules! karmada_spec {
    ($ty:ident, $yaml:expr, $propagation:expr) => {
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                karmada_spec_schema($yaml, $propagation)
            }
        }
    };
}

/// `PropagationPolicy.spec` (`placement.isthmus.io/v1alpha1`, namespaced): Karmada's
/// `PropagationSpec`, plus [`EXPORT_SERVICES_FIELD`] and [`PROPAGATE_DEPENDENCIES_FIELD`].
/// Kept as JSON: the placement crate reads and validates it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "placement.isthmus.io",
    version = "v1alpha1",
    kind = "PropagationPolicy",
    namespaced,
    status = "PropagationStatus",
    shortname = "ipp",
    category = "isthmus",
    printcolumn = r#"{"name":"Priority","type":"integer","jsonPath":".spec.priority"}"#,
    printcolumn = r#"{"name":"Placed","type":"integer","description":"Resource templates placed on at least one cluster","jsonPath":".status.placed"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","description":"Resource templates whose placement failed","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Error","type":"string","priority":1,"description":"Why the policy cannot be used","jsonPath":".status.error.reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct PropagationPolicySpec {
    /// The spec fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}
karmada_spec!(PropagationPolicySpec, KARMADA_PP, true);

/// `ClusterPropagationPolicy.spec` (`placement.isthmus.io/v1alpha1`, cluster-scoped); same
/// shape as [`PropagationPolicySpec`].
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "placement.isthmus.io",
    version = "v1alpha1",
    kind = "ClusterPropagationPolicy",
    status = "PropagationStatus",
    shortname = "icpp",
    category = "isthmus",
    printcolumn = r#"{"name":"Priority","type":"integer","jsonPath":".spec.priority"}"#,
    printcolumn = r#"{"name":"Placed","type":"integer","description":"Resource templates placed on at least one cluster","jsonPath":".status.placed"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","description":"Resource templates whose placement failed","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Error","type":"string","priority":1,"description":"Why the policy cannot be used","jsonPath":".status.error.reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct ClusterPropagationPolicySpec {
    /// The spec fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}
karmada_spec!(ClusterPropagationPolicySpec, KARMADA_CPP, true);

/// `OverridePolicy.spec` (`placement.isthmus.io/v1alpha1`, namespaced): Karmada's
/// `OverrideSpec`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "placement.isthmus.io",
    version = "v1alpha1",
    kind = "OverridePolicy",
    namespaced,
    shortname = "iop",
    category = "isthmus"
)]
pub struct OverridePolicySpec {
    /// The spec fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}
karmada_spec!(OverridePolicySpec, KARMADA_OP, false);

/// `ClusterOverridePolicy.spec` (`placement.isthmus.io/v1alpha1`, cluster-scoped).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "placement.isthmus.io",
    version = "v1alpha1",
    kind = "ClusterOverridePolicy",
    shortname = "icop",
    category = "isthmus"
)]
pub struct ClusterOverridePolicySpec {
    /// The spec fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}
karmada_spec!(ClusterOverridePolicySpec, KARMADA_COP, false);

/// Status of a propagation policy, written by the controller: one entry per resource
/// template the policy claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropagationStatus {
    /// `metadata.generation` of the policy this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Templates placed on at least one cluster.
    #[serde(default)]
    pub placed: u32,
    /// Templates whose scheduling or overrides failed.
    #[serde(default)]
    pub failed: u32,
    /// Why the policy itself cannot be used (`InvalidPolicy`); it claims nothing then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PlacementFailure>,
    /// Per claimed template, sorted by kind, namespace and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourcePlacement>,
}

/// The placement decision for one resource template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePlacement {
    /// Template apiVersion.
    pub api_version: String,
    /// Template kind.
    pub kind: String,
    /// Template namespace (empty for cluster-scoped templates).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Chosen clusters and their replicas (0 for objects without replicas).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<TargetCluster>,
    /// The `clusterAffinities` group in use, when the policy has groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_affinity: Option<String>,
    /// A ServiceExport is created next to the Service in every chosen cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub service_export: bool,
    /// Dependencies propagated with the workload (`Kind namespace/name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// `NoExecute` evictions waiting for their toleration to run out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_evictions: Vec<PendingEviction>,
    /// Why the last decision failed (the previous placement is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PlacementFailure>,
}

/// One chosen cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetCluster {
    /// Member name.
    pub name: String,
    /// Replicas written into the member's copy (0 when the template has no replicas).
    pub replicas: i32,
}

/// A `NoExecute` taint the workload tolerates for a while.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingEviction {
    /// Member name.
    pub cluster: String,
    /// The taint, `key=value:effect`.
    pub taint: String,
    /// Seconds of toleration left.
    pub remaining_seconds: i64,
}

/// A typed placement error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementFailure {
    /// Machine-readable reason: `NoClusterFit`, `SpreadConstraintUnsatisfied`,
    /// `InsufficientReplicas`, `InvalidPlacement`, `OverrideFailed`, `InvalidPolicy`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn crd_is_cluster_scoped_in_our_group() {
        let crd = MemberCluster::crd();
        assert_eq!(crd.spec.group, "isthmus.io");
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(crd.spec.names.kind, "MemberCluster");
        assert_eq!(crd.spec.versions[0].name, "v1alpha1");
        let yaml = serde_saphyr::to_string(&crd).unwrap();
        assert!(yaml.contains("eastWestGateway"), "{yaml}");
        assert!(yaml.contains("taints"), "{yaml}");
    }

    #[test]
    fn policy_crds_serve_karmadas_spec_in_our_group() {
        let pp = serde_json::to_value(PropagationPolicy::crd()).unwrap();
        assert_eq!(pp["spec"]["group"], PLACEMENT_GROUP);
        assert_eq!(pp["spec"]["scope"], "Namespaced");
        let spec = &pp["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(spec["properties"]["placement"]["properties"]["clusterAffinities"].is_object());
        assert_eq!(spec["properties"][EXPORT_SERVICES_FIELD]["type"], "boolean");
        assert_eq!(spec["properties"]["propagateDeps"]["type"], "boolean");
        assert_eq!(spec["required"][0], "resourceSelectors");
        assert!(pp["spec"]["versions"][0]["subresources"]["status"].is_object());
        let status =
            &pp["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
        assert!(status["properties"]["resources"].is_object(), "{status}");
        let cpp = serde_json::to_value(ClusterPropagationPolicy::crd()).unwrap();
        assert_eq!(cpp["spec"]["scope"], "Cluster");
        let op = serde_json::to_value(OverridePolicy::crd()).unwrap();
        let spec = &op["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(spec["properties"]["overrideRules"].is_object());
        assert!(spec["properties"].get(EXPORT_SERVICES_FIELD).is_none());
        let cop = serde_json::to_value(ClusterOverridePolicy::crd()).unwrap();
        assert_eq!(cop["spec"]["names"]["plural"], "clusteroverridepolicies");
    }
}
