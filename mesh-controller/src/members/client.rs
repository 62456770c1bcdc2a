//! How to reach a member: its spec (kubeconfig file or inline text, context), the client
//! built from it, and where its API server is (for the kubeconfigs of its reader identity).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::model::ApiEndpoint;

/// Errors building a member's client.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// The member has no kubeconfig.
    #[error("member {member}: no kubeconfig given (field `kubeconfig` of the clusterset file)")]
    NoKubeconfig {
        /// Member name.
        member: String,
    },
    /// The kubeconfig could not be read or used.
    #[error("member {member}: kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// Member name.
        member: String,
        /// The file.
        path: PathBuf,
        /// The error.
        source: Box<kube::config::KubeconfigError>,
    },
    /// The client could not be built.
    #[error("member {member}: cannot build a client: {source}")]
    Client {
        /// Member name.
        member: String,
        /// The error.
        source: Box<kube::Error>,
    },
}

/// What the controller needs to know to reach a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// Cluster ID (unique in the clusterset).
    pub name: String,
    /// Istio network.
    pub network: String,
    /// Kubeconfig file.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig content (from a Secret), used instead of `kubeconfig` when set.
    pub kubeconfig_yaml: Option<KubeconfigText>,
    /// Kubeconfig context.
    pub context: Option<String>,
}

/// Kubeconfig text and where it came from (for error messages).
#[derive(Clone, PartialEq, Eq)]
pub struct KubeconfigText {
    /// Where it came from, e.g. `secret isthmus-system/east-kubeconfig`.
    pub origin: String,
    /// The YAML.
    pub yaml: String,
}

impl std::fmt::Debug for KubeconfigText {
    // Credentials stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KubeconfigText({})", self.origin)
    }
}

impl MemberSpec {
    /// The members of a clusterset file.
    pub fn from_clusterset(cs: &gateway_config::clusterset::ClusterSet) -> Vec<Self> {
        cs.members
            .iter()
            .map(|m| Self {
                name: m.name.clone(),
                network: m.network.clone(),
                kubeconfig: m.kubeconfig.clone(),
                kubeconfig_yaml: None,
                context: m.context.clone(),
            })
            .collect()
    }
}

/// Builds a client from a kubeconfig file and optional context.
pub async fn client_for(
    member: &str,
    path: &Path,
    context: Option<&str>,
) -> Result<Client, MemberError> {
    let kc_err = |source| MemberError::Kubeconfig {
        member: member.to_owned(),
        path: path.to_owned(),
        source: Box::new(source),
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kc_err)?;
    client_from_kubeconfig(member, kubeconfig, context, path).await
}

/// Builds the client of a member from its file or inline kubeconfig.
pub async fn client_for_spec(spec: &MemberSpec) -> Result<Client, MemberError> {
    connect(spec).await.map(|(client, _)| client)
}

/// Builds the client of a member and says where its API server is (without credentials).
pub async fn connect(spec: &MemberSpec) -> Result<(Client, ApiEndpoint), MemberError> {
    let config = config_for_spec(spec).await?;
    let endpoint = endpoint_of(&config);
    Ok((client_from_config(&spec.name, config)?, endpoint))
}

async fn config_for_spec(spec: &MemberSpec) -> Result<Config, MemberError> {
    if let Some(text) = &spec.kubeconfig_yaml {
        let origin = PathBuf::from(&text.origin);
        let kc = Kubeconfig::from_yaml(&text.yaml).map_err(|source| MemberError::Kubeconfig {
            member: spec.name.clone(),
            path: origin.clone(),
            source: Box::new(source),
        })?;
        return config_from_kubeconfig(&spec.name, kc, spec.context.as_deref(), &origin).await;
    }
    let path = spec
        .kubeconfig
        .as_ref()
        .ok_or_else(|| MemberError::NoKubeconfig {
            member: spec.name.clone(),
        })?;
    let kubeconfig = Kubeconfig::read_from(path).map_err(|source| MemberError::Kubeconfig {
        member: spec.name.clone(),
        path: path.clone(),
        source: Box::new(source),
    })?;
    config_from_kubeconfig(&spec.name, kubeconfig, spec.context.as_deref(), path).await
}

/// Where `config` reaches the API server: its URL, the CAs it verifies it with (PEM),
/// `tls-server-name` and whether verification is off. Never its credentials.
pub fn endpoint_of(config: &Config) -> ApiEndpoint {
    let server = config.cluster_url.to_string();
    let server = server.strip_suffix('/').unwrap_or(&server).to_owned();
    let ca_pem = config
        .root_cert
        .as_ref()
        .filter(|certs| !certs.is_empty())
        .map(|certs| certs.iter().map(|der| der_to_pem(der)).collect::<String>());
    ApiEndpoint {
        server,
        ca_pem,
        tls_server_name: config.tls_server_name.clone(),
        insecure: config.accept_invalid_certs,
    }
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

async fn config_from_kubeconfig(
    member: &str,
    kubeconfig: Kubeconfig,
    context: Option<&str>,
    origin: &Path,
) -> Result<Config, MemberError> {
    let opts = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &opts)
        .await
        .map_err(|source| MemberError::Kubeconfig {
            member: member.to_owned(),
            path: origin.to_owned(),
            source: Box::new(source),
        })?;
    // Fail requests fast so an unreachable member is noticed; watches use their own timeout.
    config.connect_timeout = Some(Duration::from_secs(3));
    config.read_timeout = Some(Duration::from_secs(60));
    Ok(config)
}

fn client_from_config(member: &str, config: Config) -> Result<Client, MemberError> {
    Client::try_from(config).map_err(|source| MemberError::Client {
        member: member.to_owned(),
        source: Box::new(source),
    })
}

/// Builds a client from an already parsed kubeconfig (`origin` names it in errors).
pub async fn client_from_kubeconfig(
    member: &str,
    kubeconfig: Kubeconfig,
    context: Option<&str>,
    origin: &Path,
) -> Result<Client, MemberError> {
    let config = config_from_kubeconfig(member, kubeconfig, context, origin).await?;
    client_from_config(member, config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_has_server_and_ca_but_no_credentials() {
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["api".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let yaml = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: https://192.0.2.9:6443\n    certificate-authority-data: {}\n    tls-server-name: api.internal\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user:\n    token: controller-secret\n",
            B64.encode(ca.pem())
        );
        let spec = MemberSpec {
            name: "east".into(),
            network: "n".into(),
            kubeconfig: None,
            kubeconfig_yaml: Some(KubeconfigText {
                origin: "test".into(),
                yaml,
            }),
            context: None,
        };
        let (_, endpoint) = connect(&spec).await.unwrap();
        assert_eq!(endpoint.server, "https://192.0.2.9:6443");
        assert_eq!(endpoint.tls_server_name.as_deref(), Some("api.internal"));
        assert!(!endpoint.insecure);
        let pem = endpoint.ca_pem.unwrap();
        let der = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .contents;
        assert_eq!(der, ca.der().to_vec());
        assert!(!format!("{pem}{}", endpoint.server).contains("controller-secret"));
    }
}
