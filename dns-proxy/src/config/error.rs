//! Errors in the configuration.

use std::path::PathBuf;

/// Errors in the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--source {0:?}: expected file:PATH, kube or grpc:URL")]
    Source(String),
    #[error("--source grpc:{url}: {reason}")]
    GrpcUrl { url: String, reason: String },
    #[error("--cluster is required with --source grpc:URL (the member cluster this proxy serves)")]
    ClusterMissing,
    #[error("--cluster {name:?}: {reason}")]
    Cluster { name: String, reason: String },
    #[error(
        "--source grpc:{0}: a plaintext http:// URL needs --insecure (or use https:// with --grpc-ca, --grpc-cert and --grpc-key)"
    )]
    PlaintextWithoutInsecure(String),
    #[error("--source grpc:{url}: https:// needs {flag} (mutual TLS is required)")]
    TlsFileMissing { url: String, flag: &'static str },
    #[error("{flag} is only used with an https:// --source grpc:URL")]
    UnusedTlsFlag { flag: &'static str },
    #[error("--insecure is only used with an http:// --source grpc:URL")]
    UnusedInsecure,
    #[error("{flag} is only used with --source grpc:URL")]
    NotGrpc { flag: &'static str },
    #[error("--grpc-server-name: {0}")]
    ServerName(String),
    #[error(transparent)]
    Tls(#[from] crate::source::grpc::GrpcError),
    #[error("reading {path}: {source}")]
    ResolvConf {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--zone {0:?} is not a valid domain name")]
    Zone(String),
    #[error("--source file: {0}")]
    SourceFile(#[source] crate::source::file::FileError),
}
