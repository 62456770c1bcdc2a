//! Kubernetes API resources of the kinds the controller reads and writes by `apiVersion` and
//! `kind` (the watches, the applier and propagation).

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

/// The API resource for `api_version`/`kind`, with the plural of the fixed table or kube's rule
/// (the usual English rules, with the exceptions that matter here).
pub fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "Endpoints" => Some("endpoints"),
        "Gateway" => Some("gateways"),
        "ServiceEntry" => Some("serviceentries"),
        "ClusterProperty" => Some("clusterproperties"),
        "MemberCluster" => Some("memberclusters"),
        "NetworkPolicy" => Some("networkpolicies"),
        "Ingress" => Some("ingresses"),
        "PropagationPolicy" => Some("propagationpolicies"),
        "ClusterPropagationPolicy" => Some("clusterpropagationpolicies"),
        "OverridePolicy" => Some("overridepolicies"),
        "ClusterOverridePolicy" => Some("clusteroverridepolicies"),
        _ => None,
    };
    match plural {
        Some(p) => ApiResource::from_gvk_with_plural(&gvk, p),
        None => ApiResource::from_gvk(&gvk),
    }
}

/// The dynamic API of `ar` in `namespace`, or over all namespaces (and for cluster-scoped
/// kinds) when `namespace` is empty.
pub fn dyn_api(client: &Client, ar: &ApiResource, namespace: &str) -> Api<DynamicObject> {
    if namespace.is_empty() {
        Api::all_with(client.clone(), ar)
    } else {
        Api::namespaced_with(client.clone(), namespace, ar)
    }
}
