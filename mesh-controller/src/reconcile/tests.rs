#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;

use isthmus_api::labels::*;
use isthmus_api::mcs::{condition, reason};
use serde_json::json;

use super::fixtures::*;
use crate::model::*;

fn ns_web(names: &[&str]) -> World {
    world(names)
}

fn exported_web() -> World {
    ns_web(&["c1", "c2", "c3"])
        .with(NsFx("c2", "ns"))
        .with(NsFx("c3", "ns"))
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(slice("ns", "web", "web-abc").endpoint("10.1.0.1", true))
}

#[test]
fn valid_export_is_valid_ready_and_conflict_free() {
    let d = exported_web().with(export("ns", "web").generation(4)).run();
    let valid = cond(&d, "c1", "ns", "web", condition::VALID).unwrap();
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("True", reason::VALID)
    );
    let ready = cond(&d, "c1", "ns", "web", condition::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", reason::READY)
    );
    let conflict = cond(&d, "c1", "ns", "web", condition::CONFLICT).unwrap();
    assert_eq!(
        (conflict.status.as_str(), conflict.reason.as_str()),
        ("False", reason::NO_CONFLICTS)
    );
    assert_eq!(valid.observed_generation, Some(4));
    assert_eq!(valid.last_transition_time.0, now());
    assert!(d.events.is_empty());
}

#[test]
fn export_without_service_is_invalid_and_imports_nothing() {
    let d = world(&["c1", "c2"])
        .with(NsFx("c1", "ns"))
        .with(NsFx("c2", "ns"))
        .with(export("ns", "web"))
        .run();
    let valid = cond(&d, "c1", "ns", "web", condition::VALID).unwrap();
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", reason::NO_SERVICE)
    );
    assert_eq!(valid.message, "Service ns/web not found in cluster c1");
    let ready = cond(&d, "c1", "ns", "web", condition::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", reason::PENDING)
    );
    assert!(cond(&d, "c1", "ns", "web", condition::CONFLICT).is_none());
    assert!(import_in(&d, "c1", "ns", "web").is_none());
    assert!(import_in(&d, "c2", "ns", "web").is_none());
    assert_eq!(d.summary.invalid_exports, 1);
}

#[test]
fn external_name_service_is_invalid_service_type() {
    let d = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web").external_name())
        .with(export("ns", "web"))
        .run();
    let valid = cond(&d, "c1", "ns", "web", condition::VALID).unwrap();
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", reason::INVALID_SERVICE_TYPE)
    );
    assert!(import_in(&d, "c1", "ns", "web").is_none());
    assert!(import_in(&d, "c2", "ns", "web").is_none());
}

#[test]
fn import_exists_only_where_the_namespace_exists() {
    let d = world(&["c1", "c2", "c3"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .run();
    assert!(
        import_in(&d, "c1", "ns", "web").is_some(),
        "exporting cluster imports too"
    );
    assert!(import_in(&d, "c2", "ns", "web").is_some());
    assert!(import_in(&d, "c3", "ns", "web").is_none());
    assert!(slices_in(&d, "c3", "ns", "web").is_empty());
    assert_eq!(d.member_status["c3"].imports, 0);
}

#[test]
fn cluster_set_ip_import_shape() {
    let d = exported_web().run();
    let imp = import_in(&d, "c2", "ns", "web").unwrap();
    assert_eq!(imp["apiVersion"], "multicluster.x-k8s.io/v1beta1");
    assert_eq!(imp["spec"]["type"], "ClusterSetIP");
    assert_eq!(
        imp["spec"]["ports"],
        json!([{"name": "http", "protocol": "TCP", "port": 80}])
    );
    assert_eq!(imp["spec"]["sessionAffinity"], "None");
    assert_eq!(imp["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(imp["status"]["clusters"], json!([{"cluster": "c1"}]));
    assert_eq!(imp["metadata"]["labels"][MANAGED_BY], MANAGED_BY_VALUE);
    let ip: IpAddr = imp["spec"]["ips"][0].as_str().unwrap().parse().unwrap();
    let net: ipnet::IpNet = DEFAULT_CIDR_V4.parse().unwrap();
    assert!(net.contains(&ip));
}

#[test]
fn headless_import_has_no_ip_and_slices_keep_hostnames() {
    let d = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "db").headless())
        .with(export("ns", "db"))
        .with(slice("ns", "db", "db-1").host("10.1.0.5", "db-0"))
        .run();
    let imp = import_in(&d, "c2", "ns", "db").unwrap();
    assert_eq!(imp["spec"]["type"], "Headless");
    assert!(imp["spec"].get("ips").is_none());
    let slices = slices_in(&d, "c2", "ns", "db");
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0]["endpoints"][0]["hostname"], "db-0");
}

