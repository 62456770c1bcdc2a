//! Policy documents: schema validation, defaulting, semantic checks, and which policy claims
//! a resource (Karmada's detector rules, preemption).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::deployment;
use isthmus_placement::load::{self, LoadError};
use isthmus_placement::matching::PolicyRef;
use isthmus_placement::model::PolicyScope;
use isthmus_placement::{Resource, match_policy};
use serde_json::json;

/// Every field of the PropagationPolicy CRD, as a Karmada user would write it.
const FULL_PP: &str = r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: everything
  namespace: default
  labels: {team: a}
  annotations: {note: x}
spec:
  activationPreference: Lazy
  association: false
  conflictResolution: Overwrite
  dependentOverrides: [op-a]
  failover:
    application:
      decisionConditions: {tolerationSeconds: 60}
      gracePeriodSeconds: 600
      purgeMode: Gracefully
      statePreservation:
        rules:
          - {aliasLabelName: app.state, jsonPath: "{ .status.state }"}
    cluster:
      purgeMode: Directly
      statePreservation:
        rules:
          - {aliasLabelName: x, jsonPath: "{ .spec.x }"}
  placement:
    clusterAffinities:
      - affinityName: primary
        clusterNames: [member1]
        exclude: [member9]
        fieldSelector:
          matchExpressions:
            - {key: region, operator: In, values: [eu]}
        labelSelector:
          matchLabels: {env: prod}
          matchExpressions:
            - {key: tier, operator: Exists}
        overflowAffinities:
          - affinityName: overflow
            clusterNames: [member2]
    clusterTolerations:
      - {key: k, operator: Equal, value: v, effect: NoExecute, tolerationSeconds: 30}
    replicaScheduling:
      replicaDivisionPreference: Weighted
      replicaSchedulingType: Divided
      weightPreference:
        dynamicWeight: AvailableReplicas
        staticWeightList:
          - targetCluster: {clusterNames: [member1]}
            weight: 1
    spreadConstraints:
      - {spreadByField: cluster, maxGroups: 2, minGroups: 1}
      - {spreadByField: region, maxGroups: 2, minGroups: 1}
    workloadAffinity:
      affinity: {groupByLabelKey: app-group}
      antiAffinity: {groupByLabelKey: other}
  preemption: Always
  preserveResourcesOnDeletion: true
  priority: 5
  propagateDeps: true
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      name: nginx
      namespace: default
      labelSelector:
        matchLabels: {app: nginx}
  schedulePriority:
    priorityClassName: high
    priorityClassSource: KubePriorityClass
  schedulerName: default-scheduler
  suspension:
    dispatching: false
    dispatchingOnClusters:
      clusterNames: [member3]
"#;

const FULL_OP: &str = r#"
apiVersion: placement.isthmus.io/v1alpha1
kind: ClusterOverridePolicy
metadata:
  name: everything
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
  overrideRules:
    - targetCluster:
        clusterNames: [member1]
        exclude: [member2]
        fieldSelector:
          matchExpressions:
            - {key: provider, operator: In, values: [aws]}
        labelSelector:
          matchLabels: {env: prod}
      overriders:
        plaintext:
          - {operator: add, path: /metadata/annotations, value: {a: b}}
        imageOverrider:
          - {component: Tag, operator: replace, value: "1.0", predicate: {path: /spec/template/spec/containers/0/image}}
        commandOverrider:
          - {containerName: app, operator: add, value: [--x]}
        argsOverrider:
          - {containerName: app, operator: remove, value: [--y]}
        labelsOverrider:
          - {operator: add, value: {l: v}}
        annotationsOverrider:
          - {operator: remove, value: {a: ""}}
        fieldOverrider:
          - fieldPath: /data/config
            json:
              - {subPath: /a, operator: replace, value: 1}
          - fieldPath: /data/other
            yaml:
              - {subPath: /b, operator: add, value: {c: d}}
"#;

