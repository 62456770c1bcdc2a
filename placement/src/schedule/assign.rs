//! Replica assignment over the selected clusters: duplicated, by static weights, or by
//! available replicas (dynamic weights or aggregated), starting from the previous result.

use std::collections::{BTreeMap, BTreeSet};

use super::estimate::available_for;
use super::outcome::ScheduleError;
use super::strategy::Strategy;
use crate::cluster::ClusterInfo;
use crate::divide;
use crate::model::Placement;
use crate::resource::Resource;
use crate::selector;

/// Replicas per selected cluster for the strategy: every cluster gets 0 when the workload has
/// no replicas, else clusters given none are left out.
pub(super) fn assign_replicas(
    placement: &Placement,
    strategy: Strategy,
    resource: &Resource,
    selected: &[&ClusterInfo],
    previous: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, i32>, ScheduleError> {
    if selected.is_empty() {
        return Err(ScheduleError::NoClusterFit {
            total: 0,
            filtered: BTreeMap::new(),
        });
    }
    if resource.replicas <= 0 {
        return Ok(selected.iter().map(|c| (c.name.clone(), 0)).collect());
    }
    let replicas = resource.replicas;
    let result: Vec<(String, i32)> = match strategy {
        Strategy::Duplicated => selected
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
            let mut weights: Vec<(String, i64, i32)> = Vec::with_capacity(selected.len());
            for c in selected {
                let w = rules
                    .iter()
                    .filter(|r| selector::cluster_matches(c, &r.target_cluster))
                    .map(|r| r.weight)
                    .max()
                    .unwrap_or(0);
                if w > 0 {
                    weights.push((
                        c.name.clone(),
                        w,
                        previous.get(&c.name).copied().unwrap_or(0),
                    ));
                }
            }
            if weights.is_empty() {
                weights = selected
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            1,
                            previous.get(&c.name).copied().unwrap_or(0),
                        )
                    })
                    .collect();
            }
            divide::take_by_weight(replicas, weights, &[])
        }
        Strategy::DynamicWeight | Strategy::Aggregated => {
            assign_dynamic(strategy, resource, selected, previous)?
        }
    };
    Ok(result.into_iter().filter(|(_, r)| *r > 0).collect())
}

/// (cluster, weight, previous replicas)
type Weights = Vec<(String, i64, i32)>;

fn sort_desc(list: &mut [(String, i64, i32)]) {
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

fn assign_dynamic(
    strategy: Strategy,
    resource: &Resource,
    selected: &[&ClusterInfo],
    previous: &BTreeMap<String, i32>,
) -> Result<Vec<(String, i32)>, ScheduleError> {
    let replicas = resource.replicas;
    // previous result restricted to clusters still selected
    let scheduled: Vec<(String, i32)> = selected
        .iter()
        .filter_map(|c| previous.get(&c.name).map(|r| (c.name.clone(), *r)))
        .collect();
    let assigned: i64 = scheduled.iter().map(|(_, r)| i64::from(*r)).sum();
    let last = |name: &str| previous.get(name).copied().unwrap_or(0);
    let (target, mut available, init): (i32, Weights, Vec<(String, i32)>) =
        if assigned > i64::from(replicas) {
            // scale down: the previous result is the weight, start from nothing
            let mut avail: Vec<(String, i64, i32)> = scheduled
                .iter()
                .map(|(n, r)| (n.clone(), i64::from(*r), *r))
                .collect();
            sort_desc(&mut avail);
            (replicas, avail, Vec::new())
        } else if assigned < i64::from(replicas) {
            // scale up (first schedule included): only the new replicas are divided
            let mut avail: Vec<(String, i64, i32)> = selected
                .iter()
                .map(|c| (c.name.clone(), available_for(c, resource), last(&c.name)))
                .collect();
            sort_desc(&mut avail);
            let delta = i32::try_from(i64::from(replicas) - assigned).unwrap_or(replicas);
            (delta, avail, scheduled.clone())
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
    Ok(divide::take_by_weight(target, available, &init))
}
