//! Label selectors, cluster field selectors and cluster affinity matching (Karmada's
//! `util.ClusterMatches`).

use std::collections::BTreeMap;

use crate::cluster::ClusterInfo;
use crate::model::{ClusterAffinity, FieldSelector, FieldSelectorRequirement, LabelSelector};

/// An invalid selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Unknown operator.
    #[error("unsupported selector operator {0:?}")]
    Operator(String),
    /// Operator/values combination not allowed.
    #[error("selector requirement on {key:?}: {message}")]
    Values {
        /// Key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Validate a label selector the way `metav1.LabelSelectorAsSelector` does.
pub fn validate_label_selector(sel: &LabelSelector) -> Result<(), SelectorError> {
    for r in &sel.match_expressions {
        match r.operator.as_str() {
            "In" | "NotIn" => {
                if r.values.is_empty() {
                    return Err(SelectorError::Values {
                        key: r.key.clone(),
                        message: format!("operator {} needs at least one value", r.operator),
                    });
                }
            }
            "Exists" | "DoesNotExist" => {
                if !r.values.is_empty() {
                    return Err(SelectorError::Values {
                        key: r.key.clone(),
                        message: format!("operator {} takes no values", r.operator),
                    });
                }
            }
            other => return Err(SelectorError::Operator(other.to_string())),
        }
    }
    Ok(())
}

/// Validate a field selector.
pub fn validate_field_selector(sel: &FieldSelector) -> Result<(), SelectorError> {
    for r in &sel.match_expressions {
        if !matches!(r.key.as_str(), "provider" | "region" | "zone") {
            return Err(SelectorError::Values {
                key: r.key.clone(),
                message: "field selector keys are provider, region and zone".into(),
            });
        }
        match r.operator.as_str() {
            "In" | "NotIn" => {
                if r.values.is_empty() {
                    return Err(SelectorError::Values {
                        key: r.key.clone(),
                        message: format!("operator {} needs at least one value", r.operator),
                    });
                }
            }
            "Exists" | "DoesNotExist" => {}
            "Gt" | "Lt" => {
                if r.values.len() != 1 || r.values[0].parse::<i64>().is_err() {
                    return Err(SelectorError::Values {
                        key: r.key.clone(),
                        message: format!("operator {} needs one integer value", r.operator),
                    });
                }
            }
            other => return Err(SelectorError::Operator(other.to_string())),
        }
    }
    Ok(())
}

/// Whether `labels` satisfy the selector (an empty selector matches everything; an invalid
/// one matches nothing).
pub fn label_selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    for (k, v) in &sel.match_labels {
        if labels.get(k) != Some(v) {
            return false;
        }
    }
    for r in &sel.match_expressions {
        let ok = match r.operator.as_str() {
            "In" => labels.get(&r.key).is_some_and(|v| r.values.contains(v)),
            "NotIn" => labels.get(&r.key).is_none_or(|v| !r.values.contains(v)),
            "Exists" => labels.contains_key(&r.key),
            "DoesNotExist" => !labels.contains_key(&r.key),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn field_requirement_matches(r: &FieldSelectorRequirement, cluster: &ClusterInfo) -> bool {
    if r.key == "zone" {
        // Karmada's zone rule: In needs every zone listed, NotIn needs none listed.
        let zones = cluster.all_zones();
        return match r.operator.as_str() {
            "In" => !zones.is_empty() && zones.iter().all(|z| r.values.iter().any(|v| v == z)),
            "NotIn" => zones.iter().all(|z| !r.values.iter().any(|v| v == z)),
            "Exists" => !zones.is_empty(),
            "DoesNotExist" => zones.is_empty(),
            _ => false,
        };
    }
    let value = cluster.field(&r.key);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !r.values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                r.values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether the cluster satisfies every requirement of the field selector.
pub fn field_selector_matches(sel: &FieldSelector, cluster: &ClusterInfo) -> bool {
    sel.match_expressions
        .iter()
        .all(|r| field_requirement_matches(r, cluster))
}

/// Karmada's `ClusterMatches`: not excluded, and every non-empty rule matches.
pub fn cluster_matches(cluster: &ClusterInfo, affinity: &ClusterAffinity) -> bool {
    if affinity.exclude.contains(&cluster.name) {
        return false;
    }
    if let Some(sel) = &affinity.label_selector
        && !label_selector_matches(sel, &cluster.labels)
    {
        return false;
    }
    if let Some(sel) = &affinity.field_selector
        && !field_selector_matches(sel, cluster)
    {
        return false;
    }
    affinity.cluster_names.is_empty() || affinity.cluster_names.contains(&cluster.name)
}

/// Validate the selectors inside an affinity.
pub fn validate_affinity(affinity: &ClusterAffinity) -> Result<(), SelectorError> {
    if let Some(sel) = &affinity.label_selector {
        validate_label_selector(sel)?;
    }
    if let Some(sel) = &affinity.field_selector {
        validate_field_selector(sel)?;
    }
    Ok(())
}
