//! The resources a simulated cluster serves: built-in kinds and those defined by CRDs, and the
//! discovery documents that describe them.
//!
//! One concept per module: what a served resource is (`resource`), the built-in resource table
//! (`builtin`), resources read from CRD objects (`crd`) and the schema defaulting of their
//! objects (`schema`), Kubernetes version ordering (`version`), the resources of one cluster
//! (`table`), and the discovery documents that describe them (`discovery`).

mod builtin;
mod crd;
mod discovery;
mod resource;
mod schema;
mod table;
mod version;

pub use builtin::builtins;
pub use crd::{RegistryError, from_crd};
pub use resource::{ListType, PrinterColumn, ResourceInfo, ResourceKey};
pub use schema::apply_defaults;
pub use table::Registry;
pub use version::{split_api_version, version_priority};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_defaults_fill_missing_fields() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "mode": {"type": "string", "default": "auto"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"weight": {"type": "integer", "default": 1}}}}
            }}
        }});
        let mut obj = json!({"metadata": {"name": "x"}, "spec": {"items": [{}, {"weight": 5}]}});
        apply_defaults(&schema, &mut obj);
        assert_eq!(obj["spec"]["mode"], "auto");
        assert_eq!(obj["spec"]["items"], json!([{"weight": 1}, {"weight": 5}]));
        let mut explicit = json!({"spec": {"mode": "manual"}});
        apply_defaults(&schema, &mut explicit);
        assert_eq!(explicit["spec"]["mode"], "manual");
    }

    #[test]
    fn version_order_follows_kubernetes_rules() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta1", "v1beta2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            v,
            vec!["v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn discovery_lists_status_subresource() {
        let reg = Registry::default();
        let doc = reg.api_resource_list("", "v1").unwrap_or_default();
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"services/status"));
        assert!(names.contains(&"configmaps"));
        assert!(!names.contains(&"configmaps/status"));
    }
}
