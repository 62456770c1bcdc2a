//! `isthmus demo --once` converges, prints the table and leaves usable kubeconfigs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use isthmus_testing::dns;

#[test]
fn demo_once_converges_and_writes_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(["demo", "--once", "--timeout", "60s", "--kubeconfig-dir"])
        .arg(dir.path())
        .output()
        .expect("run isthmus demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Converged in"), "{stdout}");
    for c in ["cluster-1", "cluster-2", "cluster-3"] {
        assert!(stdout.contains(c), "{stdout}");
        let kc = std::fs::read_to_string(dir.path().join(format!("{c}.kubeconfig"))).unwrap();
        assert!(kc.contains("certificate-authority-data"), "{kc}");
    }
    assert!(
        stdout.contains("exports: 3   imports: 6   conflicts: 0"),
        "{stdout}"
    );
    for c in ["cluster-1", "cluster-2", "cluster-3"] {
        assert!(
            stdout.lines().any(|l| l.contains(c)
                && l.contains("dig @127.0.0.1 -p ")
                && l.ends_with("cart.shop.svc.clusterset.local")),
            "no dig command for {c}: {stdout}"
        );
    }
    let cs =
        gateway_config::clusterset::ClusterSet::load(&dir.path().join("clusterset.yaml")).unwrap();
    assert_eq!(cs.members.len(), 3);
}

#[test]
fn demo_rejects_an_out_of_range_cluster_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(["demo", "--once", "--clusters", "0", "--kubeconfig-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--clusters: 0 is out of range"));
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_sees_the_demo_imports() {
    let kubectl = isthmus_testing::require("kubectl");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(["demo", "--timeout", "60s", "--kubeconfig-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The demo prints "Converged in ..." once the clusterset converged (or exits on timeout).
    // The output is drained to the end so the demo never writes into a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("Converged in") {
                let _ = tx.send(());
            }
        }
    });
    let converged = rx.recv_timeout(Duration::from_secs(90)).is_ok();
    let result = converged.then(|| {
        Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(dir.path().join("cluster-2.kubeconfig"))
            .args([
                "get",
                "serviceimports.multicluster.x-k8s.io",
                "-n",
                "shop",
                "-o",
                "json",
            ])
            .output()
            .unwrap()
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    assert!(converged, "the demo did not converge");
    let out = result.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, vec!["cart", "db"]);
}

/// The RCODE and the A records (sorted) of `name` from the demo proxy on `port`.
fn ask(port: u16, name: &str) -> (ResponseCode, Vec<Ipv4Addr>) {
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let m = dns::ask_blocking(
        server,
        &dns::query(name, RecordType::A, None),
        Duration::from_secs(2),
    )
    .expect("DNS answer within 2 s");
    (m.metadata.response_code, dns::a_records(&m))
}

/// A dig command the demo printed: (cluster, port, name).
type DigLine = (String, u16, String);

/// Runs `isthmus demo` until it printed its dig commands, calls `check` with them while the
/// demo still runs, then stops it.
fn with_demo_dig_lines<T>(check: impl FnOnce(&[DigLine]) -> T) -> T {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(["demo", "--timeout", "60s", "--kubeconfig-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The dig lines come after "Converged in"; the output is drained to the end.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut digs = Vec::new();
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("dig @127.0.0.1 -p ") {
                digs.push(line.trim().to_owned());
            } else if !digs.is_empty() && !sent {
                let _ = tx.send(digs.clone());
                sent = true;
            }
        }
    });
    let digs = rx.recv_timeout(Duration::from_secs(90));
    let result = digs.map(|digs| {
        let parsed: Vec<DigLine> = digs
            .iter()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let p = w.iter().position(|x| *x == "-p").unwrap();
                (
                    w[0].to_owned(),
                    w[p + 1].parse().unwrap(),
                    w.last().unwrap().to_string(),
                )
            })
            .collect();
        check(&parsed)
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    result.expect("the demo printed dig commands")
}

#[test]
fn demo_dns_proxies_answer_over_grpc() {
    let (n, vips) = with_demo_dig_lines(|parsed| {
        let mut vips = Vec::new();
        for (cluster, port, name) in parsed {
            if name.starts_with("cart.") {
                let (rcode, ips) = ask(*port, name);
                assert_eq!(rcode, ResponseCode::NoError, "{cluster}: {name}");
                assert_eq!(ips.len(), 1, "{cluster}: {name}: {ips:?}");
                vips.push(ips[0]);
            }
        }
        // The headless db has per-pod names; db-0 in cluster-3 is 10.3.3.21.
        let (_, port, name) = parsed
            .iter()
            .find(|(_, _, n)| n.starts_with("db-0."))
            .unwrap();
        assert_eq!(ask(*port, name).1, vec![Ipv4Addr::new(10, 3, 3, 21)]);
        (parsed.len(), vips)
    });
    assert_eq!(n, 5, "three cart lines, one db-0 line, one SRV line");
    assert_eq!(vips.len(), 3);
    // One clusterset VIP, the same from every cluster's proxy, inside the default range.
    assert!(vips.iter().all(|v| *v == vips[0]), "{vips:?}");
    assert_eq!(vips[0].octets()[0], 242, "{vips:?}");
}

#[test]
#[ignore = "needs dig"]
fn printed_dig_command_answers_with_the_clusterset_vip() {
    let dig = isthmus_testing::require("dig");
    let (vip, out) = with_demo_dig_lines(|parsed| {
        // The first printed command asks a proxy for cart's VIP.
        let (_, port, name) = &parsed[0];
        let (_, ips) = ask(*port, name);
        let out = Command::new(&dig)
            .args(["@127.0.0.1", "-p", &port.to_string(), name, "+short"])
            .output()
            .unwrap();
        (ips, String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    assert_eq!(vip.len(), 1, "{vip:?}");
    assert_eq!(out, vip[0].to_string());
}