#[test]
fn vip_is_identical_in_all_clusters_and_stable_across_calls() {
    let w = exported_web();
    let d1 = w.run();
    let d2 = w.run_at(now() + jiff::SignedDuration::from_hours(1));
    let ip = |d: &Desired, c: &str| import_in(d, c, "ns", "web").unwrap()["spec"]["ips"].clone();
    assert_eq!(ip(&d1, "c1"), ip(&d1, "c2"));
    assert_eq!(ip(&d1, "c1"), ip(&d1, "c3"));
    assert_eq!(ip(&d1, "c1"), ip(&d2, "c1"));
}

#[test]
fn vip_is_adopted_from_owned_imports_after_restart() {
    // A fresh index ("restart") that sees the import written earlier keeps its address,
    // even when it is not the one the hash would pick.
    let d = exported_web()
        .with(import("ns", "web").in_cluster("c2").ips(&["242.0.1.7"]))
        .run();
    for c in ["c1", "c2", "c3"] {
        assert_eq!(
            import_in(&d, c, "ns", "web").unwrap()["spec"]["ips"],
            json!(["242.0.1.7"])
        );
    }
    // Another service's hash collision does not steal it.
    let fresh = exported_web().run();
    let hashed = fresh.objects["c1"]
        .iter()
        .find(|o| o["kind"] == "ServiceImport")
        .unwrap()["spec"]["ips"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let d = exported_web()
        .with(svc("ns", "other"))
        .with(export("ns", "other"))
        .with(import("ns", "other").ips(&[&hashed]))
        .run();
    assert_eq!(
        import_in(&d, "c1", "ns", "other").unwrap()["spec"]["ips"][0],
        hashed.as_str()
    );
    assert_ne!(
        import_in(&d, "c1", "ns", "web").unwrap()["spec"]["ips"][0],
        hashed.as_str()
    );
}

#[test]
fn user_import_ips_are_not_adopted() {
    let d = exported_web()
        .with(
            import("ns", "web")
                .in_cluster("c3")
                .ips(&["242.0.1.7"])
                .user_owned(),
        )
        .run();
    assert_ne!(
        import_in(&d, "c1", "ns", "web").unwrap()["spec"]["ips"],
        json!(["242.0.1.7"])
    );
}

#[test]
fn ports_are_the_union_of_constituent_ports() {
    let d = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(
            svc("ns", "web")
                .in_cluster("c2")
                .ports(&[("http", 80, "TCP"), ("stcp", 142, "SCTP")]),
        )
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .run();
    let imp = import_in(&d, "c1", "ns", "web").unwrap();
    assert_eq!(
        imp["spec"]["ports"],
        json!([
            {"name": "http", "protocol": "TCP", "port": 80},
            {"name": "stcp", "protocol": "SCTP", "port": 142},
        ])
    );
    assert_eq!(
        cond(&d, "c2", "ns", "web", condition::CONFLICT)
            .unwrap()
            .status,
        "False"
    );
    assert_eq!(
        imp["status"]["clusters"],
        json!([{"cluster": "c1"}, {"cluster": "c2"}])
    );
}

#[test]
fn port_conflict_keeps_the_oldest_ports_and_flags_every_export() {
    let d = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(
            svc("ns", "web")
                .in_cluster("c2")
                .ports(&[("http", 81, "TCP")]),
        )
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .run();
    for c in ["c1", "c2"] {
        let cc = cond(&d, c, "ns", "web", condition::CONFLICT).unwrap();
        assert_eq!(
            (cc.status.as_str(), cc.reason.as_str()),
            ("True", reason::PORT_CONFLICT)
        );
        assert!(cc.message.contains("\"c1\""), "{}", cc.message);
        assert_eq!(
            import_in(&d, c, "ns", "web").unwrap()["spec"]["ports"],
            json!([{"name": "http", "protocol": "TCP", "port": 80}])
        );
    }
    assert_eq!(d.summary.conflicts, 1);
}

#[test]
fn same_port_under_another_name_is_a_port_conflict() {
    let d = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(
            svc("ns", "web")
                .in_cluster("c2")
                .ports(&[("web", 80, "TCP")]),
        )
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .run();
    assert_eq!(
        cond(&d, "c1", "ns", "web", condition::CONFLICT)
            .unwrap()
            .reason,
        reason::PORT_CONFLICT
    );
    assert_eq!(
        import_in(&d, "c1", "ns", "web").unwrap()["spec"]["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn oldest_export_wins_then_cluster_id_breaks_ties() {
    // c2 is older: its affinity wins.
    let base = || {
        world(&["c1", "c2"])
            .with(svc("ns", "web"))
            .with(svc("ns", "web").in_cluster("c2").affinity("ClientIP"))
    };
    let d = base()
        .with(export("ns", "web").at(2000))
        .with(export("ns", "web").in_cluster("c2").at(1000))
        .run();
    assert_eq!(
        import_in(&d, "c1", "ns", "web").unwrap()["spec"]["sessionAffinity"],
        "ClientIP"
    );
    let cc = cond(&d, "c1", "ns", "web", condition::CONFLICT).unwrap();
    assert_eq!(cc.reason, reason::SESSION_AFFINITY_CONFLICT);
    assert!(cc.message.contains("\"c2\""));
    // Same timestamp: c1 < c2 wins.
    let d = base()
        .with(export("ns", "web").at(1000))
        .with(export("ns", "web").in_cluster("c2").at(1000))
        .run();
    assert_eq!(
        import_in(&d, "c2", "ns", "web").unwrap()["spec"]["sessionAffinity"],
        "None"
    );
}

#[test]
fn headlessness_conflict_keeps_cluster_set_ip() {
    let d = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(svc("ns", "web").in_cluster("c2").headless())
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .run();
    for c in ["c1", "c2"] {
        assert_eq!(
            cond(&d, c, "ns", "web", condition::CONFLICT)
                .unwrap()
                .reason,
            reason::TYPE_CONFLICT
        );
        assert_eq!(
            import_in(&d, c, "ns", "web").unwrap()["spec"]["type"],
            "ClusterSetIP"
        );
    }
}

#[test]
fn every_conflict_kind_has_its_reason() {
    type Modify = fn(SvcFx) -> SvcFx;
    let cases: [(Modify, &str); 6] = [
        (
            |s| s.affinity("ClientIP"),
            reason::SESSION_AFFINITY_CONFLICT,
        ),
        (
            |s| s.affinity_timeout(60),
            reason::SESSION_AFFINITY_CONFIG_CONFLICT,
        ),
        (|s| s.itp("Local"), reason::INTERNAL_TRAFFIC_POLICY_CONFLICT),
        (
            |s| s.td("PreferClose"),
            reason::TRAFFIC_DISTRIBUTION_CONFLICT,
        ),
        (|s| s.families(&["IPv6"]), reason::IP_FAMILY_CONFLICT),
        (|s| s.ports(&[("http", 80, "UDP")]), reason::PORT_CONFLICT),
    ];
    for (modify, want) in cases {
        let d = world(&["c1", "c2"])
            .with(svc("ns", "web"))
            .with(export("ns", "web"))
            .with(modify(svc("ns", "web").in_cluster("c2")))
            .with(export("ns", "web").in_cluster("c2").at(2000))
            .run();
        let cc = cond(&d, "c2", "ns", "web", condition::CONFLICT).unwrap();
        assert_eq!((cc.status.as_str(), cc.reason.as_str()), ("True", want));
    }
}

#[test]
fn label_and_annotation_conflicts_use_the_oldest_export() {
    let d = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(
            export("ns", "web")
                .label("dummy-label", "true")
                .annotation("dummy-annotation", "true"),
        )
        .with(svc("ns", "web").in_cluster("c2"))
        .with(
            export("ns", "web")
                .in_cluster("c2")
                .at(2000)
                .label("dummy-label2", "true")
                .annotation("dummy-annotation2", "true"),
        )
        .run();
    let cc = cond(&d, "c1", "ns", "web", condition::CONFLICT).unwrap();
    assert_eq!(cc.reason, "LabelsConflict,AnnotationsConflict");
    let imp = import_in(&d, "c2", "ns", "web").unwrap();
    assert_eq!(imp["metadata"]["labels"]["dummy-label"], "true");
    assert!(imp["metadata"]["labels"].get("dummy-label2").is_none());
    assert_eq!(
        imp["metadata"]["annotations"],
        json!({"dummy-annotation": "true"})
    );
}

#[test]
fn several_conflicts_are_joined_with_commas() {
    let d = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(
            svc("ns", "web")
                .in_cluster("c2")
                .ports(&[("http", 81, "TCP")])
                .headless(),
        )
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .run();
    assert_eq!(
        cond(&d, "c1", "ns", "web", condition::CONFLICT)
            .unwrap()
            .reason,
        "PortConflict,TypeConflict"
    );
}

#[test]
fn exported_labels_and_annotations_reach_the_import_and_service_labels_do_not() {
    let d = exported_web()
        .with(
            export("ns", "web")
                .label("team", "a")
                .annotation("note", "x"),
        )
        .run();
    let imp = import_in(&d, "c3", "ns", "web").unwrap();
    assert_eq!(
        imp["metadata"]["labels"],
        json!({"team": "a", MANAGED_BY: MANAGED_BY_VALUE})
    );
    assert_eq!(imp["metadata"]["annotations"], json!({"note": "x"}));
}

#[test]
fn a_newer_conflicting_export_does_not_change_the_established_service() {
    let mut w = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web").affinity("ClientIP").affinity_timeout(30))
        .with(export("ns", "web").label("a", "1"));
    let before = w.run();
    w.add(
        svc("ns", "web")
            .in_cluster("c2")
            .ports(&[("http", 9090, "TCP")])
            .itp("Local"),
    );
    w.add(
        export("ns", "web")
            .in_cluster("c2")
            .at(5000)
            .label("a", "2"),
    );
    let after = w.run();
    for c in ["c1", "c2"] {
        let (b, a) = (
            import_in(&before, c, "ns", "web").unwrap(),
            import_in(&after, c, "ns", "web").unwrap(),
        );
        assert_eq!(b["spec"], a["spec"]);
        assert_eq!(b["metadata"], a["metadata"]);
    }
    assert_eq!(
        cond(&after, "c1", "ns", "web", condition::CONFLICT)
            .unwrap()
            .status,
        "True"
    );
    // Its endpoints still join the service (per source cluster).
    assert_eq!(
        import_in(&after, "c1", "ns", "web").unwrap()["status"]["clusters"],
        json!([{"cluster": "c1"}, {"cluster": "c2"}])
    );
}

#[test]
fn conflict_events_only_on_transitions() {
    let w = world(&["c1", "c2"])
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(svc("ns", "web").in_cluster("c2").affinity("ClientIP"))
        .with(export("ns", "web").in_cluster("c2").at(2000));
    let d = w.run();
    assert_eq!(d.events.len(), 2);
    assert!(d.events.iter().all(|e| e.type_ == EventType::Warning && e.reason == reason::SESSION_AFFINITY_CONFLICT));
    // Feed the written statuses back: no new events.
    let mut w2 = w;
    for ((cluster, key), status) in &d.export_status {
        let st = w2.index.member(cluster).unwrap().exports[key].clone();
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            namespace: Some(key.namespace.clone()),
            name: Some(key.name.clone()),
            creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                st.created,
            )),
            generation: Some(st.generation),
            ..Default::default()
        };
        w2.index
            .apply_export_parts(
                cluster,
                &meta,
                &isthmus_api::mcs::ServiceExportSpec::default(),
                Some(status),
            )
            .unwrap();
    }
    let later = now() + jiff::SignedDuration::from_mins(5);
    let d2 = w2.run_at(later);
    assert!(d2.events.is_empty(), "{:?}", d2.events);
    // lastTransitionTime did not move.
    let c = cond(&d2, "c1", "ns", "web", condition::CONFLICT).unwrap();
    assert_eq!(c.last_transition_time.0, now());
}

