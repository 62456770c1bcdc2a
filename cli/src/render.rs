//! Offline render: the same reconcile, reading member state from YAML files and writing the
//! objects the controller would apply, one folder per member.
//!
//! `isthmus render [--clusterset FILE] --input DIR --output DIR [--now TIME]`:
//! `DIR/<cluster>/*.yaml|*.yml` hold that member's objects (multi-document files and `List`
//! objects are fine; kinds the controller does not read are ignored). Bad input (unreadable
//! file, invalid YAML, a document that is not an object with `apiVersion`/`kind`, a folder
//! that is not a clusterset member) is an error naming the file, document and field: exit
//! code 2 and nothing is written. A single object of a known kind that cannot be used (e.g. a
//! ServiceExport without `creationTimestamp`) is logged and skipped, as the live controller does.
//! The output is described in `docs/controller.md` ("Offline render").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gateway_config::clusterset::ClusterSet;
use gateway_config::istio::{EASTWEST_GATEWAY_NAME, ISTIO_SYSTEM};
use isthmus_api::mcs::{ServiceExportSpec, ServiceImportSpec};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use mesh_controller::index::{Index, IndexError};
use mesh_controller::model::{ClusterName, Desired, McsVersion, ReconcileConfig};
use mesh_controller::registry;

/// Marker file in a render output folder; a non-empty output folder without it is refused.
pub const MARKER_FILE: &str = ".mesh-controller-render";
/// Network of every member when no clusterset file is given.
pub const DEFAULT_NETWORK: &str = "network1";
/// Namespaces every Kubernetes cluster has.
pub const BUILTIN_NAMESPACES: [&str; 4] =
    ["default", "kube-node-lease", "kube-public", "kube-system"];

/// `isthmus render` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct RenderArgs {
    /// Clusterset file (members, networks, gateway exposure). Without it, every folder of
    /// `--input` is a member, all on one network.
    #[arg(long)]
    pub clusterset: Option<PathBuf>,
    /// Folder with one sub-folder of YAML files per member.
    #[arg(long)]
    pub input: PathBuf,
    /// Folder to write, one sub-folder per member.
    #[arg(long)]
    pub output: PathBuf,
    /// The time to reconcile at (RFC 3339); default: the newest creationTimestamp in the input.
    #[arg(long)]
    pub now: Option<String>,
    /// Clusterset VIP ranges, one per IP family (default 242.0.0.0/16 and fd00:242::/112).
    #[arg(long = "clusterset-cidr", value_delimiter = ',')]
    pub clusterset_cidrs: Vec<ipnet::IpNet>,
    /// Also render the Istio multi-network wiring (network label, cross-network Gateway).
    /// Needs `--clusterset`.
    #[arg(long)]
    pub istio: bool,
}

/// Errors of the render command.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Bad command-line arguments.
    #[error("{0}")]
    Usage(String),
    /// The clusterset file is invalid.
    #[error(transparent)]
    ClusterSet(#[from] gateway_config::clusterset::ClusterSetError),
    /// A file or folder cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An input document is unusable.
    #[error("{}: document {doc}: {field}: {problem}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based document number (empty documents not counted).
        doc: usize,
        /// Field path.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Writing the output failed.
    #[error("{}: cannot write: {problem}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The error.
        problem: String,
    },
}

impl RenderError {
    /// The process exit code: 2 for bad input, 1 for write failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Write { .. } => 1,
            _ => 2,
        }
    }
}

