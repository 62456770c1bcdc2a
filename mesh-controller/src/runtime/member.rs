//! The tasks of one member: MCS version discovery, then its watches; and its health probe.

use std::time::Duration;

use kube::Client;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::members::{self, MemberHealth, MemberSpec};
use crate::watch::{WatchContext, spawn_member_watches};
use isthmus_api::backoff::Backoff;

/// A member as the runtime holds it.
pub(super) struct Member {
    pub(super) spec: MemberSpec,
    pub(super) client: Client,
    pub(super) health: MemberHealth,
}

/// First delay before the MCS version discovery of a member is retried; doubled (with jitter)
/// up to [`DISCOVERY_RETRY_MAX`].
const DISCOVERY_RETRY_MIN: Duration = Duration::from_millis(200);
/// Longest delay between discovery retries (before jitter).
const DISCOVERY_RETRY_MAX: Duration = Duration::from_secs(5);

/// Discovers the member's MCS version (retrying while it does not answer), then runs its watches.
pub(super) async fn member_supervisor(mut ctx: WatchContext, cancel: CancellationToken) {
    let mut backoff = Backoff::new(DISCOVERY_RETRY_MIN, DISCOVERY_RETRY_MAX);
    loop {
        match members::discover_mcs_version(&ctx.client).await {
            Ok(v) => {
                match &v {
                    Some(v) => info!(mcs_version = %v, "member serves the MCS API"),
                    None => warn!(
                        "member does not serve the MCS API (multicluster.x-k8s.io): exports and imports are not watched"
                    ),
                }
                ctx.health.set_mcs_version(v.clone());
                ctx.mcs_version = v;
                ctx.health.remove_watch("Discovery");
                break;
            }
            Err(e) => {
                debug!(error = %e, "discovery failed; retrying");
                ctx.health
                    .watch_failed("Discovery", &format!("discovery: {e}"));
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    let mut tasks = JoinSet::new();
    spawn_member_watches(&ctx, &mut tasks, &cancel);
    while tasks.join_next().await.is_some() {}
}

/// Probes the member's API server every `period` (2 s timeout) until `cancel` fires.
pub(super) async fn probe(
    client: Client,
    health: MemberHealth,
    period: Duration,
    cancel: CancellationToken,
) {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(2), client.apiserver_version()).await;
        let r = match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("health probe: {e}")),
            Err(_) => Err("health probe: no answer within 2s".to_owned()),
        };
        health.probe(r);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(period) => {}
        }
    }
}
