//! MCS API conformance: the scenarios of the upstream conformance suite (kubernetes-sigs/mcs-api
//! `conformance/`) and the rules of KEP-1645, run against the real controller on simulated
//! clusters (or real ones named by `ISTHMUS_E2E_KUBECONFIGS`). Scenarios `e2e_mcs.rs` already
//! covers exactly are not repeated here. Each test names the upstream test or KEP section it
//! reproduces.
//!
//! Every scenario is a [`Scenario`] (clusters, the test namespace in each, the controller)
//! driven by steps "cluster i does X", then "eventually, in these members, Y" with the waiting
//! helpers of `isthmus_testing::mcs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::net::IpAddr;
use std::ops::Deref;
use std::time::Duration;

use isthmus_testing::k8s::{apply, delete, get, list};
use isthmus_testing::mcs::{
    MCS, MCS_V1ALPHA1, await_condition, await_import, await_no_import, await_sources, condition,
    export, export_service, imported_slices, imported_sources, ips, service,
};
use isthmus_testing::{Env, eventually};
use mesh_controller::runtime::ControllerHandle;
use serde_json::{Value, json};

const GRACE: Duration = Duration::from_secs(300);
const AFTER: Duration = Duration::from_secs(10);

/// The upstream suite's `hello` Service: ports `tcp` 42/TCP and `udp` 42/UDP, `ClientIP`
/// session affinity with a 10 s timeout.
fn hello(ns: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "hello", "namespace": ns},
        "spec": {
            "type": "ClusterIP",
            "ports": [
                {"name": "tcp", "port": 42, "protocol": "TCP"},
                {"name": "udp", "port": 42, "protocol": "UDP"}
            ],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10}}
        }
    })
}

/// `hello` with `spec` fields replaced (a `null` value removes the field).
fn hello_with(ns: &str, spec: Value) -> Value {
    let mut svc = hello(ns);
    for (k, v) in spec.as_object().unwrap() {
        if v.is_null() {
            svc["spec"].as_object_mut().unwrap().remove(k);
        } else {
            svc["spec"][k] = v.clone();
        }
    }
    svc
}

/// `hello` without session affinity, which conflicts with `hello`.
fn hello_without_affinity(ns: &str) -> Value {
    hello_with(
        ns,
        json!({"sessionAffinity": "None", "sessionAffinityConfig": null}),
    )
}

/// One ready endpoint of `hello` in cluster `i` (what the built-in controller would write).
fn hello_slice(ns: &str, i: usize, ports: &Value) -> Value {
    let slice_ports: Vec<Value> = ports
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| json!({"name": p["name"], "port": p["port"], "protocol": p["protocol"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("hello-c{i}"), "namespace": ns,
            "labels": {"kubernetes.io/service-name": "hello",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [format!("10.{}.1.7", i + 1)], "hostname": "hello-0",
            "nodeName": format!("node-{i}"), "zone": "zone-a", "conditions": {"ready": true}}],
        "ports": slice_ports
    })
}

/// A port as sorted by [`ports_of`]: (name, number, protocol).
type Port = (String, i64, String);

fn port(name: &str, port: i64, protocol: &str) -> Port {
    (name.to_owned(), port, protocol.to_owned())
}

/// Ports as sorted `(name, port, protocol)`.
fn ports_of(v: &Value) -> Vec<Port> {
    let mut out: Vec<Port> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("").to_owned(),
                        p["port"].as_i64().unwrap_or(0),
                        p["protocol"].as_str().unwrap_or("TCP").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Import checks: any import.
fn any(_: &Value) -> Result<(), String> {
    Ok(())
}

/// Import checks: at least one clusterset IP.
fn has_ips(imp: &Value) -> Result<(), String> {
    if ips(imp).is_empty() {
        Err("no clusterset IP".to_owned())
    } else {
        Ok(())
    }
}

/// Import checks: exactly these ports.
fn ports_are(want: Vec<Port>) -> impl Fn(&Value) -> Result<(), String> {
    move |imp| {
        let got = ports_of(&imp["spec"]["ports"]);
        if got == want {
            Ok(())
        } else {
            Err(format!("ports {got:?}"))
        }
    }
}

/// Import checks: `spec.<field>` is `want`.
fn spec_field(field: &'static str, want: Value) -> impl Fn(&Value) -> Result<(), String> {
    move |imp| {
        if imp["spec"][field] == want {
            Ok(())
        } else {
            Err(format!("{field} {}", imp["spec"][field]))
        }
    }
}

/// The clusters of one scenario, the test namespace in each, and the controller running on
/// them. Dereferences to the [`Env`], so the `isthmus_testing::mcs` helpers take it.
struct Scenario {
    env: Env,
    ctl: ControllerHandle,
}

impl Deref for Scenario {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Scenario {
    async fn start(n: usize) -> Scenario {
        let env = Env::new(n).await;
        env.namespace_everywhere().await;
        let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
        Scenario { env, ctl }
    }

    async fn finish(self) {
        self.ctl.shutdown().await;
    }

    fn hello(&self) -> Value {
        hello(&self.ns)
    }

    /// Cluster `i` runs `svc` with one ready endpoint (its built-in controllers' slice), not
    /// exported.
    async fn deploy(&self, i: usize, svc: Value) {
        let c = &self.clients[i];
        let name = svc["metadata"]["name"].as_str().unwrap().to_owned();
        let ports = svc["spec"]["ports"].clone();
        apply(c, svc).await;
        let mut s = hello_slice(&self.ns, i, &ports);
        s["metadata"]["name"] = json!(format!("{name}-c{i}"));
        s["metadata"]["labels"]["kubernetes.io/service-name"] = json!(name);
        apply(c, s).await;
    }

    /// Cluster `i` deploys `svc` and exports it with `export_spec` (`null`: none).
    async fn export(&self, i: usize, svc: Value, export_spec: Value) {
        let name = svc["metadata"]["name"].as_str().unwrap().to_owned();
        self.deploy(i, svc).await;
        let mut e = export(&self.ns, &name);
        if !export_spec.is_null() {
            e["spec"] = export_spec;
        }
        apply(&self.clients[i], e).await;
    }

    /// Cluster 0 exports `older`; once its import exists there, cluster 1 exports `newer`.
    /// Conflicts resolve to the older export.
    async fn export_older_then_newer(&self, older: Value, newer: Value) {
        let name = older["metadata"]["name"].as_str().unwrap().to_owned();
        self.export(0, older, Value::Null).await;
        await_import(self, [0], &name, "first import", any).await;
        self.export(1, newer, Value::Null).await;
    }

    async fn unexport(&self, i: usize, name: &str) {
        delete(&self.clients[i], MCS, "ServiceExport", &self.ns, name).await;
    }

    async fn import(&self, i: usize, name: &str) -> Result<Value, String> {
        isthmus_testing::mcs::import(self, i, name).await
    }

    /// A barrier: exports a marker Service from a fresh namespace of the first cluster and
    /// waits until its import was written into every cluster, so the controller has run and
    /// written at least one full pass over every change the test made before.
    async fn settle(&self) {
        let tick = format!("{}-tick-{}", self.ns, self.ctl.summary().passes);
        for c in &self.clients {
            apply(
                c,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tick}}),
            )
            .await;
        }
        let c = &self.clients[0];
        apply(
            c,
            service(
                &tick,
                "marker",
                "ClusterIP",
                json!([{"name": "http", "port": 80, "protocol": "TCP"}]),
            ),
        )
        .await;
        apply(c, export(&tick, "marker")).await;
        for (i, c) in self.clients.iter().enumerate() {
            eventually("the marker import (a later pass)", self.limit, || async {
                get(c, MCS, "ServiceImport", &tick, "marker")
                    .await
                    .map(|_| ())
                    .ok_or_else(|| format!("{}: no marker import yet", self.names[i]))
            })
            .await;
        }
    }
}