#[test]
fn last_transition_time_moves_only_when_status_changes() {
    let mut w = exported_web();
    let d = w.run();
    let status = d.export_status[&("c1".to_owned(), NsName::new("ns", "web"))].clone();
    let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        namespace: Some("ns".into()),
        name: Some("web".into()),
        creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(
            1000,
        ))),
        generation: Some(3),
        ..Default::default()
    };
    w.index
        .apply_export_parts("c1", &meta, &Default::default(), Some(&status))
        .unwrap();
    let later = now() + jiff::SignedDuration::from_hours(2);
    let d2 = w.run_at(later);
    let v = cond(&d2, "c1", "ns", "web", condition::VALID).unwrap();
    assert_eq!(v.last_transition_time.0, now());
    assert_eq!(v.observed_generation, Some(3));
    // The Service goes away: Valid flips, its time moves.
    let _ = w.index.delete_service("c1", &NsName::new("ns", "web"));
    let d3 = w.run_at(later);
    let v = cond(&d3, "c1", "ns", "web", condition::VALID).unwrap();
    assert_eq!(
        (v.status.as_str(), v.last_transition_time.0),
        ("False", later)
    );
}

#[test]
fn unexport_removes_imports_and_slices_everywhere() {
    let mut w = exported_web();
    let d = w.run();
    assert!(!slices_in(&d, "c2", "ns", "web").is_empty());
    let _ = w.index.delete_export("c1", &NsName::new("ns", "web"));
    let d = w.run();
    for c in ["c1", "c2", "c3"] {
        assert!(import_in(&d, c, "ns", "web").is_none());
        assert!(slices_in(&d, c, "ns", "web").is_empty());
        assert!(d.objects[c].is_empty());
    }
    assert!(d.export_status.is_empty());
}

