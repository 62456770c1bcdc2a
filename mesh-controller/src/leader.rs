//! Leader election with a `coordination.k8s.io/v1` Lease, and the [`Fence`] every write
//! checks.
//!
//! Every replica keeps its index warm; only the lease holder writes. The decision of what to do
//! with a lease is the pure [`decide`]; [`LeaderElector::run`] performs it against the API with
//! optimistic concurrency (the `resourceVersion` of the lease it read).
//!
//! Clocks are never compared. A replica judges another's lease expired only when the lease
//! record has not changed for `leaseDuration` on its own clock, counted from when it last saw
//! the record change (its observed time). The holder's writes are fenced by
//! `renew_deadline` (shorter than `leaseDuration`), counted from when it sent its last
//! successful renewal: that renewal landed after it was sent, so every other replica saw it
//! change after that instant too, and cannot take the lease before `leaseDuration` has passed
//! from there. The difference between the two is the margin within which a deposed holder's
//! writes in flight are cancelled.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The lease could not be read or written.
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// The API error.
        source: Box<kube::Error>,
    },
    /// The lease was not answered in time.
    #[error("lease {namespace}/{name}: no answer within {after:?}")]
    Timeout {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// How long it waited.
        after: Duration,
    },
}

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (pod name or host name plus a random suffix).
    pub identity: String,
    /// How long a lease stays valid without renewal (judged by the others on their own
    /// clocks, from when they saw it change).
    pub lease_duration: Duration,
    /// How long after sending its last successful renewal the holder keeps writing; shorter
    /// than `lease_duration` (the difference is the safety margin).
    pub renew_deadline: Duration,
    /// How often the holder renews and the others retry.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Defaults: lease `isthmus-mesh-controller` in `namespace`, 15 s validity, 10 s renew
    /// deadline, 2 s retry.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: "isthmus-mesh-controller".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Sets `lease_duration`, with the renew deadline at two thirds of it and the retry
    /// period at a fifth of the renew deadline.
    pub fn with_lease_duration(mut self, lease_duration: Duration) -> Self {
        self.lease_duration = lease_duration;
        self.renew_deadline = lease_duration.mul_f64(2.0 / 3.0);
        self.retry_period = self.renew_deadline / 5;
        self
    }

    /// The renew deadline actually used: below `lease_duration` whatever was configured.
    fn fence_for(&self) -> Duration {
        let cap = self.lease_duration.mul_f64(0.9);
        self.renew_deadline.min(cap)
    }
}

/// Whether this replica may write, and until when: what every write checks.
///
/// Published by the [`LeaderElector`] (or always open with leader election disabled). A
/// leader's fence closes by itself when its deadline passes, even if the elector is stuck.
#[derive(Clone, Debug)]
pub struct Fence {
    rx: watch::Receiver<Option<Instant>>,
}

/// The writing end of a [`Fence`].
pub type FenceSender = watch::Sender<Option<Instant>>;

/// Far enough in the future to stand for "no deadline".
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl Fence {
    /// A closed fence and its sender.
    pub fn channel() -> (FenceSender, Fence) {
        let (tx, rx) = watch::channel(None);
        (tx, Fence { rx })
    }

    /// A fence that is always open (leader election disabled).
    pub fn open() -> Fence {
        let (tx, rx) = watch::channel(Some(far_future()));
        drop(tx);
        Fence { rx }
    }

    /// How long writes may still go on; `None` when this replica must not write.
    pub fn remaining(&self) -> Option<Duration> {
        let until = (*self.rx.borrow())?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Whether this replica may write now.
    pub fn is_leading(&self) -> bool {
        self.remaining().is_some()
    }

    /// Resolves when this replica must stop writing (at once when it must not write now).
    pub async fn lost(&self) {
        let mut rx = self.rx.clone();
        loop {
            let Some(until) = *rx.borrow_and_update() else {
                return;
            };
            if Instant::now() >= until {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                changed = rx.changed() => {
                    if changed.is_err() {
                        // No more renewals: the last deadline stands.
                        tokio::time::sleep_until(until).await;
                        return;
                    }
                }
            }
        }
    }

    /// Resolves on the next change published (a renewal, a new term or a loss); `false`
    /// when nothing will be published any more.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

/// What to do with the lease as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Take the lease (it is free or expired): a new term starts.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a valid lease.
    Follow {
        /// The holder.
        holder: String,
    },
}

/// The lease record as last seen, and when (on this replica's clock) it was seen to change.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The record.
    pub spec: LeaseSpec,
    /// When this replica first saw this record.
    pub at: Instant,
}

