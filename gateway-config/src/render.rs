//! Renders every Istio multi-network object of a clusterset into one directory per
//! member cluster, and writes the result atomically.
//!
//! Layout of `DIR/<cluster>/` (all YAML, stable order and formatting):
//!
//! | file | content |
//! |---|---|
//! | `namespace.yaml` | `istio-system` Namespace labelled with the cluster's network |
//! | `istiod.istio-operator.yaml` | istiod settings (meshID, clusterName, network, meshNetworks, env) as IstioOperator |
//! | `istiod.helm-values.yaml` | the same as values for the `istio/istiod` chart |
//! | `istiod.ambient.istio-operator.yaml` | the ambient form of the istiod settings (profile `ambient`, `AMBIENT_ENABLE_MULTI_NETWORK`) |
//! | `istiod.ambient.helm-values.yaml` | the same as values for the `istio/istiod` chart |
//! | `istio-cni.ambient.helm-values.yaml` | values for the `istio/cni` chart (ambient) |
//! | `ztunnel.ambient.helm-values.yaml` | values for the `istio/ztunnel` chart (ambient: cluster name, network) |
//! | `eastwest-gateway.istio-operator.yaml` | east-west gateway for `istioctl install -f` |
//! | `eastwest-gateway.helm-values.yaml` | east-west gateway values for the `istio/gateway` chart |
//! | `eastwest-gateway.gateway-api.yaml` | ambient east-west Gateway (Gateway API) |
//! | `expose-services.yaml` | the `cross-network-gateway` Gateway |
//! | `expose-istiod.yaml` | istiod behind the east-west gateway (primary-remote only) |
//! | `remote-secrets.yaml` | remote secrets of every other member that has a kubeconfig |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::clusterset::{ClusterSet, Member};
use crate::istio::{self, EastWestParams, ExposeHosts, IstiodSettings};
use crate::remote_secret::{self, RemoteSecretError, RemoteSecretOptions};

/// Name of the marker file that identifies a directory written by [`write_atomically`].
pub const MARKER_FILE: &str = ".gateway-config-render";

/// The built-in example clusterset (also `examples/clusterset.yaml`): three clusters on
/// two networks, one of them reached through NodePort.
pub const EXAMPLE_CLUSTERSET: &str = include_str!("example-clusterset.yaml");

/// Errors rendering or writing a clusterset.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A member's kubeconfig could not be turned into a remote secret.
    #[error("{field} (cluster {member:?}): {source}")]
    RemoteSecret {
        /// Field path of the member's kubeconfig in the clusterset, e.g. `members[0].kubeconfig`.
        field: String,
        /// The member whose kubeconfig failed.
        member: String,
        /// What failed.
        source: RemoteSecretError,
    },
    /// A member's kubeconfig file cannot be read.
    #[error("{field} (cluster {member:?}): {}: cannot read: {source}", path.display())]
    Kubeconfig {
        /// Field path of the member's kubeconfig in the clusterset, e.g. `members[0].kubeconfig`.
        field: String,
        /// The member.
        member: String,
        /// The kubeconfig path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An object could not be written as YAML.
    #[error("cannot write {file} as YAML: {message}")]
    Yaml {
        /// The output file.
        file: String,
        /// Serializer message.
        message: String,
    },
    /// The output directory exists and was not written by this tool.
    #[error(
        "{}: exists, is not empty and was not written by gateway-config (no {MARKER_FILE}); refusing to replace it",
        .0.display()
    )]
    ForeignOutput(PathBuf),
    /// Writing the output failed.
    #[error("{}: {source}", path.display())]
    Write {
        /// The path being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One rendered file, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path relative to the output directory, e.g. `east/namespace.yaml`.
    pub path: PathBuf,
    /// File content.
    pub contents: String,
}

/// Everything rendered for a clusterset.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Files, in a stable order.
    pub files: Vec<RenderedFile>,
    /// Things the user should know (missing kubeconfigs, warnings about servers).
    pub notes: Vec<String>,
}

