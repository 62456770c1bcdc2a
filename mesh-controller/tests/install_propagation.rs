//! `install --propagation`: the hub's controller runs in hub mode with the rights propagation
//! needs, and a member grants the propagated kinds to the member-side ServiceAccount.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_install::manifests::{MEMBER_PROPAGATION_ROLE, MEMBER_SA};
use isthmus_install::rbac::{self, rbac_allows};
use isthmus_install::{InstallOptions, Role, render_objects};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

fn objects(role: Role, propagation: bool) -> Vec<Value> {
    let mut opts = match role {
        Role::Hub => InstallOptions::defaults(Role::Hub, None, None),
        Role::Member => InstallOptions::defaults(Role::Member, Some("east"), Some("n1")),
    };
    opts.propagation = propagation;
    render_objects(&opts).unwrap()
}

fn rules_of(objs: &[Value], kind: &str, name: &str) -> Vec<PolicyRule> {
    objs.iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .flat_map(|o| serde_json::from_value::<Vec<PolicyRule>>(o["rules"].clone()).unwrap())
        .collect()
}

#[test]
fn member_grants_the_propagated_kinds_only_with_the_flag() {
    let without = objects(Role::Member, false);
    assert!(rules_of(&without, "ClusterRole", MEMBER_PROPAGATION_ROLE).is_empty());
    let with = objects(Role::Member, true);
    let rules = rules_of(&with, "ClusterRole", MEMBER_PROPAGATION_ROLE);
    for req in rbac::propagation_member_requests() {
        assert!(
            rbac_allows(&rules, req.group, req.resource, req.verb, req.subresource),
            "{req:?}"
        );
    }
    assert!(rbac_allows(&rules, "apps", "deployments", "patch", ""));
    assert!(rbac_allows(
        &rules,
        "multicluster.x-k8s.io",
        "serviceexports",
        "delete",
        ""
    ));
    assert!(!rbac_allows(&rules, "", "namespaces", "delete", ""));
    let binding = with
        .iter()
        .find(|o| {
            o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == MEMBER_PROPAGATION_ROLE
        })
        .unwrap();
    assert_eq!(binding["subjects"][0]["name"], MEMBER_SA);
    assert_eq!(binding["roleRef"]["name"], MEMBER_PROPAGATION_ROLE);
}

#[test]
fn hub_runs_in_hub_mode_with_the_propagation_rights() {
    let with = objects(Role::Hub, true);
    let dep = with.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let args: Vec<&str> = dep
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--hub-kubeconfig"), "{args:?}");
    assert!(!args.contains(&"--clusterset"), "{args:?}");
    let volumes = dep
        .pointer("/spec/template/spec/volumes")
        .unwrap()
        .to_string();
    assert!(!volumes.contains("isthmus-clusterset"), "{volumes}");
    let cluster_rules = rules_of(&with, "ClusterRole", "isthmus-mesh-controller");
    assert!(rbac_allows(
        &cluster_rules,
        "placement.isthmus.io",
        "propagationpolicies",
        "list",
        ""
    ));
    assert!(rbac_allows(
        &cluster_rules,
        "placement.isthmus.io",
        "clusterpropagationpolicies",
        "patch",
        "status"
    ));
    assert!(rbac_allows(
        &cluster_rules,
        "isthmus.io",
        "memberclusters",
        "list",
        ""
    ));
    assert!(rbac_allows(
        &cluster_rules,
        "apps",
        "deployments",
        "list",
        ""
    ));
    assert!(!rbac_allows(
        &cluster_rules,
        "apps",
        "deployments",
        "patch",
        ""
    ));
    // every CRD propagation needs is printed for the hub
    let crds: Vec<&str> = with
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    for name in [
        "memberclusters.isthmus.io",
        "propagationpolicies.placement.isthmus.io",
        "clusterpropagationpolicies.placement.isthmus.io",
        "overridepolicies.placement.isthmus.io",
        "clusteroverridepolicies.placement.isthmus.io",
    ] {
        assert!(crds.contains(&name), "{crds:?}");
    }
    // without the flag the hub keeps the clusterset mode
    let without = objects(Role::Hub, false);
    let dep = without.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert!(dep.to_string().contains("--clusterset"));
}
