//! Command line, resolv.conf parsing, and wiring the pieces together.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

use crate::forward::Forwarder;
use crate::handle::TableHandle;
use crate::metrics::Metrics;
use crate::server::{self, ServerOptions};
use crate::table::ZoneConfig;

/// Where the table comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// `file:PATH`
    File(PathBuf),
    /// `kube`
    Kube,
}

/// Errors in the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--source {0:?}: expected file:PATH or kube")]
    Source(String),
    #[error("reading {path}: {source}")]
    ResolvConf {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--zone {0:?} is not a valid domain name")]
    Zone(String),
}

impl std::str::FromStr for SourceSpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "kube" {
            return Ok(SourceSpec::Kube);
        }
        match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(SourceSpec::File(PathBuf::from(p))),
            _ => Err(ConfigError::Source(s.to_string())),
        }
    }
}

/// Answers `*.svc.<zone>` per the MCS DNS specification and forwards every other name.
#[derive(Clone, Debug, Parser)]
#[command(name = "dns-proxy", version)]
pub struct Args {
    /// Address for DNS over UDP and TCP (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:5353", env = "DNS_PROXY_LISTEN")]
    pub listen: SocketAddr,
    /// `file:PATH` (ServiceImport + EndpointSlice YAML) or `kube` (watch the local cluster).
    #[arg(long, env = "DNS_PROXY_SOURCE")]
    pub source: SourceSpec,
    /// Kubeconfig for `--source kube` (default: in-cluster, then $KUBECONFIG / ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<String>,
    /// Upstream resolver for other names, IP:PORT (repeatable). Default: the nameservers of --resolv-conf.
    #[arg(long = "upstream")]
    pub upstreams: Vec<SocketAddr>,
    /// resolv.conf to read upstreams from when no --upstream is given.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// Never forward; out-of-zone questions get REFUSED.
    #[arg(long)]
    pub no_forward: bool,
    /// Client network allowed to use forwarding (repeatable). Default: loopback, RFC 1918,
    /// 100.64.0.0/10, fc00::/7, fe80::/10.
    #[arg(long = "allow-forward")]
    pub allow_forward: Vec<IpNet>,
    /// The served zone.
    #[arg(long, default_value = "clusterset.local")]
    pub zone: String,
    /// TTL (seconds) of every answer, and the negative-caching TTL.
    #[arg(long, default_value_t = 5)]
    pub ttl: u32,
    /// Address for /healthz, /readyz and /metrics (disabled when not set).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// How often `--source file:` checks the file for changes, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_interval_ms: u64,
    /// Per-upstream timeout for forwarded queries, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub upstream_timeout_ms: u64,
    /// UDP worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    pub udp_workers: Option<usize>,
    /// Receive buffer of each UDP socket in bytes (0: system default). Large absorbs bursts
    /// without loss; small trades loss for less queueing delay under CPU contention.
    #[arg(long, default_value_t = 8 << 20)]
    pub udp_rcvbuf: usize,
    /// Largest UDP response and the size advertised in EDNS.
    #[arg(long, default_value_t = crate::fast::DEFAULT_EDNS_UDP_SIZE)]
    pub edns_udp_size: u16,
}

/// Reads `nameserver` lines (port 53) from resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next()?.trim();
            let mut parts = line.split_whitespace();
            if parts.next()? != "nameserver" {
                return None;
            }
            let addr = parts.next()?;
            let addr = addr.split('%').next()?;
            addr.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Reads upstreams from a resolv.conf file.
pub fn read_resolv_conf(path: &Path) -> Result<Vec<SocketAddr>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ResolvConf {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_resolv_conf(&text))
}

/// Runs the proxy until ctrl-c / SIGTERM. Prints `listening dns udp ADDR`, `listening dns tcp
/// ADDR` and `listening http ADDR` lines on stdout once bound.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let zone = ZoneConfig {
        zone: args.zone.clone(),
        ttl: args.ttl,
    };
    if crate::table::name_to_wire(&args.zone).is_none() {
        return Err(ConfigError::Zone(args.zone.clone()).into());
    }
    let metrics = Arc::new(Metrics::default());
    let handle = Arc::new(TableHandle::new(zone, metrics)?);
    let forwarder = if args.no_forward {
        None
    } else {
        let ups = if args.upstreams.is_empty() {
            read_resolv_conf(&args.resolv_conf)?
        } else {
            args.upstreams.clone()
        };
        if ups.is_empty() {
            tracing::warn!("no upstream resolvers; forwarding disabled");
            None
        } else {
            Some(Forwarder::new(
                ups,
                Duration::from_millis(args.upstream_timeout_ms),
            ))
        }
    };
    let allow = if args.allow_forward.is_empty() {
        server::default_allow_forward()
    } else {
        args.allow_forward.clone()
    };
    let workers = args.udp_workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = ServerOptions {
        listen: args.listen,
        udp_workers: workers,
        max_udp: args.edns_udp_size.max(512),
        allow_forward: allow,
        forwarder: forwarder.clone(),
        tcp_idle_timeout: Duration::from_secs(10),
        max_inflight_forwards: 4096,
        max_tcp_connections: 1024,
        udp_recv_buffer: args.udp_rcvbuf,
    };

    let source_task = match &args.source {
        SourceSpec::File(p) => tokio::spawn(crate::source::file::run(
            p.clone(),
            Duration::from_millis(args.poll_interval_ms.max(10)),
            handle.clone(),
        )),
        SourceSpec::Kube => {
            let client = crate::source::kube::client(args.kubeconfig.as_deref()).await?;
            let h = handle.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::source::kube::run(client, h).await {
                    tracing::error!(error = %e, "kube source stopped");
                }
            })
        }
    };

    let srv = server::start(opts, handle.clone()).await?;
    println!("listening dns udp {}", srv.udp_addr);
    println!("listening dns tcp {}", srv.tcp_addr);
    let http_task = match args.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await?;
            println!("listening http {}", l.local_addr()?);
            let router = crate::http::router(handle.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, router).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            }))
        }
        None => None,
    };
    tracing::info!(udp = %srv.udp_addr, tcp = %srv.tcp_addr, zone = %args.zone, upstreams = ?forwarder.as_ref().map(|f| f.upstreams().to_vec()), workers, "dns-proxy started");

    shutdown_signal().await;
    tracing::info!("shutting down");
    source_task.abort();
    if let Some(t) = http_task {
        t.abort();
    }
    tokio::task::spawn_blocking(move || srv.shutdown()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
