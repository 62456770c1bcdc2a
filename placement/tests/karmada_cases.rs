//! Cases taken from Karmada's own tests, each naming the upstream test (and its case name)
//! it comes from. Inputs are rewritten as policy documents, clusters and templates, and the
//! expected outputs are Karmada's unless docs/placement.md lists the difference as deliberate.
//!
//! Upstream files: pkg/util/validation/validation_test.go,
//! pkg/scheduler/framework/plugins/{tainttoleration,spreadconstraint,apienablement,
//! clusteraffinity}/*_test.go, pkg/util/overridemanager/{imageoverride,commandargsoverride,
//! labelannotationoverrider,overridemanager}_test.go, pkg/util/imageparser/parser_test.go,
//! pkg/scheduler/core/spreadconstraint/select_clusters_test.go, pkg/util/helper/policy_test.go
//! and pkg/detector (policy priority).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{deployment, map, pods_cluster};
use isthmus_placement::load;
use isthmus_placement::matching::PolicyRef;
use isthmus_placement::model::PolicyScope;
use isthmus_placement::{
    ClusterInfo, Resource, ScheduleError, apply_overrides, match_policy, schedule,
};
use serde_json::{Value, json};

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// A namespaced PropagationPolicy whose `spec` is `spec` (YAML).
fn pp_doc(spec: &str) -> String {
    format!(
        "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata:\n  name: p\n  namespace: default\nspec:\n{}",
        indent(spec, 2)
    )
}

/// A namespaced OverridePolicy whose `spec` is `spec` (YAML).
fn op_doc(spec: &str) -> String {
    format!(
        "apiVersion: policy.karmada.io/v1alpha1\nkind: OverridePolicy\nmetadata:\n  name: o\n  namespace: default\nspec:\n{}",
        indent(spec, 2)
    )
}

/// `None` when the document loads, else the error text.
fn load_error(doc: &str) -> Option<String> {
    load::policies_from_yaml("case.yaml", doc)
        .err()
        .map(|e| e.to_string())
}

const SELECT_DEPLOYMENTS: &str =
    "resourceSelectors:\n  - {apiVersion: apps/v1, kind: Deployment}\n";

#[test]
fn validate_propagation_spec() {
    // (upstream case, spec, expected error substring or "" for valid)
    let cases: &[(&str, &str, &str)] = &[
        (
            "TestValidatePropagationSpec/valid spec",
            "placement:\n  clusterAffinity:\n    fieldSelector:\n      matchExpressions:\n        - {key: provider, operator: In, values: [fooCloud]}\n        - {key: region, operator: NotIn, values: [fooCloud]}\n        - {key: zone, operator: NotIn, values: [fooCloud]}\n  spreadConstraints:\n    - {spreadByField: region, maxGroups: 2, minGroups: 1}\n    - {spreadByField: cluster}\n",
            "",
        ),
        (
            "TestValidatePropagationSpec/clusterAffinity.fieldSelector has unsupported key",
            "placement:\n  clusterAffinity:\n    fieldSelector:\n      matchExpressions:\n        - {key: foo, operator: In, values: [fooCloud]}\n",
            "unsupported key \"foo\", must be provider, region, or zone",
        ),
        (
            "TestValidatePropagationSpec/clusterAffinity.fieldSelector has unsupported operator",
            "placement:\n  clusterAffinity:\n    fieldSelector:\n      matchExpressions:\n        - {key: provider, operator: Exists, values: [fooCloud]}\n",
            "unsupported operator \"Exists\", must be In or NotIn",
        ),
        (
            "TestValidatePropagationSpec/clusterAffinities cannot co-exist with clusterAffinity",
            "placement:\n  clusterAffinity: {clusterNames: [m1]}\n  clusterAffinities:\n    - {affinityName: group1, clusterNames: [m1]}\n",
            "clusterAffinities cannot co-exist with clusterAffinity",
        ),
        (
            "TestValidatePropagationSpec/clusterAffinities different affinities have the same affinityName",
            "placement:\n  clusterAffinities:\n    - {affinityName: group1, clusterNames: [m1]}\n    - {affinityName: group1, clusterNames: [m2]}\n",
            "each affinity term in a policy must have a unique name",
        ),
        (
            "TestValidatePropagationSpec/clusterAffinities.[index].clusterAffinity.fieldSelector has unsupported key",
            "placement:\n  clusterAffinities:\n    - affinityName: group1\n      fieldSelector:\n        matchExpressions:\n          - {key: foo, operator: In, values: [fooCloud]}\n",
            "unsupported key \"foo\", must be provider, region, or zone",
        ),
        (
            "TestValidatePropagationSpec/clusterAffinities.[index].clusterAffinity.fieldSelector has unsupported operator",
            "placement:\n  clusterAffinities:\n    - affinityName: group1\n      fieldSelector:\n        matchExpressions:\n          - {key: provider, operator: Exists, values: [fooCloud]}\n",
            "unsupported operator \"Exists\", must be In or NotIn",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint spreadByLabel co-exist with spreadByField",
            "placement:\n  spreadConstraints:\n    - {spreadByField: cluster, spreadByLabel: foo}\n",
            "spreadByLabel should not co-exist with spreadByField",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint maxGroups lower than minGroups",
            "placement:\n  spreadConstraints:\n    - {maxGroups: 1, minGroups: 2}\n",
            "maxGroups lower than minGroups is not allowed",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint maxGroups lower than 0",
            "placement:\n  spreadConstraints:\n    - {maxGroups: -1, minGroups: 1}\n",
            "maxGroups lower than 0 is not allowed",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint minGroups lower than 0",
            "placement:\n  spreadConstraints:\n    - {maxGroups: 2, minGroups: -2}\n",
            "minGroups lower than 0 is not allowed",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint has two cluster spread constraints",
            "placement:\n  spreadConstraints:\n    - {spreadByField: cluster, maxGroups: 2, minGroups: -2}\n    - {spreadByField: cluster, maxGroups: 5, minGroups: 3}\n    - {spreadByLabel: grouped-by-net, maxGroups: 5, minGroups: 3}\n",
            "multiple cluster spread constraints are not allowed",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint has multiple region spread constraints",
            "placement:\n  spreadConstraints:\n    - {spreadByField: region, maxGroups: 1, minGroups: 3}\n    - {spreadByField: region, maxGroups: 4, minGroups: 2}\n    - {spreadByField: region, maxGroups: 6, minGroups: 5}\n    - {spreadByField: cluster, maxGroups: 10, minGroups: 5}\n",
            "multiple region spread constraints are not allowed",
        ),
        (
            "TestValidatePropagationSpec/spreadConstraint spreadByFieldCluster must be included if using spreadByField",
            "placement:\n  spreadConstraints:\n    - {spreadByField: region}\n",
            "the cluster spread constraint must be enabled in one of the constraints in case of SpreadByField is enabled",
        ),
        (
            "TestValidatePropagationSpec/resourceSelector name is empty when preemption is enabled",
            "resourceSelectors:\n  - {apiVersion: v1, kind: Pod, namespace: default}\npreemption: Always\n",
            "name cannot be empty if preemption is Always, the empty name may cause unexpected resources preemption",
        ),
        (
            "TestValidatePropagationSpec/suspension dispatching cannot co-exist with dispatchingOnClusters",
            "suspension:\n  dispatching: true\n  dispatchingOnClusters: {clusterNames: [cluster-name]}\n",
            "suspension dispatching cannot co-exist with dispatchingOnClusters.clusterNames",
        ),
        (
            "TestValidatePropagationSpec/suspension dispatching with nil dispatchingOnClusters is valid",
            "suspension: {dispatching: true}\n",
            "",
        ),
        (
            "TestValidatePropagationSpec/suspension dispatching with empty dispatching clusters is valid",
            "suspension:\n  dispatching: true\n  dispatchingOnClusters: {clusterNames: []}\n",
            "",
        ),
        (
            "TestValidatePropagationSpec/dispatchingOnClusters.clusterNames without dispatching is valid",
            "suspension:\n  dispatchingOnClusters: {clusterNames: [cluster-name]}\n",
            "",
        ),
        (
            "TestValidatePropagationSpec/dispatchingOnClusters.clusterNames with dispatching false is valid",
            "suspension:\n  dispatching: false\n  dispatchingOnClusters: {clusterNames: [cluster-name]}\n",
            "",
        ),
        (
            "TestValidatePropagationSpec/workloadAffinity affinity and antiAffinity with same groupByLabelKey",
            "placement:\n  workloadAffinity:\n    affinity: {groupByLabelKey: app.group}\n    antiAffinity: {groupByLabelKey: app.group}\n",
            "affinity and antiAffinity must not use the same groupByLabelKey",
        ),
        (
            "TestValidatePropagationSpec/workloadAffinity affinity and antiAffinity with different groupByLabelKey is valid",
            "placement:\n  workloadAffinity:\n    affinity: {groupByLabelKey: app.group}\n    antiAffinity: {groupByLabelKey: app.region}\n",
            "",
        ),
        (
            "TestValidatePropagationSpec/workloadAffinity affinity with invalid groupByLabelKey",
            "placement:\n  workloadAffinity:\n    affinity: {groupByLabelKey: \"INVALID KEY!\"}\n",
            "spec.placement.workloadAffinity.affinity.groupByLabelKey",
        ),
        (
            "TestValidatePropagationSpec/workloadAffinity antiAffinity with invalid groupByLabelKey",
            "placement:\n  workloadAffinity:\n    antiAffinity: {groupByLabelKey: \"INVALID KEY!\"}\n",
            "spec.placement.workloadAffinity.antiAffinity.groupByLabelKey",
        ),
        (
            "TestValidateApplicationFailover/the tolerationSeconds is less than zero",
            "propagateDeps: true\nfailover:\n  application:\n    decisionConditions: {tolerationSeconds: -100}\n",
            "spec.failover.application.decisionConditions.tolerationSeconds: Invalid value: -100: must be greater than or equal to 0",
        ),
        (
            "TestValidateApplicationFailover/the gracePeriodSeconds is declared when purgeMode is not gracefully",
            "propagateDeps: true\nfailover:\n  application:\n    decisionConditions: {tolerationSeconds: 100}\n    purgeMode: Directly\n    gracePeriodSeconds: 100\n",
            "spec.failover.application.gracePeriodSeconds: Invalid value: 100: only takes effect when purgeMode is gracefully",
        ),
        (
            "TestValidateApplicationFailover/the gracePeriodSeconds is less than 0 when purgeMode is gracefully",
            "propagateDeps: true\nfailover:\n  application:\n    decisionConditions: {tolerationSeconds: 100}\n    purgeMode: Gracefully\n    gracePeriodSeconds: -100\n",
            "spec.failover.application.gracePeriodSeconds: Invalid value: -100: must be greater than 0",
        ),
        // TestValidateApplicationFailover/"the gracePeriodSeconds is empty when purgeMode is
        // gracefully" cannot happen through admission: the mutating webhook runs first
        (
            "TestMutatingAdmission_Handle_FullCoverage: a graceful purge without gracePeriodSeconds gets 600",
            "propagateDeps: true\nfailover:\n  application:\n    decisionConditions: {tolerationSeconds: 100}\n    purgeMode: Gracefully\n",
            "",
        ),
        (
            "TestMutatingAdmission_Handle_FullCoverage: ServiceImport selectors turn propagateDeps on",
            "resourceSelectors:\n  - {apiVersion: multicluster.x-k8s.io/v1alpha1, kind: ServiceImport}\nfailover:\n  application:\n    decisionConditions: {tolerationSeconds: 100}\n",
            "",
        ),
        (
            "TestValidateApplicationFailover/application behavior is correctly declared",
            "propagateDeps: true\nfailover:\n  application:\n    decisionConditions: {tolerationSeconds: 100}\n",
            "",
        ),
        (
            "ValidatePropagationSpec: application failover is set, propagateDeps must be true",
            "failover:\n  application:\n    decisionConditions: {tolerationSeconds: 100}\n",
            "application failover is set, propagateDeps must be true",
        ),
        (
            "TestValidateClusterTolerations/toleration with Exists operator is valid",
            "placement:\n  clusterTolerations:\n    - {key: key1, operator: Exists}\n",
            "",
        ),
        (
            "TestValidateClusterTolerations/toleration with Equal operator is valid",
            "placement:\n  clusterTolerations:\n    - {key: key1, operator: Equal, value: value1}\n",
            "",
        ),
        (
            "TestValidateClusterTolerations/toleration with empty operator is valid (defaults to Equal)",
            "placement:\n  clusterTolerations:\n    - {key: key1, value: value1}\n",
            "",
        ),
        (
            "TestValidateClusterTolerations/toleration with Lt operator is invalid",
            "placement:\n  clusterTolerations:\n    - {key: key1, operator: Lt, value: \"100\"}\n",
            "Unsupported value",
        ),
        (
            "TestValidateClusterTolerations/toleration with Gt operator is invalid",
            "placement:\n  clusterTolerations:\n    - {key: key1, operator: Gt, value: \"100\"}\n",
            "Unsupported value",
        ),
        (
            "TestValidateClusterTolerations/mixed tolerations with one invalid Lt operator",
            "placement:\n  clusterTolerations:\n    - {key: key1, operator: Equal, value: value1}\n    - {key: key2, operator: Lt, value: \"100\"}\n",
            "Unsupported value",
        ),
    ];
    for (name, spec, want) in cases {
        let spec = if spec.contains("resourceSelectors") {
            (*spec).to_string()
        } else {
            format!("{SELECT_DEPLOYMENTS}{spec}")
        };
        let got = load_error(&pp_doc(&spec));
        match (want.is_empty(), got) {
            (true, None) => {}
            (true, Some(e)) => panic!("{name}: expected valid, got {e}"),
            (false, None) => panic!("{name}: expected an error containing {want:?}"),
            (false, Some(e)) => assert!(e.contains(want), "{name}: want {want:?} in {e:?}"),
        }
    }
}