#[test]
fn every_crd_field_is_accepted() {
    let set = load::policies_from_yaml("full.yaml", FULL_PP).unwrap();
    let p = &set.propagation[0];
    assert_eq!(p.spec.priority, 5);
    assert_eq!(p.spec.preemption, "Always");
    assert_eq!(
        p.spec.placement.cluster_affinities[0].affinity_name,
        "primary"
    );
    let set = load::policies_from_yaml("full.yaml", FULL_OP).unwrap();
    assert_eq!(set.overrides[0].group, "placement.isthmus.io");
    assert_eq!(set.overrides[0].spec.override_rules.len(), 1);
}

fn invalid(doc: &str) -> String {
    match load::policies_from_yaml("bad.yaml", doc) {
        Err(e @ LoadError::Invalid { .. }) => e.to_string(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn unknown_and_bad_fields_are_rejected_with_their_path() {
    let cases = [
        (
            FULL_PP.replace("schedulerName:", "schedulerNmae:"),
            "spec.schedulerNmae: unknown field `schedulerNmae`",
        ),
        (
            FULL_PP.replace(
                "gracePeriodSeconds: 600",
                "gracePeriodSeconds: 600\n      extra: 1",
            ),
            "spec.failover.application.extra: unknown field `extra`",
        ),
        (
            FULL_PP.replace(
                "replicaSchedulingType: Divided",
                "replicaSchedulingType: Split",
            ),
            "spec.placement.replicaScheduling.replicaSchedulingType: unsupported value \"Split\"",
        ),
        (
            FULL_PP.replace("priority: 5", "priority: high"),
            "spec.priority: must be an integer",
        ),
        (
            FULL_PP.replace("weight: 1", "weight: 0"),
            "staticWeightList[0].weight: must be >= 1",
        ),
        (
            FULL_PP.replace(
                "      kind: Deployment\n      name: nginx",
                "      name: nginx",
            ),
            "spec.resourceSelectors[0]: missing required field `kind`",
        ),
        (
            FULL_OP.replace(
                "containerName: app, operator: add",
                "containerName: app, operator: append",
            ),
            "commandOverrider[0].operator: unsupported value \"append\"",
        ),
    ];
    for (doc, want) in cases {
        let msg = invalid(&doc);
        assert!(msg.contains(want), "want {want:?} in {msg:?}");
        assert!(msg.starts_with("bad.yaml: "), "{msg}");
    }
}

#[test]
fn semantic_rules() {
    let base = "apiVersion: policy.karmada.io/v1alpha1\nkind: ClusterPropagationPolicy\nmetadata:\n  name: c\nspec:\n  resourceSelectors:\n    - {apiVersion: v1, kind: ConfigMap}\n  placement:\n";
    let cases = [
        (
            "    clusterAffinity: {clusterNames: [a]}\n    clusterAffinities:\n      - {affinityName: x}\n",
            "clusterAffinities cannot co-exist with clusterAffinity",
        ),
        (
            "    clusterAffinities:\n      - {affinityName: x}\n      - {affinityName: x}\n",
            "each affinity term in a policy must have a unique name",
        ),
        (
            "    spreadConstraints:\n      - {spreadByField: region, minGroups: 1}\n",
            "cluster spread constraint must be enabled",
        ),
        (
            "    spreadConstraints:\n      - {spreadByField: cluster, spreadByLabel: x}\n",
            "spreadByLabel should not co-exist with spreadByField",
        ),
        (
            "    spreadConstraints:\n      - {spreadByField: cluster, minGroups: 3, maxGroups: 2}\n",
            "lower than minGroups",
        ),
        (
            "    clusterAffinity:\n      labelSelector:\n        matchExpressions:\n          - {key: a, operator: In}\n",
            "needs at least one value",
        ),
        (
            "    clusterAffinity:\n      fieldSelector:\n        matchExpressions:\n          - {key: color, operator: In, values: [x]}\n",
            "unsupported key \"color\", must be provider, region, or zone",
        ),
    ];
    for (placement, want) in cases {
        let msg = invalid(&format!("{base}{placement}"));
        assert!(msg.contains(want), "want {want:?} in {msg:?}");
    }
}

#[test]
fn defaulting_follows_karmada() {
    let doc = "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata:\n  name: p\nspec:\n  resourceSelectors:\n    - {apiVersion: apps/v1, kind: Deployment}\n  placement:\n    spreadConstraints:\n      - {maxGroups: 2}\n    replicaScheduling: {}\n";
    let set = load::policies_from_yaml("d.yaml", doc).unwrap();
    let p = &set.propagation[0];
    assert_eq!(p.namespace, "default");
    let sc = &p.spec.placement.spread_constraints[0];
    assert_eq!((sc.spread_by_field.as_str(), sc.min_groups), ("cluster", 1));
    let rs = p.spec.placement.replica_scheduling.as_ref().unwrap();
    assert_eq!(rs.replica_scheduling_type, "Divided");
    assert_eq!(rs.replica_division_preference, "Weighted");
    let keys: Vec<&str> = p
        .spec
        .placement
        .cluster_tolerations
        .iter()
        .map(|t| t.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "cluster.karmada.io/not-ready",
            "cluster.karmada.io/unreachable"
        ]
    );
}

#[test]
fn unsupported_kinds_are_rejected() {
    let err = load::policies_from_yaml(
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("document 0: unsupported v1/ConfigMap"),
        "{err}"
    );
    let err = load::policies_from_yaml(
        "x.yaml",
        "apiVersion: policy.karmada.io/v1beta1\nkind: PropagationPolicy\n",
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::UnsupportedKind { .. }));
}

fn pp(kind: &str, name: &str, priority: i32, selector: &str, extra: &str) -> String {
    let ns = if kind == "PropagationPolicy" {
        "  namespace: default\n"
    } else {
        ""
    };
    format!(
        "---\napiVersion: policy.karmada.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}spec:\n  priority: {priority}\n{extra}  resourceSelectors:\n    - {selector}\n"
    )
}

fn claim(policies: &str, resource: &Resource, current: Option<PolicyRef>) -> String {
    let set = load::policies_from_yaml("m.yaml", policies).unwrap();
    match_policy(resource, &set.propagation, current.as_ref())
        .map(|p| format!("{}/{}", p.kind(), p.name))
        .unwrap_or_default()
}

#[test]
fn policy_matching_order() {
    let nginx = deployment("nginx", 1, None);
    let kind = "{apiVersion: apps/v1, kind: Deployment}";
    let by_name = "{apiVersion: apps/v1, kind: Deployment, name: nginx}";
    let by_label =
        "{apiVersion: apps/v1, kind: Deployment, labelSelector: {matchLabels: {app: nginx}}}";
    let other_name = "{apiVersion: apps/v1, kind: Deployment, name: other}";
    let cases = [
        // a namespaced policy wins over a cluster-scoped one, whatever the priority
        (
            pp("ClusterPropagationPolicy", "cpp", 100, by_name, "")
                + &pp("PropagationPolicy", "pp", 0, kind, ""),
            "PropagationPolicy/pp",
        ),
        // higher explicit priority first
        (
            pp("PropagationPolicy", "a", 1, kind, "") + &pp("PropagationPolicy", "b", 2, kind, ""),
            "PropagationPolicy/b",
        ),
        // then name over label over kind
        (
            pp("PropagationPolicy", "a", 0, kind, "")
                + &pp("PropagationPolicy", "b", 0, by_label, ""),
            "PropagationPolicy/b",
        ),
        (
            pp("PropagationPolicy", "a", 0, by_label, "")
                + &pp("PropagationPolicy", "b", 0, by_name, ""),
            "PropagationPolicy/b",
        ),
        // then name alphabetically
        (
            pp("PropagationPolicy", "zeta", 0, by_name, "")
                + &pp("PropagationPolicy", "alpha", 0, by_name, ""),
            "PropagationPolicy/alpha",
        ),
        // a name selector for another object does not match
        (
            pp("PropagationPolicy", "a", 0, other_name, "")
                + &pp("ClusterPropagationPolicy", "c", 0, kind, ""),
            "ClusterPropagationPolicy/c",
        ),
        // a namespace outside the resource's does not match
        (
            pp(
                "PropagationPolicy",
                "a",
                0,
                "{apiVersion: apps/v1, kind: Deployment, namespace: other}",
                "",
            ),
            "",
        ),
    ];
    for (policies, want) in cases {
        assert_eq!(claim(&policies, &nginx, None), want, "{policies}");
    }
    // namespaced policies never claim objects of another namespace
    let other_ns = Resource::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "namespace": "prod"}})).unwrap();
    assert_eq!(
        claim(&pp("PropagationPolicy", "a", 0, kind, ""), &other_ns, None),
        ""
    );
}

