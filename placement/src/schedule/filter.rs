//! The cluster filter: API enablement, untolerated taints, cluster affinity and spread
//! properties, and the reason a cluster is filtered out.

use std::collections::BTreeMap;

use super::taints::tolerates;
use super::tiers::AffinityGroup;
use crate::cluster::ClusterInfo;
use crate::model::Placement;
use crate::resource::Resource;

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

/// The cluster's affinity tier when it fits, else why it is filtered out. Like Karmada's
/// filter plugins, in order: API enablement, taints (`NoSchedule` and `NoExecute` keep a
/// cluster out, `PreferNoSchedule` does not), cluster affinity (the group's primary affinity
/// or, for workloads, one of its overflow tiers) and spread properties.
pub(super) fn filter_cluster(
    placement: &Placement,
    group: AffinityGroup<'_>,
    resource: &Resource,
    cluster: &ClusterInfo,
    previous: &BTreeMap<String, i32>,
) -> Result<u32, FilterReason> {
    // Like Karmada, a cluster already in the previous result skips the API check (its API
    // list may be momentarily incomplete) and the taint check (the controller evicts from
    // NoExecute clusters).
    let placed = previous.contains_key(&cluster.name);
    if !placed && !cluster.serves(&resource.api_version, &resource.kind) {
        return Err(FilterReason::ApiNotEnabled);
    }
    if !placed {
        for taint in &cluster.taints {
            // Karmada's taint-toleration plugin filters on these two effects only
            if taint.effect != "NoSchedule" && taint.effect != "NoExecute" {
                continue;
            }
            if !placement
                .cluster_tolerations
                .iter()
                .any(|t| tolerates(t, taint))
            {
                return Err(FilterReason::UntoleratedTaint(taint.to_string()));
            }
        }
    }
    let Some(tier) = group.tier(cluster, resource.is_workload()) else {
        return Err(FilterReason::AffinityMismatch);
    };
    for sc in &placement.spread_constraints {
        if !sc.spread_by_label.is_empty() {
            if !cluster.labels.contains_key(&sc.spread_by_label) {
                return Err(FilterReason::MissingSpreadProperty(format!(
                    "label {}",
                    sc.spread_by_label
                )));
            }
            continue;
        }
        match sc.spread_by_field.as_str() {
            "provider" if cluster.provider.is_empty() => {
                return Err(FilterReason::MissingSpreadProperty("provider".into()));
            }
            "region" if cluster.region.is_empty() => {
                return Err(FilterReason::MissingSpreadProperty("region".into()));
            }
            "zone" if cluster.zone.is_empty() && cluster.zones.is_empty() => {
                return Err(FilterReason::MissingSpreadProperty("zones".into()));
            }
            _ => {}
        }
    }
    Ok(tier)
}
