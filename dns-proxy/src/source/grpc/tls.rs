//! The client's TLS files: read, checked, and handed to the discovery client.

use std::path::{Path, PathBuf};

use mesh_proto::client::ClientTls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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
