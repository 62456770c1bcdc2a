//! `isthmus ca ...`: the clusterset CA on the command line.
//!
//! Exit codes: 0 success; 2 ([`EXIT_BAD_INPUT`]) for bad flags or unreadable, malformed or
//! unsuitable input, in which case nothing is written; 1 ([`EXIT_FAILED`]) when `verify` finds
//! a failed check or writing fails.

mod fsio;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use jiff::{SignedDuration, Timestamp};

use self::fsio::{
    CERT_MODE, KEY_MODE, Layout, OutFile, ROOT_CERT_FILE, ROOT_KEY_FILE, SECRET_FILE, bundle_files,
    check_overwrite, display, read_bundle, read_root, read_root_cert, read_text, write_files,
};
use crate::exit::{EXIT_BAD_INPUT, EXIT_FAILED};
use gateway_config::ca::{
    CaCerts, CaError, IntermediateOptions, KeyType, LeafOptions, LeafRole, LeafSigner,
    RenewalPolicy, RootCa, RootOptions, Rotation, RotationStep, TLS_CA_FILE, TLS_CERT_FILE,
    TLS_KEY_FILE, intermediate_not_after, issue_intermediate, issue_leaf, leaf_not_after,
    plan_cacerts, rotation_bundle, validate_cluster_name, verify_bundle,
};

/// The `ca` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a new root CA: DIR/root-cert.pem and DIR/root-key.pem (mode 0600).
    Init(InitArgs),
    /// Issue a cluster's intermediate CA as Istio's plug-in `cacerts` bundle.
    Issue(IssueArgs),
    /// Check a cacerts bundle (directory of the four PEM files, or a Secret manifest).
    Verify(VerifyArgs),
    /// Produce every cluster's bundle for one step of a root rotation.
    Rotate(RotateArgs),
    /// Re-issue intermediates that expire within a threshold (or are invalid); keep the rest.
    Renew(RenewArgs),
    /// Issue a leaf certificate for the discovery channel: the controller's server
    /// certificate or a DNS proxy's client certificate (tls.crt, tls.key, ca.crt).
    Leaf(LeafArgs),
}

/// Key algorithm flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyTypeArg {
    /// ECDSA P-256 (default).
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    /// RSA 4096 (Istio's tools default; slow to generate).
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl From<KeyTypeArg> for KeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::EcdsaP256 => KeyType::EcdsaP256,
            KeyTypeArg::Rsa4096 => KeyType::Rsa4096,
        }
    }
}

/// Output form of `issue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IssueFormat {
    /// ca-cert.pem, ca-key.pem (0600), cert-chain.pem, root-cert.pem.
    Files,
    /// The `cacerts` Secret manifest: DIR/cacerts.yaml (0600), or stdout with `--out -`.
    Secret,
}

/// Output form of `rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RotateFormat {
    /// The four PEM files per cluster.
    Files,
    /// cacerts.yaml per cluster.
    Secret,
    /// Both.
    Both,
}

/// `ca init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write root-cert.pem and root-key.pem into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyTypeArg,
    /// Subject organisation (O).
    #[arg(long, default_value = gateway_config::ca::DEFAULT_ORG)]
    pub org: String,
    /// Subject common name (CN).
    #[arg(long, default_value = gateway_config::ca::DEFAULT_ROOT_CN)]
    pub common_name: String,
    /// Lifetime in days.
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub validity_days: u32,
    /// Overwrite an existing root in DIR.
    #[arg(long)]
    pub force: bool,
}

/// `ca issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Directory holding root-cert.pem and root-key.pem.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Cluster name (RFC 1123 label); goes into the subject's L.
    #[arg(long)]
    pub cluster: String,
    /// Output directory, or `-` for stdout (with --format secret).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value = "files")]
    pub format: IssueFormat,
    /// Lifetime in days; cut to the root's expiry when longer.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub validity_days: u32,
    /// Key algorithm of the intermediate.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyTypeArg,
    /// Overwrite existing files in the output directory.
    #[arg(long)]
    pub force: bool,
}

