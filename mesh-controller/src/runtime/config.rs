//! Runtime settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::leader::LeaseConfig;
use crate::members::MemberSpec;

/// How the replica decides whether it writes.
#[derive(Clone, Debug)]
pub enum LeaderMode {
    /// Always write (single replica, demo, tests).
    Disabled,
    /// Hold a Lease before writing.
    Lease {
        /// Cluster holding the Lease: this kubeconfig, or the first member when `None`.
        kubeconfig: Option<PathBuf>,
        /// Lease settings.
        config: LeaseConfig,
    },
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Clusterset name (About-API `clusterset.k8s.io`).
    pub clusterset: String,
    /// Members.
    pub members: Vec<MemberSpec>,
    /// Where to serve `/healthz`, `/readyz`, `/metrics` (`None`: not served).
    pub metrics_listen: Option<SocketAddr>,
    /// A member whose watches (or probe) all fail this long is unreachable.
    pub unreachable_after: Duration,
    /// The reconcile's grace period for unreachable members: a pass is scheduled when it
    /// expires, so their exports are withdrawn on time.
    pub unreachable_grace: Duration,
    /// Full resync period (re-apply everything, prune by listing).
    pub resync_period: Duration,
    /// Quiet time after an event before reconciling.
    pub debounce: Duration,
    /// Health probe period.
    pub probe_period: Duration,
    /// Server-side timeout of watch requests.
    pub watch_timeout: Duration,
    /// Longest time one pass may spend writing to one member.
    pub write_timeout: Duration,
    /// Leader election.
    pub leader: LeaderMode,
    /// Serve ClusterSet discovery over gRPC (every replica, leader or not).
    pub discovery: Option<crate::discovery::DiscoveryConfig>,
    /// Read what the Istio wiring needs from every member (with `ReconcileConfig::istio`).
    pub istio: Option<IstioReads>,
}

/// What the live half reads from every member for the Istio wiring: the
/// `istio-ca-root-cert` ConfigMap of `istio-system` (watched), and the reader token Secret
/// and `cacerts` (read by name every `refresh`: the member grants `get` on them only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IstioReads {
    /// Period of the Secret reads (a rotated reader token reaches the remote secrets within it).
    pub refresh: Duration,
}

/// Default [`IstioReads::refresh`].
pub const DEFAULT_ISTIO_REFRESH: Duration = Duration::from_secs(30);

impl Default for IstioReads {
    fn default() -> Self {
        Self {
            refresh: DEFAULT_ISTIO_REFRESH,
        }
    }
}

impl RunConfig {
    /// Defaults for `members`: 10 s unreachable threshold, 5 min resync, 100 ms debounce,
    /// 2 s probe, no leader election, no HTTP endpoints.
    pub fn new(clusterset: impl Into<String>, members: Vec<MemberSpec>) -> Self {
        Self {
            clusterset: clusterset.into(),
            members,
            metrics_listen: None,
            unreachable_after: Duration::from_secs(10),
            unreachable_grace: crate::model::DEFAULT_UNREACHABLE_GRACE,
            resync_period: Duration::from_secs(300),
            debounce: Duration::from_millis(100),
            probe_period: Duration::from_secs(2),
            watch_timeout: Duration::from_secs(290),
            write_timeout: Duration::from_secs(30),
            leader: LeaderMode::Disabled,
            discovery: None,
            istio: None,
        }
    }
}
