//! Helpers shared by the install tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// JSON pointers where `a` and `b` differ. Object key order is ignored, and numbers compare by
/// value (`0` equals `0.0`: k8s-openapi holds schema bounds as `f64`).
pub fn diff_paths(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => diff_paths(&format!("{at}/{k}"), va, vb, out),
                    None => out.push(format!("{at}/{k}: dropped")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{at}/{k}: added"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_paths(&format!("{at}/{i}"), va, vb, out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a != b => out.push(format!("{at}: {a} != {b}")),
        _ => {}
    }
}

/// Parses `v` as `T` and checks that serializing it back gives `v` again: no unknown field
/// was dropped and nothing was added.
pub fn typed<T: DeserializeOwned + Serialize>(v: &Value) -> T {
    let t: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"));
    let back = serde_json::to_value(&t).unwrap();
    let mut diffs = Vec::new();
    diff_paths("", v, &back, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{} {}: changed by the typed round trip: {diffs:#?}",
        v["kind"],
        v["metadata"]["name"]
    );
    t
}

/// Seeds, as the built-in controllers would leave them, namespace `demo` with Service `web`,
/// its EndpointSlice and a ServiceExport.
pub fn seed_export(c: &kube_sim::SimCluster) {
    use serde_json::json;
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
        json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceExport",
               "metadata": {"name": "web", "namespace": "demo"}, "spec": {}}),
    ] {
        c.apply_json(obj).unwrap();
    }
}

/// Starts `mesh-controller run` on a clusterset file, leader-elected with its Lease in the
/// cluster of `lease_kubeconfig`, and waits (bounded) until `done` holds.
pub async fn run_controller_until(
    clusterset: &std::path::Path,
    lease_kubeconfig: &std::path::Path,
    lease_namespace: &str,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args([
            "run",
            "--clusterset",
            clusterset.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--leader-elect",
            "--lease-kubeconfig",
            lease_kubeconfig.to_str().unwrap(),
        ])
        .args(["--lease-namespace", lease_namespace])
        .env("POD_NAME", "install-test")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut ok = false;
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if done() {
            ok = true;
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            return Err(format!(
                "controller exited with {status}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Let the writes that follow the import (status, events) happen too.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "not done within 60 s; controller stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