/// Serializes objects as a YAML stream (`---` between documents), preceded by a comment.
pub fn to_yaml_documents<T: Serialize>(
    file: &str,
    header: &str,
    objects: &[T],
) -> Result<String, RenderError> {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    let docs = isthmus_api::yaml::documents(objects, isthmus_api::yaml::Separators::Between)
        .map_err(|e| RenderError::Yaml {
            file: file.to_owned(),
            message: e.source.to_string(),
        })?;
    out.push_str(&docs);
    Ok(out)
}

fn to_value<T: Serialize>(file: &str, obj: &T) -> Result<Value, RenderError> {
    serde_json::to_value(obj).map_err(|e| RenderError::Yaml {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

/// Renders all files for a clusterset. Reads the members' kubeconfigs (to build remote
/// secrets); touches nothing else on disk.
pub fn render(cs: &ClusterSet) -> Result<Rendered, RenderError> {
    render_with(cs, RemoteSecrets::FromKubeconfigs)
}

/// Where remote secrets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteSecrets {
    /// Rendered from the members' `kubeconfig:` files (which should hold Istio's reader
    /// identity, never an admin credential).
    FromKubeconfigs,
    /// Not rendered, and kubeconfigs not read: the controller writes them from each member's
    /// reader token.
    FromController,
}

/// [`render`], choosing where remote secrets come from.
pub fn render_with(
    cs: &ClusterSet,
    remote_secrets: RemoteSecrets,
) -> Result<Rendered, RenderError> {
    let mut rendered = Rendered::default();
    let secrets = match remote_secrets {
        RemoteSecrets::FromKubeconfigs => member_secrets(cs, &mut rendered.notes)?,
        RemoteSecrets::FromController => BTreeMap::new(),
    };
    for member in &cs.members {
        render_member(cs, member, &secrets, &mut rendered)?;
    }
    Ok(rendered)
}

/// Remote secret YAML (istioctl format) of every member that has a kubeconfig.
fn member_secrets(
    cs: &ClusterSet,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (i, m) in cs.members.iter().enumerate() {
        let field = format!("members[{i}].kubeconfig");
        let Some(path) = &m.kubeconfig else {
            missing.push(m.name.clone());
            continue;
        };
        let bytes = std::fs::read(path).map_err(|source| RenderError::Kubeconfig {
            field: field.clone(),
            member: m.name.clone(),
            path: path.clone(),
            source,
        })?;
        let opts = RemoteSecretOptions::for_member(m);
        let rs = remote_secret::remote_secret(&m.name, &bytes, &opts).map_err(|source| {
            RenderError::RemoteSecret {
                field: field.clone(),
                member: m.name.clone(),
                source,
            }
        })?;
        notes.extend(
            rs.warnings
                .iter()
                .map(|w| format!("member {:?}: {w}", m.name)),
        );
        let yaml = remote_secret::remote_secret_yaml(&rs.secret).map_err(|source| {
            RenderError::RemoteSecret {
                field: field.clone(),
                member: m.name.clone(),
                source,
            }
        })?;
        out.insert(m.name.clone(), yaml);
    }
    if !missing.is_empty() {
        notes.push(format!(
            "no kubeconfig for {}: their remote secrets were not rendered; add `kubeconfig:` to those members or run \
             `isthmus gateway remote-secret --name <cluster> --kubeconfig <file>`",
            missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(out)
}

fn render_member(
    cs: &ClusterSet,
    m: &Member,
    secrets: &BTreeMap<String, String>,
    rendered: &mut Rendered,
) -> Result<(), RenderError> {
    let dir = PathBuf::from(&m.name);
    let header = |what: &str| {
        format!(
            "{what} for cluster {:?} (network {:?}) of clusterset {:?}.\nGenerated by gateway-config; do not edit.",
            m.name, m.network, cs.name
        )
    };
    let mut add = |name: &str, contents: String| {
        rendered.files.push(RenderedFile {
            path: dir.join(name),
            contents,
        });
    };
    let ns = to_value("namespace.yaml", &istio::network_namespace(&m.network))?;
    add(
        "namespace.yaml",
        to_yaml_documents("namespace.yaml", &header("Default network"), &[ns])?,
    );

    let istiod = IstiodSettings::for_member(cs, m);
    let f = "istiod.istio-operator.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header("istiod install settings (istioctl install -f)"),
            &[istiod.istio_operator()],
        )?,
    );
    let f = "istiod.helm-values.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header(
                "istiod install settings (helm install istiod istio/istiod -n istio-system -f)",
            ),
            &[istiod.helm_values()],
        )?,
    );
    let ambient = IstiodSettings {
        ambient: true,
        ..istiod
    };
    let f = "istiod.ambient.istio-operator.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header("istiod install settings, ambient mode (istioctl install -f)"),
            &[ambient.istio_operator()],
        )?,
    );
    let f = "istiod.ambient.helm-values.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header(
                "istiod install settings, ambient mode (helm install istiod istio/istiod -n istio-system -f)",
            ),
            &[ambient.helm_values()],
        )?,
    );
    let f = "istio-cni.ambient.helm-values.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header(
                "CNI node agent, ambient mode (helm install istio-cni istio/cni -n istio-system -f)",
            ),
            &[ambient.cni_helm_values()],
        )?,
    );
    let f = "ztunnel.ambient.helm-values.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header(
                "ztunnel, ambient mode (helm install ztunnel istio/ztunnel -n istio-system -f)",
            ),
            &[ambient.ztunnel_helm_values()],
        )?,
    );

    let ew = EastWestParams::for_member(cs, m);
    let f = "eastwest-gateway.istio-operator.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header("East-west gateway (istioctl install -f)"),
            &[istio::eastwest_istio_operator(&ew)],
        )?,
    );
    let f = "eastwest-gateway.helm-values.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header(
                "East-west gateway (helm install istio-eastwestgateway istio/gateway -n istio-system -f)",
            ),
            &[istio::eastwest_helm_values(&ew)],
        )?,
    );
    let f = "eastwest-gateway.gateway-api.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header("Ambient east-west gateway (Gateway API; ambient mode only)"),
            &[istio::eastwest_gateway_api(&ew)],
        )?,
    );
    let f = "expose-services.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header("Services exposed to other networks"),
            &[istio::expose_services(&ExposeHosts::All)],
        )?,
    );
    let f = "expose-istiod.yaml";
    add(
        f,
        to_yaml_documents(
            f,
            &header(
                "istiod behind the east-west gateway (primary-remote only: apply on a primary serving remote clusters)",
            ),
            &istio::expose_istiod(m.revision.as_deref()),
        )?,
    );

    let others: Vec<&String> = cs
        .members
        .iter()
        .filter(|o| o.name != m.name)
        .filter_map(|o| secrets.get(&o.name))
        .collect();
    if !others.is_empty() {
        // Each secret is in istioctl's format: a header comment, the object, `---`.
        add(
            "remote-secrets.yaml",
            others.iter().map(|s| s.as_str()).collect(),
        );
    }
    Ok(())
}

