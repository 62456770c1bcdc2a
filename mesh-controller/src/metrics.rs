//! Prometheus metrics of the live controller.
//!
//! Labels carry cluster names, kinds and error classes only, never object names, so the series
//! count stays bounded by the clusterset size.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use mesh_proto::publisher::PublisherStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// State of a member cluster as the metrics report it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum MemberStateLabel {
    /// Not synced yet.
    Pending,
    /// Answering and synced.
    Reachable,
    /// Not answering for longer than the threshold.
    Unreachable,
}

/// Labels of the per-state member gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// The member state.
    pub state: MemberStateLabel,
}

/// Labels of per-cluster, per-kind series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterKindLabels {
    /// Member cluster name.
    pub cluster: String,
    /// Object kind (`ServiceImport`, `EndpointSlice`, ...).
    pub kind: String,
}

/// Labels of per-cluster, per-kind error series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterKindErrorLabels {
    /// Member cluster name.
    pub cluster: String,
    /// Object kind.
    pub kind: String,
    /// Error class (`conflict`, `invalid`, `forbidden`, `unavailable`, `other`).
    pub error: String,
}

/// Labels of per-cluster series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// Member cluster name.
    pub cluster: String,
}

/// Labels of the per-member MCS version gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterVersionLabels {
    /// Member cluster name.
    pub cluster: String,
    /// MCS API version used (`v1beta1`, `v1alpha1`, or `none`).
    pub version: String,
}

/// Every metric the live controller exports.
pub struct Metrics {
    registry: Registry,
    /// Members by state.
    pub members: Family<StateLabels, Gauge>,
    /// ServiceExports seen in all members.
    pub exports: Gauge,
    /// ServiceImports desired across all members.
    pub imports: Gauge,
    /// Exports in conflict.
    pub conflicts: Gauge,
    /// Reconcile duration (snapshot, pure reconcile and apply), seconds.
    pub reconcile_duration: Histogram,
    /// Reconcile runs.
    pub reconciles: Counter,
    /// Objects written by server-side apply, by cluster and kind.
    pub applies: Family<ClusterKindLabels, Counter>,
    /// Objects pruned, by cluster and kind.
    pub prunes: Family<ClusterKindLabels, Counter>,
    /// Failed writes, by cluster, kind and error class.
    pub apply_errors: Family<ClusterKindErrorLabels, Counter>,
    /// Watch stream errors, by cluster and kind.
    pub watch_errors: Family<ClusterKindLabels, Counter>,
    /// Watch events received, by cluster and kind.
    pub watch_events: Family<ClusterKindLabels, Counter>,
    /// Objects skipped because they could not be read, by cluster and kind.
    pub malformed: Family<ClusterKindLabels, Counter>,
    /// 1 while this replica holds the lease (or runs without leader election).
    pub leader: Gauge,
    /// Per member: 1 when reachable, 0 otherwise.
    pub member_reachable: Family<ClusterLabels, Gauge>,
    /// Per member: 1 for the MCS API version it serves and the controller uses.
    pub member_mcs_version: Family<ClusterVersionLabels, Gauge>,
    /// Per member, while the controller runs the clusterset CA: 1 when its istiod publishes a
    /// root other than the clusterset root, 0 otherwise.
    pub member_istio_foreign_root: Family<ClusterLabels, Gauge>,
    /// istiod Deployments restarted (pod template annotated), by member.
    pub istiod_restarts: Family<ClusterLabels, Counter>,
    /// The discovery publisher's counters, read at scrape time.
    pub discovery: Arc<DiscoveryStats>,
    /// Time to turn one pass's desired state into name tables and hand the changes to the
    /// discovery subscribers' queues, seconds.
    pub discovery_publish_duration: Histogram,
    /// Desired objects left out of a discovery table because they could not be read.
    pub discovery_skipped: Family<ClusterLabels, Counter>,
}

/// The discovery server's counters, exported on every scrape once a server is attached.
#[derive(Debug, Default)]
pub struct DiscoveryStats {
    inner: Mutex<Option<(Arc<PublisherStats>, Vec<String>)>>,
}

impl DiscoveryStats {
    /// Exports `stats`; `clusters` get a connected-proxies series even at zero.
    pub fn attach(&self, stats: Arc<PublisherStats>, clusters: Vec<String>) {
        *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((stats, clusters));
    }
}

fn encode_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    let m = encoder.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