/// One input document.
struct Doc {
    path: PathBuf,
    doc: usize,
    value: Value,
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let read = |path: &Path, source| RenderError::Read {
        path: path.to_owned(),
        source,
    };
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| read(&d, e))? {
            let entry = entry.map_err(|e| read(&d, e))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| read(&path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `v[field]` is a non-empty string.
fn has_str(v: &Value, field: &str) -> bool {
    v.get(field)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

fn read_docs(path: &Path) -> Result<Vec<Doc>, RenderError> {
    let text = std::fs::read_to_string(path).map_err(|source| RenderError::Read {
        path: path.to_owned(),
        source,
    })?;
    let values: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| RenderError::Input {
            path: path.to_owned(),
            doc: 0,
            field: "(yaml)".to_owned(),
            problem: e.to_string(),
        })?;
    let mut docs = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let doc = i + 1;
        let bad = |field: &str, problem: &str| RenderError::Input {
            path: path.to_owned(),
            doc,
            field: field.to_owned(),
            problem: problem.to_owned(),
        };
        if value.is_null() {
            continue;
        }
        if !value.is_object() {
            return Err(bad("(document)", "is not a Kubernetes object (a mapping)"));
        }
        for f in ["apiVersion", "kind"] {
            if !has_str(&value, f) {
                return Err(bad(f, "is missing or not a string"));
            }
        }
        if value["kind"] == "List" || value["kind"].as_str().is_some_and(|k| k.ends_with("List")) {
            let Some(items) = value.get("items").and_then(Value::as_array) else {
                return Err(bad("items", "is missing or not a list"));
            };
            for (j, item) in items.iter().enumerate() {
                for f in ["apiVersion", "kind"] {
                    if !has_str(item, f) {
                        return Err(bad(
                            &format!("items[{j}].{f}"),
                            "is missing or not a string",
                        ));
                    }
                }
                docs.push(Doc {
                    path: path.to_owned(),
                    doc,
                    value: item.clone(),
                });
            }
        } else {
            docs.push(Doc {
                path: path.to_owned(),
                doc,
                value,
            });
        }
    }
    Ok(docs)
}

/// What a member's input gave.
#[derive(Default)]
struct Loaded {
    docs: Vec<Doc>,
}

fn parse<T: for<'de> Deserialize<'de>>(d: &Doc) -> Result<T, String> {
    serde_json::from_value(d.value.clone()).map_err(|e| e.to_string())
}

fn newest_timestamp(members: &BTreeMap<ClusterName, Loaded>) -> Timestamp {
    members
        .values()
        .flat_map(|l| l.docs.iter())
        .filter_map(|d| {
            d.value
                .pointer("/metadata/creationTimestamp")?
                .as_str()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Feeds one member's documents into the index; returns the number of skipped objects.
fn index_member(index: &mut Index, cluster: &str, loaded: &Loaded) -> usize {
    let mut skipped = 0usize;
    let mut namespaces: BTreeSet<String> =
        BUILTIN_NAMESPACES.iter().map(|s| (*s).to_owned()).collect();
    let (mut beta, mut alpha) = (0usize, 0usize);
    for d in &loaded.docs {
        let api_version = d.value["apiVersion"].as_str().unwrap_or_default();
        let kind = d.value["kind"].as_str().unwrap_or_default();
        if let Some(ns) = d
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
        {
            namespaces.insert(ns.to_owned());
        }
        let result: Result<bool, String> = match (api_version, kind) {
            ("v1", "Namespace") => parse::<Namespace>(d).and_then(|ns| {
                index
                    .apply_namespace(cluster, &ns)
                    .map_err(|e| e.to_string())
            }),
            ("v1", "Service") => parse::<Service>(d).and_then(|svc| {
                let is_gateway = svc.metadata.namespace.as_deref() == Some(ISTIO_SYSTEM)
                    && svc.metadata.name.as_deref() == Some(EASTWEST_GATEWAY_NAME);
                let r = if is_gateway {
                    index.apply_gateway_service(cluster, &svc)
                } else {
                    index.apply_service(cluster, &svc)
                };
                r.map_err(|e| e.to_string())
            }),
            ("discovery.k8s.io/v1", "EndpointSlice") => parse::<EndpointSlice>(d)
                .and_then(|s| index.apply_slice(cluster, &s).map_err(|e| e.to_string())),
            (v, "ServiceExport" | "ServiceImport")
                if v == McsVersion::V1beta1.api_version()
                    || v == McsVersion::V1alpha1.api_version() =>
            {
                if v == McsVersion::V1beta1.api_version() {
                    beta += 1;
                } else {
                    alpha += 1;
                }
                index_mcs(index, cluster, kind, d)
            }
            _ => Ok(false),
        };
        if let Err(problem) = result {
            skipped += 1;
            warn!(
                cluster,
                file = %d.path.display(),
                document = d.doc,
                kind,
                problem = %problem,
                "skipping malformed object"
            );
        }
    }
    let _ = index.set_namespaces(cluster, namespaces_union(index, cluster, namespaces));
    if alpha > 0 && beta == 0 {
        let _ = index.set_mcs_version(cluster, McsVersion::V1alpha1);
    }
    skipped
}

fn namespaces_union(index: &Index, cluster: &str, mut extra: BTreeSet<String>) -> BTreeSet<String> {
    if let Some(m) = index.member(cluster) {
        extra.extend(m.namespaces.iter().cloned());
    }
    extra
}

fn index_mcs(index: &mut Index, cluster: &str, kind: &str, d: &Doc) -> Result<bool, String> {
    let meta: ObjectMeta = d
        .value
        .get("metadata")
        .map(|m| serde_json::from_value(m.clone()))
        .transpose()
        .map_err(|e| format!("metadata: {e}"))?
        .unwrap_or_default();
    let spec = d.value.get("spec").cloned().unwrap_or_else(|| json!({}));
    let r: Result<bool, IndexError> = if kind == "ServiceExport" {
        let spec: ServiceExportSpec =
            serde_json::from_value(spec).map_err(|e| format!("spec: {e}"))?;
        let status = d
            .value
            .get("status")
            .map(|s| serde_json::from_value(s.clone()))
            .transpose()
            .map_err(|e| format!("status: {e}"))?;
        index.apply_export_parts(cluster, &meta, &spec, status.as_ref())
    } else {
        let spec: ServiceImportSpec =
            serde_json::from_value(spec).map_err(|e| format!("spec: {e}"))?;
        index.apply_import_parts(cluster, &meta, &spec)
    };
    r.map_err(|e| e.to_string())
}

/// The result of a render, before writing.
pub struct Rendered {
    /// Per member: (file name, YAML text), sorted by file name.
    pub files: BTreeMap<ClusterName, Vec<(String, String)>>,
    /// The reconcile output.
    pub desired: Desired,
    /// The `now` used.
    pub now: Timestamp,
    /// Objects skipped as malformed.
    pub skipped: usize,
}

fn file_stem(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object").to_lowercase();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed");
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{kind}-{ns}-{name}"),
        _ => format!("{kind}-{name}"),
    }
}

fn to_yaml(v: &Value, path: &Path) -> Result<String, RenderError> {
    isthmus_api::yaml::to_string(v).map_err(|e| RenderError::Write {
        path: path.to_owned(),
        problem: e.to_string(),
    })
}

/// Reads the input and reconciles, writing nothing.
pub fn render(args: &RenderArgs) -> Result<Rendered, RenderError> {
    let clusterset = args
        .clusterset
        .as_deref()
        .map(ClusterSet::load)
        .transpose()?;
    if args.istio && clusterset.is_none() {
        return Err(RenderError::Usage("--istio needs --clusterset".to_owned()));
    }
    let mut folders: Vec<String> = Vec::new();
    let read = |source| RenderError::Read {
        path: args.input.clone(),
        source,
    };
    for entry in std::fs::read_dir(&args.input).map_err(read)? {
        let entry = entry.map_err(read)?;
        if entry.file_type().map_err(read)?.is_dir() {
            folders.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    folders.sort();
    let members = match &clusterset {
        Some(cs) => {
            for f in &folders {
                if cs.member(f).is_none() {
                    return Err(RenderError::Input {
                        path: args.input.join(f),
                        doc: 0,
                        field: "(folder name)".to_owned(),
                        problem: format!("{f:?} is not a member of the clusterset"),
                    });
                }
            }
            registry::from_clusterset(cs)
        }
        None => {
            for f in &folders {
                if let Err(e) = isthmus_api::names::rfc1123_label(f) {
                    return Err(RenderError::Input {
                        path: args.input.join(f),
                        doc: 0,
                        field: "(folder name)".to_owned(),
                        problem: format!("cluster ID {f:?} {e}"),
                    });
                }
            }
            registry::single_network(&folders, DEFAULT_NETWORK)
        }
    };
    let mut loaded: BTreeMap<ClusterName, Loaded> = BTreeMap::new();
    for m in &members {
        let dir = args.input.join(&m.name);
        let mut l = Loaded::default();
        if dir.is_dir() {
            for file in yaml_files(&dir)? {
                l.docs.extend(read_docs(&file)?);
            }
        }
        loaded.insert(m.name.clone(), l);
    }
    let now = match &args.now {
        Some(t) => t
            .parse::<Timestamp>()
            .map_err(|e| RenderError::Usage(format!("--now {t:?}: not an RFC 3339 time: {e}")))?,
        None => newest_timestamp(&loaded),
    };
    let mut index = Index::new();
    for m in members {
        index.upsert_member(m);
    }
    let mut skipped = 0;
    for (cluster, l) in &loaded {
        skipped += index_member(&mut index, cluster, l);
    }
    let mut cfg = ReconcileConfig::default();
    if !args.clusterset_cidrs.is_empty() {
        cfg.clusterset_cidrs = args.clusterset_cidrs.clone();
    }
    if args.istio
        && let Some(cs) = &clusterset
    {
        cfg.istio = Some(registry::istio_wiring(cs));
    }
    let desired = mesh_controller::reconcile::reconcile(&index.snapshot(), &cfg, now);

    let mut files: BTreeMap<ClusterName, Vec<(String, String)>> = BTreeMap::new();
    for (cluster, objects) in &desired.objects {
        let out = files.entry(cluster.clone()).or_default();
        for obj in objects {
            let name = format!("{}.yaml", file_stem(obj));
            let text = to_yaml(obj, &args.output.join(cluster).join(&name))?;
            out.push((name, text));
        }
    }
    for ((cluster, key), status) in &desired.export_status {
        let version = index
            .member(cluster)
            .map_or(McsVersion::V1beta1, |m| m.mcs_version);
        let obj = json!({
            "apiVersion": version.api_version(),
            "kind": "ServiceExport",
            "metadata": {"name": key.name, "namespace": key.namespace},
            "status": status,
        });
        let name = format!("{}.yaml", file_stem(&obj));
        let text = to_yaml(&obj, &args.output.join(cluster).join(&name))?;
        files.entry(cluster.clone()).or_default().push((name, text));
    }
    for list in files.values_mut() {
        list.sort();
    }
    Ok(Rendered {
        files,
        desired,
        now,
        skipped,
    })
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> RenderError {
    RenderError::Write {
        path: path.to_owned(),
        problem: e.to_string(),
    }
}

/// Writes a render into `output`, replacing a previous render there, with
/// [`gateway_config::render::write_tree`]: a new folder appears complete or not at all, an
/// existing one is swapped with the new tree, and one that cannot be swapped (a mount point)
/// is written inside; a failure while writing leaves the previous output as it was.
pub fn write(output: &Path, rendered: &Rendered) -> Result<(), RenderError> {
    if output.exists() {
        let mut entries = std::fs::read_dir(output).map_err(|e| write_err(output, e))?;
        if entries.next().is_some() && !output.join(MARKER_FILE).exists() {
            return Err(write_err(
                output,
                format!("exists, is not empty and holds no {MARKER_FILE}; refusing to replace it"),
            ));
        }
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| gateway_config::render::RenderError::Write { path, source }
    };
    gateway_config::render::write_tree(output, MARKER_FILE, &mut |staging: &Path| {
        let marker = staging.join(MARKER_FILE);
        std::fs::write(&marker, format!("now: {}\n", rendered.now)).map_err(io(&marker))?;
        for (cluster, list) in &rendered.files {
            let dir = staging.join(cluster);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            for (name, text) in list {
                let p = dir.join(name);
                std::fs::write(&p, text).map_err(io(&p))?;
            }
        }
        Ok(())
    })
    .map_err(|e| match e {
        gateway_config::render::RenderError::Write { path, source } => write_err(&path, source),
        other => write_err(output, other),
    })
}

/// Runs `isthmus render`.
pub fn run(args: RenderArgs) -> ExitCode {
    let rendered = match render(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    for (cluster, status) in &rendered.desired.member_status {
        for note in &status.notes {
            warn!(cluster = %cluster, note = %note, "member note");
        }
    }
    for e in &rendered.desired.events {
        info!(cluster = %e.cluster, export = %e.export, type_ = e.type_.as_str(), reason = %e.reason, message = %e.message, "event");
    }
    if let Err(e) = write(&args.output, &rendered) {
        eprintln!("error: {e}");
        return ExitCode::from(e.exit_code());
    }
    let s = &rendered.desired.summary;
    eprintln!(
        "rendered {} objects for {} members into {} ({} services, {} in conflict, {} invalid exports, {} objects skipped; now = {})",
        s.objects,
        rendered.files.len().max(rendered.desired.objects.len()),
        args.output.display(),
        s.services,
        s.conflicts,
        s.invalid_exports,
        rendered.skipped,
        rendered.now
    );
    ExitCode::SUCCESS
}
