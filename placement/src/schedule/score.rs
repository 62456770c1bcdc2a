//! Scores for spread selection: the feasible clusters ranked as candidates, and Karmada's
//! group score.

use std::collections::BTreeMap;

use super::estimate::available_for;
use crate::cluster::ClusterInfo;
use crate::resource::Resource;

/// A feasible cluster as a spread candidate.
pub(super) struct Candidate<'a> {
    pub(super) cluster: &'a ClusterInfo,
    pub(super) score: i64,
    /// available replicas (capacity estimate) for this round
    pub(super) available: i64,
}

/// The feasible clusters as spread candidates, best first: by score (100 for a cluster of the
/// previous result, else 0), then room (its estimate plus its previous replicas), then name.
pub(super) fn ranked_candidates<'a>(
    feasible: &[&'a ClusterInfo],
    resource: &Resource,
    previous: &BTreeMap<String, i32>,
) -> Vec<Candidate<'a>> {
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
    cands
}

/// Karmada's group score (`calcGroupScore`): for duplicated workloads, the number of clusters
/// that can hold all replicas (x1000) plus their average score; for divided ones, how much of
/// a per-group target (`replicas / minGroups + 1`) the group's best clusters cover (x1000)
/// plus their average score.
pub(super) fn group_score(
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