impl Collector for DiscoveryStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((stats, clusters)) = guard.as_ref() else {
            return Ok(());
        };
        encode_counter(
            &mut encoder,
            "discovery_deltas_published",
            "Deltas published to discovery subscribers (one per changed member table)",
            stats.deltas_published.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "discovery_snapshots_sent",
            "Full snapshots sent to discovery subscribers (new, or not resumable)",
            stats.snapshots_sent.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "discovery_resumes",
            "Discovery subscribers that resumed from their version without a snapshot",
            stats.resumes.load(Ordering::Relaxed),
        )?;
        let connected = stats.connected();
        let mut m = encoder.encode_descriptor(
            "discovery_connected_proxies",
            "DNS proxies connected to this replica's discovery API, by member",
            None,
            ConstGauge::<i64>::TYPE,
        )?;
        let mut names: Vec<&String> = clusters.iter().collect();
        names.extend(connected.keys().filter(|c| !clusters.contains(c)));
        for cluster in names {
            let n = connected.get(cluster).copied().unwrap_or(0);
            let g = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
            g.encode(m.encode_family(&ClusterLabels {
                cluster: cluster.clone(),
            })?)?;
        }
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics and registers them under the `isthmus` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("isthmus");
        let members = Family::<StateLabels, Gauge>::default();
        let exports = Gauge::default();
        let imports = Gauge::default();
        let conflicts = Gauge::default();
        let reconcile_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let reconciles = Counter::default();
        let applies = Family::<ClusterKindLabels, Counter>::default();
        let prunes = Family::<ClusterKindLabels, Counter>::default();
        let apply_errors = Family::<ClusterKindErrorLabels, Counter>::default();
        let watch_errors = Family::<ClusterKindLabels, Counter>::default();
        let watch_events = Family::<ClusterKindLabels, Counter>::default();
        let malformed = Family::<ClusterKindLabels, Counter>::default();
        let leader = Gauge::default();
        let member_reachable = Family::<ClusterLabels, Gauge>::default();
        let member_mcs_version = Family::<ClusterVersionLabels, Gauge>::default();
        let member_istio_foreign_root = Family::<ClusterLabels, Gauge>::default();
        let istiod_restarts = Family::<ClusterLabels, Counter>::default();
        let discovery = Arc::new(DiscoveryStats::default());
        let discovery_publish_duration = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let discovery_skipped = Family::<ClusterLabels, Counter>::default();
        registry.register("members", "Member clusters by state", members.clone());
        registry.register(
            "exports",
            "ServiceExports seen across members",
            exports.clone(),
        );
        registry.register(
            "imports",
            "ServiceImports desired across members",
            imports.clone(),
        );
        registry.register("conflicts", "ServiceExports in conflict", conflicts.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile pass (snapshot, reconcile, apply)",
            reconcile_duration.clone(),
        );
        registry.register("reconciles", "Reconcile passes", reconciles.clone());
        registry.register(
            "applies",
            "Objects written by server-side apply",
            applies.clone(),
        );
        registry.register(
            "prunes",
            "Owned objects deleted because no longer desired",
            prunes.clone(),
        );
        registry.register(
            "apply_errors",
            "Failed writes by cluster, kind and error",
            apply_errors.clone(),
        );
        registry.register(
            "watch_errors",
            "Watch stream errors by cluster and kind",
            watch_errors.clone(),
        );
        registry.register(
            "watch_events",
            "Watch events received by cluster and kind",
            watch_events.clone(),
        );
        registry.register(
            "malformed_objects",
            "Objects skipped because they could not be read",
            malformed.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica writes (holds the lease)",
            leader.clone(),
        );
        registry.register(
            "member_reachable",
            "1 when the member answers",
            member_reachable.clone(),
        );
        registry.register(
            "member_mcs_version",
            "1 for the MCS API version the member serves (discovery: v1beta1 preferred)",
            member_mcs_version.clone(),
        );
        registry.register(
            "member_istio_foreign_root",
            "1 when the member's istiod publishes a root other than the clusterset root (while the controller runs the clusterset CA)",
            member_istio_foreign_root.clone(),
        );
        registry.register(
            "istiod_restarts",
            "istiod Deployments restarted for the clusterset root (pod template annotated)",
            istiod_restarts.clone(),
        );
        registry.register_collector(Box::new(discovery.clone()));
        registry.register(
            "discovery_publish_duration_seconds",
            "Time to build the discovery tables of one pass and queue the changes for subscribers",
            discovery_publish_duration.clone(),
        );
        registry.register(
            "discovery_skipped_objects",
            "Desired objects left out of a member's discovery table because they could not be read",
            discovery_skipped.clone(),
        );
        Self {
            registry,
            members,
            exports,
            imports,
            conflicts,
            reconcile_duration,
            reconciles,
            applies,
            prunes,
            apply_errors,
            watch_errors,
            watch_events,
            malformed,
            leader,
            member_reachable,
            member_mcs_version,
            member_istio_foreign_root,
            istiod_restarts,
            discovery,
            discovery_publish_duration,
            discovery_skipped,
        }
    }

    /// Counts `n` desired objects left out of `cluster`'s discovery table.
    pub fn discovery_skipped(&self, cluster: &str, n: usize) {
        self.discovery_skipped
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one failed write.
    pub fn apply_error(&self, cluster: &str, kind: &str, error: &str) {
        self.apply_errors
            .get_or_create(&ClusterKindErrorLabels {
                cluster: cluster.to_owned(),
                kind: kind.to_owned(),
                error: error.to_owned(),
            })
            .inc();
    }

    /// A per-cluster, per-kind label set.
    pub fn ck(cluster: &str, kind: &str) -> ClusterKindLabels {
        ClusterKindLabels {
            cluster: cluster.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_with_cluster_and_kind_labels_only() {
        let m = Metrics::new();
        m.apply_error("east", "ServiceImport", "conflict");
        m.applies
            .get_or_create(&Metrics::ck("west", "EndpointSlice"))
            .inc();
        m.members
            .get_or_create(&StateLabels {
                state: MemberStateLabel::Unreachable,
            })
            .set(1);
        m.reconcile_duration.observe(0.01);
        let text = m.encode();
        assert!(text.contains(
            r#"isthmus_apply_errors_total{cluster="east",kind="ServiceImport",error="conflict"} 1"#
        ));
        assert!(text.contains(r#"isthmus_applies_total{cluster="west",kind="EndpointSlice"} 1"#));
        assert!(text.contains(r#"isthmus_members{state="Unreachable"} 1"#));
        assert!(text.contains("isthmus_reconcile_duration_seconds_count 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