/// Cluster 0 of two exports `hello` changed by `spec` (see [`hello_with`]); the import in
/// every member must pass `check`.
async fn hello_is_imported_as(
    spec: Value,
    what: &str,
    check: impl Fn(&Value) -> Result<(), String>,
) {
    let s = Scenario::start(2).await;
    s.export(0, hello_with(&s.ns, spec), Value::Null).await;
    await_import(&s, 0..2, "hello", what, check).await;
    s.finish().await;
}

/// Two clusters export `hello`, changed by `older` in cluster 0 and then by `newer` in
/// cluster 1; both exports must report Conflict=True with `reason`. Returns the scenario, to
/// go on, and the two conditions.
async fn conflict(older: Value, newer: Value, reason: &str) -> (Scenario, Vec<Value>) {
    let s = Scenario::start(2).await;
    s.export_older_then_newer(hello_with(&s.ns, older), hello_with(&s.ns, newer))
        .await;
    let conditions = await_condition(&s, 0..2, "hello", "Conflict", "True", reason).await;
    (s, conditions)
}

// Upstream: service_import.go "A ServiceImport should only exist as long as there's at least
// one exporting cluster" (KEP-1645 "Importing services").
#[tokio::test]
async fn service_import_exists_while_at_least_one_cluster_exports() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    await_import(&s, [0], "hello", "import after the first export", any).await;
    s.export(1, s.hello(), Value::Null).await;
    await_sources(&s, 0..2, "hello", &[0, 1], "slices from both exporters").await;
    s.unexport(0, "hello").await;
    // The import stays, now backed by the second cluster only.
    await_sources(
        &s,
        0..2,
        "hello",
        &[1],
        "only the remaining exporter's slices",
    )
    .await;
    await_import(
        &s,
        0..2,
        "hello",
        "import kept while one cluster exports",
        any,
    )
    .await;
    s.settle().await;
    for i in 0..2 {
        assert!(s.import(i, "hello").await.is_ok(), "import kept");
    }
    s.unexport(1, "hello").await;
    await_no_import(&s, 0..2, "hello", "no import once no cluster exports").await;
    s.finish().await;
}

// Upstream: service_import.go "Only labels and annotations specified as exported in the
// ServiceExport should be propagated to the ServiceImport" (KEP-1645 "Labels and annotations").
#[tokio::test]
async fn only_exported_labels_and_annotations_reach_the_service_import() {
    let s = Scenario::start(2).await;
    let mut svc = s.hello();
    svc["metadata"]["labels"] = json!({"service-label": "true"});
    svc["metadata"]["annotations"] = json!({"service-annotation": "true"});
    s.export(
        0,
        svc,
        json!({"exportedLabels": {"dummy-label": "true"},
               "exportedAnnotations": {"dummy-annotation": "true"}}),
    )
    .await;
    await_import(&s, 0..2, "hello", "exported labels on the import", |imp| {
        let labels = &imp["metadata"]["labels"];
        let annotations = &imp["metadata"]["annotations"];
        if labels["dummy-label"] != "true" || annotations["dummy-annotation"] != "true" {
            return Err("exported labels/annotations missing".to_owned());
        }
        if labels.get("service-label").is_some() || annotations.get("service-annotation").is_some()
        {
            return Err("the Service's own labels/annotations leaked".to_owned());
        }
        Ok(())
    })
    .await;
    s.finish().await;
}

// Upstream: service_import.go "A service exported on two clusters with conflicting annotations
// and labels should apply the conflict resolution policy and report a Conflict condition on
// each ServiceExport" (KEP-1645 "Labels and annotations", "Constraints and conflict resolution").
#[tokio::test]
async fn conflicting_exported_labels_use_the_oldest_export_and_flag_each_export() {
    let s = Scenario::start(2).await;
    s.export(
        0,
        s.hello(),
        json!({"exportedLabels": {"dummy-label": "true"},
               "exportedAnnotations": {"dummy-annotation": "true"}}),
    )
    .await;
    await_import(&s, [0], "hello", "import of the first export", any).await;
    s.export(
        1,
        s.hello(),
        json!({"exportedLabels": {"dummy-label2": "true"},
               "exportedAnnotations": {"dummy-annotation2": "true"}}),
    )
    .await;
    for c in await_condition(&s, 0..2, "hello", "Conflict", "True", "LabelsConflict").await {
        assert!(
            c["reason"]
                .as_str()
                .unwrap_or("")
                .contains("AnnotationsConflict"),
            "{c}"
        );
    }
    await_import(&s, 0..2, "hello", "the oldest export's labels", |imp| {
        let labels = &imp["metadata"]["labels"];
        let annotations = &imp["metadata"]["annotations"];
        if labels["dummy-label"] != "true" || annotations["dummy-annotation"] != "true" {
            return Err("oldest export's labels/annotations missing".to_owned());
        }
        if labels.get("dummy-label2").is_some() || annotations.get("dummy-annotation2").is_some() {
            return Err("the newer export's labels/annotations were used".to_owned());
        }
        Ok(())
    })
    .await;
    s.finish().await;
}

