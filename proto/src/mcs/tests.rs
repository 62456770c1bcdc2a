#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_api::labels::{MCS_SERVICE_NAME, MCS_SOURCE_CLUSTER};
use serde_json::{Value, json};

use super::*;
use crate::v1::{Port, ServiceType};

fn import(name: &str, type_: &str, ips: &[&str]) -> Value {
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": type_, "ips": ips,
                 "ports": [{"name": "http", "protocol": "TCP", "port": 80}, {"protocol": "UDP", "port": 53}]},
    })
}

fn slice(service: &str, cluster: &str, endpoints: Value) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-{cluster}-x"), "namespace": "shop",
                     "labels": {MCS_SERVICE_NAME: service, MCS_SOURCE_CLUSTER: cluster}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    })
}

fn port(name: &str, protocol: &str, port: u32) -> Port {
    Port {
        name: name.into(),
        protocol: protocol.into(),
        port,
    }
}

#[test]
fn a_clusterset_ip_import_becomes_a_record_with_its_ips_ports_and_exporters() {
    let objects = vec![
        import("web", "ClusterSetIP", &["242.0.0.1"]),
        slice("web", "west", json!([{"addresses": ["10.2.0.1"]}])),
        slice(
            "web",
            "east",
            json!([{"addresses": ["10.1.0.2"], "conditions": {"ready": false}},
                   {"addresses": ["10.1.0.1"], "conditions": {"ready": true}}]),
        ),
        // Other kinds are not part of the view.
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}),
    ];
    let (table, errors) = cluster_table(&objects);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(table.len(), 1);
    let r = table.get(&Key::new("shop", "web")).unwrap();
    assert_eq!(r.r#type, ServiceType::ClusterSetIp as i32);
    assert_eq!(r.ips, vec!["242.0.0.1"]);
    assert_eq!(r.ports, vec![port("http", "TCP", 80), port("", "UDP", 53)]);
    let clusters: Vec<&str> = r.clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(clusters, vec!["east", "west"]);
    let east = &r.clusters[0];
    assert_eq!(east.endpoints.len(), 2);
    assert_eq!(east.endpoints[0].addresses, vec!["10.1.0.1"]);
    assert!(east.endpoints[0].ready);
    assert!(!east.endpoints[1].ready);
    assert_eq!(east.ports[0].port, 8080);
}