#[test]
fn claims_stick_unless_preempted() {
    let nginx = deployment("nginx", 1, None);
    let kind = "{apiVersion: apps/v1, kind: Deployment}";
    let current = |scope, name: &str| {
        Some(PolicyRef {
            scope,
            namespace: if scope == PolicyScope::Namespaced {
                "default".into()
            } else {
                String::new()
            },
            name: name.into(),
        })
    };
    let always = "  preemption: Always\n";
    // Karmada only lets policies that name their resources preempt
    let named = "{apiVersion: apps/v1, kind: Deployment, name: nginx}";
    // a better policy without preemption does not take over
    let policies =
        pp("PropagationPolicy", "old", 0, kind, "") + &pp("PropagationPolicy", "new", 9, kind, "");
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Namespaced, "old")),
        "PropagationPolicy/old"
    );
    // with preemption and higher priority it does
    let policies = pp("PropagationPolicy", "old", 0, kind, "")
        + &pp("PropagationPolicy", "new", 9, named, always);
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Namespaced, "old")),
        "PropagationPolicy/new"
    );
    // but not with equal priority
    let policies = pp("PropagationPolicy", "old", 9, kind, "")
        + &pp("PropagationPolicy", "new", 9, named, always);
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Namespaced, "old")),
        "PropagationPolicy/old"
    );
    // a PropagationPolicy preempts a ClusterPropagationPolicy regardless of priority
    let policies = pp("ClusterPropagationPolicy", "cpp", 50, kind, "")
        + &pp("PropagationPolicy", "pp", 0, named, always);
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Cluster, "cpp")),
        "PropagationPolicy/pp"
    );
    // a ClusterPropagationPolicy preempts a lower one but never a PropagationPolicy
    let policies = pp("ClusterPropagationPolicy", "low", 1, kind, "")
        + &pp("ClusterPropagationPolicy", "high", 2, named, always);
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Cluster, "low")),
        "ClusterPropagationPolicy/high"
    );
    let policies = pp("PropagationPolicy", "pp", 0, kind, "")
        + &pp("ClusterPropagationPolicy", "high", 99, named, always);
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Namespaced, "pp")),
        "PropagationPolicy/pp"
    );
    // a claim whose policy is gone falls back to normal matching
    let policies = pp("PropagationPolicy", "next", 0, kind, "");
    assert_eq!(
        claim(&policies, &nginx, current(PolicyScope::Namespaced, "gone")),
        "PropagationPolicy/next"
    );
}

