//! ClusterSet discovery over gRPC: every replica serves each member's name table to the DNS
//! proxies of that member.
//!
//! After each reconcile pass the runtime hands the desired objects per member to
//! [`Discovery::publish`], which turns them into name tables ([`tables`]) and gives them to the
//! [`Publisher`]; the publisher sends subscribers only what changed (a delta per changed
//! member), and a snapshot to new subscribers or to those resuming from another epoch.
//! Non-leader replicas compute the same desired state, so any replica can serve any proxy.
//!
//! With TLS the server requires a client certificate under the clusterset root that carries the
//! URI SAN `spiffe://<trust-domain>/isthmus/dns-proxy/<cluster>`, and streams only that
//! cluster's view to it. Plaintext is only used when asked for explicitly.

pub mod tables;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mesh_proto::identity::dns_proxy_spiffe_id;
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::service::{ClientAuth, DiscoveryService, ServerTls};
use mesh_proto::table::NameTable;
use mesh_proto::v1::WatchRequest;
use mesh_proto::v1::cluster_set_discovery_server::{
    ClusterSetDiscovery, ClusterSetDiscoveryServer,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::{debug, error, info, warn};

use crate::metrics::Metrics;
use crate::model::DesiredObject;
use crate::runtime::ClusterPlan;
use tables::{Part, TableError};

/// The default address of the discovery API.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";

/// The default trust domain of DNS proxy identities.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// Errors setting up discovery.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The listen address could not be bound.
    #[error("discovery: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TLS file could not be read.
    #[error("{flag} {}: {source}", path.display())]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TLS file holds no usable PEM material.
    #[error("{flag} {}: {reason}", path.display())]
    Pem {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The trust domain is not usable in a SPIFFE ID.
    #[error(
        "--trust-domain {0:?}: not a valid trust domain (lower-case letters, digits, '.', '-', '_')"
    )]
    TrustDomain(String),
    /// The TLS configuration was refused by the server.
    #[error("discovery TLS: {0}")]
    Tls(String),
}

/// How the discovery API is served.
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Server certificate, key and the clusterset root for client certificates; `None` serves
    /// plaintext without authentication.
    pub tls: Option<ServerTls>,
    /// Trust domain of the DNS proxies' SPIFFE IDs (checked with TLS).
    pub trust_domain: String,
    /// Keepalive message period on idle streams.
    pub keepalive: Duration,
    /// Delta history, subscriber buffer and snapshot part size.
    pub publisher: PublisherConfig,
}

impl DiscoveryConfig {
    /// Plaintext on `listen` with default settings.
    pub fn insecure(listen: SocketAddr) -> Self {
        Self {
            listen,
            tls: None,
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
            keepalive: Duration::from_secs(15),
            publisher: PublisherConfig::default(),
        }
    }
}

/// Checks that `td` can be a SPIFFE trust domain.
pub fn validate_trust_domain(td: &str) -> Result<(), DiscoveryError> {
    let ok = !td.is_empty()
        && td.len() <= 255
        && td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DiscoveryError::TrustDomain(td.to_owned()))
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, DiscoveryError> {
    std::fs::read(path).map_err(|source| DiscoveryError::Read {
        flag,
        path: path.to_owned(),
        source,
    })
}

