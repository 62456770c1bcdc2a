//! The `mesh-controller` daemon's command line: `run`. Everything users run by hand (demo,
//! install, render, gateway, ca, place) is the `isthmus` CLI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gateway_config::ca::RootCa;
use gateway_config::clusterset::ClusterSet;
use tracing::{error, info};

use crate::leader::LeaseConfig;
use crate::members::MemberSpec;
use crate::metrics::Metrics;
use crate::model::{IstioWiring, ReconcileConfig};
use crate::runtime::engine::IndexEngine;
use crate::runtime::{self, LeaderMode, RunConfig};

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The clusterset file is invalid.
    #[error(transparent)]
    ClusterSet(#[from] gateway_config::clusterset::ClusterSetError),
    /// The controller could not start.
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// Hub mode failed.
    #[error(transparent)]
    Hub(#[from] crate::runtime::hub::HubError),
    /// A flag value is invalid.
    #[error("{flag}: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The discovery API settings are unusable.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::DiscoveryError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Tokio(#[source] std::io::Error),
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The Isthmus controller: Multi-Cluster Services across member clusters and Istio
/// multi-network wiring.
#[derive(Debug, Parser)]
#[command(name = "mesh-controller", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ISTHMUS_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller against live member clusters.
    Run(RunArgs),
}

/// `mesh-controller run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Clusterset file (members, networks, kubeconfig paths).
    #[arg(
        long,
        value_name = "FILE",
        env = "ISTHMUS_CLUSTERSET",
        required_unless_present = "hub_kubeconfig",
        conflicts_with = "hub_kubeconfig"
    )]
    pub clusterset: Option<PathBuf>,
    /// Hub cluster holding MemberCluster objects (members and their kubeconfig Secrets);
    /// instead of `--clusterset`.
    #[arg(long, value_name = "FILE")]
    pub hub_kubeconfig: Option<PathBuf>,
    /// Also manage the Istio multi-network wiring (network labels, east-west Gateway, remote
    /// secrets from each member's reader token, the mesh networks ConfigMap) of the clusterset
    /// file or the MemberClusters; needs Istio's CRDs in the members.
    #[arg(long)]
    pub istio_wiring: bool,
    /// Run the clusterset CA from this directory (`root-cert.pem`, `root-key.pem`, as
    /// `isthmus ca init` writes them): every member gets its `cacerts` intermediate, and its
    /// status says whether its istiod publishes the clusterset root. Needs --istio-wiring.
    #[arg(long, value_name = "DIR", requires = "istio_wiring")]
    pub ca_root: Option<PathBuf>,
    /// Restart a member's istiod that still publishes a foreign root once the controller has
    /// plugged its `cacerts`: the pod template of its istiod Deployment(s) in istio-system gets
    /// the annotation `isthmus.io/root-fingerprint` (a rollout; once per root). Needs --ca-root.
    #[arg(long, requires = "ca_root")]
    pub restart_istiod: bool,
    /// How often each member's reader token Secret and `cacerts` are read (--istio-wiring).
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = isthmus_api::duration::parse_flag)]
    pub istio_refresh: Duration,
    /// Clusterset name in hub mode (the `clusterset.k8s.io` ClusterProperty).
    #[arg(long, value_name = "NAME", default_value = "clusterset")]
    pub clusterset_name: String,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_listen: SocketAddr,
    /// Clusterset VIP range (repeat for IPv4 and IPv6); defaults 242.0.0.0/16 and fd00:242::/112.
    #[arg(long = "clusterset-cidr", value_name = "CIDR")]
    pub clusterset_cidrs: Vec<ipnet::IpNet>,
    /// How long an unreachable member's exports are kept before being withdrawn.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = isthmus_api::duration::parse_flag)]
    pub unreachable_grace: Duration,
    /// How long all watches (or the health probe) of a member must fail before it is unreachable.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = isthmus_api::duration::parse_flag)]
    pub unreachable_after: Duration,
    /// Full resync period: re-apply everything and prune by listing.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = isthmus_api::duration::parse_flag)]
    pub resync_period: Duration,
    /// Hold a Lease before writing (`--leader-elect=false` for a single replica).
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Cluster holding the Lease; the first member when absent.
    #[arg(long, value_name = "FILE")]
    pub lease_kubeconfig: Option<PathBuf>,
    /// Namespace of the Lease.
    #[arg(long, value_name = "NS", default_value = "isthmus-system")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (default: `$POD_NAME` or the host name, plus the pid).
    #[arg(long, value_name = "ID", env = "POD_NAME")]
    pub identity: Option<String>,
    /// Propagation of workloads from the hub (hub mode).
    #[command(flatten)]
    pub propagation: crate::propagation::PropagationArgs,
    /// Address of the ClusterSet discovery gRPC API for DNS proxies (`none`: not served). It is
    /// served with TLS (`--discovery-tls-cert/-key`, `--discovery-client-ca`) or, only with
    /// `--discovery-insecure`, in plaintext; with neither it is not served.
    #[arg(long, value_name = "ADDR|none", default_value = crate::discovery::DEFAULT_LISTEN, value_parser = parse_listen)]
    pub discovery_listen: Listen,
    /// PEM certificate chain the discovery API presents.
    #[arg(long, value_name = "FILE", env = "ISTHMUS_DISCOVERY_TLS_CERT")]
    pub discovery_tls_cert: Option<PathBuf>,
    /// PEM private key of `--discovery-tls-cert`.
    #[arg(long, value_name = "FILE", env = "ISTHMUS_DISCOVERY_TLS_KEY")]
    pub discovery_tls_key: Option<PathBuf>,
    /// PEM clusterset root(s) DNS proxy client certificates must chain to.
    #[arg(long, value_name = "FILE", env = "ISTHMUS_DISCOVERY_CLIENT_CA")]
    pub discovery_client_ca: Option<PathBuf>,
    /// Trust domain of the DNS proxies' identities
    /// (`spiffe://<trust-domain>/isthmus/dns-proxy/<cluster>`).
    #[arg(long, value_name = "DOMAIN", default_value = crate::discovery::DEFAULT_TRUST_DOMAIN)]
    pub trust_domain: String,
    /// Serve the discovery API in plaintext, without client authentication.
    #[arg(long, conflicts_with_all = ["discovery_tls_cert", "discovery_tls_key", "discovery_client_ca"])]
    pub discovery_insecure: bool,
}

