//! Replica division, table-driven from Karmada's scheduler test cases
//! (`pkg/scheduler/core/assignment_test.go`, `division_algorithm_test.go`,
//! `pkg/util/helper/webstermethod_test.go`). Where Karmada's older remainder rule and the
//! Webster method disagree, the Webster result is expected (see docs/placement.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{deployment, map, members, placement, pods_cluster};
use isthmus_placement::{ClusterInfo, ScheduleError, schedule};

const STATIC_3_2_1: &str = "replicaScheduling:
  replicaSchedulingType: Divided
  replicaDivisionPreference: Weighted
  weightPreference:
    staticWeightList:
      - targetCluster: {clusterNames: [member1]}
        weight: 3
      - targetCluster: {clusterNames: [member2]}
        weight: 2
      - targetCluster: {clusterNames: [member3]}
        weight: 1
";

const DYNAMIC: &str = "replicaScheduling:
  replicaSchedulingType: Divided
  replicaDivisionPreference: Weighted
  weightPreference:
    dynamicWeight: AvailableReplicas
";

const AGGREGATED: &str = "replicaScheduling:
  replicaSchedulingType: Divided
  replicaDivisionPreference: Aggregated
";

#[test]
fn static_weight_cases() {
    struct Case {
        name: &'static str,
        placement: &'static str,
        clusters: usize,
        replicas: i32,
        want: &'static [(&'static str, i32)],
    }
    let cases = [
        Case {
            name: "replica 12, weight 3:2:1",
            placement: STATIC_3_2_1,
            clusters: 3,
            replicas: 12,
            want: &[("member1", 6), ("member2", 4), ("member3", 2)],
        },
        Case {
            name: "replica 12, default weight",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n",
            clusters: 3,
            replicas: 12,
            want: &[("member1", 4), ("member2", 4), ("member3", 4)],
        },
        // quotas 7 : 4.67 : 2.33 round to 7 : 5 : 2 (Karmada's pre-Webster remainder rule gave 8 : 4 : 2)
        Case {
            name: "replica 14, weight 3:2:1",
            placement: STATIC_3_2_1,
            clusters: 3,
            replicas: 14,
            want: &[("member1", 7), ("member2", 5), ("member3", 2)],
        },
        Case {
            name: "selected cluster without weight is ignored",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {clusterNames: [member1]}\n        weight: 1\n",
            clusters: 2,
            replicas: 2,
            want: &[("member1", 2)],
        },
        Case {
            name: "cluster with multiple weights takes the highest",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {clusterNames: [member1]}\n        weight: 1\n      - targetCluster: {clusterNames: [member2]}\n        weight: 1\n      - targetCluster: {clusterNames: [member1]}\n        weight: 2\n",
            clusters: 2,
            replicas: 3,
            want: &[("member1", 2), ("member2", 1)],
        },
        // the examples in Karmada's assignByStaticWeightStrategy comment
        Case {
            name: "9 by 1:2",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {clusterNames: [member1]}\n        weight: 1\n      - targetCluster: {clusterNames: [member2]}\n        weight: 2\n",
            clusters: 2,
            replicas: 9,
            want: &[("member1", 3), ("member2", 6)],
        },
        Case {
            name: "9 by 1:3",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {clusterNames: [member1]}\n        weight: 1\n      - targetCluster: {clusterNames: [member2]}\n        weight: 3\n",
            clusters: 2,
            replicas: 9,
            want: &[("member1", 2), ("member2", 7)],
        },
        Case {
            name: "weights by label selector",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {labelSelector: {matchLabels: {big: \"yes\"}}}\n        weight: 4\n      - targetCluster: {clusterNames: [member2, member3]}\n        weight: 1\n",
            clusters: 3,
            replicas: 6,
            want: &[("member1", 4), ("member2", 1), ("member3", 1)],
        },
        Case {
            name: "fewer replicas than clusters: ties go to the smaller name",
            placement: "replicaScheduling:\n  replicaSchedulingType: Divided\n",
            clusters: 3,
            replicas: 2,
            want: &[("member1", 1), ("member2", 1)],
        },
    ];
    for case in cases {
        let mut clusters = members(case.clusters);
        clusters[0] = clusters[0].clone().with_label("big", "yes");
        let got = schedule(
            &placement(case.placement),
            &deployment("d", case.replicas, None),
            &clusters,
            &BTreeMap::new(),
            None,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(got.placements, map(case.want), "{}", case.name);
    }
}

#[test]
fn static_weight_ties_follow_the_uid() {
    // 1 replica over equal weights: like Karmada's dispenser, the tie goes by name in the
    // order the template's UID gives (ascending without a UID), whatever ran before.
    let p = placement("replicaScheduling:\n  replicaSchedulingType: Divided\n");
    let got = schedule(
        &p,
        &deployment("d", 1, None),
        &members(3),
        &map(&[("member3", 1)]),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("member1", 1)]));
    let mut odd = deployment("d", 1, None);
    odd.uid = "d43fdeeb-d750-4e2b-bee3-64eb94534f4c".into();
    let got = schedule(&p, &odd, &members(3), &BTreeMap::new(), None).unwrap();
    assert_eq!(got.placements, map(&[("member3", 1)]));
    // Webster is house-monotone: scaling 5 -> 6 by 1:1:1 only adds one replica.
    let before = schedule(
        &p,
        &deployment("d", 5, None),
        &members(3),
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(
        before.placements,
        map(&[("member1", 2), ("member2", 2), ("member3", 1)])
    );
    let after = schedule(
        &p,
        &deployment("d", 6, None),
        &members(3),
        &before.placements,
        None,
    )
    .unwrap();
    assert_eq!(
        after.placements,
        map(&[("member1", 2), ("member2", 2), ("member3", 2)])
    );
}

#[test]
fn zero_replicas_go_everywhere() {
    let got = schedule(
        &placement(STATIC_3_2_1),
        &deployment("d", 0, None),
        &members(2),
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("member1", 0), ("member2", 0)]));
}

