//! Capacity estimates: how many more replicas of a workload a cluster can take.

use crate::cluster::ClusterInfo;
use crate::resource::{ReplicaRequirements, Resource};

/// Karmada's general estimator: how many more replicas of the workload the cluster can take.
/// `None` when the cluster reports no resource summary (unknown capacity).
pub fn max_available_replicas(
    cluster: &ClusterInfo,
    requirements: Option<&ReplicaRequirements>,
) -> Option<i64> {
    let summary = cluster.resource_summary.as_ref()?;
    let pods = crate::quantity::milli_to_value(summary.allowed_milli("pods"));
    if pods <= 0 {
        return Some(0);
    }
    let mut max = pods;
    if let Some(req) = requirements {
        for (name, &want) in &req.requests {
            if want <= 0 || name == "pods" {
                continue;
            }
            let avail = summary.allowed_milli(name);
            let n = if name == "cpu" {
                avail.div_euclid(want)
            } else {
                let want_units = crate::quantity::milli_to_value(want);
                let avail_units = crate::quantity::milli_to_value(avail);
                if want_units <= 0 {
                    continue;
                }
                avail_units.div_euclid(want_units)
            };
            max = max.min(n);
        }
    }
    Some(i64::try_from(max.clamp(0, i128::from(i32::MAX))).unwrap_or(0))
}

/// The cluster's estimate, or the workload's replicas when its capacity is unknown.
pub(super) fn available_for(c: &ClusterInfo, resource: &Resource) -> i64 {
    max_available_replicas(c, resource.requirements.as_ref())
        .unwrap_or(i64::from(resource.replicas))
}
