//! Our CRD: `MemberCluster` (`isthmus.io/v1alpha1`, cluster-scoped, on the hub): one member of
//! the clusterset, how to reach it and how its east-west gateway is exposed.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::MemberStatus;

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
    printcolumn = r#"{"name":"Gateway","type":"string","jsonPath":".status.gatewayAddresses[0]"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterSpec {
    /// Istio network ID (`topology.istio.io/network`).
    pub network: String,
    /// Region, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Zone, informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Istio revision of the member's control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// East-west gateway exposure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub east_west_gateway: Option<EastWestGatewaySpec>,
    /// Kubeconfig the controller uses to reach the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretKeyRef>,
    /// Kubeconfig of the member's `istio-reader-service-account`, for remote secrets.
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
}

impl From<&MemberStatus> for MemberClusterStatus {
    fn from(s: &MemberStatus) -> Self {
        Self {
            reachable: s.reachable,
            withdrawn: s.withdrawn,
            gateway_addresses: s.gateway_addresses.clone(),
            gateway_port: s.gateway_port,
            exports: u32::try_from(s.exports).unwrap_or(u32::MAX),
            imports: u32::try_from(s.imports).unwrap_or(u32::MAX),
            notes: s.notes.clone(),
        }
    }
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
    }
}
