//! DNS over UDP: blocking worker threads, each with its own SO_REUSEPORT socket, receiving and
//! answering in batches (`recvmmsg`/`sendmmsg`); forwarded queries go to the tokio runtime.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};

use super::Shared;
use super::acl::allowed;
use crate::fast::Ctx;
use crate::handler::{self, Action};
use crate::metrics::{Local, Malformed};

pub(super) fn bind(addr: SocketAddr, recv_buffer: usize) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(false).ok();
    }
    // A large receive buffer absorbs bursts (no loss at saturation, at the cost of queueing
    // delay when the CPU is taken away); 0 keeps the system default.
    if recv_buffer > 0 {
        s.set_recv_buffer_size(recv_buffer).ok();
    }
    s.bind(&addr.into())?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s)
}

/// Datagrams received (and answered) per system call.
const BATCH: usize = 32;
/// Largest request datagram read; longer ones are cut and get FORMERR.
const MAX_REQUEST: usize = 4096;

fn to_std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(std::net::SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(std::net::SocketAddrV6::from(*v6)))
}

/// One UDP worker: `recvmmsg` up to [`BATCH`] queries, answer each, `sendmmsg` the answers.
pub(super) fn serve(sock: Arc<UdpSocket>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let fd = sock.as_raw_fd();
    let mut bufs: Box<[[u8; MAX_REQUEST]; BATCH]> = Box::new([[0u8; MAX_REQUEST]; BATCH]);
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(2048)).collect();
    let mut recv_hdrs = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_hdrs = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut meta: [(usize, Option<SockaddrStorage>); BATCH] = [(0, None); BATCH];
    let mut reply_to: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
    let mut reply_idx = [0usize; BATCH];
    let mut local = Local::default();
    let mut last_flush = Instant::now();
    let mut cache = arc_swap::Cache::new(shared.handle.cell());
    let may_forward = shared.opts.forwarder.is_some();
    let ctx = Ctx {
        tcp: false,
        recursion_available: may_forward,
        max_udp: shared.opts.max_udp,
    };
    while !stop.load(Ordering::Relaxed) {
        // Receive.
        let n = {
            let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(&mut b[..])]);
            match recvmmsg(
                fd,
                &mut recv_hdrs,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(res) => {
                    let mut n = 0;
                    for (slot, m) in meta.iter_mut().zip(res) {
                        *slot = (m.bytes, m.address);
                        n += 1;
                    }
                    n
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {
                    local.flush(&shared.metrics);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "UDP receive failed");
                    continue;
                }
            }
        };
        // Answer.
        let t0 = Instant::now();
        let table = cache.load();
        let mut replies = 0;
        // (qtype, rcode) of each local answer, counted once the batch is sent.
        let mut answered = [(0u16, 0u8); BATCH];
        let mut n_answered = 0;
        for i in 0..n {
            let (len, addr) = meta[i];
            let Some(addr) = addr else { continue };
            let pkt = &bufs[i][..len.min(MAX_REQUEST)];
            // The forwarding ACL is only consulted for out-of-zone questions.
            match handler::handle(table, pkt, &ctx, may_forward, &mut outs[i]) {
                Action::Reply { rcode, qtype } => {
                    if rcode == crate::fast::rcode::FORMERR {
                        shared.metrics.malformed(Malformed::FormErr);
                    }
                    reply_to[replies] = Some(addr);
                    reply_idx[replies] = i;
                    replies += 1;
                    answered[n_answered] = (qtype, rcode);
                    n_answered += 1;
                }
                Action::Forward { qtype } => {
                    let Some(peer) = to_std_addr(&addr) else {
                        continue;
                    };
                    if allowed(&shared.opts.allow_forward, peer.ip()) {
                        spawn_udp_forward(&shared, &sock, pkt.to_vec(), peer, qtype, ctx, t0);
                    } else if let Some(b) = handler::refused(pkt, &ctx) {
                        outs[i].clear();
                        outs[i].extend_from_slice(&b);
                        reply_to[replies] = Some(addr);
                        reply_idx[replies] = i;
                        replies += 1;
                        answered[n_answered] = (qtype, crate::fast::rcode::REFUSED);
                        n_answered += 1;
                    }
                }
                Action::Drop => shared.metrics.malformed(Malformed::Dropped),
            }
        }
        // Send.
        let mut sent = 0;
        while sent < replies {
            let slices: Vec<[IoSlice<'_>; 1]> = reply_idx[sent..replies]
                .iter()
                .map(|&i| [IoSlice::new(&outs[i])])
                .collect();
            match sendmmsg(
                fd,
                &mut send_hdrs,
                &slices,
                &reply_to[sent..replies],
                [],
                MsgFlags::empty(),
            ) {
                Ok(res) => {
                    let k = res.count();
                    if k == 0 {
                        break;
                    }
                    sent += k;
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(e) => {
                    // Skip the datagram that failed (e.g. an unreachable peer) and go on.
                    tracing::debug!(error = %e, "UDP send failed");
                    sent += 1;
                }
            }
        }
        // One clock read per batch: every answer in it gets the batch's duration.
        let took = t0.elapsed();
        for &(qtype, rcode) in &answered[..n_answered] {
            local.record(&shared.metrics, qtype, rcode, took);
        }
        // Under steady light traffic the 1,024-query batches fill slowly: flush each second.
        if t0.duration_since(last_flush) >= Duration::from_secs(1) {
            local.flush(&shared.metrics);
            last_flush = t0;
        }
    }
    local.flush(&shared.metrics);
}

fn spawn_udp_forward(
    shared: &Arc<Shared>,
    sock: &Arc<UdpSocket>,
    pkt: Vec<u8>,
    peer: SocketAddr,
    qtype: u16,
    ctx: Ctx,
    t0: Instant,
) {
    let Some(fwd) = shared.opts.forwarder.clone() else {
        return;
    };
    let permit = match shared.inflight.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            if let Some(b) = handler::servfail(&pkt, &ctx) {
                let _ = sock.send_to(&b, peer);
            }
            return;
        }
    };
    let sock = sock.clone();
    let metrics = shared.metrics.clone();
    shared.rt.spawn(async move {
        let _permit = permit;
        let reply = match fwd.udp(&pkt).await {
            Ok(resp) => {
                metrics.forwarded(qtype, resp[3] & 0x0F, t0.elapsed());
                Some(resp)
            }
            Err(e) => {
                tracing::debug!(error = %e, "forwarding failed");
                metrics.forward_error(e.kind());
                handler::servfail(&pkt, &ctx)
            }
        };
        if let Some(b) = reply {
            let _ = sock.send_to(&b, peer);
        }
    });
}
