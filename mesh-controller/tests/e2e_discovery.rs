//! ClusterSet discovery end to end: the controller serves each member's name table over gRPC,
//! equal to the ServiceImports and imported EndpointSlices it wrote into that member; every
//! replica serves (the non-leader too); changes arrive as deltas; mTLS admits only a proxy
//! certificate naming the cluster in the configured trust domain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::net::SocketAddr;
use std::time::Duration;

use isthmus_testing::certs::TestCa;
use isthmus_testing::k8s::{apply, list};
use isthmus_testing::mcs::{MCS, export_service, slice};
use isthmus_testing::{Env, eventually, http};
use mesh_controller::discovery::DiscoveryConfig;
use mesh_controller::leader::LeaseConfig;
use mesh_controller::runtime::LeaderMode;
use mesh_proto::client::{self, ClientConfig, ClientError, ClientState, ClientTls};
use mesh_proto::identity::dns_proxy_spiffe_id;
use mesh_proto::mcs::cluster_table;
use mesh_proto::service::ServerTls;
use mesh_proto::table::{ClientTable, Key, NameTable};
use serde_json::json;
use tokio::sync::watch;

const LIMIT: Duration = Duration::from_secs(30);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The name table built from what the controller wrote into cluster `i` (test namespace only).
async fn written_table(env: &Env, i: usize) -> NameTable {
    let mut objects = Vec::new();
    for (av, kind, labels) in [
        (MCS, "ServiceImport", ""),
        (
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "multicluster.kubernetes.io/service-name",
        ),
    ] {
        for mut o in list(&env.clients[i], av, kind, &env.ns, labels).await {
            o["apiVersion"] = json!(av);
            o["kind"] = json!(kind);
            objects.push(o);
        }
    }
    let (table, errors) = cluster_table(&objects);
    assert!(errors.is_empty(), "{errors:?}");
    table
}

/// Only the test namespace's records.
fn in_ns(table: &NameTable, ns: &str) -> NameTable {
    NameTable::from_records(
        table
            .iter()
            .filter(|(k, _)| k.namespace == ns)
            .map(|(_, r)| r.clone()),
    )
    .unwrap()
}

struct Proxy {
    state: watch::Receiver<ClientState>,
    task: tokio::task::JoinHandle<Result<(), ClientError>>,
}

impl Proxy {
    fn start(cfg: ClientConfig) -> Proxy {
        let (tx, rx) = watch::channel(ClientState::default());
        let task = tokio::spawn(client::run(cfg, tx, std::future::pending()));
        Proxy { state: rx, task }
    }

    fn table(&self, ns: &str) -> Option<NameTable> {
        self.state.borrow().table.as_deref().map(|t| in_ns(t, ns))
    }
}

