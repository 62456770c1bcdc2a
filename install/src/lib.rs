//! `isthmus install`: the manifests that install Isthmus into a hub or a member cluster, the way
//! `linkerd install` or `istioctl manifest generate` do.
//!
//! Everything is produced by pure functions ([`render`], [`render_files`], [`crds`],
//! [`manifests`], [`rbac`]); `deploy/` holds their output for the default parameters and a
//! test fails when it drifts. The RBAC rules come from the list of API requests each component
//! makes ([`rbac::member_requests`], [`rbac::hub_requests`], [`rbac::dns_proxy_requests`]).

pub mod crds;
pub mod manifests;
pub mod rbac;

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

pub use gateway_config::remote_secret::IstioVersion;

/// The version of Isthmus; image tags default to it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The namespace Isthmus installs into unless `--namespace` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "isthmus-system";

/// The default controller image, `isthmus/mesh-controller:<version>`.
pub fn default_controller_image() -> String {
    format!("isthmus/mesh-controller:{VERSION}")
}

/// The default DNS proxy image, `isthmus/dns-proxy:<version>`.
pub fn default_dns_proxy_image() -> String {
    format!("isthmus/dns-proxy:{VERSION}")
}

/// Errors of `install`.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A parameter is missing or malformed.
    #[error("{flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--cluster`.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A manifest could not be produced.
    #[error("cannot generate {what}: {reason}")]
    Generate {
        /// Which manifest.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Which cluster the manifests are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The hub: MemberCluster CRD and the controller.
    Hub,
    /// A member: MCS CRDs, the hub's access to it, the DNS proxy.
    Member,
}

/// How the DNS proxy runs in a member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsMode {
    /// A Deployment with two replicas and a PodDisruptionBudget.
    #[default]
    Deployment,
    /// A DaemonSet; the Service prefers the proxy on the caller's node.
    Daemonset,
}

/// Where the DNS proxy in a member reads the clusterset's names from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DnsSource {
    /// Watch the member's own ServiceImports and EndpointSlices (needs read RBAC there).
    #[default]
    Kube,
    /// Stream the member's table from the controller's discovery gRPC API over mutual TLS.
    Grpc,
}

/// The DNS proxy's discovery stream (`install --role member --dns-source grpc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsGrpc {
    /// The controller's discovery URL, `https://host:port`.
    pub url: String,
    /// The name checked in the controller's certificate when it is not the URL's host.
    pub server_name: Option<String>,
}

/// The discovery URL a member's DNS proxy uses unless `--discovery-url` says otherwise: the
/// hub's `isthmus-discovery` Service by its in-cluster name, reachable as such only when the
/// member is the hub itself.
pub fn default_discovery_url(namespace: &str) -> String {
    format!(
        "https://{}.{namespace}.svc:{}",
        manifests::DISCOVERY_SERVICE,
        manifests::DISCOVERY_PORT
    )
}

