//! Scores for spread selection: the feasible clusters ranked as candidates, and Karmada's
//! group score.

use std::collections::BTreeMap;

use super::estimate::available_for;
use super::tiers::Tiered;
use crate::cluster::ClusterInfo;
use crate::resource::Resource;

/// A feasible cluster as a spread candidate.
pub(super) struct Candidate<'a> {
    pub(super) cluster: &'a ClusterInfo,
    /// overflow tier (0: the primary affinity)
    pub(super) tier: u32,
    pub(super) score: i64,
    /// available replicas (capacity estimate) for this round
    pub(super) available: i64,
}

/// The feasible clusters as spread candidates, best first (Karmada's `sortClusters`): by
/// overflow tier, then score (100 for a cluster of the previous result, else 0), then room
/// (its estimate plus its previous replicas), then name.
pub(super) fn ranked_candidates<'a>(
    feasible: &[Tiered<'a>],
    resource: &Resource,
    previous: &BTreeMap<String, i32>,
) -> Vec<Candidate<'a>> {
    let mut cands: Vec<Candidate<'a>> = feasible
        .iter()
        .map(|&Tiered { cluster: c, tier }| {
            let prev = if previous.is_empty() {
                None
            } else {
                previous.get(&c.name).copied()
            };
            Candidate {
                cluster: c,
                tier,
                score: if prev.is_some() { 100 } else { 0 },
                available: available_for(c, resource) + i64::from(prev.unwrap_or(0)),
            }
        })
        .collect();
    // score, then room, then name; when the input is already in name order (the usual
    // case) its index stands in for the name and the sort compares integers only
    if feasible
        .windows(2)
        .all(|w| w[0].cluster.name <= w[1].cluster.name)
    {
        let mut keyed: Vec<_> = cands
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c.tier, std::cmp::Reverse((c.score, c.available)), i, c))
            .collect();
        keyed.sort_unstable_by_key(|k| (k.0, k.1, k.2));
        cands = keyed.into_iter().map(|k| k.3).collect();
    } else {
        cands.sort_by(|a, b| {
            a.tier
                .cmp(&b.tier)
                .then(b.score.cmp(&a.score))
                .then(b.available.cmp(&a.available))
                .then_with(|| a.cluster.name.cmp(&b.cluster.name))
        });
    }
    cands
}

