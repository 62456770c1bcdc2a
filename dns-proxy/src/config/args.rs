//! The command line: the flags ([`Args`]), what `--source` names ([`SourceSpec`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use ipnet::IpNet;

use super::ConfigError;

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
    mesh_proto::endpoint::check_url(url).map_err(|reason| ConfigError::GrpcUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    })
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
    /// Most DNS-over-TCP connections open at once. When all are open, a new connection
    /// closes the least recently active idle one (one waiting for its next query).
    #[arg(long, default_value_t = 1024)]
    pub tcp_max_connections: usize,
    /// Most DNS-over-TCP connections from one source (IPv4 address, IPv6 /64; 0: no limit).
    /// At the limit, the source's own least recently active idle connection is closed.
    #[arg(long, default_value_t = 64)]
    pub tcp_max_per_source: usize,
    /// How long a TCP connection may wait for its next query (the whole query must arrive
    /// in this time), in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub tcp_idle_timeout_ms: u64,
    /// How often malformed requests and refused or evicted TCP connections are summarized in
    /// one log line (only when there were any), in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub abuse_log_interval_ms: u64,
    /// Largest UDP response and the size advertised in EDNS.
    #[arg(long, default_value_t = crate::fast::DEFAULT_EDNS_UDP_SIZE)]
    pub edns_udp_size: u16,
}
