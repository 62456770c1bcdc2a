//! The cluster filter: API enablement, untolerated taints, cluster affinity and spread
//! properties, and the reason a cluster is filtered out.

use std::collections::BTreeMap;

use super::taints::tolerates;
use crate::cluster::ClusterInfo;
use crate::model::{ClusterAffinity, Placement};
use crate::resource::Resource;
use crate::selector;

/// Why a cluster was filtered out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterReason {
    /// The cluster does not serve the resource's apiVersion/kind.
    ApiNotEnabled,
    /// The cluster has a `NoSchedule`/`NoExecute` taint the policy does not tolerate.
    UntoleratedTaint(String),
    /// The cluster is outside the affinity group.
    AffinityMismatch,
    /// The cluster lacks the property a spread constraint groups by.
    MissingSpreadProperty(String),
}

impl std::fmt::Display for FilterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiNotEnabled => f.write_str("cluster(s) did not have the API resource"),
            Self::UntoleratedTaint(t) => write!(f, "cluster(s) had untolerated taint {{{t}}}"),
            Self::AffinityMismatch => {
                f.write_str("cluster(s) did not match the placement cluster affinity constraint")
            }
            Self::MissingSpreadProperty(p) => write!(f, "cluster(s) did not have {p} property"),
        }
    }
}

/// Why `cluster` is filtered out for the placement and affinity, or `None` when it fits.
pub(super) fn filter_cluster(
    placement: &Placement,
    affinity: Option<&ClusterAffinity>,
    resource: &Resource,
    cluster: &ClusterInfo,
    previous: &BTreeMap<String, i32>,
) -> Option<FilterReason> {
    // Like Karmada, a cluster already in the previous result skips the API check (its API
    // list may be momentarily incomplete) and the taint check (the controller evicts from
    // NoExecute clusters).
    let placed = previous.contains_key(&cluster.name);
    if !placed && !cluster.serves(&resource.api_version, &resource.kind) {
        return Some(FilterReason::ApiNotEnabled);
    }
    if !placed {
        for taint in &cluster.taints {
            if taint.effect != "NoSchedule" && taint.effect != "NoExecute" {
                continue;
            }
            if !placement
                .cluster_tolerations
                .iter()
                .any(|t| tolerates(t, taint))
            {
                return Some(FilterReason::UntoleratedTaint(taint.to_string()));
            }
        }
    }
    if let Some(a) = affinity
        && !selector::cluster_matches(cluster, a)
    {
        return Some(FilterReason::AffinityMismatch);
    }
    for sc in &placement.spread_constraints {
        if !sc.spread_by_label.is_empty() {
            if !cluster.labels.contains_key(&sc.spread_by_label) {
                return Some(FilterReason::MissingSpreadProperty(format!(
                    "label {}",
                    sc.spread_by_label
                )));
            }
            continue;
        }
        match sc.spread_by_field.as_str() {
            "provider" if cluster.provider.is_empty() => {
                return Some(FilterReason::MissingSpreadProperty("provider".into()));
            }
            "region" if cluster.region.is_empty() => {
                return Some(FilterReason::MissingSpreadProperty("region".into()));
            }
            "zone" if cluster.zone.is_empty() && cluster.zones.is_empty() => {
                return Some(FilterReason::MissingSpreadProperty("zones".into()));
            }
            _ => {}
        }
    }
    None
}