#[test]
fn import_survives_while_any_cluster_still_exports() {
    let mut w = exported_web()
        .with(svc("ns", "web").in_cluster("c2"))
        .with(export("ns", "web").in_cluster("c2").at(2000));
    let _ = w.index.delete_export("c1", &NsName::new("ns", "web"));
    let d = w.run();
    let imp = import_in(&d, "c1", "ns", "web").unwrap();
    assert_eq!(imp["status"]["clusters"], json!([{"cluster": "c2"}]));
}

#[test]
fn imported_slices_are_labelled_named_and_keep_not_ready_endpoints() {
    let d = exported_web()
        .with(
            slice("ns", "web", "web-abc")
                .endpoint("10.1.0.1", true)
                .endpoint("10.1.0.2", false),
        )
        .run();
    let slices = slices_in(&d, "c2", "ns", "web");
    assert_eq!(slices.len(), 1);
    let s = slices[0];
    let labels = &s["metadata"]["labels"];
    assert_eq!(labels[MCS_SERVICE_NAME], "web");
    assert_eq!(labels[MCS_SOURCE_CLUSTER], "c1");
    assert_eq!(labels[ENDPOINTSLICE_MANAGED_BY], ENDPOINTSLICE_MANAGER);
    assert_ne!(
        labels[ENDPOINTSLICE_MANAGED_BY],
        ENDPOINTSLICE_BUILTIN_MANAGER
    );
    assert_eq!(labels[MANAGED_BY], MANAGED_BY_VALUE);
    assert!(labels.get(ENDPOINTSLICE_SERVICE_NAME).is_none());
    let name = s["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-c1-") && name.len() <= 63, "{name}");
    assert_eq!(s["addressType"], "IPv4");
    assert_eq!(s["endpoints"][1]["addresses"], json!(["10.1.0.2"]));
    assert_eq!(s["endpoints"][1]["conditions"]["ready"], false);
    assert_eq!(s["endpoints"][1]["zone"], "zone-a");
    assert!(s["endpoints"][1].get("nodeName").is_none());
    assert_eq!(
        s["ports"],
        json!([{"name": "http", "protocol": "TCP", "port": 8080}])
    );
    // The exporting cluster gets the MCS slice too, with the same name.
    let own = slices_in(&d, "c1", "ns", "web");
    assert_eq!(own[0]["metadata"]["name"], s["metadata"]["name"]);
}

