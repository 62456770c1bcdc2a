//! Spread constraints: the groups (provider, region, zone or label) and then the clusters a
//! workload spreads over.

use std::collections::BTreeMap;

use super::outcome::ScheduleError;
use super::score::{group_score, ranked_candidates};
use super::strategy::Strategy;
use super::tiers::Tiered;
use crate::cluster::ClusterInfo;
use crate::model::{Placement, SpreadConstraint};
use crate::resource::Resource;

fn ignore_spread(placement: &Placement, strategy: Strategy) -> bool {
    // Karmada (`shouldIgnoreSpreadConstraint`) ignores spread constraints for static weights:
    // `Weighted` without a weight preference, or with a static weight list.
    strategy == Strategy::StaticWeight
        && placement
            .replica_scheduling
            .as_ref()
            .is_some_and(|r| match &r.weight_preference {
                None => true,
                Some(w) => !w.static_weight_list.is_empty(),
            })
}

fn spread_key(sc: &SpreadConstraint) -> String {
    if sc.spread_by_label.is_empty() {
        if sc.spread_by_field.is_empty() {
            "cluster".into()
        } else {
            sc.spread_by_field.clone()
        }
    } else {
        format!("label:{}", sc.spread_by_label)
    }
}

fn group_value<'a>(c: &'a ClusterInfo, sc: &SpreadConstraint) -> &'a str {
    if !sc.spread_by_label.is_empty() {
        return c.labels.get(&sc.spread_by_label).map_or("", String::as_str);
    }
    match sc.spread_by_field.as_str() {
        "provider" => &c.provider,
        "region" => &c.region,
        "zone" => c.field("zone").unwrap_or(""),
        _ => &c.name,
    }
}

fn max_groups(sc: &SpreadConstraint) -> usize {
    if sc.max_groups <= 0 {
        usize::MAX
    } else {
        usize::try_from(sc.max_groups).unwrap_or(usize::MAX)
    }
}

fn min_groups(sc: &SpreadConstraint) -> usize {
    usize::try_from(sc.min_groups.max(1)).unwrap_or(1)
}

