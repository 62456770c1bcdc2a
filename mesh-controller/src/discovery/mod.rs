//! ClusterSet discovery over gRPC: every replica serves each member's name table to the DNS
//! proxies of that member.
//!
//! After each reconcile pass the runtime hands the desired objects per member to
//! [`Discovery::publish`]; a task of its own turns them into name tables ([`mesh_proto::mcs`], through a
//! [`TableBuilder`] that only rebuilds members whose objects changed) and gives them to the
//! [`Publisher`]. The publisher sends subscribers only what changed (a delta per changed
//! member), and a snapshot to new subscribers or to those resuming from another epoch.
//! Non-leader replicas compute the same desired state, so any replica can serve any proxy.
//!
//! With TLS the server requires a client certificate under the clusterset root that carries the
//! URI SAN `spiffe://<trust-domain>/isthmus/dns-proxy/<cluster>` and is signed by that
//! cluster's own intermediate (subject `L=<cluster>`) or by the root
//! ([`mesh_proto::identity::check_signer`]), and streams only that cluster's view to it.
//! Plaintext is only used when asked for explicitly.

#[cfg(test)]
mod tables;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mesh_proto::identity::{ClientRoots, dns_proxy_spiffe_id};
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::service::{ClientAuth, DiscoveryService, ServerTls};
use mesh_proto::table::{Key, NameTable};
use mesh_proto::v1::ServiceRecord;
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
use crate::plan::ClusterPlan;
use mesh_proto::mcs::{self, ConvertError as TableError, Part, SliceEntry};

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
    isthmus_api::names::trust_domain(td).map_err(|_| DiscoveryError::TrustDomain(td.to_owned()))
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
/// empty table, so its proxies can subscribe), and per member the number of objects left out
/// because they could not be read (each is logged with its cluster).
pub fn tables_for(
    members: &[String],
    plans: &BTreeMap<String, ClusterPlan>,
) -> (BTreeMap<String, NameTable>, BTreeMap<String, usize>) {
    let built = TableBuilder::default().build(members, plans);
    (built.tables.into_iter().collect(), built.skipped)
}

/// The tables of one pass: those of members whose desired objects changed (every member on
/// the first pass).
#[derive(Debug, Default)]
pub struct Built {
    /// New tables, by member.
    pub tables: Vec<(String, NameTable)>,
    /// Objects left out of a rebuilt table because they could not be read, by member.
    pub skipped: BTreeMap<String, usize>,
}

/// Builds members' name tables pass after pass, doing only the work that changed.
///
/// The reconcile shares one [`DesiredObject`] (behind an `Arc`) between every member that gets
/// it and keeps the same `Arc` while the object does not change. So the builder reads each
/// shared object once (not once per member and pass), builds each service's record once per
/// distinct set of inputs, and skips a member whose objects are the very ones of the previous
/// pass. Entries are keyed by object address; the builder holds the `Arc`s of every address it
/// keys by, so no address is reused while it is remembered.
#[derive(Default)]
pub struct TableBuilder {
    /// Every shared object seen in the last pass, read.
    parts: HashMap<usize, ReadObject>,
    /// Records by the addresses of their inputs (the ServiceImport, then the sorted slices).
    records: HashMap<Vec<usize>, ServiceRecord>,
    /// The shared objects each member's current table was built from; `None` when it also had
    /// plain objects (always rebuilt).
    last: HashMap<String, Option<Vec<Arc<DesiredObject>>>>,
}

/// A shared object (kept, so its address stays taken) and what it contributes.
type ReadObject = (Arc<DesiredObject>, Option<Result<Part, TableError>>);

fn addr(o: &Arc<DesiredObject>) -> usize {
    Arc::as_ptr(o) as usize
}

impl TableBuilder {
    /// Builds the changed members' tables and publishes them; returns the members whose view
    /// changed (got a new version) and the per-member count of unreadable objects.
    pub fn publish(
        &mut self,
        publisher: &Publisher,
        members: &[String],
        plans: &BTreeMap<String, ClusterPlan>,
    ) -> (Vec<String>, BTreeMap<String, usize>) {
        let built = self.build(members, plans);
        let changed = if built.tables.len() == members.len() {
            // Every member at once (the first pass): no proxy sees some members' views
            // appear before the others'.
            publisher.publish_all(built.tables.into_iter().collect())
        } else {
            built
                .tables
                .into_iter()
                .filter_map(|(cluster, table)| {
                    publisher.publish(&cluster, table).then_some(cluster)
                })
                .collect()
        };
        (changed, built.skipped)
    }

