//! The discovery API over real gRPC on 127.0.0.1: snapshot and deltas, resume after a cut,
//! a new snapshot after a server restart, and mTLS authorization by cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use isthmus_testing::certs::TestCa;
use mesh_proto::client::{self, ClientConfig, ClientError, ClientState, ClientTls};
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::service::{ServerTls, serve};
use mesh_proto::table::{ClientTable, Key, NameTable};
use mesh_proto::v1::{ServiceKey, ServiceRecord, ServiceType};
use tokio::sync::{oneshot, watch};

fn record(name: &str, ip: &str) -> ServiceRecord {
    ServiceRecord {
        key: Some(ServiceKey {
            namespace: "shop".into(),
            name: name.into(),
        }),
        r#type: ServiceType::ClusterSetIp as i32,
        ips: vec![ip.into()],
        ports: vec![],
        clusters: vec![],
    }
}

fn table(entries: &[(&str, &str)]) -> NameTable {
    NameTable::from_records(entries.iter().map(|(n, ip)| record(n, ip))).unwrap()
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(publisher: Arc<Publisher>, addr: SocketAddr, tls: Option<ServerTls>) -> Server {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(
                publisher,
                listener,
                tls,
                Duration::from_millis(200),
                async {
                    let _ = rx.await;
                },
            )
            .await
            .unwrap();
        });
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let stopped = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        assert!(stopped.is_ok(), "server did not shut down");
    }
}

fn config(url: String, cluster: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, cluster);
    cfg.backoff_initial = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg.idle_timeout = Duration::from_secs(2);
    cfg
}

async fn wait_for(
    rx: &mut watch::Receiver<ClientState>,
    what: &str,
    pred: impl Fn(&ClientState) -> bool,
) {
    let result = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| pred(s))).await;
    assert!(matches!(result, Ok(Ok(_))), "timed out waiting for {what}");
}

fn ip_of(state: &ClientState, name: &str) -> Option<String> {
    state
        .current()?
        .get(&Key::new("shop", name))
        .map(|r| r.ips[0].clone())
}

#[tokio::test]
async fn snapshot_deltas_resume_and_restart() {
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", table(&[("web", "242.0.0.1")]));
    let server = Server::start(publisher.clone(), "127.0.0.1:0".parse().unwrap(), None).await;
    let addr = server.addr;

    let (tx, mut rx) = watch::channel(ClientState::default());
    let (stop_client, stop_rx) = oneshot::channel::<()>();
    let cfg = config(format!("http://{addr}"), "east");
    let client_task = tokio::spawn(client::run(cfg, tx, async {
        let _ = stop_rx.await;
    }));

    wait_for(&mut rx, "snapshot", |s| {
        ip_of(s, "web").as_deref() == Some("242.0.0.1")
    })
    .await;
    publisher.publish("east", table(&[("web", "242.0.0.1"), ("db", "242.0.0.2")]));
    wait_for(&mut rx, "delta", |s| ip_of(s, "db").is_some()).await;
    assert_eq!(rx.borrow().snapshots, 1);
    assert!(rx.borrow().deltas >= 1);

    // Network cut: the server goes away, the client keeps its table; changes made meanwhile
    // arrive as deltas once it resumes.
    server.stop().await;
    wait_for(&mut rx, "disconnect", |s| !s.connected).await;
    assert_eq!(ip_of(&rx.borrow(), "db").as_deref(), Some("242.0.0.2"));
    publisher.publish("east", table(&[("web", "242.0.0.9"), ("db", "242.0.0.2")]));
    let server = Server::start(publisher.clone(), addr, None).await;
    wait_for(&mut rx, "resumed delta", |s| {
        ip_of(s, "web").as_deref() == Some("242.0.0.9")
    })
    .await;
    assert_eq!(
        rx.borrow().snapshots,
        1,
        "a resume must not resend the snapshot"
    );
    server.stop().await;

    // A restarted controller has a new epoch: the client takes a fresh snapshot.
    let restarted = Arc::new(Publisher::new(PublisherConfig::default()));
    restarted.publish("east", table(&[("api", "242.0.0.7")]));
    let server = Server::start(restarted, addr, None).await;
    wait_for(&mut rx, "new snapshot", |s| {
        ip_of(s, "api").is_some() && ip_of(s, "web").is_none()
    })
    .await;
    assert_eq!(rx.borrow().snapshots, 2);

    let _ = stop_client.send(());
    client_task.await.unwrap().unwrap();
    server.stop().await;
}

