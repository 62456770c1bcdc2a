//! The scheduler: filter clusters, apply spread constraints, assign replicas.

use std::collections::{BTreeMap, BTreeSet};

use crate::cluster::ClusterInfo;
use crate::divide;
use crate::model::{ClusterAffinity, Placement, SpreadConstraint, Toleration};
use crate::resource::{ReplicaRequirements, Resource};
use crate::selector;

/// Outcome of scheduling one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Replicas per selected cluster (0 for every cluster when the resource has no replicas).
    pub placements: BTreeMap<String, i32>,
    /// Name of the `clusterAffinities` group used, when the policy has such groups.
    pub observed_affinity: Option<String>,
}

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

/// Why scheduling failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Every cluster was filtered out.
    #[error("{}", fit_message(*total, filtered))]
    NoClusterFit {
        /// Number of clusters considered.
        total: usize,
        /// Cluster name -> reason it was filtered out.
        filtered: BTreeMap<String, String>,
    },
    /// The spread constraints cannot be satisfied.
    #[error("{0}")]
    SpreadConstraintUnsatisfied(String),
    /// The clusters cannot hold the replicas.
    #[error(
        "Clusters available replicas {available} are not enough to schedule {requested} replicas"
    )]
    InsufficientReplicas {
        /// Replicas the feasible clusters can hold.
        available: i64,
        /// Replicas to place.
        requested: i64,
    },
    /// The placement itself is invalid.
    #[error("invalid placement: {0}")]
    InvalidPlacement(String),
    /// Every affinity group failed; carries the first group's error.
    #[error("failed to schedule with every cluster affinity group ({}); first error: {first}", tried.join(", "))]
    AffinitiesExhausted {
        /// Groups tried, in order.
        tried: Vec<String>,
        /// Error of the first group tried.
        first: Box<ScheduleError>,
    },
}

impl ScheduleError {
    /// Stable machine-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoClusterFit { .. } => "NoClusterFit",
            Self::SpreadConstraintUnsatisfied(_) => "SpreadConstraintUnsatisfied",
            Self::InsufficientReplicas { .. } => "InsufficientReplicas",
            Self::InvalidPlacement(_) => "InvalidPlacement",
            Self::AffinitiesExhausted { first, .. } => first.reason(),
        }
    }
}

fn fit_message(total: usize, filtered: &BTreeMap<String, String>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in filtered.values() {
        *counts.entry(r.as_str()).or_insert(0) += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let per: Vec<String> = filtered.iter().map(|(c, r)| format!("{c}: {r}")).collect();
    if per.is_empty() {
        format!("0/{total} clusters are available: no clusters")
    } else {
        format!(
            "0/{total} clusters are available: {}. Filtered: {}",
            summary.join(", "),
            per.join("; ")
        )
    }
}

/// Effective replica strategy after Karmada's defaulting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every cluster gets all replicas.
    Duplicated,
    /// Divide by static weights.
    StaticWeight,
    /// Divide by available replicas.
    DynamicWeight,
    /// Divide over as few clusters as possible.
    Aggregated,
}

/// The strategy a placement resolves to.
pub fn strategy_of(placement: &Placement) -> Strategy {
    let Some(rs) = &placement.replica_scheduling else {
        return Strategy::Duplicated;
    };
    if rs.replica_scheduling_type == "Duplicated" {
        return Strategy::Duplicated;
    }
    if rs.replica_division_preference == "Aggregated" {
        return Strategy::Aggregated;
    }
    match &rs.weight_preference {
        Some(w) if !w.dynamic_weight.is_empty() => Strategy::DynamicWeight,
        _ => Strategy::StaticWeight,
    }
}

fn tolerates(t: &Toleration, taint: &crate::cluster::Taint) -> bool {
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

fn filter_cluster(
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

struct Candidate<'a> {
    cluster: &'a ClusterInfo,
    score: i64,
    /// available replicas (capacity estimate) for this round
    available: i64,
}

fn available_for(c: &ClusterInfo, resource: &Resource) -> i64 {
    max_available_replicas(c, resource.requirements.as_ref())
        .unwrap_or(i64::from(resource.replicas))
}

/// Schedule `resource` with `placement` over `clusters`.
///
/// `previous` is the last round's cluster -> replicas; `observed_affinity` the affinity group
/// used last time (scheduling starts from it and fails over to later groups).
pub fn schedule(
    placement: &Placement,
    resource: &Resource,
    clusters: &[ClusterInfo],
    previous: &BTreeMap<String, i32>,
    observed_affinity: Option<&str>,
) -> Result<Decision, ScheduleError> {
    if placement.cluster_affinities.is_empty() {
        let affinity = placement.cluster_affinity.as_ref();
        let placements = try_affinity(placement, affinity, resource, clusters, previous)
            .map_err(|f| f.into_error(placement, affinity, resource, clusters, previous))?;
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
            Some(&term.affinity),
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
            Some(&terms[i].affinity),
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
        affinity: Option<&ClusterAffinity>,
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
                        filter_cluster(placement, affinity, resource, c, previous)
                            .map(|r| (c.name.clone(), r.to_string()))
                    })
                    .collect(),
            },
        }
    }
}