/// Updates `observed` with the record read at `now`: the observed time moves only when the
/// record changed.
pub fn observe(observed: &mut Option<Observed>, spec: Option<&LeaseSpec>, now: Instant) {
    match (observed.as_ref(), spec) {
        (_, None) => *observed = None,
        (Some(o), Some(s)) if o.spec == *s => {}
        (_, Some(s)) => {
            *observed = Some(Observed {
                spec: s.clone(),
                at: now,
            });
        }
    }
}

/// Decides what to do with the lease as last observed, at `now` on this replica's clock:
/// another holder's lease expires `leaseDuration` after this replica saw it change, whatever
/// its `renewTime` says.
pub fn decide(observed: Option<&Observed>, identity: &str, now: Instant) -> Decision {
    let Some(o) = observed else {
        return Decision::Acquire;
    };
    let holder = o.spec.holder_identity.as_deref().unwrap_or("");
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    let secs = u64::try_from(o.spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0);
    if now.saturating_duration_since(o.at) >= Duration::from_secs(secs) {
        Decision::Acquire
    } else {
        Decision::Follow {
            holder: holder.to_owned(),
        }
    }
}

/// The spec to write for `decision`, based on what was read.
pub fn next_spec(
    read: Option<&LeaseSpec>,
    decision: &Decision,
    identity: &str,
    lease_duration: Duration,
    now: Timestamp,
) -> Option<LeaseSpec> {
    let secs = i32::try_from(lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
    match decision {
        Decision::Follow { .. } => None,
        Decision::Renew => {
            let mut spec = read.cloned().unwrap_or_default();
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(secs);
            Some(spec)
        }
        Decision::Acquire => {
            let transitions = read.and_then(|s| s.lease_transitions).unwrap_or(0);
            let had_holder = read
                .and_then(|s| s.holder_identity.as_deref())
                .is_some_and(|h| !h.is_empty());
            Some(LeaseSpec {
                holder_identity: Some(identity.to_owned()),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_duration_seconds: Some(secs),
                lease_transitions: Some(if had_holder {
                    transitions.saturating_add(1)
                } else {
                    transitions
                }),
                ..LeaseSpec::default()
            })
        }
    }
}

/// The outcome of one election round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// We hold the lease (acquired or renewed).
    Held,
    /// Another replica holds a valid lease.
    Follow,
    /// Another write to the lease came between our read and our write: read again.
    Conflict,
}

/// Runs leader election against one cluster's Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    observed: Option<Observed>,
}

