//! Errors starting the runtime.

use crate::members::MemberError;
use crate::server;

/// Errors starting the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A member's client could not be built.
    #[error(transparent)]
    Member(#[from] MemberError),
    /// The HTTP endpoints could not be served.
    #[error(transparent)]
    Server(#[from] server::ServerError),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The discovery API could not be served.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::DiscoveryError),
}
