//! End to end with `--source grpc:`: a real discovery server (`mesh_proto` publisher and tonic
//! service on 127.0.0.1 port 0) in the test, the real `dns-proxy` binary as its client, and DNS
//! questions over UDP. Covers the first snapshot, live deltas, serving the last table while
//! the server is down, resuming after it returns, mTLS, and a certificate for another cluster
//! being refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use isthmus_testing::certs::TestCa;
use isthmus_testing::dns::{ask_blocking, query};
use isthmus_testing::eventually_blocking;
use isthmus_testing::http::get_blocking as http_get;
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::service::{ServerTls, serve};
use mesh_proto::table::NameTable;
use mesh_proto::v1;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(30);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A discovery server that can be stopped and started again on the same address.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    fn start(
        rt: &Runtime,
        publisher: Arc<Publisher>,
        addr: SocketAddr,
        tls: Option<ServerTls>,
    ) -> Server {
        // The old port may take a moment to be free again after a stop.
        let listener = rt.block_on(isthmus_testing::eventually(
            &format!("binding {addr}"),
            WAIT,
            || async move {
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| e.to_string())
            },
        ));
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = rt.spawn(async move {
            serve(
                publisher,
                listener,
                tls,
                Duration::from_millis(500),
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

    fn stop(mut self, rt: &Runtime) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let done = rt.block_on(async { tokio::time::timeout(WAIT, &mut self.task).await });
        assert!(done.is_ok(), "discovery server did not shut down");
    }
}

/// The proxy process, its addresses and everything it wrote to stderr.
struct Proxy {
    child: Child,
    dns: SocketAddr,
    http: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(args: &[String]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--no-forward",
                "--grpc-backoff-max-ms",
                "400",
                "--poll-interval-ms",
                "100",
            ])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dns-proxy");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("dns-proxy: {line}");
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let (mut dns, mut http) = (None, None);
        while dns.is_none() || http.is_none() {
            let line = match lines.next() {
                Some(Ok(l)) => l,
                _ => panic!("dns-proxy exited before listening: {}", log.lock().unwrap()),
            };
            if let Some(a) = line.strip_prefix("listening dns udp ") {
                dns = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("listening http ") {
                http = Some(a.parse().unwrap());
            }
        }
        Proxy {
            child,
            dns: dns.unwrap(),
            http: http.unwrap(),
            log,
        }
    }

    fn ready(&self) -> bool {
        http_get(self.http, "/readyz").0 == 200
    }

    fn metrics(&self) -> String {
        http_get(self.http, "/metrics").1
    }

    fn ask(&self, name: &str, t: RecordType) -> Message {
        ask_blocking(
            self.dns,
            &query(name, t, Some(1232)),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    /// The sorted A/AAAA addresses of `name`, or `None` when it is not NOERROR.
    fn addresses(&self, name: &str, t: RecordType) -> Option<Vec<String>> {
        let m = self.ask(name, t);
        if m.metadata.response_code != ResponseCode::NoError {
            return None;
        }
        let mut v: Vec<String> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0.to_string()),
                RData::AAAA(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect();
        v.sort();
        Some(v)
    }

    /// Waits until `ok` holds; the failure shows the proxy's log.
    fn wait_until(&self, what: &str, mut ok: impl FnMut(&Proxy) -> bool) {
        eventually_blocking(what, WAIT, || {
            if ok(self) {
                Ok(())
            } else {
                Err(format!("log:\n{}", self.log.lock().unwrap()))
            }
        });
    }

    fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().contains(needle)
    }
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn record(name: &str, ips: &[&str]) -> v1::ServiceRecord {
    v1::ServiceRecord {
        key: Some(v1::ServiceKey {
            namespace: "shop".into(),
            name: name.into(),
        }),
        r#type: v1::ServiceType::ClusterSetIp as i32,
        ips: ips.iter().map(|s| s.to_string()).collect(),
        ports: vec![v1::Port {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
        }],
        clusters: vec![],
    }
}

fn headless_db() -> v1::ServiceRecord {
    v1::ServiceRecord {
        key: Some(v1::ServiceKey {
            namespace: "shop".into(),
            name: "db".into(),
        }),
        r#type: v1::ServiceType::Headless as i32,
        ips: vec![],
        ports: vec![v1::Port {
            name: "pg".into(),
            protocol: "TCP".into(),
            port: 5432,
        }],
        clusters: vec![
            v1::ClusterEndpoints {
                cluster: "east".into(),
                endpoints: vec![
                    v1::Endpoint {
                        addresses: vec!["10.1.0.1".into()],
                        hostname: "db-0".into(),
                        ready: true,
                    },
                    v1::Endpoint {
                        addresses: vec!["10.1.0.2".into()],
                        hostname: "db-1".into(),
                        ready: false,
                    },
                ],
                ports: vec![],
            },
            v1::ClusterEndpoints {
                cluster: "west".into(),
                endpoints: vec![v1::Endpoint {
                    addresses: vec!["fd00:2::7".into()],
                    hostname: String::new(),
                    ready: true,
                }],
                ports: vec![],
            },
        ],
    }
}

fn table(records: Vec<v1::ServiceRecord>) -> NameTable {
    NameTable::from_records(records).unwrap()
}

const WEB: &str = "web.shop.svc.clusterset.local";

#[test]
fn grpc_source_follows_the_stream_and_keeps_its_table_while_disconnected() {
    let rt = runtime();
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    let server = Server::start(&rt, publisher.clone(), "127.0.0.1:0".parse().unwrap(), None);
    let addr = server.addr;
    let p = Proxy::start(&[
        "--source".into(),
        format!("grpc:http://{addr}"),
        "--insecure".into(),
        "--cluster".into(),
        "east".into(),
    ]);

    // The server has no view yet: the proxy is up but not ready, and in-zone names SERVFAIL.
    p.wait_until("a refused first attempt", |p| {
        metric(&p.metrics(), "dns_proxy_grpc_reconnects_total").is_some_and(|v| v >= 1.0)
    });
    assert!(!p.ready());
    assert_eq!(
        p.ask(WEB, RecordType::A).metadata.response_code,
        ResponseCode::ServFail
    );

    // The first snapshot makes it ready and answerable.
    publisher.publish(
        "east",
        table(vec![record("web", &["242.0.0.10"]), headless_db()]),
    );
    // Another cluster's view is not this proxy's.
    publisher.publish("west", table(vec![record("only-west", &["242.0.0.50"])]));
    p.wait_until("readiness", Proxy::ready);
    assert_eq!(
        p.addresses(WEB, RecordType::A),
        Some(vec!["242.0.0.10".into()])
    );
    assert_eq!(
        p.addresses("db.shop.svc.clusterset.local", RecordType::A),
        Some(vec!["10.1.0.1".into()])
    );
    assert_eq!(
        p.addresses("db.shop.svc.clusterset.local", RecordType::AAAA),
        Some(vec!["fd00:2::7".into()])
    );
    assert_eq!(
        p.addresses("db-0.east.db.shop.svc.clusterset.local", RecordType::A),
        Some(vec!["10.1.0.1".into()])
    );
    assert_eq!(
        p.addresses(
            "fd00-2--7.west.db.shop.svc.clusterset.local",
            RecordType::AAAA
        ),
        Some(vec!["fd00:2::7".into()])
    );
    assert_eq!(
        p.ask("only-west.shop.svc.clusterset.local", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    let srv = p.ask("_http._tcp.web.shop.svc.clusterset.local", RecordType::SRV);
    let targets: BTreeSet<String> = srv
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some(format!("{} {}", s.port, s.target)),
            _ => None,
        })
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from(["80 web.shop.svc.clusterset.local.".to_string()])
    );

    // A change arrives as a delta and is answered; a malformed record is skipped, the rest
    // stays.
    let mut bad = record("bad", &["not-an-ip"]);
    bad.ips.push("242.0.0.1".into());
    publisher.publish(
        "east",
        table(vec![
            record("web", &["242.0.0.11", "fd00:242::11"]),
            headless_db(),
            record("api", &["242.0.0.20"]),
            bad,
        ]),
    );
    p.wait_until("the delta", |p| {
        p.addresses(WEB, RecordType::A) == Some(vec!["242.0.0.11".into()])
    });
    assert_eq!(
        p.addresses(WEB, RecordType::AAAA),
        Some(vec!["fd00:242::11".into()])
    );
    assert_eq!(
        p.addresses("api.shop.svc.clusterset.local", RecordType::A),
        Some(vec!["242.0.0.20".into()])
    );
    assert_eq!(
        p.ask("bad.shop.svc.clusterset.local", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    p.wait_until("the skipped record in the log", |p| {
        p.log_contains("skipping malformed service record") && p.log_contains("shop/bad")
    });
    let m = p.metrics();
    assert_eq!(metric(&m, "dns_proxy_grpc_connected"), Some(1.0), "{m}");
    assert_eq!(
        metric(&m, "dns_proxy_grpc_snapshots_total"),
        Some(1.0),
        "{m}"
    );
    assert!(
        metric(&m, "dns_proxy_grpc_deltas_total").is_some_and(|v| v >= 1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "dns_proxy_grpc_skipped_records"),
        Some(1.0),
        "{m}"
    );
    assert!(
        metric(&m, "dns_proxy_grpc_table_age_seconds").is_some_and(|v| v >= 0.0),
        "{m}"
    );

    // The server goes away: the proxy notices, stays ready and keeps answering its last table.
    server.stop(&rt);
    p.wait_until("the disconnect", |p| {
        metric(&p.metrics(), "dns_proxy_grpc_connected") == Some(0.0)
    });
    p.wait_until("the disconnect log", |p| {
        p.log_contains("discovery stream disconnected; serving the last table")
            && p.log_contains("table_age_s")
    });
    assert!(p.ready());
    assert_eq!(
        p.addresses(WEB, RecordType::A),
        Some(vec!["242.0.0.11".into()])
    );
    let before = metric(&p.metrics(), "dns_proxy_grpc_reconnects_total").unwrap();

    // Changes made meanwhile arrive once the server is back, as a resumed delta (no second
    // snapshot).
    publisher.publish(
        "east",
        table(vec![
            record("web", &["242.0.0.12"]),
            record("api", &["242.0.0.20"]),
        ]),
    );
    let server = Server::start(&rt, publisher.clone(), addr, None);
    p.wait_until("the resumed stream", |p| {
        p.addresses(WEB, RecordType::A) == Some(vec!["242.0.0.12".into()])
    });
    assert_eq!(
        p.ask("db.shop.svc.clusterset.local", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    // The metrics are updated right after the table: wait for them rather than race them. At
    // least the refused first attempt and the server stop ended a connection attempt.
    p.wait_until("the reconnect in the metrics", |p| {
        let m = p.metrics();
        metric(&m, "dns_proxy_grpc_connected") == Some(1.0)
            && metric(&m, "dns_proxy_grpc_reconnects_total")
                .is_some_and(|v| v >= before && v >= 2.0)
    });
    let m = p.metrics();
    assert_eq!(
        metric(&m, "dns_proxy_grpc_snapshots_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "dns_proxy_grpc_skipped_records"),
        Some(0.0),
        "{m}"
    );
    assert!(p.log_contains("discovery stream connected"));
    server.stop(&rt);
}

fn pki() -> TestCa {
    TestCa::new("clusterset test root")
}

/// Writes ca.pem, proxy.pem and proxy-key.pem for a client certificate naming `cluster`.
fn write_client_files(pki: &TestCa, dir: &Path, cluster: &str) {
    let id = mesh_proto::identity::dns_proxy_spiffe_id("cluster.local", cluster);
    std::fs::write(dir.join("ca.pem"), &pki.root_pem).unwrap();
    pki.client(&id).write(dir, "proxy.pem", "proxy-key.pem");
}

fn server_tls(pki: &TestCa) -> ServerTls {
    let server = pki.server(&["discovery.isthmus.test"]);
    ServerTls {
        cert_pem: server.cert_pem.into_bytes(),
        key_pem: server.key_pem.into_bytes(),
        client_ca_pem: pki.root_pem.clone().into_bytes(),
    }
}

fn tls_args(addr: SocketAddr, dir: &Path) -> Vec<String> {
    let f = |n: &str| dir.join(n).display().to_string();
    vec![
        "--source".into(),
        format!("grpc:https://{addr}"),
        "--cluster".into(),
        "east".into(),
        "--grpc-ca".into(),
        f("ca.pem"),
        "--grpc-cert".into(),
        f("proxy.pem"),
        "--grpc-key".into(),
        f("proxy-key.pem"),
        "--grpc-server-name".into(),
        "discovery.isthmus.test".into(),
    ]
}

#[test]
fn grpc_source_over_mutual_tls() {
    let rt = runtime();
    let pki = pki();
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", table(vec![record("web", &["242.0.0.10"])]));
    let server = Server::start(
        &rt,
        publisher.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Some(server_tls(&pki)),
    );
    let dir = tempfile::tempdir().unwrap();
    write_client_files(&pki, dir.path(), "east");
    let p = Proxy::start(&tls_args(server.addr, dir.path()));
    p.wait_until("readiness over mTLS", Proxy::ready);
    assert_eq!(
        p.addresses(WEB, RecordType::A),
        Some(vec!["242.0.0.10".into()])
    );
    publisher.publish("east", table(vec![record("web", &["242.0.0.13"])]));
    p.wait_until("the delta over mTLS", |p| {
        p.addresses(WEB, RecordType::A) == Some(vec!["242.0.0.13".into()])
    });

    // A rotated certificate (new key, same cluster) is picked up without a restart: the proxy
    // reconnects with it, takes a fresh snapshot and keeps answering throughout.
    write_client_files(&pki, dir.path(), "east");
    p.wait_until("the reconnect with the rotated certificate", |p| {
        p.log_contains("TLS files changed; reconnecting with them")
            && metric(&p.metrics(), "dns_proxy_grpc_snapshots_total") == Some(2.0)
    });
    assert!(p.ready());
    publisher.publish("east", table(vec![record("web", &["242.0.0.14"])]));
    p.wait_until("a delta after the rotation", |p| {
        p.addresses(WEB, RecordType::A) == Some(vec!["242.0.0.14".into()])
    });
    server.stop(&rt);
}

#[test]
fn a_client_certificate_for_another_cluster_is_refused() {
    let rt = runtime();
    let pki = pki();
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", table(vec![record("web", &["242.0.0.10"])]));
    publisher.publish("west", table(vec![record("web", &["242.0.0.10"])]));
    let server = Server::start(
        &rt,
        publisher.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Some(server_tls(&pki)),
    );
    let dir = tempfile::tempdir().unwrap();
    // The proxy serves east but holds west's certificate.
    write_client_files(&pki, dir.path(), "west");
    let p = Proxy::start(&tls_args(server.addr, dir.path()));
    p.wait_until("the refusal in the log", |p| {
        p.log_contains("discovery server refused this proxy")
            && p.log_contains("does not have permission")
            && p.log_contains("client certificate is for")
    });
    assert!(p.log_contains("client certificate names other clusters"));
    assert!(!p.ready(), "a refused proxy must not become ready");
    assert_eq!(
        p.ask(WEB, RecordType::A).metadata.response_code,
        ResponseCode::ServFail
    );
    let m = p.metrics();
    assert_eq!(metric(&m, "dns_proxy_grpc_connected"), Some(0.0), "{m}");
    assert_eq!(
        metric(&m, "dns_proxy_grpc_snapshots_total"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(metric(&m, "dns_proxy_grpc_table_age_seconds"), None, "{m}");

    // Replacing the certificate with the right one heals it without a restart.
    write_client_files(&pki, dir.path(), "east");
    p.wait_until("readiness with the new certificate", Proxy::ready);
    assert_eq!(
        p.addresses(WEB, RecordType::A),
        Some(vec!["242.0.0.10".into()])
    );
    server.stop(&rt);
}