/// A listen address, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

/// Parses `none` or a socket address.
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Listen(None));
    }
    s.parse()
        .map(|a| Listen(Some(a)))
        .map_err(|_| format!("{s:?} is neither an address (0.0.0.0:8443) nor none"))
}

/// The discovery settings of `run`: `None` when not served.
pub fn discovery_config(
    args: &RunArgs,
) -> Result<Option<crate::discovery::DiscoveryConfig>, CliError> {
    use crate::discovery::{DiscoveryConfig, load_tls, validate_trust_domain};
    let Listen(Some(listen)) = args.discovery_listen else {
        return Ok(None);
    };
    validate_trust_domain(&args.trust_domain)?;
    let files = [
        ("--discovery-tls-cert", &args.discovery_tls_cert),
        ("--discovery-tls-key", &args.discovery_tls_key),
        ("--discovery-client-ca", &args.discovery_client_ca),
    ];
    let missing: Vec<&str> = files
        .iter()
        .filter(|(_, f)| f.is_none())
        .map(|(n, _)| *n)
        .collect();
    let mut cfg = DiscoveryConfig::insecure(listen);
    cfg.trust_domain = args.trust_domain.clone();
    match (
        &args.discovery_tls_cert,
        &args.discovery_tls_key,
        &args.discovery_client_ca,
    ) {
        (Some(cert), Some(key), Some(ca)) => {
            cfg.tls = Some(load_tls(cert, key, ca)?);
            Ok(Some(cfg))
        }
        _ if missing.len() < files.len() => Err(CliError::Flag {
            flag: "--discovery-tls-cert",
            reason: format!(
                "TLS for the discovery API needs --discovery-tls-cert, --discovery-tls-key and --discovery-client-ca; missing {}",
                missing.join(", ")
            ),
        }),
        _ if args.discovery_insecure => Ok(Some(cfg)),
        _ => {
            tracing::warn!(
                %listen,
                "discovery API not served: give --discovery-tls-cert, --discovery-tls-key and --discovery-client-ca, or --discovery-insecure (or --discovery-listen none to silence this)"
            );
            Ok(None)
        }
    }
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "mesh-controller".to_owned());
    format!("{host}-{}", std::process::id())
}

