//! The DNS listeners: UDP served from blocking worker threads (one SO_REUSEPORT socket each,
//! a tight receive-answer-send loop, [`udp`]) and TCP served by tokio ([`tcp`]), both on the
//! same port. Out-of-zone questions are forwarded only for clients the [`acl`] allows. TCP
//! connections are admitted by the [`conns`] table (per-source and total limits, eviction of
//! idle connections); malformed and refused traffic is logged as one [`summary`] line per
//! interval.

mod acl;
pub mod conns;
pub mod summary;
mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use acl::{allowed, default_allow_forward};

use crate::forward::Forwarder;
use crate::handle::TableHandle;
use crate::metrics::Metrics;

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
    /// How long a TCP connection may wait for its next complete query, and how long its
    /// client may take to read an answer.
    pub tcp_idle_timeout: Duration,
    /// Most forwarded queries in flight; more get SERVFAIL.
    pub max_inflight_forwards: usize,
    /// Most TCP connections served at once; at the limit the least recently active idle
    /// connection is closed for a new one.
    pub max_tcp_connections: usize,
    /// Most TCP connections from one source (IPv4 address or IPv6 /64; 0: no limit); at the
    /// limit the source's own least recently active idle connection is closed for a new one.
    pub max_tcp_per_source: usize,
    /// How often malformed and refused traffic is summarized in the log.
    pub abuse_log_interval: Duration,
    /// SO_RCVBUF of each UDP socket in bytes (0: system default).
    pub udp_recv_buffer: usize,
}

impl ServerOptions {
    /// An in-process proxy on 127.0.0.1 with a free port: one UDP worker, no forwarding,
    /// small limits. What the demo and the tests run.
    pub fn local() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            udp_workers: 1,
            max_udp: 1232,
            allow_forward: Vec::new(),
            forwarder: None,
            tcp_idle_timeout: Duration::from_secs(10),
            max_inflight_forwards: 16,
            max_tcp_connections: 64,
            max_tcp_per_source: 16,
            abuse_log_interval: Duration::from_secs(60),
            udp_recv_buffer: 0,
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tcp_task: tokio::task::JoinHandle<()>,
    summary_task: tokio::task::JoinHandle<()>,
}

/// What every listener shares.
struct Shared {
    handle: Arc<TableHandle>,
    metrics: Arc<Metrics>,
    opts: ServerOptions,
    inflight: Arc<Semaphore>,
    rt: tokio::runtime::Handle,
}

/// Binds UDP and TCP on the same port (retrying a few times when the port was 0 and the
/// chosen UDP port is taken for TCP), then starts serving. Must be called inside a tokio
/// runtime.
pub async fn start(opts: ServerOptions, handle: Arc<TableHandle>) -> io::Result<Server> {
    let mut attempt = 0;
    let (first, tcp) = loop {
        let first = udp::bind(opts.listen, opts.udp_recv_buffer)?;
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
        sockets.push(udp::bind(udp_addr, opts.udp_recv_buffer)?);
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
                .spawn(move || udp::serve(Arc::new(s), shared, stop))?,
        );
    }
    let summary_task = tokio::spawn(summary::run(
        shared.metrics.clone(),
        shared.opts.abuse_log_interval,
    ));
    let tcp_task = tokio::spawn(tcp::accept(tcp, shared));
    Ok(Server {
        udp_addr,
        tcp_addr,
        stop,
        threads,
        tcp_task,
        summary_task,
    })
}

impl Server {
    /// Stops the listeners and waits for the UDP workers.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tcp_task.abort();
        self.summary_task.abort();
        for t in self.threads {
            let _ = t.join();
        }
    }
}
