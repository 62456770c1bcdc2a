//! Leader election with a `coordination.k8s.io/v1` Lease.
//!
//! Every replica keeps its index warm; only the lease holder writes. The decision of what to do
//! with a lease is the pure [`decide`]; [`LeaderElector::run`] performs it against the API with
//! optimistic concurrency (the `resourceVersion` of the lease it read).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
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
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews and the others retry.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Defaults: lease `isthmus-mesh-controller` in `namespace`, 15 s validity, 2 s retry.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: "isthmus-mesh-controller".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
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

/// Decides what to do with `spec` (the lease as read) at `now`.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0).max(0));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed {
        Some(renewed) if renewed.as_second().saturating_add(duration) > now.as_second() => {
            Decision::Follow {
                holder: holder.to_owned(),
            }
        }
        _ => Decision::Acquire,
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

/// Runs leader election against one cluster's Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

impl LeaderElector {
    /// An elector for `cfg` using `client`.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    fn err(&self, e: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.cfg.namespace.clone(),
            name: self.cfg.name.clone(),
            source: Box::new(e),
        }
    }

    /// One round: read, decide, write. Returns whether we hold the lease afterwards.
    pub async fn try_once(&self) -> Result<bool, LeaderError> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.cfg.name)
            .await
            .map_err(|e| self.err(e))?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let decision = decide(spec, &self.cfg.identity, now);
        let Some(next) = next_spec(
            spec,
            &decision,
            &self.cfg.identity,
            self.cfg.lease_duration,
            now,
        ) else {
            if let Decision::Follow { holder } = &decision {
                debug!(holder = %holder, "lease held by another replica");
            }
            return Ok(false);
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
            Ok(_) => Ok(true),
            // Someone else wrote first (409) - we lost this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.err(e)),
        }
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

    /// Keeps trying to hold the lease until `cancel`; publishes leadership on `leader`.
    ///
    /// A holder that cannot renew for a whole lease duration steps down before anyone else
    /// can take over, so two replicas never write at the same time.
    pub async fn run(self, leader: watch::Sender<bool>, cancel: CancellationToken) {
        let mut last_renew: Option<tokio::time::Instant> = None;
        loop {
            let held = match self.try_once().await {
                Ok(held) => {
                    if held {
                        last_renew = Some(tokio::time::Instant::now());
                    }
                    held
                }
                Err(e) => {
                    warn!(error = %e, "leader election round failed");
                    // Keep leading only while the last renewal is still within the renew deadline.
                    let deadline = self
                        .cfg
                        .lease_duration
                        .saturating_sub(self.cfg.retry_period);
                    *leader.borrow() && last_renew.is_some_and(|t| t.elapsed() < deadline)
                }
            };
            if *leader.borrow() != held {
                if held {
                    info!(identity = %self.cfg.identity, lease = %self.cfg.name, "became leader");
                } else {
                    info!(identity = %self.cfg.identity, lease = %self.cfg.name, "lost leadership");
                }
                leader.send_replace(held);
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(self.cfg.retry_period) => {}
            }
        }
        if *leader.borrow() {
            leader.send_replace(false);
            if let Err(e) = self.release().await {
                warn!(error = %e, "could not release the lease");
            }
        }
    }
}

#[cfg(test)]
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
        assert_eq!(decide(None, "a", ts(100)), Decision::Acquire);
        let empty = LeaseSpec::default();
        assert_eq!(decide(Some(&empty), "a", ts(100)), Decision::Acquire);
    }

    #[test]
    fn valid_lease_of_another_is_followed_until_it_expires() {
        let spec = held_by("b", 100, 15);
        assert_eq!(
            decide(Some(&spec), "a", ts(110)),
            Decision::Follow { holder: "b".into() }
        );
        assert_eq!(decide(Some(&spec), "a", ts(115)), Decision::Acquire);
    }

    #[test]
    fn own_lease_is_renewed_and_takeover_counts_a_transition() {
        let spec = held_by("a", 100, 15);
        assert_eq!(decide(Some(&spec), "a", ts(500)), Decision::Renew);
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
}
