//! Run-time fault injection: partitions, per-verb error rates, dropped watches, forced
//! compaction and added latency. Deterministic: rates use a seeded generator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiError;
use crate::store::Store;
use crate::sync::lock;

/// How a partitioned cluster behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partition {
    /// Reachable.
    #[default]
    None,
    /// The listener is closed and open connections are dropped: connections are refused.
    Refuse,
    /// Connections are accepted but requests are never answered; open watches stall.
    Hang,
}

/// The error an error rule answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedError {
    /// 500 InternalError.
    Internal,
    /// 429 TooManyRequests with `Retry-After`.
    TooManyRequests {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
}

#[derive(Debug, Clone)]
enum Mode {
    EveryNth { n: u64, count: u64 },
    Rate { rate: f64, rng: u64 },
}

#[derive(Debug, Clone)]
struct Rule {
    error: InjectedError,
    mode: Mode,
}

#[derive(Debug, Default)]
struct FaultState {
    latency: Duration,
    rules: HashMap<String, Rule>,
}

/// Shared fault state of one cluster (the server reads it on every request).
pub(crate) struct Faults {
    state: Mutex<FaultState>,
    partition: watch::Sender<Partition>,
    watch_epoch: watch::Sender<u64>,
    store: Arc<Mutex<Store>>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Faults {
    pub(crate) fn new(store: Arc<Mutex<Store>>) -> Self {
        Self {
            state: Mutex::new(FaultState::default()),
            partition: watch::channel(Partition::None).0,
            watch_epoch: watch::channel(0).0,
            store,
        }
    }

    pub(crate) fn partition_rx(&self) -> watch::Receiver<Partition> {
        self.partition.subscribe()
    }

    pub(crate) fn watch_epoch_rx(&self) -> watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }

    pub(crate) fn latency(&self) -> Duration {
        lock(&self.state).latency
    }

    /// The injected error for a request with this verb on this resource, if a rule fires.
    /// Rules are looked up as `verb/resource`, `verb`, `*/resource`, then `*`.
    pub(crate) fn injected(&self, verb: &str, resource: &str) -> Option<ApiError> {
        let mut st = lock(&self.state);
        let candidates = [
            format!("{verb}/{resource}"),
            verb.to_string(),
            format!("*/{resource}"),
            "*".to_string(),
        ];
        let key = candidates.into_iter().find(|k| st.rules.contains_key(k))?;
        let rule = st.rules.get_mut(&key)?;
        let fire = match &mut rule.mode {
            Mode::EveryNth { n, count } => {
                *count += 1;
                *n > 0 && (*count).is_multiple_of(*n)
            }
            Mode::Rate { rate, rng } => {
                let x = (splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64;
                x < *rate
            }
        };
        if !fire {
            return None;
        }
        Some(match rule.error {
            InjectedError::Internal => ApiError::internal("injected fault"),
            InjectedError::TooManyRequests { retry_after_secs } => {
                ApiError::too_many_requests(retry_after_secs)
            }
        })
    }
}

/// Switches faults of one simulated cluster at run time. Cheap to clone.
#[derive(Clone)]
pub struct FaultHandle {
    pub(crate) inner: Arc<Faults>,
}

impl FaultHandle {
    /// Refuse connections: close the listener and drop open connections (re-bound on heal).
    pub fn partition_refuse(&self) {
        self.inner.partition.send_replace(Partition::Refuse);
    }

    /// Accept connections but never answer; open watches stall until healed.
    pub fn partition_hang(&self) {
        self.inner.partition.send_replace(Partition::Hang);
    }

    /// End a partition.
    pub fn heal(&self) {
        self.inner.partition.send_replace(Partition::None);
    }

    /// The current partition state.
    pub fn partition(&self) -> Partition {
        *self.inner.partition.borrow()
    }

    /// Fail every `n`-th request matching `rule`: a verb (`get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`, `deletecollection`), a verb on one resource
    /// (`list/serviceexports`), any verb on one resource (`*/endpointslices`), or `*`. The most
    /// specific rule that exists applies to a request.
    pub fn fail_every_nth(&self, rule: &str, n: u64, error: InjectedError) {
        lock(&self.inner.state).rules.insert(
            rule.to_string(),
            Rule {
                error,
                mode: Mode::EveryNth { n, count: 0 },
            },
        );
    }

    /// Fail a fraction `rate` (0..=1) of requests matching `rule` (as in
    /// [`FaultHandle::fail_every_nth`]), drawn from a generator seeded with `seed` (same seed,
    /// same sequence).
    pub fn fail_rate(&self, rule: &str, rate: f64, seed: u64, error: InjectedError) {
        lock(&self.inner.state).rules.insert(
            rule.to_string(),
            Rule {
                error,
                mode: Mode::Rate { rate, rng: seed },
            },
        );
    }

    /// Remove all error rules.
    pub fn clear_errors(&self) {
        lock(&self.inner.state).rules.clear();
    }

    /// Add latency before every request is handled (zero to turn it off).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.inner.state).latency = latency;
    }

    /// Close every open watch stream now (clients see the stream end and re-watch).
    pub fn close_watches(&self) {
        self.inner.watch_epoch.send_modify(|e| *e += 1);
    }

    /// Compact: every resourceVersion older than now gives 410 Gone to watches and continues.
    pub fn compact(&self) {
        lock(&self.inner.store).compact();
    }

    /// Clear every fault (heal, no errors, no latency).
    pub fn reset(&self) {
        self.heal();
        self.clear_errors();
        self.set_latency(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;

    fn faults() -> Faults {
        Faults::new(Arc::new(Mutex::new(Store::new(StoreLimits {
            history: 10,
            watch_buffer: 16,
        }))))
    }

    #[test]
    fn every_nth_is_exact() {
        let f = Arc::new(faults());
        let h = FaultHandle { inner: f.clone() };
        h.fail_every_nth("get", 3, InjectedError::Internal);
        let fired: Vec<bool> = (0..6)
            .map(|_| f.injected("get", "pods").is_some())
            .collect();
        assert_eq!(fired, vec![false, false, true, false, false, true]);
        assert!(f.injected("list", "pods").is_none());
        h.fail_every_nth("list/services", 1, InjectedError::Internal);
        assert!(f.injected("list", "services").is_some());
        assert!(f.injected("list", "pods").is_none());
    }

    #[test]
    fn seeded_rate_is_reproducible() {
        let run = || {
            let f = Arc::new(faults());
            let h = FaultHandle { inner: f.clone() };
            h.fail_rate(
                "*",
                0.3,
                42,
                InjectedError::TooManyRequests {
                    retry_after_secs: 1,
                },
            );
            (0..200)
                .map(|_| f.injected("list", "pods").is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let n = a.iter().filter(|x| **x).count();
        assert!((30..90).contains(&n), "{n} of 200 failed");
    }
}