fn certs(flag: &'static str, path: &Path, pem: &[u8]) -> Result<usize, DiscoveryError> {
    let pem_err = |reason: String| DiscoveryError::Pem {
        flag,
        path: path.to_owned(),
        reason,
    };
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(pem) {
        c.map_err(|e| pem_err(format!("bad certificate PEM: {e}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(pem_err("no CERTIFICATE block".into()));
    }
    Ok(n)
}

/// Reads the server certificate chain, its key and the client CA bundle, checking that each
/// holds the PEM it should.
pub fn load_tls(cert: &Path, key: &Path, client_ca: &Path) -> Result<ServerTls, DiscoveryError> {
    let cert_pem = read("--discovery-tls-cert", cert)?;
    certs("--discovery-tls-cert", cert, &cert_pem)?;
    let key_pem = read("--discovery-tls-key", key)?;
    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| DiscoveryError::Pem {
        flag: "--discovery-tls-key",
        path: key.to_owned(),
        reason: format!("no usable private key: {e}"),
    })?;
    let client_ca_pem = read("--discovery-client-ca", client_ca)?;
    certs("--discovery-client-ca", client_ca, &client_ca_pem)?;
    Ok(ServerTls {
        cert_pem,
        key_pem,
        client_ca_pem,
    })
}

/// The name tables of `members` from their desired objects (a member without a plan gets an
/// empty table, so its proxies can subscribe). An object shared by several members is read
/// once. Objects that cannot be read are logged with their cluster and skipped; the count of
/// them per cluster is returned too.
pub fn tables_for(
    members: &[String],
    plans: &BTreeMap<String, ClusterPlan>,
) -> (BTreeMap<String, NameTable>, BTreeMap<String, usize>) {
    // Keyed by the shared object's address: the plans (and so the objects) outlive the map.
    let mut shared: HashMap<*const DesiredObject, Option<Result<Part, TableError>>> =
        HashMap::new();
    let mut out = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    for m in members {
        let mut errors = 0;
        let mut report = |e: &TableError| {
            warn!(cluster = %m, error = %e, "desired object left out of the discovery table");
            errors += 1;
        };
        let mut own = Vec::new();
        let mut parts: Vec<&Part> = Vec::new();
        if let Some(plan) = plans.get(m) {
            for o in &plan.shared {
                let read = shared
                    .entry(Arc::as_ptr(o))
                    .or_insert_with(|| tables::part(&o.body));
                if let Some(Err(e)) = read {
                    report(e);
                }
            }
            for o in &plan.objects {
                match tables::part(o) {
                    Some(Ok(p)) => own.push(p),
                    Some(Err(e)) => report(&e),
                    None => {}
                }
            }
            parts.extend(
                plan.shared
                    .iter()
                    .filter_map(|o| match shared.get(&Arc::as_ptr(o)) {
                        Some(Some(Ok(p))) => Some(p),
                        _ => None,
                    }),
            );
        }
        parts.extend(own.iter());
        out.insert(m.clone(), tables::assemble(parts));
        if errors > 0 {
            skipped.insert(m.clone(), errors);
        }
    }
    (out, skipped)
}

/// The running discovery server and its publisher.
pub struct Discovery {
    publisher: Arc<Publisher>,
    addr: SocketAddr,
    members: Vec<String>,
    metrics: Arc<Metrics>,
}

impl Discovery {
    /// Binds `cfg.listen` and serves until `cancel` fires. Subscribers are refused with
    /// `UNAVAILABLE` until the first [`Discovery::publish`].
    pub async fn start(
        cfg: DiscoveryConfig,
        members: Vec<String>,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
        tasks: &mut JoinSet<()>,
    ) -> Result<Self, DiscoveryError> {
        validate_trust_domain(&cfg.trust_domain)?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| DiscoveryError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DiscoveryError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let publisher = Arc::new(Publisher::new(cfg.publisher.clone()));
        metrics.discovery.attach(publisher.stats(), members.clone());

        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(20)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .tcp_keepalive(Some(Duration::from_secs(30)));
        let (auth, trust_domain) = match &cfg.tls {
            Some(tls) => {
                let config = tonic::transport::ServerTlsConfig::new()
                    .identity(tonic::transport::Identity::from_pem(
                        &tls.cert_pem,
                        &tls.key_pem,
                    ))
                    .client_ca_root(tonic::transport::Certificate::from_pem(&tls.client_ca_pem));
                builder = builder
                    .tls_config(config)
                    .map_err(|e| DiscoveryError::Tls(e.to_string()))?;
                (
                    ClientAuth::ClusterCertificate,
                    Some(cfg.trust_domain.clone()),
                )
            }
            None => (ClientAuth::Insecure, None),
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let service = TrustDomainCheck {
            inner: DiscoveryService::new(publisher.clone(), cfg.keepalive, auth, stop_rx),
            trust_domain,
        };
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let router = builder.add_service(ClusterSetDiscoveryServer::new(service));
        let tls = cfg.tls.is_some();
        tasks.spawn(async move {
            let shutdown = async move {
                cancel.cancelled().await;
                // End open streams so proxies move on instead of holding the shutdown open.
                let _ = stop_tx.send(true);
            };
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                error!(error = %e, "discovery server stopped");
            }
        });
        info!(%addr, tls, "serving ClusterSet discovery");
        Ok(Self {
            publisher,
            addr,
            members,
            metrics,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The publisher (versions, tables, counters).
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// Publishes every member's table from the pass's desired objects; returns the members
    /// whose table changed.
    pub fn publish(&self, plans: &BTreeMap<String, ClusterPlan>) -> Vec<String> {
        let started = Instant::now();
        let (tables, skipped) = tables_for(&self.members, plans);
        for (cluster, n) in skipped {
            self.metrics.discovery_skipped(&cluster, n);
        }
        let changed = self.publisher.publish_all(tables);
        self.metrics
            .discovery_publish_duration
            .observe(started.elapsed().as_secs_f64());
        if !changed.is_empty() {
            debug!(changed = %changed.join(","), "discovery tables published");
        }
        changed
    }
}

/// With TLS: checks that the client certificate names the requested cluster under the
/// configured trust domain, then hands the request to the service (which checks the cluster
/// again and serves it).
struct TrustDomainCheck {
    inner: DiscoveryService,
    trust_domain: Option<String>,
}

fn uri_sans(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("not DER X.509: {e}"))?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name {
                out.push((*uri).to_owned());
            }
        }
    }
    Ok(out)
}

/// Whether the certificate `der` carries the SPIFFE ID of `cluster`'s DNS proxy in
/// `trust_domain`.
pub fn certificate_names_proxy(
    der: &[u8],
    trust_domain: &str,
    cluster: &str,
) -> Result<bool, String> {
    let want = dns_proxy_spiffe_id(trust_domain, cluster);
    Ok(uri_sans(der)?.contains(&want))
}

#[tonic::async_trait]
impl ClusterSetDiscovery for TrustDomainCheck {
    type WatchStream = <DiscoveryService as ClusterSetDiscovery>::WatchStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        if let Some(td) = &self.trust_domain {
            let cluster = request.get_ref().cluster.clone();
            let leaf = request
                .peer_certs()
                .and_then(|c| c.first().map(|c| c.as_ref().to_vec()))
                .ok_or_else(|| {
                    Status::unauthenticated("a client certificate naming the cluster is required")
                })?;
            let named = certificate_names_proxy(&leaf, td, &cluster)
                .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))?;
            if !named {
                return Err(Status::permission_denied(format!(
                    "client certificate does not carry {}",
                    dns_proxy_spiffe_id(td, &cluster)
                )));
            }
        }
        self.inner.watch(request).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trust_domains_are_checked() {
        assert!(validate_trust_domain("cluster.local").is_ok());
        assert!(validate_trust_domain("example-org_1.io").is_ok());
        for bad in ["", "Cluster.local", "a/b", "spiffe://x"] {
            assert!(validate_trust_domain(bad).is_err(), "{bad}");
        }
    }

    fn import(name: &str) -> serde_json::Value {
        json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.1"], "ports": []},
            "status": {"clusters": [{"cluster": "east"}]},
        })
    }

    #[test]
    fn every_member_gets_a_table_even_without_a_plan() {
        let mut plans = BTreeMap::new();
        plans.insert(
            "east".to_owned(),
            ClusterPlan {
                objects: vec![import("web")],
                ..ClusterPlan::default()
            },
        );
        let members = vec!["east".to_owned(), "west".to_owned()];
        let (tables, skipped) = tables_for(&members, &plans);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables["east"].len(), 1);
        assert!(tables["west"].is_empty());
        assert!(skipped.is_empty());
    }

    #[test]
    fn shared_and_plain_objects_make_the_same_table_and_errors_count_per_member() {
        let web = Arc::new(DesiredObject::new(import("web")).unwrap());
        let mut bad = import("bad");
        bad["spec"]["type"] = json!("LoadBalancer");
        let bad = Arc::new(DesiredObject::new(bad).unwrap());
        let mut plans = BTreeMap::new();
        for m in ["east", "west"] {
            plans.insert(
                m.to_owned(),
                ClusterPlan {
                    shared: vec![web.clone(), bad.clone()],
                    objects: vec![import("db")],
                    ..ClusterPlan::default()
                },
            );
        }
        let plain = ClusterPlan {
            objects: vec![import("web"), import("db")],
            ..ClusterPlan::default()
        };
        plans.insert("north".to_owned(), plain);
        let members: Vec<String> = plans.keys().cloned().collect();
        let (tables, skipped) = tables_for(&members, &plans);
        assert_eq!(tables["east"], tables["north"]);
        assert_eq!(tables["west"], tables["north"]);
        assert_eq!(tables["east"].len(), 2);
        assert_eq!(skipped.get("east"), Some(&1));
        assert_eq!(skipped.get("west"), Some(&1));
        assert_eq!(skipped.get("north"), None);
    }

    #[test]
    fn certificates_must_carry_the_proxy_identity_in_the_trust_domain() {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = vec![rcgen::SanType::URI(
            dns_proxy_spiffe_id("example.org", "east")
                .try_into()
                .unwrap(),
        )];
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        assert!(certificate_names_proxy(&der, "example.org", "east").unwrap());
        assert!(!certificate_names_proxy(&der, "cluster.local", "east").unwrap());
        assert!(!certificate_names_proxy(&der, "example.org", "west").unwrap());
        assert!(certificate_names_proxy(b"junk", "example.org", "east").is_err());
    }

    #[test]
    fn tls_files_are_checked_and_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mesh-controller".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k, bad) = (
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            dir.path().join("bad.pem"),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        std::fs::write(&bad, "not pem").unwrap();
        assert!(load_tls(&c, &k, &c).is_ok());
        let e = load_tls(&c, &k, &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("--discovery-client-ca") && e.contains("bad.pem"),
            "{e}"
        );
        let e = load_tls(&c, &c, &c).unwrap_err().to_string();
        assert!(e.starts_with("--discovery-tls-key"), "{e}");
        let e = load_tls(&dir.path().join("missing"), &k, &c)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--discovery-tls-cert") && e.contains("missing"),
            "{e}"
        );
    }
}
