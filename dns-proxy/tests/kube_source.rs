//! `--source kube` against the simulated API server (kube-sim): the real binary watches
//! ServiceImports and MCS EndpointSlices and follows changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use isthmus_testing::dns::{ask_blocking, query};
use kube_sim::{SimCluster, SimOptions, mcs_crds};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn ask(server: SocketAddr, name: &str, t: RecordType) -> Message {
    ask_blocking(server, &query(name, t, None), Duration::from_secs(10)).unwrap()
}

/// Waits until `name` is answered with `rcode`.
fn eventually_rcode(what: &str, dns: SocketAddr, name: &str, rcode: ResponseCode) {
    isthmus_testing::eventually_blocking(what, WAIT, || {
        match ask(dns, name, RecordType::A).metadata.response_code {
            rc if rc == rcode => Ok(()),
            rc => Err(format!("{name}: {rc:?}")),
        }
    });
}

/// Waits until the A records of `name` are `want`.
fn eventually_addrs(what: &str, dns: SocketAddr, name: &str, want: &[&str]) {
    isthmus_testing::eventually_blocking(what, WAIT, || {
        let got = addrs(&ask(dns, name, RecordType::A));
        if got == want {
            Ok(())
        } else {
            Err(format!("{name}: {got:?}"))
        }
    });
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
        eventually_rcode(
            "the first table",
            dns,
            "web.shop.svc.clusterset.local.",
            ResponseCode::NoError,
        );
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
        isthmus_testing::eventually_blocking("the west endpoint", WAIT, || {
            let got = addrs(&ask(dns, "db.shop.svc.clusterset.local.", RecordType::A));
            if got.len() == 3 {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
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
        eventually_rcode(
            "web to go away",
            dns,
            "web.shop.svc.clusterset.local.",
            ResponseCode::NXDomain,
        );
        // A v1alpha1 write is seen through the v1beta1 watch.
        sim.apply_json(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.11"], "ports": [{"port": 443}]}
        }))
        .unwrap();
        eventually_addrs(
            "api to appear",
            dns,
            "api.shop.svc.clusterset.local.",
            &["242.0.0.11"],
        );
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
        eventually_addrs(
            "the v1alpha1 import",
            dns,
            "old.shop.svc.clusterset.local.",
            &["242.0.0.20"],
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
