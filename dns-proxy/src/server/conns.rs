//! The TCP connection table: at most `max_total` connections, at most `max_per_source` from
//! one source (an IPv4 address, or an IPv6 /64), and eviction of the least recently active
//! idle connection when a new one would exceed either limit (RFC 7766 §6.2.3: a server may
//! limit connections per client and close idle ones under pressure).
//!
//! A connection is idle while it waits for (or is still receiving) its next query and busy
//! while one is being answered; only idle connections are evicted, so an answer in progress
//! is never cut. Activity is ordered by a counter, not the clock: the victim is the idle
//! connection whose last query finished (or that was accepted) longest ago.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The limits of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections at once.
    pub max_total: usize,
    /// Most connections from one source (0: no per-source limit).
    pub max_per_source: usize,
}

/// Which limit a new connection hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The source already had `max_per_source` connections.
    Source,
    /// The table already had `max_total` connections.
    Total,
}

/// What became of a new connection.
#[derive(Debug)]
pub enum Admission {
    /// Accepted; `evicted` names the limit that made room by closing an idle connection.
    Accepted { conn: Conn, evicted: Option<Limit> },
    /// Refused: the limit was reached and every connection under it is busy.
    Refused(Limit),
}

/// The key connections are counted under: the address for IPv4 (and IPv4-mapped IPv6), the
/// /64 prefix for IPv6 (one host commonly holds a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceKey(u128);

impl SourceKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => SourceKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => SourceKey((u128::from(v6) >> 64) | (1 << 64)),
        }
    }
}

#[derive(Debug)]
struct Entry {
    source: SourceKey,
    /// The activity counter when the connection was accepted or last finished a query.
    last_active: u64,
    busy: bool,
    evict: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    clock: u64,
    conns: HashMap<u64, Entry>,
    per_source: HashMap<SourceKey, usize>,
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The least recently active idle connection, of `source` only when given.
    fn oldest_idle(&self, source: Option<SourceKey>) -> Option<u64> {
        self.conns
            .iter()
            .filter(|(_, e)| !e.busy && source.is_none_or(|s| s == e.source))
            .min_by_key(|(_, e)| e.last_active)
            .map(|(id, _)| *id)
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&e.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&e.source);
            }
        }
        Some(e)
    }
}

/// The shared table of open TCP connections.
#[derive(Debug)]
pub struct ConnTable {
    limits: ConnLimits,
    inner: Mutex<Inner>,
}

