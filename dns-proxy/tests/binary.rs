//! Binary-level tests: the real `dns-proxy` process on 127.0.0.1 port 0, queried with dig,
//! kdig, a forwarding unbound, and a small in-test client and upstream server. The tests that
//! run dig, kdig or unbound need them installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use isthmus_testing::dns::{self, query};
use isthmus_testing::eventually_blocking;
use isthmus_testing::http::get_blocking as http_get;

struct Proxy {
    child: Child,
    dns: SocketAddr,
    http: SocketAddr,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[String]) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dns-proxy");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut dns, mut http) = (None, None);
    while dns.is_none() || http.is_none() {
        let line = lines
            .next()
            .expect("dns-proxy exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("listening dns udp ") {
            dns = Some(a.parse().unwrap());
        } else if let Some(a) = line.strip_prefix("listening http ") {
            http = Some(a.parse().unwrap());
        }
    }
    let p = Proxy {
        child,
        dns: dns.unwrap(),
        http: http.unwrap(),
    };
    eventually_blocking(
        "dns-proxy ready",
        Duration::from_secs(20),
        || match http_get(p.http, "/readyz") {
            (200, _) => Ok(()),
            (code, body) => Err(format!("/readyz: {code} {body}")),
        },
    );
    p
}

fn file_args(path: &Path) -> Vec<String> {
    vec![
        "--source".into(),
        format!("file:{}", path.display()),
        "--poll-interval-ms".into(),
        "100".into(),
    ]
}

fn udp_ask(server: SocketAddr, pkt: &[u8]) -> Message {
    dns::ask_blocking(server, pkt, Duration::from_secs(10)).unwrap()
}

