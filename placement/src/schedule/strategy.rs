//! Replica scheduling modes: the strategy a placement's `replicaScheduling` resolves to.

use crate::model::Placement;

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
