//! The live cluster registry: one Kubernetes client per member, the member's health, the MCS
//! API version it serves, and the About-API `ClusterProperty` objects written into it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use isthmus_api::labels::{CLUSTER_ID_PROPERTY, CLUSTERSET_PROPERTY, MANAGED_BY, MANAGED_BY_VALUE};
use isthmus_api::mcs;
use jiff::Timestamp;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::time::Instant;

/// Errors building a member's client.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The member has no kubeconfig.
    #[error("member {member}: no kubeconfig given (field `kubeconfig` of the clusterset file)")]
    NoKubeconfig {
        /// Member name.
        member: String,
    },
    /// The kubeconfig could not be read or used.
    #[error("member {member}: kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// Member name.
        member: String,
        /// The file.
        path: PathBuf,
        /// The error.
        source: Box<kube::config::KubeconfigError>,
    },
    /// The client could not be built.
    #[error("member {member}: cannot build a client: {source}")]
    Client {
        /// Member name.
        member: String,
        /// The error.
        source: Box<kube::Error>,
    },
}

/// What the controller needs to know to reach a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// Cluster ID (unique in the clusterset).
    pub name: String,
    /// Istio network.
    pub network: String,
    /// Kubeconfig file.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig content (from a Secret), used instead of `kubeconfig` when set.
    pub kubeconfig_yaml: Option<KubeconfigText>,
    /// Kubeconfig context.
    pub context: Option<String>,
}

/// Kubeconfig text and where it came from (for error messages).
#[derive(Clone, PartialEq, Eq)]
pub struct KubeconfigText {
    /// Where it came from, e.g. `secret isthmus-system/east-kubeconfig`.
    pub origin: String,
    /// The YAML.
    pub yaml: String,
}

impl std::fmt::Debug for KubeconfigText {
    // Credentials stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KubeconfigText({})", self.origin)
    }
}

impl MemberSpec {
    /// The members of a clusterset file.
    pub fn from_clusterset(cs: &gateway_config::clusterset::ClusterSet) -> Vec<Self> {
        cs.members
            .iter()
            .map(|m| Self {
                name: m.name.clone(),
                network: m.network.clone(),
                kubeconfig: m.kubeconfig.clone(),
                kubeconfig_yaml: None,
                context: m.context.clone(),
            })
            .collect()
    }
}

/// Builds a client from a kubeconfig file and optional context.
pub async fn client_for(
    member: &str,
    path: &Path,
    context: Option<&str>,
) -> Result<Client, MemberError> {
    let kc_err = |source| MemberError::Kubeconfig {
        member: member.to_owned(),
        path: path.to_owned(),
        source: Box::new(source),
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kc_err)?;
    client_from_kubeconfig(member, kubeconfig, context, path).await
}

/// Builds the client of a member from its file or inline kubeconfig.
pub async fn client_for_spec(spec: &MemberSpec) -> Result<Client, MemberError> {
    if let Some(text) = &spec.kubeconfig_yaml {
        let origin = PathBuf::from(&text.origin);
        let kc = Kubeconfig::from_yaml(&text.yaml).map_err(|source| MemberError::Kubeconfig {
            member: spec.name.clone(),
            path: origin.clone(),
            source: Box::new(source),
        })?;
        return client_from_kubeconfig(&spec.name, kc, spec.context.as_deref(), &origin).await;
    }
    let path = spec
        .kubeconfig
        .as_ref()
        .ok_or_else(|| MemberError::NoKubeconfig {
            member: spec.name.clone(),
        })?;
    client_for(&spec.name, path, spec.context.as_deref()).await
}

/// Builds a client from an already parsed kubeconfig (`origin` names it in errors).
pub async fn client_from_kubeconfig(
    member: &str,
    kubeconfig: Kubeconfig,
    context: Option<&str>,
    origin: &Path,
) -> Result<Client, MemberError> {
    let opts = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &opts)
        .await
        .map_err(|source| MemberError::Kubeconfig {
            member: member.to_owned(),
            path: origin.to_owned(),
            source: Box::new(source),
        })?;
    // Fail requests fast so an unreachable member is noticed; watches use their own timeout.
    config.connect_timeout = Some(Duration::from_secs(3));
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).map_err(|source| MemberError::Client {
        member: member.to_owned(),
        source: Box::new(source),
    })
}

