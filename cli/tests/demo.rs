//! `isthmus demo --once` converges, prints the table and leaves usable kubeconfigs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn demo_once_converges_and_writes_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_isthmus"))
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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .args(["demo", "--once", "--clusters", "0", "--kubeconfig-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--clusters: 0 is out of range"));
}

#[test]
fn kubectl_sees_the_demo_imports() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("SKIP: kubectl is not installed");
        return;
    }
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
    let converged = rx.recv_timeout(std::time::Duration::from_secs(90)).is_ok();
    let result = converged.then(|| {
        Command::new("kubectl")
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

/// A DNS query for `name` of type `qtype` (recursion desired, one question).
fn dns_query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x4a, 0x21, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// RCODE and the IPv4 addresses of the A records in the answer section.
fn a_answers(resp: &[u8], query_len: usize) -> (u8, Vec<std::net::Ipv4Addr>) {
    let rcode = resp[3] & 0x0f;
    let ancount = u16::from_be_bytes([resp[6], resp[7]]) as usize;
    let mut i = query_len;
    let mut out = Vec::new();
    for _ in 0..ancount {
        if resp[i] & 0xc0 == 0xc0 {
            i += 2;
        } else {
            while resp[i] != 0 {
                i += 1 + resp[i] as usize;
            }
            i += 1;
        }
        let rtype = u16::from_be_bytes([resp[i], resp[i + 1]]);
        let rdlen = u16::from_be_bytes([resp[i + 8], resp[i + 9]]) as usize;
        i += 10;
        if rtype == 1 && rdlen == 4 {
            out.push(std::net::Ipv4Addr::new(
                resp[i],
                resp[i + 1],
                resp[i + 2],
                resp[i + 3],
            ));
        }
        i += rdlen;
    }
    out.sort();
    (rcode, out)
}

fn ask(port: u16, name: &str) -> (u8, Vec<std::net::Ipv4Addr>) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let q = dns_query(name, 1);
    s.send_to(&q, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("DNS answer within 2 s");
    a_answers(&buf[..n], q.len())
}

#[test]
fn demo_dns_proxies_answer_over_grpc() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
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
    let digs = rx.recv_timeout(std::time::Duration::from_secs(90));
    let result = digs.map(|digs| {
        // (cluster, port, name) of every printed dig command.
        let parsed: Vec<(String, u16, String)> = digs
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
        let mut vips = Vec::new();
        for (cluster, port, name) in &parsed {
            if name.starts_with("cart.") {
                let (rcode, ips) = ask(*port, name);
                assert_eq!(rcode, 0, "{cluster}: {name}");
                assert_eq!(ips.len(), 1, "{cluster}: {name}: {ips:?}");
                vips.push(ips[0]);
            }
        }
        // The headless db has per-pod names; db-0 in cluster-3 is 10.3.3.21.
        let (_, port, name) = parsed
            .iter()
            .find(|(_, _, n)| n.starts_with("db-0."))
            .unwrap();
        assert_eq!(
            ask(*port, name).1,
            vec![std::net::Ipv4Addr::new(10, 3, 3, 21)]
        );
        // The printed command itself, when dig is installed.
        let dig = Command::new("dig").arg("-v").output();
        let dig_out = match dig {
            Ok(_) => {
                let (_, port, name) = &parsed[0];
                let out = Command::new("dig")
                    .args(["@127.0.0.1", "-p", &port.to_string(), name, "+short"])
                    .output()
                    .unwrap();
                Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            }
            Err(_) => {
                eprintln!("SKIP: dig is not installed; the raw DNS query checked the answers");
                None
            }
        };
        (parsed.len(), vips, dig_out)
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let (n, vips, dig_out) = result.expect("the demo printed dig commands");
    assert_eq!(n, 5, "three cart lines, one db-0 line, one SRV line");
    assert_eq!(vips.len(), 3);
    // One clusterset VIP, the same from every cluster's proxy, inside the default range.
    assert!(vips.iter().all(|v| *v == vips[0]), "{vips:?}");
    assert_eq!(vips[0].octets()[0], 242, "{vips:?}");
    if let Some(out) = dig_out {
        assert_eq!(out, vips[0].to_string());
    }
}
