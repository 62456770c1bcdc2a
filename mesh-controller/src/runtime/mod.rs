//! The live controller runtime: the members' tasks, watches, the reconcile loop and the writes.
//!
//! The runtime is generic over an [`Engine`]: the clusterset index (fed by the watches through
//! [`Sink`]) plus the pure reconcile that turns its snapshot into a [`Plan`]. The runtime owns
//! everything that touches clusters: clients, discovery, watches, health probes, leader
//! election, the applier, and the HTTP endpoints.

mod config;
pub mod engine;
mod error;
mod handle;
pub mod hub;
mod istio;
mod member;
mod pass;
mod readiness;
mod reconcile_loop;
mod start;
mod summary;
mod write;

use jiff::Timestamp;

use crate::members::MemberStatus;
use crate::model::IstioFact;
use crate::plan::Plan;
use crate::watch::Sink;
pub use config::{DEFAULT_ISTIO_REFRESH, IstioReads, LeaderMode, RunConfig};
pub use error::RuntimeError;
pub use handle::ControllerHandle;
pub use istio::{ISTIOD_SELECTOR, RESTART_FIELD_MANAGER, REVISION_LABEL};
pub use start::start;
pub use summary::PassSummary;

/// The index plus the pure reconcile, as the runtime sees them.
pub trait Engine: Sink {
    /// Reconciles the current snapshot, given the members' status, at `now`.
    fn plan(&self, members: &[MemberStatus], now: Timestamp) -> Plan;

    /// Records an Istio fact read from `cluster`; whether it changed what is known.
    fn observe(&self, cluster: &str, fact: IstioFact) -> bool;
}
