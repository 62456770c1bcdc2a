//! `isthmus gateway ...`: Istio multi-network configuration, istioctl-compatible.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use gateway_config::clusterset::ClusterSet;
use gateway_config::istio::{self, EastWestParams, ExposeHosts, IstiodSettings};
use gateway_config::remote_secret::{self, RemoteSecretOptions};
use gateway_config::render;

use crate::exit::{EXIT_BAD_INPUT, EXIT_FAILED};

/// The `gateway` subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Print a cluster's east-west gateway (like samples/multicluster/gen-eastwest-gateway.sh).
    Eastwest(EastwestArgs),
    /// Print the cross-network-gateway Gateway (like samples/multicluster/expose-services.yaml).
    ExposeServices(ExposeServicesArgs),
    /// Print the istiod exposure for primary-remote (like samples/multicluster/expose-istiod.yaml).
    ExposeIstiod(ExposeIstiodArgs),
    /// Print a cluster's istiod install settings (meshID, clusterName, network, meshNetworks,
    /// MCS env, SHARED_MESH_CONFIG); with --ambient, the ambient form and its ztunnel and CNI values.
    Istiod(IstiodArgs),
    /// Print istio-remote-secret-<name> from a kubeconfig (like istioctl create-remote-secret);
    /// with --print-rbac, the reader ServiceAccount and RBAC it relies on.
    RemoteSecret(RemoteSecretArgs),
    /// Print the istio-reader ServiceAccount, ClusterRole and ClusterRoleBinding that remote
    /// secrets rely on (same as `remote-secret --print-rbac`).
    RemoteSecretRbac(RbacArgs),
    /// Write everything above for every member of a clusterset into DIR/<cluster>/.
    Render(RenderArgs),
}

/// Install forms of the east-west gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EastwestForm {
    /// `IstioOperator` for `istioctl install -f`.
    IstioOperator,
    /// Values for the `istio/gateway` Helm chart.
    HelmValues,
    /// Gateway API `Gateway` of class `istio-east-west` (ambient mode).
    GatewayApi,
}

#[derive(Debug, Args)]
pub struct EastwestArgs {
    /// Cluster name: checked, but not written (as the upstream script, which ignores it);
    /// with --clusterset, the member to take the settings of.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Network of the cluster (topology.istio.io/network).
    #[arg(long, required_unless_present_any = ["clusterset", "single_cluster"])]
    pub network: Option<String>,
    /// Mesh ID: checked, but not written (as the upstream script, which ignores it).
    #[arg(long, conflicts_with = "clusterset")]
    pub mesh: Option<String>,
    /// A gateway without network topology (no network label, env or value), for a
    /// single-cluster mesh; as the upstream script's --single-cluster, which ignores
    /// --network.
    #[arg(long, conflicts_with = "clusterset")]
    pub single_cluster: bool,
    /// Istio revision.
    #[arg(long, conflicts_with = "clusterset")]
    pub revision: Option<String>,
    /// Take network, mesh ID, revision and gateway exposure of member --cluster from this
    /// clusterset file instead of flags.
    #[arg(long, conflicts_with = "network", requires = "cluster")]
    pub clusterset: Option<PathBuf>,
    /// Output form.
    #[arg(long, value_enum, default_value = "istio-operator")]
    pub form: EastwestForm,
    /// Same as `--form gateway-api` (the upstream script's flag for the ambient gateway).
    #[arg(long, conflicts_with_all = ["form", "single_cluster"])]
    pub ambient: bool,
}

impl EastwestArgs {
    /// The output form, with `--ambient` taken into account.
    fn form(&self) -> EastwestForm {
        if self.ambient {
            EastwestForm::GatewayApi
        } else {
            self.form
        }
    }
}

#[derive(Debug, Args)]
pub struct ExposeServicesArgs {
    /// `all` (*.local, as upstream), `clusterset` (*.svc.clusterset.local), or a
    /// comma-separated list of service hosts such as `reviews.default.svc.cluster.local`.
    #[arg(long, default_value = "all")]
    pub hosts: String,
}