fn reconcile_config(args: &RunArgs) -> ReconcileConfig {
    let mut rcfg = ReconcileConfig {
        unreachable_grace: args.unreachable_grace,
        ..ReconcileConfig::default()
    };
    if !args.clusterset_cidrs.is_empty() {
        rcfg.clusterset_cidrs = args.clusterset_cidrs.clone();
    }
    rcfg
}

/// Reads the clusterset root of `--ca-root` (`root-cert.pem`, `root-key.pem`).
fn load_root(dir: &Path) -> Result<RootCa, CliError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path)
            .map(|text| (text, path.display().to_string()))
            .map_err(|e| CliError::Flag {
                flag: "--ca-root",
                reason: format!("cannot read {}: {e}", path.display()),
            })
    };
    let (cert, cert_path) = read("root-cert.pem")?;
    let (key, key_path) = read("root-key.pem")?;
    RootCa::from_pem(&cert, &key, &cert_path, &key_path, jiff::Timestamp::now()).map_err(|e| {
        CliError::Flag {
            flag: "--ca-root",
            reason: e.to_string(),
        }
    })
}

/// `base` with what the flags turn on: the mesh networks ConfigMap, the clusterset CA and
/// istiod restarts.
fn istio_wiring(args: &RunArgs, mut base: IstioWiring) -> Result<IstioWiring, CliError> {
    base.mesh_networks = true;
    base.restart_istiod = args.restart_istiod;
    if let Some(dir) = &args.ca_root {
        base.root = Some(Arc::new(load_root(dir)?));
    }
    Ok(base)
}

/// The Istio wiring of hub mode: the members' networks, gateways and revisions come from their
/// MemberClusters.
fn hub_istio_wiring(args: &RunArgs) -> Result<IstioWiring, CliError> {
    istio_wiring(
        args,
        IstioWiring {
            mesh_id: args.clusterset_name.clone(),
            trust_domain: gateway_config::clusterset::DEFAULT_TRUST_DOMAIN.to_owned(),
            expose_hosts: gateway_config::istio::ExposeHosts::All,
            root: None,
            renewal: gateway_config::ca::RenewalPolicy::default(),
            restart_istiod: false,
            mesh_networks: false,
        },
    )
}

fn run_config(
    args: &RunArgs,
    clusterset: String,
    members: Vec<MemberSpec>,
    lease_default: Option<PathBuf>,
) -> Result<RunConfig, CliError> {
    let mut cfg = RunConfig::new(clusterset, members);
    cfg.discovery = discovery_config(args)?;
    cfg.metrics_listen = Some(args.metrics_listen);
    cfg.unreachable_after = args.unreachable_after;
    cfg.unreachable_grace = args.unreachable_grace;
    cfg.resync_period = args.resync_period;
    if args.istio_wiring {
        cfg.istio = Some(crate::runtime::IstioReads {
            refresh: args.istio_refresh,
        });
    }
    if args.leader_elect {
        let identity = args.identity.clone().unwrap_or_else(default_identity);
        cfg.leader = LeaderMode::Lease {
            kubeconfig: args.lease_kubeconfig.clone().or(lease_default),
            config: LeaseConfig::new(args.lease_namespace.clone(), identity),
        };
    }
    Ok(cfg)
}