/// Reachability of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reachability {
    /// Not synced yet.
    Pending,
    /// Answering.
    Reachable,
    /// Not answering since the timestamp.
    Unreachable {
        /// When it was marked unreachable.
        since: Timestamp,
    },
}

impl Reachability {
    /// `Pending`, `Reachable` or `Unreachable`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Reachable => "Reachable",
            Self::Unreachable { .. } => "Unreachable",
        }
    }
}

/// The observable status of one member.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberStatus {
    /// Cluster ID.
    pub name: String,
    /// Istio network.
    pub network: String,
    /// Reachability.
    pub reachability: Reachability,
    /// When every watch of the member last completed its initial list.
    pub last_sync: Option<Timestamp>,
    /// Every watch listed at least once since start.
    pub synced_once: bool,
    /// MCS API version used (`v1beta1` preferred, `v1alpha1` fallback), if any is served.
    pub mcs_version: Option<String>,
    /// Last error seen talking to the member.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct WatchHealth {
    /// Listed at least once.
    synced: bool,
    /// Failing since (monotonic), while failing.
    failing_since: Option<Instant>,
}

#[derive(Debug)]
struct Inner {
    status: MemberStatus,
    watches: BTreeMap<String, WatchHealth>,
    probe_failing_since: Option<Instant>,
}

/// Shared health of one member, fed by its watches and health probe.
#[derive(Clone, Debug)]
pub struct MemberHealth {
    inner: Arc<Mutex<Inner>>,
}

impl MemberHealth {
    /// A new, pending member.
    pub fn new(name: &str, network: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                status: MemberStatus {
                    name: name.to_owned(),
                    network: network.to_owned(),
                    reachability: Reachability::Pending,
                    last_sync: None,
                    synced_once: false,
                    mcs_version: None,
                    last_error: None,
                },
                watches: BTreeMap::new(),
                probe_failing_since: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot of the status.
    pub fn status(&self) -> MemberStatus {
        self.lock().status.clone()
    }

    /// Registers a watch by kind (before it starts).
    pub fn register_watch(&self, kind: &str) {
        self.lock().watches.insert(
            kind.to_owned(),
            WatchHealth {
                synced: false,
                failing_since: None,
            },
        );
    }

    /// Records the MCS version chosen by discovery.
    pub fn set_mcs_version(&self, version: Option<String>) {
        self.lock().status.mcs_version = version;
    }

    /// A watch delivered an event or finished a list.
    pub fn watch_ok(&self, kind: &str, listed: bool) {
        let mut g = self.lock();
        let w = g.watches.entry(kind.to_owned()).or_insert(WatchHealth {
            synced: false,
            failing_since: None,
        });
        w.failing_since = None;
        if listed {
            w.synced = true;
        }
        let all_synced = g.watches.values().all(|w| w.synced);
        if listed && all_synced {
            g.status.last_sync = Some(Timestamp::now());
            g.status.synced_once = true;
        }
        if g.status.synced_once && g.probe_failing_since.is_none() {
            g.status.reachability = Reachability::Reachable;
        }
    }

    /// A watch failed.
    pub fn watch_failed(&self, kind: &str, error: &str) {
        let mut g = self.lock();
        let w = g.watches.entry(kind.to_owned()).or_insert(WatchHealth {
            synced: false,
            failing_since: None,
        });
        w.failing_since.get_or_insert_with(Instant::now);
        g.status.last_error = Some(error.to_owned());
    }

    /// Forgets a watch (the discovery step once it succeeded).
    pub fn remove_watch(&self, kind: &str) {
        self.lock().watches.remove(kind);
    }

    /// The health probe answered (`Ok`) or not.
    ///
    /// A watch that resumes after an outage delivers nothing until something changes, so a
    /// successful probe also ends the failure streak of every watch: the API server answers,
    /// and a watch that still fails reports again on its next attempt.
    pub fn probe(&self, result: Result<(), String>) {
        let mut g = self.lock();
        match result {
            Ok(()) => {
                g.probe_failing_since = None;
                for w in g.watches.values_mut() {
                    w.failing_since = None;
                }
                // Leaving `Unreachable` is decided by `evaluate`, which reports the change.
            }
            Err(e) => {
                g.probe_failing_since.get_or_insert_with(Instant::now);
                g.status.last_error = Some(e);
            }
        }
    }

    /// Re-evaluates reachability: unreachable when every watch has been failing, or the
    /// probe has been failing, for longer than `threshold`. Returns true when it changed.
    pub fn evaluate(&self, threshold: Duration) -> bool {
        let mut g = self.lock();
        let now = Instant::now();
        let all_watches_failing = !g.watches.is_empty()
            && g.watches.values().all(|w| {
                w.failing_since
                    .is_some_and(|t| now.duration_since(t) >= threshold)
            });
        let probe_failing = g
            .probe_failing_since
            .is_some_and(|t| now.duration_since(t) >= threshold);
        let before = g.status.reachability;
        if all_watches_failing || probe_failing {
            if !matches!(before, Reachability::Unreachable { .. }) {
                g.status.reachability = Reachability::Unreachable {
                    since: Timestamp::now(),
                };
            }
        } else if matches!(before, Reachability::Unreachable { .. })
            && g.probe_failing_since.is_none()
            && g.watches.values().all(|w| w.failing_since.is_none())
        {
            g.status.reachability = Reachability::Reachable;
        }
        g.status.reachability != before
    }
}

/// Picks the MCS version to use from the versions a member serves.
pub fn pick_mcs_version<'a>(served: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let served: Vec<&str> = served.into_iter().collect();
    ["v1beta1", "v1alpha1"]
        .into_iter()
        .find(|v| served.contains(v))
        .map(str::to_owned)
}