/// dig's stdout and stderr; fails when dig is not installed.
fn dig(args: &[&str]) -> String {
    let out = Command::new(isthmus_testing::require("dig"))
        .args(args)
        .output()
        .expect("run dig");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn sorted_short(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn fixture_copy(dir: &Path) -> PathBuf {
    let p = dir.join("clusterset.yaml");
    std::fs::copy(common::FIXTURE, &p).unwrap();
    p
}

fn big_yaml(n: usize) -> String {
    let mut s = String::from(
        "apiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: big, namespace: shop}\nspec:\n  type: Headless\n  ports: [{name: http, protocol: TCP, port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-east\n  namespace: shop\n  labels: {multicluster.kubernetes.io/service-name: big, multicluster.kubernetes.io/source-cluster: east}\naddressType: IPv4\nendpoints:\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  - {{addresses: [10.9.{}.{}], hostname: pod-{i}}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    s
}

#[test]
#[ignore = "needs dig and kdig"]
fn dig_and_kdig_over_udp_and_tcp() {
    let kdig = isthmus_testing::require("kdig");
    let dir = tempfile::tempdir().unwrap();
    let p = start(&file_args(&fixture_copy(dir.path())));
    let port = p.dns.port().to_string();
    let at = "@127.0.0.1";
    for tcp in ["+notcp", "+tcp"] {
        let out = dig(&[
            at,
            "-p",
            &port,
            tcp,
            "+short",
            "web.shop.svc.clusterset.local",
            "A",
        ]);
        assert_eq!(sorted_short(&out), ["242.0.0.10"], "{tcp}: {out}");
        let out = dig(&[
            at,
            "-p",
            &port,
            tcp,
            "+short",
            "db.shop.svc.clusterset.local",
            "SRV",
        ]);
        assert_eq!(sorted_short(&out).len(), 3, "{tcp}: {out}");
        let out = dig(&[
            at,
            "-p",
            &port,
            tcp,
            "+short",
            "_http._tcp.web.shop.svc.clusterset.local",
            "SRV",
        ]);
        assert_eq!(
            sorted_short(&out),
            ["0 50 80 web.shop.svc.clusterset.local."],
            "{out}"
        );
        let out = dig(&[
            at,
            "-p",
            &port,
            tcp,
            "+short",
            "dns-version.clusterset.local",
            "TXT",
        ]);
        assert_eq!(sorted_short(&out), ["\"1.0.0\""]);
        let out = dig(&[at, "-p", &port, tcp, "nope.shop.svc.clusterset.local", "A"]);
        assert!(
            out.contains("status: NXDOMAIN") && out.contains("flags: qr aa"),
            "{out}"
        );
        assert!(out.contains("clusterset.local.\t5\tIN\tSOA"), "{out}");
        let out = dig(&[at, "-p", &port, tcp, "shop.svc.clusterset.local", "A"]);
        assert!(
            out.contains("status: NOERROR") && out.contains("ANSWER: 0"),
            "{out}"
        );
    }
    for tcp in ["+notcp", "+tcp"] {
        let out = Command::new(&kdig)
            .args([
                at,
                "-p",
                &port,
                tcp,
                "+short",
                "db.shop.svc.clusterset.local",
                "A",
            ])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            sorted_short(&out),
            ["10.1.0.1", "10.1.0.2", "10.2.0.7"],
            "{tcp}: {out}"
        );
        let out = Command::new(&kdig)
            .args([
                at,
                "-p",
                &port,
                tcp,
                "+short",
                "db-0.east.db.shop.svc.clusterset.local",
                "A",
            ])
            .output()
            .unwrap();
        assert_eq!(
            sorted_short(&String::from_utf8_lossy(&out.stdout)),
            ["10.1.0.1"]
        );
    }
}

#[test]
#[ignore = "needs dig"]
fn dig_retries_truncated_answers_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.yaml");
    std::fs::write(&f, big_yaml(200)).unwrap();
    let p = start(&file_args(&f));
    let port = p.dns.port().to_string();
    let out = dig(&[
        "@127.0.0.1",
        "-p",
        &port,
        "big.shop.svc.clusterset.local",
        "A",
    ]);
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(out.contains("ANSWER: 200"), "{out}");
    let out = dig(&[
        "@127.0.0.1",
        "-p",
        &port,
        "+noedns",
        "+short",
        "big.shop.svc.clusterset.local",
        "SRV",
    ]);
    assert_eq!(sorted_short(&out).len(), 200);
    // The raw UDP answer is truncated and empty.
    let m = udp_ask(
        p.dns,
        &query("big.shop.svc.clusterset.local.", RecordType::A, None),
    );
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
}

/// A tiny upstream: answers every A question with 192.0.2.53 over UDP and TCP and records
/// the raw queries it received.
struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn upstream_answer(q: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(q).ok()?;
    let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.iter().cloned());
    if let Some(qq) = req.queries.first() {
        resp.add_answer(Record::from_rdata(
            qq.name().clone(),
            60,
            RData::A(A([192, 0, 2, 53].into())),
        ));
    }
    resp.to_vec().ok()
}

fn start_upstream() -> Upstream {
    // The same port for UDP and TCP: retry when the TCP side of the chosen port is taken.
    let (udp, tcp, addr) = (0..20)
        .find_map(|_| {
            let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
            let addr = udp.local_addr().ok()?;
            let tcp = std::net::TcpListener::bind(addr).ok()?;
            Some((udp, tcp, addr))
        })
        .expect("a port free for both UDP and TCP");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, peer)) = udp.recv_from(&mut buf) {
            s2.lock().unwrap().push(buf[..n].to_vec());
            if let Some(r) = upstream_answer(&buf[..n]) {
                let _ = udp.send_to(&r, peer);
            }
        }
    });
    let s3 = seen.clone();
    std::thread::spawn(move || {
        for mut c in tcp.incoming().flatten() {
            let mut len = [0u8; 2];
            if c.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
            if c.read_exact(&mut q).is_err() {
                continue;
            }
            s3.lock().unwrap().push(q.clone());
            if let Some(r) = upstream_answer(&q) {
                let mut m = (r.len() as u16).to_be_bytes().to_vec();
                m.extend_from_slice(&r);
                let _ = c.write_all(&m);
            }
        }
    });
    Upstream { addr, seen }
}

