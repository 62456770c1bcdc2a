//! A member's health: reachability derived from its watches and health probe.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

/// Reachability of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reachability {
    /// Not synced yet.
    Pending,
    /// Answering.
    Reachable,
    /// Not answering since the timestamp.
    Unreachable {
        /// When it was marked unreachable.
        since: Timestamp,
    },
}

impl Reachability {
    /// `Pending`, `Reachable` or `Unreachable`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Reachable => "Reachable",
            Self::Unreachable { .. } => "Unreachable",
        }
    }
}

/// The observable status of one member.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberStatus {
    /// Cluster ID.
    pub name: String,
    /// Istio network.
    pub network: String,
    /// Reachability.
    pub reachability: Reachability,
    /// When every watch of the member last completed its initial list.
    pub last_sync: Option<Timestamp>,
    /// Every watch listed at least once since start.
    pub synced_once: bool,
    /// MCS API version used (`v1beta1` preferred, `v1alpha1` fallback), if any is served.
    pub mcs_version: Option<String>,
    /// Last error seen talking to the member.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct WatchHealth {
    /// Listed at least once.
    synced: bool,
    /// Failing since (monotonic), while failing.
    failing_since: Option<Instant>,
}

#[derive(Debug)]
struct Inner {
    status: MemberStatus,
    watches: BTreeMap<String, WatchHealth>,
    probe_failing_since: Option<Instant>,
}

/// Shared health of one member, fed by its watches and health probe.
#[derive(Clone, Debug)]
pub struct MemberHealth {
    inner: Arc<Mutex<Inner>>,
}

impl MemberHealth {
    /// A new, pending member.
    pub fn new(name: &str, network: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                status: MemberStatus {
                    name: name.to_owned(),
                    network: network.to_owned(),
                    reachability: Reachability::Pending,
                    last_sync: None,
                    synced_once: false,
                    mcs_version: None,
                    last_error: None,
                },
                watches: BTreeMap::new(),
                probe_failing_since: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot of the status.
    pub fn status(&self) -> MemberStatus {
        self.lock().status.clone()
    }

    /// Registers a watch by kind (before it starts).
    pub fn register_watch(&self, kind: &str) {
        self.lock().watches.insert(
            kind.to_owned(),
            WatchHealth {
                synced: false,
                failing_since: None,
            },
        );
    }

    /// Records the MCS version chosen by discovery.
    pub fn set_mcs_version(&self, version: Option<String>) {
        self.lock().status.mcs_version = version;
    }

    /// A watch delivered an event or finished a list.
    pub fn watch_ok(&self, kind: &str, listed: bool) {
        let mut g = self.lock();
        let w = g.watches.entry(kind.to_owned()).or_insert(WatchHealth {
            synced: false,
            failing_since: None,
        });
        w.failing_since = None;
        if listed {
            w.synced = true;
        }
        let all_synced = g.watches.values().all(|w| w.synced);
        if listed && all_synced {
            g.status.last_sync = Some(Timestamp::now());
            g.status.synced_once = true;
        }
        if g.status.synced_once && g.probe_failing_since.is_none() {
            g.status.reachability = Reachability::Reachable;
        }
    }

    /// A watch failed.
    pub fn watch_failed(&self, kind: &str, error: &str) {
        let mut g = self.lock();
        let w = g.watches.entry(kind.to_owned()).or_insert(WatchHealth {
            synced: false,
            failing_since: None,
        });
        w.failing_since.get_or_insert_with(Instant::now);
        g.status.last_error = Some(error.to_owned());
    }

    /// Forgets a watch (the discovery step once it succeeded).
    pub fn remove_watch(&self, kind: &str) {
        self.lock().watches.remove(kind);
    }

    /// The health probe answered (`Ok`) or not.
    ///
    /// A watch that resumes after an outage delivers nothing until something changes, so a
    /// successful probe also ends the failure streak of every watch: the API server answers,
    /// and a watch that still fails reports again on its next attempt.
    pub fn probe(&self, result: Result<(), String>) {
        let mut g = self.lock();
        match result {
            Ok(()) => {
                g.probe_failing_since = None;
                for w in g.watches.values_mut() {
                    w.failing_since = None;
                }
                // Leaving `Unreachable` is decided by `evaluate`, which reports the change.
            }
            Err(e) => {
                g.probe_failing_since.get_or_insert_with(Instant::now);
                g.status.last_error = Some(e);
            }
        }
    }

    /// Re-evaluates reachability: unreachable when every watch has been failing, or the
    /// probe has been failing, for longer than `threshold`. Returns true when it changed.
    pub fn evaluate(&self, threshold: Duration) -> bool {
        let mut g = self.lock();
        let now = Instant::now();
        let all_watches_failing = !g.watches.is_empty()
            && g.watches.values().all(|w| {
                w.failing_since
                    .is_some_and(|t| now.duration_since(t) >= threshold)
            });
        let probe_failing = g
            .probe_failing_since
            .is_some_and(|t| now.duration_since(t) >= threshold);
        let before = g.status.reachability;
        if all_watches_failing || probe_failing {
            if !matches!(before, Reachability::Unreachable { .. }) {
                g.status.reachability = Reachability::Unreachable {
                    since: Timestamp::now(),
                };
            }
        } else if matches!(before, Reachability::Unreachable { .. })
            && g.probe_failing_since.is_none()
            && g.watches.values().all(|w| w.failing_since.is_none())
        {
            g.status.reachability = Reachability::Reachable;
        }
        g.status.reachability != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_watch_does_not_make_a_member_unreachable() {
        let h = MemberHealth::new("east", "net1");
        h.register_watch("Service");
        h.register_watch("ServiceExport");
        h.watch_ok("Service", true);
        h.watch_ok("ServiceExport", true);
        assert_eq!(h.status().reachability, Reachability::Reachable);
        assert!(h.status().synced_once);
        h.watch_failed("Service", "connection refused");
        h.evaluate(Duration::ZERO);
        assert_eq!(h.status().reachability, Reachability::Reachable);
        h.watch_failed("ServiceExport", "connection refused");
        assert!(h.evaluate(Duration::ZERO));
        assert!(matches!(
            h.status().reachability,
            Reachability::Unreachable { .. }
        ));
        // Resumed watches deliver nothing; the answering probe ends the outage.
        h.probe(Ok(()));
        h.evaluate(Duration::ZERO);
        assert_eq!(h.status().reachability, Reachability::Reachable);
    }

    #[test]
    fn failing_probe_marks_unreachable_only_after_the_threshold() {
        let h = MemberHealth::new("east", "net1");
        h.register_watch("Service");
        h.watch_ok("Service", true);
        h.probe(Err("timeout".into()));
        assert!(!h.evaluate(Duration::from_secs(3600)));
        assert_eq!(h.status().reachability, Reachability::Reachable);
        assert!(h.evaluate(Duration::ZERO));
        assert_eq!(h.status().last_error.as_deref(), Some("timeout"));
    }
}
