//! Filters (affinity, taints, API enablement, spread properties), affinity-group failover and
//! spread constraints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{deployment, map, placement};
use isthmus_placement::cluster::ApiEnablement;
use isthmus_placement::{ClusterInfo, ScheduleError, schedule};

fn fleet() -> Vec<ClusterInfo> {
    vec![
        ClusterInfo::new("member1")
            .with_label("env", "prod")
            .with_location("aws", "eu-west-1", "eu-west-1a"),
        ClusterInfo::new("member2")
            .with_label("env", "prod")
            .with_location("gcp", "us-east1", "us-east1-b"),
        ClusterInfo::new("member3")
            .with_label("env", "dev")
            .with_location("aws", "eu-west-1", "eu-west-1b"),
        ClusterInfo {
            zones: vec!["ap-1a".into(), "ap-1b".into()],
            ..ClusterInfo::new("member4").with_location("azure", "ap-1", "")
        },
    ]
}

fn names(p: &str) -> Vec<String> {
    let got = schedule(
        &placement(p),
        &deployment("d", 1, None),
        &fleet(),
        &BTreeMap::new(),
        None,
    )
    .unwrap_or_else(|e| panic!("{p}: {e}"));
    got.placements.keys().cloned().collect()
}

#[test]
fn cluster_affinity_rules() {
    let cases: &[(&str, &[&str])] = &[
        ("{}", &["member1", "member2", "member3", "member4"]),
        (
            "clusterAffinity:\n  clusterNames: [member1, member3]\n",
            &["member1", "member3"],
        ),
        (
            "clusterAffinity:\n  exclude: [member1]\n",
            &["member2", "member3", "member4"],
        ),
        (
            "clusterAffinity:\n  labelSelector:\n    matchLabels: {env: prod}\n",
            &["member1", "member2"],
        ),
        (
            "clusterAffinity:\n  labelSelector:\n    matchExpressions:\n      - {key: env, operator: NotIn, values: [prod]}\n",
            &["member3", "member4"],
        ),
        (
            "clusterAffinity:\n  labelSelector:\n    matchExpressions:\n      - {key: env, operator: DoesNotExist}\n",
            &["member4"],
        ),
        (
            "clusterAffinity:\n  fieldSelector:\n    matchExpressions:\n      - {key: provider, operator: In, values: [aws]}\n",
            &["member1", "member3"],
        ),
        (
            "clusterAffinity:\n  fieldSelector:\n    matchExpressions:\n      - {key: region, operator: NotIn, values: [eu-west-1]}\n",
            &["member2", "member4"],
        ),
        // zone In needs one of the cluster's zones listed (a single `zone` counts as its
        // only zone), NotIn none of them
        (
            "clusterAffinity:\n  fieldSelector:\n    matchExpressions:\n      - {key: zone, operator: In, values: [ap-1a, eu-west-1a]}\n",
            &["member1", "member4"],
        ),
        (
            "clusterAffinity:\n  fieldSelector:\n    matchExpressions:\n      - {key: zone, operator: In, values: [ap-1b]}\n",
            &["member4"],
        ),
        (
            "clusterAffinity:\n  fieldSelector:\n    matchExpressions:\n      - {key: zone, operator: NotIn, values: [ap-1b, eu-west-1b]}\n",
            &["member1", "member2"],
        ),
        // every non-empty rule must match
        (
            "clusterAffinity:\n  clusterNames: [member1, member2]\n  labelSelector:\n    matchLabels: {env: prod}\n  fieldSelector:\n    matchExpressions:\n      - {key: provider, operator: In, values: [gcp]}\n",
            &["member2"],
        ),
        (
            "clusterAffinity:\n  clusterNames: [member1, member2]\n  exclude: [member2]\n",
            &["member1"],
        ),
    ];
    for (p, want) in cases {
        assert_eq!(
            names(p),
            want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{p}"
        );
    }
}

