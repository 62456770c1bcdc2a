//! The server side of the discovery protocol: one versioned view per member cluster, a bounded
//! history of deltas for resuming clients, and a broadcast of new deltas to subscribers.
//!
//! Publishing a table that equals the current one sends nothing. A changed table becomes one
//! delta, shared (behind an `Arc`) by every subscriber of that cluster, never a full resend.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::table::NameTable;
use crate::v1::{WatchResponse, watch_response::Body};

/// Tuning for a [`Publisher`].
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// Deltas retained per cluster for clients that resume.
    pub history: usize,
    /// Messages buffered per subscriber before it counts as too slow and is dropped.
    pub subscriber_buffer: usize,
    /// Records per snapshot message.
    pub snapshot_part: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            history: 256,
            subscriber_buffer: 64,
            snapshot_part: 32,
        }
    }
}

/// Counters a server exports as metrics.
#[derive(Debug, Default)]
pub struct PublisherStats {
    pub deltas_published: AtomicU64,
    pub snapshots_sent: AtomicU64,
    pub resumes: AtomicU64,
    connected: Mutex<BTreeMap<String, u64>>,
}

impl PublisherStats {
    /// Connected subscribers per cluster.
    pub fn connected(&self) -> BTreeMap<String, u64> {
        lock(&self.connected).clone()
    }
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscribeError {
    #[error("the clusterset view is not built yet")]
    NotReady,
    #[error("cluster {0:?} is not a member of the clusterset")]
    UnknownCluster(String),
}

struct View {
    version: u64,
    table: Arc<NameTable>,
    /// Delta messages, oldest first; versions are consecutive and end at `version`.
    history: VecDeque<Arc<WatchResponse>>,
    tx: broadcast::Sender<Arc<WatchResponse>>,
    /// The snapshot messages of the current version, built once and shared by subscribers.
    snapshot: Option<Arc<[Arc<WatchResponse>]>>,
}

#[derive(Default)]
struct Inner {
    ready: bool,
    views: BTreeMap<String, View>,
}

/// Versioned name tables per member cluster.
pub struct Publisher {
    epoch: u64,
    config: PublisherConfig,
    inner: Mutex<Inner>,
    stats: Arc<PublisherStats>,
}

/// A new subscriber's starting point: the messages that bring it up to date, then the live feed.
pub struct Subscription {
    pub cluster: String,
    /// A snapshot, or the deltas the client missed (possibly none).
    pub initial: Vec<Arc<WatchResponse>>,
    /// Whether the client's resume point was honoured (no snapshot needed).
    pub resumed: bool,
    /// The version the client has after `initial`.
    pub version: u64,
    pub epoch: u64,
    pub live: broadcast::Receiver<Arc<WatchResponse>>,
    guard: ConnectedGuard,
}

impl Subscription {
    /// Keeps the connected-subscriber gauge while the subscription lives.
    pub fn stats(&self) -> &Arc<PublisherStats> {
        &self.guard.stats
    }
}

struct ConnectedGuard {
    stats: Arc<PublisherStats>,
    cluster: String,
}

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        let mut connected = lock(&self.stats.connected);
        if let Some(count) = connected.get_mut(&self.cluster) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                connected.remove(&self.cluster);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Publisher {
    pub fn new(config: PublisherConfig) -> Self {
        // Any non-zero value distinguishes this process's versions from a previous one's.
        let epoch = loop {
            let e: u64 = rand::random();
            if e != 0 {
                break e;
            }
        };
        Self::with_epoch(config, epoch)
    }

    /// A publisher with a fixed epoch (tests and deterministic replays).
    pub fn with_epoch(config: PublisherConfig, epoch: u64) -> Self {
        Publisher {
            epoch,
            config,
            inner: Mutex::new(Inner::default()),
            stats: Arc::new(PublisherStats::default()),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn stats(&self) -> Arc<PublisherStats> {
        self.stats.clone()
    }

    /// The current version of a cluster's view.
    pub fn version(&self, cluster: &str) -> Option<u64> {
        lock(&self.inner).views.get(cluster).map(|v| v.version)
    }

    /// The current table of a cluster's view.
    pub fn table(&self, cluster: &str) -> Option<Arc<NameTable>> {
        lock(&self.inner)
            .views
            .get(cluster)
            .map(|v| v.table.clone())
    }

    /// Replaces every cluster's view. Clusters missing from `tables` are removed and their
    /// subscribers' streams end. Returns the clusters whose view changed.
    pub fn publish_all(&self, tables: BTreeMap<String, NameTable>) -> Vec<String> {
        let mut inner = lock(&self.inner);
        inner.ready = true;
        inner
            .views
            .retain(|cluster, _| tables.contains_key(cluster));
        let mut changed = Vec::new();
        for (cluster, table) in tables {
            if self.publish_locked(&mut inner, &cluster, table) {
                changed.push(cluster);
            }
        }
        changed
    }

    /// Replaces one cluster's view; returns whether it changed.
    pub fn publish(&self, cluster: &str, table: NameTable) -> bool {
        let mut inner = lock(&self.inner);
        inner.ready = true;
        self.publish_locked(&mut inner, cluster, table)
    }

    fn publish_locked(&self, inner: &mut Inner, cluster: &str, table: NameTable) -> bool {
        let Some(view) = inner.views.get_mut(cluster) else {
            let (tx, _) = broadcast::channel(self.config.subscriber_buffer.max(1));
            inner.views.insert(
                cluster.to_string(),
                View {
                    version: 1,
                    table: Arc::new(table),
                    history: VecDeque::new(),
                    tx,
                    snapshot: None,
                },
            );
            return true;
        };
        let Some(delta) = view.table.diff(&table) else {
            return false;
        };
        view.version += 1;
        view.table = Arc::new(table);
        view.snapshot = None;
        let message = Arc::new(WatchResponse {
            epoch: self.epoch,
            version: view.version,
            body: Some(Body::Delta(delta)),
        });
        view.history.push_back(message.clone());
        while view.history.len() > self.config.history {
            view.history.pop_front();
        }
        self.stats.deltas_published.fetch_add(1, Ordering::Relaxed);
        // No receivers is fine: nobody is connected for this cluster.
        let _ = view.tx.send(message);
        true
    }

    /// Subscribes to a cluster's view, resuming from `(epoch, version)` when possible.
    pub fn subscribe(
        &self,
        cluster: &str,
        resume: Option<(u64, u64)>,
    ) -> Result<Subscription, SubscribeError> {
        let mut inner = lock(&self.inner);
        if !inner.ready {
            return Err(SubscribeError::NotReady);
        }
        let view = inner
            .views
            .get_mut(cluster)
            .ok_or_else(|| SubscribeError::UnknownCluster(cluster.to_string()))?;
        // Subscribe under the lock so no delta falls between the catch-up and the live feed.
        let live = view.tx.subscribe();
        let missed = resume.and_then(|(epoch, version)| self.missed(view, epoch, version));
        let (initial, resumed) = match missed {
            Some(deltas) => {
                self.stats.resumes.fetch_add(1, Ordering::Relaxed);
                (deltas, true)
            }
            None => {
                self.stats.snapshots_sent.fetch_add(1, Ordering::Relaxed);
                let (epoch, version) = (self.epoch, view.version);
                let table = view.table.clone();
                let per_part = self.config.snapshot_part;
                let parts = view.snapshot.get_or_insert_with(|| {
                    table
                        .to_snapshot_parts(per_part)
                        .into_iter()
                        .map(|part| {
                            Arc::new(WatchResponse {
                                epoch,
                                version,
                                body: Some(Body::Snapshot(part)),
                            })
                        })
                        .collect()
                });
                (parts.to_vec(), false)
            }
        };
        *lock(&self.stats.connected)
            .entry(cluster.to_string())
            .or_default() += 1;
        Ok(Subscription {
            cluster: cluster.to_string(),
            initial,
            resumed,
            version: view.version,
            epoch: self.epoch,
            live,
            guard: ConnectedGuard {
                stats: self.stats.clone(),
                cluster: cluster.to_string(),
            },
        })
    }

    /// The deltas after `version`, if this epoch's history still holds all of them.
    fn missed(&self, view: &View, epoch: u64, version: u64) -> Option<Vec<Arc<WatchResponse>>> {
        if epoch != self.epoch || version > view.version || version == 0 {
            return None;
        }
        if version == view.version {
            return Some(Vec::new());
        }
        let first = view.history.front()?.version;
        if version + 1 < first {
            return None;
        }
        Some(
            view.history
                .iter()
                .filter(|m| m.version > version)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::table::tests::record;
    use crate::table::{ClientTable, Key};

    fn table(ips: &[(&str, &str)]) -> NameTable {
        NameTable::from_records(ips.iter().map(|(n, ip)| record("ns", n, ip))).unwrap()
    }

    fn publisher(history: usize) -> Publisher {
        Publisher::with_epoch(
            PublisherConfig {
                history,
                subscriber_buffer: 4,
                snapshot_part: 100,
            },
            42,
        )
    }

    #[test]
    fn not_ready_until_first_publish_then_unknown_clusters_are_refused() {
        let p = publisher(8);
        assert_eq!(
            p.subscribe("east", None).err(),
            Some(SubscribeError::NotReady)
        );
        p.publish("east", NameTable::new());
        assert!(p.subscribe("east", None).is_ok());
        assert_eq!(
            p.subscribe("west", None).err(),
            Some(SubscribeError::UnknownCluster("west".into()))
        );
    }

    #[test]
    fn unchanged_tables_publish_nothing() {
        let p = publisher(8);
        assert!(p.publish("east", table(&[("a", "1")])));
        assert!(!p.publish("east", table(&[("a", "1")])));
        assert_eq!(p.version("east"), Some(1));
        assert!(p.publish("east", table(&[("a", "2")])));
        assert_eq!(p.version("east"), Some(2));
        assert_eq!(p.stats().deltas_published.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn new_subscriber_gets_a_snapshot_then_live_deltas() {
        let p = publisher(8);
        p.publish("east", table(&[("a", "1")]));
        let mut sub = p.subscribe("east", None).unwrap();
        assert!(!sub.resumed);
        let mut client = ClientTable::default();
        for m in &sub.initial {
            client.apply(m).unwrap();
        }
        p.publish("east", table(&[("a", "1"), ("b", "2")]));
        let live = sub.live.try_recv().unwrap();
        client.apply(&live).unwrap();
        assert_eq!(client.version, 2);
        assert_eq!(client.table.as_deref(), p.table("east").as_deref());
        assert_eq!(p.stats().connected().get("east"), Some(&1));
        drop(sub);
        assert_eq!(p.stats().connected().get("east"), None);
    }

    #[test]
    fn resume_within_history_sends_only_missed_deltas() {
        let p = publisher(8);
        p.publish("east", table(&[("a", "1")]));
        let mut client = ClientTable::default();
        for m in &p.subscribe("east", None).unwrap().initial {
            client.apply(m).unwrap();
        }
        p.publish("east", table(&[("a", "2")]));
        p.publish("east", table(&[("a", "3")]));
        let sub = p
            .subscribe("east", Some((client.epoch, client.version)))
            .unwrap();
        assert!(sub.resumed);
        assert_eq!(sub.initial.len(), 2);
        for m in &sub.initial {
            client.apply(m).unwrap();
        }
        assert_eq!(client.table.as_deref(), p.table("east").as_deref());
        // Already current: nothing to send.
        let sub = p
            .subscribe("east", Some((client.epoch, client.version)))
            .unwrap();
        assert!(sub.resumed && sub.initial.is_empty());
    }

    #[test]
    fn resume_beyond_history_or_from_another_epoch_gets_a_snapshot() {
        let p = publisher(2);
        p.publish("east", table(&[("a", "0")]));
        for i in 1..=5 {
            p.publish("east", table(&[("a", &i.to_string())]));
        }
        let sub = p.subscribe("east", Some((42, 1))).unwrap();
        assert!(!sub.resumed);
        assert!(matches!(sub.initial[0].body, Some(Body::Snapshot(_))));
        let sub = p.subscribe("east", Some((41, 6))).unwrap();
        assert!(!sub.resumed);
        let sub = p.subscribe("east", Some((42, 99))).unwrap();
        assert!(!sub.resumed);
        // Exactly the oldest retained delta's predecessor can still resume.
        let sub = p.subscribe("east", Some((42, 4))).unwrap();
        assert!(sub.resumed);
        assert_eq!(sub.initial.len(), 2);
    }

    #[test]
    fn slow_subscriber_lags_instead_of_blocking_the_publisher() {
        let p = publisher(64);
        p.publish("east", table(&[("a", "0")]));
        let mut slow = p.subscribe("east", None).unwrap();
        for i in 1..=10 {
            p.publish("east", table(&[("a", &i.to_string())]));
        }
        assert!(matches!(
            slow.live.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        assert_eq!(p.version("east"), Some(11));
    }

    #[test]
    fn publish_all_removes_clusters_and_closes_their_feeds() {
        let p = publisher(8);
        let mut all = BTreeMap::new();
        all.insert("east".to_string(), table(&[("a", "1")]));
        all.insert("west".to_string(), table(&[]));
        assert_eq!(p.publish_all(all.clone()).len(), 2);
        let mut west = p.subscribe("west", None).unwrap();
        all.remove("west");
        assert!(p.publish_all(all).is_empty());
        assert!(matches!(
            west.live.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        assert!(p.table("east").unwrap().get(&Key::new("ns", "a")).is_some());
    }
}
