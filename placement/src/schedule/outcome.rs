//! The result of scheduling: the decision, or why scheduling failed.

use std::collections::BTreeMap;

/// Outcome of scheduling one resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Replicas per selected cluster (0 for every cluster when the resource has no replicas).
    pub placements: BTreeMap<String, i32>,
    /// Name of the `clusterAffinities` group used, when the policy has such groups.
    pub observed_affinity: Option<String>,
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