fn try_affinity(
    placement: &Placement,
    affinity: Option<&ClusterAffinity>,
    resource: &Resource,
    clusters: &[ClusterInfo],
    previous: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, i32>, Failure> {
    let feasible: Vec<&ClusterInfo> = clusters
        .iter()
        .filter(|c| filter_cluster(placement, affinity, resource, c, previous).is_none())
        .collect();
    if feasible.is_empty() {
        return Err(Failure::NoFit);
    }
    let strategy = strategy_of(placement);
    let selected = select_clusters(placement, strategy, resource, &feasible, previous)
        .map_err(Failure::Error)?;
    assign_replicas(placement, strategy, resource, &selected, previous).map_err(Failure::Error)
}

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

/// Karmada's group score (`calcGroupScore`): for duplicated workloads, the number of clusters
/// that can hold all replicas (x1000) plus their average score; for divided ones, how much of
/// a per-group target (`replicas / minGroups + 1`) the group's best clusters cover (x1000)
/// plus their average score.
fn group_score(
    cands: &[Candidate<'_>],
    idx: &[usize],
    need: Option<i64>,
    resource: &Resource,
    min_groups: usize,
) -> i64 {
    const UNIT: i64 = 1000;
    match need {
        None => {
            let target = i64::from(resource.replicas);
            let valid: Vec<&Candidate<'_>> = idx
                .iter()
                .map(|&i| &cands[i])
                .filter(|c| c.available >= target)
                .collect();
            if valid.is_empty() {
                return 0;
            }
            let n = valid.len() as i64;
            n * UNIT + valid.iter().map(|c| c.score).sum::<i64>() / n
        }
        Some(replicas) => {
            let groups = i64::try_from(min_groups.max(1)).unwrap_or(1);
            let target = (replicas - replicas % groups) / groups + 1;
            let (mut room, mut score, mut used) = (0i64, 0i64, 0i64);
            for &i in idx {
                room += cands[i].available;
                score += cands[i].score;
                used += 1;
                if room >= target {
                    break;
                }
            }
            if room < target {
                room * UNIT + score / (idx.len().max(1) as i64)
            } else {
                target * UNIT + score / used.max(1)
            }
        }
    }
}

fn select_clusters<'a>(
    placement: &Placement,
    strategy: Strategy,
    resource: &Resource,
    feasible: &[&'a ClusterInfo],
    previous: &BTreeMap<String, i32>,
) -> Result<Vec<&'a ClusterInfo>, ScheduleError> {
    if placement.spread_constraints.is_empty() || ignore_spread(placement, strategy) {
        return Ok(feasible.to_vec());
    }
    let need: Option<i64> = (strategy != Strategy::Duplicated && resource.replicas > 0)
        .then_some(i64::from(resource.replicas));
    let mut cands: Vec<Candidate<'a>> = feasible
        .iter()
        .map(|c| {
            let prev = if previous.is_empty() {
                None
            } else {
                previous.get(&c.name).copied()
            };
            Candidate {
                cluster: c,
                score: if prev.is_some() { 100 } else { 0 },
                available: available_for(c, resource) + i64::from(prev.unwrap_or(0)),
            }
        })
        .collect();
    // score, then room, then name; when the input is already in name order (the usual
    // case) its index stands in for the name and the sort compares integers only
    if feasible.windows(2).all(|w| w[0].name <= w[1].name) {
        let mut keyed: Vec<_> = cands
            .into_iter()
            .enumerate()
            .map(|(i, c)| (std::cmp::Reverse((c.score, c.available)), i, c))
            .collect();
        keyed.sort_unstable_by_key(|k| (k.0, k.1));
        cands = keyed.into_iter().map(|k| k.2).collect();
    } else {
        cands.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(b.available.cmp(&a.available))
                .then_with(|| a.cluster.name.cmp(&b.cluster.name))
        });
    }

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
                    group_score(&cands, idx, need, resource, min_groups(sc)),
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
        .map(|(c, _)| c.cluster)
        .collect())
}

fn assign_replicas(
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
