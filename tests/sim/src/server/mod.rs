//! The HTTP(S) front end: connection handling, authentication, fault injection, routing of the
//! Kubernetes REST paths, list/watch streaming and discovery.
//!
//! One concept per module: the accept loop, connections and the per-request wrapper (`conn`),
//! the state the server tasks of a cluster share (`state`), the request log entry (`record`),
//! request parsing (`request`), response encoding (`response`), routing and the REST verbs
//! (`routes`), and watch streaming (`watch`).

mod conn;
mod record;
mod request;
mod response;
mod routes;
mod state;
mod watch;

pub(crate) use conn::serve;
pub use record::RequestRecord;
pub(crate) use state::ClusterState;