fn plaintext(addr: SocketAddr, cluster: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(format!("http://{addr}"), cluster);
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(500);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_serves_the_tables_the_leader_writes() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    export_service(&env, 1, "web", "ClusterIP", 80).await;
    export_service(&env, 2, "db", "Headless", 5432).await;

    // Two replicas contend for one Lease: one writes, both serve discovery.
    let lease_ns = format!("{}-lease", env.ns);
    apply(
        &env.clients[0],
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": lease_ns}}),
    )
    .await;
    let replica = |id: &str| {
        let id = id.to_owned();
        let lease_ns = lease_ns.clone();
        move |cfg: &mut mesh_controller::runtime::RunConfig| {
            cfg.discovery = Some(DiscoveryConfig::insecure(loopback()));
            let mut lease = LeaseConfig::new(lease_ns, id);
            lease.name = "isthmus-discovery-e2e".into();
            cfg.leader = LeaderMode::Lease {
                kubeconfig: None,
                config: lease,
            };
        }
    };
    let (a, _) = controller::start_with(
        &env,
        Duration::from_secs(60),
        Duration::from_secs(5),
        replica("a"),
    )
    .await;
    let (b, _) = controller::start_with(
        &env,
        Duration::from_secs(60),
        Duration::from_secs(5),
        replica("b"),
    )
    .await;
    let addrs = [a.discovery_addr.unwrap(), b.discovery_addr.unwrap()];
    eventually("one leader", LIMIT, || async {
        (a.is_leader() != b.is_leader())
            .then_some(())
            .ok_or_else(|| "no single leader yet".to_owned())
    })
    .await;

    let cluster = env.names[1].clone();
    let proxies: Vec<Proxy> = addrs
        .iter()
        .map(|addr| Proxy::start(plaintext(*addr, &cluster)))
        .collect();
    let check = || async {
        let written = written_table(&env, 1).await;
        if written.get(&Key::new(&env.ns, "web")).is_none()
            || written.get(&Key::new(&env.ns, "db")).is_none()
        {
            return Err("imports not written yet".to_owned());
        }
        let web = written.get(&Key::new(&env.ns, "web")).unwrap();
        if web.clusters.len() != 2 || web.ips.is_empty() {
            return Err(format!("web not complete yet: {web:?}"));
        }
        for (k, p) in proxies.iter().enumerate() {
            let got = p.table(&env.ns);
            if got.as_ref() != Some(&written) {
                return Err(format!(
                    "replica {k}: proxy table {got:?} != written {written:?}"
                ));
            }
        }
        Ok(written)
    };
    let written = eventually("proxies see the written imports", LIMIT, check).await;
    let db = written.get(&Key::new(&env.ns, "db")).unwrap();
    assert!(db.ips.is_empty());
    assert_eq!(db.clusters[0].cluster, env.names[2]);
    assert_eq!(db.clusters[0].endpoints[0].hostname, "db-0");

    // A new endpoint arrives as a delta, not a new snapshot.
    apply(
        &env.clients[2],
        slice(&env.ns, "db", "c2", &["10.3.0.10", "10.3.0.11"], 5432, true),
    )
    .await;
    eventually("the new endpoint reaches both proxies", LIMIT, || async {
        let written = written_table(&env, 1).await;
        let n = written
            .get(&Key::new(&env.ns, "db"))
            .map_or(0, |r| r.clusters[0].endpoints.len());
        if n != 2 {
            return Err(format!("{n} endpoints written"));
        }
        for p in &proxies {
            if p.table(&env.ns).as_ref() != Some(&written) {
                return Err("a proxy is behind".to_owned());
            }
        }
        Ok(())
    })
    .await;
    for p in &proxies {
        let st = p.state.borrow().clone();
        assert_eq!(st.snapshots, 1, "{st:?}");
        assert!(st.deltas >= 1, "{st:?}");
    }

    // The metrics count the connected proxies per member.
    let (code, body) = http::get(a.metrics_addr.unwrap(), "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        body.contains(&format!(
            "isthmus_discovery_connected_proxies{{cluster=\"{cluster}\"}} 1"
        )),
        "{body}"
    );
    assert!(
        body.contains("isthmus_discovery_snapshots_sent_total 1"),
        "{body}"
    );
    assert!(body.contains("isthmus_discovery_publish_duration_seconds_count"));

    for p in proxies {
        p.task.abort();
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_admits_only_the_clusters_proxy_in_the_trust_domain() {
    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    let pki = TestCa::new("clusterset root");
    let server = pki.server(&["localhost"]);
    let tls = ServerTls {
        cert_pem: server.cert_pem.into_bytes(),
        key_pem: server.key_pem.into_bytes(),
        client_ca_pem: pki.root_pem.clone().into_bytes(),
    };
    let (ctl, _) = controller::start_with(
        &env,
        Duration::from_secs(60),
        Duration::from_secs(5),
        |cfg| {
            let mut d = DiscoveryConfig::insecure(loopback());
            d.tls = Some(tls);
            d.trust_domain = "example.org".into();
            cfg.discovery = Some(d);
        },
    )
    .await;
    let addr = ctl.discovery_addr.unwrap();
    let cluster = env.names[1].clone();
    let client_cfg = |uri: String| {
        let leaf = pki.client(&uri);
        let mut cfg = ClientConfig::new(format!("https://localhost:{}", addr.port()), &cluster);
        cfg.tls = Some(ClientTls {
            ca_pem: pki.root_pem.clone().into_bytes(),
            cert_pem: leaf.cert_pem.into_bytes(),
            key_pem: leaf.key_pem.into_bytes(),
            server_name: Some("localhost".into()),
        });
        cfg.backoff_initial = Duration::from_millis(50);
        cfg.backoff_max = Duration::from_millis(500);
        cfg
    };

    // The proxy of this cluster in this trust domain gets its table.
    let good = Proxy::start(client_cfg(dns_proxy_spiffe_id("example.org", &cluster)));
    eventually("the TLS proxy gets the table", LIMIT, || async {
        let written = written_table(&env, 1).await;
        if written.is_empty() {
            return Err("nothing written yet".to_owned());
        }
        (good.table(&env.ns).as_ref() == Some(&written))
            .then_some(())
            .ok_or_else(|| "proxy table differs".to_owned())
    })
    .await;

    // Another trust domain, or another cluster's identity, is refused for good.
    for uri in [
        dns_proxy_spiffe_id("cluster.local", &cluster),
        dns_proxy_spiffe_id("example.org", &env.names[0]),
    ] {
        let mut table = ClientTable::default();
        let (tx, _rx) = watch::channel(ClientState::default());
        let err = tokio::time::timeout(
            LIMIT,
            client::watch_once(&client_cfg(uri.clone()), &mut table, &tx),
        )
        .await
        .expect("refusal within the limit")
        .unwrap_err();
        assert!(err.is_permanent(), "{uri}: {err}");
        let ClientError::Refused(status) = err else {
            panic!("{uri}: not refused")
        };
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{uri}");
    }
    good.task.abort();
    ctl.shutdown().await;
}

/// Without discovery settings nothing is served and no discovery series is exported.
#[tokio::test]
async fn without_discovery_nothing_is_served() {
    let env = Env::new(1).await;
    let (ctl, _) = controller::start(&env, Duration::from_secs(60), Duration::from_secs(5)).await;
    assert!(ctl.discovery_addr.is_none());
    assert!(ctl.publisher.is_none());
    let (_, body) = http::get(ctl.metrics_addr.unwrap(), "/metrics").await;
    assert!(!body.contains("isthmus_discovery_connected_proxies"));
    ctl.shutdown().await;
}
