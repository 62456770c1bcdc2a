//! The DNS listeners: UDP served from blocking worker threads (one SO_REUSEPORT socket each,
//! a tight receive-answer-send loop) and TCP served by tokio, both on the same port.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::fast::Ctx;
use crate::forward::Forwarder;
use crate::handle::TableHandle;
use crate::handler::{self, Action};
use crate::metrics::{Local, Metrics};

/// Listener settings.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// UDP worker threads (each with its own socket on the same port).
    pub udp_workers: usize,
    /// Largest UDP payload sent and advertised in OPT.
    pub max_udp: u16,
    /// Client networks allowed to use forwarding; others get REFUSED for out-of-zone names.
    pub allow_forward: Vec<IpNet>,
    /// `None` disables forwarding.
    pub forwarder: Option<Forwarder>,
    /// Idle timeout of a TCP connection between queries.
    pub tcp_idle_timeout: Duration,
    /// Most forwarded queries in flight; more get SERVFAIL.
    pub max_inflight_forwards: usize,
    /// Most TCP connections served at once.
    pub max_tcp_connections: usize,
    /// SO_RCVBUF of each UDP socket in bytes (0: system default).
    pub udp_recv_buffer: usize,
}

/// The default networks allowed to use forwarding: loopback, RFC 1918, RFC 6598 shared
/// space, IPv6 ULA and link-local.
pub fn default_allow_forward() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

/// Whether `ip` is inside one of `nets` (IPv4-mapped IPv6 counts as IPv4).
pub fn allowed(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tcp_task: tokio::task::JoinHandle<()>,
}

struct Shared {
    handle: Arc<TableHandle>,
    metrics: Arc<Metrics>,
    opts: ServerOptions,
    inflight: Arc<Semaphore>,
    rt: tokio::runtime::Handle,
}

fn udp_socket(addr: SocketAddr, recv_buffer: usize) -> io::Result<UdpSocket> {
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

/// Binds UDP and TCP on the same port (retrying a few times when the port was 0 and the
/// chosen UDP port is taken for TCP), then starts serving. Must be called inside a tokio
/// runtime.
pub async fn start(opts: ServerOptions, handle: Arc<TableHandle>) -> io::Result<Server> {
    let mut attempt = 0;
    let (first, tcp) = loop {
        let first = udp_socket(opts.listen, opts.udp_recv_buffer)?;
        let addr = first.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(t) => break (first, t),
            Err(e) if opts.listen.port() == 0 && attempt < 10 => {
                attempt += 1;
                tracing::debug!(error = %e, "TCP port taken, retrying");
            }
            Err(e) => return Err(e),
        }
    };
    let udp_addr = first.local_addr()?;
    let tcp_addr = tcp.local_addr()?;
    let mut sockets = vec![first];
    for _ in 1..opts.udp_workers.max(1) {
        sockets.push(udp_socket(udp_addr, opts.udp_recv_buffer)?);
    }
    let metrics = handle.metrics().clone();
    let shared = Arc::new(Shared {
        handle,
        metrics,
        inflight: Arc::new(Semaphore::new(opts.max_inflight_forwards.max(1))),
        opts,
        rt: tokio::runtime::Handle::current(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (i, s) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("dns-udp-{i}"))
                .spawn(move || udp_loop(Arc::new(s), shared, stop))?,
        );
    }
    let tcp_task = tokio::spawn(tcp_accept(tcp, shared));
    Ok(Server {
        udp_addr,
        tcp_addr,
        stop,
        threads,
        tcp_task,
    })
}

impl Server {
    /// Stops the listeners and waits for the UDP workers.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tcp_task.abort();
        for t in self.threads {
            let _ = t.join();
        }
    }
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
fn udp_loop(sock: Arc<UdpSocket>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
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
                Action::Drop => {}
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

async fn tcp_accept(listener: TcpListener, shared: Arc<Shared>) {
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
