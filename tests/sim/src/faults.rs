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

/// A fault command as text, for the `kube-sim` binary's `--fault` flag and admin endpoint.
/// One command per call, one of:
/// - `partition=refuse|hang|none`
/// - `latency=<ms>` (0 turns it off)
/// - `error=<rule>,every=<n>[,code=500|429][,retry-after=<s>]`
/// - `error=<rule>,rate=<0..1>[,seed=<n>][,code=500|429][,retry-after=<s>]`
/// - `clear-errors`, `close-watches`, `compact`, `reset`
///
/// `<rule>` is as in [`FaultHandle::fail_every_nth`] (`*`, `list`, `list/serviceexports`...).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultCommand {
    /// Set the partition.
    Partition(Partition),
    /// Set the added latency.
    Latency(Duration),
    /// Fail every n-th matching request.
    EveryNth {
        /// The rule.
        rule: String,
        /// n.
        n: u64,
        /// The answer.
        error: InjectedError,
    },
    /// Fail a fraction of matching requests.
    Rate {
        /// The rule.
        rule: String,
        /// The fraction.
        rate: f64,
        /// The generator's seed.
        seed: u64,
        /// The answer.
        error: InjectedError,
    },
    /// Remove every error rule.
    ClearErrors,
    /// Close every open watch.
    CloseWatches,
    /// Compact the history (410 Gone for older versions).
    Compact,
    /// Clear every fault.
    Reset,
}

/// A fault command that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("fault {command:?}: {reason}")]
pub struct FaultSpecError {
    /// The command as given.
    pub command: String,
    /// What is wrong.
    pub reason: String,
}

impl std::str::FromStr for FaultCommand {
    type Err = FaultSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| FaultSpecError {
            command: text.to_owned(),
            reason: reason.to_owned(),
        };
        let text = text.trim();
        match text {
            "clear-errors" => return Ok(Self::ClearErrors),
            "close-watches" => return Ok(Self::CloseWatches),
            "compact" => return Ok(Self::Compact),
            "reset" => return Ok(Self::Reset),
            _ => {}
        }
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for part in text.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(&format!("{part:?} is not key=value")))?;
            fields.push((k.trim(), v.trim()));
        }
        let Some((&(head, value), rest)) = fields.split_first() else {
            return Err(err("empty"));
        };
        let number = |key: &str, v: &str| -> Result<u64, FaultSpecError> {
            v.parse::<u64>()
                .map_err(|_| err(&format!("{key}={v:?} is not a whole number")))
        };
        match head {
            "partition" if rest.is_empty() => match value {
                "refuse" => Ok(Self::Partition(Partition::Refuse)),
                "hang" => Ok(Self::Partition(Partition::Hang)),
                "none" => Ok(Self::Partition(Partition::None)),
                other => Err(err(&format!(
                    "partition={other:?}: expected refuse, hang or none"
                ))),
            },
            "latency" if rest.is_empty() => Ok(Self::Latency(Duration::from_millis(number(
                "latency", value,
            )?))),
            "error" => {
                if value.is_empty() {
                    return Err(err(
                        "error= needs a rule (*, a verb, verb/resource, */resource)",
                    ));
                }
                let (mut every, mut rate, mut seed) = (None, None, 0u64);
                let (mut code, mut retry_after) = (500u64, 1u64);
                for &(k, v) in rest {
                    match k {
                        "every" => every = Some(number(k, v)?),
                        "rate" => {
                            let r = v
                                .parse::<f64>()
                                .ok()
                                .filter(|r| (0.0..=1.0).contains(r))
                                .ok_or_else(|| err(&format!("rate={v:?} is not within 0..1")))?;
                            rate = Some(r);
                        }
                        "seed" => seed = number(k, v)?,
                        "code" => code = number(k, v)?,
                        "retry-after" => retry_after = number(k, v)?,
                        other => return Err(err(&format!("unknown key {other:?}"))),
                    }
                }
                let error = match code {
                    500 => InjectedError::Internal,
                    429 => InjectedError::TooManyRequests {
                        retry_after_secs: retry_after,
                    },
                    other => return Err(err(&format!("code={other}: expected 500 or 429"))),
                };
                let rule = value.to_owned();
                match (every, rate) {
                    (Some(n), None) if n > 0 => Ok(Self::EveryNth { rule, n, error }),
                    (None, Some(rate)) => Ok(Self::Rate {
                        rule,
                        rate,
                        seed,
                        error,
                    }),
                    _ => Err(err("give exactly one of every=<n> (n > 0) or rate=<0..1>")),
                }
            }
            other => Err(err(&format!(
                "unknown command {other:?}: expected partition=, latency=, error=, clear-errors, close-watches, compact or reset"
            ))),
        }
    }
}

impl FaultHandle {
    /// Carries out one [`FaultCommand`].
    pub fn apply(&self, command: &FaultCommand) {
        match command {
            FaultCommand::Partition(Partition::Refuse) => self.partition_refuse(),
            FaultCommand::Partition(Partition::Hang) => self.partition_hang(),
            FaultCommand::Partition(Partition::None) => self.heal(),
            FaultCommand::Latency(d) => self.set_latency(*d),
            FaultCommand::EveryNth { rule, n, error } => self.fail_every_nth(rule, *n, *error),
            FaultCommand::Rate {
                rule,
                rate,
                seed,
                error,
            } => self.fail_rate(rule, *rate, *seed, *error),
            FaultCommand::ClearErrors => self.clear_errors(),
            FaultCommand::CloseWatches => self.close_watches(),
            FaultCommand::Compact => self.compact(),
            FaultCommand::Reset => self.reset(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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

    #[test]
    fn fault_commands_parse() {
        use std::str::FromStr;
        let p = |t: &str| FaultCommand::from_str(t);
        assert_eq!(
            p("partition=hang").unwrap(),
            FaultCommand::Partition(Partition::Hang)
        );
        assert_eq!(
            p("latency=250").unwrap(),
            FaultCommand::Latency(Duration::from_millis(250))
        );
        assert_eq!(
            p("error=list/serviceexports,every=3,code=429,retry-after=2").unwrap(),
            FaultCommand::EveryNth {
                rule: "list/serviceexports".into(),
                n: 3,
                error: InjectedError::TooManyRequests {
                    retry_after_secs: 2
                }
            }
        );
        assert_eq!(
            p("error=*,rate=0.5,seed=7").unwrap(),
            FaultCommand::Rate {
                rule: "*".into(),
                rate: 0.5,
                seed: 7,
                error: InjectedError::Internal
            }
        );
        assert_eq!(p(" reset ").unwrap(), FaultCommand::Reset);
        for bad in [
            "",
            "partition=maybe",
            "latency=fast",
            "error=*",
            "error=*,every=0",
            "error=*,every=2,rate=0.1",
            "error=*,rate=2",
            "error=*,every=2,code=404",
            "error=,every=2",
            "error=*,every=2,colour=red",
            "explode",
            "partition=hang,latency=2",
        ] {
            let e = p(bad).unwrap_err().to_string();
            assert!(e.starts_with("fault "), "{bad}: {e}");
        }
    }
}