#[test]
fn forwards_other_names_unchanged_and_relays_the_answer() {
    let up = start_upstream();
    let dir = tempfile::tempdir().unwrap();
    let mut args = file_args(&fixture_copy(dir.path()));
    args.extend(["--upstream".into(), up.addr.to_string()]);
    let p = start(&args);
    let mut pkt = query("www.example.com.", RecordType::A, Some(1232));
    pkt[0] = 0xBE;
    pkt[1] = 0xEF;
    let m = udp_ask(p.dns, &pkt);
    assert_eq!(m.metadata.id, 0xBEEF);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers[0].data.to_string(), "192.0.2.53");
    assert!(
        up.seen.lock().unwrap().iter().any(|q| q == &pkt),
        "the raw query reached the upstream unchanged"
    );
    // In-zone names are never forwarded.
    let before = up.seen.lock().unwrap().len();
    let m = udp_ask(
        p.dns,
        &query("web.shop.svc.clusterset.local.", RecordType::A, None),
    );
    assert_eq!(m.answers[0].data.to_string(), "242.0.0.10");
    assert_eq!(up.seen.lock().unwrap().len(), before);
    let (_, metrics) = http_get(p.http, "/metrics");
    assert!(
        metrics.contains("dns_proxy_forwarded_queries_total"),
        "{metrics}"
    );
}

#[test]
#[ignore = "needs dig"]
fn dig_gets_forwarded_answers_over_udp_and_tcp() {
    let up = start_upstream();
    let dir = tempfile::tempdir().unwrap();
    let mut args = file_args(&fixture_copy(dir.path()));
    args.extend(["--upstream".into(), up.addr.to_string()]);
    let p = start(&args);
    let port = p.dns.port().to_string();
    for tcp in ["+notcp", "+tcp"] {
        let out = dig(&[
            "@127.0.0.1",
            "-p",
            &port,
            tcp,
            "+short",
            "+time=5",
            "+tries=1",
            "host.example.org",
            "A",
        ]);
        assert_eq!(sorted_short(&out), ["192.0.2.53"], "{tcp}: {out}");
    }
}

#[test]
fn upstream_timeout_gives_servfail() {
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = file_args(&fixture_copy(dir.path()));
    args.extend([
        "--upstream".into(),
        silent.local_addr().unwrap().to_string(),
        "--upstream-timeout-ms".into(),
        "300".into(),
    ]);
    let p = start(&args);
    let m = udp_ask(p.dns, &query("www.example.com.", RecordType::A, None));
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.queries.len(), 1);
    let (_, metrics) = http_get(p.http, "/metrics");
    assert!(
        metrics.contains("dns_proxy_forward_errors_total{kind=\"timeout\"} 1"),
        "{metrics}"
    );
}