#[test]
fn taints_and_tolerations() {
    let clusters = vec![
        ClusterInfo::new("a").with_taint("dedicated", "gpu", "NoSchedule"),
        ClusterInfo::new("b").with_taint("soft", "", "PreferNoSchedule"),
        ClusterInfo::new("c").with_taint("cluster.karmada.io/not-ready", "", "NoExecute"),
        ClusterInfo::new("d").with_taint("evict", "now", "NoExecute"),
    ];
    let run = |p: &str, previous: &[(&str, i32)]| {
        schedule(
            &placement(p),
            &deployment("x", 1, None),
            &clusters,
            &map(previous),
            None,
        )
    };
    // b: PreferNoSchedule is ignored; c: Karmada's default not-ready toleration
    assert_eq!(
        run("{}", &[])
            .unwrap()
            .placements
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    let p = "clusterTolerations:\n  - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}\n";
    assert_eq!(
        run(p, &[])
            .unwrap()
            .placements
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let p = "clusterTolerations:\n  - {key: dedicated, operator: Equal, value: cpu, effect: NoSchedule}\n";
    assert_eq!(
        run(p, &[])
            .unwrap()
            .placements
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    let p = "clusterTolerations:\n  - {operator: Exists}\n";
    assert_eq!(run(p, &[]).unwrap().placements.len(), 4);
    // a cluster in the previous result skips the taint check (eviction is the controller's job)
    assert_eq!(
        run("{}", &[("d", 1)])
            .unwrap()
            .placements
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["b", "c", "d"]
    );
    // error names each filtered cluster and reason
    let only_a = "clusterAffinity:\n  clusterNames: [a]\n";
    let err = run(only_a, &[]).unwrap_err();
    assert_eq!(err.reason(), "NoClusterFit");
    let msg = err.to_string();
    assert!(msg.starts_with("0/4 clusters are available:"), "{msg}");
    assert!(
        msg.contains("a: cluster(s) had untolerated taint {dedicated=gpu:NoSchedule}"),
        "{msg}"
    );
    assert!(
        msg.contains("b: cluster(s) did not match the placement cluster affinity constraint"),
        "{msg}"
    );
}

#[test]
fn api_enablement() {
    let serving = ClusterInfo {
        api_enablements: vec![ApiEnablement {
            group_version: "apps/v1".into(),
            kinds: vec!["Deployment".into()],
        }],
        ..ClusterInfo::new("serving")
    };
    let not_serving = ClusterInfo {
        api_enablements: vec![ApiEnablement {
            group_version: "v1".into(),
            kinds: vec!["ConfigMap".into()],
        }],
        ..ClusterInfo::new("not-serving")
    };
    let silent = ClusterInfo::new("silent");
    let got = schedule(
        &placement("{}"),
        &deployment("x", 1, None),
        &[serving, not_serving, silent],
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(
        got.placements.keys().cloned().collect::<Vec<_>>(),
        ["serving", "silent"]
    );
}

#[test]
fn spread_property_presence() {
    let p = "spreadConstraints:\n  - {spreadByField: cluster, maxGroups: 10, minGroups: 1}\n  - {spreadByField: region, maxGroups: 10, minGroups: 1}\n";
    let mut clusters = fleet();
    clusters.push(ClusterInfo::new("no-region"));
    let got = schedule(
        &placement(p),
        &deployment("x", 1, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert!(!got.placements.contains_key("no-region"));
    let only = "clusterAffinity:\n  clusterNames: [no-region]\nspreadConstraints:\n  - {spreadByField: cluster, maxGroups: 10, minGroups: 1}\n  - {spreadByField: region, maxGroups: 10, minGroups: 1}\n";
    let err = schedule(
        &placement(only),
        &deployment("x", 1, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no-region: cluster(s) did not have region property"),
        "{err}"
    );
}

#[test]
fn affinity_groups_fail_over() {
    let p = "clusterAffinities:\n  - affinityName: primary\n    clusterNames: [missing]\n  - affinityName: backup\n    labelSelector:\n      matchLabels: {env: prod}\n  - affinityName: last\n    clusterNames: [member3]\n";
    let pl = placement(p);
    let d = deployment("x", 2, None);
    let got = schedule(&pl, &d, &fleet(), &BTreeMap::new(), None).unwrap();
    assert_eq!(got.observed_affinity.as_deref(), Some("backup"));
    assert_eq!(got.placements, map(&[("member1", 2), ("member2", 2)]));
    // scheduling starts at the observed group
    let got = schedule(&pl, &d, &fleet(), &BTreeMap::new(), Some("last")).unwrap();
    assert_eq!(got.observed_affinity.as_deref(), Some("last"));
    assert_eq!(got.placements, map(&[("member3", 2)]));
    // an unknown observed name starts from the first group
    let got = schedule(&pl, &d, &fleet(), &BTreeMap::new(), Some("nope")).unwrap();
    assert_eq!(got.observed_affinity.as_deref(), Some("backup"));
    // all groups failing reports the first group's error
    let none = placement(
        "clusterAffinities:\n  - affinityName: a\n    clusterNames: [nowhere1]\n  - affinityName: b\n    clusterNames: [nowhere2]\n",
    );
    let err = schedule(&none, &d, &fleet(), &BTreeMap::new(), None).unwrap_err();
    assert_eq!(err.reason(), "NoClusterFit");
    assert!(
        matches!(err, ScheduleError::AffinitiesExhausted { ref tried, .. } if tried == &["a", "b"])
    );
}

#[test]
fn spread_by_cluster() {
    let clusters: Vec<ClusterInfo> = (1..=5)
        .map(|i| ClusterInfo::new(format!("m{i}")).with_allocatable(&[("pods", i * 2)]))
        .collect();
    let dynamic = "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    dynamicWeight: AvailableReplicas\n";
    // the two clusters with most room are chosen, then divided by room (10 : 8)
    let p = format!(
        "spreadConstraints:\n  - {{spreadByField: cluster, maxGroups: 2, minGroups: 2}}\n{dynamic}"
    );
    let got = schedule(
        &placement(&p),
        &deployment("x", 9, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("m4", 4), ("m5", 5)]));
    // minGroups above the feasible clusters
    let p = "spreadConstraints:\n  - {spreadByField: cluster, maxGroups: 9, minGroups: 6}\n";
    let err = schedule(
        &placement(p),
        &deployment("x", 1, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap_err();
    assert_eq!(err.reason(), "SpreadConstraintUnsatisfied");
    // two clusters cannot hold 30 replicas
    let p = format!(
        "spreadConstraints:\n  - {{spreadByField: cluster, maxGroups: 2, minGroups: 1}}\n{dynamic}"
    );
    let err = schedule(
        &placement(&p),
        &deployment("x", 30, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap_err();
    assert_eq!(err.reason(), "SpreadConstraintUnsatisfied");
    // duplicated: capacity does not matter, top clusters by room then name
    let p = "spreadConstraints:\n  - {maxGroups: 3, minGroups: 1}\n";
    let got = schedule(
        &placement(p),
        &deployment("x", 30, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("m3", 30), ("m4", 30), ("m5", 30)]));
    // previously used clusters score higher and are kept
    let got = schedule(
        &placement(p),
        &deployment("x", 30, None),
        &clusters,
        &map(&[("m1", 30)]),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("m1", 30), ("m4", 30), ("m5", 30)]));
    // static weight lists ignore spread constraints, like Karmada
    let p = "spreadConstraints:\n  - {maxGroups: 1, minGroups: 1}\nreplicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    staticWeightList:\n      - targetCluster: {clusterNames: [m1, m2]}\n        weight: 1\n";
    let got = schedule(
        &placement(p),
        &deployment("x", 4, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(got.placements, map(&[("m1", 2), ("m2", 2)]));
}

#[test]
fn spread_by_region_zone_provider_and_label() {
    let c = |n: &str, provider: &str, region: &str, zone: &str, pods: i64| {
        ClusterInfo::new(n)
            .with_location(provider, region, zone)
            .with_label("rack", &format!("r-{zone}"))
            .with_allocatable(&[("pods", pods)])
    };
    let clusters = vec![
        c("eu1", "aws", "eu", "eu-a", 10),
        c("eu2", "aws", "eu", "eu-b", 8),
        c("us1", "gcp", "us", "us-a", 6),
        c("us2", "gcp", "us", "us-a", 4),
        c("ap1", "azure", "ap", "ap-a", 2),
    ];
    let run = |p: &str| {
        schedule(
            &placement(p),
            &deployment("x", 1, None),
            &clusters,
            &BTreeMap::new(),
            None,
        )
        .map(|d| d.placements.keys().cloned().collect::<Vec<_>>())
    };
    // two regions, one cluster each: the roomiest regions (eu 18, us 10)
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 2, minGroups: 2}\n  - {spreadByField: cluster, maxGroups: 2, minGroups: 2}\n";
    assert_eq!(run(p).unwrap(), ["eu1", "us1"]);
    // three regions with up to four clusters: one per region first, then the roomiest rest
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 3, minGroups: 3}\n  - {spreadByField: cluster, maxGroups: 4, minGroups: 1}\n";
    assert_eq!(run(p).unwrap(), ["ap1", "eu1", "eu2", "us1"]);
    // like Karmada, as few regions as the constraints allow: one region holds enough clusters
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 3, minGroups: 1}\n  - {spreadByField: cluster, maxGroups: 3, minGroups: 1}\n";
    assert_eq!(run(p).unwrap(), ["eu1", "eu2"]);
    // three clusters needed: a second region is added
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 3, minGroups: 1}\n  - {spreadByField: cluster, maxGroups: 3, minGroups: 3}\n";
    assert_eq!(run(p).unwrap(), ["eu1", "eu2", "us1"]);
    // divided: regions ranked by how much of the per-region target they cover; eu (18 of 21)
    // alone cannot hold 20 replicas, so us joins
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 2, minGroups: 1}\n  - {spreadByField: cluster, maxGroups: 4, minGroups: 1}\nreplicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    dynamicWeight: AvailableReplicas\n";
    let got = schedule(
        &placement(p),
        &deployment("x", 20, None),
        &clusters,
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    assert_eq!(
        got.placements.keys().cloned().collect::<Vec<_>>(),
        ["eu1", "eu2", "us1", "us2"]
    );
    assert_eq!(got.placements.values().sum::<i32>(), 20);
    // more regions required than exist
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 5, minGroups: 4}\n  - {spreadByField: cluster, maxGroups: 5, minGroups: 1}\n";
    assert_eq!(run(p).unwrap_err().reason(), "SpreadConstraintUnsatisfied");
    // more regions than the cluster constraint allows clusters
    let p = "spreadConstraints:\n  - {spreadByField: region, maxGroups: 3, minGroups: 3}\n  - {spreadByField: cluster, maxGroups: 2, minGroups: 1}\n";
    assert_eq!(run(p).unwrap_err().reason(), "SpreadConstraintUnsatisfied");
    // zones, ranked by Karmada's group score (duplicated: clusters that can hold the
    // workload): us-a has two, then ap-a, eu-a, eu-b tie and go by name
    let p = "spreadConstraints:\n  - {spreadByField: zone, maxGroups: 3, minGroups: 3}\n  - {spreadByField: cluster, maxGroups: 3, minGroups: 1}\n";
    assert_eq!(run(p).unwrap(), ["ap1", "eu1", "us1"]);
    // providers
    let p = "spreadConstraints:\n  - {spreadByField: provider, maxGroups: 2, minGroups: 2}\n  - {spreadByField: cluster, maxGroups: 2, minGroups: 1}\n";
    assert_eq!(run(p).unwrap(), ["eu1", "us1"]);
    // labels (enforced here; Karmada accepts but does not enforce them): rack r-us-a holds
    // two clusters, the one-cluster racks tie and go by name (r-ap-a); without a cluster
    // constraint every cluster of the chosen racks is used
    let p = "spreadConstraints:\n  - {spreadByLabel: rack, maxGroups: 2, minGroups: 2}\n";
    assert_eq!(run(p).unwrap(), ["ap1", "us1", "us2"]);
}

#[test]
fn no_execute_evictions_follow_the_taint_manager() {
    use isthmus_placement::no_execute_evictions;
    let clusters = vec![
        ClusterInfo::new("bad").with_taint("broken", "", "NoExecute"),
        ClusterInfo::new("slow").with_taint("cluster.karmada.io/not-ready", "", "NoExecute"),
        ClusterInfo::new("forever").with_taint("maint", "x", "NoExecute"),
        ClusterInfo::new("soft").with_taint("maint", "x", "NoSchedule"),
        ClusterInfo::new("elsewhere").with_taint("broken", "", "NoExecute"),
    ];
    let p =
        placement("clusterTolerations:\n  - {key: maint, operator: Exists, effect: NoExecute}\n");
    let previous = map(&[("bad", 1), ("slow", 1), ("forever", 1), ("soft", 1)]);
    let got: Vec<(String, i64)> = no_execute_evictions(&p, &clusters, &previous)
        .into_iter()
        .map(|e| (e.cluster, e.after_seconds))
        .collect();
    // not-ready is tolerated for 300 s by Karmada's default toleration
    assert_eq!(got, [("bad".to_string(), 0), ("slow".to_string(), 300)]);
}