#[test]
fn cluster_documents() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/examples/clusters.yaml"
    ))
    .unwrap();
    let clusters = load::clusters_from_yaml("clusters.yaml", &text).unwrap();
    assert_eq!(clusters.len(), 3);
    assert_eq!(clusters[1].zones, ["us-east1-b", "us-east1-c"]);
    assert_eq!(clusters[2].api_enablements.len(), 2);
    let summary = clusters[2].resource_summary.as_ref().unwrap();
    assert_eq!(summary.allowed_milli("cpu"), 3000);
    let bad = [
        (
            "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n",
            "unsupported cluster kind v1/Node",
        ),
        (
            "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\nspec:\n  resourceSummary:\n    allocatable: {cpu: lots}\n",
            "field spec.resourceSummary.allocatable.cpu: invalid quantity",
        ),
        (
            "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\nspec:\n  taints:\n    - {key: k, effect: Sometimes}\n",
            "spec.taints[0].effect",
        ),
        (
            "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\nspec:\n  zones: 3\n",
            "field spec.zones",
        ),
        (
            "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\n---\napiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {name: a}\n",
            "duplicate cluster name",
        ),
        (
            "apiVersion: isthmus.io/v1alpha1\nkind: MemberCluster\nmetadata: {labels: {a: b}}\n",
            "metadata.name",
        ),
        (
            "apiVersion: cluster.karmada.io/v1alpha1\nkind: Cluster\nmetadata: {name: k}\nspec:\n  regoin: eu\n",
            "field spec.regoin: unknown field `regoin`",
        ),
        (
            "apiVersion: cluster.karmada.io/v1alpha1\nkind: Cluster\nmetadata: {name: k}\nspec:\n  region: 3\n",
            "field spec.region: must be a string",
        ),
        (
            "apiVersion: cluster.karmada.io/v1alpha1\nkind: Cluster\nmetadata: {name: k}\nspec: {}\nstatus:\n  resourceSummary:\n    allocatable: {pods: \"10\"}\n    spare: {}\n",
            "status.resourceSummary.spare: unknown field",
        ),
    ];
    for (doc, want) in bad {
        let err = load::clusters_from_yaml("c.yaml", doc)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

#[test]
fn resource_interpretation() {
    let job = Resource::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"parallelism": 4, "template": {"spec": {
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "250m"}}}
            ],
            "overhead": {"memory": "1Mi"}
        }}}
    }))
    .unwrap();
    assert_eq!(job.replicas, 4);
    let req = job.requirements.unwrap().requests;
    assert_eq!(req["cpu"], 2000);
    assert_eq!(req["memory"], ((1i128 << 30) + (1 << 20)) * 1000);
    let cm = Resource::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}})).unwrap();
    assert_eq!((cm.replicas, cm.requirements), (0, None));
    let default_one = Resource::from_value(json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {}})).unwrap();
    assert_eq!(default_one.replicas, 1);
    let err = Resource::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "three"}})).unwrap_err();
    assert!(err.to_string().contains("spec.replicas"), "{err}");
    let err = Resource::from_value(json!({"kind": "Deployment"})).unwrap_err();
    assert!(err.to_string().contains("apiVersion"), "{err}");
}