impl ConnTable {
    pub fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            limits: ConnLimits {
                max_total: limits.max_total.max(1),
                max_per_source: limits.max_per_source,
            },
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The table stays consistent between statements; a panic elsewhere does not poison it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`, closing an idle one first when a limit is reached: the
    /// source's own least recently active idle connection at the per-source limit, the table's
    /// at the total limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let source = SourceKey::of(ip);
        let mut victims = Vec::new();
        let mut evicted = None;
        let admission = {
            let mut inner = self.lock();
            let mut refused = None;
            let from_source = inner.per_source.get(&source).copied().unwrap_or(0);
            if self.limits.max_per_source > 0 && from_source >= self.limits.max_per_source {
                match inner.oldest_idle(Some(source)) {
                    Some(id) => {
                        victims.extend(inner.remove(id));
                        evicted = Some(Limit::Source);
                    }
                    None => refused = Some(Limit::Source),
                }
            }
            if refused.is_none() && inner.conns.len() >= self.limits.max_total {
                match inner.oldest_idle(None) {
                    Some(id) => {
                        victims.extend(inner.remove(id));
                        evicted = Some(Limit::Total);
                    }
                    None => refused = Some(Limit::Total),
                }
            }
            match refused {
                Some(limit) => Admission::Refused(limit),
                None => {
                    inner.next_id += 1;
                    let id = inner.next_id;
                    let last_active = inner.tick();
                    let evict = Arc::new(Notify::new());
                    inner.conns.insert(
                        id,
                        Entry {
                            source,
                            last_active,
                            busy: false,
                            evict: evict.clone(),
                        },
                    );
                    *inner.per_source.entry(source).or_insert(0) += 1;
                    Admission::Accepted {
                        conn: Conn {
                            id,
                            table: self.clone(),
                            evict,
                        },
                        evicted,
                    }
                }
            }
        };
        for v in victims {
            // A stored permit: the victim sees it at its next wait even if it is not waiting.
            v.evict.notify_one();
        }
        admission
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections open now from the source of `ip`.
    pub fn from_source(&self, ip: IpAddr) -> usize {
        self.lock()
            .per_source
            .get(&SourceKey::of(ip))
            .copied()
            .unwrap_or(0)
    }

    fn set_busy(&self, id: u64, busy: bool) {
        let mut inner = self.lock();
        let now = inner.tick();
        if let Some(e) = inner.conns.get_mut(&id) {
            e.busy = busy;
            if !busy {
                e.last_active = now;
            }
        }
    }
}

/// One admitted connection; leaves the table when dropped.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    table: Arc<ConnTable>,
    evict: Arc<Notify>,
}

impl Conn {
    /// Marks the connection busy (a query is being answered): it cannot be evicted.
    pub fn busy(&self) {
        self.table.set_busy(self.id, true);
    }

    /// Marks the connection idle (waiting for its next query) and most recently active.
    pub fn idle(&self) {
        self.table.set_busy(self.id, false);
    }

    /// Completes when the table evicted this connection.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.table.lock().remove(self.id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn accept(t: &Arc<ConnTable>, from: IpAddr) -> (Conn, Option<Limit>) {
        match t.admit(from) {
            Admission::Accepted { conn, evicted } => (conn, evicted),
            Admission::Refused(l) => panic!("refused: {l:?}"),
        }
    }

    /// Whether `c` was told to close (the stored permit makes the wait complete at once).
    fn was_evicted(c: &Conn) -> bool {
        c.evicted().now_or_never().is_some()
    }

    #[test]
    fn one_source_at_its_limit_evicts_its_own_oldest_idle_connection() {
        let t = ConnTable::new(ConnLimits {
            max_total: 100,
            max_per_source: 3,
        });
        let a: Vec<_> = (0..3).map(|_| accept(&t, ip(1)).0).collect();
        // The first connection answers a query: the second is now the least recently active.
        a[0].busy();
        a[0].idle();
        let (_d, evicted) = accept(&t, ip(1));
        assert_eq!(evicted, Some(Limit::Source));
        assert!(was_evicted(&a[1]));
        assert!(!was_evicted(&a[0]) && !was_evicted(&a[2]));
        assert_eq!(t.from_source(ip(1)), 3);
        // Another source is not affected by the first one's limit.
        let (_e, evicted) = accept(&t, ip(2));
        assert_eq!(evicted, None);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let t = ConnTable::new(ConnLimits {
            max_total: 100,
            max_per_source: 2,
        });
        let a = accept(&t, ip(1)).0;
        let b = accept(&t, ip(1)).0;
        a.busy();
        b.busy();
        assert!(matches!(t.admit(ip(1)), Admission::Refused(Limit::Source)));
        b.idle();
        let (_c, evicted) = accept(&t, ip(1));
        assert_eq!(evicted, Some(Limit::Source));
        assert!(was_evicted(&b));
        assert!(!was_evicted(&a));
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_active_idle_connection() {
        let t = ConnTable::new(ConnLimits {
            max_total: 4,
            max_per_source: 0,
        });
        let flood: Vec<_> = (0..4).map(|_| accept(&t, ip(1)).0).collect();
        flood[0].busy();
        // A new source gets in by closing the oldest idle one (flood[1]; flood[0] is busy).
        let (victim_client, evicted) = accept(&t, ip(9));
        assert_eq!(evicted, Some(Limit::Total));
        assert!(was_evicted(&flood[1]));
        assert_eq!(t.len(), 4);
        // The flood keeps reconnecting; each new connection pushes out the oldest idle one,
        // and the newcomer is the most recent, so it stays until the flood cycles past it.
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(accept(&t, ip(1)).0);
        }
        assert!(was_evicted(&flood[2]) && was_evicted(&flood[3]));
        assert!(!was_evicted(&victim_client));
        drop(flood);
        assert_eq!(t.len(), 3);
        assert_eq!(t.from_source(ip(1)), 2);
    }

    #[test]
    fn a_full_table_of_busy_connections_refuses() {
        let t = ConnTable::new(ConnLimits {
            max_total: 2,
            max_per_source: 0,
        });
        let a = accept(&t, ip(1)).0;
        let b = accept(&t, ip(2)).0;
        a.busy();
        b.busy();
        assert!(matches!(t.admit(ip(3)), Admission::Refused(Limit::Total)));
        drop(a);
        assert_eq!(accept(&t, ip(3)).1, None);
        assert!(!t.is_empty());
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let t = ConnTable::new(ConnLimits {
            max_total: 100,
            max_per_source: 1,
        });
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let first = accept(&t, a).0;
        assert_eq!(accept(&t, b).1, Some(Limit::Source));
        assert!(was_evicted(&first));
        assert_eq!(accept(&t, other).1, None);
        // IPv4-mapped IPv6 is the IPv4 source; IPv4 keys never collide with IPv6 prefixes.
        let v4 = accept(&t, ip(1)).0;
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(accept(&t, mapped).1, Some(Limit::Source));
        assert!(was_evicted(&v4));
        assert_ne!(
            SourceKey::of(ip(1)),
            SourceKey::of("::a00:1".parse().unwrap())
        );
    }
}
