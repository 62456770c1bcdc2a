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
    /// A field selector key other than `provider`, `region` or `zone`.
    #[error("unsupported key {0:?}, must be provider, region, or zone")]
    FieldKey(String),
    /// A field selector operator other than `In` or `NotIn`.
    #[error("unsupported operator {0:?}, must be In or NotIn")]
    FieldOperator(String),
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

/// Validate a field selector like Karmada's admission webhook: keys are `provider`, `region`
/// or `zone`, operators `In` or `NotIn`.
pub fn validate_field_selector(sel: &FieldSelector) -> Result<(), SelectorError> {
    for r in &sel.match_expressions {
        if !matches!(r.key.as_str(), "provider" | "region" | "zone") {
            return Err(SelectorError::FieldKey(r.key.clone()));
        }
        if !matches!(r.operator.as_str(), "In" | "NotIn") {
            return Err(SelectorError::FieldOperator(r.operator.clone()));
        }
    }
    Ok(())
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Kubernetes' qualified name rule (label and annotation keys, affinity names): an optional
/// DNS-subdomain prefix and `/`, then a name of at most 63 alphanumerics, `-`, `_` or `.`,
/// starting and ending with an alphanumeric.
pub fn validate_qualified_name(value: &str) -> Result<(), String> {
    let (prefix, name) = match value.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, value),
    };
    if let Some(p) = prefix
        && !is_dns_subdomain(p)
    {
        return Err(format!(
            "{value:?}: prefix part must be a lowercase RFC 1123 subdomain"
        ));
    }
    if !is_name_part(name) {
        return Err(format!(
            "{value:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)"
        ));
    }
    Ok(())
}

/// Kubernetes' label value rule: empty, or at most 63 alphanumerics, `-`, `_` or `.`, starting
/// and ending with an alphanumeric.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name_part(value) {
        Ok(())
    } else {
        Err(format!(
            "{value:?}: a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)"
        ))
    }
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
        // Karmada's `matchZones` over the cluster's zones (`spec.zones`, or the single
        // `spec.zone` that its cluster webhook moves into `zones`): In needs a listed zone,
        // NotIn none.
        let zones = cluster.all_zones();
        let listed = |z: &&str| r.values.iter().any(|v| v == z);
        return match r.operator.as_str() {
            "In" => zones.iter().any(listed),
            "NotIn" => !zones.iter().any(listed),
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
    // Like Karmada (`NodeSelectorRequirementsAsSelector`), an `In`/`NotIn` requirement
    // without values on a provider/region key makes the whole selector match nothing.
    if sel.match_expressions.iter().any(|r| {
        r.key != "zone" && matches!(r.operator.as_str(), "In" | "NotIn") && r.values.is_empty()
    }) {
        return false;
    }
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
