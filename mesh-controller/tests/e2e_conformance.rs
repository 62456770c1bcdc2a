//! MCS API conformance: the scenarios of the upstream conformance suite (kubernetes-sigs/mcs-api
//! `conformance/`) and the rules of KEP-1645, run against the real controller on simulated
//! clusters (or real ones named by `ISTHMUS_E2E_KUBECONFIGS`). Scenarios `e2e_mcs.rs` already
//! covers exactly are not repeated here. Each test names the upstream test or KEP section it
//! reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::net::IpAddr;
use std::time::Duration;

use e2e_support::*;
use mesh_controller::runtime::ControllerHandle;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);
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

/// Deploys `svc` with one EndpointSlice in cluster `i`, then exports it with `export_spec`.
async fn export_from(env: &Env, i: usize, svc: Value, export_spec: Value) {
    let c = &env.clients[i];
    let name = svc["metadata"]["name"].as_str().unwrap().to_owned();
    let ports = svc["spec"]["ports"].clone();
    apply(c, svc).await;
    let mut s = hello_slice(&env.ns, i, &ports);
    s["metadata"]["name"] = json!(format!("{name}-c{i}"));
    s["metadata"]["labels"]["kubernetes.io/service-name"] = json!(name);
    apply(c, s).await;
    let mut e = export(&env.ns, &name);
    if !export_spec.is_null() {
        e["spec"] = export_spec;
    }
    apply(c, e).await;
}

async fn import_of(env: &Env, i: usize, name: &str) -> Result<Value, String> {
    get(&env.clients[i], MCS, "ServiceImport", &env.ns, name)
        .await
        .ok_or_else(|| format!("{}: no ServiceImport {}/{name}", env.names[i], env.ns))
}

/// Waits until cluster `i` holds the import of `name` and `check` accepts it.
async fn await_import(
    env: &Env,
    i: usize,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> Result<(), String>,
) -> Value {
    eventually(what, LIMIT, || async {
        let imp = import_of(env, i, name).await?;
        check(&imp).map_err(|e| format!("{}: {e}: {imp}", env.names[i]))?;
        Ok(imp)
    })
    .await
}

async fn await_no_import(env: &Env, i: usize, name: &str, what: &str) {
    eventually(what, LIMIT, || async {
        match import_of(env, i, name).await {
            Ok(imp) => Err(format!("{}: still there: {imp}", env.names[i])),
            Err(_) => Ok(()),
        }
    })
    .await;
}

/// The condition `type_` of the export `name` in cluster `i`, as the whole condition object.
async fn export_condition(env: &Env, i: usize, name: &str, type_: &str) -> Result<Value, String> {
    let e = get(&env.clients[i], MCS, "ServiceExport", &env.ns, name)
        .await
        .ok_or_else(|| format!("{}: no ServiceExport", env.names[i]))?;
    e.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .ok_or_else(|| format!("{}: no {type_} condition yet: {e}", env.names[i]))
}

/// Waits until the export's condition `type_` has `status` and a reason containing `reason`.
async fn await_condition(
    env: &Env,
    i: usize,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Value {
    eventually(
        &format!(
            "{type_}={status} ({reason}) on the export in {}",
            env.names[i]
        ),
        LIMIT,
        || async {
            let c = export_condition(env, i, name, type_).await?;
            if c["status"] == status && c["reason"].as_str().unwrap_or("").contains(reason) {
                Ok(c)
            } else {
                Err(format!("{}: {c}", env.names[i]))
            }
        },
    )
    .await
}

/// A barrier: exports a marker Service from a fresh namespace of the first cluster and waits
/// until its import was written into every cluster, so the controller has run and written at
/// least one full pass over every change the test made before.
async fn settle(env: &Env, ctl: &ControllerHandle) {
    let tick = format!("{}-tick-{}", env.ns, ctl.summary().passes);
    for c in &env.clients {
        apply(
            c,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tick}}),
        )
        .await;
    }
    let c = &env.clients[0];
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
    for (i, c) in env.clients.iter().enumerate() {
        eventually("the marker import (a later pass)", LIMIT, || async {
            get(c, MCS, "ServiceImport", &tick, "marker")
                .await
                .map(|_| ())
                .ok_or_else(|| format!("{}: no marker import yet", env.names[i]))
        })
        .await;
    }
}

