//! Cluster taints against a placement's tolerations: the toleration match the filter uses,
//! and the evictions `NoExecute` taints cause.

use std::collections::BTreeMap;

use crate::cluster::{ClusterInfo, Taint};
use crate::model::{Placement, Toleration};

/// Whether toleration `t` tolerates `taint`.
pub(super) fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if !t.effect.is_empty() && t.effect != taint.effect {
        return false;
    }
    if !t.key.is_empty() && t.key != taint.key {
        return false;
    }
    match t.operator.as_str() {
        "" | "Equal" => t.value == taint.value,
        "Exists" => true,
        _ => false,
    }
}

/// A cluster the workload should leave because of a `NoExecute` taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eviction {
    /// Cluster to leave.
    pub cluster: String,
    /// The taint, as `key=value:effect`.
    pub taint: String,
    /// Seconds to wait before evicting: 0 when no toleration matches, else the smallest
    /// `tolerationSeconds` of the tolerations used (the first matching one per taint).
    pub after_seconds: i64,
}

/// `NoExecute` evictions for a workload currently on the `previous` clusters, with the
/// Kubernetes taint-manager rule: each `NoExecute` taint uses the first toleration that
/// tolerates it; an untolerated taint evicts now; used tolerations with `tolerationSeconds`
/// delay it (the smallest wins); a used toleration without `tolerationSeconds` tolerates its
/// taint forever.
pub fn no_execute_evictions(
    placement: &Placement,
    clusters: &[ClusterInfo],
    previous: &BTreeMap<String, i32>,
) -> Vec<Eviction> {
    let mut out = Vec::new();
    for c in clusters.iter().filter(|c| previous.contains_key(&c.name)) {
        let mut soonest: Option<(i64, String)> = None;
        for taint in c.taints.iter().filter(|t| t.effect == "NoExecute") {
            // like the taint manager (`GetMatchingTolerations`), the first toleration that
            // tolerates the taint is the one used
            let used = placement
                .cluster_tolerations
                .iter()
                .find(|t| tolerates(t, taint));
            let after = match used {
                None => Some(0),
                Some(t) => t.toleration_seconds.map(|s| s.max(0)),
            };
            if let Some(after) = after
                && soonest.as_ref().is_none_or(|(s, _)| after < *s)
            {
                soonest = Some((after, taint.to_string()));
            }
        }
        if let Some((after_seconds, taint)) = soonest {
            out.push(Eviction {
                cluster: c.name.clone(),
                taint,
                after_seconds,
            });
        }
    }
    out
}