#[test]
fn headless_records_carry_hostnames_and_no_ips_and_unset_ready_counts_as_ready() {
    let mut db = import("db", "Headless", &[]);
    // A headless service has no clusterset IPs, whatever the object says.
    db["spec"]["ips"] = json!(["not-read"]);
    let objects = vec![
        db,
        slice(
            "db",
            "east",
            json!([{"addresses": ["10.1.3.21"], "hostname": "db-0"}]),
        ),
    ];
    let (table, errors) = cluster_table(&objects);
    assert!(errors.is_empty(), "{errors:?}");
    let r = table.get(&Key::new("shop", "db")).unwrap();
    assert_eq!(r.r#type, ServiceType::Headless as i32);
    assert!(r.ips.is_empty());
    assert_eq!(r.clusters[0].endpoints[0].hostname, "db-0");
    assert!(r.clusters[0].endpoints[0].ready);
}

#[test]
fn endpoint_order_does_not_change_the_table() {
    let a = vec![
        import("web", "ClusterSetIP", &["242.0.0.1"]),
        slice(
            "web",
            "east",
            json!([{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2"]}]),
        ),
    ];
    let b = vec![
        slice(
            "web",
            "east",
            json!([{"addresses": ["10.1.0.2"]}, {"addresses": ["10.1.0.1"]}]),
        ),
        import("web", "ClusterSetIP", &["242.0.0.1"]),
    ];
    assert_eq!(cluster_table(&a).0, cluster_table(&b).0);
    assert!(cluster_table(&a).0.diff(&cluster_table(&b).0).is_none());
}

#[test]
fn slices_without_an_import_and_fqdn_endpoints_name_nothing() {
    let mut fqdn = slice("db", "east", json!([{"addresses": ["db.example.com"]}]));
    fqdn["addressType"] = json!("FQDN");
    let objects = vec![
        slice("orphan", "east", json!([{"addresses": ["10.1.0.1"]}])),
        import("db", "Headless", &[]),
        fqdn,
    ];
    let (table, errors) = cluster_table(&objects);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(table.len(), 1);
    let r = table.get(&Key::new("shop", "db")).unwrap();
    assert_eq!(r.clusters.len(), 1);
    assert!(r.clusters[0].endpoints.is_empty());
}

#[test]
fn unset_and_null_fields_read_as_kubernetes_reads_them() {
    let mut web = import("web", "ClusterSetIP", &[]);
    web["spec"]["ips"] = Value::Null;
    web["spec"]["ports"] =
        json!([{"name": null, "protocol": null, "port": 80}, {"protocol": "udp", "port": 53}]);
    let mut s = slice(
        "web",
        "east",
        json!([{"addresses": null}, {"addresses": ["10.1.0.1"], "hostname": null, "conditions": {"ready": null}}]),
    );
    // A slice port without a number ("all ports") names nothing.
    s["ports"] = json!([{"name": "all"}, {"name": "http", "port": null}]);
    let (table, errors) = cluster_table(&[web, s]);
    assert!(errors.is_empty(), "{errors:?}");
    let r = table.get(&Key::new("shop", "web")).unwrap();
    assert!(r.ips.is_empty());
    assert_eq!(r.ports, vec![port("", "TCP", 80), port("", "UDP", 53)]);
    let east = &r.clusters[0];
    assert!(east.ports.is_empty());
    assert_eq!(east.endpoints.len(), 2);
    assert!(east.endpoints[0].addresses.is_empty());
    assert_eq!(east.endpoints[1].hostname, "");
    assert!(east.endpoints[1].ready);
}

#[test]
fn a_slice_without_the_service_label_is_not_in_the_view_but_is_an_error_when_read_as_one() {
    let mut local = slice("web", "east", json!([]));
    local["metadata"]["labels"] = json!({"kubernetes.io/service-name": "web"});
    assert!(part(&local).is_none());
    let e = slice_entry(&local).unwrap_err();
    assert_eq!(e.field, format!("metadata.labels[{MCS_SERVICE_NAME}]"));
    assert_eq!(e.reason, "missing");
}

#[test]
fn malformed_objects_are_reported_by_object_and_field_and_skipped() {
    let bad_ip = import("bad", "ClusterSetIP", &["not-an-ip"]);
    let mut bad_port = import("port", "ClusterSetIP", &[]);
    bad_port["spec"]["ports"] = json!([{"port": 70000}]);
    let mut bad_label = slice("web", "east", json!([]));
    bad_label["metadata"]["labels"][MCS_SOURCE_CLUSTER] = json!("");
    let objects = vec![
        bad_ip,
        bad_port,
        import("typeless", "", &[]),
        bad_label,
        import("web", "ClusterSetIP", &["242.0.0.1"]),
    ];
    let (table, errors) = cluster_table(&objects);
    assert_eq!(table.len(), 1);
    assert!(table.get(&Key::new("shop", "web")).is_some());
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "ServiceImport shop/bad: field spec.ips[0]: \"not-an-ip\" is not an IP address"
                .to_owned(),
            "ServiceImport shop/port: field spec.ports[0].port: 70000 is not a port number"
                .to_owned(),
            "ServiceImport shop/typeless: field spec.type: missing (ClusterSetIP or Headless)"
                .to_owned(),
            format!(
                "EndpointSlice shop/web-east-x: field metadata.labels[{MCS_SOURCE_CLUSTER}]: missing"
            ),
        ]
    );
}

#[test]
fn every_rule_names_its_field() {
    let with = |mut o: Value, pointer: &str, v: Value| {
        *o.pointer_mut(pointer).unwrap() = v;
        o
    };
    let web = || import("web", "ClusterSetIP", &["242.0.0.1"]);
    let ep = || slice("web", "east", json!([{"addresses": ["10.1.0.1"]}]));
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(web(), "/metadata/namespace", json!("")),
            "metadata.namespace",
            "missing",
        ),
        (
            with(web(), "/metadata/name", Value::Null),
            "metadata.name",
            "missing",
        ),
        (
            with(web(), "/spec/type", json!("Weird")),
            "spec.type",
            "\"Weird\" is neither ClusterSetIP nor Headless",
        ),
        (
            with(web(), "/spec/ips", json!("242.0.0.1")),
            "spec.ips",
            "not a list",
        ),
        (
            with(web(), "/spec/ports/0/port", json!(-1)),
            "spec.ports[0].port",
            "-1 is not a port number",
        ),
        (
            with(web(), "/spec/ports/0/port", json!(0)),
            "spec.ports[0].port",
            "0 is not a port number",
        ),
        (
            with(web(), "/spec/ports/1/protocol", json!("http")),
            "spec.ports[1].protocol",
            "\"http\" is not TCP, UDP or SCTP",
        ),
        (
            with(ep(), "/addressType", json!("")),
            "addressType",
            "\"\" is not IPv4, IPv6 or FQDN",
        ),
        (
            with(ep(), "/addressType", Value::Null),
            "addressType",
            "missing",
        ),
        (
            with(ep(), "/endpoints/0/addresses/0", json!("10.1.0.300")),
            "endpoints[0].addresses[0]",
            "\"10.1.0.300\" is not an IP address",
        ),
        (
            with(ep(), "/endpoints", json!({})),
            "endpoints",
            "not a list",
        ),
        (
            with(ep(), "/ports/0/protocol", json!("HTTP")),
            "ports[0].protocol",
            "\"HTTP\" is not TCP, UDP or SCTP",
        ),
        (
            with(ep(), "/metadata/name", json!("")),
            "metadata.name",
            "missing",
        ),
    ];
    for (o, field, reason) in cases {
        let e = part(&o).unwrap().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            (field, reason),
            "{o}"
        );
    }
}