/// `install` flags.
#[derive(Clone, Debug, clap::Args)]
pub struct InstallArgs {
    /// Which cluster the manifests are for.
    #[arg(long, value_enum)]
    pub role: Role,
    /// Member cluster ID (RFC 1123 label); required with `--role member`.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Istio network of the member; required with `--role member`.
    #[arg(long)]
    pub network: Option<String>,
    /// Namespace to install into.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Controller image (default `isthmus/mesh-controller:<version>`).
    #[arg(long)]
    pub image: Option<String>,
    /// DNS proxy image (default `isthmus/dns-proxy:<version>`).
    #[arg(long)]
    pub dns_proxy_image: Option<String>,
    /// How the DNS proxy runs.
    #[arg(long, value_enum, default_value = "deployment")]
    pub dns_mode: DnsMode,
    /// Leave the CustomResourceDefinitions out.
    #[arg(long)]
    pub skip_crds: bool,
    /// Print only the CustomResourceDefinitions (applied before istiod, whose MCS support
    /// watches them).
    #[arg(long, conflicts_with = "skip_crds")]
    pub crds_only: bool,
    /// Propagation: the hub's controller runs in hub mode (members from MemberClusters) and
    /// may read templates and write policy status; a member lets it write the propagated kinds.
    #[arg(long)]
    pub propagation: bool,
    /// Hub: serve the ClusterSet discovery gRPC API with mutual TLS from the Secret
    /// `isthmus-discovery-tls` (default true; `--discovery=false` turns it off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub discovery: Option<bool>,
    /// Hub: trust domain of the DNS proxies' client certificates (default `cluster.local`).
    #[arg(long, value_name = "DOMAIN")]
    pub trust_domain: Option<String>,
    /// Member: where the DNS proxy reads names from (default `kube`).
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub dns_source: Option<DnsSource>,
    /// Member with `--dns-source grpc`: the controller's discovery URL, `https://host:port`
    /// (default `https://isthmus-discovery.<namespace>.svc:8443`).
    #[arg(long, value_name = "URL")]
    pub discovery_url: Option<String>,
    /// Member with `--dns-source grpc`: the name to check in the controller's certificate
    /// (default: the URL's host).
    #[arg(long, value_name = "NAME")]
    pub discovery_server_name: Option<String>,
    /// Member: the Istio version whose reader RBAC (`istio-reader-service-account`) to install:
    /// 1.28, 1.29 or 1.30, or a release of one such as 1.29.3 (default 1.30).
    #[arg(long, value_name = "VERSION", value_parser = parse_istio_version)]
    pub istio_version: Option<IstioVersion>,
    /// Member: the revision of the member's istiod, which names the reader ClusterRole
    /// `istio-reader-clusterrole-<revision>-istio-system` (default: the default revision).
    #[arg(long, value_name = "REVISION")]
    pub istio_revision: Option<String>,
    /// Let the controller restart a member's istiod that publishes a foreign root once it has
    /// plugged `cacerts` there. Hub: the controller runs with `--restart-istiod` (needs
    /// `--clusterset-ca`). Member: the hub may get, list and patch Deployments in istio-system.
    #[arg(long)]
    pub restart_istiod: bool,
    /// Hub: the controller manages the members' Istio wiring (network label, east-west
    /// Gateway, remote secrets from the reader tokens, mesh networks ConfigMap): default true;
    /// `--istio-wiring=false` leaves Istio alone.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub istio_wiring: Option<bool>,
    /// Hub: the controller runs the clusterset CA from the Secret `isthmus-ca-root`
    /// (`root-cert.pem`, `root-key.pem` of `isthmus ca init`): every member gets its `cacerts`
    /// intermediate and a root-of-trust verdict against the clusterset root.
    #[arg(long)]
    pub clusterset_ca: bool,
}

/// `--istio-version`: a supported Istio minor version or a release of one.
fn parse_istio_version(s: &str) -> Result<IstioVersion, String> {
    s.parse()
        .map_err(|e: gateway_config::remote_secret::RemoteSecretError| e.to_string())
}

/// Validated parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallOptions {
    /// Which cluster the manifests are for.
    pub role: Role,
    /// Member cluster ID (members only).
    pub cluster: Option<String>,
    /// Istio network (members only).
    pub network: Option<String>,
    /// Install namespace.
    pub namespace: String,
    /// Controller image.
    pub image: String,
    /// DNS proxy image.
    pub dns_proxy_image: String,
    /// How the DNS proxy runs.
    pub dns_mode: DnsMode,
    /// Whether CRDs are included.
    pub crds: bool,
    /// Whether only the CRDs are printed.
    pub crds_only: bool,
    /// Whether propagation is set up (see [`InstallArgs::propagation`]).
    pub propagation: bool,
    /// Hub: whether the controller serves the discovery API with TLS from
    /// [`manifests::DISCOVERY_TLS_SECRET`].
    pub discovery: bool,
    /// Hub: the controller's `--trust-domain`.
    pub trust_domain: String,
    /// Member: `Some` when the DNS proxy streams from the controller, `None` for `kube`.
    pub dns_grpc: Option<DnsGrpc>,
    /// Member: the Istio version whose reader RBAC is installed.
    pub istio_version: IstioVersion,
    /// Member: the istiod revision naming the reader ClusterRole (`None`: default revision).
    pub istio_revision: Option<String>,
    /// Whether the controller may restart istiod (hub: its flag; member: the RBAC for it).
    pub restart_istiod: bool,
    /// Hub: whether the controller manages the members' Istio wiring.
    pub istio_wiring: bool,
    /// Hub: whether the controller runs the clusterset CA from [`manifests::CA_ROOT_SECRET`].
    pub clusterset_ca: bool,
}

