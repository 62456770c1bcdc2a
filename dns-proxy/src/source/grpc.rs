//! `--source grpc:URL`: the controller's ClusterSetDiscovery stream (crate `mesh-proto`).
//!
//! [`mesh_proto::client::run`] keeps one cluster's [`NameTable`] in sync (snapshot, then
//! versioned deltas; reconnecting with backoff and resuming by version). This module turns
//! every new table into a [`ServiceSet`] with [`Converter`] and publishes it; while the stream
//! is down the last table keeps being served.
//!
//! A malformed record (unknown type, bad IP, bad name, bad port) is logged with its service
//! key and skipped; the rest of the table is served.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use isthmus_api::names::rfc1123_label;
use mesh_proto::client::{self, ClientConfig, ClientState, ClientTls};
use mesh_proto::table::{Key, NameTable};
use mesh_proto::v1::{ServiceRecord, ServiceType};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::sync::watch;

use super::ConvertError;
use crate::handle::TableHandle;
use crate::metrics::StreamStatus;
use crate::model::{Endpoint, Port, Service, ServiceKind, ServiceSet};

/// Errors loading the gRPC source's TLS material.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("{flag} {path}: {source}")]
    Read {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{flag} {path}: {reason}")]
    Pem {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
}

/// The TLS files of `--grpc-ca`, `--grpc-cert` and `--grpc-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Root CA bundle the server's certificate must chain to.
    pub ca: PathBuf,
    /// This proxy's certificate chain (URI SAN naming its cluster).
    pub cert: PathBuf,
    /// The certificate's private key.
    pub key: PathBuf,
    /// The DNS name expected in the server's certificate (default: the URL's host).
    pub server_name: Option<String>,
}

/// A validated `--source grpc:URL` configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcSource {
    /// `https://host:port` or (only with `--insecure`) `http://host:port`.
    pub url: String,
    /// The member cluster whose view this proxy serves.
    pub cluster: String,
    /// `None`: plaintext (`--insecure`).
    pub tls: Option<TlsFiles>,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest reconnect delay, and the wait before retrying after the server refused this
    /// client for good (wrong identity).
    pub backoff_max: Duration,
    /// How often the TLS files are checked for changes (a change reconnects with them).
    pub files_poll: Duration,
}

impl GrpcSource {
    /// A plaintext source with default timings.
    pub fn new(url: impl Into<String>, cluster: impl Into<String>) -> Self {
        GrpcSource {
            url: url.into(),
            cluster: cluster.into(),
            tls: None,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            files_poll: Duration::from_secs(1),
        }
    }

    /// Reads the TLS files (if any) and builds the client configuration.
    pub fn client_config(&self) -> Result<ClientConfig, GrpcError> {
        let mut cfg = ClientConfig::new(self.url.clone(), self.cluster.clone());
        cfg.backoff_max = self.backoff_max.max(Duration::from_millis(1));
        cfg.backoff_initial = self.backoff_initial.min(cfg.backoff_max);
        cfg.tls = match &self.tls {
            Some(files) => Some(load_tls(files, &self.cluster)?),
            None => None,
        };
        Ok(cfg)
    }