#[test]
fn one_slice_set_per_source_cluster() {
    let d = exported_web()
        .with(svc("ns", "web").in_cluster("c2"))
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .with(
            slice("ns", "web", "web-x")
                .in_cluster("c2")
                .endpoint("10.2.0.1", true),
        )
        .with(
            slice("ns", "web", "web-y")
                .in_cluster("c2")
                .endpoint("10.2.0.2", true),
        )
        .run();
    let slices = slices_in(&d, "c3", "ns", "web");
    let from = |c: &str| {
        slices
            .iter()
            .filter(|s| s["metadata"]["labels"][MCS_SOURCE_CLUSTER] == c)
            .count()
    };
    assert_eq!((from("c1"), from("c2")), (1, 2));
}

#[test]
fn exporter_without_endpoints_gets_an_empty_slice() {
    let d = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .run();
    let s = slices_in(&d, "c2", "ns", "web");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["endpoints"], json!([]));
}

#[test]
fn unreachable_member_is_kept_for_the_grace_then_withdrawn_then_restored() {
    let mut w = exported_web()
        .with(svc("ns", "web").in_cluster("c2"))
        .with(export("ns", "web").in_cluster("c2").at(2000))
        .with(
            slice("ns", "web", "web-z")
                .in_cluster("c2")
                .endpoint("10.2.0.9", true),
        );
    let down_at = now();
    w.down("c2", down_at);
    // Within the grace: nothing changes.
    let d = w.run_at(down_at + jiff::SignedDuration::from_mins(4));
    assert_eq!(
        import_in(&d, "c3", "ns", "web").unwrap()["status"]["clusters"],
        json!([{"cluster": "c1"}, {"cluster": "c2"}])
    );
    assert!(!d.member_status["c2"].reachable && !d.member_status["c2"].withdrawn);
    // After the grace: c2's endpoints are withdrawn everywhere.
    let d = w.run_at(down_at + jiff::SignedDuration::from_mins(6));
    assert_eq!(
        import_in(&d, "c3", "ns", "web").unwrap()["status"]["clusters"],
        json!([{"cluster": "c1"}])
    );
    let slices = slices_in(&d, "c3", "ns", "web");
    assert!(
        slices
            .iter()
            .all(|s| s["metadata"]["labels"][MCS_SOURCE_CLUSTER] == "c1")
    );
    assert!(d.member_status["c2"].withdrawn);
    assert!(
        !d.export_status
            .contains_key(&("c2".to_owned(), NsName::new("ns", "web")))
    );
    // Back: restored.
    w.up("c2");
    let d = w.run_at(down_at + jiff::SignedDuration::from_mins(7));
    assert_eq!(slices_in(&d, "c3", "ns", "web").len(), 2);
}

