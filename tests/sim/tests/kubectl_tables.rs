//! What `kubectl get` prints against a simulated cluster, compared with what it prints against
//! a real API server for the same stored objects. The expected cells are read off the
//! Kubernetes printers (function names cited per check), not off the simulator:
//! `pkg/printers/internalversion/printers.go` for the built-in kinds,
//! `k8s.io/apiextensions-apiserver/.../tableconvertor/tableconvertor.go` and
//! `k8s.io/client-go/util/jsonpath` for custom resources, `k8s.io/apiserver/pkg/registry/rest/
//! table.go` for kinds without a printer, and kubectl's `printTable` in
//! `k8s.io/cli-runtime/pkg/printers/tableprinter.go` (upper-cased headers, NAMESPACE first with
//! `-A`, priority-1 columns only with `-o wide`, an empty cell for a null one).
//!
//! The objects are written as a real API server would have stored them (Service `type`,
//! `clusterIPs` and node ports filled in), since the simulator does no defaulting.
//! The tests need kubectl: they are ignored in a plain run and fail, naming it, when it is
//! missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Printed, Window, ago, parse_table, setup, split_row};
use kube_sim::SimCluster;
use serde_json::{Value, json};

/// An expected cell: literal text, or an age computed from a timestamp.
enum Cell {
    Text(&'static str),
    Owned(String),
    Age(String),
}

use Cell::{Age, Owned, Text};

fn assert_table(printed: &Printed, headers: &[&str], rows: &[Vec<Cell>], w: &Window) {
    assert_eq!(printed.headers, headers, "headers of {printed:#?}");
    assert_eq!(printed.rows.len(), rows.len(), "rows of {printed:#?}");
    for (got, want) in printed.rows.iter().zip(rows) {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((cell, expected), header) in got.iter().zip(want).zip(headers) {
            match expected {
                Text(t) => assert_eq!(cell, t, "{header} of {got:?}"),
                Owned(t) => assert_eq!(cell, t, "{header} of {got:?}"),
                Age(ts) => w.assert_age(cell, ts, &format!("{header} of {got:?}")),
            }
        }
    }
}

/// `metadata.creationTimestamp` of a stored object.
fn created(
    sim: &SimCluster,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> String {
    let obj = sim.get_json(api_version, kind, ns, name).unwrap();
    obj["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn get(k: &common::Kubectl, args: &[&str]) -> (Printed, Window) {
    let before = Window::open();
    let out = k.ok(args, None).await;
    (parse_table(&out), Window::close(before))
}

fn seed_services(sim: &SimCluster) {
    let svc = |ns: &str, name: &str, spec: Value, status: Value| {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": spec, "status": status}))
            .unwrap();
    };
    svc(
        "shop",
        "cart",
        json!({"type": "ClusterIP", "clusterIP": "10.96.10.1", "clusterIPs": ["10.96.10.1"],
            "selector": {"app": "cart"},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                      {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        json!({}),
    );
    svc(
        "shop",
        "db",
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
            "ports": [{"port": 5432, "protocol": "TCP"}]}),
        json!({}),
    );
    svc(
        "edge",
        "gw",
        json!({"type": "NodePort", "clusterIP": "10.96.10.2", "clusterIPs": ["10.96.10.2"],
            "selector": {"tier": "edge", "app": "gw"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                      {"port": 443, "nodePort": 31443, "protocol": "TCP"}]}),
        json!({}),
    );
    svc(
        "edge",
        "lb",
        json!({"type": "LoadBalancer", "clusterIP": "10.96.10.3", "clusterIPs": ["10.96.10.3"],
            "externalIPs": ["198.51.100.7"],
            "ports": [{"port": 15443, "nodePort": 31500, "protocol": "TCP"}]}),
        json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "203.0.113.10"}]}}),
    );
    svc(
        "edge",
        "lb-pending",
        json!({"type": "LoadBalancer", "clusterIP": "10.96.10.4", "clusterIPs": ["10.96.10.4"],
            "ports": [{"port": 15443, "nodePort": 31501, "protocol": "TCP"}]}),
        json!({"loadBalancer": {}}),
    );
    svc(
        "edge",
        "ext",
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_get_services_prints_type_ips_and_ports() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    seed_services(&sim);
    let age = |ns: &str, name: &str| Age(created(&sim, "v1", "Service", Some(ns), name));

    // printService: TYPE, CLUSTER-IP (clusterIPs[0], "<none>" without), EXTERNAL-IP by type
    // (getServiceExternalIP: "<none>" for ClusterIP and NodePort without externalIPs,
    // load balancer ingress sorted then externalIPs, "<pending>" without either, the
    // externalName), PORT(S) (makePortString: port/protocol, port:nodePort/protocol; "<none>").
    let (printed, w) = get(&k, &["get", "svc", "-A"]).await;
    assert_table(
        &printed,
        &[
            "NAMESPACE",
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        &[
            vec![
                Text("edge"),
                Text("ext"),
                Text("ExternalName"),
                Text("<none>"),
                Text("db.example.com"),
                Text("<none>"),
                age("edge", "ext"),
            ],
            vec![
                Text("edge"),
                Text("gw"),
                Text("NodePort"),
                Text("10.96.10.2"),
                Text("<none>"),
                Text("80:30080/TCP,443:31443/TCP"),
                age("edge", "gw"),
            ],
            vec![
                Text("edge"),
                Text("lb"),
                Text("LoadBalancer"),
                Text("10.96.10.3"),
                Text("203.0.113.10,lb.example.com,198.51.100.7"),
                Text("15443:31500/TCP"),
                age("edge", "lb"),
            ],
            vec![
                Text("edge"),
                Text("lb-pending"),
                Text("LoadBalancer"),
                Text("10.96.10.4"),
                Text("<pending>"),
                Text("15443:31501/TCP"),
                age("edge", "lb-pending"),
            ],
            vec![
                Text("shop"),
                Text("cart"),
                Text("ClusterIP"),
                Text("10.96.10.1"),
                Text("<none>"),
                Text("80/TCP,53/UDP"),
                age("shop", "cart"),
            ],
            vec![
                Text("shop"),
                Text("db"),
                Text("ClusterIP"),
                Text("None"),
                Text("<none>"),
                Text("5432/TCP"),
                age("shop", "db"),
            ],
        ],
        &w,
    );

    // -o wide adds SELECTOR (priority 1): labels.FormatLabels, sorted, "<none>" when empty.
    let (printed, w) = get(&k, &["get", "svc", "-n", "edge", "-o", "wide"]).await;
    assert_eq!(
        printed.headers,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    let selectors: Vec<(&str, &str)> = printed
        .rows
        .iter()
        .map(|r| (r[0].as_str(), r[6].as_str()))
        .collect();
    assert_eq!(
        selectors,
        [
            ("ext", "<none>"),
            ("gw", "app=gw,tier=edge"),
            ("lb", "<none>"),
            ("lb-pending", "<none>")
        ]
    );
    w.assert_age(
        &printed.rows[1][5],
        &created(&sim, "v1", "Service", Some("edge"), "gw"),
        "gw",
    );

    // A single get prints the same row.
    let (printed, w) = get(&k, &["get", "svc", "cart", "-n", "shop"]).await;
    assert_table(
        &printed,
        &[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        &[vec![
            Text("cart"),
            Text("ClusterIP"),
            Text("10.96.10.1"),
            Text("<none>"),
            Text("80/TCP,53/UDP"),
            age("shop", "cart"),
        ]],
        &w,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_get_custom_resources_prints_crd_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    for (name, spec) in [
        (
            "cart",
            json!({"type": "ClusterSetIP", "ips": ["10.42.0.1"], "ports": [{"port": 80, "protocol": "TCP"}]}),
        ),
        (
            "db",
            json!({"type": "Headless", "ports": [{"port": 5432, "protocol": "TCP"}]}),
        ),
    ] {
        sim.apply_json(
            json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": name, "namespace": "shop"}, "spec": spec}),
        )
        .unwrap();
    }
    let age = |name: &str| {
        Age(created(
            &sim,
            "multicluster.x-k8s.io/v1beta1",
            "ServiceImport",
            Some("shop"),
            name,
        ))
    };
    // The upstream ServiceImport CRD declares TYPE (.spec.type), IP (.spec.ips, a string
    // column: the JSONPath printer writes a list as JSON) and AGE. A missing value is a null
    // cell, which kubectl prints empty.
    for args in [
        &["get", "serviceimports", "-A"][..],
        &[
            "get",
            "serviceimports.multicluster.x-k8s.io",
            "-A",
            "-o",
            "wide",
        ][..],
    ] {
        let (printed, w) = get(&k, args).await;
        assert_table(
            &printed,
            &["NAMESPACE", "NAME", "TYPE", "IP", "AGE"],
            &[
                vec![
                    Text("shop"),
                    Text("cart"),
                    Text("ClusterSetIP"),
                    Text("[\"10.42.0.1\"]"),
                    age("cart"),
                ],
                vec![
                    Text("shop"),
                    Text("db"),
                    Text("Headless"),
                    Text(""),
                    age("db"),
                ],
            ],
            &w,
        );
    }

    // A CRD's columns replace the default AGE (serveDefaultColumnsIfEmpty adds it only to a
    // version without columns); priority 1 columns show with -o wide; a filter JSONPath picks
    // the condition; an integer column prints the number.
    sim.apply_json(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1}]},
                {"name": "v1beta1", "served": true, "storage": false,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
        .unwrap();
    sim.apply_json(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "shop"}, "spec": {"size": 3, "color": "blue"},
        "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}}))
        .unwrap();
    let w1 = created(&sim, "example.com/v1", "Widget", Some("shop"), "w1");
    let (printed, w) = get(&k, &["get", "widgets.v1.example.com", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "SIZE", "READY"],
        &[vec![Text("w1"), Text("3"), Text("True")]],
        &w,
    );
    let (printed, w) = get(
        &k,
        &["get", "widgets.v1.example.com", "-n", "shop", "-o", "wide"],
    )
    .await;
    assert_table(
        &printed,
        &["NAME", "SIZE", "READY", "COLOR"],
        &[vec![Text("w1"), Text("3"), Text("True"), Text("blue")]],
        &w,
    );
    // The version without columns gets NAME and AGE.
    let (printed, w) = get(&k, &["get", "widgets.v1beta1.example.com", "-n", "shop"]).await;
    assert_table(&printed, &["NAME", "AGE"], &[vec![Text("w1"), Age(w1)]], &w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_get_endpointslices_lists_three_then_more() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    let slice = |name: &str, address_type: &str, ports: Value, endpoints: Value| {
        sim.apply_json(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "shop", "labels": {"kubernetes.io/service-name": "cart"}},
            "addressType": address_type, "ports": ports, "endpoints": endpoints}))
            .unwrap();
    };
    slice(
        "cart-abcde",
        "IPv4",
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        json!([{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2", "10.1.0.3"]},
               {"addresses": ["10.1.0.4"]}, {"addresses": ["10.1.0.5"]}]),
    );
    slice(
        "cart-v6xyz",
        "IPv6",
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "grpc", "protocol": "TCP"},
               {"protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}]),
        json!([{"addresses": ["fd00::1"]}]),
    );
    slice("cart-empty", "IPv4", json!([]), json!([]));
    let age = |name: &str| {
        Age(created(
            &sim,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            Some("shop"),
            name,
        ))
    };
    // printEndpointSlice: ADDRESSTYPE; PORTS (formatDiscoveryPorts: the port, else its name,
    // else "*") and ENDPOINTS (formatDiscoveryEndpoints: every address), three at most then
    // " + N more...", "<unset>" when empty (listWithMoreString).
    let (printed, w) = get(&k, &["get", "endpointslices", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        &[
            vec![
                Text("cart-abcde"),
                Text("IPv4"),
                Text("8080"),
                Text("10.1.0.1,10.1.0.2,10.1.0.3 + 2 more..."),
                age("cart-abcde"),
            ],
            vec![
                Text("cart-empty"),
                Text("IPv4"),
                Text("<unset>"),
                Text("<unset>"),
                age("cart-empty"),
            ],
            vec![
                Text("cart-v6xyz"),
                Text("IPv6"),
                Text("8080,grpc,* + 1 more..."),
                Text("fd00::1"),
                age("cart-v6xyz"),
            ],
        ],
        &w,
    );
}

fn event(sim: &SimCluster, name: &str, body: Value) {
    let mut ev = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "shop"}});
    if let (Some(e), Some(b)) = (ev.as_object_mut(), body.as_object()) {
        e.extend(b.clone());
    }
    sim.apply_json(ev).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_get_events_and_watch_one() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    let (first, last) = (ago(3600), ago(330));
    event(
        &sim,
        "cart.1",
        json!({"type": "Warning", "reason": "Conflict", "message": "two exporters disagree\n",
            "count": 4, "firstTimestamp": first, "lastTimestamp": last,
            "involvedObject": {"kind": "ServiceExport", "name": "cart", "namespace": "shop"},
            "source": {"component": "isthmus", "host": "cluster-1"}}),
    );
    let event_time = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(90);
    let event_time = event_time.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string();
    event(
        &sim,
        "db.2",
        json!({"type": "Normal", "reason": "Exported", "message": "exported to 3 clusters",
            "eventTime": event_time, "reportingController": "isthmus.io/controller",
            "reportingInstance": "isthmus-0", "action": "Export",
            "involvedObject": {"kind": "Service", "name": "db", "namespace": "shop", "fieldPath": "spec.ports"}}),
    );
    // printEvent: LAST SEEN (lastTimestamp, else the first seen: firstTimestamp, else
    // eventTime), TYPE, REASON, OBJECT (lower-case kind/name), MESSAGE (trimmed).
    let (printed, w) = get(&k, &["get", "events", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        &[
            vec![
                Age(last.clone()),
                Text("Warning"),
                Text("Conflict"),
                Text("serviceexport/cart"),
                Text("two exporters disagree"),
            ],
            vec![
                Age(event_time.clone()),
                Text("Normal"),
                Text("Exported"),
                Text("service/db"),
                Text("exported to 3 clusters"),
            ],
        ],
        &w,
    );
    // -o wide: SUBOBJECT (fieldPath), SOURCE (formatEventSource: component, else
    // reportingController; ", host" or ", reportingInstance"), FIRST SEEN, COUNT (1 for a
    // singleton without count), NAME.
    let (printed, w) = get(&k, &["get", "events", "-n", "shop", "-o", "wide"]).await;
    assert_table(
        &printed,
        &[
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST SEEN",
            "COUNT",
            "NAME",
        ],
        &[
            vec![
                Age(last),
                Text("Warning"),
                Text("Conflict"),
                Text("serviceexport/cart"),
                Text(""),
                Text("isthmus, cluster-1"),
                Text("two exporters disagree"),
                Age(first),
                Text("4"),
                Text("cart.1"),
            ],
            vec![
                Age(event_time.clone()),
                Text("Normal"),
                Text("Exported"),
                Text("service/db"),
                Text("spec.ports"),
                Text("isthmus.io/controller, isthmus-0"),
                Text("exported to 3 clusters"),
                Age(event_time),
                Text("1"),
                Text("db.2"),
            ],
        ],
        &w,
    );

    // kubectl get -w: the list, then one row per watch event (each a one-row Table).
    let mut watch = k.spawn(&["get", "events", "-n", "shop", "-w"]);
    let header = watch.line().await;
    assert_eq!(
        split_row(&header),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(watch.line().await.contains("serviceexport/cart"));
    assert!(watch.line().await.contains("service/db"));
    isthmus_testing::eventually(
        "kubectl watches events",
        Duration::from_secs(30),
        || async {
            if sim.open_watches(Some("events")) > 0 {
                Ok(())
            } else {
                Err("no watch on events yet".to_string())
            }
        },
    )
    .await;
    let seen = ago(20);
    let before = Window::open();
    event(
        &sim,
        "cart.3",
        json!({"type": "Normal", "reason": "Imported", "message": "imported from 2 clusters",
            "count": 1, "firstTimestamp": seen, "lastTimestamp": seen,
            "involvedObject": {"kind": "ServiceImport", "name": "cart", "namespace": "shop"},
            "source": {"component": "isthmus"}}),
    );
    let line = watch.line().await;
    let w = Window::close(before);
    let cells = split_row(&line);
    assert_eq!(cells.len(), 5, "{line}");
    w.assert_age(&cells[0], &seen, "LAST SEEN of the watched event");
    assert_eq!(
        cells[1..],
        [
            "Normal",
            "Imported",
            "serviceimport/cart",
            "imported from 2 clusters"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_get_other_builtins() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    for obj in [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "shop"},
            "type": "Opaque", "data": {"user": "YQ==", "pass": "Yg=="}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "shop"},
            "secrets": [{"name": "creds"}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1"}, {"name": "proxy", "image": "envoy:1"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader", "namespace": "shop"},
            "spec": {"holderIdentity": "isthmus-0"}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1",
                "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12",
                    "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "readers", "namespace": "shop"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
                         {"kind": "ServiceAccount", "name": "app", "namespace": "shop"}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "reader", "namespace": "shop"}, "rules": []}),
    ] {
        sim.apply_json(obj).unwrap();
    }
    let age = |api: &str, kind: &str, ns: Option<&str>, name: &str| {
        Age(created(&sim, api, kind, ns, name))
    };

    // printNamespace: STATUS is the phase.
    let (printed, w) = get(&k, &["get", "namespace", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "STATUS", "AGE"],
        &[vec![
            Text("shop"),
            Text("Active"),
            age("v1", "Namespace", None, "shop"),
        ]],
        &w,
    );
    // printConfigMap: DATA counts data and binaryData; printSecret: TYPE and DATA;
    // printServiceAccount: SECRETS counts the listed secrets.
    let (printed, w) = get(&k, &["get", "configmaps", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "DATA", "AGE"],
        &[vec![
            Text("settings"),
            Text("3"),
            age("v1", "ConfigMap", Some("shop"), "settings"),
        ]],
        &w,
    );
    let (printed, w) = get(&k, &["get", "secrets", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "TYPE", "DATA", "AGE"],
        &[vec![
            Text("creds"),
            Text("Opaque"),
            Text("2"),
            age("v1", "Secret", Some("shop"), "creds"),
        ]],
        &w,
    );
    let (printed, w) = get(&k, &["get", "serviceaccounts", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "SECRETS", "AGE"],
        &[vec![
            Text("app"),
            Text("1"),
            age("v1", "ServiceAccount", Some("shop"), "app"),
        ]],
        &w,
    );
    // printDeployment: READY ready/desired, UP-TO-DATE, AVAILABLE; wide: CONTAINERS, IMAGES,
    // SELECTOR (the selector's string form).
    let (printed, w) = get(&k, &["get", "deployments", "-n", "shop", "-o", "wide"]).await;
    assert_table(
        &printed,
        &[
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        &[vec![
            Text("web"),
            Text("2/3"),
            Text("3"),
            Text("2"),
            age("apps/v1", "Deployment", Some("shop"), "web"),
            Text("main,proxy"),
            Text("nginx:1,envoy:1"),
            Text("app=web"),
        ]],
        &w,
    );
    // printLease: HOLDER.
    let (printed, w) = get(&k, &["get", "leases", "-n", "shop"]).await;
    assert_table(
        &printed,
        &["NAME", "HOLDER", "AGE"],
        &[vec![
            Text("leader"),
            Text("isthmus-0"),
            age("coordination.k8s.io/v1", "Lease", Some("shop"), "leader"),
        ]],
        &w,
    );
    // printNode: STATUS from the Ready condition, ROLES from node-role labels, VERSION; wide:
    // INTERNAL-IP, EXTERNAL-IP ("<none>"), OS-IMAGE, KERNEL-VERSION, CONTAINER-RUNTIME.
    let (printed, w) = get(&k, &["get", "nodes", "-o", "wide"]).await;
    assert_table(
        &printed,
        &[
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ],
        &[vec![
            Text("node-1"),
            Text("Ready"),
            Text("control-plane"),
            age("v1", "Node", None, "node-1"),
            Text("v1.33.0"),
            Text("192.168.1.2"),
            Text("<none>"),
            Text("Debian GNU/Linux 12"),
            Text("6.1.0"),
            Text("containerd://1.7.0"),
        ]],
        &w,
    );
    // printRoleBinding: ROLE kind/name; wide: USERS, GROUPS, SERVICEACCOUNTS (namespace/name).
    let (printed, w) = get(&k, &["get", "rolebindings", "-n", "shop", "-o", "wide"]).await;
    assert_table(
        &printed,
        &["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        &[vec![
            Text("readers"),
            Text("ClusterRole/view"),
            age(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                Some("shop"),
                "readers",
            ),
            Text("alice"),
            Text(""),
            Text("shop/app"),
        ]],
        &w,
    );
    // Roles have no printer: the default Table (rest/table.go) of NAME and CREATED AT, the
    // creation time in RFC 3339.
    let (printed, w) = get(&k, &["get", "roles", "-n", "shop"]).await;
    let role_created = created(
        &sim,
        "rbac.authorization.k8s.io/v1",
        "Role",
        Some("shop"),
        "reader",
    );
    assert_table(
        &printed,
        &["NAME", "CREATED AT"],
        &[vec![Text("reader"), Owned(role_created)]],
        &w,
    );
}

