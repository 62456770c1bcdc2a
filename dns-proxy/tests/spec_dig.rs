//! The MCS DNS answers as real clients see them: the `dns-proxy` binary on 127.0.0.1 port 0,
//! queried with dig and kdig over UDP and TCP (the SRV additional section, the schema version
//! record, negative answers, reverse lookups left to upstream). The tests need dig (and kdig):
//! they are ignored in a plain run and fail, naming the tool, when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use isthmus_testing::eventually_blocking;

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

/// The output of the installed `tool` (fails when it is not installed).
fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(isthmus_testing::require(tool))
        .args(args)
        .output()
        .expect("run tool");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// dig/kdig output, retried for up to 10 s until the table is loaded (SERVFAIL before it).
fn ask(tool: &str, p: &Proxy, args: &[&str]) -> String {
    let port = p.dns.port().to_string();
    let mut all = vec!["@127.0.0.1", "-p", &port];
    all.extend_from_slice(args);
    eventually_blocking(
        "an answer from the loaded table",
        Duration::from_secs(10),
        || {
            let out = run(tool, &all);
            if out.contains("SERVFAIL") {
                Err(out)
            } else {
                Ok(out)
            }
        },
    )
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
#[ignore = "needs dig"]
fn dig_reverse_lookups_are_not_answered_by_the_proxy() {
    // The specification defines no PTR records: reverse names, clusterset IPs' included, are
    // outside the zone and go upstream. Forwarding is off here, so they are REFUSED.
    let p = start();
    for transport in ["+notcp", "+tcp"] {
        for addr in ["242.0.0.10", "fd00:242::10", "10.1.0.1"] {
            let out = ask("dig", &p, &[transport, "-x", addr]);
            assert!(out.contains("status: REFUSED"), "{addr}: {out}");
        }
    }
}

#[test]
#[ignore = "needs dig and kdig"]
fn dig_sees_srv_target_addresses_in_the_additional_section() {
    let p = start();
    for transport in ["+notcp", "+tcp"] {
        let out = ask(
            "dig",
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
            "kdig",
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
#[ignore = "needs dig"]
fn dig_schema_version_and_negative_answers() {
    let p = start();
    let out = ask(
        "dig",
        &p,
        &["+noall", "+answer", "dns-version.clusterset.local", "TXT"],
    );
    assert_eq!(
        section(&format!("HEADER\n{out}"), "HEADER"),
        ["dns-version.clusterset.local. 28800 IN TXT \"1.0.0\""],
        "{out}"
    );
    let out = ask("dig", &p, &["nope.shop.svc.clusterset.local", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(
        section(&out, "AUTHORITY SECTION")
            .iter()
            .any(|l| l.starts_with(
                "clusterset.local. 5 IN SOA ns.dns.clusterset.local. hostmaster.clusterset.local."
            ) && l.ends_with(" 7200 1800 86400 5")),
        "{out}"
    );
    let out = ask("dig", &p, &["shop.svc.clusterset.local", "A"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("ANSWER: 0"), "{out}");
}