impl InstallOptions {
    /// The defaults for `role` (members get `cluster`/`network` as given).
    pub fn defaults(role: Role, cluster: Option<&str>, network: Option<&str>) -> Self {
        Self {
            role,
            cluster: cluster.map(str::to_owned),
            network: network.map(str::to_owned),
            namespace: DEFAULT_NAMESPACE.into(),
            image: default_controller_image(),
            dns_proxy_image: default_dns_proxy_image(),
            dns_mode: DnsMode::Deployment,
            crds: true,
            crds_only: false,
            propagation: false,
            discovery: true,
            trust_domain: isthmus_api::names::DEFAULT_TRUST_DOMAIN.into(),
            dns_grpc: None,
            istio_version: IstioVersion::LATEST,
            istio_revision: None,
            restart_istiod: false,
            istio_wiring: true,
            clusterset_ca: false,
        }
    }

    /// These options with the member's DNS proxy streaming from the controller at `url`.
    pub fn with_dns_grpc(mut self, url: &str) -> Self {
        self.dns_grpc = Some(DnsGrpc {
            url: url.into(),
            server_name: None,
        });
        self
    }
}

fn check_image(flag: &'static str, image: &str) -> Result<(), InstallError> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InstallError::Invalid {
            flag,
            reason: format!("{image:?} is not an image reference"),
        });
    }
    Ok(())
}

impl TryFrom<InstallArgs> for InstallOptions {
    type Error = InstallError;

