//! The `place` dry-run command: which policy claims a resource, where its replicas go and what
//! each cluster receives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use isthmus_placement::load::{self, LoadError};
use isthmus_placement::model::PropagationPolicy;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Pretty JSON.
    Json,
    /// YAML.
    Yaml,
    /// Human-readable table.
    Table,
}

/// Arguments of `place`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlaceArgs {
    /// Multi-document YAML of MemberCluster and/or Karmada Cluster objects.
    #[arg(long, value_name = "FILE")]
    pub clusters: PathBuf,
    /// Multi-document YAML of (Cluster)PropagationPolicy and (Cluster)OverridePolicy objects.
    #[arg(long, value_name = "FILE")]
    pub policies: PathBuf,
    /// The resource template to place.
    #[arg(long, value_name = "FILE")]
    pub resource: PathBuf,
    /// YAML map of cluster -> replicas from the previous round.
    #[arg(long, value_name = "FILE")]
    pub previous: Option<PathBuf>,
    /// Affinity group used in the previous round (clusterAffinities failover starts here).
    #[arg(long, value_name = "NAME")]
    pub observed_affinity: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Reference to the claiming policy in the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyOut {
    /// Kind.
    pub kind: String,
    /// Namespace (null for cluster-scoped policies).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// Error in the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorOut {
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// The whole result of `place`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOutput {
    /// Claiming policy.
    pub policy: Option<PolicyOut>,
    /// Cluster -> replicas.
    pub placements: Option<BTreeMap<String, i32>>,
    /// Affinity group used.
    pub observed_affinity: Option<String>,
    /// Cluster -> manifest after overrides.
    pub manifests: Option<BTreeMap<String, Value>>,
    /// Failure.
    pub error: Option<ErrorOut>,
}

/// Errors of the command outside scheduling (bad input).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A document is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An input holds nothing to place with.
    #[error("{path}: holds no {what}; nothing to place with")]
    Empty {
        /// The file.
        path: String,
        /// What it should hold.
        what: &'static str,
    },
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn policy_out(p: &PropagationPolicy) -> PolicyOut {
    PolicyOut {
        kind: p.kind().to_string(),
        namespace: (!p.namespace.is_empty()).then(|| p.namespace.clone()),
        name: p.name.clone(),
    }
}

