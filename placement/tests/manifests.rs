//! Per-cluster manifests: replica revision for divided workloads, then overrides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{map, members, placement};
use isthmus_placement::{Resource, load, render_manifests, schedule};
use serde_json::json;

#[test]
fn job_parallelism_and_completions_are_split() {
    let job = Resource::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"},
        "spec": {"parallelism": 6, "completions": 12, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))
    .unwrap();
    let p = placement(
        "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {clusterNames: [member1]}\n        weight: 2\n      - targetCluster: {clusterNames: [member2]}\n        weight: 1\n",
    );
    let clusters = members(2);
    let d = schedule(&p, &job, &clusters, &BTreeMap::new(), None).unwrap();
    assert_eq!(d.placements, map(&[("member1", 4), ("member2", 2)]));
    let m = render_manifests(&job, &p, &d.placements, &clusters, &[]).unwrap();
    assert_eq!(m["member1"]["spec"]["parallelism"], 4);
    assert_eq!(m["member1"]["spec"]["completions"], 8);
    assert_eq!(m["member2"]["spec"]["parallelism"], 2);
    assert_eq!(m["member2"]["spec"]["completions"], 4);
}

#[test]
fn duplicated_and_non_workloads_keep_the_template() {
    let deploy = common::deployment("web", 3, None);
    let p = placement("{}");
    let clusters = members(2);
    let d = schedule(&p, &deploy, &clusters, &BTreeMap::new(), None).unwrap();
    let m = render_manifests(&deploy, &p, &d.placements, &clusters, &[]).unwrap();
    assert_eq!(m["member1"], deploy.object);
    let cm = Resource::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "b"}})).unwrap();
    let p = placement("replicaScheduling:\n  replicaSchedulingType: Divided\n");
    let d = schedule(&p, &cm, &clusters, &BTreeMap::new(), None).unwrap();
    assert_eq!(d.placements, map(&[("member1", 0), ("member2", 0)]));
    let m = render_manifests(&cm, &p, &d.placements, &clusters, &[]).unwrap();
    assert_eq!(m["member2"], cm.object);
}

#[test]
fn list_documents_and_previous_files() {
    let text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: isthmus.io/v1alpha1\n    kind: MemberCluster\n    metadata: {name: a}\n  - apiVersion: isthmus.io/v1alpha1\n    kind: MemberCluster\n    metadata: {name: b}\n";
    let clusters = load::clusters_from_yaml("list.yaml", text).unwrap();
    assert_eq!(
        clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        load::previous_from_yaml("p.yaml", "a: 2\nb: 0\n").unwrap(),
        map(&[("a", 2), ("b", 0)])
    );
    assert!(load::previous_from_yaml("p.yaml", "").unwrap().is_empty());
    let err = load::previous_from_yaml("p.yaml", "a: -1\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("p.yaml: a: replicas must be a non-negative integer"),
        "{err}"
    );
    let err = load::previous_from_yaml("p.yaml", "- a\n").unwrap_err();
    assert!(
        err.to_string().contains("map of cluster name to replicas"),
        "{err}"
    );
    let err = load::resource_from_yaml("r.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("expected exactly one resource document, found 2"),
        "{err}"
    );
}

#[test]
fn member_cluster_status_is_a_fallback() {
    let text = "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\nspec: {region: eu}\nstatus:\n  resourceSummary:\n    allocatable: {pods: \"7\"}\n  apiEnablements:\n    - groupVersion: apps/v1\n      resources: [{name: deployments, kind: Deployment}]\n";
    let clusters = load::clusters_from_yaml("c.yaml", text).unwrap();
    assert_eq!(
        clusters[0]
            .resource_summary
            .as_ref()
            .unwrap()
            .allowed_milli("pods"),
        7000
    );
    assert!(clusters[0].serves("apps/v1", "Deployment"));
    assert!(!clusters[0].serves("v1", "ConfigMap"));
}

#[test]
fn null_cluster_fields_are_empty() {
    let text = "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\nspec:\n  network: net-a\n  zone:\n  zones:\n  revision: 1-24\n  kubeconfigSecretRef: {name: a-kubeconfig, key: config}\n";
    let clusters = load::clusters_from_yaml("c.yaml", text).unwrap();
    assert_eq!(clusters[0].network, "net-a");
    assert!(clusters[0].zone.is_empty() && clusters[0].zones.is_empty());
}