    fn try_from(a: InstallArgs) -> Result<Self, InstallError> {
        if isthmus_api::names::rfc1123_label(&a.namespace).is_err() {
            return Err(InstallError::Invalid {
                flag: "--namespace",
                reason: format!(
                    "{:?} is not an RFC 1123 label (lower-case letters, digits, '-', at most 63)",
                    a.namespace
                ),
            });
        }
        match a.role {
            Role::Member => {
                let Some(cluster) = &a.cluster else {
                    return Err(InstallError::Invalid {
                        flag: "--cluster",
                        reason: "required with --role member".into(),
                    });
                };
                if isthmus_api::names::rfc1123_label(cluster).is_err() {
                    return Err(InstallError::Invalid {
                        flag: "--cluster",
                        reason: format!(
                            "{cluster:?} is not an RFC 1123 label (lower-case letters, digits, '-', at most 63)"
                        ),
                    });
                }
                let Some(network) = &a.network else {
                    return Err(InstallError::Invalid {
                        flag: "--network",
                        reason: "required with --role member".into(),
                    });
                };
                if isthmus_api::names::label_value_nonempty(network).is_err() {
                    return Err(InstallError::Invalid {
                        flag: "--network",
                        reason: format!(
                            "{network:?} is not a valid label value (letters, digits, '-', '_', '.', at most 63)"
                        ),
                    });
                }
            }
            Role::Hub => {
                for (flag, given) in [
                    ("--dns-source", a.dns_source.is_some()),
                    ("--discovery-url", a.discovery_url.is_some()),
                    ("--discovery-server-name", a.discovery_server_name.is_some()),
                    ("--istio-version", a.istio_version.is_some()),
                    ("--istio-revision", a.istio_revision.is_some()),
                ] {
                    if given {
                        return Err(InstallError::Invalid {
                            flag,
                            reason: "only used with --role member".into(),
                        });
                    }
                }
                if a.cluster.is_some() {
                    return Err(InstallError::Invalid {
                        flag: "--cluster",
                        reason: "only used with --role member".into(),
                    });
                }
                if a.network.is_some() {
                    return Err(InstallError::Invalid {
                        flag: "--network",
                        reason: "only used with --role member".into(),
                    });
                }
            }
        }
        if a.role == Role::Member {
            for (flag, given) in [
                ("--discovery", a.discovery.is_some()),
                ("--trust-domain", a.trust_domain.is_some()),
                ("--istio-wiring", a.istio_wiring.is_some()),
                ("--clusterset-ca", a.clusterset_ca),
            ] {
                if given {
                    return Err(InstallError::Invalid {
                        flag,
                        reason: "only used with --role hub".into(),
                    });
                }
            }
        }
        let trust_domain = a
            .trust_domain
            .clone()
            .unwrap_or_else(|| isthmus_api::names::DEFAULT_TRUST_DOMAIN.into());
        isthmus_api::names::trust_domain(&trust_domain).map_err(|_| InstallError::Invalid {
            flag: "--trust-domain",
            reason: format!(
                "--trust-domain {trust_domain:?}: not a valid trust domain (lower-case letters, digits, '.', '-', '_')"
            ),
        })?;
        if let Some(rev) = &a.istio_revision
            && isthmus_api::names::rfc1123_label(rev).is_err()
        {
            return Err(InstallError::Invalid {
                flag: "--istio-revision",
                reason: format!(
                    "{rev:?} is not an RFC 1123 label (lower-case letters, digits, '-', at most 63)"
                ),
            });
        }
        let istio_wiring = a.istio_wiring.unwrap_or(true);
        if a.role == Role::Hub {
            if a.clusterset_ca && !istio_wiring {
                return Err(InstallError::Invalid {
                    flag: "--clusterset-ca",
                    reason: "the clusterset CA writes cacerts through the Istio wiring: drop --istio-wiring=false".into(),
                });
            }
            if a.restart_istiod && !a.clusterset_ca {
                return Err(InstallError::Invalid {
                    flag: "--restart-istiod",
                    reason: "the controller restarts istiod only after plugging the clusterset cacerts: add --clusterset-ca".into(),
                });
            }
        }
        let dns_grpc = dns_grpc(&a)?;
        let image = a.image.unwrap_or_else(default_controller_image);
        check_image("--image", &image)?;
        let dns_proxy_image = a.dns_proxy_image.unwrap_or_else(default_dns_proxy_image);
        check_image("--dns-proxy-image", &dns_proxy_image)?;
        Ok(Self {
            role: a.role,
            cluster: a.cluster,
            network: a.network,
            namespace: a.namespace,
            image,
            dns_proxy_image,
            dns_mode: a.dns_mode,
            crds: !a.skip_crds,
            crds_only: a.crds_only,
            propagation: a.propagation,
            discovery: a.discovery.unwrap_or(true),
            trust_domain,
            dns_grpc,
            istio_version: a.istio_version.unwrap_or(IstioVersion::LATEST),
            istio_revision: a.istio_revision,
            restart_istiod: a.restart_istiod,
            istio_wiring,
            clusterset_ca: a.clusterset_ca,
        })
    }
}

