//! Invariants over many generated fleets (a fixed-seed generator, bounded iterations):
//! divided placements sum to the replicas, scaling up never takes replicas away from a
//! cluster, scaling down never adds any, and static weights are house-monotone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{deployment, placement};
use isthmus_placement::{ClusterInfo, schedule};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

const STRATEGIES: [&str; 3] = [
    "replicaScheduling:\n  replicaSchedulingType: Divided\n  weightPreference:\n    dynamicWeight: AvailableReplicas\n",
    "replicaScheduling:\n  replicaSchedulingType: Divided\n  replicaDivisionPreference: Aggregated\n",
    "replicaScheduling:\n  replicaSchedulingType: Divided\n",
];

#[test]
fn scaling_invariants_hold() {
    let mut rng = Lcg(42);
    let placements: Vec<_> = STRATEGIES.iter().map(|s| placement(s)).collect();
    for round in 0..300 {
        let n = 1 + rng.next(8) as usize;
        let clusters: Vec<ClusterInfo> = (0..n)
            .map(|i| {
                ClusterInfo::new(format!("c{i}"))
                    .with_allocatable(&[("pods", 1 + rng.next(40) as i64)])
            })
            .collect();
        let capacity: i64 = clusters
            .iter()
            .map(|c| c.resource_summary.as_ref().unwrap().allowed_milli("pods") as i64 / 1000)
            .sum();
        let p = &placements[round % placements.len()];
        let first = 1 + rng.next(capacity.max(1) as u64) as i32;
        let Ok(d1) = schedule(
            p,
            &deployment("w", first, None),
            &clusters,
            &BTreeMap::new(),
            None,
        ) else {
            continue;
        };
        assert_eq!(d1.placements.values().sum::<i32>(), first, "round {round}");
        let second = 1 + rng.next(capacity.max(1) as u64) as i32;
        let Ok(d2) = schedule(
            p,
            &deployment("w", second, None),
            &clusters,
            &d1.placements,
            None,
        ) else {
            continue;
        };
        assert_eq!(d2.placements.values().sum::<i32>(), second, "round {round}");
        for (cluster, before) in &d1.placements {
            let after = d2.placements.get(cluster).copied().unwrap_or(0);
            if second >= first {
                assert!(
                    after >= *before,
                    "round {round}: {cluster} lost replicas scaling up: {d1:?} -> {d2:?}"
                );
            } else {
                assert!(
                    after <= *before,
                    "round {round}: {cluster} gained replicas scaling down: {d1:?} -> {d2:?}"
                );
            }
        }
    }
}
