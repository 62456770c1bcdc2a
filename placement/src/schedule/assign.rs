//! Replica assignment over the selected clusters: duplicated, by static weights, or by
//! available replicas (dynamic weights or aggregated), starting from the previous result;
//! with overflow tiers, tier by tier.

use std::collections::{BTreeMap, BTreeSet};

use super::estimate::available_for;
use super::outcome::ScheduleError;
use super::strategy::Strategy;
use super::tiers::Tiered;
use crate::cluster::ClusterInfo;
use crate::divide::{self, TieBreak};
use crate::model::Placement;
use crate::resource::Resource;
use crate::selector;

/// Replicas per selected cluster for the strategy: every cluster gets 0 when the workload has
/// no replicas, else clusters given none are left out. With `tiered` (the affinity group has
/// overflow tiers) the tiers are filled in order, as Karmada's `assignWorkloadReplicas` does.
pub(super) fn assign_replicas(
    placement: &Placement,
    strategy: Strategy,
    resource: &Resource,
    selected: &[Tiered<'_>],
    previous: &BTreeMap<String, i32>,
    tiered: bool,
) -> Result<BTreeMap<String, i32>, ScheduleError> {
    if selected.is_empty() {
        return Err(ScheduleError::NoClusterFit {
            total: 0,
            filtered: BTreeMap::new(),
        });
    }
    if resource.replicas <= 0 {
        return Ok(selected
            .iter()
            .map(|t| (t.cluster.name.clone(), 0))
            .collect());
    }
    let tie = resource.tie_break();
    let result = if tiered {
        assign_tiers(placement, strategy, resource, selected, previous, tie)?
    } else {
        let clusters: Vec<&ClusterInfo> = selected.iter().map(|t| t.cluster).collect();
        assign_count(
            placement,
            strategy,
            resource.replicas,
            resource,
            &clusters,
            previous,
            tie,
        )?
    };
    Ok(result.into_iter().filter(|(_, r)| *r > 0).collect())
}

/// Karmada's overflow assignment: each tier (primary first) takes as many of the remaining
/// replicas as its clusters can hold (their estimate plus what they run already), assigned
/// with the strategy among the tier's clusters; scaling down therefore empties the last tiers
/// first. Replicas left after the last tier fail the schedule.
fn assign_tiers(
    placement: &Placement,
    strategy: Strategy,
    resource: &Resource,
    selected: &[Tiered<'_>],
    previous: &BTreeMap<String, i32>,
    tie: TieBreak,
) -> Result<Vec<(String, i32)>, ScheduleError> {
    let mut tiers: BTreeMap<u32, Vec<&ClusterInfo>> = BTreeMap::new();
    for t in selected {
        tiers.entry(t.tier).or_default().push(t.cluster);
    }
    let mut remaining = i64::from(resource.replicas);
    let mut room_total = 0i64;
    let mut out = Vec::new();
    for clusters in tiers.values() {
        let room: i64 = clusters
            .iter()
            .map(|c| {
                available_for(c, resource) + i64::from(previous.get(&c.name).copied().unwrap_or(0))
            })
            .sum();
        room_total += room;
        let target = i32::try_from(remaining.min(room).max(0)).unwrap_or(0);
        let part = assign_count(
            placement, strategy, target, resource, clusters, previous, tie,
        )?;
        out.extend(part.into_iter().filter(|(_, r)| *r > 0));
        remaining -= i64::from(target);
        if remaining <= 0 {
            return Ok(out);
        }
    }
    Err(ScheduleError::InsufficientReplicas {
        available: room_total,
        requested: i64::from(resource.replicas),
    })
}

/// `replicas` over `clusters` with the strategy.
fn assign_count(
    placement: &Placement,
    strategy: Strategy,
    replicas: i32,
    resource: &Resource,
    clusters: &[&ClusterInfo],
    previous: &BTreeMap<String, i32>,
    tie: TieBreak,
) -> Result<Vec<(String, i32)>, ScheduleError> {
    Ok(match strategy {
        Strategy::Duplicated => clusters
            .iter()
            .map(|c| (c.name.clone(), replicas))
            .collect(),
        Strategy::StaticWeight => {
            let rules = placement
                .replica_scheduling
                .as_ref()
                .and_then(|r| r.weight_preference.as_ref())
                .map(|w| w.static_weight_list.as_slice())
                .unwrap_or(&[]);
            let mut weights: Vec<(String, i64)> = Vec::with_capacity(clusters.len());
            for c in clusters {
                let w = rules
                    .iter()
                    .filter(|r| selector::cluster_matches(c, &r.target_cluster))
                    .map(|r| r.weight)
                    .max()
                    .unwrap_or(0);
                if w > 0 {
                    weights.push((c.name.clone(), w));
                }
            }
            if weights.is_empty() {
                weights = clusters.iter().map(|c| (c.name.clone(), 1)).collect();
            }
            divide::dispense(replicas, &weights, &[], tie)
        }
        Strategy::DynamicWeight | Strategy::Aggregated => {
            assign_dynamic(strategy, replicas, resource, clusters, previous, tie)?
        }
    })
}

/// (cluster, weight)
type Weights = Vec<(String, i64)>;

fn sort_desc(list: &mut [(String, i64)]) {
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

/// Karmada's steady dynamic assignment (`assignByDynamicStrategy`).
fn assign_dynamic(
    strategy: Strategy,
    replicas: i32,
    resource: &Resource,
    clusters: &[&ClusterInfo],
    previous: &BTreeMap<String, i32>,
    tie: TieBreak,
) -> Result<Vec<(String, i32)>, ScheduleError> {
    // previous result restricted to these clusters
    let scheduled: Vec<(String, i32)> = clusters
        .iter()
        .filter_map(|c| previous.get(&c.name).map(|r| (c.name.clone(), *r)))
        .collect();
    let assigned: i64 = scheduled.iter().map(|(_, r)| i64::from(*r)).sum();
    let (target, mut available, init): (i32, Weights, Vec<(String, i32)>) =
        if assigned > i64::from(replicas) {
            // scale down: the previous result is the weight, start from nothing
            let mut avail: Weights = scheduled
                .iter()
                .map(|(n, r)| (n.clone(), i64::from(*r)))
                .collect();
            sort_desc(&mut avail);
            (replicas, avail, Vec::new())
        } else if assigned < i64::from(replicas) {
            // scale up (first schedule included): only the new replicas are divided
            let mut avail: Weights = clusters
                .iter()
                .map(|c| (c.name.clone(), available_for(c, resource)))
                .collect();
            sort_desc(&mut avail);
            let delta = i32::try_from(i64::from(replicas) - assigned).unwrap_or(replicas);
            (delta, avail, scheduled)
        } else {
            return Ok(scheduled);
        };
    let total_available: i64 = available.iter().map(|a| a.1).sum();
    if total_available < i64::from(target) {
        return Err(ScheduleError::InsufficientReplicas {
            available: total_available,
            requested: i64::from(target),
        });
    }
    if strategy == Strategy::Aggregated {
        // previous clusters first, then fewest clusters that hold the target
        let prior: BTreeSet<&str> = init
            .iter()
            .filter(|(_, r)| *r > 0)
            .map(|(n, _)| n.as_str())
            .collect();
        if !prior.is_empty() {
            let (mut front, back): (Vec<_>, Vec<_>) = available
                .into_iter()
                .partition(|a| prior.contains(a.0.as_str()));
            front.extend(back);
            available = front;
        }
        let mut sum = 0i64;
        let mut cut = available.len();
        for (i, a) in available.iter().enumerate() {
            sum += a.1;
            if sum >= i64::from(target) {
                cut = i + 1;
                break;
            }
        }
        available.truncate(cut);
    }
    let added = divide::dispense(target, &available, &[], tie);
    Ok(divide::merge(&init, &added))
}
