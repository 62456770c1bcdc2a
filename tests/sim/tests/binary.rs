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
