//! The flags of `--source grpc:URL`, checked together into a [`GrpcSource`].

use std::path::PathBuf;
use std::time::Duration;

use isthmus_api::names::rfc1123_label;

use super::{Args, ConfigError, SourceSpec, check_grpc_url};
use crate::source::grpc::{GrpcSource, TlsFiles};
use mesh_proto::endpoint::check_server_name;

/// Validates the gRPC flags: for `--source grpc:` returns its configuration; for other
/// sources, any gRPC-only flag is an error.
pub fn grpc_source(args: &Args) -> Result<Option<GrpcSource>, ConfigError> {
    let url = match &args.source {
        SourceSpec::Grpc(url) => url.clone(),
        _ => {
            let set: [(&'static str, bool); 6] = [
                ("--cluster", args.cluster.is_some()),
                ("--grpc-ca", args.grpc_ca.is_some()),
                ("--grpc-cert", args.grpc_cert.is_some()),
                ("--grpc-key", args.grpc_key.is_some()),
                ("--grpc-server-name", args.grpc_server_name.is_some()),
                ("--insecure", args.insecure),
            ];
            if let Some((flag, _)) = set.iter().find(|(_, on)| *on) {
                return Err(ConfigError::NotGrpc { flag });
            }
            return Ok(None);
        }
    };
    check_grpc_url(&url)?;
    let cluster = args.cluster.clone().ok_or(ConfigError::ClusterMissing)?;
    rfc1123_label(&cluster).map_err(|e| ConfigError::Cluster {
        reason: format!("{cluster:?} {e}"),
        name: cluster.clone(),
    })?;
    let tls_flags: [(&'static str, bool); 4] = [
        ("--grpc-ca", args.grpc_ca.is_some()),
        ("--grpc-cert", args.grpc_cert.is_some()),
        ("--grpc-key", args.grpc_key.is_some()),
        ("--grpc-server-name", args.grpc_server_name.is_some()),
    ];
    let tls = if url.starts_with("https://") {
        if args.insecure {
            return Err(ConfigError::UnusedInsecure);
        }
        let need = |flag: &'static str, v: &Option<PathBuf>| {
            v.clone().ok_or_else(|| ConfigError::TlsFileMissing {
                url: url.clone(),
                flag,
            })
        };
        let files = TlsFiles {
            ca: need("--grpc-ca", &args.grpc_ca)?,
            cert: need("--grpc-cert", &args.grpc_cert)?,
            key: need("--grpc-key", &args.grpc_key)?,
            server_name: args.grpc_server_name.clone(),
        };
        if let Some(name) = &files.server_name {
            check_server_name(name).map_err(ConfigError::ServerName)?;
        }
        Some(files)
    } else {
        if let Some((flag, _)) = tls_flags.iter().find(|(_, on)| *on) {
            return Err(ConfigError::UnusedTlsFlag { flag });
        }
        if !args.insecure {
            return Err(ConfigError::PlaintextWithoutInsecure(url));
        }
        None
    };
    let mut src = GrpcSource::new(url, cluster);
    src.tls = tls;
    src.backoff_max = Duration::from_millis(args.grpc_backoff_max_ms.max(1));
    src.files_poll = Duration::from_millis(args.poll_interval_ms.max(10));
    // Read the files once now, so a missing or unreadable file stops the start with a clear
    // error instead of a retry loop.
    src.client_config()?;
    Ok(Some(src))
}
