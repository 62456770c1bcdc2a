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
use crate::source::grpc::{GrpcSource, TlsFiles};
use crate::table::ZoneConfig;

/// Where the table comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// `file:PATH`
    File(PathBuf),
    /// `kube`
    Kube,
    /// `grpc:URL` (`https://host:port`, or `http://host:port` with `--insecure`)
    Grpc(String),
}

/// Errors in the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--source {0:?}: expected file:PATH, kube or grpc:URL")]
    Source(String),
    #[error("--source grpc:{url}: {reason}")]
    GrpcUrl { url: String, reason: String },
    #[error("--cluster is required with --source grpc:URL (the member cluster this proxy serves)")]
    ClusterMissing,
    #[error("--cluster {name:?}: {reason}")]
    Cluster { name: String, reason: String },
    #[error(
        "--source grpc:{0}: a plaintext http:// URL needs --insecure (or use https:// with --grpc-ca, --grpc-cert and --grpc-key)"
    )]
    PlaintextWithoutInsecure(String),
    #[error("--source grpc:{url}: https:// needs {flag} (mutual TLS is required)")]
    TlsFileMissing { url: String, flag: &'static str },
    #[error("{flag} is only used with an https:// --source grpc:URL")]
    UnusedTlsFlag { flag: &'static str },
    #[error("--insecure is only used with an http:// --source grpc:URL")]
    UnusedInsecure,
    #[error("{flag} is only used with --source grpc:URL")]
    NotGrpc { flag: &'static str },
    #[error("--grpc-server-name: {0}")]
    ServerName(String),
    #[error(transparent)]
    Tls(#[from] crate::source::grpc::GrpcError),
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
        if let Some(url) = s.strip_prefix("grpc:") {
            check_grpc_url(url)?;
            return Ok(SourceSpec::Grpc(url.to_string()));
        }
        match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(SourceSpec::File(PathBuf::from(p))),
            _ => Err(ConfigError::Source(s.to_string())),
        }
    }
}

/// Checks that `url` is `http://host[:port]` or `https://host[:port]` with no path or query.
pub fn check_grpc_url(url: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::GrpcUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|_| bad("not a URL (expected https://host:port)"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("the scheme must be https:// or http://"));
    }
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err(bad("no host")),
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("user information is not supported"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("a path or query is not supported"));
    }
    Ok(())
}

/// Answers `*.svc.<zone>` per the MCS DNS specification and forwards every other name.
#[derive(Clone, Debug, Parser)]
#[command(name = "dns-proxy", version)]
pub struct Args {
    /// Address for DNS over UDP and TCP (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:5353", env = "DNS_PROXY_LISTEN")]
    pub listen: SocketAddr,
    /// `file:PATH` (ServiceImport + EndpointSlice YAML), `kube` (watch the local cluster) or
    /// `grpc:URL` (the controller's discovery stream, `https://host:port`).
    #[arg(long, env = "DNS_PROXY_SOURCE")]
    pub source: SourceSpec,
    /// The member cluster this proxy serves (required with `--source grpc:`; RFC 1123 label).
    #[arg(long, env = "DNS_PROXY_CLUSTER")]
    pub cluster: Option<String>,
    /// Root CA bundle (PEM) the discovery server's certificate must chain to.
    #[arg(long)]
    pub grpc_ca: Option<PathBuf>,
    /// This proxy's client certificate chain (PEM), naming its cluster in a URI SAN.
    #[arg(long)]
    pub grpc_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long)]
    pub grpc_key: Option<PathBuf>,
    /// The DNS name expected in the server's certificate (default: the URL's host).
    #[arg(long)]
    pub grpc_server_name: Option<String>,
    /// Allow a plaintext `http://` discovery URL (no TLS, no client identity).
    #[arg(long)]
    pub insecure: bool,
    /// Longest wait between discovery reconnects, in milliseconds (also the wait after the
    /// server refused this proxy's identity).
    #[arg(long, default_value_t = 30_000)]
    pub grpc_backoff_max_ms: u64,
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
    /// How often `--source file:` checks the file (and `--source grpc:` its TLS files) for
    /// changes, in milliseconds.
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

