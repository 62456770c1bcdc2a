//! Abuse tests through the real `dns-proxy` process on 127.0.0.x: a TCP connection flood from
//! one source does not lock out another client, a flood of malformed packets writes a bounded
//! number of log lines, and a source file that cannot be read stops the start (exit 2) while
//! a later bad reload is reported once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use isthmus_testing::dns::query;
use isthmus_testing::eventually_blocking;
use isthmus_testing::http::get_blocking as http_get;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The attacking source; the victim queries from 127.0.0.1.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Connections the attacker opens and holds.
const FLOOD: usize = 2_000;
/// Malformed packets sent.
const MALFORMED: usize = 10_000;
const NAME: &str = "web.shop.svc.clusterset.local.";

struct Proxy {
    child: Child,
    dns: SocketAddr,
    http: SocketAddr,
    /// Every line the process wrote on stderr.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn metrics(&self) -> String {
        let (code, body) = http_get(self.http, "/metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// The value of a metric line (exact name and labels), 0 when absent.
    fn metric(&self, series: &str) -> u64 {
        metric_value(&self.metrics(), series)
    }
}

fn metric_value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// Starts the binary on 127.0.0.1 port 0 with `--source file:FIXTURE`, its stderr collected.
fn start(dir: &Path, extra: &[&str]) -> Proxy {
    let file = dir.join("clusterset.yaml");
    if !file.exists() {
        std::fs::copy(common::FIXTURE, &file).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args([
            "--no-forward",
            "--poll-interval-ms",
            "100",
            "--udp-workers",
            "1",
        ])
        .arg("--source")
        .arg(format!("file:{}", file.display()))
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dns-proxy");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let err = child.stderr.take().unwrap();
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut dns, mut http) = (None, None);
    while dns.is_none() || http.is_none() {
        let line = lines
            .next()
            .expect("dns-proxy exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("listening dns tcp ") {
            dns = Some(a.parse().unwrap());
        } else if let Some(a) = line.strip_prefix("listening http ") {
            http = Some(a.parse().unwrap());
        }
    }
    let p = Proxy {
        child,
        dns: dns.unwrap(),
        http: http.unwrap(),
        stderr,
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

/// Raises this process's soft open-file limit to cover the flood (the hard limit allowing).
fn ensure_fd_limit(need: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < need {
        assert!(
            hard >= need,
            "the hard open-file limit {hard} is below the {need} this test needs"
        );
        setrlimit(Resource::RLIMIT_NOFILE, need, hard).unwrap();
    }
}

fn framed(pkt: &[u8]) -> Vec<u8> {
    let mut msg = (pkt.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(pkt);
    msg
}

/// Connects from `from` to `to`, waiting at most `limit`.
fn connect_from(from: IpAddr, to: SocketAddr, limit: Duration) -> std::io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SockAddr::from(SocketAddr::new(from, 0)))?;
    s.connect_timeout(&SockAddr::from(to), limit)?;
    Ok(s.into())
}

/// One query over a new TCP connection from 127.0.0.1; the whole exchange (connect, send,
/// answer) must complete within one second, or this fails.
fn victim_query(server: SocketAddr) -> Message {
    let deadline = Instant::now() + Duration::from_secs(1);
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let mut s = connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), server, left())
        .expect("the victim connects within a second");
    s.set_write_timeout(Some(left())).unwrap();
    s.write_all(&framed(&query(NAME, RecordType::A, None)))
        .unwrap();
    let mut len = [0u8; 2];
    s.set_read_timeout(Some(left())).unwrap();
    s.read_exact(&mut len)
        .expect("the victim's answer arrives within a second");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.set_read_timeout(Some(left())).unwrap();
    s.read_exact(&mut body)
        .expect("the victim's answer arrives within a second");
    Message::from_vec(&body).unwrap()
}

/// Opens [`FLOOD`] connections from [`ATTACKER`], each sending one query, and holds them all.
fn flood(server: SocketAddr) -> Vec<TcpStream> {
    let started = Instant::now();
    let q = framed(&query(NAME, RecordType::A, None));
    let mut held = Vec::with_capacity(FLOOD);
    for i in 0..FLOOD {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "opening the flood took too long"
        );
        let mut s = connect_from(IpAddr::V4(ATTACKER), server, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("attacker connection {i}: {e}"));
        // An evicted connection may already be closed: a failed write is the point.
        let _ = s.write_all(&q);
        held.push(s);
    }
    held
}

