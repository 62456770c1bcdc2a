//! DNS over TCP: one tokio task per connection (at most `max_tcp_connections`), queries
//! answered in order until the connection is idle for `tcp_idle_timeout`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::Shared;
use super::acl::allowed;
use crate::fast::Ctx;
use crate::handler::{self, Action};

pub(super) async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let conns = Arc::new(Semaphore::new(shared.opts.max_tcp_connections.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = tcp_conn(stream, peer, shared).await {
                tracing::debug!(error = %e, %peer, "TCP connection ended");
            }
        });
    }
}

async fn tcp_conn(mut s: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
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
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, s.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let n = u16::from_be_bytes(len) as usize;
        let mut pkt = vec![0u8; n];
        match tokio::time::timeout(idle, s.read_exact(&mut pkt)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        let t0 = Instant::now();
        let table = shared.handle.load();
        let reply = match handler::handle(&table, &pkt, &ctx, may_forward, &mut out) {
            Action::Reply { rcode, qtype } => {
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
            Action::Drop => None,
        };
        let Some(r) = reply else { return Ok(()) };
        let mut msg = Vec::with_capacity(r.len() + 2);
        msg.extend_from_slice(&(r.len() as u16).to_be_bytes());
        msg.extend_from_slice(&r);
        s.write_all(&msg).await?;
        out = r;
    }
}
