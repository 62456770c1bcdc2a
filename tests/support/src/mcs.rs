//! Multi-Cluster Services in a test [`Env`]: the objects an exporting cluster holds (Service,
//! EndpointSlice, ServiceExport, written as the built-in controllers and a user would), and
//! reading, or waiting for, what a controller imported into each member.
//!
//! The waiting helpers take the members to look at (`0..3`, `[0, 2]`) and wait in each, in
//! order, up to [`Env::limit`]; the panic names the member and what it held instead.

use serde_json::{Value, json};

use crate::env::Env;
use crate::eventually::eventually;
use crate::k8s::{apply, get, list};

/// The MCS API version the project writes.
pub const MCS: &str = "multicluster.x-k8s.io/v1beta1";
/// The older MCS API version (same schema), still read by Istio and CoreDNS.
pub const MCS_V1ALPHA1: &str = "multicluster.x-k8s.io/v1alpha1";
/// The label that ties an imported EndpointSlice to its service.
pub const SERVICE_NAME_LABEL: &str = "multicluster.kubernetes.io/service-name";

/// A Service without selector (its EndpointSlices are written by the test, as on real
/// clusters). `type_` is a Service type, or `Headless` (ClusterIP `None`).
pub fn service(ns: &str, name: &str, type_: &str, ports: Value) -> Value {
    let mut spec = json!({"type": type_, "ports": ports});
    match type_ {
        "Headless" => {
            spec["type"] = json!("ClusterIP");
            spec["clusterIP"] = json!("None");
        }
        "ExternalName" => {
            spec["externalName"] = json!("db.example.com");
            spec.as_object_mut().unwrap().remove("ports");
        }
        _ => {}
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// An EndpointSlice `<service>-<suffix>` of `service` with one ready endpoint per address
/// (hostnames `<service>-<k>` when `hostnames`) and one port `http`.
pub fn slice(
    ns: &str,
    service: &str,
    suffix: &str,
    ips: &[&str],
    port: i32,
    hostnames: bool,
) -> Value {
    let endpoints: Vec<Value> = ips
        .iter()
        .enumerate()
        .map(|(k, ip)| {
            let mut e = json!({"addresses": [ip], "conditions": {"ready": true}});
            if hostnames {
                e["hostname"] = json!(format!("{service}-{k}"));
            }
            e
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-{suffix}"), "namespace": ns,
            "labels": {"kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "e2e.isthmus.io"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}]
    })
}

/// A ServiceExport of `ns/name`.
pub fn export(ns: &str, name: &str) -> Value {
    json!({"apiVersion": MCS, "kind": "ServiceExport", "metadata": {"name": name, "namespace": ns}})
}

/// Exports `name` from cluster `i`: Service, one EndpointSlice (address `10.<i+1>.0.<port>`),
/// ServiceExport.
pub async fn export_service(env: &Env, i: usize, name: &str, type_: &str, port: i32) {
    let c = &env.clients[i];
    apply(
        c,
        service(
            &env.ns,
            name,
            type_,
            json!([{"name": "http", "port": port, "protocol": "TCP"}]),
        ),
    )
    .await;
    if type_ != "ExternalName" {
        let ip = format!("10.{}.0.{}", i + 1, 10 + port % 200);
        apply(
            c,
            slice(
                &env.ns,
                name,
                &format!("c{i}"),
                &[&ip],
                port,
                type_ == "Headless",
            ),
        )
        .await;
    }
    apply(c, export(&env.ns, name)).await;
}

/// Seeds, as the built-in controllers would leave them, namespace `demo` with Service `web`,
/// its EndpointSlice and a ServiceExport.
pub fn seed_demo_export(c: &kube_sim::SimCluster) {
    for obj in [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "demo"},
               "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "web-abc", "namespace": "demo",
                            "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
               "addressType": "IPv4",
               "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": true}}],
               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        json!({"apiVersion": MCS, "kind": "ServiceExport",
               "metadata": {"name": "web", "namespace": "demo"}, "spec": {}}),
    ] {
        c.apply_json(obj).unwrap();
    }
}