fn assert_victim_served(p: &Proxy) {
    for _ in 0..5 {
        let t0 = Instant::now();
        let m = victim_query(p.dns);
        eprintln!("victim answered in {:?}", t0.elapsed());
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers[0].data.to_string(), "242.0.0.10");
    }
}

fn flood_counts(m: &str) -> String {
    m.lines()
        .filter(|l| l.starts_with("dns_proxy_tcp_connections"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits until the proxy has handled every connection of the flood.
fn wait_flood_handled(p: &Proxy) -> String {
    eventually_blocking(
        "every flood connection accepted or refused",
        Duration::from_secs(30),
        || {
            let m = p.metrics();
            let handled = metric_value(&m, "dns_proxy_tcp_connections_accepted_total")
                + metric_value(
                    &m,
                    "dns_proxy_tcp_connections_refused_total{limit=\"source\"}",
                )
                + metric_value(
                    &m,
                    "dns_proxy_tcp_connections_refused_total{limit=\"total\"}",
                );
            if handled >= FLOOD as u64 {
                Ok(m)
            } else {
                Err(format!("{handled} of {FLOOD} handled"))
            }
        },
    )
}

#[test]
fn a_tcp_flood_from_one_source_is_held_to_its_per_source_limit() {
    ensure_fd_limit(FLOOD as u64 + 1024);
    let dir = tempfile::tempdir().unwrap();
    // Defaults: 1,024 connections in all, 64 per source.
    let p = start(
        dir.path(),
        &[
            "--abuse-log-interval-ms",
            "1000",
            "--tcp-idle-timeout-ms",
            "120000",
        ],
    );
    let t0 = Instant::now();
    let held = flood(p.dns);
    eprintln!("{FLOOD} connections opened in {:?}", t0.elapsed());
    let m = wait_flood_handled(&p);
    eprintln!("flood handled: {}", flood_counts(&m));
    // The source never holds more than its 64: each new connection closed its own oldest
    // idle one (or was refused when all 64 were busy).
    let evicted = metric_value(
        &m,
        "dns_proxy_tcp_connections_evicted_total{limit=\"source\"}",
    );
    let refused = metric_value(
        &m,
        "dns_proxy_tcp_connections_refused_total{limit=\"source\"}",
    );
    assert_eq!(evicted + refused, (FLOOD - 64) as u64, "{m}");
    assert_eq!(
        metric_value(
            &m,
            "dns_proxy_tcp_connections_evicted_total{limit=\"total\"}"
        ),
        0
    );
    eventually_blocking(
        "evicted connections closed",
        Duration::from_secs(20),
        || match p.metric("dns_proxy_tcp_connections") {
            n if n <= 64 => Ok(()),
            n => Err(format!("{n} open")),
        },
    );
    // Another source is answered at once while the attacker holds all its sockets.
    assert_victim_served(&p);
    assert_eq!(held.len(), FLOOD);
    // The log has summaries, not a line per connection.
    let summaries = eventually_blocking("a summary line", Duration::from_secs(10), || {
        let n = p
            .stderr_lines()
            .iter()
            .filter(|l| l.contains("malformed or refused DNS traffic"))
            .count();
        if n > 0 {
            Ok(n)
        } else {
            Err("none yet".to_string())
        }
    });
    assert!(p.stderr_lines().len() < 100, "{:?}", p.stderr_lines());
    assert!(summaries < 100);
}

#[test]
fn a_tcp_flood_that_fills_the_table_gives_way_to_a_new_source() {
    ensure_fd_limit(FLOOD as u64 + 1024);
    let dir = tempfile::tempdir().unwrap();
    // No per-source limit: only the total limit and eviction protect the other clients.
    let p = start(
        dir.path(),
        &[
            "--tcp-max-per-source",
            "0",
            "--tcp-max-connections",
            "256",
            "--tcp-idle-timeout-ms",
            "120000",
        ],
    );
    let t0 = Instant::now();
    let held = flood(p.dns);
    eprintln!("{FLOOD} connections opened in {:?}", t0.elapsed());
    let m = wait_flood_handled(&p);
    eprintln!("flood handled: {}", flood_counts(&m));
    let evicted = metric_value(
        &m,
        "dns_proxy_tcp_connections_evicted_total{limit=\"total\"}",
    );
    let refused = metric_value(
        &m,
        "dns_proxy_tcp_connections_refused_total{limit=\"total\"}",
    );
    assert_eq!(evicted + refused, (FLOOD - 256) as u64, "{m}");
    // The table is full of the attacker's connections, and the victim still gets in.
    assert_victim_served(&p);
    let m = p.metrics();
    assert!(
        metric_value(
            &m,
            "dns_proxy_tcp_connections_evicted_total{limit=\"total\"}"
        ) > evicted,
        "the victim's connections made room by eviction: {m}"
    );
    assert_eq!(held.len(), FLOOD);
}

/// Sums `key=N` over the summary lines.
fn summed(lines: &[String], key: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l.contains("malformed or refused DNS traffic"))
        .filter_map(|l| {
            let rest = &l[l.find(&format!(" {key}="))? + key.len() + 2..];
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

#[test]
fn malformed_packets_are_counted_and_logged_as_one_line_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--abuse-log-interval-ms", "1000"]);
    let started = Instant::now();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Half cannot be read as a question (FORMERR), half are shorter than a header (dropped).
    let mut bad_question = query(NAME, RecordType::A, None);
    bad_question.truncate(16);
    let short = [0u8, 1, 2, 3, 4];
    const BATCH: usize = 200;
    for batch in 0..MALFORMED / BATCH {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "sending took too long"
        );
        for i in 0..BATCH {
            let pkt: &[u8] = if i % 2 == 0 { &bad_question } else { &short };
            sock.send_to(pkt, p.dns).unwrap();
        }
        // Paced so no datagram is lost in the socket buffer: the counts must be exact.
        let want = ((batch + 1) * BATCH) as u64;
        eventually_blocking("the batch counted", Duration::from_secs(20), || {
            let m = p.metrics();
            let n = metric_value(&m, "dns_proxy_malformed_requests_total{kind=\"formerr\"}")
                + metric_value(&m, "dns_proxy_malformed_requests_total{kind=\"dropped\"}");
            if n >= want {
                Ok(())
            } else {
                Err(format!("{n} of {want}"))
            }
        });
    }
    let m = p.metrics();
    assert_eq!(
        metric_value(&m, "dns_proxy_malformed_requests_total{kind=\"formerr\"}"),
        (MALFORMED / 2) as u64
    );
    assert_eq!(
        metric_value(&m, "dns_proxy_malformed_requests_total{kind=\"dropped\"}"),
        (MALFORMED / 2) as u64
    );
    // The summaries add up to every packet.
    eventually_blocking("summaries of every packet", Duration::from_secs(10), || {
        let lines = p.stderr_lines();
        let (f, d) = (summed(&lines, "formerr"), summed(&lines, "dropped"));
        if (f, d) == ((MALFORMED / 2) as u64, (MALFORMED / 2) as u64) {
            Ok(())
        } else {
            Err(format!("formerr={f} dropped={d}"))
        }
    });
    let elapsed = started.elapsed().as_secs();
    let lines = p.stderr_lines();
    let (summaries, others): (Vec<&String>, Vec<&String>) = lines
        .iter()
        .partition(|l| l.contains("malformed or refused DNS traffic"));
    // At most one summary per 1 s interval (plus the partial intervals at either end), and
    // no other line than the few written at start.
    assert!(
        summaries.len() as u64 <= elapsed + 2,
        "{} summaries in {elapsed} s: {summaries:?}",
        summaries.len()
    );
    assert!(others.len() <= 3, "{others:?}");
    eprintln!(
        "{MALFORMED} malformed packets in {elapsed} s: {} stderr lines, {} of them summaries",
        lines.len(),
        summaries.len()
    );
}

#[test]
fn an_unreadable_source_file_at_start_is_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.yaml");
    let a_directory = dir.path().join("a-directory");
    std::fs::create_dir(&a_directory).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    for path in [&missing, &a_directory, &bad] {
        let out = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
            .args(["--listen", "127.0.0.1:0", "--no-forward"])
            .arg("--source")
            .arg(format!("file:{}", path.display()))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(
            stderr.contains(&path.display().to_string()),
            "{}: {stderr}",
            path.display()
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening"),
            "it must not serve"
        );
    }
}

#[test]
fn a_bad_reload_keeps_the_table_and_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let file = dir.path().join("clusterset.yaml");
    let rejected = |p: &Proxy| {
        p.stderr_lines()
            .iter()
            .filter(|l| l.contains("source file rejected"))
            .count()
    };
    // Replaced in one step, so no check sees a half-written file.
    let next = dir.path().join("next.yaml");
    std::fs::write(&next, "kind: [unclosed\n").unwrap();
    std::fs::rename(&next, &file).unwrap();
    eventually_blocking("the bad file read", Duration::from_secs(20), || {
        match p.metric("dns_proxy_table_load_errors_total") {
            1 => Ok(()),
            n => Err(format!("{n} load errors")),
        }
    });
    // Ten more checks of the unchanged file (every 100 ms) report nothing new.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(p.metric("dns_proxy_table_load_errors_total"), 1);
    assert_eq!(rejected(&p), 1, "{:?}", p.stderr_lines());
    // The file disappears: one more report, then none while it stays away.
    std::fs::remove_file(&file).unwrap();
    eventually_blocking(
        "the missing file noticed",
        Duration::from_secs(20),
        || match p.metric("dns_proxy_table_load_errors_total") {
            2 => Ok(()),
            n => Err(format!("{n} load errors")),
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(p.metric("dns_proxy_table_load_errors_total"), 2);
    let lines = p.stderr_lines();
    assert_eq!(rejected(&p), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("source file rejected") && l.contains("clusterset.yaml")),
        "the file is named: {lines:?}"
    );
    // The last good table still answers.
    let m = isthmus_testing::dns::ask_blocking(
        p.dns,
        &query(NAME, RecordType::A, None),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(m.answers[0].data.to_string(), "242.0.0.10");
}

/// The fixture plus a headless service `big.shop` with `n` endpoints.
fn big_yaml(n: usize) -> String {
    let mut s = std::fs::read_to_string(common::FIXTURE).unwrap();
    s.push_str(
        "\n---\napiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: big, namespace: shop}\nspec:\n  type: Headless\n  ports: [{name: http, protocol: TCP, port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-east\n  namespace: shop\n  labels: {multicluster.kubernetes.io/service-name: big, multicluster.kubernetes.io/source-cluster: east}\naddressType: IPv4\nendpoints:\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  - {{addresses: [10.9.{}.{}]}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    s
}

#[test]
fn a_client_that_never_reads_its_answers_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    // 1,000 addresses: each answer is about 16 kB, so 2,000 of them (32 MB) cannot all sit in
    // socket buffers and the proxy's writes stall.
    std::fs::write(dir.path().join("clusterset.yaml"), big_yaml(1000)).unwrap();
    let p = start(dir.path(), &["--tcp-idle-timeout-ms", "500"]);
    let mut s = connect_from(IpAddr::V4(ATTACKER), p.dns, Duration::from_secs(5)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let q = framed(&query(
        "big.shop.svc.clusterset.local.",
        RecordType::A,
        None,
    ));
    let mut sent = 0;
    for _ in 0..2_000 {
        if s.write_all(&q).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 0);
    // The client holds the connection and reads nothing; the proxy closes it once an answer
    // has waited longer than the idle timeout to be read.
    eventually_blocking(
        "the stalled connection closed",
        Duration::from_secs(20),
        || {
            let m = p.metrics();
            match (
                metric_value(&m, "dns_proxy_tcp_connections_accepted_total"),
                metric_value(&m, "dns_proxy_tcp_connections"),
            ) {
                (1, 0) => Ok(()),
                other => Err(format!("accepted, open: {other:?}")),
            }
        },
    );
    // It answered some before stalling, far fewer than were asked.
    let answered = metric_value(
        &p.metrics(),
        "dns_proxy_queries_total{qtype=\"A\",rcode=\"NOERROR\"}",
    );
    eprintln!("{sent} queries sent, {answered} answered before the proxy closed the connection");
    assert!(
        answered < sent,
        "{answered} of {sent}: the writes never stalled"
    );
    drop(s);
}