/// Output form of `leaf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LeafFormat {
    /// tls.crt, tls.key (0600), ca.crt.
    Files,
    /// A `kubernetes.io/tls` Secret with ca.crt: DIR/tls-secret.yaml (0600), or stdout with
    /// `--out -`.
    Secret,
}

/// `ca leaf`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("role").required(true).args(["server_dns", "dns_proxy_cluster"])
))]
pub struct LeafArgs {
    /// The signing CA: a directory as `ca issue` writes it (ca-cert.pem, ca-key.pem,
    /// cert-chain.pem, root-cert.pem, or cacerts.yaml), or a root directory as `ca init`
    /// writes it (root-cert.pem, root-key.pem).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// Output directory, or `-` for stdout (with --format secret).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Issue a server certificate (extendedKeyUsage serverAuth) for these names
    /// (comma-separated; an IP address becomes an IP SAN).
    #[arg(long, value_name = "NAME[,NAME..]", value_delimiter = ',')]
    pub server_dns: Vec<String>,
    /// Issue a DNS proxy client certificate (extendedKeyUsage clientAuth) for this member
    /// cluster: URI SAN spiffe://<trust-domain>/isthmus/dns-proxy/<cluster>. --ca must be this
    /// cluster's own intermediate or the root.
    #[arg(long, value_name = "CLUSTER", requires = "trust_domain")]
    pub dns_proxy_cluster: Option<String>,
    /// SPIFFE trust domain of the client certificate's URI SAN (for example cluster.local).
    #[arg(long, value_name = "TD", requires = "dns_proxy_cluster")]
    pub trust_domain: Option<String>,
    /// Lifetime in days; cut to the signing CA's expiry when longer.
    #[arg(long, alias = "validity", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub validity_days: u32,
    /// Key algorithm of the leaf.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyTypeArg,
    /// Output form.
    #[arg(long, value_enum, default_value = "files")]
    pub format: LeafFormat,
    /// Name of the Secret (--format secret); default isthmus-discovery-tls for a server,
    /// isthmus-dns-proxy-tls for a DNS proxy.
    #[arg(long)]
    pub secret_name: Option<String>,
    /// Namespace of the Secret (--format secret).
    #[arg(long, default_value = "isthmus-system")]
    pub namespace: String,
    /// Overwrite existing files in the output directory.
    #[arg(long)]
    pub force: bool,
}

/// `ca verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A directory with ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem, or a cacerts
    /// Secret manifest (YAML or JSON).
    #[arg(value_name = "DIR|SECRET.yaml")]
    pub input: PathBuf,
}

/// `ca rotate`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("members").required(true).args(["clusters", "clusterset"]))]
pub struct RotateArgs {
    /// Directory of the root being retired (root-cert.pem; its key is not needed).
    #[arg(long, value_name = "DIR")]
    pub root_old: PathBuf,
    /// Directory of the new root (root-cert.pem; root-key.pem for step 2).
    #[arg(long, value_name = "DIR")]
    pub root_new: PathBuf,
    /// Comma-separated cluster names.
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub clusters: Vec<String>,
    /// YAML file with `members: [{name: ...}]`.
    #[arg(long, value_name = "FILE")]
    pub clusterset: Option<PathBuf>,
    /// Rotation step: 1 add the new root, 2 switch intermediates, 3 drop the old root.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub step: u8,
    /// Directory with one sub-directory per cluster holding its current bundle.
    #[arg(long, value_name = "DIR")]
    pub bundle_dir: PathBuf,
    /// Output directory; bundles go to OUT/<cluster>/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value = "both")]
    pub format: RotateFormat,
    /// Lifetime in days of the intermediates step 2 issues.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub validity_days: u32,
    /// Key algorithm of the intermediates step 2 issues.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_type: KeyTypeArg,
    /// Overwrite existing output.
    #[arg(long)]
    pub force: bool,
}

/// `ca renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Directory holding root-cert.pem and root-key.pem.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Directory with one sub-directory per cluster; renewed bundles are written back there in
    /// the form found (files, cacerts.yaml or both).
    #[arg(long, value_name = "DIR")]
    pub bundle_dir: PathBuf,
    /// Re-issue intermediates expiring within this many days.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=36500))]
    pub threshold_days: u32,
    /// Lifetime in days of re-issued intermediates.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub validity_days: u32,
}