    fn file_stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
        match &self.tls {
            Some(t) => [&t.ca, &t.cert, &t.key].iter().map(|p| stamp(p)).collect(),
            None => Vec::new(),
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, GrpcError> {
    std::fs::read(path).map_err(|source| GrpcError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(flag: &'static str, path: &Path, pem: &[u8]) -> Result<Vec<Vec<u8>>, GrpcError> {
    let pem_err = |reason: String| GrpcError::Pem {
        flag,
        path: path.to_path_buf(),
        reason,
    };
    let mut ders = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| pem_err(format!("not valid PEM: {e}")))?;
        ders.push(cert.as_ref().to_vec());
    }
    if ders.is_empty() {
        return Err(pem_err("no PEM CERTIFICATE block".into()));
    }
    Ok(ders)
}

/// Reads and checks the PEM files. A client certificate that does not name `cluster` is only
/// warned about: the server has the last word and refuses it.
pub fn load_tls(files: &TlsFiles, cluster: &str) -> Result<ClientTls, GrpcError> {
    let ca_pem = read("--grpc-ca", &files.ca)?;
    certificates("--grpc-ca", &files.ca, &ca_pem)?;
    let cert_pem = read("--grpc-cert", &files.cert)?;
    let chain = certificates("--grpc-cert", &files.cert, &cert_pem)?;
    let key_pem = read("--grpc-key", &files.key)?;
    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| GrpcError::Pem {
        flag: "--grpc-key",
        path: files.key.clone(),
        reason: format!("no usable PEM private key: {e}"),
    })?;
    if let Some(leaf) = chain.first() {
        match mesh_proto::identity::clusters_in_certificate(leaf) {
            Ok(names) if names.iter().any(|n| n == cluster) => {}
            Ok(names) => {
                tracing::warn!(cert = %files.cert.display(), named = ?names, cluster, "client certificate names other clusters; the server will refuse it")
            }
            Err(e) => {
                tracing::warn!(cert = %files.cert.display(), error = %e, cluster, "client certificate names no cluster; the server will refuse it")
            }
        }
    }
    Ok(ClientTls {
        ca_pem,
        cert_pem,
        key_pem,
        server_name: files.server_name.clone(),
    })
}

/// Checks a `--grpc-server-name` value: a DNS name or an IP address.
pub fn validate_server_name(name: &str) -> Result<(), String> {
    ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| format!("{name:?} is neither a DNS name nor an IP address"))
}

