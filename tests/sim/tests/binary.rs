//! The `kube-sim` binary: starts clusters, writes kubeconfigs that real clients can use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn binary_starts_clusters_and_writes_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["--clusters", "2", "--token", "t0k", "--kubeconfig-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut started = Vec::new();
    while started.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("kube-sim did not report its clusters")
            .unwrap()
            .expect("kube-sim exited early");
        started.push(line);
    }
    for (i, line) in started.iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], format!("cluster-{}", i + 1));
        assert!(fields[1].starts_with("https://127.0.0.1:"), "{line}");
        let kc = Kubeconfig::read_from(fields[2]).unwrap();
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        let ns: Api<Namespace> = Api::all(Client::try_from(cfg).unwrap());
        assert_eq!(
            ns.list(&ListParams::default()).await.unwrap().items.len(),
            4
        );
    }
    child.kill().await.unwrap();
}

/// Sends one HTTP/1.1 request to `addr` and returns (status, body).
async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("no answer")
        .unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn faults_from_flags_and_the_admin_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args([
            "--insecure",
            "--fault",
            "cluster-1:error=list/namespaces,every=1,code=429,retry-after=3",
            "--admin-listen",
            "127.0.0.1:0",
            "--kubeconfig-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("kube-sim did not report")
            .unwrap()
            .expect("kube-sim exited early")
    };
    let cluster = next().await;
    let api = cluster.split_whitespace().nth(1).unwrap().to_owned();
    let admin_line = next().await;
    let admin = admin_line.strip_prefix("admin http://").unwrap().to_owned();
    let api_addr = api.strip_prefix("http://").unwrap().to_owned();

    // The flag's fault is on from the start: every namespace list gets 429 with Retry-After.
    let (status, _) = http(&api_addr, "GET", "/api/v1/namespaces", "").await;
    assert_eq!(status, 429);
    let (status, _) = http(&api_addr, "GET", "/api/v1/namespaces/default", "").await;
    assert_eq!(status, 200, "only the list rule fires");

    // The admin endpoint lists the clusters, refuses bad commands and unknown clusters...
    let (status, body) = http(&admin, "GET", "/clusters", "").await;
    assert_eq!(
        (status, body.trim()),
        (200, format!("cluster-1 {api}").as_str())
    );
    let (status, body) = http(&admin, "POST", "/faults/cluster-1", "partition=maybe\n").await;
    assert_eq!(status, 400);
    assert!(body.contains("partition=maybe"), "{body}");
    let (status, _) = http(&admin, "POST", "/faults/cluster-9", "reset\n").await;
    assert_eq!(status, 404);
    // ...and clears the fault, then injects a 500 on gets.
    let (status, _) = http(&admin, "POST", "/faults/cluster-1", "reset\n").await;
    assert_eq!(status, 200);
    let (status, _) = http(&api_addr, "GET", "/api/v1/namespaces", "").await;
    assert_eq!(status, 200);
    let (status, _) = http(
        &admin,
        "POST",
        "/faults/cluster-1",
        "error=get/namespaces,every=1\n",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(&api_addr, "GET", "/api/v1/namespaces/default", "").await;
    assert_eq!(status, 500);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn admin_endpoint_listens_on_loopback_only_and_bad_faults_exit() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--admin-listen", "0.0.0.0:0"],
        vec!["--fault", "cluster-1:explode"],
        vec!["--fault", "cluster-7:reset"],
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-sim"))
            .args(&args)
            .arg("--kubeconfig-dir")
            .arg(dir.path())
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.is_empty(), "{args:?}");
    }
}