#[test]
fn validate_overflow_affinities() {
    // pkg/util/validation/validation_test.go TestValidatePlacement (overflow cases),
    // TestValidateOverflowAffinities, and pkg/util/policy_test.go TestIsOverflowSupport
    // (through the strategy rule). (upstream case, placement, expected error substrings)
    let primary = |overflow: &str| {
        format!(
            "clusterAffinities:\n  - affinityName: primary\n    clusterNames: [member1]\n    overflowAffinities:\n{overflow}"
        )
    };
    let one = "      - {affinityName: overflow-1, clusterNames: [member2]}\n";
    let two = "      - {affinityName: overflow-1, clusterNames: [member2]}\n      - {affinityName: overflow-2, clusterNames: [member3]}\n";
    let dynamic = "replicaScheduling:\n  replicaSchedulingType: Divided\n  replicaDivisionPreference: Weighted\n  weightPreference: {dynamicWeight: AvailableReplicas}\n";
    let aggregated = "replicaScheduling:\n  replicaSchedulingType: Divided\n  replicaDivisionPreference: Aggregated\n";
    let strategy_error =
        "overflowAffinities can only be used together with dynamic weight or aggregated scheduling";
    let inline_error =
        "overflowAffinities can only be used together with the inline ClusterAffinity";
    let unique_error = "overflow affinity name must be unique and must not duplicate the primary group's affinityName";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "TestValidatePlacement/overflowAffinities rejected when replicaScheduling is nil",
            primary(one),
            vec![strategy_error],
        ),
        (
            "TestValidatePlacement/overflowAffinities rejected with static weight scheduling",
            primary(one) + "replicaScheduling:\n  replicaSchedulingType: Divided\n  replicaDivisionPreference: Weighted\n  weightPreference:\n    staticWeightList:\n      - {targetCluster: {clusterNames: [member1]}, weight: 1}\n",
            vec![strategy_error],
        ),
        (
            "TestValidatePlacement/overflowAffinities allowed with dynamic weight scheduling",
            primary(one) + dynamic,
            vec![],
        ),
        (
            "TestValidatePlacement/overflowAffinities allowed with aggregated scheduling",
            primary(one) + aggregated,
            vec![],
        ),
        (
            "TestValidatePlacement/multiple affinities, only one has overflow rejected",
            "clusterAffinities:\n  - {affinityName: group1, clusterNames: [member1]}\n  - affinityName: group2\n    clusterNames: [member2]\n    overflowAffinities:\n      - {affinityName: overflow-1, clusterNames: [member3]}\n".into(),
            vec![strategy_error],
        ),
        (
            "TestValidatePlacement/no overflow affinities with unsupported scheduling, no error",
            "clusterAffinities:\n  - {affinityName: primary, clusterNames: [member1]}\n".into(),
            vec![],
        ),
        (
            "TestIsOverflowSupport/Divided with Weighted but nil WeightPreference",
            primary(one) + "replicaScheduling:\n  replicaSchedulingType: Divided\n  replicaDivisionPreference: Weighted\n",
            vec![strategy_error],
        ),
        (
            "TestIsOverflowSupport/Duplicated scheduling type",
            primary(one) + "replicaScheduling:\n  replicaSchedulingType: Duplicated\n",
            vec![strategy_error],
        ),
        (
            "TestValidateOverflowAffinities/valid overflow affinities",
            primary(two) + dynamic,
            vec![],
        ),
        (
            "TestValidateOverflowAffinities/overflow affinities without ClusterAffinity",
            "clusterAffinities:\n  - affinityName: primary\n    overflowAffinities:\n      - {affinityName: overflow-1, clusterNames: [member2]}\n".to_string() + dynamic,
            vec![inline_error],
        ),
        (
            "TestValidateOverflowAffinities/duplicate overflow affinity names",
            primary("      - {affinityName: overflow-1, clusterNames: [member2]}\n      - {affinityName: overflow-1, clusterNames: [member3]}\n") + dynamic,
            vec![unique_error],
        ),
        (
            "TestValidateOverflowAffinities/overflow affinity name duplicates primary group's affinityName",
            primary("      - {affinityName: primary, clusterNames: [member2]}\n") + dynamic,
            vec![unique_error],
        ),
        (
            "TestValidateOverflowAffinities/multiple errors: empty ClusterAffinity and duplicate names",
            "clusterAffinities:\n  - affinityName: primary\n    overflowAffinities:\n      - {affinityName: overflow-1, clusterNames: [member2]}\n      - {affinityName: overflow-1, clusterNames: [member3]}\n".to_string() + dynamic,
            vec![inline_error, unique_error],
        ),
        (
            "ValidateOverflowAffinities: an overflow tier's field selector is validated",
            primary("      - affinityName: overflow-1\n        fieldSelector:\n          matchExpressions:\n            - {key: foo, operator: In, values: [x]}\n") + dynamic,
            vec!["overflowAffinities[0].fieldSelector: unsupported key \"foo\", must be provider, region, or zone"],
        ),
        (
            "ValidateOverflowAffinities: an overflow name is a label key",
            primary("      - {affinityName: \"-bad-\", clusterNames: [member2]}\n") + dynamic,
            vec!["overflowAffinities[0].affinityName: Invalid value"],
        ),
    ];
    for (name, placement, want) in cases {
        let spec = format!("{SELECT_DEPLOYMENTS}placement:\n{}", indent(&placement, 2));
        let got = load_error(&pp_doc(&spec));
        match (want.is_empty(), got) {
            (true, None) => {}
            (true, Some(e)) => panic!("{name}: expected valid, got {e}"),
            (false, None) => panic!("{name}: expected errors {want:?}"),
            (false, Some(e)) => {
                for w in &want {
                    assert!(e.contains(w), "{name}: want {w:?} in {e:?}");
                }
                // like the upstream tests, exactly these errors
                assert_eq!(e.matches("; ").count() + 1, want.len(), "{name}: {e}");
            }
        }
    }
}

