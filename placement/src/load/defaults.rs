//! Karmada's defaulting (its mutating webhook) of a policy's placement and selectors.

use crate::model::{Placement, ResourceSelector, Toleration};

/// Karmada's default not-ready / unreachable tolerations (`Exists`, `NoExecute`, 300 s), added
/// like its `AddTolerations`: unless a toleration with the same key, operator, value and
/// effect (`MatchToleration`, whatever its seconds) is already there.
fn default_tolerations(placement: &mut Placement) {
    for key in [
        "cluster.karmada.io/not-ready",
        "cluster.karmada.io/unreachable",
    ] {
        let present = placement.cluster_tolerations.iter().any(|t| {
            t.key == key && t.operator == "Exists" && t.value.is_empty() && t.effect == "NoExecute"
        });
        if !present {
            placement.cluster_tolerations.push(Toleration {
                key: key.into(),
                operator: "Exists".into(),
                value: String::new(),
                effect: "NoExecute".into(),
                toleration_seconds: Some(300),
            });
        }
    }
}

/// Apply Karmada's defaulting to a placement: spread field defaults to `cluster`, `minGroups`
/// to 1, `replicaSchedulingType` to `Divided`, a divided strategy without preference to
/// `Weighted`, and the default not-ready/unreachable tolerations.
pub fn default_placement(placement: &mut Placement) {
    for sc in &mut placement.spread_constraints {
        if sc.spread_by_field.is_empty() && sc.spread_by_label.is_empty() {
            sc.spread_by_field = "cluster".into();
        }
        if sc.min_groups == 0 {
            sc.min_groups = 1;
        }
    }
    if let Some(rs) = &mut placement.replica_scheduling {
        if rs.replica_scheduling_type.is_empty() {
            rs.replica_scheduling_type = "Divided".into();
        }
        if rs.replica_scheduling_type == "Divided" && rs.replica_division_preference.is_empty() {
            rs.replica_division_preference = "Weighted".into();
        }
    }
    default_tolerations(placement);
}

/// The mutating webhook gives a namespaced policy's selectors its namespace: every selector
/// without a namespace gets `namespace`.
pub(super) fn default_selector_namespaces(selectors: &mut [ResourceSelector], namespace: &str) {
    for rs in selectors {
        if rs.namespace.is_empty() {
            namespace.clone_into(&mut rs.namespace);
        }
    }
}
