//! The cluster affinity of one scheduling attempt and its tiers: the placement's single
//! `clusterAffinity`, or one `clusterAffinities` group with its `overflowAffinities`, as
//! Karmada's cluster affinity plugin and `getClusterOverflowOrder` read them.

use crate::cluster::ClusterInfo;
use crate::model::{ClusterAffinity, ClusterAffinityTerm, OverflowClusterAffinity};
use crate::selector;

/// The affinity one attempt schedules with.
#[derive(Debug, Clone, Copy)]
pub(super) struct AffinityGroup<'a> {
    /// The primary affinity; `None` matches every cluster.
    primary: Option<&'a ClusterAffinity>,
    /// The overflow tiers in order; `None` when the group declares none (no tiering).
    overflow: Option<&'a [OverflowClusterAffinity]>,
}

impl<'a> AffinityGroup<'a> {
    /// The placement's single affinity (or none).
    pub(super) fn single(affinity: Option<&'a ClusterAffinity>) -> Self {
        Self {
            primary: affinity,
            overflow: None,
        }
    }

    /// One `clusterAffinities` group with its overflow tiers.
    pub(super) fn term(term: &'a ClusterAffinityTerm) -> Self {
        Self {
            primary: Some(&term.affinity),
            overflow: term.overflow_affinities.as_deref(),
        }
    }

    /// Whether replicas are assigned tier by tier (Karmada's `enableOverflow`: the group
    /// declares `overflowAffinities`).
    pub(super) fn tiered(&self) -> bool {
        self.overflow.is_some()
    }

    /// The cluster's tier: 0 for the primary affinity, `n` for the `n`-th overflow tier that
    /// matches first; `None` when it matches none. Overflow tiers count for workloads only
    /// (a template without replicas or requests uses the primary group alone).
    pub(super) fn tier(&self, cluster: &ClusterInfo, workload: bool) -> Option<u32> {
        if self
            .primary
            .is_none_or(|a| selector::cluster_matches(cluster, a))
        {
            return Some(0);
        }
        if !workload {
            return None;
        }
        self.overflow?
            .iter()
            .position(|o| selector::cluster_matches(cluster, &o.affinity))
            .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
    }
}

/// A feasible cluster and its tier.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tiered<'a> {
    pub(super) cluster: &'a ClusterInfo,
    pub(super) tier: u32,
}
