//! The clusterset of one test: its clusters (simulated, or the real ones named by
//! `ISTHMUS_E2E_KUBECONFIGS`), a client per cluster and a namespace unique to the test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::Client;
use kube_sim::TestClusters;
use serde_json::json;

use crate::k8s;

/// The clusters of one test plus a client per cluster.
pub struct Env {
    pub clusters: TestClusters,
    pub clients: Vec<Client>,
    pub names: Vec<String>,
    /// A namespace unique to the test.
    pub ns: String,
    /// How long the helpers that wait on this environment wait (30 s).
    pub limit: Duration,
}

/// The network of member `i`: two networks, members alternating between them.
pub fn network(i: usize) -> String {
    format!("network-{}", i % 2 + 1)
}

impl Env {
    /// `n` clusters from `kube_sim::clusters_for_tests`: simulated, or the first `n` real
    /// ones named by `ISTHMUS_E2E_KUBECONFIGS`.
    pub async fn new(n: usize) -> Env {
        init_tracing();
        let clusters = kube_sim::clusters_for_tests(n)
            .await
            .expect("clusters for tests");
        Env::with(clusters).await
    }

    /// `n` simulated clusters whatever `ISTHMUS_E2E_KUBECONFIGS` says, for scenarios that
    /// need the simulator (fault injection, seeding, request logs, a simulated hub).
    pub async fn simulated(n: usize) -> Env {
        init_tracing();
        let clusters = kube_sim::testing::simulated_clusters(n)
            .await
            .expect("simulated clusters");
        Env::with(clusters).await
    }

    async fn with(clusters: TestClusters) -> Env {
        let mut clients = Vec::new();
        let mut names = Vec::new();
        for c in &clusters.clusters {
            clients.push(k8s::client(&c.kubeconfig).await);
            names.push(c.name.clone());
        }
        let ns = format!(
            "e2e-{:x}",
            std::process::id() ^ (jiff::Timestamp::now().subsec_nanosecond() as u32)
        );
        Env {
            clusters,
            clients,
            names,
            ns,
            limit: Duration::from_secs(30),
        }
    }

    pub fn is_simulated(&self) -> bool {
        self.clusters.is_simulated()
    }

    /// The simulated cluster `i`; panics on real clusters (use [`Env::simulated`]).
    pub fn sim(&self, i: usize) -> &kube_sim::SimCluster {
        self.clusters.clusters[i]
            .sim
            .as_ref()
            .expect("a simulated cluster (Env::simulated)")
    }

    /// Cluster `i`'s kubeconfig file.
    pub fn kubeconfig(&self, i: usize) -> &Path {
        &self.clusters.clusters[i].kubeconfig
    }

    /// A clusterset file naming every cluster (networks by [`network`], kubeconfig files,
    /// LoadBalancer east-west gateways), written as `<dir>/clusterset.yaml`.
    pub fn write_clusterset(&self, dir: &Path) -> PathBuf {
        let mut s = String::from("name: e2e\nmeshID: e2e\nmembers:\n");
        for (i, c) in self.clusters.clusters.iter().enumerate() {
            s.push_str(&format!(
                "- name: {}\n  network: {}\n  kubeconfig: {}\n  eastWestGateway:\n    exposure: LoadBalancer\n",
                c.name,
                network(i),
                c.kubeconfig.display()
            ));
        }
        let path = dir.join("clusterset.yaml");
        std::fs::write(&path, s).unwrap();
        path
    }

    /// Creates the test namespace in the given clusters.
    pub async fn namespace_in(&self, which: &[usize]) {
        for &i in which {
            k8s::apply(
                &self.clients[i],
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}}),
            )
            .await;
        }
    }

    /// Creates the test namespace in every cluster.
    pub async fn namespace_everywhere(&self) {
        let all: Vec<usize> = (0..self.clients.len()).collect();
        self.namespace_in(&all).await;
    }
}

/// Logs of the code under test go to the test's output (`RUST_LOG`, `warn` by default).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