/// The condition `type_` of a ServiceExport, as (status, reason).
pub fn condition(export: &Value, type_: &str) -> Option<(String, String)> {
    export
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_owned(),
                c["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
}

/// The clusterset IPs of an import (`spec.ips`).
pub fn ips(import: &Value) -> Vec<String> {
    import
        .pointer("/spec/ips")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The ServiceImport `name` of the test namespace in cluster `i`.
pub async fn import(env: &Env, i: usize, name: &str) -> Result<Value, String> {
    get(&env.clients[i], MCS, "ServiceImport", &env.ns, name)
        .await
        .ok_or_else(|| format!("{}: no ServiceImport {}/{name}", env.names[i], env.ns))
}

/// The imported (MCS) EndpointSlices of `name` in cluster `i`.
pub async fn imported_slices(env: &Env, i: usize, name: &str) -> Vec<Value> {
    list(
        &env.clients[i],
        "discovery.k8s.io/v1",
        "EndpointSlice",
        &env.ns,
        &format!("{SERVICE_NAME_LABEL}={name}"),
    )
    .await
}

/// Source clusters of the imported EndpointSlices of `name` in cluster `i`, sorted.
pub async fn imported_sources(env: &Env, i: usize, name: &str) -> Vec<String> {
    let mut v: Vec<String> = imported_slices(env, i, name)
        .await
        .iter()
        .filter_map(|s| {
            s.pointer("/metadata/labels/multicluster.kubernetes.io~1source-cluster")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The condition `type_` of the export `name` in cluster `i`, as the whole condition object.
pub async fn export_condition(
    env: &Env,
    i: usize,
    name: &str,
    type_: &str,
) -> Result<Value, String> {
    let e = get(&env.clients[i], MCS, "ServiceExport", &env.ns, name)
        .await
        .ok_or_else(|| format!("{}: no ServiceExport", env.names[i]))?;
    e.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
        .ok_or_else(|| format!("{}: no {type_} condition yet: {e}", env.names[i]))
}

/// Waits until each member holds the import `name` and `check` accepts it; returns the
/// imports in the order of `members`.
pub async fn await_import(
    env: &Env,
    members: impl IntoIterator<Item = usize>,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> Result<(), String>,
) -> Vec<Value> {
    let mut out = Vec::new();
    for i in members {
        let imp = eventually(what, env.limit, || async {
            let imp = import(env, i, name).await?;
            check(&imp).map_err(|e| format!("{}: {e}: {imp}", env.names[i]))?;
            Ok(imp)
        })
        .await;
        out.push(imp);
    }
    out
}

/// Waits until no member holds the import `name`.
pub async fn await_no_import(
    env: &Env,
    members: impl IntoIterator<Item = usize>,
    name: &str,
    what: &str,
) {
    for i in members {
        eventually(what, env.limit, || async {
            match import(env, i, name).await {
                Ok(imp) => Err(format!("{}: still there: {imp}", env.names[i])),
                Err(_) => Ok(()),
            }
        })
        .await;
    }
}

/// Waits until the imported slices of `name` in each member come from exactly the clusters
/// `exporters` (indices into the environment).
pub async fn await_sources(
    env: &Env,
    members: impl IntoIterator<Item = usize>,
    name: &str,
    exporters: &[usize],
    what: &str,
) {
    let mut want: Vec<String> = exporters.iter().map(|&e| env.names[e].clone()).collect();
    want.sort();
    for i in members {
        eventually(what, env.limit, || async {
            let got = imported_sources(env, i, name).await;
            if got == want {
                Ok(())
            } else {
                Err(format!("{}: slices from {got:?}", env.names[i]))
            }
        })
        .await;
    }
}

/// Waits until the export `name` in each member has the condition `type_` with `status` and a
/// reason containing `reason`; returns the conditions in the order of `members`.
pub async fn await_condition(
    env: &Env,
    members: impl IntoIterator<Item = usize>,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Vec<Value> {
    let mut out = Vec::new();
    for i in members {
        let what = format!(
            "{type_}={status} ({reason}) on the export in {}",
            env.names[i]
        );
        let c = eventually(&what, env.limit, || async {
            let c = export_condition(env, i, name, type_).await?;
            if c["status"] == status && c["reason"].as_str().unwrap_or("").contains(reason) {
                Ok(c)
            } else {
                Err(format!("{}: {c}", env.names[i]))
            }
        })
        .await;
        out.push(c);
    }
    out
}