#[tokio::test]
async fn requests_are_validated_with_precise_codes() {
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    let server = Server::start(publisher.clone(), "127.0.0.1:0".parse().unwrap(), None).await;
    let url = format!("http://{}", server.addr);
    let (tx, _rx) = watch::channel(ClientState::default());

    // Before the first view is built the server is unavailable (retryable).
    match client::watch_once(
        &config(url.clone(), "east"),
        &mut ClientTable::default(),
        &tx,
    )
    .await
    {
        Err(ClientError::Refused(s)) => assert_eq!(s.code(), tonic::Code::Unavailable),
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
    publisher.publish("east", NameTable::new());
    match client::watch_once(
        &config(url.clone(), "west"),
        &mut ClientTable::default(),
        &tx,
    )
    .await
    {
        Err(ClientError::Refused(s)) => assert_eq!(s.code(), tonic::Code::NotFound),
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
    let err = client::watch_once(
        &config(url.clone(), "Not_A_Label"),
        &mut ClientTable::default(),
        &tx,
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, ClientError::Refused(s) if s.code() == tonic::Code::InvalidArgument));
    assert!(err.is_permanent());
    server.stop().await;
}

fn pki() -> TestCa {
    TestCa::new("test root")
}

fn client_tls(pki: &TestCa, ca_pem: &str, cluster: &str) -> ClientTls {
    let leaf = pki.client(&mesh_proto::identity::dns_proxy_spiffe_id(
        "cluster.local",
        cluster,
    ));
    ClientTls {
        ca_pem: ca_pem.as_bytes().to_vec(),
        cert_pem: leaf.cert_pem.into_bytes(),
        key_pem: leaf.key_pem.into_bytes(),
        server_name: Some("discovery.isthmus.test".into()),
    }
}

#[tokio::test]
async fn mtls_serves_only_the_cluster_named_in_the_certificate() {
    let pki = pki();
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", table(&[("web", "242.0.0.1")]));
    publisher.publish("west", table(&[("web", "242.0.0.1")]));
    let server = pki.server(&["discovery.isthmus.test"]);
    let tls = ServerTls {
        cert_pem: server.cert_pem.into_bytes(),
        key_pem: server.key_pem.into_bytes(),
        client_ca_pem: pki.root_pem.clone().into_bytes(),
    };
    let server = Server::start(publisher, "127.0.0.1:0".parse().unwrap(), Some(tls)).await;
    let url = format!("https://{}", server.addr);

    // The right certificate gets its cluster's snapshot.
    let mut cfg = config(url.clone(), "east");
    cfg.tls = Some(client_tls(&pki, &pki.root_pem, "east"));
    let (tx, mut rx) = watch::channel(ClientState::default());
    let task =
        tokio::spawn(
            async move { client::watch_once(&cfg, &mut ClientTable::default(), &tx).await },
        );
    wait_for(&mut rx, "mTLS snapshot", |s| ip_of(s, "web").is_some()).await;
    task.abort();

    // A certificate for east asking for west's view is refused.
    let mut cfg = config(url.clone(), "west");
    cfg.tls = Some(client_tls(&pki, &pki.root_pem, "east"));
    let (tx, _rx) = watch::channel(ClientState::default());
    let err = client::watch_once(&cfg, &mut ClientTable::default(), &tx)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Refused(s) if s.code() == tonic::Code::PermissionDenied),
        "{err:?}"
    );

    // A client certificate from a foreign root fails the handshake.
    let foreign = pki_foreign_client();
    let mut cfg = config(url.clone(), "east");
    cfg.tls = Some(ClientTls {
        ca_pem: pki.root_pem.clone().into_bytes(),
        ..foreign
    });
    let (tx, rx) = watch::channel(ClientState::default());
    assert!(
        client::watch_once(&cfg, &mut ClientTable::default(), &tx)
            .await
            .is_err()
    );
    assert!(rx.borrow().current().is_none());
    server.stop().await;
}

fn pki_foreign_client() -> ClientTls {
    let other = pki();
    client_tls(&other, &other.root_pem, "east")
}