#[test]
fn sole_exporter_withdrawn_removes_the_import() {
    let mut w = exported_web();
    w.down("c1", now());
    let d = w.run_at(now() + jiff::SignedDuration::from_mins(10));
    assert!(import_in(&d, "c2", "ns", "web").is_none());
}

#[test]
fn user_owned_import_is_left_alone_and_reported() {
    let d = exported_web()
        .with(import("ns", "web").in_cluster("c2").user_owned())
        .run();
    assert!(import_in(&d, "c2", "ns", "web").is_none());
    assert!(slices_in(&d, "c2", "ns", "web").is_empty());
    assert!(import_in(&d, "c3", "ns", "web").is_some());
    let cc = cond(&d, "c1", "ns", "web", condition::CONFLICT).unwrap();
    assert_eq!(
        (cc.status.as_str(), cc.reason.as_str()),
        ("True", super::IMPORT_CONFLICT)
    );
    assert!(cc.message.contains("c2"));
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == super::IMPORT_CONFLICT && e.cluster == "c1")
    );
}

#[test]
fn v1alpha1_only_member_gets_v1alpha1_imports() {
    let d = exported_web().alpha("c3").run();
    assert_eq!(
        import_in(&d, "c3", "ns", "web").unwrap()["apiVersion"],
        "multicluster.x-k8s.io/v1alpha1"
    );
    assert_eq!(
        import_in(&d, "c2", "ns", "web").unwrap()["apiVersion"],
        "multicluster.x-k8s.io/v1beta1"
    );
}