// Upstream: service_import.go "Exporting a ClusterIP service should create a ServiceImport of
// type ClusterSetIP in the service's namespace in each cluster. Unexporting should delete the
// ServiceImport" (KEP-1645 "Importing services").
#[tokio::test]
async fn clusterip_export_imports_clustersetip_in_each_cluster_and_unexport_deletes_it() {
    let s = Scenario::start(3).await;
    s.export(0, s.hello(), Value::Null).await;
    for imp in await_import(&s, 0..3, "hello", "import in each cluster", any).await {
        assert_eq!(imp["spec"]["type"], "ClusterSetIP", "{imp}");
    }
    s.unexport(0, "hello").await;
    await_no_import(&s, 0..3, "hello", "import deleted on unexport").await;
    s.finish().await;
}

// Upstream: service_import.go "The SessionAffinity for a ClusterSetIP ServiceImport should
// match the exported service's SessionAffinity" (KEP-1645 "Session affinity").
#[tokio::test]
async fn session_affinity_and_its_config_match_the_exported_service() {
    hello_is_imported_as(json!({}), "session affinity carried", |imp| {
        spec_field("sessionAffinity", json!("ClientIP"))(imp)?;
        spec_field(
            "sessionAffinityConfig",
            json!({"clientIP": {"timeoutSeconds": 10}}),
        )(imp)
    })
    .await;
}

// Upstream: service_import.go "An IP should be allocated for a ClusterSetIP ServiceImport"
// (KEP-1645 "ClusterSetIP").
#[tokio::test]
async fn clustersetip_import_gets_a_valid_ip_the_same_in_every_cluster() {
    let s = Scenario::start(3).await;
    s.export(1, s.hello(), Value::Null).await;
    let mut seen = Vec::new();
    for imp in await_import(&s, 0..3, "hello", "a clusterset IP", has_ips).await {
        let ips = ips(&imp);
        for ip in &ips {
            assert!(ip.parse::<IpAddr>().is_ok(), "{ip:?} is not a valid IP");
        }
        seen.push(ips);
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "one clusterset IP everywhere: {seen:?}");
    s.finish().await;
}

// Upstream: service_import.go "The ports for a ClusterSetIP ServiceImport should match those
// of the exported service" (KEP-1645 "Service port"): names, numbers and protocols.
#[tokio::test]
async fn import_ports_match_the_exported_service() {
    let want = vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")];
    hello_is_imported_as(json!({}), "ports of the exported service", ports_are(want)).await;
}

// Upstream: service_import.go "A ClusterIP service exported on two clusters should expose the
// union of the constituent service ports" (KEP-1645 "Service port").
#[tokio::test]
async fn two_exports_expose_the_union_of_their_ports() {
    let s = Scenario::start(2).await;
    let second = hello_with(
        &s.ns,
        json!({"ports": [
            {"name": "tcp", "port": 42, "protocol": "TCP"},
            {"name": "stcp", "port": 142, "protocol": "SCTP"}
        ]}),
    );
    s.export_older_then_newer(s.hello(), second).await;
    let want = vec![
        port("stcp", 142, "SCTP"),
        port("tcp", 42, "TCP"),
        port("udp", 42, "UDP"),
    ];
    await_import(&s, 0..2, "hello", "union of the ports", ports_are(want)).await;
    // A union without clashes is no conflict.
    await_condition(&s, 0..2, "hello", "Conflict", "False", "NoConflicts").await;
    s.finish().await;
}

// Upstream: service_import.go "A ClusterIP service exported on two clusters with conflicting
// ports should apply the conflict resolution policy and report a Conflict condition on each
// ServiceExport" (KEP-1645 "Service port", "Constraints and conflict resolution").
#[tokio::test]
async fn conflicting_ports_resolve_to_the_oldest_export_and_flag_each_export() {
    let newer = json!({"ports": [{"name": "tcp", "port": 43, "protocol": "TCP"}]});
    let (s, conditions) = conflict(json!({}), newer, "PortConflict").await;
    for c in conditions {
        let msg = c["message"].as_str().unwrap_or("");
        assert!(msg.contains(&s.names[0]), "message names the winner: {c}");
    }
    let want = vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")];
    await_import(
        &s,
        0..2,
        "hello",
        "the oldest export's ports",
        ports_are(want),
    )
    .await;
    // Valid and Ready stay True: a conflict does not invalidate an export.
    await_condition(&s, 0..2, "hello", "Valid", "True", "Valid").await;
    await_condition(&s, 0..2, "hello", "Ready", "True", "Ready").await;
    s.finish().await;
}

// Upstream: service_import.go "Exporting a headless service should create a ServiceImport of
// type Headless in the service's namespace in each cluster. Unexporting should delete the
// ServiceImport" and "No clusterset IP should be allocated for a Headless ServiceImport"
// (checked again after further passes, as upstream checks it consistently) (KEP-1645
// "Service types", "ClusterSetIP").
#[tokio::test]
async fn headless_export_imports_headless_without_ip_and_unexport_deletes_it() {
    let s = Scenario::start(3).await;
    s.export(
        0,
        hello_with(&s.ns, json!({"clusterIP": "None"})),
        Value::Null,
    )
    .await;
    for imp in await_import(&s, 0..3, "hello", "headless import", any).await {
        assert_eq!(imp["spec"]["type"], "Headless", "{imp}");
    }
    s.settle().await;
    for i in 0..3 {
        let imp = s.import(i, "hello").await.unwrap();
        assert!(ips(&imp).is_empty(), "no IP for a headless import: {imp}");
    }
    s.unexport(0, "hello").await;
    await_no_import(&s, 0..3, "hello", "import deleted on unexport").await;
    s.finish().await;
}

