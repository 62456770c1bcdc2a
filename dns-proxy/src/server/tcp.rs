//! DNS over TCP: one tokio task per connection admitted by the [`ConnTable`] (a total and a
//! per-source limit, eviction of the least recently active idle connection), queries
//! answered in order until the connection is idle for `tcp_idle_timeout` or evicted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use super::acl::allowed;
use super::conns::{Admission, Conn, ConnLimits, ConnTable, Limit};
use crate::fast::Ctx;
use crate::handler::{self, Action};
use crate::metrics::{Malformed, Metrics, TcpLimit};

/// The least time between two log lines about failing `accept` calls (e.g. out of file
/// descriptors); the failures in between are counted in the next line.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

fn metric_limit(l: Limit) -> TcpLimit {
    match l {
        Limit::Source => TcpLimit::Source,
        Limit::Total => TcpLimit::Total,
    }
}

pub(super) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let table = ConnTable::new(ConnLimits {
        max_total: shared.opts.max_tcp_connections,
        max_per_source: shared.opts.max_tcp_per_source,
    });
    let mut accept_errors: u64 = 0;
    let mut last_accept_log: Option<Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                accept_errors += 1;
                if last_accept_log.is_none_or(|t| t.elapsed() >= ACCEPT_ERROR_LOG_EVERY) {
                    tracing::warn!(error = %e, failures = accept_errors, "TCP accept failed");
                    accept_errors = 0;
                    last_accept_log = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = match table.admit(peer.ip()) {
            Admission::Accepted { conn, evicted } => {
                shared.metrics.tcp_accepted(evicted.map(metric_limit));
                conn
            }
            Admission::Refused(limit) => {
                shared.metrics.tcp_refused(metric_limit(limit));
                drop(stream);
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _open = Open(&shared.metrics);
            if let Err(e) = tcp_conn(stream, peer, &shared, &conn).await {
                tracing::debug!(error = %e, %peer, "TCP connection ended");
            }
        });
    }
}

/// Counts the connection closed when the task ends (also when it is aborted).
struct Open<'a>(&'a Metrics);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.tcp_closed();
    }
}

/// Reads one length-prefixed query; `None` at a clean end of the connection.
async fn read_query(s: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match s.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut pkt = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut pkt).await?;
    Ok(Some(pkt))
}

async fn tcp_conn(
    mut s: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    conn: &Conn,
) -> io::Result<()> {
    let may_forward = shared.opts.forwarder.is_some();
    let ctx = Ctx {
        tcp: true,
        recursion_available: may_forward,
        max_udp: shared.opts.max_udp,
    };
    let fwd_ok = may_forward && allowed(&shared.opts.allow_forward, peer.ip());
    let mut out = Vec::with_capacity(4096);
    let idle = shared.opts.tcp_idle_timeout;
    loop {
        // The whole next query must arrive within the idle timeout; an idle connection may be
        // evicted for a new one while it waits.
        let pkt = tokio::select! {
            biased;
            () = conn.evicted() => return Ok(()),
            r = tokio::time::timeout(idle, read_query(&mut s)) => match r {
                Ok(Ok(Some(pkt))) => pkt,
                Ok(Ok(None)) | Err(_) => return Ok(()),
                Ok(Err(e)) => return Err(e),
            },
        };
        conn.busy();
        let t0 = Instant::now();
        let table = shared.handle.load();
        let reply = match handler::handle(&table, &pkt, &ctx, may_forward, &mut out) {
            Action::Reply { rcode, qtype } => {
                if rcode == crate::fast::rcode::FORMERR {
                    shared.metrics.malformed(Malformed::FormErr);
                }
                shared.metrics.answered(qtype, rcode, t0.elapsed());
                Some(std::mem::take(&mut out))
            }
            Action::Forward { qtype } if !fwd_ok => {
                shared
                    .metrics
                    .answered(qtype, crate::fast::rcode::REFUSED, t0.elapsed());
                handler::refused(&pkt, &ctx)
            }
            Action::Forward { qtype } => match shared.opts.forwarder.as_ref() {
                Some(f) => match f.tcp(&pkt).await {
                    Ok(r) => {
                        shared.metrics.forwarded(qtype, r[3] & 0x0F, t0.elapsed());
                        Some(r)
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "forwarding over TCP failed");
                        shared.metrics.forward_error(e.kind());
                        handler::servfail(&pkt, &ctx)
                    }
                },
                None => None,
            },
            Action::Drop => {
                shared.metrics.malformed(Malformed::Dropped);
                None
            }
        };
        let Some(r) = reply else { return Ok(()) };
        let mut msg = Vec::with_capacity(r.len() + 2);
        msg.extend_from_slice(&(r.len() as u16).to_be_bytes());
        msg.extend_from_slice(&r);
        // A client that does not read its answers would keep the connection busy (never
        // evicted) for good: the answer must be taken within the idle timeout too.
        match tokio::time::timeout(idle, s.write_all(&msg)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        }
        conn.idle();
        out = r;
    }
}