/// The feasible clusters the spread constraints keep (all of them when there are none or
/// they are ignored). Clusters of earlier overflow tiers rank first.
pub(super) fn select_clusters<'a>(
    placement: &Placement,
    strategy: Strategy,
    resource: &Resource,
    feasible: &[Tiered<'a>],
    previous: &BTreeMap<String, i32>,
) -> Result<Vec<Tiered<'a>>, ScheduleError> {
    if placement.spread_constraints.is_empty() || ignore_spread(placement, strategy) {
        return Ok(feasible.to_vec());
    }
    let need: Option<i64> = (strategy != Strategy::Duplicated && resource.replicas > 0)
        .then_some(i64::from(resource.replicas));
    let mut cands = ranked_candidates(feasible, resource, previous);

    let mut cluster_sc: Option<&SpreadConstraint> = None;
    let mut group_scs: Vec<&SpreadConstraint> = Vec::new();
    for sc in &placement.spread_constraints {
        if spread_key(sc) == "cluster" {
            cluster_sc = Some(sc);
        } else {
            group_scs.push(sc);
        }
    }
    // coarse to fine: provider, region, zone, then labels in declaration order
    let rank = |sc: &SpreadConstraint| match spread_key(sc).as_str() {
        "provider" => 0,
        "region" => 1,
        "zone" => 2,
        _ => 3,
    };
    group_scs.sort_by_key(|sc| rank(sc));

    for sc in &group_scs {
        let key = spread_key(sc);
        // (group, Karmada group score, total room, clusters); groups are few, a linear
        // scan is fastest. `cands` is already ranked, so each group's clusters are too.
        let mut members: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            let v = group_value(c.cluster, sc);
            match members.iter_mut().find(|g| g.0 == v) {
                Some(g) => g.1.push(i),
                None => members.push((v, vec![i])),
            }
        }
        let groups: Vec<(&str, i64, i64, usize)> = members
            .iter()
            .map(|(v, idx)| {
                let room = idx.iter().map(|&i| cands[i].available).sum();
                (
                    *v,
                    group_score(
                        &cands,
                        idx,
                        strategy == Strategy::Duplicated,
                        i64::from(resource.replicas),
                        min_groups(sc),
                        cluster_sc.map_or(0, min_groups),
                    ),
                    room,
                    idx.len(),
                )
            })
            .collect();
        if groups.len() < min_groups(sc) {
            return Err(ScheduleError::SpreadConstraintUnsatisfied(format!(
                "the number of feasible {key} is less than spreadConstraint.MinGroups ({} < {})",
                groups.len(),
                min_groups(sc)
            )));
        }
        let mut ordered = groups;
        ordered.sort_by(|a, b| b.1.cmp(&a.1).then(b.3.cmp(&a.3)).then(a.0.cmp(b.0)));
        let mut limit = ordered.len().min(max_groups(sc));
        if let Some(csc) = cluster_sc {
            // each chosen group needs a cluster of its own
            limit = limit.min(max_groups(csc));
        }
        if limit < min_groups(sc) {
            return Err(ScheduleError::SpreadConstraintUnsatisfied(format!(
                "cannot spread over {} {key} groups with at most {limit} clusters",
                min_groups(sc)
            )));
        }
        // Like Karmada, start from minGroups groups and add groups only while the chosen ones
        // hold too few clusters for the cluster constraint (or, here, too little room).
        let cluster_min = cluster_sc.map_or(1, min_groups);
        let mut take = min_groups(sc);
        let chosen = loop {
            let mut chosen: Vec<(&str, i64, i64, usize)> = ordered[..take].to_vec();
            let mut rest: Vec<(&str, i64, i64, usize)> = ordered[take..].to_vec();
            let count = |g: &[(&str, i64, i64, usize)]| g.iter().map(|g| g.3).sum::<usize>();
            if take >= limit {
                // No more groups may be added: like Karmada's group search, swap in groups
                // with more clusters (best ranked first on ties), last chosen first, until the
                // cluster constraint's minGroups can be met.
                let mut i = chosen.len();
                while count(&chosen) < cluster_min && i > 0 && !rest.is_empty() {
                    i -= 1;
                    let (best_idx, best) = rest
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.3.cmp(&b.1.3).then(b.0.cmp(&a.0)))
                        .map(|(j, g)| (j, *g))
                        .unwrap_or((0, chosen[i]));
                    if best.3 > chosen[i].3 {
                        rest.remove(best_idx);
                        rest.push(chosen[i]);
                        chosen[i] = best;
                    }
                }
            }
            if let Some(need) = need {
                // swap in roomier groups from the rest, last chosen first, never dropping
                // below the clusters the cluster constraint needs
                let mut i = chosen.len();
                while chosen.iter().map(|g| g.2).sum::<i64>() < need && i > 0 && !rest.is_empty() {
                    i -= 1;
                    let (best_idx, best) = rest
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.2.cmp(&b.1.2).then(b.1.0.cmp(a.1.0)))
                        .map(|(j, g)| (j, *g))
                        .unwrap_or((0, chosen[i]));
                    let before = count(&chosen);
                    let after = before - chosen[i].3 + best.3;
                    if best.2 > chosen[i].2 && after >= cluster_min.min(before) {
                        rest.remove(best_idx);
                        rest.push(chosen[i]);
                        chosen[i] = best;
                    }
                }
            }
            let clusters_in = count(&chosen);
            let room_ok = need.is_none_or(|n| chosen.iter().map(|g| g.2).sum::<i64>() >= n);
            if (clusters_in >= cluster_min && room_ok) || take >= limit {
                break chosen;
            }
            take += 1;
        };
        let keep: Vec<&str> = chosen.iter().map(|g| g.0).collect();
        cands.retain(|c| keep.contains(&group_value(c.cluster, sc)));
    }

    // Cluster level: one representative per chosen group of every group constraint first.
    let total = cands.len();
    let (cmin, cmax) = match cluster_sc {
        Some(sc) => (min_groups(sc), max_groups(sc)),
        None => (1, usize::MAX),
    };
    if total < cmin {
        return Err(ScheduleError::SpreadConstraintUnsatisfied(format!(
            "the number of feasible clusters is less than spreadConstraint.MinGroups ({total} < {cmin})"
        )));
    }
    let want = total.min(cmax);
    let mut picked = vec![false; total];
    let mut covered: Vec<Vec<&str>> = vec![Vec::new(); group_scs.len()];
    let mut count = 0;
    for (i, c) in cands.iter().enumerate() {
        let new_group = group_scs
            .iter()
            .enumerate()
            .any(|(g, sc)| !covered[g].contains(&group_value(c.cluster, sc)));
        if new_group {
            for (g, sc) in group_scs.iter().enumerate() {
                let v = group_value(c.cluster, sc);
                if !covered[g].contains(&v) {
                    covered[g].push(v);
                }
            }
            picked[i] = true;
            count += 1;
        }
    }
    if count > want {
        return Err(ScheduleError::SpreadConstraintUnsatisfied(format!(
            "spreading over the chosen groups needs {count} clusters but cluster maxGroups is {cmax}"
        )));
    }
    for p in picked.iter_mut() {
        if count >= want {
            break;
        }
        if !*p {
            *p = true;
            count += 1;
        }
    }
    if let Some(need) = need {
        let sum = |picked: &[bool]| -> i64 {
            cands
                .iter()
                .zip(picked)
                .filter(|(_, p)| **p)
                .map(|(c, _)| c.available)
                .sum()
        };
        // replace non-essential picks (from the end) by the biggest unpicked clusters
        let mut idx = total;
        while sum(&picked) < need && idx > 0 {
            idx -= 1;
            if !picked[idx] {
                continue;
            }
            let best = (0..total)
                .filter(|j| !picked[*j])
                .max_by(|a, b| cands[*a].available.cmp(&cands[*b].available).then(b.cmp(a)));
            let Some(j) = best else { break };
            if cands[j].available <= cands[idx].available {
                continue;
            }
            // keep group coverage: only swap when the replacement covers the same groups
            let same_groups = group_scs
                .iter()
                .all(|sc| group_value(cands[j].cluster, sc) == group_value(cands[idx].cluster, sc));
            if same_groups {
                picked[idx] = false;
                picked[j] = true;
            }
        }
        if sum(&picked) < need {
            return Err(ScheduleError::SpreadConstraintUnsatisfied(format!(
                "no enough resource when selecting {count} clusters"
            )));
        }
    }
    Ok(cands
        .iter()
        .zip(&picked)
        .filter(|(_, p)| **p)
        .map(|(c, _)| Tiered {
            cluster: c.cluster,
            tier: c.tier,
        })
        .collect())
}
