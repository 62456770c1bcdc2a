//! Errors reading input documents.

use crate::cluster::ClusterError;
use crate::resource::ResourceError;

/// Errors reading input documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not YAML.
    #[error("{source_name}: invalid YAML: {message}")]
    Yaml {
        /// File or input name.
        source_name: String,
        /// Parser message.
        message: String,
    },
    /// A document is not a map.
    #[error("{source_name}: document {index} is not a map")]
    NotAMap {
        /// File or input name.
        source_name: String,
        /// Document index.
        index: usize,
    },
    /// A document of a kind this reader does not take.
    #[error(
        "{source_name}: document {index}: unsupported {api_version}/{kind} (want PropagationPolicy, ClusterPropagationPolicy, OverridePolicy or ClusterOverridePolicy of policy.karmada.io/v1alpha1 or placement.isthmus.io/v1alpha1)"
    )]
    UnsupportedKind {
        /// File or input name.
        source_name: String,
        /// Document index.
        index: usize,
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// A policy document breaks its schema or a semantic rule.
    #[error("{source_name}: {kind} {name:?}: {message}")]
    Invalid {
        /// File or input name.
        source_name: String,
        /// kind.
        kind: String,
        /// namespace/name.
        name: String,
        /// What is wrong (starts with the field path).
        message: String,
    },
    /// A cluster document is wrong.
    #[error("{source_name}: {source}")]
    Cluster {
        /// File or input name.
        source_name: String,
        /// Cause.
        source: Box<ClusterError>,
    },
    /// The resource template is wrong.
    #[error("{source_name}: {source}")]
    Resource {
        /// File or input name.
        source_name: String,
        /// Cause.
        source: Box<ResourceError>,
    },
    /// Exactly one resource document expected.
    #[error("{source_name}: expected exactly one resource document, found {count}")]
    ResourceCount {
        /// File or input name.
        source_name: String,
        /// How many documents.
        count: usize,
    },
    /// Previous-assignment file is wrong.
    #[error("{source_name}: {message}")]
    Previous {
        /// File or input name.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}
