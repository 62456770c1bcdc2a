//! A `--source grpc:URL` configuration and the client configuration it gives.

use std::path::Path;
use std::time::{Duration, SystemTime};

use mesh_proto::client::ClientConfig;

use super::tls::{GrpcError, TlsFiles, load_tls};

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

    pub(super) fn file_stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
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