#[test]
fn every_desired_object_carries_the_ownership_label_and_is_sorted() {
    let mut w = exported_web();
    w.cfg.istio = Some(wiring(None));
    let d = w.run();
    for objs in d.objects.values() {
        for o in objs {
            assert_eq!(o["metadata"]["labels"][MANAGED_BY], MANAGED_BY_VALUE, "{o}");
            assert!(o["apiVersion"].is_string() && o["kind"].is_string(), "{o}");
        }
        let keys: Vec<_> = objs.iter().map(|o| ObjectKey::of(o).unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}

#[test]
fn reconcile_is_deterministic() {
    let w = exported_web();
    let a = w.run();
    let b = w.run();
    assert_eq!(a.objects, b.objects);
    assert_eq!(a.export_status, b.export_status);
}

pub(super) fn wiring(root: Option<Arc<gateway_config::ca::RootCa>>) -> IstioWiring {
    IstioWiring {
        mesh_id: "mesh1".into(),
        trust_domain: "cluster.local".into(),
        expose_hosts: gateway_config::istio::ExposeHosts::All,
        root,
        renewal: gateway_config::ca::RenewalPolicy::default(),
        restart_istiod: false,
        mesh_networks: true,
    }
}

pub(super) const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
current-context: r
clusters:
- name: r
  cluster:
    server: https://203.0.113.10:6443
    certificate-authority-data: Y2E=
users:
- name: r
  user:
    token: abc
contexts:
- name: r
  context: {cluster: r, user: r}
"#;

#[test]
fn istio_wiring_objects() {
    let mut w = world(&["c1", "c2", "c3"]);
    let mut info = w.index.member("c2").unwrap().info.clone();
    info.reader_kubeconfig = Some(Arc::new(KUBECONFIG.as_bytes().to_vec()));
    w.index.upsert_member(info);
    let root = gateway_config::ca::RootCa::generate(&Default::default(), now()).unwrap();
    w.cfg.istio = Some(wiring(Some(Arc::new(root))));
    // cacerts are planned once the member's own were read.
    assert!(find(&w.run(), "c1", "Secret", "istio-system", "cacerts").is_none());
    for c in ["c1", "c2", "c3"] {
        w.index
            .apply_istio(c, IstioFact::CaCerts(Observed::Absent))
            .unwrap();
    }
    let d = w.run();
    let ns = find(&d, "c1", "Namespace", "", "istio-system")
        .or_else(|| {
            d.objects["c1"]
                .iter()
                .find(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == "istio-system")
        })
        .unwrap();
    assert_eq!(ns["metadata"]["labels"][ISTIO_NETWORK], "net-c1");
    let gw = find(&d, "c1", "Gateway", "istio-system", "cross-network-gateway").unwrap();
    assert_eq!(gw["spec"]["servers"][0]["tls"]["mode"], "AUTO_PASSTHROUGH");
    assert_eq!(gw["spec"]["servers"][0]["port"]["number"], 15443);
    // c1 gets c2's remote secret; c3 has no kubeconfig: noted.
    let rs = find(&d, "c1", "Secret", "istio-system", "istio-remote-secret-c2").unwrap();
    assert_eq!(rs["metadata"]["labels"][ISTIO_MULTICLUSTER], "true");
    assert!(find(&d, "c2", "Secret", "istio-system", "istio-remote-secret-c2").is_none());
    assert!(d.member_status["c1"].notes.iter().any(|n| n.contains("c3")));
    // cacerts per member.
    let ca = find(&d, "c1", "Secret", "istio-system", "cacerts").unwrap();
    for k in [
        "ca-cert.pem",
        "ca-key.pem",
        "cert-chain.pem",
        "root-cert.pem",
    ] {
        assert!(ca["data"][k].is_string(), "{k}");
    }
}

#[test]
fn gateway_address_per_exposure() {
    use gateway_config::clusterset::GatewayExposure;
    let mut w = world(&["lb", "np", "st"]);
    for (name, exposure) in [
        (
            "np",
            GatewayExposure::NodePort {
                node_selector: [("role".to_owned(), "gw".to_owned())].into(),
                node_port: Some(31443),
            },
        ),
        (
            "st",
            GatewayExposure::Static {
                addresses: vec!["gw.example.com".into()],
                port: Some(443),
            },
        ),
    ] {
        let mut info = w.index.member(name).unwrap().info.clone();
        info.exposure = exposure;
        w.index.upsert_member(info);
    }
    w.index
        .set_node_addresses("np", vec!["192.0.2.2".into(), "192.0.2.1".into()])
        .unwrap();
    w.cfg.istio = Some(wiring(None));
    let d = w.run();
    assert!(d.member_status["lb"].gateway_addresses.is_empty());
    assert!(
        d.member_status["lb"]
            .notes
            .iter()
            .any(|n| n.contains("not found"))
    );
    assert_eq!(
        d.member_status["np"].gateway_addresses,
        ["192.0.2.1", "192.0.2.2"]
    );
    assert_eq!(d.member_status["np"].gateway_port, Some(31443));
    assert_eq!(d.member_status["st"].gateway_addresses, ["gw.example.com"]);
    assert_eq!(d.member_status["st"].gateway_port, Some(443));

    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system"},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "tls", "port": 15443}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}
    }))
    .unwrap();
    w.index.apply_gateway_service("lb", &svc).unwrap();
    let d = w.run();
    assert_eq!(d.member_status["lb"].gateway_addresses, ["198.51.100.7"]);
    assert_eq!(d.member_status["lb"].gateway_port, Some(15443));
}

