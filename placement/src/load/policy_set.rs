//! A set of policy documents: duplicates are refused; strict and lenient reading.

use serde_json::Value;

use super::documents::parse_documents;
use super::error::LoadError;
use super::policy::{AnyPolicy, policy_from_value};
use crate::model::PolicySet;

fn push(set: &mut PolicySet, p: AnyPolicy) {
    match p {
        AnyPolicy::Propagation(p) => set.propagation.push(p),
        AnyPolicy::Override(p) => set.overrides.push(p),
    }
}

fn duplicate(source_name: &str, index: usize, p: &AnyPolicy) -> LoadError {
    let (kind, namespace, name) = p.key();
    let display = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    };
    LoadError::Invalid {
        source_name: source_name.into(),
        kind: kind.into(),
        name: display.clone(),
        message: format!("document {index}: duplicate {kind} {display:?} in the same input"),
    }
}

/// Read policies from already-parsed documents; the first bad document fails the whole set.
pub fn policies_from_values(source_name: &str, docs: &[Value]) -> Result<PolicySet, LoadError> {
    let mut set = PolicySet::default();
    let mut seen = std::collections::BTreeSet::new();
    for (index, doc) in docs.iter().enumerate() {
        let p = policy_from_value(source_name, index, doc)?;
        let (kind, namespace, name) = p.key();
        if !seen.insert((kind, namespace.to_string(), name.to_string())) {
            return Err(duplicate(source_name, index, &p));
        }
        push(&mut set, p);
    }
    Ok(set)
}

/// Read policies, skipping (and logging) bad documents; returns the good ones and the errors.
pub fn policies_from_values_lenient(
    source_name: &str,
    docs: &[Value],
) -> (PolicySet, Vec<LoadError>) {
    let mut set = PolicySet::default();
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (index, doc) in docs.iter().enumerate() {
        let parsed = policy_from_value(source_name, index, doc).and_then(|p| {
            let (kind, namespace, name) = p.key();
            if seen.insert((kind, namespace.to_string(), name.to_string())) {
                Ok(p)
            } else {
                Err(duplicate(source_name, index, &p))
            }
        });
        match parsed {
            Ok(p) => push(&mut set, p),
            Err(e) => {
                tracing::warn!(source = source_name, index, error = %e, "skipping invalid policy");
                errors.push(e);
            }
        }
    }
    (set, errors)
}

/// Read policies from multi-document YAML.
pub fn policies_from_yaml(source_name: &str, text: &str) -> Result<PolicySet, LoadError> {
    policies_from_values(source_name, &parse_documents(source_name, text)?)
}