#[test]
fn namespace_defaults_for_namespaced_kinds() {
    let d = Resource::from_value(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
    )
    .unwrap();
    assert_eq!(d.namespace, "default");
    let ns = Resource::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    )
    .unwrap();
    assert_eq!(ns.namespace, "");
    let cr = Resource::from_value(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}})).unwrap();
    assert_eq!(cr.namespace, "");
    // so a namespaced policy in `default` claims it, while a cluster-scoped kind needs a
    // ClusterPropagationPolicy
    let set = load::policies_from_yaml(
        "p.yaml",
        &pp(
            "PropagationPolicy",
            "pp",
            0,
            "{apiVersion: apps/v1, kind: Deployment}",
            "",
        ),
    )
    .unwrap();
    assert_eq!(
        match_policy(&d, &set.propagation, None).map(|p| p.name.as_str()),
        Some("pp")
    );
}

#[test]
fn duplicate_policies_are_rejected() {
    let one = pp(
        "PropagationPolicy",
        "same",
        0,
        "{apiVersion: apps/v1, kind: Deployment}",
        "",
    );
    let err = load::policies_from_yaml("d.yaml", &format!("{one}{one}")).unwrap_err();
    assert!(
        err.to_string()
            .contains("document 1: duplicate PropagationPolicy \"default/same\""),
        "{err}"
    );
    // the same name in another kind is fine
    let other = pp(
        "ClusterPropagationPolicy",
        "same",
        0,
        "{apiVersion: apps/v1, kind: Deployment}",
        "",
    );
    assert_eq!(
        load::policies_from_yaml("d.yaml", &format!("{one}{other}"))
            .unwrap()
            .propagation
            .len(),
        2
    );
}

#[test]
fn lenient_loading_skips_bad_documents() {
    let good = pp(
        "PropagationPolicy",
        "good",
        0,
        "{apiVersion: apps/v1, kind: Deployment}",
        "",
    );
    let bad = "---\napiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {name: bad}\nspec:\n  resourceSelectors: []\n  bogus: 1\n";
    let docs = load::parse_documents("l.yaml", &format!("{good}{bad}{good}")).unwrap();
    let (set, errors) = load::policies_from_values_lenient("l.yaml", &docs);
    assert_eq!(set.propagation.len(), 1);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].to_string().contains("spec.bogus: unknown field"),
        "{}",
        errors[0]
    );
    assert!(errors[1].to_string().contains("duplicate"), "{}", errors[1]);
    let one = load::policy_from_value("x", 0, &docs[0]).unwrap();
    assert!(matches!(one, load::AnyPolicy::Propagation(ref p) if p.name == "good"));
}
