//! Shared fixtures for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use isthmus_placement::load;
use isthmus_placement::{ClusterInfo, Placement, Resource};
use serde_json::json;

/// A placement from a YAML fragment (the value of `spec.placement`), defaulted like Karmada.
pub fn placement(yaml: &str) -> Placement {
    let indented: String = yaml.lines().map(|l| format!("    {l}\n")).collect();
    let doc = format!(
        "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata:\n  name: p\n  namespace: default\nspec:\n  resourceSelectors:\n    - apiVersion: apps/v1\n      kind: Deployment\n  placement:\n{indented}"
    );
    let set = load::policies_from_yaml("test", &doc).expect("valid policy");
    set.propagation[0].spec.placement.clone()
}

/// A Deployment with `replicas` and optional per-container requests.
pub fn deployment(name: &str, replicas: i32, requests: Option<serde_json::Value>) -> Resource {
    let mut container = json!({"name": "app", "image": "nginx:1.27"});
    if let Some(r) = requests {
        container["resources"] = json!({"requests": r});
    }
    Resource::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [container]}}
        }
    }))
    .expect("valid deployment")
}

/// A cluster whose allocatable pods are `pods` (Karmada's `NewClusterWithResource` with pods).
pub fn pods_cluster(name: &str, pods: i64) -> ClusterInfo {
    ClusterInfo::new(name).with_allocatable(&[("pods", pods)])
}

/// Clusters member1..memberN without resource summaries.
pub fn members(n: usize) -> Vec<ClusterInfo> {
    (1..=n)
        .map(|i| ClusterInfo::new(format!("member{i}")))
        .collect()
}

/// A `BTreeMap` from pairs.
pub fn map(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
}