#[test]
fn dispenser_allocate_by_weight() {
    // pkg/util/helper/binding_test.go Test_dispenser_AllocateByWeight: new replicas, the
    // initial assignment (its replicas count as seats held), the weights, the UID and the
    // result.
    use isthmus_placement::divide::{TieBreak, dispense};
    const EMPTY: &str = "";
    const EVEN: &str = "4858ca61-3ff8-4095-8267-f3d059d8074c";
    const ODD: &str = "d43fdeeb-d750-4e2b-bee3-64eb94534f4c";
    type Case<'a> = (
        &'a str,
        i32,
        &'a [(&'a str, i32)],
        &'a [(&'a str, i64)],
        &'a str,
        &'a [(&'a str, i32)],
    );
    let abc: &[(&str, i32)] = &[("A", 1), ("B", 2), ("C", 3)];
    let w123: &[(&str, i64)] = &[("A", 1), ("B", 2), ("C", 3)];
    let cases: &[Case<'_>] = &[
        (
            "Scale up 6 replicas",
            6,
            abc,
            w123,
            EMPTY,
            &[("A", 2), ("B", 4), ("C", 6)],
        ),
        (
            "Scale up 3 replicas",
            3,
            abc,
            w123,
            EMPTY,
            &[("A", 2), ("B", 3), ("C", 4)],
        ),
        (
            "Scale up 2 replicas",
            2,
            abc,
            w123,
            EMPTY,
            &[("A", 1), ("B", 3), ("C", 4)],
        ),
        (
            "HA scenario with weight 2:1: assign 1 replica",
            1,
            &[],
            &[("A", 2), ("B", 1)],
            EMPTY,
            &[("A", 1), ("B", 0)],
        ),
        (
            "HA scenario with weight 2:1: assign 2 replicas",
            2,
            &[],
            &[("A", 2), ("B", 1)],
            EMPTY,
            &[("A", 1), ("B", 1)],
        ),
        (
            "HA scenario with weight 2:1: assign 3 replicas",
            3,
            &[],
            &[("A", 2), ("B", 1)],
            EMPTY,
            &[("A", 2), ("B", 1)],
        ),
        (
            "brand new assign 5 replicas",
            5,
            &[],
            &[("A", 170), ("B", 110), ("C", 60)],
            EMPTY,
            &[("A", 2), ("B", 2), ("C", 1)],
        ),
        (
            "brand new assign 6 replicas",
            6,
            &[],
            &[("A", 170), ("B", 110), ("C", 60)],
            EMPTY,
            &[("A", 3), ("B", 2), ("C", 1)],
        ),
        (
            "brand new assign 5 replicas with odd uuid",
            5,
            &[],
            &[("A", 1), ("B", 1)],
            ODD,
            &[("A", 2), ("B", 3)],
        ),
        (
            "brand new assign 5 replicas with even uuid",
            5,
            &[],
            &[("A", 1), ("B", 1)],
            EVEN,
            &[("A", 3), ("B", 2)],
        ),
    ];
    for (name, replicas, init, weights, uid, want) in cases {
        let init: Vec<(String, i32)> = init.iter().map(|(n, r)| ((*n).into(), *r)).collect();
        let weights: Vec<(String, i64)> = weights.iter().map(|(n, w)| ((*n).into(), *w)).collect();
        let got = dispense(*replicas, &weights, &init, TieBreak::from_uid(uid));
        let want: Vec<(String, i32)> = want.iter().map(|(n, r)| ((*n).into(), *r)).collect();
        assert_eq!(got, want, "Test_dispenser_AllocateByWeight/{name}");
    }
}

