//! Overrides: every overrider, targeting, and Karmada's application order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_placement::load;
use isthmus_placement::{ClusterInfo, Resource, apply_overrides, overrides::applicable_overrides};
use serde_json::{Value, json};

fn deploy() -> Resource {
    Resource::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": {"replicas": 2, "template": {"spec": {
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "containers": [
                {"name": "nginx", "image": "docker.io/library/nginx:1.27", "command": ["nginx"], "args": ["-g", "daemon off;"]},
                {"name": "sidecar", "image": "envoy:v1"}
            ]
        }}}
    }))
    .unwrap()
}

fn cm() -> Resource {
    Resource::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "conf", "namespace": "default"},
        "data": {"app.json": "{\"log\":{\"level\":\"info\"},\"port\":80}", "app.yaml": "log:\n  level: info\nport: 80\n"}
    }))
    .unwrap()
}

fn op(kind: &str, name: &str, body: &str) -> String {
    let ns = if kind == "OverridePolicy" {
        "  namespace: default\n"
    } else {
        ""
    };
    let body: String = body.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "---\napiVersion: policy.karmada.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}spec:\n{body}"
    )
}

fn apply(policies: &str, resource: &Resource, cluster: &ClusterInfo) -> Value {
    let set = load::policies_from_yaml("o.yaml", policies).unwrap();
    apply_overrides(resource, cluster, &set.overrides).unwrap()
}

fn member1() -> ClusterInfo {
    ClusterInfo::new("member1")
        .with_label("env", "prod")
        .with_location("aws", "eu", "eu-a")
}

#[test]
fn image_overrider_default_paths_and_predicate() {
    let p = op(
        "OverridePolicy",
        "img",
        "overriders:\n  imageOverrider:\n    - {component: Registry, operator: replace, value: mirror.example}\n",
    );
    let out = apply(&p, &deploy(), &member1());
    assert_eq!(
        out.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "mirror.example/library/nginx:1.27"
    );
    assert_eq!(
        out.pointer("/spec/template/spec/containers/1/image")
            .unwrap(),
        "mirror.example/envoy:v1"
    );
    // like Karmada, init containers are only reached through a predicate
    assert_eq!(
        out.pointer("/spec/template/spec/initContainers/0/image")
            .unwrap(),
        "busybox:1.36"
    );
    let p = op(
        "OverridePolicy",
        "img",
        "overriders:\n  imageOverrider:\n    - {component: Tag, operator: replace, value: \"1.28\", predicate: {path: /spec/template/spec/containers/0/image}}\n",
    );
    let out = apply(&p, &deploy(), &member1());
    assert_eq!(
        out.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "docker.io/library/nginx:1.28"
    );
    assert_eq!(
        out.pointer("/spec/template/spec/containers/1/image")
            .unwrap(),
        "envoy:v1"
    );
}

#[test]
fn command_args_labels_annotations() {
    let body = "overriders:\n  commandOverrider:\n    - {containerName: nginx, operator: add, value: [-c, /etc/nginx.conf]}\n    - {containerName: sidecar, operator: add, value: [envoy]}\n  argsOverrider:\n    - {containerName: nginx, operator: remove, value: [-g]}\n  labelsOverrider:\n    - {operator: add, value: {cluster: member1}}\n    - {operator: replace, value: {app: web, absent: x}}\n  annotationsOverrider:\n    - {operator: add, value: {\"example.com/owner\": team-a}}\n    - {operator: remove, value: {missing: \"\"}}\n";
    let out = apply(&op("OverridePolicy", "o", body), &deploy(), &member1());
    assert_eq!(
        out.pointer("/spec/template/spec/containers/0/command")
            .unwrap(),
        &json!(["nginx", "-c", "/etc/nginx.conf"])
    );
    assert_eq!(
        out.pointer("/spec/template/spec/containers/1/command")
            .unwrap(),
        &json!(["envoy"])
    );
    assert_eq!(
        out.pointer("/spec/template/spec/containers/0/args")
            .unwrap(),
        &json!(["daemon off;"])
    );
    assert_eq!(
        out.pointer("/metadata/labels").unwrap(),
        &json!({"app": "web", "cluster": "member1"})
    );
    assert_eq!(
        out.pointer("/metadata/annotations").unwrap(),
        &json!({"example.com/owner": "team-a"})
    );
}

