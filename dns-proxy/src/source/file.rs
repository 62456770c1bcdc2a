//! `--source file:PATH`: multi-document Kubernetes YAML with ServiceImports and MCS
//! EndpointSlices, reloaded when the file's modification time or size changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use isthmus_api::mcs::{v1alpha1, v1beta1};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;

use super::{ConvertError, Store};
use crate::handle::TableHandle;
use crate::model::ServiceSet;

/// Errors reading a source file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: YAML: {reason}")]
    Yaml { path: PathBuf, reason: String },
    #[error("{path}: document {index}: {reason}")]
    Document {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{path}: document {index}: {source}")]
    Field {
        path: PathBuf,
        index: usize,
        source: ConvertError,
    },
    #[error("{path}: building the answer table: {reason}")]
    Table { path: PathBuf, reason: String },
}

/// Parses YAML text (several documents, or `kind: List`) into a service set. `path` only
/// names the file in errors. Documents of other kinds are ignored.
pub fn parse(path: &Path, text: &str) -> Result<ServiceSet, FileError> {
    // Documents are parsed one at a time, so memory peaks at one document, not the file.
    // The per-document budget is raised for large `kind: List` documents.
    let options = || {
        serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_nodes: 50_000_000,
                max_events: 200_000_000,
                max_total_scalar_bytes: 1 << 30,
            },
        }
    };
    let mut store = Store::default();
    for (index, text) in split_documents(text).enumerate() {
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let doc: serde_json::Value =
            serde_saphyr::from_str_with_options(text, options()).map_err(|e| FileError::Yaml {
                path: path.to_path_buf(),
                reason: format!("document {index}: {e}"),
            })?;
        if doc.is_null() {
            continue;
        }
        let items = if doc.get("kind").and_then(|k| k.as_str()) == Some("List") {
            doc.get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default()
        } else {
            vec![doc]
        };
        for item in items {
            apply(&mut store, item).map_err(|e| match e {
                ApplyError::Doc(reason) => FileError::Document {
                    path: path.to_path_buf(),
                    index,
                    reason,
                },
                ApplyError::Field(source) => FileError::Field {
                    path: path.to_path_buf(),
                    index,
                    source,
                },
            })?;
        }
    }
    Ok(store.to_set())
}

enum ApplyError {
    Doc(String),
    Field(ConvertError),
}

fn apply(store: &mut Store, doc: serde_json::Value) -> Result<(), ApplyError> {
    let api = doc
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let kind = doc
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    // A document must read as the typed object (as the API server would accept it); the
    // MCS reading then applies to the document itself.
    match (api.as_str(), kind.as_str()) {
        ("multicluster.x-k8s.io/v1beta1", "ServiceImport") => {
            v1beta1::ServiceImport::deserialize(&doc)
                .map_err(|e| ApplyError::Doc(format!("ServiceImport: {e}")))?;
            store.apply_import(&doc).map_err(ApplyError::Field)
        }
        ("multicluster.x-k8s.io/v1alpha1", "ServiceImport") => {
            v1alpha1::ServiceImport::deserialize(&doc)
                .map_err(|e| ApplyError::Doc(format!("ServiceImport: {e}")))?;
            store.apply_import(&doc).map_err(ApplyError::Field)
        }
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            EndpointSlice::deserialize(&doc)
                .map_err(|e| ApplyError::Doc(format!("EndpointSlice: {e}")))?;
            store.apply_slice(&doc).map_err(ApplyError::Field)
        }
        ("", _) => Err(ApplyError::Doc("field apiVersion: missing".to_string())),
        (_, "") => Err(ApplyError::Doc("field kind: missing".to_string())),
        (a, k) => {
            tracing::debug!(api = a, kind = k, "ignoring document of another kind");
            Ok(())
        }
    }
}

/// Splits multi-document YAML at `---` lines (and drops `...` end markers).
fn split_documents(text: &str) -> impl Iterator<Item = &str> {
    let mut starts = vec![0usize];
    let mut ends = Vec::new();
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end_matches(['\n', '\r']);
        if l == "---" || l.starts_with("--- ") || l.starts_with("---\t") {
            ends.push(pos);
            starts.push(pos + 3);
        } else if l == "..." {
            ends.push(pos);
            starts.push(pos + line.len());
        }
        pos += line.len();
    }
    ends.push(text.len());
    let mut docs: Vec<&str> = starts
        .into_iter()
        .zip(ends)
        .map(|(s, e)| &text[s.min(e)..e])
        .collect();
    // A leading `---` leaves an empty first piece; it is not a document.
    if docs.len() > 1 && docs[0].trim().is_empty() {
        docs.remove(0);
    }
    docs.into_iter()
}

/// Reads and parses the file once.
pub fn load(path: &Path) -> Result<ServiceSet, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// What the watcher compares: the file's modification time and size, `None` when it cannot
/// be read.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A file source whose first table is published.
#[derive(Debug)]
pub struct Watcher {
    path: PathBuf,
    /// The stamp of the last read; `None` before the first.
    last: Option<Stamp>,
    handle: Arc<TableHandle>,
}

/// Loads the file and publishes its table: the start of `--source file:`. A file that cannot
/// be read or parsed is an error (the caller stops rather than serve nothing).
pub fn start(path: PathBuf, handle: Arc<TableHandle>) -> Result<Watcher, FileError> {
    // The stamp is taken before reading, so a change during the read is seen as a change.
    let last = stamp(&path);
    let set = load(&path)?;
    handle.publish(&set).map_err(|e| FileError::Table {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(Watcher {
        path,
        last: Some(last),
        handle,
    })
}

/// Watches the file from scratch, for a caller that may start before the file exists (the
/// proxy itself uses [`start`], which requires it): reads it at the first check and whenever
/// it changes. Until a good file is read the handle stays not ready; each failure is reported
/// once per change of the file. Runs until the task is dropped.
pub async fn run(path: PathBuf, interval: Duration, handle: Arc<TableHandle>) {
    Watcher {
        path,
        last: None,
        handle,
    }
    .run(interval)
    .await
}

impl Watcher {
    /// Reloads whenever the file's modification time or size changes (or it disappears or
    /// comes back), checking every `interval`. A bad file keeps the last good table and is
    /// reported once per change, not at every check. Runs until the task is dropped.
    pub async fn run(mut self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = stamp(&self.path);
            if self.last == Some(now) {
                continue;
            }
            self.last = Some(now);
            let p = self.path.clone();
            let result = tokio::task::spawn_blocking(move || load(&p)).await;
            match result {
                Ok(Ok(set)) => {
                    if let Err(e) = self.handle.publish(&set) {
                        tracing::error!(error = %e, path = %self.path.display(), "building the answer table failed");
                        self.handle.metrics().table_load_error();
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, path = %self.path.display(), "source file rejected; keeping the last good table");
                    self.handle.metrics().table_load_error();
                }
                Err(e) => tracing::error!(error = %e, "file loader task failed"),
            }
        }
    }
}