/// Errors of the `ca` commands, each mapped to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Unsuitable input found by the CA library.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// A file could not be read.
    #[error("{}: cannot read: {problem}", path.display())]
    Read { path: PathBuf, problem: String },
    /// A file could not be written.
    #[error("{}: cannot write: {problem}", path.display())]
    Write { path: PathBuf, problem: String },
    /// Bad flags or input, found by the command itself.
    #[error("{0}")]
    Input(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Ca(CaError::Crypto { .. }) | CliError::Write { .. } => EXIT_FAILED,
            CliError::Ca(_) | CliError::Read { .. } | CliError::Input(_) => EXIT_BAD_INPUT,
        }
    }
}

/// Runs one `ca` subcommand and returns the process exit code.
pub fn run(cmd: CaCommand) -> ExitCode {
    let now = Timestamp::now();
    let result = match cmd {
        CaCommand::Init(a) => init(&a, now),
        CaCommand::Issue(a) => issue(&a, now),
        CaCommand::Verify(a) => verify(&a, now),
        CaCommand::Rotate(a) => rotate(&a, now),
        CaCommand::Renew(a) => renew(&a, now),
        CaCommand::Leaf(a) => leaf(&a, now),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn days(n: u32) -> SignedDuration {
    SignedDuration::from_hours(24 * i64::from(n))
}

fn init(a: &InitArgs, now: Timestamp) -> Result<u8, CliError> {
    check_overwrite(&a.out, &[ROOT_CERT_FILE, ROOT_KEY_FILE], a.force)?;
    let options = RootOptions {
        key_type: a.key_type.into(),
        organisation: a.org.clone(),
        common_name: a.common_name.clone(),
        validity: days(a.validity_days),
    };
    let root = RootCa::generate(&options, now)?;
    let files = [
        OutFile {
            name: ROOT_CERT_FILE,
            content: root.cert_pem(),
            mode: CERT_MODE,
        },
        OutFile {
            name: ROOT_KEY_FILE,
            content: root.key_pem(),
            mode: KEY_MODE,
        },
    ];
    write_files(&a.out, &files)?;
    tracing::info!(dir = %a.out.display(), key_type = %options.key_type, "root CA created");
    println!(
        "wrote {} ({}, {}, valid until {})",
        display(&a.out.join(ROOT_CERT_FILE)),
        root.cert().subject(),
        options.key_type,
        root.cert().not_after()
    );
    println!(
        "wrote {} (mode 0600): keep it offline",
        display(&a.out.join(ROOT_KEY_FILE))
    );
    Ok(0)
}

fn issue(a: &IssueArgs, now: Timestamp) -> Result<u8, CliError> {
    validate_cluster_name(&a.cluster)?;
    let to_stdout = a.out.as_os_str() == "-";
    if to_stdout && a.format != IssueFormat::Secret {
        return Err(CliError::Input(
            "--out - (stdout) needs --format secret".into(),
        ));
    }
    let layout = match a.format {
        IssueFormat::Files => Layout::Files,
        IssueFormat::Secret => Layout::Secret,
    };
    if !to_stdout {
        let names: Vec<&str> = match layout {
            Layout::Files => CaCerts::FILE_NAMES.to_vec(),
            _ => vec![SECRET_FILE],
        };
        check_overwrite(&a.out, &names, a.force)?;
    }
    let root = read_root(&a.root, now)?;
    let options = IntermediateOptions {
        key_type: a.key_type.into(),
        validity: days(a.validity_days),
        organisation: None,
    };
    let (not_after, clamped) = intermediate_not_after(root.cert(), options.validity, now);
    let bundle = issue_intermediate(&root, &a.cluster, &options, now)?;
    if clamped {
        eprintln!(
            "note: --validity-days {} reaches past the root's expiry; the intermediate ends with \
             the root at {not_after}",
            a.validity_days
        );
    }
    if to_stdout {
        print!("{}", bundle.to_secret_yaml()?);
        eprintln!(
            "issued intermediate for cluster {} (valid until {not_after})",
            a.cluster
        );
        return Ok(0);
    }
    let written = write_files(&a.out, &bundle_files(&bundle, layout)?)?;
    tracing::info!(cluster = %a.cluster, dir = %a.out.display(), "intermediate issued");
    println!(
        "issued intermediate for cluster {} (valid until {not_after})",
        a.cluster
    );
    for p in written {
        println!("wrote {}", display(&p));
    }
    Ok(0)
}

/// File name of the Secret manifest `leaf --format secret` writes.
const LEAF_SECRET_FILE: &str = "tls-secret.yaml";

/// The signer in `dir`: an intermediate bundle when `ca-cert.pem` or `cacerts.yaml` is
/// there, else the root when `root-key.pem` is.
fn read_leaf_signer(dir: &Path, now: Timestamp) -> Result<LeafSigner, CliError> {
    let has = |name: &str| dir.join(name).exists();
    if has(CaCerts::FILE_NAMES[0]) || has(SECRET_FILE) {
        let Some((bundle, _)) = read_bundle(dir)? else {
            return Err(CliError::Input(format!(
                "{}: no CA bundle found",
                display(dir)
            )));
        };
        return Ok(LeafSigner::from_cacerts(&bundle, &display(dir), now)?);
    }
    if has(ROOT_KEY_FILE) {
        return Ok(LeafSigner::from_root(&read_root(dir, now)?)?);
    }
    Err(CliError::Input(format!(
        "--ca {}: holds neither an intermediate (ca-cert.pem, ca-key.pem, cert-chain.pem, \
         root-cert.pem or {SECRET_FILE}) nor a root ({ROOT_CERT_FILE}, {ROOT_KEY_FILE})",
        display(dir)
    )))
}

fn leaf(a: &LeafArgs, now: Timestamp) -> Result<u8, CliError> {
    let role = match (&a.dns_proxy_cluster, &a.trust_domain) {
        (Some(cluster), Some(td)) => LeafRole::DnsProxyClient {
            cluster: cluster.clone(),
            trust_domain: td.clone(),
        },
        _ => LeafRole::Server {
            names: a
                .server_dns
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
        },
    };
    role.validate()?;
    let to_stdout = a.out.as_os_str() == "-";
    if to_stdout && a.format != LeafFormat::Secret {
        return Err(CliError::Input(
            "--out - (stdout) needs --format secret".into(),
        ));
    }
    let secret_name = a
        .secret_name
        .clone()
        .unwrap_or_else(|| role.default_secret_name().to_string());
    if a.format == LeafFormat::Secret {
        isthmus_api::names::rfc1123_subdomain(&secret_name)
            .map_err(|e| CliError::Input(format!("--secret-name: {secret_name:?} {e}")))?;
        isthmus_api::names::rfc1123_label(&a.namespace)
            .map_err(|e| CliError::Input(format!("--namespace: {:?} {e}", a.namespace)))?;
    }
    let names: Vec<&str> = match a.format {
        LeafFormat::Files => vec![TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE],
        LeafFormat::Secret => vec![LEAF_SECRET_FILE],
    };
    if !to_stdout {
        check_overwrite(&a.out, &names, a.force)?;
    }
    let signer = read_leaf_signer(&a.ca, now)?;
    if let LeafRole::DnsProxyClient { cluster, .. } = &role
        && let Some(what) = signer.foreign_to(cluster)
    {
        return Err(CliError::Input(format!(
            "--dns-proxy-cluster {cluster}: --ca {} holds {what}, which may not sign cluster \
             {cluster}'s DNS proxy identity; issue it from cluster {cluster}'s own intermediate \
             (`ca issue --cluster {cluster}`) or from the root",
            display(&a.ca)
        )));
    }
    let options = LeafOptions {
        key_type: a.key_type.into(),
        validity: days(a.validity_days),
    };
    let (not_after, clamped) = leaf_not_after(&signer, options.validity, now);
    let cert = issue_leaf(&signer, &role, &options, now)?;
    if clamped {
        eprintln!(
            "note: --validity-days {} reaches past the signing CA's expiry; the certificate \
             ends with it at {not_after}",
            a.validity_days
        );
    }
    let what = match &role {
        LeafRole::Server { names } => format!("server certificate for {}", names.join(",")),
        LeafRole::DnsProxyClient {
            cluster,
            trust_domain,
        } => format!(
            "DNS proxy client certificate {}",
            gateway_config::ca::dns_proxy_spiffe_id(trust_domain, cluster)
        ),
    };
    if to_stdout {
        print!("{}", cert.to_secret_yaml(&secret_name, &a.namespace)?);
        eprintln!(
            "issued {what} signed by {} (valid until {not_after})",
            signer.subject()
        );
        return Ok(0);
    }
    let files: Vec<OutFile> = match a.format {
        LeafFormat::Files => cert
            .files()
            .into_iter()
            .map(|(name, content)| OutFile {
                name,
                content: content.to_string(),
                mode: if name == TLS_KEY_FILE {
                    KEY_MODE
                } else {
                    CERT_MODE
                },
            })
            .collect(),
        LeafFormat::Secret => vec![OutFile {
            name: LEAF_SECRET_FILE,
            content: cert.to_secret_yaml(&secret_name, &a.namespace)?,
            mode: KEY_MODE,
        }],
    };
    let written = write_files(&a.out, &files)?;
    tracing::info!(dir = %a.out.display(), "leaf certificate issued");
    println!(
        "issued {what} signed by {} (valid until {not_after})",
        signer.subject()
    );
    for p in written {
        println!("wrote {}", display(&p));
    }
    Ok(0)
}

fn verify(a: &VerifyArgs, now: Timestamp) -> Result<u8, CliError> {
    let input = &a.input;
    let bundle = if input.is_dir() {
        let mut parts = Vec::new();
        for name in CaCerts::FILE_NAMES {
            let path = input.join(name);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(CliError::Read {
                        path,
                        problem: e.to_string(),
                    });
                }
            };
            parts.push((name, text));
        }
        CaCerts::from_lookup(|n| {
            parts
                .iter()
                .find(|(p, _)| *p == n)
                .and_then(|(_, t)| t.clone())
        })
    } else {
        CaCerts::from_secret_yaml(&read_text(input)?, &display(input))?
    };
    let report = verify_bundle(&bundle, now);
    println!("bundle {}", display(input));
    for c in &report.checks {
        println!(
            "  [{}] {}: {}",
            if c.ok { " ok " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    println!("expiry:");
    for c in &report.certs {
        println!(
            "  {:<22} {:>6} days  {}  ({})",
            c.part, c.days_left, c.not_after, c.subject
        );
    }
    if report.malformed() {
        eprintln!(
            "error: {}: part of the bundle cannot be parsed",
            display(input)
        );
        return Ok(EXIT_BAD_INPUT);
    }
    if report.is_ok() {
        println!("OK");
        Ok(0)
    } else {
        let n = report.failures().count();
        eprintln!("FAILED: {n} check(s) failed");
        Ok(EXIT_FAILED)
    }
}

/// `members: [{name: ...}]`; other fields are ignored.
#[derive(serde::Deserialize)]
struct ClustersetFile {
    members: Vec<Member>,
}

#[derive(serde::Deserialize)]
struct Member {
    name: String,
}

fn cluster_list(a: &RotateArgs) -> Result<Vec<String>, CliError> {
    let names: Vec<String> = match &a.clusterset {
        Some(path) => {
            let text = read_text(path)?;
            let file: ClustersetFile = serde_saphyr::from_str(&text).map_err(|e| {
                CliError::Input(format!(
                    "{}: members: expected a list of {{name: ...}}: {e}",
                    display(path)
                ))
            })?;
            file.members.into_iter().map(|m| m.name).collect()
        }
        None => a.clusters.iter().map(|c| c.trim().to_string()).collect(),
    };
    if names.is_empty() {
        return Err(CliError::Input("no clusters given".into()));
    }
    let mut seen = BTreeSet::new();
    for n in &names {
        validate_cluster_name(n)?;
        if !seen.insert(n.clone()) {
            return Err(CliError::Input(format!("cluster {n:?} is listed twice")));
        }
    }
    Ok(names)
}

fn rotate(a: &RotateArgs, now: Timestamp) -> Result<u8, CliError> {
    let step = RotationStep::from_number(a.step)?;
    let clusters = cluster_list(a)?;
    let layout = match a.format {
        RotateFormat::Files => Layout::Files,
        RotateFormat::Secret => Layout::Secret,
        RotateFormat::Both => Layout::Both,
    };
    let old_root = read_root_cert(&a.root_old)?;
    let new_root = read_root_cert(&a.root_new)?;
    let signer = match step {
        RotationStep::SwitchIntermediate => Some(read_root(&a.root_new, now)?),
        _ => None,
    };
    let options = IntermediateOptions {
        key_type: a.key_type.into(),
        validity: days(a.validity_days),
        organisation: None,
    };
    let rotation = Rotation {
        old_root: &old_root,
        new_root: &new_root,
        new_signer: signer.as_ref(),
        intermediate: &options,
    };

    // Compute every cluster's bundle before writing anything.
    let mut outputs = Vec::new();
    for cluster in &clusters {
        let dir = a.bundle_dir.join(cluster);
        let (current, _) = read_bundle(&dir)?.ok_or_else(|| {
            CliError::Input(format!(
                "{}: no bundle (ca-cert.pem... or cacerts.yaml) for cluster {cluster}",
                display(&dir)
            ))
        })?;
        let next = rotation_bundle(&rotation, step, cluster, &current, now)?;
        let out_dir = a.out.join(cluster);
        let files = bundle_files(&next, layout)?;
        let names: Vec<&str> = files.iter().map(|f| f.name).collect();
        check_overwrite(&out_dir, &names, a.force)?;
        outputs.push((cluster, out_dir, files));
    }
    println!(
        "root rotation step {} of 3, {} cluster(s)",
        step.number(),
        clusters.len()
    );
    println!("this step assumes, in every cluster:");
    for p in step.preconditions() {
        println!("  - {p}");
    }
    for (cluster, out_dir, files) in &outputs {
        let written = write_files(out_dir, files)?;
        tracing::info!(cluster = %cluster, step = step.number(), "rotation bundle written");
        for p in written {
            println!("wrote {}", display(&p));
        }
    }
    println!("next:");
    for p in step.after() {
        println!("  - {p}");
    }
    if let Ok(next) = RotationStep::from_number(step.number() + 1) {
        println!(
            "before step {}, all of this must hold in every cluster:",
            next.number()
        );
        for p in next.preconditions() {
            println!("  - {p}");
        }
    }
    Ok(0)
}

fn renew(a: &RenewArgs, now: Timestamp) -> Result<u8, CliError> {
    let root = read_root(&a.root, now)?;
    let policy = RenewalPolicy {
        validity: days(a.validity_days),
        renew_before: days(a.threshold_days),
    };
    let entries = std::fs::read_dir(&a.bundle_dir).map_err(|e| CliError::Read {
        path: a.bundle_dir.clone(),
        problem: e.to_string(),
    })?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CliError::Read {
            path: a.bundle_dir.clone(),
            problem: e.to_string(),
        })?;
        if entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();

    // Decide for every cluster before writing anything.
    let mut plans = Vec::new();
    for dir in &dirs {
        let Some((current, layout)) = read_bundle(dir)? else {
            continue;
        };
        let cluster = cluster_of(dir)?;
        let decision = plan_cacerts(&root, &cluster, Some(&current), &policy, now)?;
        plans.push((cluster, dir.clone(), layout, decision));
    }
    if plans.is_empty() {
        return Err(CliError::Input(format!(
            "{}: no cluster bundle found (expected DIR/<cluster>/ca-cert.pem... or cacerts.yaml)",
            display(&a.bundle_dir)
        )));
    }
    for (cluster, dir, layout, decision) in &plans {
        if decision.reused {
            println!("kept    {cluster}: {}", decision.reason);
            continue;
        }
        write_files(dir, &bundle_files(&decision.cacerts, *layout)?)?;
        tracing::info!(cluster = %cluster, "intermediate renewed");
        println!(
            "renewed {cluster}: {} -> wrote {}",
            decision.reason,
            display(dir)
        );
    }
    Ok(0)
}

fn cluster_of(dir: &Path) -> Result<String, CliError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::Input(format!("{}: directory name is not UTF-8", display(dir))))?;
    validate_cluster_name(name)?;
    Ok(name.to_string())
}