#[test]
fn clients_outside_allowed_networks_are_refused_forwarding() {
    let up = start_upstream();
    let dir = tempfile::tempdir().unwrap();
    let mut args = file_args(&fixture_copy(dir.path()));
    args.extend([
        "--upstream".into(),
        up.addr.to_string(),
        "--allow-forward".into(),
        "10.0.0.0/8".into(),
    ]);
    let p = start(&args);
    let m = udp_ask(p.dns, &query("www.example.com.", RecordType::A, None));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(up.seen.lock().unwrap().is_empty());
    // In-zone answers are still served.
    let m = udp_ask(
        p.dns,
        &query("web.shop.svc.clusterset.local.", RecordType::A, None),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
}

#[test]
fn file_source_reloads_and_keeps_the_last_good_table() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_copy(dir.path());
    let p = start(&file_args(&f));
    let (code, _) = http_get(p.http, "/healthz");
    assert_eq!(code, 200);
    let name = "api.shop.svc.clusterset.local.";
    assert_eq!(
        udp_ask(p.dns, &query(name, RecordType::A, None))
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("---\napiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: api, namespace: shop}\nspec: {type: ClusterSetIP, ips: [242.0.0.99], ports: [{port: 443}]}\n");
    std::fs::write(&f, &text).unwrap();
    let m = eventually_blocking("the new service", Duration::from_secs(20), || {
        let m = udp_ask(p.dns, &query(name, RecordType::A, None));
        match m.metadata.response_code {
            ResponseCode::NoError => Ok(m),
            rc => Err(format!("{rc:?}")),
        }
    });
    assert_eq!(m.answers[0].data.to_string(), "242.0.0.99");
    // A bad file is rejected; the previous table keeps answering.
    std::fs::write(&f, "apiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: x, namespace: y}\nspec: {type: Bogus}\n").unwrap();
    eventually_blocking("the bad file read", Duration::from_secs(20), || {
        let (_, metrics) = http_get(p.http, "/metrics");
        if metrics.contains("dns_proxy_table_load_errors_total 1") {
            Ok(())
        } else {
            Err(metrics)
        }
    });
    let m = udp_ask(p.dns, &query(name, RecordType::A, None));
    assert_eq!(m.answers[0].data.to_string(), "242.0.0.99");
    let (code, _) = http_get(p.http, "/readyz");
    assert_eq!(code, 200);
}

#[test]
fn no_forward_refuses_other_names_and_metrics_render() {
    // The table is the file's from the start (a file that cannot be read stops the start:
    // see tests/limits.rs); before any table, in-zone questions get SERVFAIL (tests/answers.rs).
    let dir = tempfile::tempdir().unwrap();
    let f = fixture_copy(dir.path());
    let mut args = file_args(&f);
    args.push("--no-forward".into());
    let p = start(&args);
    let m = udp_ask(
        p.dns,
        &query("web.shop.svc.clusterset.local.", RecordType::A, None),
    );
    assert_eq!(m.answers[0].data.to_string(), "242.0.0.10");
    // --no-forward: other names are refused.
    let m = udp_ask(p.dns, &query("example.com.", RecordType::A, None));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let (_, metrics) = http_get(p.http, "/metrics");
    assert!(metrics.contains("dns_proxy_table_services 2"), "{metrics}");
    assert!(
        metrics.contains("dns_proxy_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[test]
#[ignore = "needs unbound and dig"]
fn unbound_forwards_the_zone_to_the_proxy() {
    let unbound = isthmus_testing::require("unbound");
    isthmus_testing::require("dig");
    let dir = tempfile::tempdir().unwrap();
    let p = start(&file_args(&fixture_copy(dir.path())));
    // A free port for unbound.
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let t = std::net::TcpListener::bind(s.local_addr().unwrap());
        let port = s.local_addr().unwrap().port();
        drop(t);
        port
    };
    let conf = dir.path().join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  chroot: \"\"\n  username: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n  domain-insecure: \"clusterset.local\"\n  local-zone: \"clusterset.local.\" nodefault\n  module-config: \"iterator\"\n  num-threads: 1\n  auto-trust-anchor-file: \"\"\n\nstub-zone:\n  name: \"clusterset.local\"\n  stub-addr: 127.0.0.1@{dp}\n",
            d = dir.path().display(),
            dp = p.dns.port()
        ),
    )
    .unwrap();
    let mut unbound = Command::new(&unbound)
        .args(["-d", "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ps = port.to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = String::new();
    while Instant::now() < deadline {
        out = dig(&[
            "@127.0.0.1",
            "-p",
            &ps,
            "+short",
            "+time=2",
            "+tries=1",
            "web.shop.svc.clusterset.local",
            "A",
        ]);
        if sorted_short(&out) == ["242.0.0.10"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let results = [
        (sorted_short(&out), vec!["242.0.0.10".to_string()]),
        (
            sorted_short(&dig(&[
                "@127.0.0.1",
                "-p",
                &ps,
                "+short",
                "db.shop.svc.clusterset.local",
                "A",
            ])),
            vec!["10.1.0.1".into(), "10.1.0.2".into(), "10.2.0.7".into()],
        ),
        (
            sorted_short(&dig(&[
                "@127.0.0.1",
                "-p",
                &ps,
                "+short",
                "db-1.east.db.shop.svc.clusterset.local",
                "A",
            ])),
            vec!["10.1.0.2".into()],
        ),
        (
            sorted_short(&dig(&[
                "@127.0.0.1",
                "-p",
                &ps,
                "+short",
                "_http._tcp.web.shop.svc.clusterset.local",
                "SRV",
            ])),
            vec!["0 50 80 web.shop.svc.clusterset.local.".into()],
        ),
    ];
    let nx = dig(&[
        "@127.0.0.1",
        "-p",
        &ps,
        "nope.shop.svc.clusterset.local",
        "A",
    ]);
    let _ = unbound.kill();
    let _ = unbound.wait();
    for (got, want) in results {
        assert_eq!(got, want);
    }
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
}