/// Ports as sorted `(name, port, protocol)`.
fn ports_of(v: &Value) -> Vec<(String, i64, String)> {
    let mut out: Vec<(String, i64, String)> = v
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

fn ips_of(imp: &Value) -> Vec<String> {
    imp.pointer("/spec/ips")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn port(name: &str, port: i64, protocol: &str) -> (String, i64, String) {
    (name.to_owned(), port, protocol.to_owned())
}

// Upstream: service_import.go "A ServiceImport should only exist as long as there's at least
// one exporting cluster" (KEP-1645 "Importing services").
#[tokio::test]
async fn service_import_exists_while_at_least_one_cluster_exports() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(
        &env,
        0,
        "hello",
        "import after the first export",
        |_| Ok(()),
    )
    .await;
    export_from(&env, 1, hello(&env.ns), Value::Null).await;
    let both = {
        let mut v = env.names.clone();
        v.sort();
        v
    };
    for i in 0..2 {
        eventually("slices from both exporters", LIMIT, || async {
            let s = imported_sources(&env, i, "hello").await;
            if s == both {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    }
    delete(&env.clients[0], MCS, "ServiceExport", &env.ns, "hello").await;
    for i in 0..2 {
        // The import stays, now backed by the second cluster only.
        eventually("only the remaining exporter's slices", LIMIT, || async {
            let s = imported_sources(&env, i, "hello").await;
            if s == vec![env.names[1].clone()] {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
        await_import(
            &env,
            i,
            "hello",
            "import kept while one cluster exports",
            |_| Ok(()),
        )
        .await;
    }
    settle(&env, &ctl).await;
    for i in 0..2 {
        assert!(import_of(&env, i, "hello").await.is_ok(), "import kept");
    }
    delete(&env.clients[1], MCS, "ServiceExport", &env.ns, "hello").await;
    for i in 0..2 {
        await_no_import(&env, i, "hello", "no import once no cluster exports").await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "Only labels and annotations specified as exported in the
// ServiceExport should be propagated to the ServiceImport" (KEP-1645 "Labels and annotations").
#[tokio::test]
async fn only_exported_labels_and_annotations_reach_the_service_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut svc = hello(&env.ns);
    svc["metadata"]["labels"] = json!({"service-label": "true"});
    svc["metadata"]["annotations"] = json!({"service-annotation": "true"});
    export_from(
        &env,
        0,
        svc,
        json!({"exportedLabels": {"dummy-label": "true"},
               "exportedAnnotations": {"dummy-annotation": "true"}}),
    )
    .await;
    for i in 0..2 {
        await_import(&env, i, "hello", "exported labels on the import", |imp| {
            let labels = &imp["metadata"]["labels"];
            let annotations = &imp["metadata"]["annotations"];
            if labels["dummy-label"] != "true" || annotations["dummy-annotation"] != "true" {
                return Err("exported labels/annotations missing".to_owned());
            }
            if labels.get("service-label").is_some()
                || annotations.get("service-annotation").is_some()
            {
                return Err("the Service's own labels/annotations leaked".to_owned());
            }
            Ok(())
        })
        .await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "A service exported on two clusters with conflicting annotations
// and labels should apply the conflict resolution policy and report a Conflict condition on
// each ServiceExport" (KEP-1645 "Labels and annotations", "Constraints and conflict resolution").
#[tokio::test]
async fn conflicting_exported_labels_use_the_oldest_export_and_flag_each_export() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(
        &env,
        0,
        hello(&env.ns),
        json!({"exportedLabels": {"dummy-label": "true"},
               "exportedAnnotations": {"dummy-annotation": "true"}}),
    )
    .await;
    await_import(&env, 0, "hello", "import of the first export", |_| Ok(())).await;
    export_from(
        &env,
        1,
        hello(&env.ns),
        json!({"exportedLabels": {"dummy-label2": "true"},
               "exportedAnnotations": {"dummy-annotation2": "true"}}),
    )
    .await;
    for i in 0..2 {
        let c = await_condition(&env, i, "hello", "Conflict", "True", "LabelsConflict").await;
        assert!(
            c["reason"]
                .as_str()
                .unwrap_or("")
                .contains("AnnotationsConflict"),
            "{c}"
        );
    }
    for i in 0..2 {
        await_import(&env, i, "hello", "the oldest export's labels", |imp| {
            let labels = &imp["metadata"]["labels"];
            let annotations = &imp["metadata"]["annotations"];
            if labels["dummy-label"] != "true" || annotations["dummy-annotation"] != "true" {
                return Err("oldest export's labels/annotations missing".to_owned());
            }
            if labels.get("dummy-label2").is_some()
                || annotations.get("dummy-annotation2").is_some()
            {
                return Err("the newer export's labels/annotations were used".to_owned());
            }
            Ok(())
        })
        .await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "Exporting a ClusterIP service should create a ServiceImport of
// type ClusterSetIP in the service's namespace in each cluster. Unexporting should delete the
// ServiceImport" (KEP-1645 "Importing services").
#[tokio::test]
async fn clusterip_export_imports_clustersetip_in_each_cluster_and_unexport_deletes_it() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    for i in 0..3 {
        let imp = await_import(&env, i, "hello", "import in each cluster", |_| Ok(())).await;
        assert_eq!(imp["spec"]["type"], "ClusterSetIP", "{imp}");
    }
    delete(&env.clients[0], MCS, "ServiceExport", &env.ns, "hello").await;
    for i in 0..3 {
        await_no_import(&env, i, "hello", "import deleted on unexport").await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "The SessionAffinity for a ClusterSetIP ServiceImport should
// match the exported service's SessionAffinity" (KEP-1645 "Session affinity").
#[tokio::test]
async fn session_affinity_and_its_config_match_the_exported_service() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "session affinity carried", |imp| {
            if imp["spec"]["sessionAffinity"] != "ClientIP" {
                return Err("sessionAffinity".to_owned());
            }
            if imp["spec"]["sessionAffinityConfig"] != json!({"clientIP": {"timeoutSeconds": 10}}) {
                return Err("sessionAffinityConfig".to_owned());
            }
            Ok(())
        })
        .await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "An IP should be allocated for a ClusterSetIP ServiceImport"
// (KEP-1645 "ClusterSetIP").
#[tokio::test]
async fn clustersetip_import_gets_a_valid_ip_the_same_in_every_cluster() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 1, hello(&env.ns), Value::Null).await;
    let mut seen = Vec::new();
    for i in 0..3 {
        let imp = await_import(&env, i, "hello", "a clusterset IP", |imp| {
            if ips_of(imp).is_empty() {
                Err("no ips".to_owned())
            } else {
                Ok(())
            }
        })
        .await;
        let ips = ips_of(&imp);
        for ip in &ips {
            assert!(ip.parse::<IpAddr>().is_ok(), "{ip:?} is not a valid IP");
        }
        seen.push(ips);
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "one clusterset IP everywhere: {seen:?}");
    ctl.shutdown().await;
}

// Upstream: service_import.go "The ports for a ClusterSetIP ServiceImport should match those
// of the exported service" (KEP-1645 "Service port"): names, numbers and protocols.
#[tokio::test]
async fn import_ports_match_the_exported_service() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    let want = vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")];
    for i in 0..2 {
        await_import(&env, i, "hello", "ports of the exported service", |imp| {
            let got = ports_of(&imp["spec"]["ports"]);
            if got == want {
                Ok(())
            } else {
                Err(format!("ports {got:?}"))
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "A ClusterIP service exported on two clusters should expose the
// union of the constituent service ports" (KEP-1645 "Service port").
#[tokio::test]
async fn two_exports_expose_the_union_of_their_ports() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut second = hello(&env.ns);
    second["spec"]["ports"] = json!([
        {"name": "tcp", "port": 42, "protocol": "TCP"},
        {"name": "stcp", "port": 142, "protocol": "SCTP"}
    ]);
    export_from(&env, 1, second, Value::Null).await;
    let want = vec![
        port("stcp", 142, "SCTP"),
        port("tcp", 42, "TCP"),
        port("udp", 42, "UDP"),
    ];
    for i in 0..2 {
        await_import(&env, i, "hello", "union of the ports", |imp| {
            let got = ports_of(&imp["spec"]["ports"]);
            if got == want {
                Ok(())
            } else {
                Err(format!("ports {got:?}"))
            }
        })
        .await;
    }
    // A union without clashes is no conflict.
    for i in 0..2 {
        await_condition(&env, i, "hello", "Conflict", "False", "NoConflicts").await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "A ClusterIP service exported on two clusters with conflicting
// ports should apply the conflict resolution policy and report a Conflict condition on each
// ServiceExport" (KEP-1645 "Service port", "Constraints and conflict resolution").
#[tokio::test]
async fn conflicting_ports_resolve_to_the_oldest_export_and_flag_each_export() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut second = hello(&env.ns);
    second["spec"]["ports"] = json!([{"name": "tcp", "port": 43, "protocol": "TCP"}]);
    export_from(&env, 1, second, Value::Null).await;
    for i in 0..2 {
        let c = await_condition(&env, i, "hello", "Conflict", "True", "PortConflict").await;
        let msg = c["message"].as_str().unwrap_or("");
        assert!(msg.contains(&env.names[0]), "message names the winner: {c}");
    }
    let want = vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")];
    for i in 0..2 {
        await_import(&env, i, "hello", "the oldest export's ports", |imp| {
            let got = ports_of(&imp["spec"]["ports"]);
            if got == want {
                Ok(())
            } else {
                Err(format!("ports {got:?}"))
            }
        })
        .await;
    }
    // Valid and Ready stay True: a conflict does not invalidate an export.
    for i in 0..2 {
        await_condition(&env, i, "hello", "Valid", "True", "Valid").await;
        await_condition(&env, i, "hello", "Ready", "True", "Ready").await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "Exporting a headless service should create a ServiceImport of
// type Headless in the service's namespace in each cluster. Unexporting should delete the
// ServiceImport" and "No clusterset IP should be allocated for a Headless ServiceImport"
// (checked again after further passes, as upstream checks it consistently) (KEP-1645
// "Service types", "ClusterSetIP").
#[tokio::test]
async fn headless_export_imports_headless_without_ip_and_unexport_deletes_it() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut svc = hello(&env.ns);
    svc["spec"]["clusterIP"] = json!("None");
    export_from(&env, 0, svc, Value::Null).await;
    for i in 0..3 {
        let imp = await_import(&env, i, "hello", "headless import", |_| Ok(())).await;
        assert_eq!(imp["spec"]["type"], "Headless", "{imp}");
    }
    settle(&env, &ctl).await;
    for i in 0..3 {
        let imp = import_of(&env, i, "hello").await.unwrap();
        assert!(
            ips_of(&imp).is_empty(),
            "no IP for a headless import: {imp}"
        );
    }
    delete(&env.clients[0], MCS, "ServiceExport", &env.ns, "hello").await;
    for i in 0..3 {
        await_no_import(&env, i, "hello", "import deleted on unexport").await;
    }
    ctl.shutdown().await;
}

// Upstream: service_import.go "A service exported on two clusters with conflicting headlessness
// should apply the conflict resolution policy and report a Conflict condition on the
// ServiceExport" (KEP-1645 "Headlessness").
#[tokio::test]
async fn conflicting_headlessness_uses_the_oldest_type_and_flags_each_export() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut headless = hello(&env.ns);
    headless["spec"]["clusterIP"] = json!("None");
    export_from(&env, 1, headless, Value::Null).await;
    for i in 0..2 {
        await_condition(&env, i, "hello", "Conflict", "True", "TypeConflict").await;
    }
    for i in 0..2 {
        let imp = await_import(&env, i, "hello", "ClusterSetIP import", |_| Ok(())).await;
        assert_eq!(imp["spec"]["type"], "ClusterSetIP", "{imp}");
        assert!(!ips_of(&imp).is_empty(), "the winner's type keeps its IP");
    }
    ctl.shutdown().await;
}

// Upstream: connectivity.go "Connectivity to remote services with no exported service should
// be inaccessible" (KEP-1645 "Exporting services": only exported services are imported).
#[tokio::test]
async fn service_that_is_not_exported_is_not_imported() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let c = &env.clients[0];
    apply(c, hello(&env.ns)).await;
    let ports = hello(&env.ns)["spec"]["ports"].clone();
    apply(c, hello_slice(&env.ns, 0, &ports)).await;
    // Another service that is exported, to know the controller has seen the namespace.
    export_service(&env, 0, "marker", "ClusterIP", 80).await;
    for i in 0..2 {
        await_import(&env, i, "marker", "the exported marker", |_| Ok(())).await;
    }
    settle(&env, &ctl).await;
    for i in 0..2 {
        assert!(import_of(&env, i, "hello").await.is_err(), "no import");
        assert!(
            imported_sources(&env, i, "hello").await.is_empty(),
            "no MCS slices"
        );
    }
    ctl.shutdown().await;
}

// Upstream: connectivity.go "with an exported ClusterIP service should be accessible" and
// endpoint_slice.go (KEP-1645 "Using EndpointSlice objects to track endpoints"): every cluster
// gets the exporting cluster's endpoints with addresses, hostname, zone, conditions and ports;
// the source cluster's nodeName is dropped.
#[tokio::test]
async fn imported_slices_carry_the_exported_endpoints() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    for i in 0..3 {
        let slices = eventually("an imported slice", LIMIT, || async {
            let s = list(
                &env.clients[i],
                "discovery.k8s.io/v1",
                "EndpointSlice",
                &env.ns,
                "multicluster.kubernetes.io/service-name=hello",
            )
            .await;
            if s.is_empty() {
                Err(format!("{}: no slice", env.names[i]))
            } else {
                Ok(s)
            }
        })
        .await;
        assert_eq!(slices.len(), 1, "one slice per source slice");
        let s = &slices[0];
        assert_eq!(
            s["metadata"]["labels"]["multicluster.kubernetes.io/source-cluster"],
            env.names[0]
        );
        assert_ne!(
            s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        assert!(
            s["metadata"]["labels"]
                .get("kubernetes.io/service-name")
                .is_none(),
            "not claimed for kube-proxy: {s}"
        );
        assert_eq!(s["addressType"], "IPv4");
        let ep = &s["endpoints"][0];
        assert_eq!(ep["addresses"], json!(["10.1.1.7"]));
        assert_eq!(ep["hostname"], "hello-0");
        assert_eq!(ep["zone"], "zone-a");
        assert_eq!(ep["conditions"]["ready"], true);
        assert!(ep.get("nodeName").is_none(), "nodeName dropped: {s}");
        assert_eq!(
            ports_of(&s["ports"]),
            vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")]
        );
    }
    ctl.shutdown().await;
}

// KEP-1645 "Using EndpointSlice objects to track endpoints": endpoint changes in the exporting
// cluster reach every importing cluster.
#[tokio::test]
async fn endpoint_changes_reach_every_cluster() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    let addresses = |s: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = s
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["addresses"][0].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let await_addresses = |want: Vec<&'static str>| {
        let env = &env;
        async move {
            for i in 0..2 {
                eventually("imported endpoints", LIMIT, || async {
                    let s = list(
                        &env.clients[i],
                        "discovery.k8s.io/v1",
                        "EndpointSlice",
                        &env.ns,
                        "multicluster.kubernetes.io/service-name=hello",
                    )
                    .await;
                    let got = addresses(&s);
                    if got == want {
                        Ok(())
                    } else {
                        Err(format!("{}: {got:?}", env.names[i]))
                    }
                })
                .await;
            }
        }
    };
    await_addresses(vec!["10.1.1.7"]).await;
    let ports = hello(&env.ns)["spec"]["ports"].clone();
    let mut s = hello_slice(&env.ns, 0, &ports);
    s["endpoints"] = json!([
        {"addresses": ["10.1.1.7"], "conditions": {"ready": true}},
        {"addresses": ["10.1.1.8"], "conditions": {"ready": true}}
    ]);
    apply(&env.clients[0], s).await;
    await_addresses(vec!["10.1.1.7", "10.1.1.8"]).await;
    ctl.shutdown().await;
}

// KEP-1645 "Exporting services" and mcs-api ServiceExport conditions: a valid export reports
// Valid=True, Ready=True and Conflict=False, each with the export's generation.
#[tokio::test]
async fn valid_export_reports_valid_ready_and_no_conflict() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    let generation = get(&env.clients[0], MCS, "ServiceExport", &env.ns, "hello")
        .await
        .unwrap()["metadata"]["generation"]
        .as_i64();
    for (t, s, r) in [
        ("Valid", "True", "Valid"),
        ("Ready", "True", "Ready"),
        ("Conflict", "False", "NoConflicts"),
    ] {
        let c = await_condition(&env, 0, "hello", t, s, r).await;
        assert!(
            c["lastTransitionTime"].as_str().is_some(),
            "lastTransitionTime set: {c}"
        );
        if let Some(g) = generation {
            assert_eq!(c["observedGeneration"].as_i64(), Some(g), "{c}");
        }
    }
    ctl.shutdown().await;
}

// KEP-1645 "Exporting services": an export whose Service does not exist is invalid
// (Valid=False, reason NoService) and imports nothing; creating the Service makes it valid.
#[tokio::test]
async fn export_without_service_is_invalid_until_the_service_exists() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    apply(&env.clients[0], export(&env.ns, "hello")).await;
    await_condition(&env, 0, "hello", "Valid", "False", "NoService").await;
    await_condition(&env, 0, "hello", "Ready", "False", "").await;
    settle(&env, &ctl).await;
    for i in 0..2 {
        assert!(import_of(&env, i, "hello").await.is_err(), "no import");
    }
    let ports = hello(&env.ns)["spec"]["ports"].clone();
    apply(&env.clients[0], hello(&env.ns)).await;
    apply(&env.clients[0], hello_slice(&env.ns, 0, &ports)).await;
    await_condition(&env, 0, "hello", "Valid", "True", "Valid").await;
    for i in 0..2 {
        await_import(&env, i, "hello", "import once the Service exists", |_| {
            Ok(())
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Exporting services": deleting the exported Service invalidates the export and
// withdraws the import and its slices.
#[tokio::test]
async fn deleting_the_exported_service_withdraws_the_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "import", |_| Ok(())).await;
    }
    delete(&env.clients[0], "v1", "Service", &env.ns, "hello").await;
    await_condition(&env, 0, "hello", "Valid", "False", "NoService").await;
    for i in 0..2 {
        await_no_import(&env, i, "hello", "import withdrawn with the Service").await;
        eventually("slices withdrawn", LIMIT, || async {
            let s = imported_sources(&env, i, "hello").await;
            if s.is_empty() {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Constraints and conflict resolution": once the conflicting export goes, the
// remaining export reports Conflict=False again, and a Normal event records the resolution.
#[tokio::test]
async fn conflict_clears_when_the_conflicting_export_goes() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut second = hello(&env.ns);
    second["spec"]["sessionAffinity"] = json!("None");
    second["spec"]
        .as_object_mut()
        .unwrap()
        .remove("sessionAffinityConfig");
    export_from(&env, 1, second, Value::Null).await;
    for i in 0..2 {
        await_condition(
            &env,
            i,
            "hello",
            "Conflict",
            "True",
            "SessionAffinityConflict",
        )
        .await;
    }
    // The oldest export's affinity stays.
    await_import(&env, 1, "hello", "winner's affinity", |imp| {
        if imp["spec"]["sessionAffinity"] == "ClientIP" {
            Ok(())
        } else {
            Err("sessionAffinity".to_owned())
        }
    })
    .await;
    delete(&env.clients[1], MCS, "ServiceExport", &env.ns, "hello").await;
    await_condition(&env, 0, "hello", "Conflict", "False", "NoConflicts").await;
    eventually("ConflictResolved event", LIMIT, || async {
        let evs = list(&env.clients[0], "v1", "Event", &env.ns, "").await;
        evs.iter()
            .find(|e| e["reason"] == "ConflictResolved" && e["type"] == "Normal")
            .map(|_| ())
            .ok_or_else(|| format!("{} events, none ConflictResolved", evs.len()))
    })
    .await;
    ctl.shutdown().await;
}

// KEP-1645 "ServiceImport" (v1beta1 spec fields): ipFamilies, internalTrafficPolicy and
// trafficDistribution of the exported Service are carried to the import.
#[tokio::test]
async fn ip_families_and_traffic_fields_follow_the_exported_service() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut svc = hello(&env.ns);
    svc["spec"]["ipFamilies"] = json!(["IPv4"]);
    svc["spec"]["internalTrafficPolicy"] = json!("Local");
    svc["spec"]["trafficDistribution"] = json!("PreferClose");
    export_from(&env, 0, svc, Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "traffic fields carried", |imp| {
            let s = &imp["spec"];
            if s["ipFamilies"] != json!(["IPv4"]) {
                return Err("ipFamilies".to_owned());
            }
            if s["internalTrafficPolicy"] != "Local" {
                return Err("internalTrafficPolicy".to_owned());
            }
            if s["trafficDistribution"] != "PreferClose" {
                return Err("trafficDistribution".to_owned());
            }
            let ips = ips_of(imp);
            if ips.len() != 1 || !ips[0].parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4()) {
                return Err(format!("one IPv4 clusterset IP expected, got {ips:?}"));
            }
            Ok(())
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Constraints and conflict resolution": a conflicting internalTrafficPolicy uses the
// oldest export's value and flags each export.
#[tokio::test]
async fn conflicting_internal_traffic_policy_uses_the_oldest_and_flags_each_export() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut first = hello(&env.ns);
    first["spec"]["internalTrafficPolicy"] = json!("Local");
    export_from(&env, 0, first, Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut second = hello(&env.ns);
    second["spec"]["internalTrafficPolicy"] = json!("Cluster");
    export_from(&env, 1, second, Value::Null).await;
    for i in 0..2 {
        await_condition(
            &env,
            i,
            "hello",
            "Conflict",
            "True",
            "InternalTrafficPolicyConflict",
        )
        .await;
        await_import(&env, i, "hello", "the oldest export's policy", |imp| {
            if imp["spec"]["internalTrafficPolicy"] == "Local" {
                Ok(())
            } else {
                Err("internalTrafficPolicy".to_owned())
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Constraints and conflict resolution": conflicts are resolved per property; the
// endpoints of a conflicting cluster are still imported.
#[tokio::test]
async fn conflicting_cluster_endpoints_are_still_imported() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut second = hello(&env.ns);
    second["spec"]["ports"] = json!([{"name": "tcp", "port": 43, "protocol": "TCP"}]);
    export_from(&env, 1, second, Value::Null).await;
    await_condition(&env, 1, "hello", "Conflict", "True", "PortConflict").await;
    let mut both = env.names.clone();
    both.sort();
    for i in 0..2 {
        eventually("slices from both exporters", LIMIT, || async {
            let s = imported_sources(&env, i, "hello").await;
            if s == both {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Constraints and conflict resolution": a conflict is a property of the current
// state; when the newer cluster's Service is changed to agree, every export returns to
// Conflict=False.
#[tokio::test]
async fn conflict_clears_when_the_service_changes_to_agree() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut headless = hello(&env.ns);
    headless["spec"]["clusterIP"] = json!("None");
    // A Service's headlessness cannot change in place: the newer cluster recreates it.
    export_from(&env, 1, headless, Value::Null).await;
    for i in 0..2 {
        await_condition(&env, i, "hello", "Conflict", "True", "TypeConflict").await;
    }
    delete(&env.clients[1], "v1", "Service", &env.ns, "hello").await;
    await_condition(&env, 1, "hello", "Valid", "False", "NoService").await;
    apply(&env.clients[1], hello(&env.ns)).await;
    for i in 0..2 {
        await_condition(&env, i, "hello", "Conflict", "False", "NoConflicts").await;
    }
    let mut both = env.names.clone();
    both.sort();
    for i in 0..2 {
        eventually("slices from both exporters", LIMIT, || async {
            let s = imported_sources(&env, i, "hello").await;
            if s == both {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Exporting services": a Service without a ServiceExport in its own cluster is not
// exported, even while other clusters export a Service of the same namespaced name.
#[tokio::test]
async fn same_name_service_without_export_is_not_part_of_the_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    // Cluster 2 runs the same Service, with endpoints, but does not export it.
    let c = &env.clients[1];
    apply(c, hello(&env.ns)).await;
    let ports = hello(&env.ns)["spec"]["ports"].clone();
    apply(c, hello_slice(&env.ns, 1, &ports)).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "import of the exporting cluster", |_| {
            Ok(())
        })
        .await;
    }
    settle(&env, &ctl).await;
    for i in 0..2 {
        assert_eq!(
            imported_sources(&env, i, "hello").await,
            vec![env.names[0].clone()],
            "{}: only the exporting cluster's endpoints",
            env.names[i]
        );
        let imp = import_of(&env, i, "hello").await.unwrap();
        let clusters: Vec<&str> = imp
            .pointer("/status/clusters")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c["cluster"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(clusters, vec![env.names[0].as_str()], "{imp}");
    }
    // No export, so no status either.
    assert!(
        get(&env.clients[1], MCS, "ServiceExport", &env.ns, "hello")
            .await
            .is_none()
    );
    ctl.shutdown().await;
}

// KEP-1645 "Service types": exported NodePort and LoadBalancer Services are imported as
// ClusterSetIP services; node ports are not part of the import.
#[tokio::test]
async fn nodeport_and_loadbalancer_services_import_as_clustersetip() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    for (name, type_) in [("np", "NodePort"), ("lb", "LoadBalancer")] {
        let mut svc = hello(&env.ns);
        svc["metadata"]["name"] = json!(name);
        svc["spec"]["type"] = json!(type_);
        svc["spec"]["ports"] = json!([
            {"name": "tcp", "port": 42, "protocol": "TCP", "nodePort": 30042}
        ]);
        export_from(&env, 0, svc, Value::Null).await;
    }
    for name in ["np", "lb"] {
        for i in 0..2 {
            let imp = await_import(&env, i, name, "a ClusterSetIP import", |imp| {
                if ips_of(imp).is_empty() {
                    Err("no clusterset IP".to_owned())
                } else {
                    Ok(())
                }
            })
            .await;
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
        await_condition(&env, 0, name, "Valid", "True", "Valid").await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "Test plan": a cluster's local Service is not affected by the same-name imported
// service; the local Service and its EndpointSlices are left as they were.
#[tokio::test]
async fn local_service_is_not_affected_by_the_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    export_from(&env, 1, hello(&env.ns), Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "import", |_| Ok(())).await;
    }
    settle(&env, &ctl).await;
    for i in 0..2 {
        let c = &env.clients[i];
        let svc = get(c, "v1", "Service", &env.ns, "hello").await.unwrap();
        let local = get(
            c,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            &env.ns,
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
                env.names[i]
            );
            assert!(
                o["metadata"]["labels"]
                    .get("app.kubernetes.io/managed-by")
                    .is_none(),
                "{o}"
            );
        }
        assert_eq!(svc["spec"]["ports"], hello(&env.ns)["spec"]["ports"]);
        assert_eq!(
            local["metadata"]["labels"]["kubernetes.io/service-name"],
            "hello"
        );
        assert_eq!(
            local["endpoints"][0]["addresses"][0],
            format!("10.{}.1.7", i + 1)
        );
    }
    ctl.shutdown().await;
}

// Upstream: the conformance suite drives the API through the `v1alpha1` client
// (service_import.go, endpoint_slice.go). In a member serving both versions, an export
// written as v1alpha1 is exported, and the import and the export status read back as v1alpha1.
#[tokio::test]
async fn v1alpha1_clients_see_the_same_exports_and_imports() {
    const ALPHA: &str = "multicluster.x-k8s.io/v1alpha1";
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let c = &env.clients[0];
    let ports = hello(&env.ns)["spec"]["ports"].clone();
    apply(c, hello(&env.ns)).await;
    apply(c, hello_slice(&env.ns, 0, &ports)).await;
    apply(
        c,
        json!({"apiVersion": ALPHA, "kind": "ServiceExport",
               "metadata": {"name": "hello", "namespace": env.ns}}),
    )
    .await;
    for i in 0..2 {
        eventually("the import read as v1alpha1", LIMIT, || async {
            let imp = get(&env.clients[i], ALPHA, "ServiceImport", &env.ns, "hello")
                .await
                .ok_or_else(|| format!("{}: no v1alpha1 import", env.names[i]))?;
            if imp["spec"]["type"] == "ClusterSetIP"
                && !ips_of(&imp).is_empty()
                && ports_of(&imp["spec"]["ports"])
                    == vec![port("tcp", 42, "TCP"), port("udp", 42, "UDP")]
            {
                Ok(())
            } else {
                Err(format!("{}: {imp}", env.names[i]))
            }
        })
        .await;
    }
    eventually("Valid=True read as v1alpha1", LIMIT, || async {
        let e = get(c, ALPHA, "ServiceExport", &env.ns, "hello")
            .await
            .ok_or("no export")?;
        match condition(&e, "Valid") {
            Some((s, _)) if s == "True" => Ok(()),
            other => Err(format!("Valid condition {other:?}: {e}")),
        }
    })
    .await;
    ctl.shutdown().await;
}

// KEP-1645 "Service port": merged ports must have no duplicated names, the empty name
// included; two exports with one unnamed port each, on different numbers, clash on the empty
// name and the oldest export's port is used.
#[tokio::test]
async fn unnamed_ports_clash_on_the_empty_name() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut first = hello(&env.ns);
    first["spec"]["ports"] = json!([{"port": 42, "protocol": "TCP"}]);
    export_from(&env, 0, first, Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    let mut second = hello(&env.ns);
    second["spec"]["ports"] = json!([{"port": 43, "protocol": "TCP"}]);
    export_from(&env, 1, second, Value::Null).await;
    for i in 0..2 {
        await_condition(&env, i, "hello", "Conflict", "True", "PortConflict").await;
        await_import(
            &env,
            i,
            "hello",
            "the oldest export's unnamed port",
            |imp| {
                let got = ports_of(&imp["spec"]["ports"]);
                if got == vec![port("", 42, "TCP")] {
                    Ok(())
                } else {
                    Err(format!("ports {got:?}"))
                }
            },
        )
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "ServiceImport" (`ServicePort.appProtocol`): the application protocol of a port is
// carried to the import.
#[tokio::test]
async fn app_protocol_of_a_port_is_carried() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut svc = hello(&env.ns);
    svc["spec"]["ports"] =
        json!([{"name": "web", "port": 80, "protocol": "TCP", "appProtocol": "http"}]);
    export_from(&env, 0, svc, Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "appProtocol carried", |imp| {
            let p = &imp["spec"]["ports"][0];
            if p["name"] == "web" && p["port"] == 80 && p["appProtocol"] == "http" {
                Ok(())
            } else {
                Err(format!("port {p}"))
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "ClusterSetIP" with the v1beta1 `ipFamilies` / `ips` (up to two): a dual-stack
// Service gets one clusterset IP per family, in the Service's family order; an IPv6-only one
// gets an IPv6 address.
#[tokio::test]
async fn clusterset_ips_follow_the_ip_families() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut dual = hello(&env.ns);
    dual["metadata"]["name"] = json!("dual");
    dual["spec"]["ipFamilies"] = json!(["IPv4", "IPv6"]);
    dual["spec"]["ipFamilyPolicy"] = json!("RequireDualStack");
    export_from(&env, 0, dual, Value::Null).await;
    let mut v6 = hello(&env.ns);
    v6["metadata"]["name"] = json!("v6");
    v6["spec"]["ipFamilies"] = json!(["IPv6"]);
    export_from(&env, 0, v6, Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "dual", "two clusterset IPs", |imp| {
            let ips: Vec<IpAddr> = ips_of(imp).iter().filter_map(|s| s.parse().ok()).collect();
            if ips.len() == 2 && ips[0].is_ipv4() && ips[1].is_ipv6() {
                Ok(())
            } else {
                Err(format!("ips {ips:?}"))
            }
        })
        .await;
        await_import(&env, i, "v6", "one IPv6 clusterset IP", |imp| {
            let ips: Vec<IpAddr> = ips_of(imp).iter().filter_map(|s| s.parse().ok()).collect();
            if ips.len() == 1 && ips[0].is_ipv6() && imp["spec"]["ipFamilies"] == json!(["IPv6"]) {
                Ok(())
            } else {
                Err(format!("ips {ips:?}"))
            }
        })
        .await;
    }
    ctl.shutdown().await;
}

// KEP-1645 "ClusterSetIP": the clusterset IP is consistent for the life of the ServiceImport,
// while exporters come and go.
#[tokio::test]
async fn clusterset_ip_is_stable_while_exporters_change() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    let first = await_import(&env, 2, "hello", "a clusterset IP", |imp| {
        if ips_of(imp).is_empty() {
            Err("no ips".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    let vip = ips_of(&first);
    export_from(&env, 1, hello(&env.ns), Value::Null).await;
    let mut both = vec![env.names[0].clone(), env.names[1].clone()];
    both.sort();
    eventually("both exporters", LIMIT, || async {
        let s = imported_sources(&env, 2, "hello").await;
        if s == both {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    delete(&env.clients[0], MCS, "ServiceExport", &env.ns, "hello").await;
    eventually("only the second exporter", LIMIT, || async {
        let s = imported_sources(&env, 2, "hello").await;
        if s == vec![env.names[1].clone()] {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    for i in 0..3 {
        let imp = import_of(&env, i, "hello").await.unwrap();
        assert_eq!(
            ips_of(&imp),
            vip,
            "{}: the clusterset IP moved",
            env.names[i]
        );
    }
    ctl.shutdown().await;
}

// KEP-1645 "Service types" (headless): headlessness follows the conflict resolution policy, so
// when the oldest (headless) export goes, the import takes the remaining export's type, gets a
// clusterset IP, and the conflict clears.
#[tokio::test]
async fn removing_the_oldest_export_changes_the_type_to_the_next_oldest() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut headless = hello(&env.ns);
    headless["spec"]["clusterIP"] = json!("None");
    export_from(&env, 0, headless, Value::Null).await;
    await_import(&env, 0, "hello", "headless import", |imp| {
        if imp["spec"]["type"] == "Headless" {
            Ok(())
        } else {
            Err("type".to_owned())
        }
    })
    .await;
    export_from(&env, 1, hello(&env.ns), Value::Null).await;
    for i in 0..2 {
        await_condition(&env, i, "hello", "Conflict", "True", "TypeConflict").await;
        let imp = import_of(&env, i, "hello").await.unwrap();
        assert_eq!(imp["spec"]["type"], "Headless", "the oldest wins: {imp}");
    }
    delete(&env.clients[0], MCS, "ServiceExport", &env.ns, "hello").await;
    for i in 0..2 {
        await_import(&env, i, "hello", "ClusterSetIP with an IP", |imp| {
            if imp["spec"]["type"] == "ClusterSetIP" && !ips_of(imp).is_empty() {
                Ok(())
            } else {
                Err("still headless".to_owned())
            }
        })
        .await;
    }
    await_condition(&env, 1, "hello", "Conflict", "False", "NoConflicts").await;
    ctl.shutdown().await;
}

// KEP-1645 "Labels and annotations": the import follows later changes of `exportedLabels` /
// `exportedAnnotations`; a label no longer exported leaves the import.
#[tokio::test]
async fn exported_label_changes_reach_the_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(
        &env,
        0,
        hello(&env.ns),
        json!({"exportedLabels": {"tier": "web"}, "exportedAnnotations": {"owner": "a"}}),
    )
    .await;
    await_import(&env, 1, "hello", "first labels", |imp| {
        if imp["metadata"]["labels"]["tier"] == "web" {
            Ok(())
        } else {
            Err("label".to_owned())
        }
    })
    .await;
    let mut e = export(&env.ns, "hello");
    e["spec"] = json!({"exportedLabels": {"team": "shop"}, "exportedAnnotations": {"owner": "b"}});
    apply(&env.clients[0], e).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "changed labels", |imp| {
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
    }
    ctl.shutdown().await;
}

// KEP-1645 "Importing services": the import lives "so long as the service's namespace
// exists"; deleting the namespace in an importing cluster removes the import there only, and
// re-creating it brings the import back.
#[tokio::test]
async fn import_follows_the_namespace_in_an_importing_cluster() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "import", |_| Ok(())).await;
    }
    let ar = mesh_controller::apply::api_resource("v1", "Namespace");
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(env.clients[1].clone(), &ar);
    let _ = api.delete(&env.ns, &Default::default()).await;
    eventually("namespace gone in the importing cluster", LIMIT, || async {
        match get(&env.clients[1], "v1", "Namespace", "", &env.ns).await {
            None => Ok(()),
            Some(n) => Err(format!("{n}")),
        }
    })
    .await;
    await_no_import(&env, 1, "hello", "no import without the namespace").await;
    settle(&env, &ctl).await;
    assert!(
        import_of(&env, 0, "hello").await.is_ok(),
        "kept where the namespace exists"
    );
    assert!(import_of(&env, 1, "hello").await.is_err(), "not re-created");
    env.namespace_in(&[1]).await;
    await_import(
        &env,
        1,
        "hello",
        "import once the namespace is back",
        |_| Ok(()),
    )
    .await;
    ctl.shutdown().await;
}

// Upstream: service_import.go "The InternalTrafficPolicy for a ClusterSetIP ServiceImport
// should match the exported service's InternalTrafficPolicy" (set to `Cluster`, the default,
// which must still be written) and "The TrafficDistribution for a ClusterSetIP ServiceImport
// should match the exported service's TrafficDistribution" (KEP-1645 "Internal traffic
// policy", "Traffic distribution").
#[tokio::test]
async fn explicit_default_internal_traffic_policy_is_written_to_the_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    let mut svc = hello(&env.ns);
    svc["spec"]["internalTrafficPolicy"] = json!("Cluster");
    svc["spec"]["trafficDistribution"] = json!("PreferClose");
    export_from(&env, 0, svc, Value::Null).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "internalTrafficPolicy Cluster", |imp| {
            if imp["spec"]["internalTrafficPolicy"] == "Cluster"
                && imp["spec"]["trafficDistribution"] == "PreferClose"
            {
                Ok(())
            } else {
                Err("internalTrafficPolicy/trafficDistribution".to_owned())
            }
        })
        .await;
    }
    ctl.shutdown().await;
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
    let client = mesh_controller::runtime::members::client_for(&name, &kubeconfig, None)
        .await
        .unwrap();
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
    const ALPHA: &str = "multicluster.x-k8s.io/v1alpha1";
    let mut env = Env::new(2).await;
    if !env.is_simulated() {
        skip("needs a simulated member serving only v1alpha1");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    add_v1alpha1_only_member(&mut env, dir.path()).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    eventually("a v1alpha1 import in the old member", LIMIT, || async {
        let imp = get(&env.clients[2], ALPHA, "ServiceImport", &env.ns, "hello")
            .await
            .ok_or("no import")?;
        if imp["spec"]["type"] == "ClusterSetIP" && !ips_of(&imp).is_empty() {
            Ok(())
        } else {
            Err(format!("{imp}"))
        }
    })
    .await;
    assert!(
        get(&env.clients[2], MCS, "ServiceImport", &env.ns, "hello")
            .await
            .is_none(),
        "the old member does not serve v1beta1"
    );
    // The old member exports too.
    let c = &env.clients[2];
    let ports = hello(&env.ns)["spec"]["ports"].clone();
    apply(c, hello(&env.ns)).await;
    apply(c, hello_slice(&env.ns, 2, &ports)).await;
    apply(
        c,
        json!({"apiVersion": ALPHA, "kind": "ServiceExport",
               "metadata": {"name": "hello", "namespace": env.ns}}),
    )
    .await;
    let mut both = vec![env.names[0].clone(), env.names[2].clone()];
    both.sort();
    for i in 0..3 {
        eventually("slices from both exporters", LIMIT, || async {
            let s = imported_sources(&env, i, "hello").await;
            if s == both {
                Ok(())
            } else {
                Err(format!("{}: {s:?}", env.names[i]))
            }
        })
        .await;
    }
    eventually("Valid=True on the v1alpha1 export", LIMIT, || async {
        let e = get(c, ALPHA, "ServiceExport", &env.ns, "hello")
            .await
            .ok_or("no export")?;
        match (condition(&e, "Valid"), condition(&e, "Conflict")) {
            (Some((v, _)), Some((k, _))) if v == "True" && k == "False" => Ok(()),
            other => Err(format!("conditions {other:?}: {e}")),
        }
    })
    .await;
    ctl.shutdown().await;
}

// KEP-1645 "Global properties": the conflict condition is set on all ServiceExports of the
// conflicted service, those that agree with the winner included; the message says how many
// clusters disagree and whose value is used.
#[tokio::test]
async fn conflict_is_reported_on_every_constituent_export() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 0, "hello", "first import", |_| Ok(())).await;
    export_from(&env, 1, hello(&env.ns), Value::Null).await;
    await_condition(&env, 1, "hello", "Conflict", "False", "NoConflicts").await;
    let mut odd = hello(&env.ns);
    odd["spec"]["sessionAffinity"] = json!("None");
    odd["spec"]
        .as_object_mut()
        .unwrap()
        .remove("sessionAffinityConfig");
    export_from(&env, 2, odd, Value::Null).await;
    for i in 0..3 {
        let c = await_condition(
            &env,
            i,
            "hello",
            "Conflict",
            "True",
            "SessionAffinityConflict",
        )
        .await;
        let msg = c["message"].as_str().unwrap_or("");
        assert!(msg.contains("1/3"), "{}: {msg}", env.names[i]);
        assert!(msg.contains(&env.names[0]), "{}: {msg}", env.names[i]);
    }
    ctl.shutdown().await;
}

// KEP-1645 "Exporting services": all information about the service stays in the Service;
// changing the exported Service's ports and session affinity changes the import, a removed
// port included.
#[tokio::test]
async fn service_changes_reach_the_import() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = env.controller(GRACE, AFTER).await;
    export_from(&env, 0, hello(&env.ns), Value::Null).await;
    await_import(&env, 1, "hello", "first import", |_| Ok(())).await;
    let mut svc = hello(&env.ns);
    svc["spec"]["ports"] = json!([{"name": "web", "port": 8080, "protocol": "TCP"}]);
    svc["spec"]["sessionAffinity"] = json!("None");
    svc["spec"]
        .as_object_mut()
        .unwrap()
        .remove("sessionAffinityConfig");
    apply(&env.clients[0], svc).await;
    for i in 0..2 {
        await_import(&env, i, "hello", "the changed Service", |imp| {
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
    }
    ctl.shutdown().await;
}