#[derive(Debug, Args)]
pub struct ExposeIstiodArgs {
    /// Istio revision of the istiod to expose.
    #[arg(long)]
    pub revision: Option<String>,
}

/// Install forms of the istiod settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IstiodForm {
    /// `IstioOperator` for `istioctl install -f`.
    IstioOperator,
    /// Values for the `istio/istiod` Helm chart.
    HelmValues,
    /// Values for the `istio/ztunnel` Helm chart (ambient data plane; implies --ambient).
    ZtunnelHelmValues,
    /// Values for the `istio/cni` Helm chart (ambient data plane; implies --ambient).
    CniHelmValues,
}

#[derive(Debug, Args)]
pub struct IstiodArgs {
    /// Clusterset description file.
    #[arg(long)]
    pub clusterset: PathBuf,
    /// Member cluster to print the settings of.
    #[arg(long)]
    pub cluster: String,
    /// Output form.
    #[arg(long, value_enum, default_value = "istio-operator")]
    pub form: IstiodForm,
    /// The ambient form: profile `ambient` and AMBIENT_ENABLE_MULTI_NETWORK=true, as Istio's
    /// ambient multi-network guide installs istiod.
    #[arg(long)]
    pub ambient: bool,
    /// Add ENABLE_MCS_CLUSTER_LOCAL=true: `<svc>.<ns>.svc.cluster.local` then reaches the
    /// caller's own cluster only (also set by `mcsClusterLocal: true` in the clusterset).
    #[arg(long)]
    pub mcs_cluster_local: bool,
}

#[derive(Debug, Args)]
pub struct RemoteSecretArgs {
    /// Name of the cluster the kubeconfig gives access to.
    #[arg(long, required_unless_present = "print_rbac")]
    pub name: Option<String>,
    /// Kubeconfig of that cluster.
    #[arg(long, required_unless_present = "print_rbac")]
    pub kubeconfig: Option<PathBuf>,
    /// Context to use (default: the kubeconfig's current context).
    #[arg(long)]
    pub context: Option<String>,
    /// API server address to write instead of the kubeconfig's.
    #[arg(long)]
    pub server: Option<String>,
    /// `tls-server-name` to write in the generated kubeconfig.
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// Print the istio-reader ServiceAccount, ClusterRole and ClusterRoleBinding instead
    /// (apply them to the cluster the secret gives access to).
    #[arg(long)]
    pub print_rbac: bool,
    /// Istio revision (names the reader ClusterRole, with --print-rbac).
    #[arg(long)]
    pub revision: Option<String>,
}

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Istio revision (names the reader ClusterRole).
    #[arg(long)]
    pub revision: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Clusterset description file.
    #[arg(long, required_unless_present = "example", conflicts_with = "example")]
    pub clusterset: Option<PathBuf>,
    /// Output directory; replaced as a whole.
    #[arg(long)]
    pub output: PathBuf,
    /// Render the built-in 3-cluster, 2-network example clusterset.
    #[arg(long)]
    pub example: bool,
    /// Leave remote secrets out and read no kubeconfig: the controller writes them from each
    /// member's Istio reader token.
    #[arg(long)]
    pub no_remote_secrets: bool,
}

/// A command failure: the message and whether the input was at fault.
#[derive(Debug)]
struct Failure {
    message: String,
    bad_input: bool,
}

impl Failure {
    fn input(e: impl std::fmt::Display) -> Self {
        Self {
            message: e.to_string(),
            bad_input: true,
        }
    }

    fn failed(e: impl std::fmt::Display) -> Self {
        Self {
            message: e.to_string(),
            bad_input: false,
        }
    }
}

type Outcome = Result<(), Failure>;