/// A committed CRD of `deploy/crds/`.
fn deploy_crd(file: &str) -> Value {
    let path = isthmus_testing::paths::repo_root()
        .join("deploy/crds")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    isthmus_testing::manifests::yaml_documents(&text, &path)
        .into_iter()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_get_isthmus_crds_prints_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    for file in [
        "isthmus.io_memberclusters.yaml",
        "placement.isthmus.io_propagationpolicies.yaml",
        "placement.isthmus.io_clusterpropagationpolicies.yaml",
    ] {
        sim.apply_json(deploy_crd(file)).unwrap();
    }
    sim.apply_json(json!({"apiVersion": "isthmus.io/v1alpha1", "kind": "MemberCluster",
        "metadata": {"name": "cluster-2"},
        "spec": {"network": "network-2", "region": "eu-west", "revision": "1-24"},
        "status": {"reachable": true, "withdrawn": false, "gatewayAddresses": ["203.0.113.20", "203.0.113.21"],
            "gatewayPort": 15443, "exports": 2, "imports": 3}}))
        .unwrap();
    sim.apply_json(
        json!({"apiVersion": "isthmus.io/v1alpha1", "kind": "MemberCluster",
        "metadata": {"name": "cluster-3"}, "spec": {"network": "network-1"}}),
    )
    .unwrap();
    let age = |name: &str| {
        Age(created(
            &sim,
            "isthmus.io/v1alpha1",
            "MemberCluster",
            None,
            name,
        ))
    };
    // The columns the CRD declares (api/src/crd.rs): a boolean cell prints as Go prints it,
    // the first gateway address, the counts; a member without status has null cells.
    let (printed, w) = get(&k, &["get", "memberclusters"]).await;
    assert_table(
        &printed,
        &[
            "NAME",
            "NETWORK",
            "REACHABLE",
            "GATEWAY",
            "EXPORTS",
            "IMPORTS",
            "AGE",
        ],
        &[
            vec![
                Text("cluster-2"),
                Text("network-2"),
                Text("true"),
                Text("203.0.113.20"),
                Text("2"),
                Text("3"),
                age("cluster-2"),
            ],
            vec![
                Text("cluster-3"),
                Text("network-1"),
                Text(""),
                Text(""),
                Text(""),
                Text(""),
                age("cluster-3"),
            ],
        ],
        &w,
    );
    let (printed, w) = get(&k, &["get", "member", "cluster-2", "-o", "wide"]).await;
    assert_table(
        &printed,
        &[
            "NAME",
            "NETWORK",
            "REACHABLE",
            "WITHDRAWN",
            "GATEWAY",
            "EXPORTS",
            "IMPORTS",
            "REGION",
            "REVISION",
            "AGE",
        ],
        &[vec![
            Text("cluster-2"),
            Text("network-2"),
            Text("true"),
            Text("false"),
            Text("203.0.113.20"),
            Text("2"),
            Text("3"),
            Text("eu-west"),
            Text("1-24"),
            age("cluster-2"),
        ]],
        &w,
    );

    sim.apply_json(json!({"apiVersion": "placement.isthmus.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"priority": 5, "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]},
        "status": {"placed": 1, "failed": 0}}))
        .unwrap();
    sim.apply_json(json!({"apiVersion": "placement.isthmus.io/v1alpha1", "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "broken"}, "spec": {},
        "status": {"placed": 0, "failed": 0, "error": {"reason": "InvalidPolicy", "message": "no resourceSelectors"}}}))
        .unwrap();
    let (printed, w) = get(
        &k,
        &["get", "propagationpolicies.placement.isthmus.io", "-A"],
    )
    .await;
    assert_table(
        &printed,
        &["NAMESPACE", "NAME", "PRIORITY", "PLACED", "FAILED", "AGE"],
        &[vec![
            Text("shop"),
            Text("web"),
            Text("5"),
            Text("1"),
            Text("0"),
            Age(created(
                &sim,
                "placement.isthmus.io/v1alpha1",
                "PropagationPolicy",
                Some("shop"),
                "web",
            )),
        ]],
        &w,
    );
    // The schema's default fills `spec.priority` (0), as the API server's defaulting does.
    let (printed, w) = get(
        &k,
        &[
            "get",
            "clusterpropagationpolicies.placement.isthmus.io",
            "-o",
            "wide",
        ],
    )
    .await;
    assert_table(
        &printed,
        &["NAME", "PRIORITY", "PLACED", "FAILED", "ERROR", "AGE"],
        &[vec![
            Text("broken"),
            Text("0"),
            Text("0"),
            Text("0"),
            Text("InvalidPolicy"),
            Age(created(
                &sim,
                "placement.isthmus.io/v1alpha1",
                "ClusterPropagationPolicy",
                None,
                "broken",
            )),
        ]],
        &w,
    );
}
