//! `--source kube` against the simulated API server (kube-sim): the real binary watches
//! ServiceImports and MCS EndpointSlices and follows changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::query;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use kube_sim::{SimCluster, SimOptions, mcs_crds};
use serde_json::json;

fn ask(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.send_to(&query(name, t, None), server).unwrap();
    let mut buf = [0u8; 65535];
    let n = s.recv(&mut buf).unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn addrs(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_source_follows_the_cluster() {
    let sim = SimCluster::start(SimOptions {
        crds: mcs_crds(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    sim.apply_json(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.10"], "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}
    }))
    .unwrap();
    sim.apply_json(json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"type": "Headless", "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}]}
    }))
    .unwrap();
    sim.apply_json(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "db-east", "namespace": "shop", "labels": {
            "multicluster.kubernetes.io/service-name": "db",
            "multicluster.kubernetes.io/source-cluster": "east"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.0.1"], "hostname": "db-0"}, {"addresses": ["10.1.0.2"], "hostname": "db-1"}],
        "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}]
    }))
    .unwrap();
    // A local (non-MCS) slice is not watched.
    sim.apply_json(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "db-local", "namespace": "shop", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.9.9.9"]}]
    }))
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-forward",
            "--source",
            "kube",
            "--kubeconfig",
        ])
        .arg(&kc)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let dns: SocketAddr = loop {
        let l = lines.next().expect("dns-proxy exited").unwrap();
        if let Some(a) = l.strip_prefix("listening dns udp ") {
            break a.parse().unwrap();
        }
    };
    let result = std::panic::catch_unwind(|| {
        eventually("the first table", || {
            ask(dns, "web.shop.svc.clusterset.local.", RecordType::A)
                .metadata
                .response_code
                == ResponseCode::NoError
        });
        assert_eq!(
            addrs(&ask(dns, "web.shop.svc.clusterset.local.", RecordType::A)),
            ["242.0.0.10"]
        );
        assert_eq!(
            addrs(&ask(dns, "db.shop.svc.clusterset.local.", RecordType::A)),
            ["10.1.0.1", "10.1.0.2"]
        );
        assert_eq!(
            addrs(&ask(
                dns,
                "db-1.east.db.shop.svc.clusterset.local.",
                RecordType::A
            )),
            ["10.1.0.2"]
        );
        // A new cluster's slice shows up.
        sim.apply_json(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "db-west", "namespace": "shop", "labels": {
                "multicluster.kubernetes.io/service-name": "db",
                "multicluster.kubernetes.io/source-cluster": "west"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.2.0.1"], "hostname": "db-0"}]
        }))
        .unwrap();
        eventually("the west endpoint", || {
            addrs(&ask(dns, "db.shop.svc.clusterset.local.", RecordType::A)).len() == 3
        });
        assert_eq!(
            addrs(&ask(
                dns,
                "db-0.west.db.shop.svc.clusterset.local.",
                RecordType::A
            )),
            ["10.2.0.1"]
        );
        // A deleted import disappears.
        sim.delete_json(
            "multicluster.x-k8s.io/v1beta1",
            "ServiceImport",
            Some("shop"),
            "web",
        )
        .unwrap();
        eventually("web to go away", || {
            ask(dns, "web.shop.svc.clusterset.local.", RecordType::A)
                .metadata
                .response_code
                == ResponseCode::NXDomain
        });
        // A v1alpha1 write is seen through the v1beta1 watch.
        sim.apply_json(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.11"], "ports": [{"port": 443}]}
        }))
        .unwrap();
        eventually("api to appear", || {
            addrs(&ask(dns, "api.shop.svc.clusterset.local.", RecordType::A)) == ["242.0.0.11"]
        });
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// The MCS CRDs with ServiceImport served only as v1alpha1 (an older cluster).
fn alpha_only_crds() -> Vec<serde_json::Value> {
    mcs_crds()
        .into_iter()
        .map(|mut crd| {
            if crd["spec"]["names"]["kind"] == "ServiceImport"
                && let Some(versions) = crd["spec"]["versions"].as_array_mut()
            {
                versions.retain(|v| v["name"] == "v1alpha1");
                for v in versions.iter_mut() {
                    v["storage"] = json!(true);
                    v["served"] = json!(true);
                }
            }
            crd
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_source_falls_back_to_v1alpha1() {
    let sim = SimCluster::start(SimOptions {
        crds: alpha_only_crds(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    sim.apply_json(json!({
        "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
        "metadata": {"name": "old", "namespace": "shop"},
        "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.20"], "ports": [{"port": 80}]}
    }))
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-forward",
            "--source",
            "kube",
            "--kubeconfig",
        ])
        .arg(&kc)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let dns: SocketAddr = loop {
        let l = lines.next().expect("dns-proxy exited").unwrap();
        if let Some(a) = l.strip_prefix("listening dns udp ") {
            break a.parse().unwrap();
        }
    };
    let result = std::panic::catch_unwind(|| {
        eventually("the v1alpha1 import", || {
            addrs(&ask(dns, "old.shop.svc.clusterset.local.", RecordType::A)) == ["242.0.0.20"]
        });
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