/// Runs one `gateway` subcommand. Exit 0 on success, 2 on bad input, 1 when writing fails.
pub fn run(command: GatewayCommand) -> ExitCode {
    let outcome = match command {
        GatewayCommand::Eastwest(a) => eastwest(&a),
        GatewayCommand::ExposeServices(a) => expose_services(&a),
        GatewayCommand::ExposeIstiod(a) => expose_istiod(&a),
        GatewayCommand::Istiod(a) => istiod(&a),
        GatewayCommand::RemoteSecret(a) => remote_secret(&a),
        GatewayCommand::RemoteSecretRbac(a) => print_rbac(a.revision.as_deref()),
        GatewayCommand::Render(a) => render_cmd(&a),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(if f.bad_input {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            })
        }
    }
}

fn print_documents(objects: &[Value]) -> Outcome {
    let text = render::to_yaml_documents("stdout", "", objects).map_err(Failure::failed)?;
    print!("{text}");
    Ok(())
}

fn eastwest(a: &EastwestArgs) -> Outcome {
    if a.single_cluster {
        if a.form() == EastwestForm::GatewayApi {
            return Err(Failure::input(
                "--single-cluster: the gateway-api form is the ambient multi-network gateway and needs --network",
            ));
        }
        if let Some(c) = a.cluster.as_deref() {
            isthmus_api::names::rfc1123_label(c)
                .map_err(|e| Failure::input(format!("--cluster: {c:?} {e}")))?;
        }
        if let Some(m) = a.mesh.as_deref() {
            isthmus_api::names::label_value_nonempty(m)
                .map_err(|e| Failure::input(format!("--mesh: {m:?} {e}")))?;
        }
        let p = EastWestParams::single_cluster(a.revision.as_deref())
            .map_err(|e| Failure::input(format!("--{e}")))?;
        let obj = match a.form() {
            EastwestForm::HelmValues => istio::eastwest_helm_values(&p),
            _ => istio::eastwest_istio_operator(&p),
        };
        return print_documents(&[obj]);
    }
    let p = match (&a.clusterset, &a.network) {
        (Some(path), _) => {
            let cs = load(path)?;
            let name = a.cluster.as_deref().unwrap_or_default();
            let member = cs.member(name).ok_or_else(|| {
                Failure::input(format!(
                    "--cluster: {name:?} is not a member of the clusterset ({})",
                    path.display()
                ))
            })?;
            EastWestParams::for_member(&cs, member)
        }
        (None, Some(network)) => EastWestParams::new(
            a.cluster.as_deref(),
            network,
            a.mesh.as_deref(),
            a.revision.as_deref(),
        )
        .map_err(|e| Failure::input(format!("--{e}")))?,
        (None, None) => return Err(Failure::input("--network or --clusterset is required")),
    };
    let obj = match a.form() {
        EastwestForm::IstioOperator => istio::eastwest_istio_operator(&p),
        EastwestForm::HelmValues => istio::eastwest_helm_values(&p),
        EastwestForm::GatewayApi => istio::eastwest_gateway_api(&p),
    };
    print_documents(&[obj])
}

fn expose_services(a: &ExposeServicesArgs) -> Outcome {
    let hosts = ExposeHosts::parse(&a.hosts).map_err(|e| Failure::input(format!("--{e}")))?;
    if hosts == ExposeHosts::Clusterset {
        eprintln!(
            "note: *.svc.clusterset.local only carries traffic Istio addresses by clusterset names \
             (ENABLE_MCS_HOST); requests to *.cluster.local names are not accepted by this gateway"
        );
    }
    print_documents(&[istio::expose_services(&hosts)])
}

fn expose_istiod(a: &ExposeIstiodArgs) -> Outcome {
    if let Some(r) = &a.revision {
        isthmus_api::names::rfc1123_label(r)
            .map_err(|why| Failure::input(format!("--revision: {r:?} {why}")))?;
    }
    print_documents(&istio::expose_istiod(a.revision.as_deref()))
}

fn load(path: &Path) -> Result<ClusterSet, Failure> {
    ClusterSet::load(path).map_err(Failure::input)
}