// Upstream: service_import.go "A service exported on two clusters with conflicting headlessness
// should apply the conflict resolution policy and report a Conflict condition on the
// ServiceExport" (KEP-1645 "Headlessness").
#[tokio::test]
async fn conflicting_headlessness_uses_the_oldest_type_and_flags_each_export() {
    let (s, _) = conflict(json!({}), json!({"clusterIP": "None"}), "TypeConflict").await;
    for imp in await_import(&s, 0..2, "hello", "ClusterSetIP import", any).await {
        assert_eq!(imp["spec"]["type"], "ClusterSetIP", "{imp}");
        assert!(!ips(&imp).is_empty(), "the winner's type keeps its IP");
    }
    s.finish().await;
}

// Upstream: connectivity.go "Connectivity to remote services with no exported service should
// be inaccessible" (KEP-1645 "Exporting services": only exported services are imported).
#[tokio::test]
async fn service_that_is_not_exported_is_not_imported() {
    let s = Scenario::start(2).await;
    s.deploy(0, s.hello()).await;
    // Another service that is exported, to know the controller has seen the namespace.
    export_service(&s, 0, "marker", "ClusterIP", 80).await;
    await_import(&s, 0..2, "marker", "the exported marker", any).await;
    s.settle().await;
    for i in 0..2 {
        assert!(s.import(i, "hello").await.is_err(), "no import");
        assert!(
            imported_sources(&s, i, "hello").await.is_empty(),
            "no MCS slices"
        );
    }
    s.finish().await;
}

// Upstream: connectivity.go "with an exported ClusterIP service should be accessible" and
// endpoint_slice.go (KEP-1645 "Using EndpointSlice objects to track endpoints"): every cluster
// gets the exporting cluster's endpoints with addresses, hostname, zone, conditions and ports;
// the source cluster's nodeName is dropped.
#[tokio::test]
async fn imported_slices_carry_the_exported_endpoints() {
    let s = Scenario::start(3).await;
    s.export(0, s.hello(), Value::Null).await;
    for i in 0..3 {
        let slices = eventually("an imported slice", s.limit, || async {
            let slices = imported_slices(&s, i, "hello").await;
            if slices.is_empty() {
                Err(format!("{}: no slice", s.names[i]))
            } else {
                Ok(slices)
            }
        })
        .await;
        assert_eq!(slices.len(), 1, "one slice per source slice");
        let sl = &slices[0];
        assert_eq!(
            sl["metadata"]["labels"]["multicluster.kubernetes.io/source-cluster"],
            s.names[0]
        );
        assert_ne!(
            sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        assert!(
            sl["metadata"]["labels"]
                .get("kubernetes.io/service-name")
                .is_none(),
            "not claimed for kube-proxy: {sl}"
        );
        assert_eq!(sl["addressType"], "IPv4");
        let ep = &sl["endpoints"][0];
        assert_eq!(ep["addresses"], json!(["10.1.1.7"]));
        assert_eq!(ep["hostname"], "hello-0");
        assert_eq!(ep["zone"], "zone-a");
        assert_eq!(ep["conditions"]["ready"], true);
        assert!(ep.get("nodeName").is_none(), "nodeName dropped: {sl}");
        assert_eq!(
            ports_of(&sl["ports"]),
            vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")]
        );
    }
    s.finish().await;
}

// KEP-1645 "Using EndpointSlice objects to track endpoints": endpoint changes in the exporting
// cluster reach every importing cluster.
#[tokio::test]
async fn endpoint_changes_reach_every_cluster() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    let await_addresses = |want: Vec<&'static str>| {
        let s = &s;
        async move {
            for i in 0..2 {
                eventually("imported endpoints", s.limit, || async {
                    let mut got: Vec<String> = imported_slices(s, i, "hello")
                        .await
                        .iter()
                        .flat_map(|sl| sl["endpoints"].as_array().cloned().unwrap_or_default())
                        .filter_map(|e| e["addresses"][0].as_str().map(str::to_owned))
                        .collect();
                    got.sort();
                    if got == want {
                        Ok(())
                    } else {
                        Err(format!("{}: {got:?}", s.names[i]))
                    }
                })
                .await;
            }
        }
    };
    await_addresses(vec!["10.1.1.7"]).await;
    let ports = s.hello()["spec"]["ports"].clone();
    let mut sl = hello_slice(&s.ns, 0, &ports);
    sl["endpoints"] = json!([
        {"addresses": ["10.1.1.7"], "conditions": {"ready": true}},
        {"addresses": ["10.1.1.8"], "conditions": {"ready": true}}
    ]);
    apply(&s.clients[0], sl).await;
    await_addresses(vec!["10.1.1.7", "10.1.1.8"]).await;
    s.finish().await;
}

// KEP-1645 "Exporting services" and mcs-api ServiceExport conditions: a valid export reports
// Valid=True, Ready=True and Conflict=False, each with the export's generation.
#[tokio::test]
async fn valid_export_reports_valid_ready_and_no_conflict() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    let generation = get(&s.clients[0], MCS, "ServiceExport", &s.ns, "hello")
        .await
        .unwrap()["metadata"]["generation"]
        .as_i64();
    for (t, status, r) in [
        ("Valid", "True", "Valid"),
        ("Ready", "True", "Ready"),
        ("Conflict", "False", "NoConflicts"),
    ] {
        for c in await_condition(&s, [0], "hello", t, status, r).await {
            assert!(
                c["lastTransitionTime"].as_str().is_some(),
                "lastTransitionTime set: {c}"
            );
            if let Some(g) = generation {
                assert_eq!(c["observedGeneration"].as_i64(), Some(g), "{c}");
            }
        }
    }
    s.finish().await;
}

// KEP-1645 "Exporting services": an export whose Service does not exist is invalid
// (Valid=False, reason NoService) and imports nothing; creating the Service makes it valid.
#[tokio::test]
async fn export_without_service_is_invalid_until_the_service_exists() {
    let s = Scenario::start(2).await;
    apply(&s.clients[0], export(&s.ns, "hello")).await;
    await_condition(&s, [0], "hello", "Valid", "False", "NoService").await;
    await_condition(&s, [0], "hello", "Ready", "False", "").await;
    s.settle().await;
    for i in 0..2 {
        assert!(s.import(i, "hello").await.is_err(), "no import");
    }
    s.deploy(0, s.hello()).await;
    await_condition(&s, [0], "hello", "Valid", "True", "Valid").await;
    await_import(&s, 0..2, "hello", "import once the Service exists", any).await;
    s.finish().await;
}