/// The member's gRPC source settings from the flags, checked as the DNS proxy checks them.
fn dns_grpc(a: &InstallArgs) -> Result<Option<DnsGrpc>, InstallError> {
    if a.dns_source != Some(DnsSource::Grpc) {
        for (flag, given) in [
            ("--discovery-url", a.discovery_url.is_some()),
            ("--discovery-server-name", a.discovery_server_name.is_some()),
        ] {
            if given && a.role == Role::Member {
                return Err(InstallError::Invalid {
                    flag,
                    reason: "only used with --dns-source grpc".into(),
                });
            }
        }
        return Ok(None);
    }
    let url = a
        .discovery_url
        .clone()
        .unwrap_or_else(|| default_discovery_url(&a.namespace));
    mesh_proto::endpoint::check_url(&url).map_err(|reason| InstallError::Invalid {
        flag: "--discovery-url",
        reason: format!("--source grpc:{url}: {reason}"),
    })?;
    if !url.starts_with("https://") {
        return Err(InstallError::Invalid {
            flag: "--discovery-url",
            reason: format!("{url:?}: the DNS proxy uses mutual TLS, so the URL must be https://"),
        });
    }
    if let Some(name) = &a.discovery_server_name {
        mesh_proto::endpoint::check_server_name(name).map_err(|reason| InstallError::Invalid {
            flag: "--discovery-server-name",
            reason,
        })?;
    }
    Ok(Some(DnsGrpc {
        url,
        server_name: a.discovery_server_name.clone(),
    }))
}

/// The role's manifests, one entry per file of `deploy/<role>/`, without CRDs.
pub fn render_files(opts: &InstallOptions) -> Vec<manifests::ManifestFile> {
    match opts.role {
        Role::Hub => manifests::hub_files(opts),
        Role::Member => manifests::member_files(opts),
    }
}

/// Every object `install` prints, in apply order: CRDs (unless skipped), then the files of
/// [`render_files`].
pub fn render_objects(opts: &InstallOptions) -> Result<Vec<Value>, InstallError> {
    let mut out = Vec::new();
    if opts.crds {
        out.extend(match opts.role {
            Role::Hub => crds::hub_crds()?,
            Role::Member => crds::member_crds()?,
        });
    }
    if !opts.crds_only {
        out.extend(render_files(opts).into_iter().flat_map(|f| f.objects));
    }
    Ok(out)
}