fn istiod(a: &IstiodArgs) -> Outcome {
    let cs = load(&a.clusterset)?;
    let mut s = IstiodSettings::for_cluster(&cs, &a.cluster)
        .map_err(|e| Failure::input(format!("--cluster: {e} ({})", a.clusterset.display())))?;
    s.mcs_cluster_local |= a.mcs_cluster_local;
    s.ambient = a.ambient
        || matches!(
            a.form,
            IstiodForm::ZtunnelHelmValues | IstiodForm::CniHelmValues
        );
    if s.ambient && s.mesh_networks.is_some() {
        eprintln!(
            "note: ambient multi-network finds other networks' gateways from their istio-east-west \
             Gateway only; the meshNetworks of NodePort and Static members are not used by ztunnel"
        );
    }
    let obj = match a.form {
        IstiodForm::IstioOperator => s.istio_operator(),
        IstiodForm::HelmValues => s.helm_values(),
        IstiodForm::ZtunnelHelmValues => s.ztunnel_helm_values(),
        IstiodForm::CniHelmValues => s.cni_helm_values(),
    };
    print_documents(&[obj])
}

fn print_rbac(revision: Option<&str>) -> Outcome {
    if let Some(r) = revision {
        isthmus_api::names::rfc1123_label(r)
            .map_err(|why| Failure::input(format!("--revision: {r:?} {why}")))?;
    }
    let rbac = remote_secret::reader_rbac(revision);
    let objects = [
        serde_json::to_value(&rbac.service_account),
        serde_json::to_value(&rbac.cluster_role),
        serde_json::to_value(&rbac.cluster_role_binding),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(Failure::failed)?;
    print_documents(&objects)
}

fn remote_secret(a: &RemoteSecretArgs) -> Outcome {
    if a.print_rbac && a.name.is_none() && a.kubeconfig.is_none() {
        return print_rbac(a.revision.as_deref());
    }
    let (Some(name), Some(path)) = (&a.name, &a.kubeconfig) else {
        return Err(Failure::input("--name and --kubeconfig are required"));
    };
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::input(format!(
            "--kubeconfig: {}: cannot read: {e}",
            path.display()
        ))
    })?;
    let opts = RemoteSecretOptions {
        context: a.context.clone(),
        server: a.server.clone(),
        tls_server_name: a.tls_server_name.clone(),
        base_dir: path.parent().map(Path::to_path_buf),
        origin: path.display().to_string(),
        namespace: None,
    };
    let rs = remote_secret::remote_secret(name, &bytes, &opts).map_err(Failure::input)?;
    for w in &rs.warnings {
        eprintln!("warn: {w}");
    }
    let text = remote_secret::remote_secret_yaml(&rs.secret).map_err(Failure::failed)?;
    if a.print_rbac {
        // The RBAC belongs in the cluster the kubeconfig points to, the secret in the others.
        print_rbac(a.revision.as_deref())?;
        println!("---");
    }
    print!("{text}");
    Ok(())
}

fn render_cmd(a: &RenderArgs) -> Outcome {
    let (cs, origin) = match (&a.clusterset, a.example) {
        (_, true) => {
            let origin = PathBuf::from("<built-in example>");
            let cs = ClusterSet::from_yaml(render::EXAMPLE_CLUSTERSET, &origin)
                .map_err(Failure::failed)?;
            (cs, origin)
        }
        (Some(path), false) => (load(path)?, path.clone()),
        (None, false) => return Err(Failure::input("--clusterset or --example is required")),
    };
    let secrets = if a.no_remote_secrets {
        render::RemoteSecrets::FromController
    } else {
        render::RemoteSecrets::FromKubeconfigs
    };
    let rendered = render::render_with(&cs, secrets)
        .map_err(|e| Failure::input(format!("{}: {e}", origin.display())))?;
    for n in &rendered.notes {
        eprintln!("note: {n}");
    }
    render::write_atomically(&a.output, &rendered).map_err(|e| match e {
        render::RenderError::ForeignOutput(_) => Failure::input(e),
        other => Failure::failed(other),
    })?;
    eprintln!(
        "wrote {} files for {} clusters to {}",
        rendered.files.len(),
        cs.members.len(),
        a.output.display()
    );
    Ok(())
}
