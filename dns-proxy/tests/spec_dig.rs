//! The MCS DNS answers as real clients see them: the `dns-proxy` binary on 127.0.0.1 port 0,
//! queried with dig and kdig over UDP and TCP (the SRV additional section, the schema version
//! record, negative answers, reverse lookups left to upstream). A missing tool prints `SKIP:`
//! and the test returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Proxy {
    child: Child,
    dns: SocketAddr,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the proxy on the fixture with forwarding off. The table may be published just after
/// the listening lines, so `ask` retries while answers are SERVFAIL.
fn start() -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dns-proxy"))
        .args(["--listen", "127.0.0.1:0", "--no-forward"])
        .arg("--source")
        .arg(format!("file:{}", common::FIXTURE))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start dns-proxy");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let dns = loop {
        let line = lines
            .next()
            .expect("dns-proxy exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("listening dns udp ") {
            break a.parse().unwrap();
        }
    };
    // Keep draining stdout so later lines never hit a closed pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Proxy { child, dns }
}

fn tool(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    eprintln!("SKIP: {path} is not installed");
    false
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().expect("run tool");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// dig/kdig output, retried for up to 10 s (bounded) until the table is loaded (SERVFAIL
/// before it).
fn ask(tool: &str, p: &Proxy, args: &[&str]) -> String {
    let port = p.dns.port().to_string();
    let mut all = vec!["@127.0.0.1", "-p", &port];
    all.extend_from_slice(args);
    let mut out = String::new();
    for _ in 0..100 {
        out = run(tool, &all);
        if !out.contains("SERVFAIL") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    out
}

/// The records of one section of full dig/kdig output, whitespace-normalised, sorted.
fn section(out: &str, header: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .skip_while(|l| !l.contains(header))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with(";;"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

#[test]
fn dig_reverse_lookups_are_not_answered_by_the_proxy() {
    // The specification defines no PTR records: reverse names, clusterset IPs' included, are
    // outside the zone and go upstream. Forwarding is off here, so they are REFUSED.
    if !tool("/usr/bin/dig") {
        return;
    }
    let p = start();
    for transport in ["+notcp", "+tcp"] {
        for addr in ["242.0.0.10", "fd00:242::10", "10.1.0.1"] {
            let out = ask("/usr/bin/dig", &p, &[transport, "-x", addr]);
            assert!(out.contains("status: REFUSED"), "{addr}: {out}");
        }
    }
}

#[test]
fn dig_sees_srv_target_addresses_in_the_additional_section() {
    if !tool("/usr/bin/dig") || !tool("/usr/bin/kdig") {
        return;
    }
    let p = start();
    for transport in ["+notcp", "+tcp"] {
        let out = ask(
            "/usr/bin/dig",
            &p,
            &[transport, "_http._tcp.web.shop.svc.clusterset.local", "SRV"],
        );
        assert!(out.contains("flags: qr aa"), "{out}");
        assert!(
            !out.contains("malformed") && !out.contains("bad packet"),
            "{out}"
        );
        assert_eq!(
            section(&out, "ANSWER SECTION"),
            [
                "_http._tcp.web.shop.svc.clusterset.local. 5 IN SRV 0 50 80 web.shop.svc.clusterset.local."
            ]
        );
        assert_eq!(
            section(&out, "ADDITIONAL SECTION"),
            [
                "web.shop.svc.clusterset.local. 5 IN A 242.0.0.10",
                "web.shop.svc.clusterset.local. 5 IN AAAA fd00:242::10",
            ],
            "{out}"
        );
        let out = ask(
            "/usr/bin/kdig",
            &p,
            &[transport, "db.shop.svc.clusterset.local", "SRV"],
        );
        assert_eq!(section(&out, "ANSWER SECTION").len(), 3, "{out}");
        assert_eq!(
            section(&out, "ADDITIONAL SECTION")
                .into_iter()
                .filter(|l| !l.starts_with(';'))
                .collect::<Vec<_>>(),
            [
                "10-2-0-7.west.db.shop.svc.clusterset.local. 5 IN A 10.2.0.7",
                "db-0.east.db.shop.svc.clusterset.local. 5 IN A 10.1.0.1",
                "db-1.east.db.shop.svc.clusterset.local. 5 IN A 10.1.0.2",
            ],
            "{out}"
        );
    }
}

#[test]
fn dig_schema_version_and_negative_answers() {
    if !tool("/usr/bin/dig") {
        return;
    }
    let p = start();
    let out = ask(
        "/usr/bin/dig",
        &p,
        &["+noall", "+answer", "dns-version.clusterset.local", "TXT"],
    );
    assert_eq!(
        section(&format!("HEADER\n{out}"), "HEADER"),
        ["dns-version.clusterset.local. 28800 IN TXT \"1.0.0\""],
        "{out}"
    );
    let out = ask("/usr/bin/dig", &p, &["nope.shop.svc.clusterset.local", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(
        section(&out, "AUTHORITY SECTION")
            .iter()
            .any(|l| l.starts_with(
                "clusterset.local. 5 IN SOA ns.dns.clusterset.local. hostmaster.clusterset.local."
            ) && l.ends_with(" 7200 1800 86400 5")),
        "{out}"
    );
    let out = ask("/usr/bin/dig", &p, &["shop.svc.clusterset.local", "A"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
}