#[test]
fn validate_override_spec() {
    let cases: &[(&str, &str, &str)] = &[
        (
            // the CRD requires `overriders` in every rule, so it is given empty here
            "TestValidateOverrideSpec/overrideRules is set, overriders and targetCluster aren't set",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders: {}\n",
            "",
        ),
        (
            "TestValidateOverrideSpec/overriders and targetCluster are set, overrideRules isn't set",
            "targetCluster: {clusterNames: [cluster-name]}\noverriders:\n  plaintext:\n    - {path: spec/image, operator: remove}\n",
            "",
        ),
        (
            "TestValidateOverrideSpec/overrideRules and targetCluster can't co-exist",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders: {}\ntargetCluster: {clusterNames: [cluster-name]}\n",
            "overrideRules and targetCluster can't co-exist",
        ),
        (
            "TestValidateOverrideSpec/overrideRules and overriders can't co-exist",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders: {}\noverriders:\n  plaintext:\n    - {path: spec/image, operator: remove}\n",
            "overrideRules and overriders can't co-exist",
        ),
        (
            "TestValidateOverrideSpec/overrideRules, targetCluster and overriders can't co-exist",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders: {}\ntargetCluster: {clusterNames: [cluster-name]}\noverriders:\n  plaintext:\n    - {path: spec/image, operator: remove}\n",
            "can't co-exist",
        ),
        (
            "TestValidateOverrideSpec/empty legacy overriders may sit next to overrideRules (emptyOverrides)",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders: {}\noverriders: {}\n",
            "",
        ),
        (
            "TestValidateOverrideSpec/invalid annotation should not be allowed",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders:\n      annotationsOverrider:\n        - {operator: add, value: {\"testannotation~projectId\": c-m-lfx9lk92p-v86cf}}\n",
            "annotationsOverrider[0].value: Invalid value",
        ),
        (
            "TestValidateOverrideSpec/invalid label should not be allowed",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders:\n      labelsOverrider:\n        - {operator: add, value: {\"testannotation~projectId\": c-m-lfx9lk92p-v86cf}}\n",
            "labelsOverrider[0].value: Invalid value",
        ),
        (
            "TestValidateOverrideSpec/overrideSpec.targetCluster.fieldSelector has unsupported key",
            "targetCluster:\n  fieldSelector:\n    matchExpressions:\n      - {key: foo, operator: In, values: [fooCloud]}\n",
            "spec.targetCluster.fieldSelector: unsupported key \"foo\", must be provider, region, or zone",
        ),
        (
            "TestValidateOverrideSpec/overrideSpec.targetCluster.fieldSelector has unsupported operator",
            "targetCluster:\n  fieldSelector:\n    matchExpressions:\n      - {key: provider, operator: Gt, values: [fooCloud]}\n",
            "spec.targetCluster.fieldSelector: unsupported operator \"Gt\", must be In or NotIn",
        ),
        (
            "TestValidateOverrideSpec/overrideRules.[index].targetCluster.fieldSelector has unsupported key",
            "overrideRules:\n  - targetCluster:\n      fieldSelector:\n        matchExpressions:\n          - {key: foo, operator: In, values: [fooCloud]}\n    overriders: {}\n",
            "spec.overrideRules[0].targetCluster.fieldSelector: unsupported key \"foo\"",
        ),
        (
            "TestValidateOverrideSpec/overrideRules.[index].targetCluster.fieldSelector has unsupported operator",
            "overrideRules:\n  - targetCluster:\n      fieldSelector:\n        matchExpressions:\n          - {key: provider, operator: Gt, values: [fooCloud]}\n    overriders: {}\n",
            "spec.overrideRules[0].targetCluster.fieldSelector: unsupported operator \"Gt\"",
        ),
        (
            "TestValidateOverrideSpec/fieldOverrider with neither YAML nor JSON should be rejected",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders:\n      fieldOverrider:\n        - {fieldPath: /data/config}\n",
            "FieldOverrider has neither YAML nor JSON set",
        ),
        (
            "TestValidateOverrideSpec/fieldOverrider with both YAML and JSON set should be rejected",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders:\n      fieldOverrider:\n        - fieldPath: /data/config\n          json: [{subPath: /key, operator: remove}]\n          yaml: [{subPath: /key, operator: remove}]\n",
            "FieldOverrider has both YAML and JSON set. Only one is allowed",
        ),
        (
            "TestValidateOverrideSpec/fieldOverrider with only YAML set should be allowed",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders:\n      fieldOverrider:\n        - fieldPath: /data/config\n          yaml: [{subPath: /key, operator: remove}]\n",
            "",
        ),
        (
            "TestValidateOverrideSpec/fieldOverrider with only JSON set should be allowed",
            "overrideRules:\n  - targetCluster: {clusterNames: [cluster-name]}\n    overriders:\n      fieldOverrider:\n        - fieldPath: /data/config\n          json: [{subPath: /key, operator: remove}]\n",
            "",
        ),
        (
            "validateOverrideOperator: value is required for add or replace operation",
            "overrideRules:\n  - overriders:\n      fieldOverrider:\n        - fieldPath: /data/config\n          json: [{subPath: /key, operator: replace}]\n",
            "value is required for add or replace operation",
        ),
        (
            "validateOverrideOperator: value is not allowed for remove operation",
            "overrideRules:\n  - overriders:\n      fieldOverrider:\n        - fieldPath: /data/config\n          yaml: [{subPath: /key, operator: remove, value: x}]\n",
            "value is not allowed for remove operation",
        ),
        (
            "ValidateOverrideRules: fieldPath must be a JSON pointer",
            "overrideRules:\n  - overriders:\n      fieldOverrider:\n        - fieldPath: data/config\n          json: [{subPath: /key, operator: remove}]\n",
            "fieldOverrider[0].fieldPath: Invalid value",
        ),
        (
            "ValidateOverrideRules: predicate path must be a JSON pointer",
            "overrideRules:\n  - overriders:\n      imageOverrider:\n        - {component: Tag, operator: replace, value: v2, predicate: {path: spec/containers/0/image}}\n",
            "imageOverrider[0].predicate.path: Invalid value",
        ),
    ];
    for (name, spec, want) in cases {
        match (want.is_empty(), load_error(&op_doc(spec))) {
            (true, None) => {}
            (true, Some(e)) => panic!("{name}: expected valid, got {e}"),
            (false, None) => panic!("{name}: expected an error containing {want:?}"),
            (false, Some(e)) => assert!(e.contains(want), "{name}: want {want:?} in {e:?}"),
        }
    }
}

/// Schedule a 1-replica Deployment with `placement` on `cluster` alone.
fn filter_one(
    placement: &str,
    cluster: ClusterInfo,
    previous: &[(&str, i32)],
) -> Result<(), String> {
    schedule(
        &common::placement(placement),
        &deployment("d", 1, None),
        &[cluster],
        &map(previous),
        None,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[test]
fn filter_plugins() {
    let taint = |c: ClusterInfo| c.with_taint("key1", "value1", "NoSchedule");
    // (upstream case, placement, cluster, previous clusters, expected reason or "" to pass)
    type Case = (
        &'static str,
        &'static str,
        ClusterInfo,
        &'static [(&'static str, i32)],
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "TestTaintToleration_Filter/cluster already in target clusters",
            "{}",
            taint(ClusterInfo::new("cluster1")),
            &[("cluster1", 1)],
            "",
        ),
        (
            "TestTaintToleration_Filter/no taints",
            "{}",
            ClusterInfo::new("cluster1"),
            &[],
            "",
        ),
        (
            "TestTaintToleration_Filter/tolerated taint",
            "clusterTolerations:\n  - {key: key1, operator: Equal, value: value1, effect: NoSchedule}\n",
            taint(ClusterInfo::new("cluster1")),
            &[],
            "",
        ),
        (
            "TestTaintToleration_Filter/untolerated taint",
            "{}",
            taint(ClusterInfo::new("cluster1")),
            &[],
            "cluster(s) had untolerated taint {key1=value1:NoSchedule}",
        ),
        (
            "TestSpreadConstraint_Filter/no spread constraints",
            "{}",
            ClusterInfo::new("cluster1"),
            &[],
            "",
        ),
        (
            "TestSpreadConstraint_Filter/spread by provider - provider present",
            "spreadConstraints:\n  - {spreadByField: provider}\n  - {spreadByField: cluster}\n",
            ClusterInfo::new("cluster1").with_location("aws", "", ""),
            &[],
            "",
        ),
        (
            "TestSpreadConstraint_Filter/spread by provider - provider missing",
            "spreadConstraints:\n  - {spreadByField: provider}\n  - {spreadByField: cluster}\n",
            ClusterInfo::new("cluster1"),
            &[],
            "cluster(s) did not have provider property",
        ),
        (
            "TestSpreadConstraint_Filter/spread by region - region present",
            "spreadConstraints:\n  - {spreadByField: region}\n  - {spreadByField: cluster}\n",
            ClusterInfo::new("cluster1").with_location("", "us-west-2", ""),
            &[],
            "",
        ),
        (
            "TestSpreadConstraint_Filter/spread by region - region missing",
            "spreadConstraints:\n  - {spreadByField: region}\n  - {spreadByField: cluster}\n",
            ClusterInfo::new("cluster1"),
            &[],
            "cluster(s) did not have region property",
        ),
        (
            "TestSpreadConstraint_Filter/spread by zone - zones present",
            "spreadConstraints:\n  - {spreadByField: zone}\n  - {spreadByField: cluster}\n",
            ClusterInfo::new("cluster1").with_location("", "", "us-west-2a"),
            &[],
            "",
        ),
        (
            "TestSpreadConstraint_Filter/spread by zone - zones missing",
            "spreadConstraints:\n  - {spreadByField: zone}\n  - {spreadByField: cluster}\n",
            ClusterInfo::new("cluster1"),
            &[],
            "cluster(s) did not have zones property",
        ),
        (
            "TestAPIEnablement_Filter/API is enabled in cluster",
            "{}",
            ClusterInfo::new("cluster1").with_api("apps/v1", &["Deployment"]),
            &[],
            "",
        ),
        (
            "TestAPIEnablement_Filter/API is not enabled in cluster",
            "{}",
            ClusterInfo::new("cluster1").with_api("apps/v1", &["StatefulSet"]),
            &[],
            "cluster(s) did not have the API resource",
        ),
        (
            "TestAPIEnablement_Filter/cluster in target list with API not enabled",
            "{}",
            ClusterInfo::new("cluster1").with_api("apps/v1", &["StatefulSet"]),
            &[("cluster1", 1)],
            "",
        ),
        (
            "TestClusterAffinity_Filter/matching cluster affinity",
            "clusterAffinity: {clusterNames: [cluster1]}\n",
            ClusterInfo::new("cluster1"),
            &[],
            "",
        ),
        (
            "TestClusterAffinity_Filter/non-matching cluster affinity",
            "clusterAffinity: {clusterNames: [cluster2]}\n",
            ClusterInfo::new("cluster1"),
            &[],
            "cluster(s) did not match the placement cluster affinity constraint",
        ),
        (
            "TestClusterAffinity_Filter/excluded cluster",
            "clusterAffinity: {exclude: [cluster1]}\n",
            ClusterInfo::new("cluster1"),
            &[],
            "cluster(s) did not match the placement cluster affinity constraint",
        ),
        (
            "TestClusterAffinity_Filter/no cluster affinity",
            "{}",
            ClusterInfo::new("cluster1"),
            &[],
            "",
        ),
    ];
    for (name, placement, cluster, previous, want) in cases {
        match (want.is_empty(), filter_one(placement, cluster, previous)) {
            (true, Ok(())) => {}
            (true, Err(e)) => panic!("{name}: expected a fit, got {e}"),
            (false, Ok(())) => panic!("{name}: expected {want:?}"),
            (false, Err(e)) => assert!(e.contains(want), "{name}: want {want:?} in {e:?}"),
        }
    }
}

fn cluster_with_fields(name: &str, provider: &str, region: &str, zones: &[&str]) -> ClusterInfo {
    let mut c = ClusterInfo::new(name).with_location(provider, region, "");
    c.zones = zones.iter().map(|z| (*z).to_string()).collect();
    c
}

#[test]
fn cluster_matches() {
    // pkg/util/selector_test.go: TestClusterMatches (its cluster1 with zones zone1..zone3,
    // region1, provider1 and foo=bar) and Test_matchZones.
    let field = |key: &str, op: &str, values: &[&str]| {
        let values: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!(
            "clusterAffinity:\n  fieldSelector:\n    matchExpressions:\n      - {{key: {key}, operator: {op}, values: [{}]}}\n",
            values.join(", ")
        )
    };
    let named = |rest: String| {
        rest.replace(
            "clusterAffinity:\n",
            "clusterAffinity:\n  clusterNames: [cluster1]\n",
        )
    };
    let labelled = |rest: String| {
        rest.replace(
            "clusterAffinity:\n",
            "clusterAffinity:\n  labelSelector: {matchLabels: {foo: bar}}\n",
        )
    };
    let zones = ["zone1", "zone2", "zone3"];
    let c = || {
        cluster_with_fields(
            "cluster1",
            "provider1",
            "region1",
            &["zone1", "zone2", "zone3"],
        )
        .with_label("foo", "bar")
    };
    let with_zones = |z: &[&str]| cluster_with_fields("cluster1", "p", "r", z);
    let cases: Vec<(&str, String, ClusterInfo, bool)> = vec![
        (
            "TestClusterMatches/test cluster names and field selector(zone & region)",
            named(field("zone", "In", &zones)).replace(
                "values: [\"zone1\", \"zone2\", \"zone3\"]}\n",
                "values: [\"zone1\", \"zone2\", \"zone3\"]}\n      - {key: region, operator: In, values: [region1]}\n",
            ),
            c(),
            true,
        ),
        (
            "TestClusterMatches/test cluster names and field selector(provider)",
            named(field("provider", "In", &["provider1"])),
            c(),
            true,
        ),
        (
            "TestClusterMatches/test cluster names and field selector(zone not in)",
            named(field("zone", "NotIn", &zones)),
            c(),
            false,
        ),
        (
            "TestClusterMatches/test cluster names and field selector(region not in)",
            named(field("region", "NotIn", &["region1"])),
            c(),
            false,
        ),
        (
            "TestClusterMatches/test label selector and field selector(zone)",
            labelled(field("zone", "In", &zones)),
            c(),
            true,
        ),
        (
            "TestClusterMatches/test label selector and field selector(zone not in)",
            labelled(field("zone", "NotIn", &zones)),
            c(),
            false,
        ),
        (
            "TestClusterMatches/test label selector and field selector(provider) [NotIn]",
            labelled(field("provider", "NotIn", &["provider1"])),
            c(),
            false,
        ),
        (
            "TestClusterMatches/test field selector zone matched",
            field("zone", "In", &zones),
            c(),
            true,
        ),
        (
            "TestClusterMatches/test field selector zone partially matched",
            named(field("zone", "NotIn", &zones)),
            c(),
            false,
        ),
        (
            "TestClusterMatches/test field selector zone not matched (one listed zone is enough)",
            named(field("zone", "In", &["zone2"])),
            c(),
            true,
        ),
        (
            "TestClusterMatches/test field selector region matched",
            field("region", "In", &["region1"]),
            c(),
            true,
        ),
        (
            "Test_matchZones/empty zones for In operator",
            field("zone", "In", &["foo"]),
            with_zones(&[]),
            false,
        ),
        (
            "Test_matchZones/overlapping zones for In operator",
            field("zone", "In", &["foo"]),
            with_zones(&["foo", "bar"]),
            true,
        ),
        (
            "Test_matchZones/all zones for In operator",
            field("zone", "In", &["foo", "bar"]),
            with_zones(&["foo", "bar"]),
            true,
        ),
        (
            "Test_matchZones/empty zones for NotIn operator",
            field("zone", "NotIn", &["foo"]),
            with_zones(&[]),
            true,
        ),
        (
            "Test_matchZones/partial zones for NotIn operator",
            field("zone", "NotIn", &["foo"]),
            with_zones(&["foo", "bar"]),
            false,
        ),
        (
            // pkg/apis/cluster/mutation/mutation.go MutateCluster: a single spec.zone becomes
            // spec.zones, so it is matched as the cluster's only zone
            "MutateCluster/deprecated spec.zone moves into spec.zones",
            field("zone", "In", &["foo"]),
            ClusterInfo::new("cluster1").with_location("p", "r", "foo"),
            true,
        ),
        (
            "label and field and name together",
            "clusterAffinity:\n  clusterNames: [cluster1]\n  labelSelector: {matchLabels: {foo: bar}}\n  fieldSelector:\n    matchExpressions:\n      - {key: provider, operator: In, values: [provider1]}\n".into(),
            c(),
            true,
        ),
        (
            "TestClusterMatches/test cluster names and label selector not matched",
            "clusterAffinity:\n  clusterNames: [cluster1]\n  labelSelector: {matchLabels: {foo: unmatched}}\n".into(),
            c(),
            false,
        ),
    ];
    for (name, placement, cluster, fits) in cases {
        let got = filter_one(&placement, cluster, &[]);
        assert_eq!(got.is_ok(), fits, "{name}: {got:?}");
    }
}

fn workload(kind: &str, api_version: &str, pod_spec: Value) -> Resource {
    let spec = match kind {
        "Pod" => pod_spec,
        _ => json!({"replicas": 1, "template": {"spec": pod_spec}}),
    };
    Resource::from_value(json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
        "spec": spec,
    }))
    .unwrap()
}

fn overridden(resource: &Resource, rules_yaml: &str) -> Value {
    let doc = op_doc(&format!(
        "overrideRules:\n  - overriders:\n{}",
        indent(rules_yaml, 6)
    ));
    let set = load::policies_from_yaml("o.yaml", &doc).unwrap();
    apply_overrides(resource, &ClusterInfo::new("member1"), &set.overrides).unwrap()
}

#[test]
fn image_overrider() {
    let one = json!({"containers": [{"name": "nginx", "image": "fictional.registry.example/imagename:v1.0.0"}]});
    let two = json!({"containers": [
        {"name": "nginx", "image": "fictional.registry.example/imagename:v1.0.0"},
        {"name": "nginx", "image": "registry.k8s.io/nginx-slim:0.8"}
    ]});
    let job = json!({"containers": [{"name": "perl", "image": "perl:5.34.0"}]});
    let digest = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
    let deploy = || workload("Deployment", "apps/v1", one.clone());
    // (upstream case, resource, overrider, image path, expected images)
    let cases: Vec<(&str, Resource, String, &str, Vec<&str>)> = vec![
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Job, Registry add",
            workload("Job", "batch/v1", job.clone()),
            "{component: Registry, operator: add, value: registry.k8s.io}".into(),
            "/spec/template/spec/containers",
            vec!["registry.k8s.io/perl:5.34.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/predicate, Job, Registry add",
            workload("Job", "batch/v1", job),
            "{component: Registry, operator: add, value: registry.k8s.io, predicate: {path: /spec/template/spec/containers/0/image}}".into(),
            "/spec/template/spec/containers",
            vec!["registry.k8s.io/perl:5.34.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Registry add",
            deploy(),
            "{component: Registry, operator: add, value: .test}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example.test/imagename:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Registry replace",
            deploy(),
            "{component: Registry, operator: replace, value: fictional.registry.us}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.us/imagename:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Registry remove",
            deploy(),
            "{component: Registry, operator: remove, value: fictional.registry.us}".into(),
            "/spec/template/spec/containers",
            vec!["imagename:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Repository add",
            deploy(),
            "{component: Repository, operator: add, value: /nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/imagename/nginx:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Repository replace",
            deploy(),
            "{component: Repository, operator: replace, value: nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/nginx:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Repository remove",
            deploy(),
            "{component: Repository, operator: remove, value: nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Tag add (tag plus digest is neither)",
            deploy(),
            format!("{{component: Tag, operator: add, value: \"{digest}\"}}"),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/imagename:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Tag replace",
            deploy(),
            format!("{{component: Tag, operator: replace, value: \"{digest}\"}}"),
            "/spec/template/spec/containers",
            vec![
                "fictional.registry.example/imagename@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c",
            ],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Deployment, Tag remove",
            deploy(),
            format!("{{component: Tag, operator: remove, value: \"{digest}\"}}"),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/imagename"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, Pod",
            workload("Pod", "v1", one.clone()),
            "{component: Repository, operator: replace, value: nginx}".into(),
            "/spec/containers",
            vec!["fictional.registry.example/nginx:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, StatefulSet",
            workload("StatefulSet", "apps/v1", one.clone()),
            "{component: Repository, operator: replace, value: nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/nginx:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, ReplicaSet",
            workload("ReplicaSet", "apps/v1", one.clone()),
            "{component: Repository, operator: replace, value: nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/nginx:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, DaemonSet",
            workload("DaemonSet", "apps/v1", one),
            "{component: Repository, operator: replace, value: nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/nginx:v1.0.0"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/empty predicate, more than one container",
            workload("Deployment", "apps/v1", two.clone()),
            "{component: Repository, operator: replace, value: nginx}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/nginx:v1.0.0", "registry.k8s.io/nginx:0.8"],
        ),
        (
            "TestParseJSONPatchesByImageOverrider/predicate, more than one container",
            workload("Deployment", "apps/v1", two),
            "{component: Registry, operator: remove, predicate: {path: /spec/template/spec/containers/1/image}}".into(),
            "/spec/template/spec/containers",
            vec!["fictional.registry.example/imagename:v1.0.0", "nginx-slim:0.8"],
        ),
    ];
    for (name, resource, overrider, path, want) in cases {
        let out = overridden(&resource, &format!("imageOverrider:\n  - {overrider}\n"));
        let images: Vec<&str> = out
            .pointer(path)
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        assert_eq!(images, want, "{name}");
    }
}

#[test]
fn command_args_overrider() {
    let pod_spec = json!({"containers": [
        {"name": "nginx", "image": "nginx", "command": ["nginx", "-v"], "args": ["a", "b"]},
        {"name": "sidecar", "image": "envoy"}
    ]});
    // (upstream case, kind, overriders, expected nginx command, args, sidecar command)
    type Expect = (Value, Value, Value);
    let cases: Vec<(&str, &str, &str, Expect)> = vec![
        (
            "TestParseJSONPatchesByCommandOverrider/add to an existing command",
            "Deployment",
            "commandOverrider:\n  - {containerName: nginx, operator: add, value: [-t]}\n",
            (json!(["nginx", "-v", "-t"]), json!(["a", "b"]), Value::Null),
        ),
        (
            "TestParseJSONPatchesByCommandOverrider/remove from an existing command",
            "Deployment",
            "commandOverrider:\n  - {containerName: nginx, operator: remove, value: [-v, absent]}\n",
            (json!(["nginx"]), json!(["a", "b"]), Value::Null),
        ),
        (
            "TestParseJSONPatchesByCommandOverrider/add creates a missing command",
            "Deployment",
            "commandOverrider:\n  - {containerName: sidecar, operator: add, value: [envoy, -c]}\n",
            (
                json!(["nginx", "-v"]),
                json!(["a", "b"]),
                json!(["envoy", "-c"]),
            ),
        ),
        (
            "TestParseJSONPatchesByCommandOverrider/remove on a missing command leaves an empty list",
            "Deployment",
            "commandOverrider:\n  - {containerName: sidecar, operator: remove, value: [x]}\n",
            (json!(["nginx", "-v"]), json!(["a", "b"]), json!([])),
        ),
        (
            "TestParseJSONPatchesByArgsOverrider/add and remove args",
            "StatefulSet",
            "argsOverrider:\n  - {containerName: nginx, operator: add, value: [c]}\n  - {containerName: nginx, operator: remove, value: [a]}\n",
            (json!(["nginx", "-v"]), json!(["b", "c"]), Value::Null),
        ),
        (
            "buildCommandArgsPatches: Job containers are edited too",
            "Job",
            "argsOverrider:\n  - {containerName: nginx, operator: add, value: [c]}\n",
            (json!(["nginx", "-v"]), json!(["a", "b", "c"]), Value::Null),
        ),
        (
            "TestParseJSONPatchesByCommandOverrider/Pod containers",
            "Pod",
            "commandOverrider:\n  - {containerName: nginx, operator: add, value: [-q]}\n",
            (json!(["nginx", "-v", "-q"]), json!(["a", "b"]), Value::Null),
        ),
        (
            "TestParseJSONPatchesByCommandOverrider/no container with that name",
            "DaemonSet",
            "commandOverrider:\n  - {containerName: missing, operator: add, value: [-q]}\n",
            (json!(["nginx", "-v"]), json!(["a", "b"]), Value::Null),
        ),
    ];
    for (name, kind, overriders, (command, args, sidecar)) in cases {
        let api = match kind {
            "Pod" => "v1",
            "Job" => "batch/v1",
            _ => "apps/v1",
        };
        let out = overridden(&workload(kind, api, pod_spec.clone()), overriders);
        let base = if kind == "Pod" {
            "/spec/containers"
        } else {
            "/spec/template/spec/containers"
        };
        let get = |p: &str| {
            out.pointer(&format!("{base}/{p}"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(get("0/command"), command, "{name}");
        assert_eq!(get("0/args"), args, "{name}");
        assert_eq!(get("1/command"), sidecar, "{name}");
    }
}

#[test]
fn labels_annotations_overrider() {
    let base = || {
        Resource::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "labels": {"foo": "foo", "bar": "bar"}},
        }))
        .unwrap()
    };
    let bare = || {
        Resource::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default"},
        }))
        .unwrap()
    };
    // (upstream case, resource, overriders, expected labels, expected annotations)
    let cases: Vec<(&str, Resource, &str, Value, Value)> = vec![
        (
            "Test_applyLabelsOverriders/test labels replace",
            base(),
            "labelsOverrider:\n  - {operator: replace, value: {foo: exist, bar: exist}}\n",
            json!({"foo": "exist", "bar": "exist"}),
            Value::Null,
        ),
        (
            "Test_applyLabelsOverriders/test labels add",
            base(),
            "labelsOverrider:\n  - {operator: add, value: {new: new}}\n",
            json!({"foo": "foo", "bar": "bar", "new": "new"}),
            Value::Null,
        ),
        (
            "Test_applyLabelsOverriders/test labels remove",
            base(),
            "labelsOverrider:\n  - {operator: remove, value: {foo: \"\", absent: \"\"}}\n",
            json!({"bar": "bar"}),
            Value::Null,
        ),
        (
            "Test_applyLabelsOverriders/replace of a missing key is skipped",
            base(),
            "labelsOverrider:\n  - {operator: replace, value: {nope: x}}\n",
            json!({"foo": "foo", "bar": "bar"}),
            Value::Null,
        ),
        (
            "Test_applyAnnotationsOverriders/add creates the map, keys with / are escaped",
            bare(),
            "annotationsOverrider:\n  - {operator: add, value: {\"example.com/owner\": team-a}}\n",
            Value::Null,
            json!({"example.com/owner": "team-a"}),
        ),
    ];
    for (name, resource, overriders, labels, annotations) in cases {
        let out = overridden(&resource, overriders);
        let get = |p: &str| out.pointer(p).cloned().unwrap_or(Value::Null);
        assert_eq!(get("/metadata/labels"), labels, "{name}");
        assert_eq!(get("/metadata/annotations"), annotations, "{name}");
    }
}