#[test]
fn field_overrider_json_and_yaml() {
    let body = "overriders:\n  fieldOverrider:\n    - fieldPath: /data/app.json\n      json:\n        - {subPath: /log/level, operator: replace, value: debug}\n        - {subPath: /port, operator: remove}\n    - fieldPath: /data/app.yaml\n      yaml:\n        - {subPath: /log/level, operator: replace, value: warn}\n        - {subPath: /extra, operator: add, value: [1, 2]}\n";
    let out = apply(&op("OverridePolicy", "f", body), &cm(), &member1());
    let j: Value =
        serde_json::from_str(out.pointer("/data/app.json").unwrap().as_str().unwrap()).unwrap();
    assert_eq!(j, json!({"log": {"level": "debug"}}));
    let y: Value =
        serde_saphyr::from_str(out.pointer("/data/app.yaml").unwrap().as_str().unwrap()).unwrap();
    assert_eq!(
        y,
        json!({"log": {"level": "warn"}, "port": 80, "extra": [1, 2]})
    );
    // a path to a non-string is an error naming the policy
    let bad = op(
        "OverridePolicy",
        "bad",
        "overriders:\n  fieldOverrider:\n    - fieldPath: /metadata\n      json:\n        - {subPath: /a, operator: remove}\n",
    );
    let set = load::policies_from_yaml("o.yaml", &bad).unwrap();
    let err = apply_overrides(&cm(), &member1(), &set.overrides).unwrap_err();
    assert_eq!(err.policy, "OverridePolicy default/bad");
    assert!(err.message.contains("is not a string"), "{err}");
}

#[test]
fn targeting_rules_and_legacy_form() {
    let body = "overrideRules:\n  - targetCluster: {clusterNames: [member2]}\n    overriders:\n      labelsOverrider:\n        - {operator: add, value: {rule: one}}\n  - targetCluster:\n      fieldSelector:\n        matchExpressions:\n          - {key: provider, operator: In, values: [aws]}\n    overriders:\n      labelsOverrider:\n        - {operator: add, value: {rule: two}}\n  - overriders:\n      labelsOverrider:\n        - {operator: add, value: {all: \"yes\"}}\n";
    let out = apply(&op("OverridePolicy", "t", body), &deploy(), &member1());
    assert_eq!(
        out.pointer("/metadata/labels").unwrap(),
        &json!({"app": "nginx", "rule": "two", "all": "yes"})
    );
    let legacy = "targetCluster:\n  labelSelector: {matchLabels: {env: prod}}\noverriders:\n  plaintext:\n    - {operator: replace, path: /spec/replicas, value: 9}\n";
    let out = apply(&op("OverridePolicy", "l", legacy), &deploy(), &member1());
    assert_eq!(out.pointer("/spec/replicas").unwrap(), 9);
    let out = apply(
        &op("OverridePolicy", "l", legacy),
        &deploy(),
        &ClusterInfo::new("dev"),
    );
    assert_eq!(out.pointer("/spec/replicas").unwrap(), 2);
    // other namespaces' OverridePolicies never apply
    let mut other = deploy();
    other.namespace = "prod".into();
    let out = apply(&op("OverridePolicy", "l", legacy), &other, &member1());
    assert_eq!(out.pointer("/spec/replicas").unwrap(), 2);
}

