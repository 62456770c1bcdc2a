//! The reconcile loop: when to run a pass (events after a debounce, reachability changes,
//! periodic resync, grace-period expiry, retries, new leadership).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::member::Member;
use super::summary::PassSummary;
use super::{Engine, RunConfig};
use crate::apply::ClusterApplier;
use crate::leader::Fence;
use crate::members::Reachability;
use crate::metrics::Metrics;
use isthmus_api::backoff::Backoff;

pub(super) struct Loop {
    pub(super) cfg: RunConfig,
    pub(super) engine: Arc<dyn Engine>,
    pub(super) members: Vec<Member>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) notify: Arc<Notify>,
    pub(super) leader: Fence,
    pub(super) summary: watch::Sender<PassSummary>,
    pub(super) appliers: HashMap<String, ClusterApplier>,
    pub(super) discovery: Option<Arc<crate::discovery::Discovery>>,
    /// Bound on writes in flight over all members.
    pub(super) write_limit: Arc<Semaphore>,
    /// Bound on background prune listings in flight over all members.
    pub(super) list_limit: Arc<Semaphore>,
}

/// First delay before a pass retries failed writes; doubled (with jitter) up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest delay between retry passes (before jitter).
const RETRY_MAX: Duration = Duration::from_secs(30);

impl Loop {
    pub(super) async fn run(mut self, cancel: CancellationToken) {
        let mut next_resync = Instant::now() + self.cfg.resync_period;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leader = self.leader.clone();
        let mut was_leader = leader.is_leading();
        let notify = self.notify.clone();
        // With leader election disabled the sender is gone: stop listening for changes.
        let mut leader_open = true;
        // Members that need a full pass (first write, recovery, new leadership).
        let mut full_for: Vec<String> = self.members.iter().map(|m| m.spec.name.clone()).collect();
        // Unreachable members whose grace period expired (and got their withdrawal pass).
        let mut withdrawn: std::collections::HashSet<String> = std::collections::HashSet::new();
        // After a pass with failed or unfinished writes, another pass retries them (backing off
        // while they keep failing) instead of waiting for the next change or resync.
        let mut retry_at: Option<Instant> = None;
        let mut retry = Backoff::new(RETRY_MIN, RETRY_MAX);
        // Nothing is written until every member has synced; the pass that may write then is
        // started here, as the last sync need not change the index (a restart with nothing
        // changed) and so need not wake the loop.
        let mut all_synced = false;
        loop {
            let mut full = false;
            tokio::select! {
                () = cancel.cancelled() => break,
                () = notify.notified() => {
                    // Debounce: let a burst of events settle.
                    tokio::time::sleep(self.cfg.debounce).await;
                }
                _ = tick.tick() => {
                    let mut changed = false;
                    for m in &self.members {
                        if m.health.evaluate(self.cfg.unreachable_after) {
                            let st = m.health.status();
                            match st.reachability {
                                Reachability::Unreachable { since } => warn!(cluster = %st.name, %since, error = st.last_error.as_deref().unwrap_or(""), "member unreachable"),
                                _ => {
                                    info!(cluster = %st.name, "member reachable again");
                                    full_for.push(st.name.clone());
                                }
                            }
                            changed = true;
                        }
                    }
                    if !all_synced
                        && self
                            .members
                            .iter()
                            .all(|m| !matches!(m.health.status().reachability, Reachability::Pending))
                    {
                        all_synced = true;
                        changed = true;
                        debug!("every member synced");
                    }
                    if Instant::now() >= next_resync {
                        next_resync = Instant::now() + self.cfg.resync_period;
                        full = true;
                        debug!("periodic full resync");
                    }
                    // A pass when an unreachable member's grace period expires (withdrawal).
                    let now = Timestamp::now();
                    let grace = jiff::SignedDuration::try_from(self.cfg.unreachable_grace)
                        .unwrap_or(jiff::SignedDuration::MAX);
                    let mut expired_now = false;
                    for m in &self.members {
                        match m.health.status().reachability {
                            Reachability::Unreachable { since } => {
                                if now.duration_since(since) >= grace
                                    && withdrawn.insert(m.spec.name.clone())
                                {
                                    expired_now = true;
                                }
                            }
                            _ => {
                                withdrawn.remove(&m.spec.name);
                            }
                        }
                    }
                    let retry = retry_at.is_some_and(|t| Instant::now() >= t);
                    // A finished background prune listing prunes in a pass.
                    let listed = self.appliers.values().any(ClusterApplier::listing_done);
                    if !changed && !full && !expired_now && !retry && !listed {
                        continue;
                    }
                }
                open = leader.changed(), if leader_open => {
                    if !open {
                        leader_open = false;
                        continue;
                    }
                    // Renewals publish a new deadline: only a new term or a loss matters.
                    let now_leader = leader.is_leading();
                    if now_leader == was_leader {
                        continue;
                    }
                    was_leader = now_leader;
                    if !now_leader {
                        // Another replica may write before this one leads again: what this
                        // one wrote is forgotten, and the next term adopts what the members
                        // hold.
                        info!("stopped writing: leadership lost");
                        self.appliers.clear();
                        continue;
                    }
                    full = true;
                    full_for = self.members.iter().map(|m| m.spec.name.clone()).collect();
                }
            }
            let errors = self.pass(full, &mut full_for).await;
            if errors > 0 {
                retry_at = Some(Instant::now() + retry.next_delay());
            } else {
                retry_at = None;
                retry.reset();
            }
        }
    }
}
