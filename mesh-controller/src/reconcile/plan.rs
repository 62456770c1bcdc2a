//! The plan of a pass: a reconcile outcome as the writes of each member (see [`crate::plan`]).

use std::collections::BTreeMap;

use tracing::warn;

use super::SharedDesired;
use crate::model::Snapshot;
use crate::plan::{ClusterPlan, EventWrite, Plan, StatusWrite};
use crate::root_of_trust::Trust;

/// The plan of a pass: per member, references to the shared desired objects, the
/// ServiceExport statuses and the events.
pub fn to_plan(desired: &SharedDesired, snap: &Snapshot) -> Plan {
    let version = |cluster: &str| {
        snap.members
            .get(cluster)
            .map(|m| m.mcs_version)
            .unwrap_or_default()
            .api_version()
            .to_owned()
    };
    let mut clusters: BTreeMap<String, ClusterPlan> = BTreeMap::new();
    for (cluster, objects) in desired.members.iter().zip(desired.objects_by_member()) {
        clusters.entry(cluster.clone()).or_default().shared = objects;
    }
    for (cluster, st) in &desired.member_status {
        let cp = clusters.entry(cluster.clone()).or_default();
        cp.foreign_root = st
            .root_of_trust
            .as_ref()
            .map(|r| r.trust == Trust::ForeignRoot);
        cp.restart_istiod.clone_from(&st.restart_istiod);
    }
    for (cluster, key, status) in desired.export_statuses() {
        let status = match serde_json::to_value(status) {
            Ok(v) => v,
            Err(e) => {
                warn!(cluster = %cluster, export = %key, error = %e, "cannot encode export status");
                continue;
            }
        };
        clusters
            .entry(cluster.clone())
            .or_default()
            .statuses
            .push(StatusWrite {
                api_version: version(cluster),
                kind: "ServiceExport".into(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                status,
            });
    }
    for ev in desired.events() {
        let api_version = version(&ev.cluster);
        clusters
            .entry(ev.cluster)
            .or_default()
            .events
            .push(EventWrite {
                api_version,
                kind: "ServiceExport".into(),
                namespace: ev.export.namespace,
                name: ev.export.name,
                type_: ev.type_.as_str().into(),
                reason: ev.reason,
                message: ev.message,
            });
    }
    Plan {
        clusters,
        exports: snap.members.values().map(|m| m.exports.len()).sum(),
        imports: desired.member_status.values().map(|m| m.imports).sum(),
        conflicts: desired.summary.conflicts,
    }
}