/// Writes `rendered` to `dir` with [`write_tree`]: never half written when `dir` is new or
/// can be swapped, and written inside (previous output kept on failure) when `dir` is a mount
/// point. An existing `dir` is replaced only if it is empty or carries the [`MARKER_FILE`] of
/// an earlier render.
pub fn write_atomically(dir: &Path, rendered: &Rendered) -> Result<(), RenderError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(write_err(dir))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER_FILE).is_file() {
            return Err(RenderError::ForeignOutput(dir.to_path_buf()));
        }
    }
    write_tree(dir, MARKER_FILE, &mut |tmp: &Path| {
        std::fs::write(
            tmp.join(MARKER_FILE),
            "Written by isthmus gateway render; the whole directory is replaced on each render.\n",
        )
        .map_err(write_err(tmp))?;
        for f in &rendered.files {
            let path = tmp.join(&f.path);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).map_err(write_err(p))?;
            }
            std::fs::write(&path, &f.contents).map_err(write_err(&path))?;
        }
        Ok(())
    })
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> RenderError + use<> {
    let path = path.to_path_buf();
    move |source| RenderError::Write { path, source }
}

/// Prefix of the staging and retired folders [`write_tree`] makes inside an output folder it
/// cannot swap; such leftovers of an interrupted write are removed by the next one.
const IN_PLACE_PREFIX: &str = ".isthmus-write-";

