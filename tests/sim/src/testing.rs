//! Clusters for scenario suites: simulated ones by default, real ones when
//! `ISTHMUS_E2E_KUBECONFIGS` names kubeconfig files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cluster::{SimCluster, SimError, SimOptions};
use crate::crds::mcs_crds;

/// Environment variable with comma-separated kubeconfig paths of real clusters.
pub const KUBECONFIGS_ENV: &str = "ISTHMUS_E2E_KUBECONFIGS";

/// One cluster a suite runs against.
#[derive(Debug)]
pub struct TestCluster {
    /// Cluster name (the simulated cluster's name, or the current context's cluster name).
    pub name: String,
    /// Kubeconfig file for the cluster.
    pub kubeconfig: PathBuf,
    /// The simulated cluster, when simulated (faults and seeding are available then).
    pub sim: Option<SimCluster>,
}

/// The clusters of a suite; simulated kubeconfigs are deleted on drop.
#[derive(Debug)]
pub struct TestClusters {
    /// The clusters, in order.
    pub clusters: Vec<TestCluster>,
    dir: Option<PathBuf>,
}

impl TestClusters {
    /// True when the clusters are simulated.
    pub fn is_simulated(&self) -> bool {
        self.clusters.iter().all(|c| c.sim.is_some())
    }

    /// The kubeconfig paths, in order.
    pub fn kubeconfig_paths(&self) -> Vec<&Path> {
        self.clusters
            .iter()
            .map(|c| c.kubeconfig.as_path())
            .collect()
    }
}

impl Drop for TestClusters {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The kubeconfig paths named by `ISTHMUS_E2E_KUBECONFIGS`, if it is set and not empty.
pub fn e2e_kubeconfigs() -> Option<Vec<PathBuf>> {
    let list = std::env::var(KUBECONFIGS_ENV).ok()?;
    let paths: Vec<PathBuf> = list
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    (!paths.is_empty()).then_some(paths)
}

/// Returns `n` clusters: the first `n` real ones named by `ISTHMUS_E2E_KUBECONFIGS`
/// (comma-separated kubeconfig paths) when it is set, otherwise `n` simulated clusters
/// (`cluster-1`..`cluster-n`, TLS, bearer token, MCS and ClusterProperty CRDs installed).
pub async fn clusters_for_tests(n: usize) -> Result<TestClusters, SimError> {
    match e2e_kubeconfigs() {
        Some(paths) => real_clusters(paths, n),
        None => simulated_clusters(n).await,
    }
}

fn real_clusters(paths: Vec<PathBuf>, n: usize) -> Result<TestClusters, SimError> {
    if paths.len() < n {
        return Err(SimError::Config {
            file: KUBECONFIGS_ENV.into(),
            message: format!(
                "the suite needs {n} clusters but {} kubeconfig(s) are listed",
                paths.len()
            ),
        });
    }
    let mut clusters = Vec::new();
    for path in paths.into_iter().take(n) {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| SimError::Config {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let cfg: Value = serde_saphyr::from_str(&text).map_err(|e| SimError::Config {
            file: file.clone(),
            message: format!("not a kubeconfig: {e}"),
        })?;
        let name = cluster_name(&cfg).ok_or_else(|| SimError::Config {
            file: file.clone(),
            message: "current-context names no context with a cluster".into(),
        })?;
        clusters.push(TestCluster {
            name,
            kubeconfig: path,
            sim: None,
        });
    }
    Ok(TestClusters {
        clusters,
        dir: None,
    })
}

/// The cluster name of a kubeconfig's current context.
fn cluster_name(cfg: &Value) -> Option<String> {
    let current = cfg.get("current-context")?.as_str()?;
    cfg.get("contexts")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(current))?
        .pointer("/context/cluster")?
        .as_str()
        .map(str::to_string)
}

/// `n` simulated clusters (`cluster-1`..`cluster-n`, TLS, bearer token, MCS and
/// ClusterProperty CRDs installed), whatever `ISTHMUS_E2E_KUBECONFIGS` says: for suites that
/// need what only the simulator offers (fault injection, seeding, request logs).
pub async fn simulated_clusters(n: usize) -> Result<TestClusters, SimError> {
    let dir = std::env::temp_dir().join(format!("kube-sim-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|source| SimError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    let mut out = TestClusters {
        clusters: Vec::new(),
        dir: Some(dir.clone()),
    };
    for i in 1..=n {
        let name = format!("cluster-{i}");
        let sim = SimCluster::start(SimOptions {
            name: name.clone(),
            tls: true,
            token: Some(format!("token-{}", uuid::Uuid::new_v4().simple())),
            crds: mcs_crds(),
            ..SimOptions::default()
        })
        .await?;
        let kubeconfig = dir.join(format!("{name}.yaml"));
        sim.write_kubeconfig(&kubeconfig)?;
        out.clusters.push(TestCluster {
            name,
            kubeconfig,
            sim: Some(sim),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn real_clusters_come_from_kubeconfig_files() {
        let dir = std::env::temp_dir().join(format!("kube-sim-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut paths = Vec::new();
        for name in ["east", "west"] {
            let p = dir.join(format!("{name}.yaml"));
            let text = format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: ctx\ncontexts:\n- name: ctx\n  context: {{cluster: {name}, user: u}}\nclusters:\n- name: {name}\n  cluster: {{server: https://127.0.0.1:1}}\nusers:\n- name: u\n  user: {{}}\n"
            );
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        let got = real_clusters(paths.clone(), 2).unwrap();
        assert!(!got.is_simulated());
        let names: Vec<&str> = got.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["east", "west"]);
        let err = real_clusters(paths, 3).unwrap_err().to_string();
        assert!(
            err.contains(KUBECONFIGS_ENV) && err.contains("needs 3"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_cluster_name_of_current_context() -> Result<(), serde_saphyr::Error> {
        let cfg: Value = serde_saphyr::from_str(
            "current-context: b\ncontexts:\n- name: a\n  context: {cluster: east}\n- name: b\n  context: {cluster: west}\n",
        )?;
        assert_eq!(cluster_name(&cfg).as_deref(), Some("west"));
        Ok(())
    }
}