#[test]
fn duplicated_gives_every_cluster_all_replicas() {
    let p = placement("replicaScheduling:\n  replicaSchedulingType: Duplicated\n");
    let got = schedule(
        &p,
        &deployment("d", 3, None),
        &members(3),
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(
        got.placements,
        map(&[("member1", 3), ("member2", 3), ("member3", 3)])
    );
    // no replicaScheduling at all means Duplicated too
    let got = schedule(
        &placement("{}"),
        &deployment("d", 2, None),
        &members(2),
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("member1", 2), ("member2", 2)]));
}

struct DynCase {
    name: &'static str,
    placement: &'static str,
    pods: &'static [i64],
    replicas: i32,
    previous: &'static [(&'static str, i32)],
    want: Option<&'static [(&'static str, i32)]>,
}

fn run_dyn(cases: &[DynCase]) {
    for case in cases {
        let clusters: Vec<ClusterInfo> = case
            .pods
            .iter()
            .enumerate()
            .map(|(i, p)| pods_cluster(&format!("member{}", i + 1), *p))
            .collect();
        let got = schedule(
            &placement(case.placement),
            &deployment("d", case.replicas, None),
            &clusters,
            &map(case.previous),
            None,
        );
        match (case.want, got) {
            (Some(want), Ok(d)) => assert_eq!(d.placements, map(want), "{}", case.name),
            (None, Err(e)) => assert!(
                matches!(e, ScheduleError::InsufficientReplicas { .. }),
                "{}: {e}",
                case.name
            ),
            (want, got) => panic!("{}: want {want:?}, got {got:?}", case.name),
        }
    }
}

