//! Controller + DNS proxy: the demo clusterset (simulated members), the controller writing
//! ServiceImports and imported EndpointSlices, and a DNS proxy watching one member answering
//! `*.svc.clusterset.local` from them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use isthmus::demo::{check_converged, cluster_name, network_of, start_clusters};
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::members::{MemberSpec, client_for};
use mesh_controller::runtime::{self, RunConfig};

/// A DNS query for `name` type A (recursion desired, one question).
fn a_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The IPv4 addresses in the answer section of `resp` (RCODE must be NOERROR).
fn a_answers(resp: &[u8], query_len: usize) -> Option<Vec<Ipv4Addr>> {
    if resp.len() < 12 || resp[3] & 0x0f != 0 {
        return None;
    }
    let ancount = u16::from_be_bytes([resp[6], resp[7]]) as usize;
    let mut i = query_len; // the question is echoed unchanged
    let mut out = Vec::new();
    for _ in 0..ancount {
        // name: a compression pointer or labels
        if resp.get(i)? & 0xc0 == 0xc0 {
            i += 2;
        } else {
            while *resp.get(i)? != 0 {
                i += 1 + *resp.get(i)? as usize;
            }
            i += 1;
        }
        let rtype = u16::from_be_bytes([*resp.get(i)?, *resp.get(i + 1)?]);
        let rdlen = u16::from_be_bytes([*resp.get(i + 8)?, *resp.get(i + 9)?]) as usize;
        i += 10;
        if rtype == 1 && rdlen == 4 {
            out.push(Ipv4Addr::new(
                resp[i],
                resp[i + 1],
                resp[i + 2],
                resp[i + 3],
            ));
        }
        i += rdlen;
    }
    out.sort();
    Some(out)
}

async fn ask(dns: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let q = a_query(name);
    s.send_to(&q, dns).await.ok()?;
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    a_answers(&buf[..n], q.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_proxy_answers_from_what_the_controller_imported() {
    let dir = tempfile::tempdir().unwrap();
    let sims = start_clusters(3, dir.path()).await.unwrap();
    let members: Vec<MemberSpec> = (1..=3)
        .map(|i| MemberSpec {
            name: cluster_name(i),
            network: network_of(i),
            kubeconfig: Some(dir.path().join(format!("{}.kubeconfig", cluster_name(i)))),
            kubeconfig_yaml: None,
            context: None,
        })
        .collect();
    let infos = members
        .iter()
        .map(|m| MemberInfo::new(m.name.clone(), m.network.clone()))
        .collect();
    let metrics = Arc::new(Metrics::new());
    let engine = Arc::new(IndexEngine::new(infos, ReconcileConfig::default()));
    let ctl = runtime::start(RunConfig::new("demo", members), engine, metrics)
        .await
        .unwrap();

    // The DNS proxy of cluster-3 watches its ServiceImports and imported slices.
    let client = client_for("cluster-3", &dir.path().join("cluster-3.kubeconfig"), None)
        .await
        .unwrap();
    let handle = Arc::new(
        dns_proxy::handle::TableHandle::new(
            dns_proxy::table::ZoneConfig::default(),
            Arc::new(dns_proxy::metrics::Metrics::default()),
        )
        .unwrap(),
    );
    let source = tokio::spawn(dns_proxy::source::kube::run(client, handle.clone()));
    let server = dns_proxy::server::start(
        dns_proxy::server::ServerOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            udp_workers: 1,
            max_udp: 1232,
            allow_forward: Vec::new(),
            forwarder: None,
            tcp_idle_timeout: Duration::from_secs(5),
            max_inflight_forwards: 16,
            max_tcp_connections: 16,
            udp_recv_buffer: 0,
        },
        handle,
    )
    .await
    .unwrap();
    let dns = server.udp_addr;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if check_converged(&sims).is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not converged: {:?}",
            check_converged(&sims)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let vip: Ipv4Addr = sims[2]
        .get_json(
            "multicluster.x-k8s.io/v1beta1",
            "ServiceImport",
            Some("shop"),
            "cart",
        )
        .and_then(|i| {
            i.pointer("/spec/ips/0")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
        })
        .expect("cart has a VIP");
    // cart: the clusterset VIP; db (headless): the pod IPs from cluster-3's slice.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let cart = ask(dns, "cart.shop.svc.clusterset.local.").await;
        let db = ask(dns, "db.shop.svc.clusterset.local.").await;
        if cart.as_deref() == Some(&[vip][..]) && db.as_ref().is_some_and(|d| d.len() == 2) {
            let db = db.unwrap();
            assert_eq!(
                db,
                vec![Ipv4Addr::new(10, 3, 3, 21), Ipv4Addr::new(10, 3, 3, 22)]
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "DNS answers: cart {cart:?} (VIP {vip}), db {db:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown();
    source.abort();
    ctl.shutdown().await;
}