    /// Builds the tables of the members whose desired objects changed since the last call.
    pub fn build(&mut self, members: &[String], plans: &BTreeMap<String, ClusterPlan>) -> Built {
        let Self {
            parts,
            records,
            last,
        } = self;
        let mut used_parts: HashSet<usize> = HashSet::new();
        let mut used_records: HashSet<Vec<usize>> = HashSet::new();
        let mut out = Built::default();
        let no_shared: &[Arc<DesiredObject>] = &[];
        let no_plain: &[serde_json::Value] = &[];
        for m in members {
            let (shared, plain) = plans.get(m).map_or((no_shared, no_plain), |p| {
                (p.shared.as_slice(), p.objects.as_slice())
            });
            for o in shared {
                let a = addr(o);
                used_parts.insert(a);
                parts.entry(a).or_insert_with(|| {
                    let read = mcs::part(&o.body);
                    if let Some(Err(e)) = &read {
                        warn!(cluster = %m, error = %e, "desired object left out of the discovery table");
                    }
                    (o.clone(), read)
                });
            }
            let unchanged = plain.is_empty()
                && last.get(m).is_some_and(|l| {
                    l.as_ref().is_some_and(|l| {
                        l.len() == shared.len()
                            && l.iter().zip(shared).all(|(a, b)| Arc::ptr_eq(a, b))
                    })
                });
            if unchanged {
                continue;
            }
            let mut errors = shared
                .iter()
                .filter(|o| matches!(parts.get(&addr(o)), Some((_, Some(Err(_))))))
                .count();
            let table = if plain.is_empty() {
                // Per service: its import and slices, with their addresses.
                type Inputs<'a> = (
                    Option<(usize, &'a ServiceRecord)>,
                    Vec<(usize, &'a SliceEntry)>,
                );
                let mut services: BTreeMap<&Key, Inputs<'_>> = BTreeMap::new();
                for o in shared {
                    let a = addr(o);
                    match parts.get(&a) {
                        Some((_, Some(Ok(Part::Import(key, r))))) => {
                            services.entry(key).or_default().0 = Some((a, r));
                        }
                        Some((_, Some(Ok(Part::Slice(s))))) => {
                            services.entry(s.service()).or_default().1.push((a, s));
                        }
                        _ => {}
                    }
                }
                let mut table = NameTable::new();
                for (import, mut slices) in services.into_values() {
                    // A slice without its ServiceImport names nothing (DNS ignores it too).
                    let Some((ia, import)) = import else { continue };
                    slices.sort_by_key(|(a, _)| *a);
                    let mut inputs = Vec::with_capacity(slices.len() + 1);
                    inputs.push(ia);
                    inputs.extend(slices.iter().map(|(a, _)| *a));
                    let record = records.entry(inputs.clone()).or_insert_with(|| {
                        mcs::service_record(import, slices.iter().map(|(_, s)| *s))
                    });
                    // Keys were checked when the parts were read.
                    let _ = table.upsert(record.clone());
                    used_records.insert(inputs);
                }
                last.insert(m.clone(), Some(shared.to_vec()));
                table
            } else {
                // Plain objects are read on every pass; the whole table is assembled.
                let mut own = Vec::new();
                for o in plain {
                    match mcs::part(o) {
                        Some(Ok(p)) => own.push(p),
                        Some(Err(e)) => {
                            warn!(cluster = %m, error = %e, "desired object left out of the discovery table");
                            errors += 1;
                        }
                        None => {}
                    }
                }
                let from_shared = shared.iter().filter_map(|o| match parts.get(&addr(o)) {
                    Some((_, Some(Ok(p)))) => Some(p),
                    _ => None,
                });
                last.insert(m.clone(), None);
                mcs::assemble(from_shared.chain(own.iter()))
            };
            if errors > 0 {
                out.skipped.insert(m.clone(), errors);
            }
            out.tables.push((m.clone(), table));
        }
        parts.retain(|a, _| used_parts.contains(a));
        records.retain(|k, _| used_records.contains(k));
        last.retain(|m, _| members.contains(m));
        out
    }
}

/// The running discovery server and its publisher.
pub struct Discovery {
    publisher: Arc<Publisher>,
    addr: SocketAddr,
    /// The latest pass's desired objects, for the task that builds and publishes tables.
    latest: tokio::sync::watch::Sender<Option<Arc<BTreeMap<String, ClusterPlan>>>>,
}

/// Builds and publishes the tables of the latest pass, one pass at a time, off the reconcile
/// loop: a pass never waits for discovery, and passes that came while a build ran are folded
/// into the next build (each is the whole desired state).
async fn publish_loop(
    publisher: Arc<Publisher>,
    members: Vec<String>,
    metrics: Arc<Metrics>,
    mut latest: tokio::sync::watch::Receiver<Option<Arc<BTreeMap<String, ClusterPlan>>>>,
    cancel: CancellationToken,
) {
    let builder = Arc::new(std::sync::Mutex::new(TableBuilder::default()));
    let members = Arc::new(members);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = latest.changed() => if changed.is_err() { return },
        }
        let Some(plans) = latest.borrow_and_update().clone() else {
            continue;
        };
        let (builder, publisher, members) = (builder.clone(), publisher.clone(), members.clone());
        let built = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let (changed, skipped) = builder
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .publish(&publisher, &members, &plans);
            (changed, skipped, started.elapsed())
        })
        .await;
        match built {
            Ok((changed, skipped, took)) => {
                for (cluster, n) in skipped {
                    metrics.discovery_skipped(&cluster, n);
                }
                metrics
                    .discovery_publish_duration
                    .observe(took.as_secs_f64());
                if !changed.is_empty() {
                    debug!(changed = %changed.join(","), took_ms = took.as_millis() as u64, "discovery tables published");
                }
            }
            Err(e) => error!(error = %e, "building the discovery tables failed"),
        }
    }
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
                let roots = ClientRoots::from_pem(&tls.client_ca_pem)
                    .map_err(|e| DiscoveryError::Tls(e.to_string()))?;
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
                    ClientAuth::ClusterCertificate(roots),
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
        let cancel_publish = cancel.clone();
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
        let (latest, rx) = tokio::sync::watch::channel(None);
        tasks.spawn(publish_loop(
            publisher.clone(),
            members,
            metrics,
            rx,
            cancel_publish,
        ));
        info!(%addr, tls, "serving ClusterSet discovery");
        Ok(Self {
            publisher,
            addr,
            latest,
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

    /// Hands the pass's desired objects to the publishing task and returns at once; the
    /// tables of the members whose objects changed are built and published there.
    pub fn publish(&self, plans: &BTreeMap<String, ClusterPlan>) {
        // Only the objects: Arc clones of the shared ones (the plain ones are normally none).
        let objects = plans
            .iter()
            .map(|(m, p)| {
                (
                    m.clone(),
                    ClusterPlan {
                        objects: p.objects.clone(),
                        shared: p.shared.clone(),
                        ..ClusterPlan::default()
                    },
                )
            })
            .collect();
        self.latest.send_replace(Some(Arc::new(objects)));
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

    fn slice(service: &str, cluster: &str, ip: &str) -> Arc<DesiredObject> {
        Arc::new(
            DesiredObject::new(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{service}-{cluster}"), "namespace": "shop",
                    "labels": {"multicluster.kubernetes.io/service-name": service,
                               "multicluster.kubernetes.io/source-cluster": cluster}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [ip]}],
                "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_builder_rebuilds_only_members_whose_objects_changed_and_matches_a_fresh_build() {
        let web = Arc::new(DesiredObject::new(import("web")).unwrap());
        let db = Arc::new(DesiredObject::new(import("db")).unwrap());
        let web_east = slice("web", "east", "10.1.0.1");
        let db_west = slice("db", "west", "10.2.0.1");
        let plan = |objects: Vec<Arc<DesiredObject>>| ClusterPlan {
            shared: objects,
            ..ClusterPlan::default()
        };
        let members: Vec<String> = ["east", "west", "north"].map(String::from).to_vec();
        let mut plans = BTreeMap::new();
        plans.insert("east".to_owned(), plan(vec![web.clone(), web_east.clone()]));
        plans.insert(
            "west".to_owned(),
            plan(vec![
                web.clone(),
                web_east.clone(),
                db.clone(),
                db_west.clone(),
            ]),
        );
        let mut builder = TableBuilder::default();
        let first = builder.build(&members, &plans);
        // Every member on the first pass (north has no plan: an empty table).
        assert_eq!(first.tables.len(), 3);
        let fresh = tables_for(&members, &plans).0;
        for (m, t) in &first.tables {
            assert_eq!(Some(t), fresh.get(m), "{m}");
        }
        assert_eq!(fresh["west"].len(), 2);
        // Same objects: nothing to rebuild.
        assert!(builder.build(&members, &plans).tables.is_empty());
        // A new slice object for web: the members holding web are rebuilt, north is not.
        let web_east2 = slice("web", "east", "10.1.0.2");
        plans.insert(
            "east".to_owned(),
            plan(vec![web.clone(), web_east2.clone()]),
        );
        plans.insert(
            "west".to_owned(),
            plan(vec![
                db.clone(),
                db_west.clone(),
                web.clone(),
                web_east2.clone(),
            ]),
        );
        let next = builder.build(&members, &plans);
        let rebuilt: Vec<&str> = next.tables.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(rebuilt, vec!["east", "west"]);
        let fresh = tables_for(&members, &plans).0;
        for (m, t) in &next.tables {
            assert_eq!(Some(t), fresh.get(m), "{m}");
        }
        let r = fresh["east"].get(&Key::new("shop", "web")).unwrap();
        assert_eq!(r.clusters[0].endpoints[0].addresses, vec!["10.1.0.2"]);
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