#[test]
fn dynamic_weight_first_schedule() {
    run_dyn(&[
        DynCase {
            name: "replica 12, dynamic weight 6:8:10",
            placement: DYNAMIC,
            pods: &[6, 8, 10],
            replicas: 12,
            previous: &[],
            want: Some(&[("member1", 3), ("member2", 4), ("member3", 5)]),
        },
        // quotas 3.69 : 3.69 : 4.62; Webster settles on 4 : 4 : 4
        DynCase {
            name: "replica 12, dynamic weight 8:8:10",
            placement: DYNAMIC,
            pods: &[8, 8, 10],
            replicas: 12,
            previous: &[],
            want: Some(&[("member1", 4), ("member2", 4), ("member3", 4)]),
        },
        DynCase {
            name: "replica 12, dynamic weight 18:12:6",
            placement: DYNAMIC,
            pods: &[18, 12, 6],
            replicas: 12,
            previous: &[],
            want: Some(&[("member1", 6), ("member2", 4), ("member3", 2)]),
        },
        DynCase {
            name: "replica 12, dynamic weight 3:3:3 is not enough",
            placement: DYNAMIC,
            pods: &[3, 3, 3],
            replicas: 12,
            previous: &[],
            want: None,
        },
    ]);
}

#[test]
fn aggregated_first_schedule() {
    run_dyn(&[
        DynCase {
            name: "replica 12, aggregated 6:8:10",
            placement: AGGREGATED,
            pods: &[6, 8, 10],
            replicas: 12,
            previous: &[],
            want: Some(&[("member2", 5), ("member3", 7)]),
        },
        DynCase {
            name: "replica 12, aggregated 12:8:10",
            placement: AGGREGATED,
            pods: &[12, 8, 10],
            replicas: 12,
            previous: &[],
            want: Some(&[("member1", 12)]),
        },
        DynCase {
            name: "replica 12, aggregated 3:3:3",
            placement: AGGREGATED,
            pods: &[3, 3, 3],
            replicas: 12,
            previous: &[],
            want: None,
        },
        DynCase {
            name: "replica 12, aggregated 6:6:6 picks by name on ties",
            placement: AGGREGATED,
            pods: &[6, 6, 6],
            replicas: 12,
            previous: &[],
            want: Some(&[("member1", 6), ("member2", 6)]),
        },
    ]);
}

#[test]
fn dynamic_scale_keeps_previous_assignment() {
    run_dyn(&[
        DynCase {
            name: "replica 12 -> 6, dynamic weighted 1:1:1",
            placement: DYNAMIC,
            pods: &[1, 1, 1],
            replicas: 6,
            previous: &[("member1", 2), ("member2", 4), ("member3", 6)],
            want: Some(&[("member1", 1), ("member2", 2), ("member3", 3)]),
        },
        DynCase {
            name: "replica 12 -> 24, dynamic weighted 10:10:10",
            placement: DYNAMIC,
            pods: &[10, 10, 10],
            replicas: 24,
            previous: &[("member1", 2), ("member2", 4), ("member3", 6)],
            want: Some(&[("member1", 6), ("member2", 8), ("member3", 10)]),
        },
        DynCase {
            name: "replica 12 -> 24, dynamic weighted 1:1:1",
            placement: DYNAMIC,
            pods: &[1, 1, 1],
            replicas: 24,
            previous: &[("member1", 2), ("member2", 4), ("member3", 6)],
            want: None,
        },
        DynCase {
            name: "replica 12 -> 6, aggregated 1:1:1",
            placement: AGGREGATED,
            pods: &[1, 1, 1],
            replicas: 6,
            previous: &[("member1", 4), ("member2", 8)],
            want: Some(&[("member2", 6)]),
        },
        DynCase {
            name: "replica 12 -> 8, aggregated 100:100",
            placement: AGGREGATED,
            pods: &[100, 100],
            replicas: 8,
            previous: &[("member1", 4), ("member2", 8)],
            want: Some(&[("member2", 8)]),
        },
        // 12 new replicas over 6 (member2), 4 (member1), 8 (member3): Webster 4 : 3 : 5
        DynCase {
            name: "replica 12 -> 24, aggregated 4:6:8",
            placement: AGGREGATED,
            pods: &[4, 6, 8],
            replicas: 24,
            previous: &[("member1", 4), ("member2", 8)],
            want: Some(&[("member1", 7), ("member2", 12), ("member3", 5)]),
        },
        DynCase {
            name: "replica 12 -> 24, aggregated 6:6:20 stays on the previous clusters",
            placement: AGGREGATED,
            pods: &[6, 6, 20],
            replicas: 24,
            previous: &[("member1", 4), ("member2", 8)],
            want: Some(&[("member1", 10), ("member2", 14)]),
        },
        DynCase {
            name: "unchanged replicas keep the previous result",
            placement: DYNAMIC,
            pods: &[1, 1],
            replicas: 6,
            previous: &[("member1", 2), ("member2", 4)],
            want: Some(&[("member1", 2), ("member2", 4)]),
        },
        DynCase {
            name: "a previous cluster that is gone is ignored",
            placement: DYNAMIC,
            pods: &[10, 10],
            replicas: 6,
            previous: &[("member1", 3), ("gone", 3)],
            want: Some(&[("member1", 5), ("member2", 1)]),
        },
    ]);
}