/// Validates the gRPC flags: for `--source grpc:` returns its configuration; for other
/// sources, any gRPC-only flag is an error.
pub fn grpc_source(args: &Args) -> Result<Option<GrpcSource>, ConfigError> {
    let url = match &args.source {
        SourceSpec::Grpc(url) => url.clone(),
        _ => {
            let set: [(&'static str, bool); 6] = [
                ("--cluster", args.cluster.is_some()),
                ("--grpc-ca", args.grpc_ca.is_some()),
                ("--grpc-cert", args.grpc_cert.is_some()),
                ("--grpc-key", args.grpc_key.is_some()),
                ("--grpc-server-name", args.grpc_server_name.is_some()),
                ("--insecure", args.insecure),
            ];
            if let Some((flag, _)) = set.iter().find(|(_, on)| *on) {
                return Err(ConfigError::NotGrpc { flag });
            }
            return Ok(None);
        }
    };
    check_grpc_url(&url)?;
    let cluster = args.cluster.clone().ok_or(ConfigError::ClusterMissing)?;
    isthmus_api::names::rfc1123_label(&cluster).map_err(|e| ConfigError::Cluster {
        reason: format!("{cluster:?} {e}"),
        name: cluster.clone(),
    })?;
    let tls_flags: [(&'static str, bool); 4] = [
        ("--grpc-ca", args.grpc_ca.is_some()),
        ("--grpc-cert", args.grpc_cert.is_some()),
        ("--grpc-key", args.grpc_key.is_some()),
        ("--grpc-server-name", args.grpc_server_name.is_some()),
    ];
    let tls = if url.starts_with("https://") {
        if args.insecure {
            return Err(ConfigError::UnusedInsecure);
        }
        let need = |flag: &'static str, v: &Option<PathBuf>| {
            v.clone().ok_or_else(|| ConfigError::TlsFileMissing {
                url: url.clone(),
                flag,
            })
        };
        let files = TlsFiles {
            ca: need("--grpc-ca", &args.grpc_ca)?,
            cert: need("--grpc-cert", &args.grpc_cert)?,
            key: need("--grpc-key", &args.grpc_key)?,
            server_name: args.grpc_server_name.clone(),
        };
        if let Some(name) = &files.server_name {
            crate::source::grpc::validate_server_name(name).map_err(ConfigError::ServerName)?;
        }
        Some(files)
    } else {
        if let Some((flag, _)) = tls_flags.iter().find(|(_, on)| *on) {
            return Err(ConfigError::UnusedTlsFlag { flag });
        }
        if !args.insecure {
            return Err(ConfigError::PlaintextWithoutInsecure(url));
        }
        None
    };
    let mut src = GrpcSource::new(url, cluster);
    src.tls = tls;
    src.backoff_max = Duration::from_millis(args.grpc_backoff_max_ms.max(1));
    src.files_poll = Duration::from_millis(args.poll_interval_ms.max(10));
    // Read the files once now, so a missing or unreadable file stops the start with a clear
    // error instead of a retry loop.
    src.client_config()?;
    Ok(Some(src))
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
    let grpc = grpc_source(&args)?;
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
        SourceSpec::Grpc(url) => {
            let src = grpc.ok_or_else(|| ConfigError::GrpcUrl {
                url: url.clone(),
                reason: "not configured".into(),
            })?;
            tokio::spawn(crate::source::grpc::run(src, handle.clone()))
        }
    };

    let srv = server::start(opts, handle.clone()).await?;
    announce(format_args!("listening dns udp {}", srv.udp_addr));
    announce(format_args!("listening dns tcp {}", srv.tcp_addr));
    let http_task = match args.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await?;
            announce(format_args!("listening http {}", l.local_addr()?));
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

/// Prints one line on stdout for whoever started the proxy (tests, scripts); a closed stdout is
/// not an error for a server.
fn announce(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