#[test]
fn override_policy_order() {
    // TestGetMatchingOverridePolicies: policies sort by implicit priority (least specific
    // first), then name; a policy's rules keep their order; only rules targeting the cluster
    // apply; legacy targetCluster/overriders act as one rule.
    let add = |v: &str| {
        format!(
            "plaintext:\n  - {{operator: add, path: /metadata/annotations/seen-{v}, value: \"{v}\"}}\n"
        )
    };
    let rule = |clusters: &str, v: &str| {
        format!(
            "  - targetCluster: {{clusterNames: [{clusters}]}}\n    overriders:\n{}",
            indent(&add(v), 6)
        )
    };
    let policy = |name: &str, selectors: &str, rules: &str| {
        format!(
            "---\napiVersion: policy.karmada.io/v1alpha1\nkind: OverridePolicy\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n{selectors}  overrideRules:\n{rules}"
        )
    };
    let by_name =
        "  resourceSelectors:\n    - {apiVersion: apps/v1, kind: Deployment, name: nginx}\n";
    let policies = policy(
        "overridePolicy1",
        by_name,
        &(rule("cluster1, cluster2", "1") + &rule("cluster2", "2")),
    ) + &policy("overridePolicy2", "", &rule("cluster1, cluster2", "3"))
        + "---\napiVersion: policy.karmada.io/v1alpha1\nkind: ClusterOverridePolicy\nmetadata:\n  name: oldOverridePolicy\nspec:\n  targetCluster: {clusterNames: [cluster1]}\n  overriders:\n    plaintext:\n      - {operator: add, path: /metadata/annotations/seen-old, value: old}\n";
    let set = load::policies_from_yaml("o.yaml", &policies).unwrap();
    let mut nginx = deployment("nginx", 1, None);
    nginx.object["metadata"]["annotations"] = json!({});
    let order = |cluster: &str| -> Vec<String> {
        isthmus_placement::overrides::applicable_overrides(
            &nginx,
            &ClusterInfo::new(cluster),
            &set.overrides,
        )
    };
    assert_eq!(
        order("cluster1"),
        [
            "ClusterOverridePolicy oldOverridePolicy",
            "OverridePolicy default/overridePolicy2",
            "OverridePolicy default/overridePolicy1"
        ]
    );
    assert_eq!(
        order("cluster2"),
        [
            "OverridePolicy default/overridePolicy2",
            "OverridePolicy default/overridePolicy1"
        ]
    );
    let out = apply_overrides(&nginx, &ClusterInfo::new("cluster2"), &set.overrides).unwrap();
    let keys: Vec<&String> = out["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["seen-3", "seen-1", "seen-2"]);
}

#[test]
fn select_best_clusters() {
    // TestSelectBestClusters (pkg/scheduler/core/spreadconstraint/select_clusters_test.go):
    // member4 P2/R2/Z2 50 pods, member2 P1/R1/Z2 60, member3 P2/R1/Z1 80, member1 P1/R1/Z1 40.
    // Upstream ranks by plugin score first; with equal scores (no previous placement) the
    // rank is by available replicas, as in Karmada's sort.
    let fleet = || {
        let mk = |n: &str, p: &str, r: &str, z: &str, pods: i64| {
            pods_cluster(n, pods).with_location(p, r, z)
        };
        vec![
            mk("member4", "P2", "R2", "Z2", 50),
            mk("member2", "P1", "R1", "Z2", 60),
            mk("member3", "P2", "R1", "Z1", 80),
            mk("member1", "P1", "R1", "Z1", 40),
        ]
    };
    let dynamic = "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference: {dynamicWeight: AvailableReplicas}\n";
    let cluster2 = "spreadConstraints:\n  - {spreadByField: cluster, maxGroups: 2, minGroups: 1}\n";
    let run = |placement: String, replicas: i32| {
        schedule(
            &common::placement(&placement),
            &deployment("d", replicas, None),
            &fleet(),
            &BTreeMap::new(),
            None,
        )
    };
    let names = |d: &isthmus_placement::Decision| d.placements.keys().cloned().collect::<Vec<_>>();

    // "select clusters by cluster score and ignore available resources when scheduling
    // strategy is duplicated": two clusters, capacity not checked
    let got = run(
        format!("{cluster2}replicaScheduling: {{replicaSchedulingType: Duplicated}}\n"),
        120,
    )
    .unwrap();
    assert_eq!(names(&got), ["member2", "member3"]);
    assert!(got.placements.values().all(|r| *r == 120));

    // "... ignore available resources when scheduling strategy is static weight": every
    // cluster, the spread constraint is not consulted
    let got = run(
        format!("{cluster2}replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {{clusterNames: [member1]}}\n        weight: 2\n"),
        120,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("member1", 120)]));
    // `Weighted` without a weight preference is a static weight too (shouldIgnoreSpreadConstraint)
    let got = run(
        format!("{cluster2}replicaScheduling: {{replicaSchedulingType: Divided}}\n"),
        8,
    )
    .unwrap();
    assert_eq!(got.placements.len(), 4);

    // "select clusters by cluster score and satisfy available resources"
    let got = run(format!("{cluster2}{dynamic}"), 120).unwrap();
    assert_eq!(names(&got), ["member2", "member3"]);
    assert_eq!(got.placements.values().sum::<i32>(), 120);

    // "select clusters by cluster score and insufficient resources"
    let err = run(format!("{cluster2}{dynamic}"), 200).unwrap_err();
    assert!(
        matches!(err, ScheduleError::SpreadConstraintUnsatisfied(_)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("no enough resource when selecting 2 clusters"),
        "{err}"
    );

    // "select clusters by cluster score and exceeded the number of available clusters."
    let err = run(
        "spreadConstraints:\n  - {spreadByField: cluster, maxGroups: 7, minGroups: 7}\n".into(),
        30,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("the number of feasible clusters is less than spreadConstraint.MinGroups"),
        "{err}"
    );

    // select_clusters_by_region: two regions wanted, only R1 and R2 exist
    let err = run(
        "spreadConstraints:\n  - {spreadByField: region, minGroups: 3}\n  - {spreadByField: cluster, minGroups: 3}\n".into(),
        3,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("the number of feasible region is less than spreadConstraint.MinGroups"),
        "{err}"
    );
    let got = run(
        "spreadConstraints:\n  - {spreadByField: region, minGroups: 2, maxGroups: 2}\n  - {spreadByField: cluster, minGroups: 2, maxGroups: 2}\n".into(),
        3,
    )
    .unwrap();
    let regions: std::collections::BTreeSet<&str> = got
        .placements
        .keys()
        .map(|n| {
            fleet()
                .into_iter()
                .find(|c| c.name == *n)
                .map_or("", |c| if c.region == "R1" { "R1" } else { "R2" })
        })
        .collect();
    assert_eq!(regions.len(), 2, "{:?}", got.placements);
}

