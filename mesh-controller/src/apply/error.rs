//! Errors of the applier and their class in metrics labels.

/// Errors of the applier.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A desired object lacks a field the applier needs.
    #[error("cluster {cluster}: desired object {what}: missing or invalid {field}")]
    InvalidObject {
        /// Target cluster.
        cluster: String,
        /// Which object (as far as known).
        what: String,
        /// The missing field.
        field: &'static str,
    },
    /// The API server rejected or failed a write.
    #[error("cluster {cluster}: {verb} {kind} {name}: {source}")]
    Api {
        /// Target cluster.
        cluster: String,
        /// `apply`, `apply-status`, `delete`, `list`, `event`.
        verb: &'static str,
        /// Object kind.
        kind: String,
        /// `namespace/name`.
        name: String,
        /// The client error.
        source: Box<kube::Error>,
    },
}

/// The error class used in metrics labels.
pub fn error_class(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(s) => match s.code {
            404 => "not_found",
            409 => "conflict",
            422 => "invalid",
            401 | 403 => "forbidden",
            429 => "throttled",
            500..=599 => "server",
            _ => "other",
        },
        _ => "unavailable",
    }
}
