//! Controller + DNS proxy: the demo clusterset (simulated members), the controller writing
//! ServiceImports and imported EndpointSlices, and a DNS proxy watching one member answering
//! `*.svc.clusterset.local` from them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use isthmus::demo::{check_converged, cluster_name, network_of, start_clusters};
use isthmus_testing::{dns, eventually};
use mesh_controller::members::{MemberSpec, client_for};
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::{self, RunConfig};

const LIMIT: Duration = Duration::from_secs(30);

/// The A records of `name` (sorted), or `None` without a NOERROR answer within 2 s.
async fn ask(server: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    let m = dns::ask(
        server,
        &dns::query(name, RecordType::A, None),
        Duration::from_secs(2),
    )
    .await
    .ok()?;
    (m.metadata.response_code == ResponseCode::NoError).then(|| dns::a_records(&m))
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
    let server = dns_proxy::server::start(dns_proxy::server::ServerOptions::local(), handle)
        .await
        .unwrap();
    let dns = server.udp_addr;

    eventually("the demo clusterset converged", LIMIT, || async {
        check_converged(&sims)
    })
    .await;
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
    let db = eventually("DNS answers from the imports", LIMIT, || async {
        let cart = ask(dns, "cart.shop.svc.clusterset.local.").await;
        let db = ask(dns, "db.shop.svc.clusterset.local.").await;
        match db {
            Some(db) if cart.as_deref() == Some(&[vip][..]) && db.len() == 2 => Ok(db),
            db => Err(format!("cart {cart:?} (VIP {vip}), db {db:?}")),
        }
    })
    .await;
    assert_eq!(
        db,
        vec![Ipv4Addr::new(10, 3, 3, 21), Ipv4Addr::new(10, 3, 3, 22)]
    );
    server.shutdown();
    source.abort();
    ctl.shutdown().await;
}
