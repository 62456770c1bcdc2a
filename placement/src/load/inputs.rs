//! The other inputs: cluster files, one resource template and a previous assignment.

use std::collections::BTreeMap;

use super::documents::parse_documents;
use super::error::LoadError;
use crate::cluster::{self, ClusterInfo};
use crate::resource::Resource;

/// Read clusters from multi-document YAML (MemberCluster and/or Karmada Cluster).
pub fn clusters_from_yaml(source_name: &str, text: &str) -> Result<Vec<ClusterInfo>, LoadError> {
    let docs = parse_documents(source_name, text)?;
    cluster::clusters_from_values(&docs).map_err(|source| LoadError::Cluster {
        source_name: source_name.into(),
        source: Box::new(source),
    })
}

/// Read exactly one resource template.
pub fn resource_from_yaml(source_name: &str, text: &str) -> Result<Resource, LoadError> {
    let mut docs = parse_documents(source_name, text)?;
    if docs.len() != 1 {
        return Err(LoadError::ResourceCount {
            source_name: source_name.into(),
            count: docs.len(),
        });
    }
    let doc = docs.remove(0);
    Resource::from_value(doc).map_err(|source| LoadError::Resource {
        source_name: source_name.into(),
        source: Box::new(source),
    })
}

/// Read a previous assignment: a YAML map of cluster -> replicas.
pub fn previous_from_yaml(
    source_name: &str,
    text: &str,
) -> Result<BTreeMap<String, i32>, LoadError> {
    let docs = parse_documents(source_name, text).map_err(|e| match e {
        LoadError::NotAMap { .. } => LoadError::Previous {
            source_name: source_name.into(),
            message: "expected a map of cluster name to replicas".into(),
        },
        other => other,
    })?;
    let mut out = BTreeMap::new();
    for doc in docs {
        let map = doc.as_object().ok_or_else(|| LoadError::Previous {
            source_name: source_name.into(),
            message: "expected a map of cluster name to replicas".into(),
        })?;
        for (k, v) in map {
            let n = v
                .as_i64()
                .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
                .ok_or_else(|| LoadError::Previous {
                    source_name: source_name.into(),
                    message: format!("{k}: replicas must be a non-negative integer, got {v}"),
                })?;
            out.insert(k.clone(), i32::try_from(n).unwrap_or(i32::MAX));
        }
    }
    Ok(out)
}
