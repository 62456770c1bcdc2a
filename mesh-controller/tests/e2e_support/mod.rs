//! Shared helpers of the end-to-end suites: clusters (simulated, or real ones named by
//! `ISTHMUS_E2E_KUBECONFIGS`), the controller in-process or as the real binary, and
//! kube-client helpers that work the same against both.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube_sim::TestClusters;
use mesh_controller::apply::api_resource;
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::members::{MemberSpec, client_for};
use mesh_controller::runtime::{self, ControllerHandle, RunConfig};
use serde_json::{Value, json};

pub const MCS: &str = "multicluster.x-k8s.io/v1beta1";
const TEST_MANAGER: &str = "isthmus-e2e";

/// The clusters of one test plus a client per cluster.
pub struct Env {
    pub clusters: TestClusters,
    pub clients: Vec<Client>,
    pub names: Vec<String>,
    /// A namespace unique to the test.
    pub ns: String,
}

pub fn network(i: usize) -> String {
    format!("network-{}", i % 2 + 1)
}

impl Env {
    pub async fn new(n: usize) -> Env {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
        let clusters = kube_sim::clusters_for_tests(n)
            .await
            .expect("clusters for tests");
        let mut clients = Vec::new();
        let mut names = Vec::new();
        for c in &clusters.clusters {
            clients.push(
                client_for(&c.name, &c.kubeconfig, None)
                    .await
                    .expect("client"),
            );
            names.push(c.name.clone());
        }
        let ns = format!(
            "e2e-{:x}",
            std::process::id() ^ (jiff::Timestamp::now().subsec_nanosecond() as u32)
        );
        Env {
            clusters,
            clients,
            names,
            ns,
        }
    }

    pub fn is_simulated(&self) -> bool {
        self.clusters.is_simulated()
    }

    pub fn members(&self) -> Vec<MemberSpec> {
        self.clusters
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| MemberSpec {
                name: c.name.clone(),
                network: network(i),
                kubeconfig: Some(c.kubeconfig.clone()),
                kubeconfig_yaml: None,
                context: None,
            })
            .collect()
    }

    /// A clusterset file for the real binary.
    pub fn write_clusterset(&self, dir: &std::path::Path) -> PathBuf {
        let mut s = String::from("name: e2e\nmeshID: e2e\nmembers:\n");
        for (i, c) in self.clusters.clusters.iter().enumerate() {
            s.push_str(&format!(
                "- name: {}\n  network: {}\n  kubeconfig: {}\n  eastWestGateway:\n    exposure: LoadBalancer\n",
                c.name,
                network(i),
                c.kubeconfig.display()
            ));
        }
        let path = dir.join("clusterset.yaml");
        std::fs::write(&path, s).unwrap();
        path
    }

    /// Starts the controller in-process.
    pub async fn controller(
        &self,
        grace: Duration,
        unreachable_after: Duration,
    ) -> (ControllerHandle, Arc<IndexEngine>) {
        self.controller_with(grace, unreachable_after, |_| {}).await
    }

    /// Starts the controller in-process, with `adjust` applied to its settings.
    pub async fn controller_with(
        &self,
        grace: Duration,
        unreachable_after: Duration,
        adjust: impl FnOnce(&mut RunConfig),
    ) -> (ControllerHandle, Arc<IndexEngine>) {
        let infos = self
            .members()
            .iter()
            .map(|m| MemberInfo::new(m.name.clone(), m.network.clone()))
            .collect();
        let rcfg = ReconcileConfig {
            unreachable_grace: grace,
            ..ReconcileConfig::default()
        };
        let metrics = Arc::new(Metrics::new());
        let engine = Arc::new(IndexEngine::new(infos, rcfg).with_metrics(metrics.clone()));
        let mut cfg = RunConfig::new("e2e", self.members());
        cfg.unreachable_after = unreachable_after;
        cfg.unreachable_grace = grace;
        cfg.probe_period = Duration::from_millis(300);
        cfg.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        adjust(&mut cfg);
        let handle = runtime::start(cfg, engine.clone(), metrics)
            .await
            .expect("controller starts");
        (handle, engine)
    }

    /// Creates the test namespace in the given clusters.
    pub async fn namespace_in(&self, which: &[usize]) {
        for &i in which {
            apply(
                &self.clients[i],
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}}),
            )
            .await;
        }
    }
}

/// Server-side applies `obj` with the test's field manager.
pub async fn apply(client: &Client, obj: Value) -> Value {
    let av = obj["apiVersion"].as_str().unwrap().to_owned();
    let kind = obj["kind"].as_str().unwrap().to_owned();
    let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let ar = api_resource(&av, &kind);
    let api: Api<DynamicObject> = if ns.is_empty() {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), &ns, &ar)
    };
    let out = api
        .patch(
            &name,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {kind} {ns}/{name}: {e}"));
    serde_json::to_value(out).unwrap()
}

pub async fn get(client: &Client, av: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let ar = api_resource(av, kind);
    let api: Api<DynamicObject> = if ns.is_empty() {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), ns, &ar)
    };
    match api.get_opt(name).await {
        Ok(o) => o.map(|o| serde_json::to_value(o).unwrap()),
        Err(_) => None,
    }
}

pub async fn list(client: &Client, av: &str, kind: &str, ns: &str, labels: &str) -> Vec<Value> {
    let ar = api_resource(av, kind);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    match api.list(&ListParams::default().labels(labels)).await {
        Ok(l) => l
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn delete(client: &Client, av: &str, kind: &str, ns: &str, name: &str) {
    let ar = api_resource(av, kind);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Polls `check` every 100 ms until it returns `Ok`, or panics with its last reason after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(reason) => {
                if tokio::time::Instant::now() >= deadline {
                    panic!("{what}: not reached within {limit:?}: {reason}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Service without selector (its EndpointSlices are written by the test, as on real clusters).
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

pub fn export(ns: &str, name: &str) -> Value {
    json!({"apiVersion": MCS, "kind": "ServiceExport", "metadata": {"name": name, "namespace": ns}})
}

/// Exports `name` from cluster `i`: Service, one EndpointSlice, ServiceExport.
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

/// Source clusters of the imported EndpointSlices of `name` in cluster `i`.
pub async fn imported_sources(env: &Env, i: usize, name: &str) -> Vec<String> {
    let mut v: Vec<String> = list(
        &env.clients[i],
        "discovery.k8s.io/v1",
        "EndpointSlice",
        &env.ns,
        &format!("multicluster.kubernetes.io/service-name={name}"),
    )
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

/// Prints a skip line (for scenarios that need simulated clusters).
pub fn skip(reason: &str) {
    eprintln!("SKIP: {reason}");
}

/// A plain HTTP/1.0 GET on 127.0.0.1 (status code, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}