/// Compute the output for the given arguments; `Err` only for bad input: an unreadable or
/// invalid file, or a clusters or policies file that holds no cluster or no propagation
/// policy (an empty input is not a scheduling result).
pub fn evaluate(args: &PlaceArgs) -> Result<PlaceOutput, CliError> {
    let clusters_name = args.clusters.display().to_string();
    let clusters = load::clusters_from_yaml(&clusters_name, &read(&args.clusters)?)?;
    if clusters.is_empty() {
        return Err(CliError::Empty {
            path: clusters_name,
            what: "MemberCluster or Cluster object",
        });
    }
    let policies_name = args.policies.display().to_string();
    let policies = load::policies_from_yaml(&policies_name, &read(&args.policies)?)?;
    if policies.propagation.is_empty() {
        return Err(CliError::Empty {
            path: policies_name,
            what: "PropagationPolicy or ClusterPropagationPolicy",
        });
    }
    let resource_name = args.resource.display().to_string();
    let resource = load::resource_from_yaml(&resource_name, &read(&args.resource)?)?;
    let previous = match &args.previous {
        Some(p) => load::previous_from_yaml(&p.display().to_string(), &read(p)?)?,
        None => BTreeMap::new(),
    };
    let mut out = PlaceOutput {
        policy: None,
        placements: None,
        observed_affinity: None,
        manifests: None,
        error: None,
    };
    let Some(policy) = isthmus_placement::match_policy(&resource, &policies.propagation, None)
    else {
        out.error = Some(ErrorOut {
            reason: "NoMatchingPolicy".into(),
            message: format!(
                "no PropagationPolicy or ClusterPropagationPolicy in {policies_name} selects {} {} {}",
                resource.api_version,
                resource.kind,
                if resource.namespace.is_empty() {
                    resource.name.clone()
                } else {
                    format!("{}/{}", resource.namespace, resource.name)
                }
            ),
        });
        return Ok(out);
    };
    out.policy = Some(policy_out(policy));
    match isthmus_placement::schedule(
        &policy.spec.placement,
        &resource,
        &clusters,
        &previous,
        args.observed_affinity.as_deref(),
    ) {
        Ok(decision) => {
            out.observed_affinity = decision.observed_affinity.clone();
            match isthmus_placement::render_manifests(
                &resource,
                &policy.spec.placement,
                &decision.placements,
                &clusters,
                &policies.overrides,
            ) {
                Ok(manifests) => {
                    out.placements = Some(decision.placements);
                    out.manifests = Some(manifests);
                }
                Err(e) => {
                    out.placements = Some(decision.placements);
                    out.error = Some(ErrorOut {
                        reason: "OverrideFailed".into(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Err(e) => {
            out.error = Some(ErrorOut {
                reason: e.reason().to_string(),
                message: e.to_string(),
            });
        }
    }
    Ok(out)
}

/// Render the output in the requested format.
pub fn render(out: &PlaceOutput, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(out).unwrap_or_else(|e| {
                format!(
                    "{{\"error\": {{\"reason\": \"Internal\", \"message\": {:?}}}}}",
                    e.to_string()
                )
            }) + "\n"
        }
        OutputFormat::Yaml => match isthmus_api::yaml::to_string(out) {
            Ok(s) => s,
            Err(e) => format!(
                "error:\n  reason: Internal\n  message: {:?}\n",
                e.to_string()
            ),
        },
        OutputFormat::Table => render_table(out),
    }
}

fn render_table(out: &PlaceOutput) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let policy = out
        .policy
        .as_ref()
        .map_or("<none>".to_string(), |p| match &p.namespace {
            Some(ns) => format!("{} {ns}/{}", p.kind, p.name),
            None => format!("{} {}", p.kind, p.name),
        });
    let _ = writeln!(s, "POLICY:   {policy}");
    if let Some(a) = &out.observed_affinity {
        let _ = writeln!(s, "AFFINITY: {a}");
    }
    if let Some(e) = &out.error {
        let _ = writeln!(s, "ERROR:    {}: {}", e.reason, e.message);
    }
    if let Some(p) = &out.placements {
        let width = p
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max("CLUSTER".len());
        let _ = writeln!(s, "\n{:<width$}  REPLICAS", "CLUSTER");
        for (c, r) in p {
            let _ = writeln!(s, "{c:<width$}  {r}");
        }
    }
    if let Some(m) = &out.manifests {
        for (c, obj) in m {
            let _ = writeln!(s, "\n# manifest for {c}");
            match isthmus_api::yaml::to_string(obj) {
                Ok(y) => s.push_str(&y),
                Err(e) => {
                    let _ = writeln!(s, "# cannot render: {e}");
                }
            }
        }
    }
    s
}

/// Run `place`: exit 0 on a decision, 1 when scheduling fails, 2 on bad input (one `error:`
/// line on stderr; with `-o json|yaml` the same message as an `InvalidInput` error on stdout).
pub fn run(args: PlaceArgs) -> ExitCode {
    match evaluate(&args) {
        Ok(out) => {
            print!("{}", render(&out, args.output));
            if out.error.is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            // One line on stderr, whatever the cause's own formatting.
            let message = e
                .to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("error: {message}");
            if args.output != OutputFormat::Table {
                let out = PlaceOutput {
                    policy: None,
                    placements: None,
                    observed_affinity: None,
                    manifests: None,
                    error: Some(ErrorOut {
                        reason: "InvalidInput".into(),
                        message,
                    }),
                };
                print!("{}", render(&out, args.output));
            }
            ExitCode::from(2)
        }
    }
}