#[test]
fn application_order() {
    let set_label = |v: &str| {
        format!(
            "overriders:\n  labelsOverrider:\n    - {{operator: add, value: {{winner: {v}}}}}\n"
        )
    };
    let kind_sel = "resourceSelectors:\n  - {apiVersion: apps/v1, kind: Deployment}\n";
    let name_sel = "resourceSelectors:\n  - {apiVersion: apps/v1, kind: Deployment, name: nginx}\n";
    let label_sel = "resourceSelectors:\n  - {apiVersion: apps/v1, kind: Deployment, labelSelector: {matchLabels: {app: nginx}}}\n";
    let cases = [
        // OverridePolicy runs after ClusterOverridePolicy, so it wins
        (
            op(
                "OverridePolicy",
                "a",
                &(kind_sel.to_string() + &set_label("namespaced")),
            ) + &op(
                "ClusterOverridePolicy",
                "z",
                &(name_sel.to_string() + &set_label("cluster")),
            ),
            "namespaced",
        ),
        // within a scope: least specific first, so the name selector wins over label and kind
        (
            op(
                "OverridePolicy",
                "a",
                &(name_sel.to_string() + &set_label("name")),
            ) + &op(
                "OverridePolicy",
                "b",
                &(label_sel.to_string() + &set_label("label")),
            ) + &op(
                "OverridePolicy",
                "c",
                &(kind_sel.to_string() + &set_label("kind")),
            ),
            "name",
        ),
        // equal specificity: by name, the later name wins
        (
            op(
                "OverridePolicy",
                "b",
                &(kind_sel.to_string() + &set_label("b")),
            ) + &op(
                "OverridePolicy",
                "a",
                &(kind_sel.to_string() + &set_label("a")),
            ),
            "b",
        ),
        // no selectors at all ranks like a kind-only match, then by name
        (
            op("OverridePolicy", "z", &set_label("all"))
                + &op(
                    "OverridePolicy",
                    "a",
                    &(kind_sel.to_string() + &set_label("kind")),
                ),
            "all",
        ),
        (
            op("OverridePolicy", "z", &set_label("all"))
                + &op(
                    "OverridePolicy",
                    "a",
                    &(name_sel.to_string() + &set_label("name")),
                ),
            "name",
        ),
    ];
    for (policies, want) in cases {
        let out = apply(&policies, &deploy(), &member1());
        assert_eq!(
            out.pointer("/metadata/labels/winner").unwrap(),
            want,
            "{policies}"
        );
    }
    // within one rule: image, command, args, labels, annotations, field, then plaintext
    let body = "overriders:\n  plaintext:\n    - {operator: replace, path: /spec/template/spec/containers/0/image, value: \"plain:1\"}\n    - {operator: add, path: /metadata/labels/seen, value: \"yes\"}\n  imageOverrider:\n    - {component: Tag, operator: replace, value: \"2\"}\n  labelsOverrider:\n    - {operator: add, value: {seen: \"no\"}}\n";
    let out = apply(&op("OverridePolicy", "o", body), &deploy(), &member1());
    assert_eq!(
        out.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "plain:1"
    );
    assert_eq!(
        out.pointer("/spec/template/spec/containers/1/image")
            .unwrap(),
        "envoy:2"
    );
    assert_eq!(out.pointer("/metadata/labels/seen").unwrap(), "yes");
    let set = load::policies_from_yaml(
        "o.yaml",
        &(op("ClusterOverridePolicy", "c", "overriders: {}\n")
            + &op("OverridePolicy", "o", "overriders: {}\n")),
    )
    .unwrap();
    assert_eq!(
        applicable_overrides(&deploy(), &member1(), &set.overrides),
        ["ClusterOverridePolicy c", "OverridePolicy default/o"]
    );
}

#[test]
fn plaintext_errors_are_reported() {
    let p = op(
        "ClusterOverridePolicy",
        "c",
        "overriders:\n  plaintext:\n    - {operator: remove, path: /spec/nothing}\n",
    );
    let set = load::policies_from_yaml("o.yaml", &p).unwrap();
    let err = apply_overrides(&deploy(), &member1(), &set.overrides).unwrap_err();
    assert_eq!(err.policy, "ClusterOverridePolicy c");
    assert!(err.message.starts_with("cluster member1:"), "{err}");
}
