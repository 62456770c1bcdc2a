//! Kubernetes objects as JSON through a kube client: what a test writes into a cluster
//! (server-side apply under its own field manager) and reads back. The helpers work the same
//! against simulated and real clusters.

use std::path::Path;
use std::time::Duration;

use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use serde_json::Value;

/// The field manager of everything a test applies.
pub const TEST_MANAGER: &str = "isthmus-e2e";

/// A client for the current context of the kubeconfig file at `path`, failing fast (3 s) when
/// the cluster cannot be reached.
pub async fn client(path: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()));
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", path.display()));
    config.connect_timeout = Some(Duration::from_secs(3));
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).unwrap_or_else(|e| panic!("client for {}: {e}", path.display()))
}

/// The API resource of `kind` in `api_version` (`v1`, `group/version`).
pub fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    // Plurals kube's English rules get wrong or that are worth pinning.
    let plural = match kind {
        "Endpoints" => Some("endpoints"),
        "ClusterProperty" => Some("clusterproperties"),
        "MemberCluster" => Some("memberclusters"),
        _ => None,
    };
    match plural {
        Some(p) => ApiResource::from_gvk_with_plural(&gvk, p),
        None => ApiResource::from_gvk(&gvk),
    }
}

fn api(client: &Client, api_version: &str, kind: &str, ns: &str) -> Api<DynamicObject> {
    let ar = api_resource(api_version, kind);
    if ns.is_empty() {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), ns, &ar)
    }
}

/// Server-side applies `obj` (forced, as [`TEST_MANAGER`]) and returns what the server stored.
pub async fn apply(client: &Client, obj: Value) -> Value {
    let av = obj["apiVersion"].as_str().expect("apiVersion").to_owned();
    let kind = obj["kind"].as_str().expect("kind").to_owned();
    let name = obj["metadata"]["name"].as_str().expect("name").to_owned();
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let out = api(client, &av, &kind, &ns)
        .patch(
            &name,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {ns}/{name}: {e}"));
    serde_json::to_value(out).unwrap()
}

/// The object, or `None` when it does not exist or cannot be read. `ns` is empty for
/// cluster-scoped kinds.
pub async fn get(client: &Client, av: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    match api(client, av, kind, ns).get_opt(name).await {
        Ok(o) => o.map(|o| serde_json::to_value(o).unwrap()),
        Err(_) => None,
    }
}

/// The objects of `kind` in `ns` matching the label selector `labels` (empty: all); empty
/// when they cannot be listed.
pub async fn list(client: &Client, av: &str, kind: &str, ns: &str, labels: &str) -> Vec<Value> {
    match api(client, av, kind, ns)
        .list(&ListParams::default().labels(labels))
        .await
    {
        Ok(l) => l
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Deletes the object; a missing one is not an error. `ns` is empty for cluster-scoped kinds.
pub async fn delete(client: &Client, av: &str, kind: &str, ns: &str, name: &str) {
    let _ = api(client, av, kind, ns)
        .delete(name, &DeleteParams::default())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_resources_of_the_kinds_tests_use() {
        for (av, kind, plural) in [
            ("v1", "Endpoints", "endpoints"),
            ("v1", "Namespace", "namespaces"),
            ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
            (
                "multicluster.x-k8s.io/v1beta1",
                "ServiceImport",
                "serviceimports",
            ),
            (
                "about.k8s.io/v1alpha1",
                "ClusterProperty",
                "clusterproperties",
            ),
            ("coordination.k8s.io/v1", "Lease", "leases"),
        ] {
            let ar = api_resource(av, kind);
            assert_eq!(ar.plural, plural, "{kind}");
            assert_eq!(ar.api_version, av);
        }
    }
}