/// Discovers which MCS version a member serves (`None` when the MCS CRDs are not installed).
pub async fn discover_mcs_version(client: &Client) -> Result<Option<String>, kube::Error> {
    match kube::discovery::group(client, mcs::GROUP).await {
        Ok(group) => Ok(pick_mcs_version(group.versions())),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(kube::Error::Discovery(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The About-API `ClusterProperty` objects for a member: its ID and the clusterset name.
pub fn cluster_properties(cluster: &str, clusterset: &str) -> Vec<Value> {
    [
        (CLUSTER_ID_PROPERTY, cluster),
        (CLUSTERSET_PROPERTY, clusterset),
    ]
    .into_iter()
    .map(|(name, value)| {
        json!({
            "apiVersion": "about.k8s.io/v1alpha1",
            "kind": "ClusterProperty",
            "metadata": {"name": name, "labels": {MANAGED_BY: MANAGED_BY_VALUE}},
            "spec": {"value": value},
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_v1beta1_and_falls_back_to_v1alpha1() {
        assert_eq!(
            pick_mcs_version(["v1alpha1", "v1beta1"]),
            Some("v1beta1".into())
        );
        assert_eq!(pick_mcs_version(["v1alpha1"]), Some("v1alpha1".into()));
        assert_eq!(pick_mcs_version(["v2"]), None);
    }

    #[test]
    fn one_failed_watch_does_not_make_a_member_unreachable() {
        let h = MemberHealth::new("east", "net1");
        h.register_watch("Service");
        h.register_watch("ServiceExport");
        h.watch_ok("Service", true);
        h.watch_ok("ServiceExport", true);
        assert_eq!(h.status().reachability, Reachability::Reachable);
        assert!(h.status().synced_once);
        h.watch_failed("Service", "connection refused");
        h.evaluate(Duration::ZERO);
        assert_eq!(h.status().reachability, Reachability::Reachable);
        h.watch_failed("ServiceExport", "connection refused");
        assert!(h.evaluate(Duration::ZERO));
        assert!(matches!(
            h.status().reachability,
            Reachability::Unreachable { .. }
        ));
        // Resumed watches deliver nothing; the answering probe ends the outage.
        h.probe(Ok(()));
        h.evaluate(Duration::ZERO);
        assert_eq!(h.status().reachability, Reachability::Reachable);
    }

    #[test]
    fn failing_probe_marks_unreachable_only_after_the_threshold() {
        let h = MemberHealth::new("east", "net1");
        h.register_watch("Service");
        h.watch_ok("Service", true);
        h.probe(Err("timeout".into()));
        assert!(!h.evaluate(Duration::from_secs(3600)));
        assert_eq!(h.status().reachability, Reachability::Reachable);
        assert!(h.evaluate(Duration::ZERO));
        assert_eq!(h.status().last_error.as_deref(), Some("timeout"));
    }

    #[test]
    fn cluster_properties_carry_id_and_clusterset() {
        let props = cluster_properties("east", "prod");
        assert_eq!(props[0]["metadata"]["name"], CLUSTER_ID_PROPERTY);
        assert_eq!(props[0]["spec"]["value"], "east");
        assert_eq!(props[1]["spec"]["value"], "prod");
    }
}