/// Runs `mesh-controller run` until SIGINT/SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), CliError> {
    if let Some(hub_path) = &args.hub_kubeconfig {
        let hub = crate::members::client_for("hub", hub_path, None)
            .await
            .map_err(runtime::RuntimeError::from)?;
        let mut reconcile = reconcile_config(&args);
        if args.istio_wiring {
            reconcile.istio = Some(hub_istio_wiring(&args)?);
        }
        let cfg = crate::runtime::hub::HubConfig {
            clusterset: args.clusterset_name.clone(),
            run: run_config(
                &args,
                args.clusterset_name.clone(),
                Vec::new(),
                Some(hub_path.clone()),
            )?,
            reconcile,
            refresh: Duration::from_secs(10),
        };
        info!(hub = %hub_path.display(), leader_elect = args.leader_elect, "starting in hub mode");
        crate::runtime::hub::run_with_propagation(
            hub,
            cfg,
            args.propagation.config(),
            shutdown_signal(),
        )
        .await?;
        info!("stopped");
        return Ok(());
    }
    let Some(path) = &args.clusterset else {
        return Err(CliError::Flag {
            flag: "--clusterset",
            reason: "either --clusterset or --hub-kubeconfig is required".into(),
        });
    };
    let cs = ClusterSet::load(path)?;
    let mut rcfg = reconcile_config(&args);
    if args.istio_wiring {
        rcfg.istio = Some(istio_wiring(&args, crate::registry::istio_wiring(&cs))?);
    }
    let metrics = Arc::new(Metrics::new());
    let engine = Arc::new(
        IndexEngine::new(crate::registry::from_clusterset(&cs), rcfg).with_metrics(metrics.clone()),
    );
    let cfg = run_config(
        &args,
        cs.name.clone(),
        MemberSpec::from_clusterset(&cs),
        None,
    )?;
    info!(clusterset = %cs.name, members = cs.members.len(), leader_elect = args.leader_elect, "starting");
    let handle = runtime::start(cfg, engine, metrics).await?;
    handle.run_until(shutdown_signal()).await;
    info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Sets up structured logging (`RUST_LOG` filters; `default_filter` otherwise).
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format, "info");
    let command = cli.command;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %CliError::Tokio(e), "fatal");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match command {
            Command::Run(args) => run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            isthmus_api::duration::parse_flag("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            isthmus_api::duration::parse_flag("3s").unwrap(),
            Duration::from_secs(3)
        );
        assert_eq!(
            isthmus_api::duration::parse_flag("5m").unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(
            isthmus_api::duration::parse_flag("1h").unwrap(),
            Duration::from_secs(3600)
        );
        assert_eq!(
            isthmus_api::duration::parse_flag("7").unwrap(),
            Duration::from_secs(7)
        );
        assert!(
            isthmus_api::duration::parse_flag("3 days")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(isthmus_api::duration::parse_flag("abc").is_err());
    }

    #[test]
    fn run_flags_parse() {
        let cli = Cli::try_parse_from([
            "mesh-controller",
            "run",
            "--clusterset",
            "cs.yaml",
            "--leader-elect=false",
            "--unreachable-grace",
            "3s",
            "--clusterset-cidr",
            "10.99.0.0/16",
        ])
        .unwrap();
        let Command::Run(args) = cli.command;
        assert!(!args.leader_elect);
        assert_eq!(args.unreachable_grace, Duration::from_secs(3));
        assert_eq!(args.clusterset_cidrs.len(), 1);
        let cli = Cli::try_parse_from([
            "mesh-controller",
            "run",
            "--clusterset",
            "x",
            "--leader-elect",
        ])
        .unwrap();
        let Command::Run(args) = cli.command;
        assert!(args.leader_elect);
    }

    #[test]
    fn istio_flags_parse_and_need_each_other() {
        let args = run_args(&[]);
        assert!(!args.istio_wiring && !args.restart_istiod && args.ca_root.is_none());
        assert_eq!(args.istio_refresh, Duration::from_secs(30));
        assert!(
            run_config(&args, "cs".into(), Vec::new(), None)
                .unwrap()
                .istio
                .is_none()
        );
        // --restart-istiod needs --ca-root, which needs --istio-wiring.
        for bad in [
            vec!["--restart-istiod"],
            vec!["--ca-root", "root"],
            vec!["--restart-istiod", "--istio-wiring"],
        ] {
            let mut argv = vec!["mesh-controller", "run", "--clusterset", "cs.yaml"];
            argv.extend(bad.iter().copied());
            assert!(Cli::try_parse_from(&argv).is_err(), "{bad:?}");
        }
        let args = run_args(&[
            "--istio-wiring",
            "--ca-root",
            "root",
            "--restart-istiod",
            "--istio-refresh",
            "2s",
        ]);
        assert!(args.restart_istiod);
        let cfg = run_config(&args, "cs".into(), Vec::new(), None).unwrap();
        assert_eq!(cfg.istio.unwrap().refresh, Duration::from_secs(2));
    }

    #[test]
    fn the_clusterset_root_is_loaded_from_ca_root() {
        let dir = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now();
        let root = RootCa::generate(&gateway_config::ca::RootOptions::default(), now).unwrap();
        std::fs::write(dir.path().join("root-cert.pem"), root.cert_pem()).unwrap();
        let path = dir.path().to_str().unwrap();
        let args = run_args(&["--istio-wiring", "--ca-root", path, "--restart-istiod"]);
        // Without the key the flag is refused, naming the file.
        let e = hub_istio_wiring(&args).unwrap_err().to_string();
        assert!(e.contains("--ca-root") && e.contains("root-key.pem"), "{e}");
        std::fs::write(dir.path().join("root-key.pem"), root.key_pem()).unwrap();
        let w = hub_istio_wiring(&args).unwrap();
        assert!(w.restart_istiod && w.mesh_networks);
        assert!(w.root.unwrap().cert().same_as(root.cert()));
    }

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["mesh-controller", "run", "--clusterset", "cs.yaml"];
        argv.extend_from_slice(extra);
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command;
        args
    }

    #[test]
    fn discovery_is_served_only_with_tls_or_when_asked_for_plaintext() {
        let args = run_args(&[]);
        assert_eq!(
            args.discovery_listen,
            Listen(Some("0.0.0.0:8443".parse().unwrap()))
        );
        assert!(discovery_config(&args).unwrap().is_none());
        let cfg = discovery_config(&run_args(&["--discovery-insecure"]))
            .unwrap()
            .unwrap();
        assert!(cfg.tls.is_none());
        assert_eq!(cfg.listen.port(), 8443);
        let off = run_args(&["--discovery-listen", "none", "--discovery-insecure"]);
        assert!(discovery_config(&off).unwrap().is_none());
        let e = discovery_config(&run_args(&["--discovery-tls-cert", "c.pem"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing --discovery-tls-key, --discovery-client-ca"),
            "{e}"
        );
        assert!(
            Cli::try_parse_from([
                "mesh-controller",
                "run",
                "--clusterset",
                "x",
                "--discovery-insecure",
                "--discovery-tls-cert",
                "c.pem"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "mesh-controller",
                "run",
                "--clusterset",
                "x",
                "--discovery-listen",
                "port-80"
            ])
            .is_err()
        );
        let e = discovery_config(&run_args(&[
            "--discovery-insecure",
            "--trust-domain",
            "A/B",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("--trust-domain"), "{e}");
    }

    #[test]
    fn discovery_tls_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mesh-controller".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let c = dir.path().join("tls.crt");
        let k = dir.path().join("tls.key");
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        let (c, k) = (c.to_str().unwrap(), k.to_str().unwrap());
        let args = run_args(&[
            "--discovery-listen",
            "127.0.0.1:0",
            "--discovery-tls-cert",
            c,
            "--discovery-tls-key",
            k,
            "--discovery-client-ca",
            c,
            "--trust-domain",
            "example.org",
        ]);
        let cfg = discovery_config(&args).unwrap().unwrap();
        assert!(cfg.tls.is_some());
        assert_eq!(cfg.trust_domain, "example.org");
    }
}