/// Karmada's group score (`calcGroupScore`, `pkg/scheduler/core/spreadconstraint/
/// group_clusters.go`) of the candidates `idx` (best first).
///
/// Duplicated: the number of clusters that can hold all replicas (x1000) plus their average
/// score. Divided: with the per-group target `ceil(replicas / minGroups)`, walk the group's
/// clusters until at least `max(cluster minGroups, minGroups)` clusters hold the target;
/// then the target (x1000) plus the walked clusters' average score, or, when the whole group
/// falls short, its room (x1000) plus its average score.
pub(super) fn group_score(
    cands: &[Candidate<'_>],
    idx: &[usize],
    duplicated: bool,
    replicas: i64,
    min_groups: usize,
    cluster_min_groups: usize,
) -> i64 {
    const UNIT: i64 = 1000;
    if duplicated {
        let valid: Vec<&Candidate<'_>> = idx
            .iter()
            .map(|&i| &cands[i])
            .filter(|c| c.available >= replicas)
            .collect();
        if valid.is_empty() {
            return 0;
        }
        let n = valid.len() as i64;
        return n * UNIT + valid.iter().map(|c| c.score).sum::<i64>() / n;
    }
    let groups = i64::try_from(min_groups.max(1)).unwrap_or(1);
    let target = (replicas + groups - 1).div_euclid(groups);
    let need_clusters = i64::try_from(cluster_min_groups.max(min_groups)).unwrap_or(i64::MAX);
    let (mut room, mut score, mut used) = (0i64, 0i64, 0i64);
    for &i in idx {
        room += cands[i].available;
        score += cands[i].score;
        used += 1;
        if used >= need_clusters && room >= target {
            break;
        }
    }
    if room < target {
        room * UNIT + score / (idx.len().max(1) as i64)
    } else {
        target * UNIT + score / used.max(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// pkg/scheduler/core/spreadconstraint/group_clusters_test.go `generateClusterScores`
    fn group<'a>(
        cluster: &'a ClusterInfo,
        scores: &[i64],
        available: &[i64],
    ) -> Vec<Candidate<'a>> {
        scores
            .iter()
            .zip(available)
            .map(|(&score, &available)| Candidate {
                cluster,
                tier: 0,
                score,
                available,
            })
            .collect()
    }

    #[test]
    fn calc_group_score() {
        // group_clusters_test.go Test_CalcGroupScore: (id, group 1, group 2, replicas,
        // duplicated, minGroups, group 1 wins)
        let c = ClusterInfo::new("member");
        type Group = (&'static [i64], &'static [i64]);
        let cases: &[(u32, Group, Group, i64, bool, usize, bool)] = &[
            (
                1,
                (&[100, 100, 0, 0, 0], &[30, 30, 30, 30, 30]),
                (&[100; 5], &[30, 30, 30, 10, 10]),
                20,
                true,
                0,
                true,
            ),
            (
                2,
                (&[100, 100, 0, 0, 0], &[30, 30, 30, 10, 10]),
                (&[100; 5], &[30, 30, 30, 10, 10]),
                20,
                true,
                0,
                false,
            ),
            (
                3,
                (&[100, 100, 0, 0, 0], &[30, 30, 30, 10, 10]),
                (&[100; 5], &[10, 10, 10, 5, 5]),
                100,
                false,
                2,
                true,
            ),
            (
                4,
                (&[100, 100, 0, 0, 0], &[10, 10, 10, 10, 5]),
                (&[100; 5], &[10, 10, 10, 5, 5]),
                100,
                false,
                2,
                true,
            ),
            (
                5,
                (&[100, 100, 0, 0, 0], &[10, 10, 10, 5, 5]),
                (&[100; 5], &[10, 10, 10, 5, 5]),
                100,
                false,
                2,
                false,
            ),
            (
                6,
                (&[0; 5], &[100; 5]),
                (&[100; 5], &[50; 5]),
                100,
                false,
                2,
                false,
            ),
        ];
        for &(id, g1, g2, replicas, duplicated, min_groups, group1_wins) in cases {
            let (a, b) = (group(&c, g1.0, g1.1), group(&c, g2.0, g2.1));
            let idx: Vec<usize> = (0..5).collect();
            let s1 = group_score(&a, &idx, duplicated, replicas, min_groups, 0);
            let s2 = group_score(&b, &idx, duplicated, replicas, min_groups, 0);
            assert_eq!(s1 >= s2, group1_wins, "case {id}: {s1} vs {s2}");
        }
        // the worked examples in calcGroupScore's comments: 100 replicas, minGroups 2
        let g1 = group(&c, &[100; 5], &[10, 10, 10, 10, 5]);
        let g2 = group(&c, &[0; 4], &[40, 30, 10, 10]);
        assert_eq!(group_score(&g1, &[0, 1, 2, 3, 4], false, 100, 2, 1), 45_100);
        assert_eq!(group_score(&g2, &[0, 1, 2, 3], false, 100, 2, 1), 50_000);
        let g1 = group(&c, &[100; 5], &[40, 40, 10, 10, 5]);
        let g2 = group(&c, &[0; 4], &[100, 100, 10, 10]);
        assert_eq!(group_score(&g1, &[0, 1, 2, 3, 4], false, 100, 2, 1), 50_100);
        assert_eq!(group_score(&g2, &[0, 1, 2, 3], false, 100, 2, 1), 50_000);
        // Test_CalcGroupScoreForDuplicate: no clusters, or none holding the replicas: 0
        assert_eq!(group_score(&[], &[], true, 10, 1, 0), 0);
        let short = group(&c, &[50, 50], &[5, 5]);
        assert_eq!(group_score(&short, &[0, 1], true, 10, 1, 0), 0);
    }
}
