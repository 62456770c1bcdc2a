//! The request log entry: one served request as the API server's audit log would describe it.

/// One request as the API server's audit log would describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection, or
    /// the lower-case HTTP method for non-resource paths.
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural), empty for non-resource paths.
    pub resource: String,
    /// Subresource (`status`), if any.
    pub subresource: String,
    /// Namespace, if any.
    pub namespace: String,
    /// Object name, if any.
    pub name: String,
    /// Path for non-resource requests (`/version`, `/apis`...).
    pub path: String,
    /// HTTP status code of the answer.
    pub code: u16,
    /// The client's User-Agent header.
    pub user_agent: String,
    /// The service account the request authenticated as with a token Secret's token
    /// (`system:serviceaccount:<namespace>:<name>`); empty with the cluster's own token or
    /// when the cluster checks no token.
    pub user: String,
}