// KEP-1645 "Exporting services": deleting the exported Service invalidates the export and
// withdraws the import and its slices.
#[tokio::test]
async fn deleting_the_exported_service_withdraws_the_import() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    await_import(&s, 0..2, "hello", "import", any).await;
    delete(&s.clients[0], "v1", "Service", &s.ns, "hello").await;
    await_condition(&s, [0], "hello", "Valid", "False", "NoService").await;
    await_no_import(&s, 0..2, "hello", "import withdrawn with the Service").await;
    await_sources(&s, 0..2, "hello", &[], "slices withdrawn").await;
    s.finish().await;
}

// KEP-1645 "Constraints and conflict resolution": once the conflicting export goes, the
// remaining export reports Conflict=False again, and a Normal event records the resolution.
#[tokio::test]
async fn conflict_clears_when_the_conflicting_export_goes() {
    let newer = json!({"sessionAffinity": "None", "sessionAffinityConfig": null});
    let (s, _) = conflict(json!({}), newer, "SessionAffinityConflict").await;
    // The oldest export's affinity stays.
    await_import(
        &s,
        [1],
        "hello",
        "winner's affinity",
        spec_field("sessionAffinity", json!("ClientIP")),
    )
    .await;
    s.unexport(1, "hello").await;
    await_condition(&s, [0], "hello", "Conflict", "False", "NoConflicts").await;
    eventually("ConflictResolved event", s.limit, || async {
        let evs = list(&s.clients[0], "v1", "Event", &s.ns, "").await;
        evs.iter()
            .find(|e| e["reason"] == "ConflictResolved" && e["type"] == "Normal")
            .map(|_| ())
            .ok_or_else(|| format!("{} events, none ConflictResolved", evs.len()))
    })
    .await;
    s.finish().await;
}

// KEP-1645 "ServiceImport" (v1beta1 spec fields): ipFamilies, internalTrafficPolicy and
// trafficDistribution of the exported Service are carried to the import.
#[tokio::test]
async fn ip_families_and_traffic_fields_follow_the_exported_service() {
    let spec = json!({"ipFamilies": ["IPv4"], "internalTrafficPolicy": "Local",
                      "trafficDistribution": "PreferClose"});
    hello_is_imported_as(spec, "traffic fields carried", |imp| {
        spec_field("ipFamilies", json!(["IPv4"]))(imp)?;
        spec_field("internalTrafficPolicy", json!("Local"))(imp)?;
        spec_field("trafficDistribution", json!("PreferClose"))(imp)?;
        let ips = ips(imp);
        if ips.len() != 1 || !ips[0].parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()) {
            return Err(format!("one IPv4 clusterset IP expected, got {ips:?}"));
        }
        Ok(())
    })
    .await;
}

// KEP-1645 "Constraints and conflict resolution": a conflicting internalTrafficPolicy uses the
// oldest export's value and flags each export.
#[tokio::test]
async fn conflicting_internal_traffic_policy_uses_the_oldest_and_flags_each_export() {
    let (s, _) = conflict(
        json!({"internalTrafficPolicy": "Local"}),
        json!({"internalTrafficPolicy": "Cluster"}),
        "InternalTrafficPolicyConflict",
    )
    .await;
    await_import(
        &s,
        0..2,
        "hello",
        "the oldest export's policy",
        spec_field("internalTrafficPolicy", json!("Local")),
    )
    .await;
    s.finish().await;
}

// KEP-1645 "Constraints and conflict resolution": conflicts are resolved per property; the
// endpoints of a conflicting cluster are still imported.
#[tokio::test]
async fn conflicting_cluster_endpoints_are_still_imported() {
    let s = Scenario::start(2).await;
    let second = hello_with(
        &s.ns,
        json!({"ports": [{"name": "tcp", "port": 43, "protocol": "TCP"}]}),
    );
    s.export_older_then_newer(s.hello(), second).await;
    await_condition(&s, [1], "hello", "Conflict", "True", "PortConflict").await;
    await_sources(&s, 0..2, "hello", &[0, 1], "slices from both exporters").await;
    s.finish().await;
}

// KEP-1645 "Constraints and conflict resolution": a conflict is a property of the current
// state; when the newer cluster's Service is changed to agree, every export returns to
// Conflict=False.
#[tokio::test]
async fn conflict_clears_when_the_service_changes_to_agree() {
    // A Service's headlessness cannot change in place: the newer cluster recreates it.
    let (s, _) = conflict(json!({}), json!({"clusterIP": "None"}), "TypeConflict").await;
    delete(&s.clients[1], "v1", "Service", &s.ns, "hello").await;
    await_condition(&s, [1], "hello", "Valid", "False", "NoService").await;
    apply(&s.clients[1], s.hello()).await;
    await_condition(&s, 0..2, "hello", "Conflict", "False", "NoConflicts").await;
    await_sources(&s, 0..2, "hello", &[0, 1], "slices from both exporters").await;
    s.finish().await;
}