#[test]
fn dynamic_division_errors() {
    // Test_dynamicScale/"replica 12 -> 24, dynamic weighted 1:1:1": 12 more replicas, 3 room
    let clusters = vec![
        pods_cluster("member1", 1),
        pods_cluster("member2", 1),
        pods_cluster("member3", 1),
    ];
    let err = schedule(
        &common::placement(
            "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference: {dynamicWeight: AvailableReplicas}\n",
        ),
        &deployment("d", 24, None),
        &clusters,
        &map(&[("member1", 2), ("member2", 4), ("member3", 6)]),
        None,
    )
    .unwrap_err();
    assert_eq!(err.reason(), "InsufficientReplicas");
    assert!(
        err.to_string()
            .contains("Clusters available replicas 3 are not enough to schedule"),
        "{err}"
    );
}

#[test]
fn detector_policy_priority() {
    // pkg/detector getHighestPriorityPropagationPolicy / getHighestPriorityClusterPropagationPolicy
    let pp = |kind: &str, name: &str, priority: i32, selector: &str| {
        let ns = if kind == "PropagationPolicy" {
            "  namespace: default\n"
        } else {
            ""
        };
        format!(
            "---\napiVersion: policy.karmada.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}spec:\n  priority: {priority}\n  resourceSelectors:\n    - {selector}\n"
        )
    };
    let kind = "{apiVersion: apps/v1, kind: Deployment}";
    let label =
        "{apiVersion: apps/v1, kind: Deployment, labelSelector: {matchLabels: {app: nginx}}}";
    let name = "{apiVersion: apps/v1, kind: Deployment, name: nginx}";
    let other = "{apiVersion: apps/v1, kind: Deployment, name: other}";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "explicit priority wins over implicit priority",
            pp("PropagationPolicy", "a-name", 1, name)
                + &pp("PropagationPolicy", "b-kind", 2, kind),
            "PropagationPolicy/b-kind",
        ),
        (
            "same explicit priority: name match beats label selector beats kind",
            pp("PropagationPolicy", "a-kind", 0, kind)
                + &pp("PropagationPolicy", "b-label", 0, label)
                + &pp("PropagationPolicy", "c-name", 0, name),
            "PropagationPolicy/c-name",
        ),
        (
            "label selector beats kind",
            pp("PropagationPolicy", "a-kind", 0, kind)
                + &pp("PropagationPolicy", "b-label", 0, label),
            "PropagationPolicy/b-label",
        ),
        (
            "same priorities: the alphabetically first name",
            pp("PropagationPolicy", "bbb", 0, kind) + &pp("PropagationPolicy", "aaa", 0, kind),
            "PropagationPolicy/aaa",
        ),
        (
            "a mismatching name selector claims nothing",
            pp("PropagationPolicy", "a", 0, other),
            "",
        ),
        (
            "PropagationPolicy before any ClusterPropagationPolicy",
            pp("ClusterPropagationPolicy", "cpp", 100, name)
                + &pp("PropagationPolicy", "pp", 0, kind),
            "PropagationPolicy/pp",
        ),
        (
            "ClusterPropagationPolicy when no PropagationPolicy matches",
            pp("ClusterPropagationPolicy", "cpp-low", 1, name)
                + &pp("ClusterPropagationPolicy", "cpp-high", 2, kind)
                + &pp("PropagationPolicy", "pp", 9, other),
            "ClusterPropagationPolicy/cpp-high",
        ),
    ];
    let nginx = deployment("nginx", 1, None);
    for (case, docs, want) in cases {
        let set = load::policies_from_yaml("m.yaml", &docs).unwrap();
        let got = match_policy(&nginx, &set.propagation, None)
            .map(|p| format!("{}/{}", p.kind(), p.name))
            .unwrap_or_default();
        assert_eq!(got, want, "{case}");
    }
    // preemption (pkg/detector/preemption.go): a PropagationPolicy with preemption: Always
    // takes a resource from a ClusterPropagationPolicy whatever its priority
    let docs = pp("ClusterPropagationPolicy", "cpp", 100, name)
        + &pp("PropagationPolicy", "pp", 0, name)
            .replace("  priority: 0\n", "  priority: 0\n  preemption: Always\n");
    let set = load::policies_from_yaml("m.yaml", &docs).unwrap();
    let current = PolicyRef {
        scope: PolicyScope::Cluster,
        namespace: String::new(),
        name: "cpp".into(),
    };
    let got = match_policy(&nginx, &set.propagation, Some(&current)).unwrap();
    assert_eq!(got.name, "pp");
}

