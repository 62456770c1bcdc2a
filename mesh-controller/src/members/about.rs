//! The About-API `ClusterProperty` objects written into every member.

use isthmus_api::labels::{CLUSTER_ID_PROPERTY, CLUSTERSET_PROPERTY, MANAGED_BY, MANAGED_BY_VALUE};
use serde_json::{Value, json};

/// The About-API `ClusterProperty` objects for a member: its ID and the clusterset name.
pub fn cluster_properties(cluster: &str, clusterset: &str) -> Vec<Value> {
    [
        (CLUSTER_ID_PROPERTY, cluster),
        (CLUSTERSET_PROPERTY, clusterset),
    ]
    .into_iter()
    .map(|(name, value)| {
        json!({
            "apiVersion": "about.k8s.io/v1alpha1",
            "kind": "ClusterProperty",
            "metadata": {"name": name, "labels": {MANAGED_BY: MANAGED_BY_VALUE}},
            "spec": {"value": value},
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_properties_carry_id_and_clusterset() {
        let props = cluster_properties("east", "prod");
        assert_eq!(props[0]["metadata"]["name"], CLUSTER_ID_PROPERTY);
        assert_eq!(props[0]["spec"]["value"], "east");
        assert_eq!(props[1]["spec"]["value"], "prod");
    }
}