// KEP-1645 "Exporting services": a Service without a ServiceExport in its own cluster is not
// exported, even while other clusters export a Service of the same namespaced name.
#[tokio::test]
async fn same_name_service_without_export_is_not_part_of_the_import() {
    let s = Scenario::start(2).await;
    // Cluster 2 runs the same Service, with endpoints, but does not export it.
    s.deploy(1, s.hello()).await;
    s.export(0, s.hello(), Value::Null).await;
    await_import(&s, 0..2, "hello", "import of the exporting cluster", any).await;
    s.settle().await;
    for i in 0..2 {
        assert_eq!(
            imported_sources(&s, i, "hello").await,
            vec![s.names[0].clone()],
            "{}: only the exporting cluster's endpoints",
            s.names[i]
        );
        let imp = s.import(i, "hello").await.unwrap();
        let clusters: Vec<&str> = imp
            .pointer("/status/clusters")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c["cluster"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(clusters, vec![s.names[0].as_str()], "{imp}");
    }
    // No export, so no status either.
    assert!(
        get(&s.clients[1], MCS, "ServiceExport", &s.ns, "hello")
            .await
            .is_none()
    );
    s.finish().await;
}

// KEP-1645 "Service types": exported NodePort and LoadBalancer Services are imported as
// ClusterSetIP services; node ports are not part of the import.
#[tokio::test]
async fn nodeport_and_loadbalancer_services_import_as_clustersetip() {
    let s = Scenario::start(2).await;
    for (name, type_) in [("np", "NodePort"), ("lb", "LoadBalancer")] {
        let mut svc = hello_with(
            &s.ns,
            json!({"type": type_,
                   "ports": [{"name": "tcp", "port": 42, "protocol": "TCP", "nodePort": 30042}]}),
        );
        svc["metadata"]["name"] = json!(name);
        s.export(0, svc, Value::Null).await;
    }
    for name in ["np", "lb"] {
        for imp in await_import(&s, 0..2, name, "a ClusterSetIP import", has_ips).await {
            assert_eq!(imp["spec"]["type"], "ClusterSetIP", "{imp}");
            assert_eq!(
                ports_of(&imp["spec"]["ports"]),
                vec![port("tcp", 42, "TCP")]
            );
            assert!(
                imp["spec"]["ports"][0].get("nodePort").is_none(),
                "no node port in the import: {imp}"
            );
        }
        await_condition(&s, [0], name, "Valid", "True", "Valid").await;
    }
    s.finish().await;
}

// KEP-1645 "Test plan": a cluster's local Service is not affected by the same-name imported
// service; the local Service and its EndpointSlices are left as they were.
#[tokio::test]
async fn local_service_is_not_affected_by_the_import() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    s.export(1, s.hello(), Value::Null).await;
    await_import(&s, 0..2, "hello", "import", any).await;
    s.settle().await;
    for i in 0..2 {
        let c = &s.clients[i];
        let svc = get(c, "v1", "Service", &s.ns, "hello").await.unwrap();
        let local = get(
            c,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            &s.ns,
            &format!("hello-c{i}"),
        )
        .await
        .unwrap();
        for o in [&svc, &local] {
            let managers: Vec<&str> = o["metadata"]["managedFields"]
                .as_array()
                .map(|m| m.iter().filter_map(|f| f["manager"].as_str()).collect())
                .unwrap_or_default();
            assert!(
                !managers.contains(&"isthmus-mesh-controller"),
                "{}: the controller wrote to a local object: {o}",
                s.names[i]
            );
            assert!(
                o["metadata"]["labels"]
                    .get("app.kubernetes.io/managed-by")
                    .is_none(),
                "{o}"
            );
        }
        assert_eq!(svc["spec"]["ports"], s.hello()["spec"]["ports"]);
        assert_eq!(
            local["metadata"]["labels"]["kubernetes.io/service-name"],
            "hello"
        );
        assert_eq!(
            local["endpoints"][0]["addresses"][0],
            format!("10.{}.1.7", i + 1)
        );
    }
    s.finish().await;
}

// Upstream: the conformance suite drives the API through the `v1alpha1` client
// (service_import.go, endpoint_slice.go). In a member serving both versions, an export
// written as v1alpha1 is exported, and the import and the export status read back as v1alpha1.
#[tokio::test]
async fn v1alpha1_clients_see_the_same_exports_and_imports() {
    let s = Scenario::start(2).await;
    let c = &s.clients[0];
    s.deploy(0, s.hello()).await;
    apply(
        c,
        json!({"apiVersion": MCS_V1ALPHA1, "kind": "ServiceExport",
               "metadata": {"name": "hello", "namespace": s.ns}}),
    )
    .await;
    for i in 0..2 {
        eventually("the import read as v1alpha1", s.limit, || async {
            let imp = get(&s.clients[i], MCS_V1ALPHA1, "ServiceImport", &s.ns, "hello")
                .await
                .ok_or_else(|| format!("{}: no v1alpha1 import", s.names[i]))?;
            if imp["spec"]["type"] == "ClusterSetIP"
                && !ips(&imp).is_empty()
                && ports_of(&imp["spec"]["ports"])
                    == vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")]
            {
                Ok(())
            } else {
                Err(format!("{}: {imp}", s.names[i]))
            }
        })
        .await;
    }
    eventually("Valid=True read as v1alpha1", s.limit, || async {
        let e = get(c, MCS_V1ALPHA1, "ServiceExport", &s.ns, "hello")
            .await
            .ok_or("no export")?;
        match condition(&e, "Valid") {
            Some((st, _)) if st == "True" => Ok(()),
            other => Err(format!("Valid condition {other:?}: {e}")),
        }
    })
    .await;
    s.finish().await;
}

// KEP-1645 "Service port": merged ports must have no duplicated names, the empty name
// included; two exports with one unnamed port each, on different numbers, clash on the empty
// name and the oldest export's port is used.
#[tokio::test]
async fn unnamed_ports_clash_on_the_empty_name() {
    let (s, _) = conflict(
        json!({"ports": [{"port": 42, "protocol": "TCP"}]}),
        json!({"ports": [{"port": 43, "protocol": "TCP"}]}),
        "PortConflict",
    )
    .await;
    await_import(
        &s,
        0..2,
        "hello",
        "the oldest export's unnamed port",
        ports_are(vec![port("", 42, "TCP")]),
    )
    .await;
    s.finish().await;
}

// KEP-1645 "ServiceImport" (`ServicePort.appProtocol`): the application protocol of a port is
// carried to the import.
#[tokio::test]
async fn app_protocol_of_a_port_is_carried() {
    let spec =
        json!({"ports": [{"name": "web", "port": 80, "protocol": "TCP", "appProtocol": "http"}]});
    hello_is_imported_as(spec, "appProtocol carried", |imp| {
        let p = &imp["spec"]["ports"][0];
        if p["name"] == "web" && p["port"] == 80 && p["appProtocol"] == "http" {
            Ok(())
        } else {
            Err(format!("port {p}"))
        }
    })
    .await;
}

