//! The Multi-Cluster Services API (`multicluster.x-k8s.io`), mcs-api v0.5.0.
//!
//! Both served versions have identical schemas; [`v1beta1`] is the storage version and the one
//! Isthmus prefers, [`v1alpha1`] is read and written where a member serves only that.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::{Deserialize, Serialize};

/// The API group.
pub const GROUP: &str = "multicluster.x-k8s.io";

/// ServiceExport condition types.
pub mod condition {
    /// The export refers to a Service that can be exported.
    pub const VALID: &str = "Valid";
    /// The export is synced and its service is available clusterset-wide.
    pub const READY: &str = "Ready";
    /// The export conflicts with other exports of the same service.
    pub const CONFLICT: &str = "Conflict";
}

/// ServiceExport condition reasons.
pub mod reason {
    pub const NO_SERVICE: &str = "NoService";
    pub const INVALID_SERVICE_TYPE: &str = "InvalidServiceType";
    pub const VALID: &str = "Valid";
    pub const READY: &str = "Ready";
    pub const PENDING: &str = "Pending";
    pub const NO_CONFLICTS: &str = "NoConflicts";
    pub const PORT_CONFLICT: &str = "PortConflict";
    pub const TYPE_CONFLICT: &str = "TypeConflict";
    pub const SESSION_AFFINITY_CONFLICT: &str = "SessionAffinityConflict";
    pub const SESSION_AFFINITY_CONFIG_CONFLICT: &str = "SessionAffinityConfigConflict";
    pub const INTERNAL_TRAFFIC_POLICY_CONFLICT: &str = "InternalTrafficPolicyConflict";
    pub const TRAFFIC_DISTRIBUTION_CONFLICT: &str = "TrafficDistributionConflict";
    pub const IP_FAMILY_CONFLICT: &str = "IPFamilyConflict";
    pub const LABELS_CONFLICT: &str = "LabelsConflict";
    pub const ANNOTATIONS_CONFLICT: &str = "AnnotationsConflict";
}

/// `ServiceImport.spec.type`.
pub mod import_type {
    pub const CLUSTER_SET_IP: &str = "ClusterSetIP";
    pub const HEADLESS: &str = "Headless";
}

/// `ServiceExport.spec`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceExportSpec {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exported_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exported_annotations: BTreeMap<String, String>,
}

/// `ServiceExport.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceExportStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `ServiceImport.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceImportSpec {
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// `ClusterSetIP` or `Headless`.
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<k8s_openapi::api::core::v1::SessionAffinityConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_families: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_traffic_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_distribution: Option<String>,
}

/// A port of a ServiceImport.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    pub port: i32,
}

/// `ServiceImport.status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceImportStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One exporting cluster in `ServiceImport.status.clusters`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster: String,
}

#[rustfmt::skip]
macro_rules! mcs_version {
    ($module:ident, $version:literal) => {
        #[doc = concat!("`multicluster.x-k8s.io/", $version, "`.")]
        pub mod $module {
            use kube::CustomResource;
            use serde::{Deserialize, Serialize};

            /// `ServiceExport.spec` in this version.
            #[derive(CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
            #[kube(
                group = "multicluster.x-k8s.io",
                version = $version,
                kind = "ServiceExport",
                namespaced,
                status = "super::ServiceExportStatus",
                schema = "disabled"
            )]
            pub struct ExportSpec(pub super::ServiceExportSpec);

            /// `ServiceImport.spec` in this version.
            #[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
            #[kube(
                group = "multicluster.x-k8s.io",
                version = $version,
                kind = "ServiceImport",
                namespaced,
                status = "super::ServiceImportStatus",
                schema = "disabled"
            )]
            pub struct ImportSpec(pub super::ServiceImportSpec);
        }
    };
}

mcs_version!(v1beta1, "v1beta1");
mcs_version!(v1alpha1, "v1alpha1");

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn import_round_trips_through_yaml() {
        let yaml = r#"
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: web, namespace: shop}
spec:
  type: ClusterSetIP
  ips: [242.0.0.1]
  ports: [{name: http, protocol: TCP, port: 80}]
status:
  clusters: [{cluster: east}, {cluster: west}]
"#;
        let import: v1beta1::ServiceImport = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(import.spec.0.type_, import_type::CLUSTER_SET_IP);
        assert_eq!(import.spec.0.ports[0].port, 80);
        let status = import.status.as_ref().unwrap();
        assert_eq!(status.clusters.len(), 2);
        let json = serde_json::to_value(&import).unwrap();
        assert_eq!(json["spec"]["ips"][0], "242.0.0.1");
        assert_eq!(json["apiVersion"], "multicluster.x-k8s.io/v1beta1");
    }

    #[test]
    fn both_versions_have_the_upstream_group_and_kinds() {
        assert_eq!(v1beta1::ServiceExport::group(&()), GROUP);
        assert_eq!(v1alpha1::ServiceExport::version(&()), "v1alpha1");
        assert_eq!(v1beta1::ServiceImport::kind(&()), "ServiceImport");
        assert_eq!(v1alpha1::ServiceImport::plural(&()), "serviceimports");
    }

    #[test]
    fn export_spec_reads_exported_labels() {
        let yaml = "apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: a, namespace: b}\nspec:\n  exportedLabels: {tier: web}\n";
        let export: v1alpha1::ServiceExport = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(export.spec.0.exported_labels["tier"], "web");
    }
}