#[test]
fn mutating_webhook_defaults() {
    // pkg/webhook/propagationpolicy/mutating.go and its TestMutatingAdmission_Handle_FullCoverage
    let doc = "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata:\n  name: test-propagation-policy\n  namespace: test-namespace\nspec:\n  resourceSelectors:\n    - {apiVersion: apps/v1, kind: Deployment}\n    - {apiVersion: v1, kind: ConfigMap, namespace: other}\n  placement:\n    spreadConstraints:\n      - {minGroups: 0}\n    replicaScheduling: {replicaSchedulingType: Divided}\n";
    let set = load::policies_from_yaml("m.yaml", doc).unwrap();
    let spec = &set.propagation[0].spec;
    let namespaces: Vec<&str> = spec
        .resource_selectors
        .iter()
        .map(|rs| rs.namespace.as_str())
        .collect();
    assert_eq!(namespaces, ["test-namespace", "other"]);
    let sc = &spec.placement.spread_constraints[0];
    assert_eq!((sc.spread_by_field.as_str(), sc.min_groups), ("cluster", 1));
    let rs = spec.placement.replica_scheduling.as_ref().unwrap();
    assert_eq!(rs.replica_division_preference, "Weighted");
    let tolerations: Vec<(&str, &str, &str, Option<i64>)> = spec
        .placement
        .cluster_tolerations
        .iter()
        .map(|t| {
            (
                t.key.as_str(),
                t.operator.as_str(),
                t.effect.as_str(),
                t.toleration_seconds,
            )
        })
        .collect();
    assert_eq!(
        tolerations,
        [
            (
                "cluster.karmada.io/not-ready",
                "Exists",
                "NoExecute",
                Some(300)
            ),
            (
                "cluster.karmada.io/unreachable",
                "Exists",
                "NoExecute",
                Some(300)
            ),
        ]
    );
    // "PropagationPolicy's name should be no more than 63 characters"
    let long = doc.replace("test-propagation-policy", &"p".repeat(64));
    let err = load_error(&long).unwrap();
    assert!(
        err.contains("PropagationPolicy's name should be no more than 63 characters"),
        "{err}"
    );
}

#[test]
fn field_overrider() {
    // applyFieldOverriders (pkg/util/overridemanager) and the fieldoverrider e2e case: a JSON
    // sub-document keeps its key order and is written back compact; a YAML one is written back
    // like `yaml.JSONToYAML` (sorted keys, lists at the parent's indent).
    let cm = Resource::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {
            "deploy.json": "{\"kind\":\"Deployment\",\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.19.0\"}]}}}}",
            "app.yaml": "port: 80\nlog:\n  level: info\n"
        }
    }))
    .unwrap();
    let out = overridden(
        &cm,
        "fieldOverrider:\n  - fieldPath: /data/deploy.json\n    json:\n      - {subPath: /spec/replicas, operator: replace, value: 5}\n      - {subPath: /spec/template/spec/containers/-, operator: add, value: {name: nginx-helper, image: \"nginx:1.19.1\"}}\n      - {subPath: /spec/template/spec/containers/0/image, operator: remove}\n  - fieldPath: /data/app.yaml\n    yaml:\n      - {subPath: /log/level, operator: replace, value: warn}\n      - {subPath: /extra, operator: add, value: [1, 2]}\n",
    );
    assert_eq!(
        out["data"]["deploy.json"],
        "{\"kind\":\"Deployment\",\"spec\":{\"replicas\":5,\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\"},{\"name\":\"nginx-helper\",\"image\":\"nginx:1.19.1\"}]}}}}"
    );
    assert_eq!(
        out["data"]["app.yaml"],
        "extra:\n- 1\n- 2\nlog:\n  level: warn\nport: 80\n"
    );
    // a missing field path or a non-string field fails the override
    let set = load::policies_from_yaml(
        "o.yaml",
        &op_doc("overrideRules:\n  - overriders:\n      fieldOverrider:\n        - fieldPath: /data/missing\n          json: [{subPath: /a, operator: remove}]\n"),
    )
    .unwrap();
    let err = apply_overrides(&cm, &ClusterInfo::new("m"), &set.overrides).unwrap_err();
    assert!(err.message.contains("/data/missing"), "{err}");
}

#[test]
fn default_replica_interpreter() {
    // pkg/resourceinterpreter/default/native/replica.go (and its tests): Deployment,
    // StatefulSet, Job and Pod carry replicas; a Job runs at most its completions at once;
    // other kinds (ReplicaSet included) are not interpreted.
    let cases: Vec<(&str, Value, i32)> = vec![
        (
            "deployReplica",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 3}}),
            3,
        ),
        (
            "statefulSetReplica",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"replicas": 2}}),
            2,
        ),
        (
            "jobReplica: parallelism",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 4}}),
            4,
        ),
        (
            "jobReplica: completions below parallelism",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 4, "completions": 2}}),
            2,
        ),
        (
            "jobReplica: completions above parallelism",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 4, "completions": 9}}),
            4,
        ),
        (
            "podReplica",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}),
            1,
        ),
        (
            "no interpreter for ReplicaSet",
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"replicas": 5}}),
            0,
        ),
        (
            "no interpreter for ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            0,
        ),
    ];
    for (name, object, want) in cases {
        let r = Resource::from_value(object).unwrap();
        assert_eq!(r.replicas, want, "{name}");
    }
}

