//! The controller on an `isthmus_testing::Env`: in-process (with a handle on its state), or
//! as the built binary. The rest of the tests' support is in `isthmus-testing`, which cannot
//! depend on this crate.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use isthmus_testing::Env;
use isthmus_testing::env::network;
use mesh_controller::members::MemberSpec;
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::{self, ControllerHandle, RunConfig};

/// The members of `env`, networks alternating.
pub fn members(env: &Env) -> Vec<MemberSpec> {
    env.clusters
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| MemberSpec {
            name: c.name.clone(),
            network: network(i),
            kubeconfig: Some(c.kubeconfig.clone()),
            kubeconfig_yaml: None,
            context: None,
        })
        .collect()
}

/// Starts the controller in-process on `env`'s clusters.
pub async fn start(
    env: &Env,
    grace: Duration,
    unreachable_after: Duration,
) -> (ControllerHandle, Arc<IndexEngine>) {
    start_with(env, grace, unreachable_after, |_| {}).await
}

/// Starts the controller in-process on `env`'s clusters, with `adjust` applied to its
/// settings (probes every 300 ms, metrics on an ephemeral port).
pub async fn start_with(
    env: &Env,
    grace: Duration,
    unreachable_after: Duration,
    adjust: impl FnOnce(&mut RunConfig),
) -> (ControllerHandle, Arc<IndexEngine>) {
    let members = members(env);
    let infos = members
        .iter()
        .map(|m| MemberInfo::new(m.name.clone(), m.network.clone()))
        .collect();
    let rcfg = ReconcileConfig {
        unreachable_grace: grace,
        ..ReconcileConfig::default()
    };
    let metrics = Arc::new(Metrics::new());
    let engine = Arc::new(IndexEngine::new(infos, rcfg).with_metrics(metrics.clone()));
    let mut cfg = RunConfig::new("e2e", members);
    cfg.unreachable_after = unreachable_after;
    cfg.unreachable_grace = grace;
    cfg.probe_period = Duration::from_millis(300);
    cfg.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    adjust(&mut cfg);
    let handle = runtime::start(cfg, engine.clone(), metrics)
        .await
        .expect("controller starts");
    (handle, engine)
}

/// Starts `mesh-controller run` on a clusterset file, leader-elected with its Lease in the
/// cluster of `lease_kubeconfig`, and waits (up to 60 s) until `done` holds.
pub async fn run_binary_until(
    clusterset: &Path,
    lease_kubeconfig: &Path,
    lease_namespace: &str,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args([
            "run",
            "--clusterset",
            clusterset.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--leader-elect",
            "--lease-kubeconfig",
            lease_kubeconfig.to_str().unwrap(),
        ])
        .args(["--lease-namespace", lease_namespace])
        .env("POD_NAME", "install-test")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut ok = false;
    while start.elapsed() < Duration::from_secs(60) {
        if done() {
            ok = true;
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            return Err(format!(
                "controller exited with {status}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the writes that follow the import (status, events) happen too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "not done within 60 s; controller stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