#[test]
fn estimation_uses_requests_and_summary() {
    let p = placement(DYNAMIC);
    let big = ClusterInfo::new("big").with_allocatable(&[
        ("pods", 100),
        ("cpu", 10),
        ("memory", 64 << 30),
    ]);
    let small = ClusterInfo::new("small").with_allocatable(&[
        ("pods", 100),
        ("cpu", 2),
        ("memory", 64 << 30),
    ]);
    // cpu 500m per replica: big holds 20, small 4 -> 12 split 10 : 2
    let d = deployment(
        "d",
        12,
        Some(serde_json::json!({"cpu": "500m", "memory": "1Gi"})),
    );
    let got = schedule(
        &p,
        &d,
        &[big.clone(), small.clone()],
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("big", 10), ("small", 2)]));
    // 30 replicas do not fit in 24
    let d = deployment("d", 30, Some(serde_json::json!({"cpu": "500m"})));
    let err = schedule(&p, &d, &[big, small], &BTreeMap::new(), None).unwrap_err();
    assert_eq!(
        err,
        ScheduleError::InsufficientReplicas {
            available: 24,
            requested: 30
        }
    );
    assert_eq!(err.reason(), "InsufficientReplicas");
}

#[test]
fn clusters_that_come_and_go() {
    // Karmada: "replica 12 -> 24, aggregated 4:8:12, with cluster2 disappeared and cluster4
    // appeared". member1 keeps its 4; 20 new over member1 (4), member4 (12), member3 (8):
    // Webster 3 : 10 : 7 (quotas 3.33 : 10 : 6.67).
    let clusters = [
        pods_cluster("member1", 4),
        pods_cluster("member3", 8),
        pods_cluster("member4", 12),
    ];
    let got = schedule(
        &placement(AGGREGATED),
        &deployment("d", 24, None),
        &clusters,
        &map(&[("member1", 4), ("member2", 8)]),
        None,
    )
    .unwrap();
    assert_eq!(
        got.placements,
        map(&[("member1", 7), ("member3", 7), ("member4", 10)])
    );
    // Karmada: "replica 12, dynamic weight 3:3, with cluster3 disappeared and cluster2 appeared"
    let clusters = [pods_cluster("member1", 3), pods_cluster("member2", 3)];
    let got = schedule(
        &placement(DYNAMIC),
        &deployment("d", 12, None),
        &clusters,
        &map(&[("member1", 6), ("member3", 6)]),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("member1", 9), ("member2", 3)]));
}