/// Writes a directory tree to `dir` (the caller has decided `dir` may be replaced): `build`
/// fills the folder it is given, which must include the file `marker`.
///
/// - `dir` missing: the tree is built in a temporary folder beside it and renamed into place,
///   so `dir` appears complete or not at all.
/// - `dir` present: the tree is built beside it and the two are swapped by renames (the old
///   one is put back if the second rename fails).
/// - `dir` present but not swappable (a mount point such as a Kubernetes volume, or a folder
///   whose parent cannot be written): the tree is built in a staging folder inside `dir`; a
///   failure there leaves the previous contents untouched. Then every previous entry is moved
///   into a retired folder inside `dir`, every new entry moved up (each move one rename, no
///   copy), `marker` replaced last, and the retired and staging folders removed. A reader
///   during that switch can see a mix of old and new entries; a switch that is interrupted is
///   finished by the next write, because `marker` stays in place throughout.
pub fn write_tree(
    dir: &Path,
    marker: &str,
    build: &mut dyn FnMut(&Path) -> Result<(), RenderError>,
) -> Result<(), RenderError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let exists = dir.is_dir();
    if !exists {
        std::fs::create_dir_all(&parent).map_err(write_err(&parent))?;
    }
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "render".to_owned());
    let pid = std::process::id();
    let tmp = parent.join(format!(".{base}.tmp-{pid}"));
    let old = parent.join(format!(".{base}.old-{pid}"));
    if tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if let Err(source) = std::fs::create_dir(&tmp) {
        if exists {
            return write_in_place(dir, marker, build);
        }
        return Err(RenderError::Write { path: tmp, source });
    }
    if let Err(e) = build(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if !exists {
        return std::fs::rename(&tmp, dir).map_err(|source| {
            let _ = std::fs::remove_dir_all(&tmp);
            RenderError::Write {
                path: dir.to_path_buf(),
                source,
            }
        });
    }
    if std::fs::rename(dir, &old).is_err() {
        // A mount point (or a folder in an unwritable parent) cannot be moved: write inside.
        let _ = std::fs::remove_dir_all(&tmp);
        return write_in_place(dir, marker, build);
    }
    if let Err(source) = std::fs::rename(&tmp, dir) {
        // Put the previous output back.
        let _ = std::fs::rename(&old, dir);
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(RenderError::Write {
            path: dir.to_path_buf(),
            source,
        });
    }
    std::fs::remove_dir_all(&old).map_err(write_err(&old))
}

