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
    /// The write was not sent, or was cancelled, because this replica does not hold the
    /// lease (any more).
    #[error("cluster {cluster}: not the leader, write not sent")]
    NotLeader {
        /// Target cluster.
        cluster: String,
    },
    /// The write was cancelled at its deadline (shorter than what is left of the lease).
    #[error("cluster {cluster}: no answer within {after:?}")]
    Deadline {
        /// Target cluster.
        cluster: String,
        /// The deadline.
        after: std::time::Duration,
    },
}

/// Runs one request only while `fence` is open, cancelled when it closes and at
/// `per_write` (or what is left of the lease, if shorter). A request refused or cut short
/// fails with a `kube::Error::Service` holding [`ApplyError::NotLeader`] or
/// [`ApplyError::Deadline`].
pub(super) async fn fenced<T>(
    cluster: &str,
    fence: &crate::leader::Fence,
    per_write: std::time::Duration,
    request: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    let not_leader = || {
        kube::Error::Service(Box::new(ApplyError::NotLeader {
            cluster: cluster.to_owned(),
        }))
    };
    let Some(left) = fence.remaining() else {
        return Err(not_leader());
    };
    let after = left.min(per_write);
    tokio::select! {
        () = fence.lost() => Err(not_leader()),
        r = tokio::time::timeout(after, request) => r.unwrap_or_else(|_| {
            Err(kube::Error::Service(Box::new(ApplyError::Deadline {
                cluster: cluster.to_owned(),
                after,
            })))
        }),
    }
}

/// The error class used in metrics labels.
pub fn error_class(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Service(inner) => match inner.downcast_ref::<ApplyError>() {
            Some(ApplyError::NotLeader { .. }) => "not_leader",
            Some(ApplyError::Deadline { .. }) => "timeout",
            _ => "unavailable",
        },
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