/// Serializes objects as multi-document YAML (`---` before every document).
pub fn to_yaml_docs(objects: &[Value]) -> Result<String, InstallError> {
    isthmus_api::yaml::documents(objects, isthmus_api::yaml::Separators::Leading).map_err(|e| {
        let obj = objects.get(e.index);
        InstallError::Generate {
            what: format!(
                "YAML for {} {}",
                obj.and_then(|o| o.get("kind"))
                    .and_then(Value::as_str)
                    .unwrap_or("object"),
                obj.and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
            reason: e.source.to_string(),
        }
    })
}

/// What `install` prints: a comment header and every object of [`render_objects`].
pub fn render(opts: &InstallOptions) -> Result<String, InstallError> {
    let mut head = format!(
        "# Isthmus {VERSION}: {} manifests",
        match opts.role {
            Role::Hub => "hub",
            Role::Member => "member",
        }
    );
    if let (Some(c), Some(n)) = (&opts.cluster, &opts.network) {
        head.push_str(&format!(" for cluster {c} (network {n})"));
    }
    if opts.crds_only {
        head.push_str(" (CRDs only)");
    }
    head.push_str(&format!(", namespace {}\n", opts.namespace));
    Ok(head + &to_yaml_docs(&render_objects(opts)?)?)
}

/// Placeholder for the DNS proxy Service's ClusterIP in `deploy/member/coredns-stub-domain.conf`.
pub const DNS_PROXY_IP_PLACEHOLDER: &str = "DNS_PROXY_CLUSTER_IP";

/// Every generated file under `deploy/`, as (path relative to `deploy/`, content): the hub and
/// member manifests for the default parameters (members without `--cluster`/`--network`, whose
/// only effect is labels), the CoreDNS snippet and the generated CRDs. A test compares these
/// with the committed files.
pub fn deploy_tree() -> Result<Vec<(String, String)>, InstallError> {
    let mut out = Vec::new();
    for (role, dir) in [(Role::Hub, "hub"), (Role::Member, "member")] {
        let opts = InstallOptions::defaults(role, None, None);
        for f in render_files(&opts) {
            let head = format!(
                "# Generated by `isthmus install --role {dir} --skip-crds` (Isthmus {VERSION}); do not edit.\n"
            );
            out.push((
                format!("{dir}/{}", f.file),
                head + &to_yaml_docs(&f.objects)?,
            ));
        }
    }
    out.push((
        "member/coredns-stub-domain.conf".into(),
        format!(
            "# Add this server block to the Corefile in the `coredns` ConfigMap (namespace kube-system).\n\
             # Replace {DNS_PROXY_IP_PLACEHOLDER} with the ClusterIP of the isthmus-dns-proxy Service:\n\
             #   kubectl -n {DEFAULT_NAMESPACE} get service isthmus-dns-proxy -o jsonpath='{{.spec.clusterIP}}'\n{}",
            manifests::coredns_stub_domain(DNS_PROXY_IP_PLACEHOLDER)
        ),
    ));
    for crd in crds::generated_crds()? {
        out.push(crd);
    }
    Ok(out)
}

/// What `isthmus install` does short of writing: the manifests to print, or the exit code
/// (2 for bad input, 1 when generation fails) and the message for stderr.
pub fn execute(args: InstallArgs) -> Result<String, (u8, String)> {
    let opts = InstallOptions::try_from(args).map_err(|e| (2, format!("error: {e}")))?;
    render(&opts).map_err(|e| (1, format!("error: {e}")))
}

/// [`execute`] with flags as on the command line (without `isthmus install`), parsed by the
/// same parser; a parse error is exit code 2 with clap's message.
pub fn execute_flags(flags: &[&str]) -> Result<String, (u8, String)> {
    use clap::Parser;
    #[derive(Parser)]
    #[command(name = "isthmus install")]
    struct Flags {
        #[command(flatten)]
        args: InstallArgs,
    }
    let argv = std::iter::once("isthmus install").chain(flags.iter().copied());
    let flags = Flags::try_parse_from(argv).map_err(|e| (2, e.to_string()))?;
    execute(flags.args)
}

/// Runs `isthmus install`: prints the manifests to stdout. Exit 0 on success, 2 on bad input,
/// 1 when the manifests cannot be generated or written.
pub fn run(args: InstallArgs) -> ExitCode {
    let text = match execute(args) {
        Ok(t) => t,
        Err((code, message)) => {
            eprintln!("{message}");
            return ExitCode::from(code);
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the manifests: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn args(role: Role) -> InstallArgs {
        InstallArgs {
            role,
            cluster: None,
            network: None,
            namespace: DEFAULT_NAMESPACE.into(),
            image: None,
            dns_proxy_image: None,
            dns_mode: DnsMode::Deployment,
            skip_crds: false,
            crds_only: false,
            propagation: false,
            discovery: None,
            trust_domain: None,
            dns_source: None,
            discovery_url: None,
            discovery_server_name: None,
            istio_version: None,
            istio_revision: None,
            restart_istiod: false,
            istio_wiring: None,
            clusterset_ca: false,
        }
    }

    #[test]
    fn rfc1123_labels() {
        for ok in ["a", "cluster-1", "c0", &"a".repeat(63)] {
            assert!(isthmus_api::names::rfc1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(isthmus_api::names::rfc1123_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hub_istio_wiring_clusterset_ca_and_restarts() {
        let args_of =
            |a: InstallArgs| manifests::controller_args(&InstallOptions::try_from(a).unwrap());
        let has = |args: &[String], flag: &str| args.iter().any(|a| a == flag);
        // Istio wiring is on by default, the CA and restarts are not.
        let default = args_of(args(Role::Hub));
        assert!(has(&default, "--istio-wiring"));
        assert!(!has(&default, "--ca-root") && !has(&default, "--restart-istiod"));
        let mut a = args(Role::Hub);
        a.istio_wiring = Some(false);
        assert!(!has(&args_of(a), "--istio-wiring"));
        // The CA mounts its Secret and passes its directory.
        let mut a = args(Role::Hub);
        a.clusterset_ca = true;
        a.restart_istiod = true;
        let opts = InstallOptions::try_from(a).unwrap();
        let got = manifests::controller_args(&opts);
        let at = got.iter().position(|x| x == "--ca-root").unwrap();
        assert_eq!(got[at + 1], manifests::CA_ROOT_DIR);
        assert!(has(&got, "--restart-istiod"));
        let text = render(&opts).unwrap();
        assert!(text.contains(manifests::CA_ROOT_SECRET), "{text}");
        // Restarts need the CA; the CA needs the wiring; neither is a member flag.
        let mut a = args(Role::Hub);
        a.restart_istiod = true;
        let e = InstallOptions::try_from(a).err().map(|e| e.to_string());
        assert!(e.unwrap().starts_with("--restart-istiod:"));
        let mut a = args(Role::Hub);
        a.clusterset_ca = true;
        a.istio_wiring = Some(false);
        assert!(InstallOptions::try_from(a).is_err());
        let mut a = args(Role::Member);
        a.cluster = Some("east".into());
        a.network = Some("n".into());
        a.clusterset_ca = true;
        assert!(InstallOptions::try_from(a).is_err());
    }

    #[test]
    fn crds_only_prints_just_the_crds() {
        let mut a = args(Role::Member);
        a.cluster = Some("east".into());
        a.network = Some("net-east".into());
        let all = render_objects(&InstallOptions::try_from(a.clone()).unwrap()).unwrap();
        a.crds_only = true;
        let only = render_objects(&InstallOptions::try_from(a).unwrap()).unwrap();
        let kinds: Vec<&str> = only.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
        assert!(
            kinds.iter().all(|k| *k == "CustomResourceDefinition"),
            "{kinds:?}"
        );
        let crds_in_all: Vec<&Value> = all
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .collect();
        assert_eq!(crds_in_all.len(), only.len());
        assert!(all.len() > only.len());
    }

    #[test]
    fn member_needs_cluster_and_network() {
        let e = InstallOptions::try_from(args(Role::Member))
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("--cluster: required with --role member"));
        let mut a = args(Role::Member);
        a.cluster = Some("east".into());
        let e = InstallOptions::try_from(a.clone())
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("--network: required with --role member"));
        a.network = Some("net 1".into());
        assert!(matches!(
            InstallOptions::try_from(a.clone()),
            Err(InstallError::Invalid {
                flag: "--network",
                ..
            })
        ));
        a.network = Some("network1".into());
        a.cluster = Some("East".into());
        assert!(matches!(
            InstallOptions::try_from(a.clone()),
            Err(InstallError::Invalid {
                flag: "--cluster",
                ..
            })
        ));
        a.cluster = Some("east".into());
        let o = InstallOptions::try_from(a);
        assert!(
            matches!(o, Ok(ref o) if o.cluster.as_deref() == Some("east") && o.image == default_controller_image())
        );
    }

    #[test]
    fn hub_rejects_member_flags_and_bad_images() {
        let mut a = args(Role::Hub);
        a.cluster = Some("east".into());
        assert!(matches!(
            InstallOptions::try_from(a),
            Err(InstallError::Invalid {
                flag: "--cluster",
                ..
            })
        ));
        let mut a = args(Role::Hub);
        a.image = Some("my image".into());
        assert!(matches!(
            InstallOptions::try_from(a),
            Err(InstallError::Invalid {
                flag: "--image",
                ..
            })
        ));
        let mut a = args(Role::Hub);
        a.namespace = "Isthmus".into();
        assert!(matches!(
            InstallOptions::try_from(a),
            Err(InstallError::Invalid {
                flag: "--namespace",
                ..
            })
        ));
    }

    #[test]
    fn default_images_carry_the_crate_version_and_no_registry() {
        assert_eq!(
            default_controller_image(),
            format!("isthmus/mesh-controller:{VERSION}")
        );
        assert_eq!(
            default_dns_proxy_image(),
            format!("isthmus/dns-proxy:{VERSION}")
        );
    }
}
