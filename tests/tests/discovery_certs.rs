//! The discovery channel's certificates as a user makes them: a clusterset root and one
//! intermediate per cluster from gateway-config, a server certificate (from the hub's) and
//! per-cluster DNS proxy client certificates (each from its cluster's) as `ca leaf` issues
//! them, the controller's discovery server (mesh-proto) presenting one, and the DNS proxy's
//! gRPC source (dns-proxy) presenting the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gateway_config::ca::{
    IntermediateOptions, LeafCert, LeafOptions, LeafRole, LeafSigner, RootCa, RootOptions,
    issue_intermediate, issue_leaf,
};
use jiff::Timestamp;
use mesh_proto::client::{ClientConfig, ClientState, watch_once};
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::service::{ServerTls, serve};
use mesh_proto::table::{ClientTable, NameTable};
use mesh_proto::v1;

const TRUST_DOMAIN: &str = "cluster.local";
const SERVER_NAME: &str = "isthmus-discovery.isthmus-system.svc";
const WAIT: Duration = Duration::from_secs(30);

struct Pki {
    server: LeafCert,
    east: LeafCert,
    west: LeafCert,
}

fn pki() -> Pki {
    let now = Timestamp::now();
    let root = RootCa::generate(&RootOptions::default(), now).unwrap();
    let hub = issue_intermediate(&root, "hub", &IntermediateOptions::default(), now).unwrap();
    let signer = LeafSigner::from_cacerts(&hub, "hub", now).unwrap();
    // Each DNS proxy's certificate comes from its own cluster's intermediate.
    let proxy = |cluster: &str| {
        let ca = issue_intermediate(&root, cluster, &IntermediateOptions::default(), now).unwrap();
        let signer = LeafSigner::from_cacerts(&ca, cluster, now).unwrap();
        let role = LeafRole::DnsProxyClient {
            cluster: cluster.into(),
            trust_domain: TRUST_DOMAIN.into(),
        };
        issue_leaf(&signer, &role, &LeafOptions::default(), now).unwrap()
    };
    let server = LeafRole::Server {
        names: vec![SERVER_NAME.into()],
    };
    Pki {
        server: issue_leaf(&signer, &server, &LeafOptions::default(), now).unwrap(),
        east: proxy("east"),
        west: proxy("west"),
    }
}

fn write_files(dir: &Path, cert: &LeafCert) {
    for (name, text) in cert.files() {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn web() -> v1::ServiceRecord {
    v1::ServiceRecord {
        key: Some(v1::ServiceKey {
            namespace: "shop".into(),
            name: "web".into(),
        }),
        r#type: v1::ServiceType::ClusterSetIp as i32,
        ips: vec!["242.0.0.7".into()],
        ports: vec![v1::Port {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
        }],
        clusters: vec![],
    }
}

#[test]
fn both_crates_name_a_dns_proxy_the_same_way() {
    for (td, cluster) in [
        ("cluster.local", "east"),
        ("example.org", "a-1"),
        ("td", "x"),
    ] {
        assert_eq!(
            gateway_config::ca::dns_proxy_spiffe_id(td, cluster),
            mesh_proto::identity::dns_proxy_spiffe_id(td, cluster)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_config_certificates_secure_the_discovery_channel() {
    let pki = pki();
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", NameTable::from_records(vec![web()]).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = ServerTls {
        cert_pem: pki.server.cert_chain.clone().into_bytes(),
        key_pem: pki.server.key.clone().into_bytes(),
        client_ca_pem: pki.server.ca.clone().into_bytes(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        publisher.clone(),
        listener,
        Some(tls),
        Duration::from_millis(500),
        async {
            let _ = stopped.await;
        },
    ));

    // The DNS proxy's gRPC source with east's files, as `--grpc-ca/--grpc-cert/--grpc-key`.
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &pki.east);
    let mut source = dns_proxy::source::grpc::GrpcSource::new(format!("https://{addr}"), "east");
    source.tls = Some(dns_proxy::source::grpc::TlsFiles {
        ca: dir.path().join("ca.crt"),
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
        server_name: Some(SERVER_NAME.into()),
    });
    source.backoff_max = Duration::from_millis(400);
    let handle = Arc::new(
        dns_proxy::handle::TableHandle::new(
            dns_proxy::table::ZoneConfig::default(),
            Arc::new(dns_proxy::metrics::Metrics::default()),
        )
        .unwrap(),
    );
    let proxy = tokio::spawn(dns_proxy::source::grpc::run(source, handle.clone()));
    let deadline = tokio::time::Instant::now() + WAIT;
    while !(handle.is_ready() && handle.load().service_count() == 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the DNS proxy never received east's table over mTLS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.abort();

    // West's certificate does not let a client read east's names.
    let mut cfg = ClientConfig::new(format!("https://{addr}"), "east");
    cfg.tls = Some(mesh_proto::client::ClientTls {
        ca_pem: pki.west.ca.clone().into_bytes(),
        cert_pem: pki.west.cert_chain.clone().into_bytes(),
        key_pem: pki.west.key.clone().into_bytes(),
        server_name: Some(SERVER_NAME.into()),
    });
    let (state, _rx) = tokio::sync::watch::channel(ClientState::default());
    let mut table = ClientTable::default();
    let err = tokio::time::timeout(WAIT, watch_once(&cfg, &mut table, &state))
        .await
        .expect("refusal within the wait")
        .expect_err("west's certificate must not be accepted for east");
    assert!(err.is_permanent(), "{err}");
    assert!(table.table.is_none(), "no names were delivered");

    // A server certificate for another name is rejected by the client.
    let mut cfg = ClientConfig::new(format!("https://{addr}"), "east");
    cfg.tls = Some(mesh_proto::client::ClientTls {
        ca_pem: pki.east.ca.clone().into_bytes(),
        cert_pem: pki.east.cert_chain.clone().into_bytes(),
        key_pem: pki.east.key.clone().into_bytes(),
        server_name: Some("someone-else.example".into()),
    });
    let mut table = ClientTable::default();
    let res = tokio::time::timeout(WAIT, watch_once(&cfg, &mut table, &state))
        .await
        .expect("failure within the wait");
    assert!(res.is_err(), "a wrong server name must fail the handshake");

    let _ = stop.send(());
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
