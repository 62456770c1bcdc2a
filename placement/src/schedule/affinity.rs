//! The scheduling entry point and cluster affinity groups: the placement's one
//! `clusterAffinity`, or its `clusterAffinities` tried in order from the observed one (each
//! with its overflow tiers); each attempt filters, selects and assigns.

use std::collections::BTreeMap;

use super::assign::assign_replicas;
use super::filter::filter_cluster;
use super::outcome::{Decision, ScheduleError};
use super::spread::select_clusters;
use super::strategy::strategy_of;
use super::tiers::{AffinityGroup, Tiered};
use crate::cluster::ClusterInfo;
use crate::model::Placement;
use crate::resource::Resource;

/// Schedule `resource` with `placement` over `clusters`.
///
/// `previous` is the last round's cluster -> replicas; `observed_affinity` the affinity group
/// used last time (scheduling starts from it and fails over to later groups). A group's
/// overflow tiers take the replicas its primary clusters cannot hold; the decision names the
/// group, never a tier.
pub fn schedule(
    placement: &Placement,
    resource: &Resource,
    clusters: &[ClusterInfo],
    previous: &BTreeMap<String, i32>,
    observed_affinity: Option<&str>,
) -> Result<Decision, ScheduleError> {
    if placement.cluster_affinities.is_empty() {
        let group = AffinityGroup::single(placement.cluster_affinity.as_ref());
        let placements = try_affinity(placement, group, resource, clusters, previous)
            .map_err(|f| f.into_error(placement, group, resource, clusters, previous))?;
        return Ok(Decision {
            placements,
            observed_affinity: None,
        });
    }
    if placement.cluster_affinity.is_some() {
        return Err(ScheduleError::InvalidPlacement(
            "clusterAffinity and clusterAffinities cannot both be set".into(),
        ));
    }
    let terms = &placement.cluster_affinities;
    let start = observed_affinity
        .and_then(|name| terms.iter().position(|t| t.affinity_name == name))
        .unwrap_or(0);
    let mut first: Option<(usize, Failure)> = None;
    let mut tried = Vec::new();
    for (i, term) in terms.iter().enumerate().skip(start) {
        tried.push(term.affinity_name.clone());
        match try_affinity(
            placement,
            AffinityGroup::term(term),
            resource,
            clusters,
            previous,
        ) {
            Ok(placements) => {
                return Ok(Decision {
                    placements,
                    observed_affinity: Some(term.affinity_name.clone()),
                });
            }
            Err(f) => {
                tracing::debug!(affinity = %term.affinity_name, "affinity group failed");
                if first.is_none() {
                    first = Some((i, f));
                }
            }
        }
    }
    let first = match first {
        Some((i, f)) => f.into_error(
            placement,
            AffinityGroup::term(&terms[i]),
            resource,
            clusters,
            previous,
        ),
        None => ScheduleError::NoClusterFit {
            total: clusters.len(),
            filtered: BTreeMap::new(),
        },
    };
    Err(ScheduleError::AffinitiesExhausted {
        tried,
        first: Box::new(first),
    })
}

/// A failed attempt; "no cluster fits" carries no reasons until they are reported.
enum Failure {
    NoFit,
    Error(ScheduleError),
}

impl Failure {
    fn into_error(
        self,
        placement: &Placement,
        group: AffinityGroup<'_>,
        resource: &Resource,
        clusters: &[ClusterInfo],
        previous: &BTreeMap<String, i32>,
    ) -> ScheduleError {
        match self {
            Self::Error(e) => e,
            Self::NoFit => ScheduleError::NoClusterFit {
                total: clusters.len(),
                filtered: clusters
                    .iter()
                    .filter_map(|c| {
                        filter_cluster(placement, group, resource, c, previous)
                            .err()
                            .map(|r| (c.name.clone(), r.to_string()))
                    })
                    .collect(),
            },
        }
    }
}

fn try_affinity(
    placement: &Placement,
    group: AffinityGroup<'_>,
    resource: &Resource,
    clusters: &[ClusterInfo],
    previous: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, i32>, Failure> {
    let feasible: Vec<Tiered<'_>> = clusters
        .iter()
        .filter_map(|cluster| {
            filter_cluster(placement, group, resource, cluster, previous)
                .ok()
                .map(|tier| Tiered { cluster, tier })
        })
        .collect();
    if feasible.is_empty() {
        return Err(Failure::NoFit);
    }
    let strategy = strategy_of(placement);
    let selected = select_clusters(placement, strategy, resource, &feasible, previous)
        .map_err(Failure::Error)?;
    assign_replicas(
        placement,
        strategy,
        resource,
        &selected,
        previous,
        group.tiered(),
    )
    .map_err(Failure::Error)
}