#[test]
fn dual_stack_service_gets_one_vip_per_family() {
    let d = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web").families(&["IPv6", "IPv4"]))
        .with(export("ns", "web"))
        .run();
    let imp = import_in(&d, "c2", "ns", "web").unwrap();
    let ips: Vec<IpAddr> = imp["spec"]["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ips.len(), 2);
    assert!(ips[0].is_ipv6() && ips[1].is_ipv4(), "{ips:?}");
    assert_eq!(imp["spec"]["ipFamilies"], json!(["IPv6", "IPv4"]));
}

#[test]
fn configured_range_is_used() {
    let mut w = exported_web();
    w.cfg.clusterset_cidrs = vec!["10.250.0.0/24".parse().unwrap()];
    let d = w.run();
    let ip: IpAddr = import_in(&d, "c1", "ns", "web").unwrap()["spec"]["ips"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        "10.250.0.0/24"
            .parse::<ipnet::IpNet>()
            .unwrap()
            .contains(&ip)
    );
}

#[test]
fn result_does_not_depend_on_the_order_objects_arrived_in() {
    let fixtures = || {
        vec![
            (
                svc("ns", "web").affinity("ClientIP"),
                export("ns", "web").at(3000),
            ),
            (
                svc("ns", "web")
                    .in_cluster("c2")
                    .ports(&[("http", 81, "TCP")]),
                export("ns", "web").in_cluster("c2").at(2000),
            ),
            (
                svc("ns", "web").in_cluster("c3").headless(),
                export("ns", "web").in_cluster("c3").at(2000),
            ),
        ]
    };
    let build = |order: &[usize]| {
        let mut w = world(&["c1", "c2", "c3"]);
        let f = fixtures();
        for &i in order {
            w.add(f[i].0.clone());
            w.add(f[i].1.clone());
        }
        w.run()
    };
    let a = build(&[0, 1, 2]);
    for order in [[2, 1, 0], [1, 0, 2], [2, 0, 1]] {
        let b = build(&order);
        assert_eq!(a.objects, b.objects, "{order:?}");
        assert_eq!(a.export_status, b.export_status, "{order:?}");
    }
    // c2 and c3 tie on time; c2 wins by cluster ID: its ports, ClusterSetIP.
    let imp = import_in(&a, "c1", "ns", "web").unwrap();
    assert_eq!(imp["spec"]["ports"][0]["port"], 81);
    assert_eq!(imp["spec"]["type"], "ClusterSetIP");
    assert_eq!(
        cond(&a, "c1", "ns", "web", condition::CONFLICT)
            .unwrap()
            .reason,
        "PortConflict,TypeConflict,SessionAffinityConflict"
    );
}