fn field_err(object: &str, field: impl Into<String>, reason: impl Into<String>) -> ConvertError {
    ConvertError {
        object: object.to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks that a name is a lower-case RFC 1123 label (as Kubernetes names of namespaces,
/// services, clusters and endpoint host names are).
fn label(object: &str, field: impl Into<String>, value: &str) -> Result<(), ConvertError> {
    rfc1123_label(value).map_err(|e| field_err(object, field, format!("{value:?} {e}")))
}

fn parse_ip(object: &str, field: String, s: &str) -> Result<IpAddr, ConvertError> {
    s.parse()
        .map_err(|_| field_err(object, field, format!("{s:?} is not an IP address")))
}

/// Converts one discovery record into the proxy's service model. The result is the same as
/// the file and kube sources give for the equivalent ServiceImport and EndpointSlices:
/// protocols lower-cased (unset means TCP), empty port names and host names mean none,
/// endpoints in record order. Per-cluster port lists are not used for DNS (as EndpointSlice
/// ports are not), but they are checked like the service's ports.
pub fn convert_record(record: &ServiceRecord) -> Result<Service, ConvertError> {
    let (namespace, name) = match &record.key {
        Some(k) => (k.namespace.as_str(), k.name.as_str()),
        None => ("", ""),
    };
    let object = format!("ServiceRecord {namespace}/{name}");
    if record.key.is_none() {
        return Err(field_err(&object, "key", "missing"));
    }
    label(&object, "key.namespace", namespace)?;
    label(&object, "key.name", name)?;
    let kind = match ServiceType::try_from(record.r#type) {
        Ok(ServiceType::ClusterSetIp) => {
            let mut ips = Vec::with_capacity(record.ips.len());
            for (i, ip) in record.ips.iter().enumerate() {
                ips.push(parse_ip(&object, format!("ips[{i}]"), ip)?);
            }
            ServiceKind::ClusterSetIp { ips }
        }
        // Headless services have no clusterset IPs; any sent are ignored, as the other sources
        // ignore `spec.ips` of a headless ServiceImport.
        Ok(ServiceType::Headless) => ServiceKind::Headless,
        Ok(ServiceType::Unspecified) => {
            return Err(field_err(
                &object,
                "type",
                "unspecified (ClusterSetIP or Headless)",
            ));
        }
        Err(_) => {
            return Err(field_err(
                &object,
                "type",
                format!("unknown value {}", record.r#type),
            ));
        }
    };
    let ports = convert_ports(&object, "ports", &record.ports)?;
    let mut endpoints = Vec::new();
    for (c, ce) in record.clusters.iter().enumerate() {
        label(&object, format!("clusters[{c}].cluster"), &ce.cluster)?;
        convert_ports(&object, &format!("clusters[{c}].ports"), &ce.ports)?;
        for (e, ep) in ce.endpoints.iter().enumerate() {
            let hostname = if ep.hostname.is_empty() {
                None
            } else {
                label(
                    &object,
                    format!("clusters[{c}].endpoints[{e}].hostname"),
                    &ep.hostname,
                )?;
                Some(ep.hostname.clone())
            };
            let mut addresses = Vec::with_capacity(ep.addresses.len());
            for (a, addr) in ep.addresses.iter().enumerate() {
                addresses.push(parse_ip(
                    &object,
                    format!("clusters[{c}].endpoints[{e}].addresses[{a}]"),
                    addr,
                )?);
            }
            endpoints.push(Endpoint {
                cluster: ce.cluster.clone(),
                hostname,
                addresses,
                ready: ep.ready,
            });
        }
    }
    Ok(Service {
        namespace: namespace.to_string(),
        name: name.to_string(),
        kind,
        ports,
        endpoints,
    })
}

fn convert_ports(
    object: &str,
    path: &str,
    ports: &[mesh_proto::v1::Port],
) -> Result<Vec<Port>, ConvertError> {
    let mut out = Vec::with_capacity(ports.len());
    for (i, p) in ports.iter().enumerate() {
        let port = u16::try_from(p.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                field_err(
                    object,
                    format!("{path}[{i}].port"),
                    format!("{} is not a port number", p.port),
                )
            })?;
        let protocol = if p.protocol.is_empty() {
            "tcp".to_string()
        } else {
            p.protocol.to_ascii_lowercase()
        };
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(field_err(
                object,
                format!("{path}[{i}].protocol"),
                format!("{:?} is not TCP, UDP or SCTP", p.protocol),
            ));
        }
        out.push(Port {
            name: (!p.name.is_empty()).then(|| p.name.clone()),
            protocol,
            port,
        });
    }
    Ok(out)
}

/// Converts whole tables and logs each malformed record once per distinct error (not again on
/// every delta while it stays the same). Converting all records is cheaper than finding the
/// unchanged ones: a deep comparison costs about as much as the conversion itself.
#[derive(Debug, Default)]
pub struct Converter {
    /// The errors of the last conversion, by service key.
    errors: BTreeMap<Key, String>,
}

impl Converter {
    /// The service set of `table`, without the malformed records.
    pub fn convert(&mut self, table: &NameTable) -> ServiceSet {
        let mut errors = BTreeMap::new();
        let mut services = Vec::with_capacity(table.len());
        for (key, record) in table.iter() {
            match convert_record(record) {
                Ok(s) => services.push(s),
                Err(e) => {
                    let e = e.to_string();
                    if self.errors.get(key) != Some(&e) {
                        tracing::warn!(service = %key, error = %e, "skipping malformed service record");
                    }
                    errors.insert(key.clone(), e);
                }
            }
        }
        self.errors = errors;
        ServiceSet { services }
    }

    /// Records skipped in the last conversion.
    pub fn skipped(&self) -> usize {
        self.errors.len()
    }
}

/// Converts a table once, returning the service set and every record's error.
pub fn to_service_set(table: &NameTable) -> (ServiceSet, Vec<ConvertError>) {
    let mut services = Vec::new();
    let mut errors = Vec::new();
    for (_, record) in table.iter() {
        match convert_record(record) {
            Ok(s) => services.push(s),
            Err(e) => errors.push(e),
        }
    }
    (ServiceSet { services }, errors)
}

fn age_secs(state: &ClientState) -> Option<f64> {
    state
        .updated_at
        .map(|t| t.elapsed().as_millis() as f64 / 1000.0)
}

/// Resolves when any of the TLS files changes (never, for a plaintext source).
async fn files_changed(src: &GrpcSource, initial: Vec<Option<(SystemTime, u64)>>) {
    if src.tls.is_none() {
        return std::future::pending().await;
    }
    let mut ticker = tokio::time::interval(src.files_poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if src.file_stamps() != initial {
            return;
        }
    }
}

/// Keeps a discovery client running: restarts it with freshly read TLS files when they change,
/// and after a permanent refusal (wrong identity, bad TLS material) waits `backoff_max` before
/// trying again, so fixing the certificate needs no restart of the proxy.
async fn client_loop(src: GrpcSource, tx: watch::Sender<ClientState>) {
    let retry = src.backoff_max.max(Duration::from_millis(100));
    loop {
        let stamps = src.file_stamps();
        let cfg = match src.client_config() {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::error!(error = %e, retry_in_s = retry.as_secs_f64(), "discovery client TLS material unusable");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        let result = client::run(cfg, tx.clone(), files_changed(&src, stamps.clone())).await;
        tx.send_modify(|s| {
            if s.connected {
                s.connected = false;
                s.reconnects += 1;
            }
        });
        match result {
            Ok(()) => {
                tracing::info!(url = %src.url, cluster = %src.cluster, "TLS files changed; reconnecting with them");
            }
            Err(e) => {
                tracing::error!(url = %src.url, cluster = %src.cluster, error = %e, retry_in_s = retry.as_secs_f64(), "discovery server refused this proxy, or its TLS setup is unusable; serving the last table (if any) and retrying later");
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = files_changed(&src, stamps) => {}
                }
            }
        }
    }
}

fn status_of(state: &ClientState) -> StreamStatus {
    StreamStatus {
        connected: state.connected,
        reconnects: state.reconnects,
        snapshots: state.snapshots,
        deltas: state.deltas,
        updated: state
            .updated_at
            .and_then(|t| SystemTime::now().checked_sub(t.elapsed())),
    }
}

/// Runs the gRPC source: publishes a table after the first snapshot and after every change,
/// keeps the last table while disconnected, and exports the stream's state as metrics. Runs
/// until the task is dropped.
pub async fn run(src: GrpcSource, handle: Arc<TableHandle>) {
    let (tx, rx) = watch::channel(ClientState::default());
    handle.metrics().stream_status(&StreamStatus::default());
    tracing::info!(url = %src.url, cluster = %src.cluster, tls = src.tls.is_some(), "starting the discovery client");
    tokio::select! {
        _ = client_loop(src.clone(), tx) => {}
        _ = consume(src, rx, handle) => {}
    }
}

async fn consume(src: GrpcSource, mut rx: watch::Receiver<ClientState>, handle: Arc<TableHandle>) {
    let mut converter = Some(Converter::default());
    let mut published: Option<Arc<NameTable>> = None;
    let mut connected = false;
    let mut ended = 0;
    while rx.changed().await.is_ok() {
        let state = rx.borrow_and_update().clone();
        handle.metrics().stream_status(&status_of(&state));
        let services = published.as_ref().map(|t| t.len());
        // A drop and reconnect between two looks at the state still shows as a new ended
        // connection.
        if connected && (!state.connected || state.reconnects > ended) {
            connected = false;
            tracing::warn!(url = %src.url, cluster = %src.cluster, table_age_s = ?age_secs(&state), services = ?services, "discovery stream disconnected; serving the last table");
        }
        if state.connected && !connected {
            connected = true;
            tracing::info!(url = %src.url, cluster = %src.cluster, table_age_s = ?age_secs(&state), services = ?services, "discovery stream connected");
        }
        ended = state.reconnects;
        let Some(table) = state.table else { continue };
        if published.as_ref().is_some_and(|p| Arc::ptr_eq(p, &table)) {
            continue;
        }
        published = Some(table.clone());
        let mut conv = converter.take().unwrap_or_default();
        let h = handle.clone();
        let done = tokio::task::spawn_blocking(move || {
            let set = conv.convert(&table);
            let result = h.publish(&set);
            (conv, result)
        })
        .await;
        match done {
            Ok((conv, result)) => {
                handle.metrics().stream_skipped_records(conv.skipped());
                converter = Some(conv);
                if let Err(e) = result {
                    tracing::error!(error = %e, "building the answer table failed");
                    handle.metrics().table_load_error();
                }
            }
            Err(e) => tracing::error!(error = %e, "table conversion task failed"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(validate_server_name("discovery.isthmus.test").is_ok());
        assert!(validate_server_name("127.0.0.1").is_ok());
        assert!(validate_server_name("bad name").is_err());
    }
}