/// The in-place case of [`write_tree`].
fn write_in_place(
    dir: &Path,
    marker: &str,
    build: &mut dyn FnMut(&Path) -> Result<(), RenderError>,
) -> Result<(), RenderError> {
    let pid = std::process::id();
    let staging = dir.join(format!("{IN_PLACE_PREFIX}new-{pid}"));
    let retired = dir.join(format!("{IN_PLACE_PREFIX}old-{pid}"));
    for leftover in [&staging, &retired] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover).map_err(write_err(leftover))?;
        }
    }
    std::fs::create_dir(&staging).map_err(write_err(&staging))?;
    if let Err(e) = build(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    std::fs::create_dir(&retired).map_err(write_err(&retired))?;
    let entries = |d: &Path| -> Result<Vec<std::ffi::OsString>, RenderError> {
        std::fs::read_dir(d)
            .map_err(write_err(d))?
            .map(|e| e.map(|e| e.file_name()).map_err(write_err(d)))
            .collect()
    };
    let own = |name: &std::ffi::OsString| {
        Some(name.as_os_str()) == staging.file_name()
            || Some(name.as_os_str()) == retired.file_name()
    };
    for name in entries(dir)? {
        if own(&name) || name == marker {
            continue;
        }
        let from = dir.join(&name);
        std::fs::rename(&from, retired.join(&name)).map_err(write_err(&from))?;
    }
    for name in entries(&staging)? {
        if name == marker {
            continue;
        }
        let to = dir.join(&name);
        std::fs::rename(staging.join(&name), &to).map_err(write_err(&to))?;
    }
    let to = dir.join(marker);
    std::fs::rename(staging.join(marker), &to).map_err(write_err(&to))?;
    std::fs::remove_dir_all(&retired).map_err(write_err(&retired))?;
    std::fs::remove_dir_all(&staging).map_err(write_err(&staging))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn example() -> ClusterSet {
        ClusterSet::from_yaml(EXAMPLE_CLUSTERSET, Path::new("example.yaml")).unwrap()
    }

    #[test]
    fn example_renders_every_file_per_member() {
        let cs = example();
        assert_eq!(cs.members.len(), 3);
        assert_eq!(cs.networks().len(), 2);
        let r = render(&cs).unwrap();
        assert_eq!(
            r.files.len(),
            3 * 12,
            "{:?}",
            r.files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
        assert!(
            r.notes.iter().any(|n| n.contains("no kubeconfig")),
            "{:?}",
            r.notes
        );
        assert!(r.files.iter().all(|f| f.contents.starts_with("# ")));
        // Deterministic.
        let again = render(&cs).unwrap();
        assert_eq!(r.files, again.files);
    }

    #[test]
    fn write_replaces_previous_output_only() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let r = render(&example()).unwrap();
        write_atomically(&out, &r).unwrap();
        assert!(out.join(MARKER_FILE).is_file());
        std::fs::write(out.join("stale.yaml"), "x").unwrap();
        write_atomically(&out, &r).unwrap();
        assert!(!out.join("stale.yaml").exists());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("out")]);

        let foreign = tmp.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("mine.txt"), "x").unwrap();
        assert!(matches!(
            write_atomically(&foreign, &r),
            Err(RenderError::ForeignOutput(_))
        ));
        assert!(foreign.join("mine.txt").is_file());
    }

    fn tree(root: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(root).unwrap().display().to_string();
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn files(version: &str) -> impl FnMut(&Path) -> Result<(), RenderError> {
        let version = version.to_owned();
        move |d: &Path| {
            std::fs::write(d.join(MARKER_FILE), &version).unwrap();
            std::fs::create_dir_all(d.join("east")).unwrap();
            std::fs::write(d.join("east/a.yaml"), &version).unwrap();
            Ok(())
        }
    }

    #[test]
    fn in_place_write_replaces_the_contents_and_keeps_them_on_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        write_in_place(&out, MARKER_FILE, &mut files("1")).unwrap();
        let first = tree(&out);
        assert_eq!(
            first,
            [
                (MARKER_FILE.to_string(), "1".to_string()),
                ("east/a.yaml".to_string(), "1".to_string())
            ]
        );
        // Stale entries and an interrupted earlier switch are cleared.
        std::fs::write(out.join("stale.yaml"), "x").unwrap();
        std::fs::create_dir_all(out.join(".isthmus-write-old-1/west")).unwrap();
        std::fs::write(out.join(".isthmus-write-old-1/west/b.yaml"), "x").unwrap();
        write_in_place(&out, MARKER_FILE, &mut files("2")).unwrap();
        assert_eq!(
            tree(&out),
            [
                (MARKER_FILE.to_string(), "2".to_string()),
                ("east/a.yaml".to_string(), "2".to_string())
            ]
        );
        // A failing build leaves the previous contents exactly as they were.
        let mut failing = |d: &Path| {
            std::fs::write(d.join("east.yaml"), "partial").unwrap();
            Err(RenderError::Write {
                path: d.to_path_buf(),
                source: std::io::Error::other("disk full"),
            })
        };
        assert!(write_in_place(&out, MARKER_FILE, &mut failing).is_err());
        assert_eq!(
            tree(&out),
            [
                (MARKER_FILE.to_string(), "2".to_string()),
                ("east/a.yaml".to_string(), "2".to_string())
            ]
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
    }

    #[test]
    fn unreadable_kubeconfig_is_an_error() {
        let cs = ClusterSet::from_yaml(
            "meshID: m\nmembers:\n- {name: a, network: n, kubeconfig: missing.yaml}\n",
            Path::new("/nonexistent/cs.yaml"),
        )
        .unwrap();
        let e = render(&cs).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/missing.yaml"), "{e}");
    }
}
