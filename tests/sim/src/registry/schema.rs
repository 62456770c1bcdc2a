//! Defaulting from a structural (`openAPIV3Schema`) schema, as the API server does for custom
//! resources.

use serde_json::Value;

/// Applies the `default` values of a structural schema to an object: a missing property with a
/// default gets it, recursively through properties, array items and additionalProperties (as
/// the API server does for custom resources).
pub fn apply_defaults(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    if !m.contains_key(name)
                        && let Some(d) = sub.get("default")
                    {
                        m.insert(name.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(name) {
                        apply_defaults(sub, child);
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    apply_defaults(add, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}