#[test]
fn default_tolerations_and_evictions() {
    // helper.AddTolerations (pkg/util/helper/taint.go): the not-ready/unreachable defaults are
    // added unless a toleration with the same key, operator, value and effect exists.
    let keys = |tolerations: &str| -> Vec<(String, Option<i64>)> {
        let set = load::policies_from_yaml(
            "t.yaml",
            &pp_doc(&format!(
                "{SELECT_DEPLOYMENTS}placement:\n  clusterTolerations:\n{}",
                indent(tolerations, 4)
            )),
        )
        .unwrap();
        set.propagation[0]
            .spec
            .placement
            .cluster_tolerations
            .iter()
            .map(|t| {
                (
                    format!("{}/{}/{}", t.key, t.operator, t.effect),
                    t.toleration_seconds,
                )
            })
            .collect()
    };
    let not_ready = "cluster.karmada.io/not-ready/Exists/NoExecute".to_string();
    let unreachable = "cluster.karmada.io/unreachable/Exists/NoExecute".to_string();
    // an exact match (here with its own seconds) is kept and not duplicated
    assert_eq!(
        keys(
            "- {key: cluster.karmada.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 60}\n"
        ),
        [
            (not_ready.clone(), Some(60)),
            (unreachable.clone(), Some(300))
        ]
    );
    // a wildcard toleration is not the same toleration: both defaults are still added
    assert_eq!(
        keys("- {operator: Exists}\n"),
        [
            ("/Exists/".to_string(), None),
            (not_ready.clone(), Some(300)),
            (unreachable.clone(), Some(300))
        ]
    );

    // GetMatchingTolerations + GetMinTolerationTime: each NoExecute taint uses the first
    // toleration that tolerates it; the smallest tolerationSeconds among them wins.
    let evictions = |tolerations: &str, taints: &[(&str, &str)]| {
        let mut c = ClusterInfo::new("m1");
        for (k, v) in taints {
            c = c.with_taint(k, v, "NoExecute");
        }
        let placement =
            common::placement(&format!("clusterTolerations:\n{}", indent(tolerations, 2)));
        isthmus_placement::no_execute_evictions(&placement, &[c], &map(&[("m1", 1)]))
            .into_iter()
            .map(|e| e.after_seconds)
            .collect::<Vec<_>>()
    };
    // untolerated: now
    assert_eq!(
        evictions("- {key: other, operator: Exists}\n", &[("k", "v")]),
        [0]
    );
    // the first matching toleration (30 s) is used even though a later one has no limit
    assert_eq!(
        evictions(
            "- {operator: Exists, effect: NoExecute, tolerationSeconds: 30}\n- {key: k, operator: Exists}\n",
            &[("k", "v")]
        ),
        [30]
    );
    // the first matching toleration has no limit: tolerated forever
    assert_eq!(
        evictions(
            "- {key: k, operator: Exists}\n- {operator: Exists, effect: NoExecute, tolerationSeconds: 30}\n",
            &[("k", "v")]
        ),
        Vec::<i64>::new()
    );
    // several taints: the smallest time among the used tolerations
    assert_eq!(
        evictions(
            "- {key: a, operator: Exists, tolerationSeconds: 100}\n- {key: b, operator: Exists, tolerationSeconds: 20}\n",
            &[("a", ""), ("b", "")]
        ),
        [20]
    );
}

#[test]
fn select_best_clusters_by_region() {
    // Test_selectBestClustersByRegion (select_clusters_by_region_test.go). Upstream feeds
    // plugin scores directly; here a cluster's score comes from the previous placement (100)
    // and the regions' clusters are plain MemberClusters, Duplicated so capacity is not in play.
    let region = |n: &str, r: &str| ClusterInfo::new(n).with_location("P1", r, "Z1");
    let run = |clusters: Vec<ClusterInfo>, spread: &str, previous: &[(&str, i32)]| {
        schedule(
            &common::placement(&format!(
                "replicaScheduling: {{replicaSchedulingType: Duplicated}}\nspreadConstraints:\n{}",
                indent(spread, 2)
            )),
            &deployment("d", 1, None),
            &clusters,
            &map(previous),
            None,
        )
        .map(|d| d.placements.keys().cloned().collect::<Vec<_>>())
    };
    let two_regions = || {
        vec![
            region("member1", "R1"),
            region("member2", "R1"),
            region("member3", "R2"),
            region("member4", "R2"),
            region("member5", "R2"),
        ]
    };
    // "select cluster from the region with the higher score" (with equally large regions:
    // Karmada's group score counts the clusters that can run the workload first)
    let mut even = two_regions();
    even.pop();
    assert_eq!(
        run(
            even,
            "- {spreadByField: region, maxGroups: 1, minGroups: 1}\n- {spreadByField: cluster, maxGroups: 2, minGroups: 2}\n",
            &[("member1", 1), ("member2", 1)]
        )
        .unwrap(),
        ["member1", "member2"]
    );
    // "select cluster from the region with enough clusters": R1 scores higher but only R2
    // holds three clusters
    assert_eq!(
        run(
            two_regions(),
            "- {spreadByField: region, maxGroups: 1, minGroups: 1}\n- {spreadByField: cluster, maxGroups: 3, minGroups: 3}\n",
            &[("member1", 1), ("member2", 1)]
        )
        .unwrap(),
        ["member3", "member4", "member5"]
    );
    // the same when the small region also ranks first by capacity: it is swapped out for the
    // region that has enough clusters
    let ranked = vec![
        pods_cluster("member1", 10).with_location("P1", "R1", "Z1"),
        pods_cluster("member2", 10).with_location("P1", "R1", "Z1"),
        pods_cluster("member3", 0).with_location("P1", "R2", "Z1"),
        pods_cluster("member4", 0).with_location("P1", "R2", "Z1"),
        pods_cluster("member5", 0).with_location("P1", "R2", "Z1"),
    ];
    assert_eq!(
        run(
            ranked,
            "- {spreadByField: region, maxGroups: 1, minGroups: 1}\n- {spreadByField: cluster, maxGroups: 3, minGroups: 3}\n",
            &[]
        )
        .unwrap(),
        ["member3", "member4", "member5"]
    );
    // "select cluster from more than `minGroups` regions with enough clusters and higher score"
    let five_regions = vec![
        region("member1", "R1"),
        region("member2", "R2"),
        region("member3", "R2"),
        region("member4", "R2"),
        region("member5", "R3"),
        region("member6", "R3"),
        region("member7", "R4"),
        region("member8", "R5"),
    ];
    assert_eq!(
        run(
            five_regions,
            "- {spreadByField: region, maxGroups: 3, minGroups: 1}\n- {spreadByField: cluster, maxGroups: 8, minGroups: 6}\n",
            &[("member1", 1), ("member7", 1)]
        )
        .unwrap(),
        ["member1", "member2", "member3", "member4", "member5", "member6"]
    );
    // "no enough region"
    let err = run(
        two_regions(),
        "- {spreadByField: region, maxGroups: 3, minGroups: 3}\n- {spreadByField: cluster, maxGroups: 3, minGroups: 3}\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.reason(), "SpreadConstraintUnsatisfied", "{err}");
    // "no enough clusters": one region, four clusters wanted, at most three in a region
    let err = run(
        two_regions(),
        "- {spreadByField: region, maxGroups: 1, minGroups: 1}\n- {spreadByField: cluster, maxGroups: 4, minGroups: 4}\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.reason(), "SpreadConstraintUnsatisfied", "{err}");
}

#[test]
fn image_parser() {
    use isthmus_placement::overrides::ImageRef;
    // TestParse and TestSplitHostname (pkg/util/imageparser/parser_test.go): the parts, and the
    // image prints back unchanged
    let cases = [
        ("simple", "pause", "", "pause", "", ""),
        (
            "repository",
            "subpath/imagename:v1.0.0",
            "",
            "subpath/imagename",
            "v1.0.0",
            "",
        ),
        (
            "normal",
            "fictional.registry.example/imagename:v1.0.0",
            "fictional.registry.example",
            "imagename",
            "v1.0.0",
            "",
        ),
        (
            "hostname with port",
            "fictional.registry.example:10443/subpath/imagename:v1.0.0",
            "fictional.registry.example:10443",
            "subpath/imagename",
            "v1.0.0",
            "",
        ),
        (
            "digest",
            "fictional.registry.example:10443/subpath/imagename@sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
            "fictional.registry.example:10443",
            "subpath/imagename",
            "",
            "sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
        ),
        (
            "hostname with IP",
            "10.10.10.10:10443/subpath/imagename",
            "10.10.10.10:10443",
            "subpath/imagename",
            "",
            "",
        ),
        (
            "localhost",
            "localhost/imagename",
            "localhost",
            "imagename",
            "",
            "",
        ),
    ];
    for (name, image, host, repo, tag, digest) in cases {
        let r = ImageRef::parse(image);
        assert_eq!(
            (
                r.hostname.as_str(),
                r.repository.as_str(),
                r.tag.as_str(),
                r.digest.as_str()
            ),
            (host, repo, tag, digest),
            "{name}"
        );
        assert_eq!(r.to_string(), image, "{name}");
    }
}