impl LeaderElector {
    /// An elector for `cfg` using `client`.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    fn err(&self, e: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.cfg.namespace.clone(),
            name: self.cfg.name.clone(),
            source: Box::new(e),
        }
    }

    /// One round: read, decide, write.
    pub async fn round(&mut self) -> Result<Round, LeaderError> {
        let current = self
            .api
            .get_opt(&self.cfg.name)
            .await
            .map_err(|e| self.err(e))?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        observe(&mut self.observed, spec, Instant::now());
        let decision = decide(self.observed.as_ref(), &self.cfg.identity, Instant::now());
        let Some(next) = next_spec(
            spec,
            &decision,
            &self.cfg.identity,
            self.cfg.lease_duration,
            Timestamp::now(),
        ) else {
            if let Decision::Follow { holder } = &decision {
                debug!(holder = %holder, "lease held by another replica");
            }
            return Ok(Round::Follow);
        };
        let result = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.name.clone()),
                        namespace: Some(self.cfg.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(next),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                lease.spec = Some(next);
                self.api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(written) => {
                // Our own write is a change we saw now.
                observe(&mut self.observed, written.spec.as_ref(), Instant::now());
                Ok(Round::Held)
            }
            // Someone else wrote first (409 on replace, or the lease created meanwhile).
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Round::Conflict),
            Err(e) => Err(self.err(e)),
        }
    }

    /// One round; whether we hold the lease afterwards.
    pub async fn try_once(&mut self) -> Result<bool, LeaderError> {
        Ok(self.round().await? == Round::Held)
    }

    /// Gives the lease up so another replica can take over at once.
    pub async fn release(&self) -> Result<(), LeaderError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.cfg.name)
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Keeps trying to hold the lease until `cancel`; publishes the write deadline on `fence`.
    ///
    /// The holder renews every retry period; a renewal that fails or conflicts is retried
    /// (every quarter retry period) until the renew deadline of the last successful one,
    /// and only then does the holder step down. Each round is bounded by what is left of the
    /// deadline, so a hung API cannot keep a deposed holder writing.
    pub async fn run(mut self, fence: FenceSender, cancel: CancellationToken) {
        let renew_deadline = self.cfg.fence_for();
        let quick = (self.cfg.retry_period / 4).max(Duration::from_millis(10));
        let mut until: Option<Instant> = None;
        loop {
            let sent = Instant::now();
            let budget = match until {
                Some(u) => u.saturating_duration_since(sent),
                None => self.cfg.lease_duration,
            };
            let outcome = tokio::select! {
                () = cancel.cancelled() => break,
                r = tokio::time::timeout(budget, self.round()) => r.unwrap_or_else(|_| {
                    Err(LeaderError::Timeout {
                        namespace: self.cfg.namespace.clone(),
                        name: self.cfg.name.clone(),
                        after: budget,
                    })
                }),
            };
            let mut again = self.cfg.retry_period;
            match outcome {
                Ok(Round::Held) => {
                    if until.is_none() {
                        info!(identity = %self.cfg.identity, lease = %self.cfg.name, "became leader");
                    }
                    // Counted from before the request: the renewal landed after that.
                    let next = sent + renew_deadline;
                    until = Some(next);
                    fence.send_replace(Some(next));
                }
                Ok(Round::Follow) => {
                    if until.take().is_some() {
                        info!(identity = %self.cfg.identity, lease = %self.cfg.name, "lost leadership: another replica holds the lease");
                    }
                    fence.send_replace(None);
                }
                Ok(Round::Conflict) => {
                    debug!(identity = %self.cfg.identity, "lease changed under us; reading it again");
                    again = quick;
                }
                Err(e) => {
                    warn!(error = %e, leading = until.is_some(), "leader election round failed");
                    if until.is_some() {
                        again = quick;
                    }
                }
            }
            if let Some(u) = until
                && Instant::now() >= u
            {
                until = None;
                fence.send_replace(None);
                warn!(identity = %self.cfg.identity, lease = %self.cfg.name, "lost leadership: could not renew before the renew deadline");
            }
            let wake = match until {
                Some(u) => (Instant::now() + again).min(u),
                None => Instant::now() + again,
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        if until.is_some() {
            fence.send_replace(None);
            if let Err(e) = self.release().await {
                warn!(error = %e, "could not release the lease");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn held_by(holder: &str, renewed: i64, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(ts(renewed))),
            lease_duration_seconds: Some(secs),
            lease_transitions: Some(3),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_or_missing_lease_is_acquired() {
        let now = Instant::now();
        assert_eq!(decide(None, "a", now), Decision::Acquire);
        let mut o = None;
        observe(&mut o, Some(&LeaseSpec::default()), now);
        assert_eq!(decide(o.as_ref(), "a", now), Decision::Acquire);
    }

    /// The holder's renewTime is never compared with the local clock: a record renewed
    /// "long ago" (or "in the future") by a skewed clock is valid for a whole lease duration
    /// from when this replica saw it change, and expires then whatever it says.
    #[test]
    fn expiry_counts_from_the_observed_change_on_the_local_clock() {
        let t0 = Instant::now();
        let mut o = None;
        // Renewed at second 100 of the epoch by the holder's clock: far in the past for
        // any local clock.
        observe(&mut o, Some(&held_by("b", 100, 15)), t0);
        let follow = Decision::Follow { holder: "b".into() };
        assert_eq!(decide(o.as_ref(), "a", t0), follow);
        assert_eq!(
            decide(o.as_ref(), "a", t0 + Duration::from_secs(14)),
            follow
        );
        // Read again unchanged: the observed time stays.
        observe(
            &mut o,
            Some(&held_by("b", 100, 15)),
            t0 + Duration::from_secs(10),
        );
        assert_eq!(
            decide(o.as_ref(), "a", t0 + Duration::from_secs(15)),
            Decision::Acquire
        );
        // A renewal (any change) restarts the count, even one far in the future.
        observe(
            &mut o,
            Some(&held_by("b", 4_000_000_000, 15)),
            t0 + Duration::from_secs(16),
        );
        assert_eq!(
            decide(o.as_ref(), "a", t0 + Duration::from_secs(30)),
            follow
        );
        assert_eq!(
            decide(o.as_ref(), "a", t0 + Duration::from_secs(31)),
            Decision::Acquire
        );
    }

    #[test]
    fn own_lease_is_renewed_and_takeover_counts_a_transition() {
        let mut o = None;
        let spec = held_by("a", 100, 15);
        observe(&mut o, Some(&spec), Instant::now());
        assert_eq!(
            decide(o.as_ref(), "a", Instant::now() + Duration::from_secs(500)),
            Decision::Renew
        );
        let renewed = next_spec(
            Some(&spec),
            &Decision::Renew,
            "a",
            Duration::from_secs(15),
            ts(500),
        );
        assert_eq!(renewed.as_ref().and_then(|s| s.lease_transitions), Some(3));
        assert_eq!(
            renewed.and_then(|s| s.renew_time).map(|t| t.0),
            Some(ts(500))
        );
        let expired = held_by("b", 100, 15);
        let taken = next_spec(
            Some(&expired),
            &Decision::Acquire,
            "a",
            Duration::from_secs(15),
            ts(500),
        );
        assert_eq!(
            taken.as_ref().and_then(|s| s.holder_identity.as_deref()),
            Some("a")
        );
        assert_eq!(taken.and_then(|s| s.lease_transitions), Some(4));
        assert_eq!(
            next_spec(
                Some(&expired),
                &Decision::Follow { holder: "b".into() },
                "a",
                Duration::from_secs(15),
                ts(1)
            ),
            None
        );
    }

    #[test]
    fn the_holders_fence_ends_before_anyone_may_take_over() {
        let c = LeaseConfig::new("ns", "a");
        assert!(c.fence_for() < c.lease_duration);
        let mut c = c.with_lease_duration(Duration::from_secs(3));
        assert!(c.fence_for() < c.lease_duration);
        assert!(c.retry_period < c.renew_deadline);
        c.renew_deadline = Duration::from_secs(10);
        assert!(c.fence_for() < c.lease_duration);
    }

    #[tokio::test]
    async fn a_fence_closes_at_its_deadline_and_on_loss() {
        let open = Fence::open();
        assert!(open.is_leading());
        let (tx, fence) = Fence::channel();
        assert!(!fence.is_leading());
        fence.lost().await;
        tx.send_replace(Some(Instant::now() + Duration::from_millis(50)));
        // Nobody renews: it closes by itself at the deadline.
        fence.lost().await;
        assert!(!fence.is_leading());
        tx.send_replace(Some(Instant::now() + Duration::from_secs(3600)));
        assert!(fence.is_leading());
        let f2 = fence.clone();
        let waiter = tokio::spawn(async move { f2.lost().await });
        tx.send_replace(None);
        waiter.await.unwrap();
        assert!(!fence.is_leading());
    }
}