// KEP-1645 "ClusterSetIP" with the v1beta1 `ipFamilies` / `ips` (up to two): a dual-stack
// Service gets one clusterset IP per family, in the Service's family order; an IPv6-only one
// gets an IPv6 address.
#[tokio::test]
async fn clusterset_ips_follow_the_ip_families() {
    let s = Scenario::start(2).await;
    for (name, spec) in [
        (
            "dual",
            json!({"ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "RequireDualStack"}),
        ),
        ("v6", json!({"ipFamilies": ["IPv6"]})),
    ] {
        let mut svc = hello_with(&s.ns, spec);
        svc["metadata"]["name"] = json!(name);
        s.export(0, svc, Value::Null).await;
    }
    let parsed =
        |imp: &Value| -> Vec<IpAddr> { ips(imp).iter().filter_map(|ip| ip.parse().ok()).collect() };
    await_import(&s, 0..2, "dual", "two clusterset IPs", |imp| {
        let ips = parsed(imp);
        if ips.len() == 2 && ips[0].is_ipv4() && ips[1].is_ipv6() {
            Ok(())
        } else {
            Err(format!("ips {ips:?}"))
        }
    })
    .await;
    await_import(&s, 0..2, "v6", "one IPv6 clusterset IP", |imp| {
        let ips = parsed(imp);
        if ips.len() == 1 && ips[0].is_ipv6() && imp["spec"]["ipFamilies"] == json!(["IPv6"]) {
            Ok(())
        } else {
            Err(format!("ips {ips:?}"))
        }
    })
    .await;
    s.finish().await;
}

// KEP-1645 "ClusterSetIP": the clusterset IP is consistent for the life of the ServiceImport,
// while exporters come and go.
#[tokio::test]
async fn clusterset_ip_is_stable_while_exporters_change() {
    let s = Scenario::start(3).await;
    s.export(0, s.hello(), Value::Null).await;
    let first = await_import(&s, [2], "hello", "a clusterset IP", has_ips).await;
    let vip = ips(&first[0]);
    s.export(1, s.hello(), Value::Null).await;
    await_sources(&s, [2], "hello", &[0, 1], "both exporters").await;
    s.unexport(0, "hello").await;
    await_sources(&s, [2], "hello", &[1], "only the second exporter").await;
    for i in 0..3 {
        let imp = s.import(i, "hello").await.unwrap();
        assert_eq!(ips(&imp), vip, "{}: the clusterset IP moved", s.names[i]);
    }
    s.finish().await;
}

// KEP-1645 "Service types" (headless): headlessness follows the conflict resolution policy, so
// when the oldest (headless) export goes, the import takes the remaining export's type, gets a
// clusterset IP, and the conflict clears.
#[tokio::test]
async fn removing_the_oldest_export_changes_the_type_to_the_next_oldest() {
    let s = Scenario::start(2).await;
    s.export(
        0,
        hello_with(&s.ns, json!({"clusterIP": "None"})),
        Value::Null,
    )
    .await;
    await_import(
        &s,
        [0],
        "hello",
        "headless import",
        spec_field("type", json!("Headless")),
    )
    .await;
    s.export(1, s.hello(), Value::Null).await;
    await_condition(&s, 0..2, "hello", "Conflict", "True", "TypeConflict").await;
    for i in 0..2 {
        let imp = s.import(i, "hello").await.unwrap();
        assert_eq!(imp["spec"]["type"], "Headless", "the oldest wins: {imp}");
    }
    s.unexport(0, "hello").await;
    await_import(&s, 0..2, "hello", "ClusterSetIP with an IP", |imp| {
        spec_field("type", json!("ClusterSetIP"))(imp)?;
        has_ips(imp)
    })
    .await;
    await_condition(&s, [1], "hello", "Conflict", "False", "NoConflicts").await;
    s.finish().await;
}

// KEP-1645 "Labels and annotations": the import follows later changes of `exportedLabels` /
// `exportedAnnotations`; a label no longer exported leaves the import.
#[tokio::test]
async fn exported_label_changes_reach_the_import() {
    let s = Scenario::start(2).await;
    s.export(
        0,
        s.hello(),
        json!({"exportedLabels": {"tier": "web"}, "exportedAnnotations": {"owner": "a"}}),
    )
    .await;
    await_import(&s, [1], "hello", "first labels", |imp| {
        if imp["metadata"]["labels"]["tier"] == "web" {
            Ok(())
        } else {
            Err("label".to_owned())
        }
    })
    .await;
    let mut e = export(&s.ns, "hello");
    e["spec"] = json!({"exportedLabels": {"team": "shop"}, "exportedAnnotations": {"owner": "b"}});
    apply(&s.clients[0], e).await;
    await_import(&s, 0..2, "hello", "changed labels", |imp| {
        let l = &imp["metadata"]["labels"];
        let a = &imp["metadata"]["annotations"];
        if l["team"] == "shop"
            && l.get("tier").is_none()
            && a["owner"] == "b"
            && l["app.kubernetes.io/managed-by"] == "isthmus"
        {
            Ok(())
        } else {
            Err("labels not updated".to_owned())
        }
    })
    .await;
    s.finish().await;
}

// KEP-1645 "Importing services": the import lives "so long as the service's namespace
// exists"; deleting the namespace in an importing cluster removes the import there only, and
// re-creating it brings the import back.
#[tokio::test]
async fn import_follows_the_namespace_in_an_importing_cluster() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    await_import(&s, 0..2, "hello", "import", any).await;
    delete(&s.clients[1], "v1", "Namespace", "", &s.ns).await;
    eventually(
        "namespace gone in the importing cluster",
        s.limit,
        || async {
            match get(&s.clients[1], "v1", "Namespace", "", &s.ns).await {
                None => Ok(()),
                Some(n) => Err(format!("{n}")),
            }
        },
    )
    .await;
    await_no_import(&s, [1], "hello", "no import without the namespace").await;
    s.settle().await;
    assert!(
        s.import(0, "hello").await.is_ok(),
        "kept where the namespace exists"
    );
    assert!(s.import(1, "hello").await.is_err(), "not re-created");
    s.namespace_in(&[1]).await;
    await_import(&s, [1], "hello", "import once the namespace is back", any).await;
    s.finish().await;
}

// Upstream: service_import.go "The InternalTrafficPolicy for a ClusterSetIP ServiceImport
// should match the exported service's InternalTrafficPolicy" (set to `Cluster`, the default,
// which must still be written) and "The TrafficDistribution for a ClusterSetIP ServiceImport
// should match the exported service's TrafficDistribution" (KEP-1645 "Internal traffic
// policy", "Traffic distribution").
#[tokio::test]
async fn explicit_default_internal_traffic_policy_is_written_to_the_import() {
    let spec = json!({"internalTrafficPolicy": "Cluster", "trafficDistribution": "PreferClose"});
    hello_is_imported_as(spec, "internalTrafficPolicy Cluster", |imp| {
        spec_field("internalTrafficPolicy", json!("Cluster"))(imp)?;
        spec_field("trafficDistribution", json!("PreferClose"))(imp)
    })
    .await;
}

/// Adds a simulated member whose MCS CRDs serve only `v1alpha1` (older installations) to a
/// simulated `env`, before the controller starts.
async fn add_v1alpha1_only_member(env: &mut Env, dir: &std::path::Path) {
    let crds: Vec<Value> = kube_sim::mcs_crds()
        .into_iter()
        .map(|mut crd| {
            let mcs = crd.pointer("/spec/group") == Some(&json!("multicluster.x-k8s.io"));
            if mcs
                && let Some(vs) = crd
                    .pointer_mut("/spec/versions")
                    .and_then(Value::as_array_mut)
            {
                vs.retain(|v| v["name"] == "v1alpha1");
                for v in vs.iter_mut() {
                    v["served"] = json!(true);
                    v["storage"] = json!(true);
                }
            }
            crd
        })
        .collect();
    let name = format!("cluster-{}", env.names.len() + 1);
    let sim = kube_sim::SimCluster::start(kube_sim::SimOptions {
        name: name.clone(),
        crds,
        ..kube_sim::SimOptions::default()
    })
    .await
    .unwrap();
    let kubeconfig = dir.join(format!("{name}.yaml"));
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let client = isthmus_testing::k8s::client(&kubeconfig).await;
    env.clusters.clusters.push(kube_sim::TestCluster {
        name: name.clone(),
        kubeconfig,
        sim: Some(sim),
    });
    env.clients.push(client);
    env.names.push(name);
}

// KEP-1645 / mcs-api v1alpha1 and v1beta1 share one schema: a member whose CRDs serve only
// `v1alpha1` takes part in the clusterset. It gets the import written as v1alpha1, and its
// v1alpha1 export is exported to the v1beta1 members, with its status written back.
#[tokio::test]
async fn v1alpha1_only_member_imports_and_exports() {
    // The old member is simulated: so are the others.
    let mut env = Env::simulated(2).await;
    let dir = tempfile::tempdir().unwrap();
    add_v1alpha1_only_member(&mut env, dir.path()).await;
    env.namespace_everywhere().await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    let s = Scenario { env, ctl };
    s.export(0, s.hello(), Value::Null).await;
    eventually("a v1alpha1 import in the old member", s.limit, || async {
        let imp = get(&s.clients[2], MCS_V1ALPHA1, "ServiceImport", &s.ns, "hello")
            .await
            .ok_or("no import")?;
        if imp["spec"]["type"] == "ClusterSetIP" && !ips(&imp).is_empty() {
            Ok(())
        } else {
            Err(format!("{imp}"))
        }
    })
    .await;
    assert!(
        get(&s.clients[2], MCS, "ServiceImport", &s.ns, "hello")
            .await
            .is_none(),
        "the old member does not serve v1beta1"
    );
    // The old member exports too.
    let c = &s.clients[2];
    s.deploy(2, s.hello()).await;
    apply(
        c,
        json!({"apiVersion": MCS_V1ALPHA1, "kind": "ServiceExport",
               "metadata": {"name": "hello", "namespace": s.ns}}),
    )
    .await;
    await_sources(&s, 0..3, "hello", &[0, 2], "slices from both exporters").await;
    eventually("Valid=True on the v1alpha1 export", s.limit, || async {
        let e = get(c, MCS_V1ALPHA1, "ServiceExport", &s.ns, "hello")
            .await
            .ok_or("no export")?;
        match (condition(&e, "Valid"), condition(&e, "Conflict")) {
            (Some((v, _)), Some((k, _))) if v == "True" && k == "False" => Ok(()),
            other => Err(format!("conditions {other:?}: {e}")),
        }
    })
    .await;
    s.finish().await;
}

// KEP-1645 "Global properties": the conflict condition is set on all ServiceExports of the
// conflicted service, those that agree with the winner included; the message says how many
// clusters disagree and whose value is used.
#[tokio::test]
async fn conflict_is_reported_on_every_constituent_export() {
    let s = Scenario::start(3).await;
    s.export_older_then_newer(s.hello(), s.hello()).await;
    await_condition(&s, [1], "hello", "Conflict", "False", "NoConflicts").await;
    s.export(2, hello_without_affinity(&s.ns), Value::Null)
        .await;
    let conditions = await_condition(
        &s,
        0..3,
        "hello",
        "Conflict",
        "True",
        "SessionAffinityConflict",
    )
    .await;
    for (i, c) in conditions.iter().enumerate() {
        let msg = c["message"].as_str().unwrap_or("");
        assert!(msg.contains("1/3"), "{}: {msg}", s.names[i]);
        assert!(msg.contains(&s.names[0]), "{}: {msg}", s.names[i]);
    }
    s.finish().await;
}

// KEP-1645 "Exporting services": all information about the service stays in the Service;
// changing the exported Service's ports and session affinity changes the import, a removed
// port included.
#[tokio::test]
async fn service_changes_reach_the_import() {
    let s = Scenario::start(2).await;
    s.export(0, s.hello(), Value::Null).await;
    await_import(&s, [1], "hello", "first import", any).await;
    let mut svc = hello_without_affinity(&s.ns);
    svc["spec"]["ports"] = json!([{"name": "web", "port": 8080, "protocol": "TCP"}]);
    apply(&s.clients[0], svc).await;
    await_import(&s, 0..2, "hello", "the changed Service", |imp| {
        let got = ports_of(&imp["spec"]["ports"]);
        if got != vec![port("web", 8080, "TCP")] {
            return Err(format!("ports {got:?}"));
        }
        if imp["spec"]["sessionAffinity"] != "None" {
            return Err("session affinity not updated".to_owned());
        }
        // The controller no longer applies the config (a real API server then removes
        // the field; the simulator keeps an empty `clientIP` parent), so the timeout
        // is gone and the field is not ours.
        if imp
            .pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds")
            .is_some()
        {
            return Err("sessionAffinityConfig timeout kept".to_owned());
        }
        let ours = imp["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["manager"] == "isthmus-mesh-controller")
            .any(|m| {
                m.pointer("/fieldsV1/f:spec/f:sessionAffinityConfig")
                    .is_some()
            });
        if ours {
            return Err("sessionAffinityConfig still applied".to_owned());
        }
        Ok(())
    })
    .await;
    s.finish().await;
}
