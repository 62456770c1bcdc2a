//! The handle of a running controller.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::readiness::readiness;
use super::summary::PassSummary;
use crate::members::{MemberHealth, MemberStatus};
use crate::metrics::Metrics;

/// A running controller.
pub struct ControllerHandle {
    pub(super) cancel: CancellationToken,
    pub(super) tasks: JoinSet<()>,
    pub(super) health: Vec<MemberHealth>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The bound address of the HTTP endpoints, when served.
    pub metrics_addr: Option<SocketAddr>,
    /// The bound address of the discovery API, when served.
    pub discovery_addr: Option<SocketAddr>,
    /// The discovery publisher, when served.
    pub publisher: Option<Arc<mesh_proto::publisher::Publisher>>,
    pub(super) summary: watch::Receiver<PassSummary>,
    pub(super) leader: crate::leader::Fence,
}

impl ControllerHandle {
    /// Every member's status.
    pub fn members(&self) -> Vec<MemberStatus> {
        self.health.iter().map(MemberHealth::status).collect()
    }

    /// The last pass summary.
    pub fn summary(&self) -> PassSummary {
        self.summary.borrow().clone()
    }

    /// A receiver of pass summaries (changes after every pass).
    pub fn summaries(&self) -> watch::Receiver<PassSummary> {
        self.summary.clone()
    }

    /// Whether this replica currently writes.
    pub fn is_leader(&self) -> bool {
        self.leader.is_leading()
    }

    /// Ready once every reachable member has synced once.
    pub fn ready(&self) -> Result<(), String> {
        readiness(&self.health)
    }

    /// Stops every task and waits for them.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until `cancel` fires or a task ends unexpectedly, then stops everything.
    pub async fn run_until(mut self, cancel: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = cancel => {}
            Some(res) = self.tasks.join_next() => {
                if let Err(e) = res {
                    error!(error = %e, "controller task ended unexpectedly");
                }
            }
        }
        self.shutdown().await;
    }
}
