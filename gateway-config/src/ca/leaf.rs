//! Leaf certificates for the discovery channel between the controller and the DNS proxies:
//! a server certificate for the controller's gRPC endpoint and one client certificate per
//! DNS proxy, both under the clusterset root, so the channel is mutual TLS with the same
//! trust anchor as the mesh.
//!
//! A leaf is signed either by the root itself or by an intermediate in the layout
//! `ca issue` writes (a [`CaCerts`] bundle). A DNS proxy's identity is bound to its cluster:
//! an intermediate signs only the DNS proxy of the cluster its subject names (`L=<cluster>`),
//! the root signs any. The controller checks the same rule on every client chain. The result is what a `kubernetes.io/tls`
//! Secret holds: `tls.crt` (leaf, then the signer's chain), `tls.key` and `ca.crt` (the
//! trusted roots).

use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Secret;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, SanType,
};

use super::CaError;
use super::bundle::{CaCerts, owned_secret};
use super::certs::{CertFacts, concat_pem, der_to_pem, parse_pem_certs, signed_by};
use super::keys::{KeyType, generate_key, key_matches, load_private_key};
use super::label::validate_cluster_name;
use super::root::{BACKDATE, RootCa, random_serial, to_offset};

/// URI path prefix of a DNS proxy's SPIFFE ID.
///
/// Note: this and [`dns_proxy_spiffe_id`] repeat `mesh_proto::identity::DNS_PROXY_PATH` and
/// `mesh_proto::identity::dns_proxy_spiffe_id`, which the controller uses to read the
/// cluster back out of a client certificate. gateway-config does not depend on mesh-proto,
/// so the one-line format is kept here too and must stay identical.
pub const DNS_PROXY_PATH: &str = "/isthmus/dns-proxy/";

/// Key of the certificate chain in a `kubernetes.io/tls` Secret and its file name.
pub const TLS_CERT_FILE: &str = "tls.crt";
/// Key of the private key in a `kubernetes.io/tls` Secret and its file name.
pub const TLS_KEY_FILE: &str = "tls.key";
/// Key of the trusted roots in the Secret and their file name.
pub const TLS_CA_FILE: &str = "ca.crt";

/// The SPIFFE ID a DNS proxy of `cluster` presents: `spiffe://<td>/isthmus/dns-proxy/<cluster>`.
pub fn dns_proxy_spiffe_id(trust_domain: &str, cluster: &str) -> String {
    format!("spiffe://{trust_domain}{DNS_PROXY_PATH}{cluster}")
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafRole {
    /// The controller's discovery server: DNS SANs (an entry that is an IP address becomes
    /// an IP SAN), extendedKeyUsage serverAuth.
    Server {
        /// Host names (or IP addresses) clients connect to.
        names: Vec<String>,
    },
    /// A DNS proxy connecting to the controller: URI SAN
    /// `spiffe://<trust_domain>/isthmus/dns-proxy/<cluster>`, extendedKeyUsage clientAuth.
    DnsProxyClient {
        /// The member cluster the DNS proxy serves (RFC 1123 label).
        cluster: String,
        /// The mesh's SPIFFE trust domain (for example `cluster.local`).
        trust_domain: String,
    },
}

impl LeafRole {
    /// Checks the names: host names are RFC 1123 subdomains (one leading `*.` allowed) or IP
    /// addresses, the cluster an RFC 1123 label, the trust domain a SPIFFE trust domain.
    pub fn validate(&self) -> Result<(), CaError> {
        match self {
            LeafRole::Server { names } => {
                if names.is_empty() {
                    return Err(CaError::Parameter {
                        field: "server DNS names",
                        problem: "at least one name is needed".into(),
                    });
                }
                for name in names {
                    validate_server_name(name)?;
                }
                Ok(())
            }
            LeafRole::DnsProxyClient {
                cluster,
                trust_domain,
            } => {
                validate_cluster_name(cluster)?;
                validate_trust_domain(trust_domain)
            }
        }
    }

    /// Default name of the Secret holding this leaf.
    pub fn default_secret_name(&self) -> &'static str {
        match self {
            LeafRole::Server { .. } => "isthmus-discovery-tls",
            LeafRole::DnsProxyClient { .. } => "isthmus-dns-proxy-tls",
        }
    }
}

fn validate_server_name(name: &str) -> Result<(), CaError> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let bare = name.strip_prefix("*.").unwrap_or(name);
    isthmus_api::names::rfc1123_subdomain(bare).map_err(|e| CaError::Parameter {
        field: "server DNS names",
        problem: format!("{name:?} {e}"),
    })
}

/// Checks a SPIFFE trust domain: 1 to 255 characters of lowercase letters, digits, `.`,
/// `-` and `_` (the SPIFFE ID specification).
pub fn validate_trust_domain(td: &str) -> Result<(), CaError> {
    let problem = if td.is_empty() {
        Some("is empty".to_string())
    } else if td.len() > 255 {
        Some("is longer than 255 characters".to_string())
    } else {
        td.chars()
            .find(|c| {
                !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
            })
            .map(|c| {
                format!(
                    "contains {c:?}; a SPIFFE trust domain holds only lowercase letters, digits, '.', '-' and '_'"
                )
            })
    };
    match problem {
        Some(p) => Err(CaError::Parameter {
            field: "trust domain",
            problem: format!("{td:?} {p}"),
        }),
        None => Ok(()),
    }
}

/// Options of a leaf certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafOptions {
    /// Key algorithm of the leaf's key.
    pub key_type: KeyType,
    /// Requested lifetime; cut to the signer's notAfter when longer.
    pub validity: SignedDuration,
}

impl Default for LeafOptions {
    /// ECDSA P-256, 90 days.
    fn default() -> Self {
        LeafOptions {
            key_type: KeyType::EcdsaP256,
            validity: SignedDuration::from_hours(24 * 90),
        }
    }
}

/// A CA that signs leaves: the root itself or a cluster's intermediate. Debug redacts the key.
pub struct LeafSigner {
    cert: CertFacts,
    key: KeyPair,
    /// Certificates after the leaf in `tls.crt`: the signer, then the rest of its chain.
    chain: Vec<CertFacts>,
    /// The trusted roots (`ca.crt`).
    roots: Vec<CertFacts>,
    /// Whether the signer is itself one of the trusted roots.
    is_root: bool,
}

impl std::fmt::Debug for LeafSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafSigner")
            .field("subject", &self.cert.subject)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl LeafSigner {
    /// Signs with the root: `tls.crt` is leaf + root, `ca.crt` the root.
    pub fn from_root(root: &RootCa) -> Result<Self, CaError> {
        let key = load_private_key(&root.key_pem(), "root key")?;
        let cert = root.cert().facts.clone();
        Ok(LeafSigner {
            chain: vec![cert.clone()],
            roots: vec![cert.clone()],
            cert,
            key,
            is_root: true,
        })
    }

    /// Signs with the intermediate of a `cacerts` bundle (as `ca issue` writes it): the key
    /// must match `ca-cert.pem`, which must be a CA valid at `now`; `cert-chain.pem` must
    /// start with it and chain to a root of `root-cert.pem`. `tls.crt` is leaf +
    /// `cert-chain.pem`, `ca.crt` is `root-cert.pem`. `what` names the bundle in errors.
    pub fn from_cacerts(bundle: &CaCerts, what: &str, now: Timestamp) -> Result<Self, CaError> {
        let part = |name: &str| format!("{what}/{name}");
        let [cert_name, key_name, chain_name, root_name] = CaCerts::FILE_NAMES;
        let mut certs = parse_pem_certs(&bundle.ca_cert, &part(cert_name))?;
        if certs.len() != 1 {
            return Err(CaError::Pem {
                what: part(cert_name),
                problem: format!("holds {} certificates; expected one", certs.len()),
            });
        }
        let cert = certs.remove(0);
        if let Some((field, problem)) = cert.ca_problem() {
            return Err(CaError::NotCa {
                what: part(cert_name),
                field,
                problem,
            });
        }
        if let Some(err) = cert.validity_problem(&part(cert_name), now) {
            return Err(err);
        }
        let key = load_private_key(&bundle.ca_key, &part(key_name))?;
        if !key_matches(&key, &cert.public_key) {
            return Err(CaError::KeyMismatch {
                key: part(key_name),
                cert: part(cert_name),
            });
        }
        let chain = parse_pem_certs(&bundle.cert_chain, &part(chain_name))?;
        if chain.first().map(|c| &c.der) != Some(&cert.der) {
            return Err(CaError::WrongIssuer {
                what: part(chain_name),
                problem: format!("does not start with {}", part(cert_name)),
            });
        }
        for pair in chain.windows(2) {
            if let [child, parent] = pair
                && !signed_by(child, parent)
            {
                return Err(CaError::WrongIssuer {
                    what: part(chain_name),
                    problem: format!("{} is not signed by {}", child.subject, parent.subject),
                });
            }
        }
        let roots = parse_pem_certs(&bundle.root_cert, &part(root_name))?;
        let last = chain.last().unwrap_or(&cert);
        let anchored = roots
            .iter()
            .any(|r| r.der == last.der || signed_by(last, r));
        if !anchored {
            return Err(CaError::WrongIssuer {
                what: part(chain_name),
                problem: format!("does not chain to a root of {}", part(root_name)),
            });
        }
        let is_root = roots.iter().any(|r| r.der == cert.der);
        Ok(LeafSigner {
            cert,
            key,
            chain,
            roots,
            is_root,
        })
    }

    /// Whether the signer is a clusterset root (which may sign any cluster's DNS proxy).
    pub fn is_root(&self) -> bool {
        self.is_root
    }

    /// The clusters an intermediate signer's subject names (its `L` attributes); empty for a
    /// root or an intermediate that names none.
    pub fn clusters(&self) -> &[String] {
        if self.is_root {
            &[]
        } else {
            &self.cert.localities
        }
    }

    /// Why this signer may not sign the DNS proxy identity of `cluster`: `None` for a root or
    /// for `cluster`'s own intermediate (exactly one `L`, equal to `cluster`), else what the
    /// signer is, for an error message.
    pub fn foreign_to(&self, cluster: &str) -> Option<String> {
        if self.is_root {
            return None;
        }
        match self.cert.localities.as_slice() {
            [own] if own == cluster => None,
            [own] => Some(format!("the intermediate of cluster {own:?}")),
            [] => Some("an intermediate whose subject names no cluster (no L attribute)".into()),
            many => Some(format!(
                "an intermediate naming several clusters ({})",
                many.join(", ")
            )),
        }
    }

    /// The signer's subject.
    pub fn subject(&self) -> &str {
        &self.cert.subject
    }

    /// The signer's notAfter: no leaf outlives it.
    pub fn not_after(&self) -> Timestamp {
        self.cert.not_after
    }
}

/// A leaf certificate with its key and trust anchors. Debug redacts the key.
#[derive(Clone, PartialEq, Eq)]
pub struct LeafCert {
    /// `tls.crt`: the leaf, then the signer's chain (PEM).
    pub cert_chain: String,
    /// `tls.key`: the leaf's private key (PKCS#8 PEM). Secret.
    pub key: String,
    /// `ca.crt`: the trusted roots (PEM).
    pub ca: String,
    /// The leaf's notAfter.
    pub not_after: Timestamp,
}

impl std::fmt::Debug for LeafCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCert")
            .field("cert_chain", &self.cert_chain)
            .field("key", &"<redacted>")
            .field("ca", &self.ca)
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl LeafCert {
    /// The three files, in the order `tls.crt`, `tls.key`, `ca.crt`.
    pub fn files(&self) -> [(&'static str, &str); 3] {
        [
            (TLS_CERT_FILE, self.cert_chain.as_str()),
            (TLS_KEY_FILE, self.key.as_str()),
            (TLS_CA_FILE, self.ca.as_str()),
        ]
    }

    /// A `kubernetes.io/tls` Secret holding the three files.
    pub fn to_secret(&self, name: &str, namespace: &str) -> Secret {
        owned_secret(name, namespace, "kubernetes.io/tls", &self.files())
    }

    /// The Secret manifest as YAML.
    pub fn to_secret_yaml(&self, name: &str, namespace: &str) -> Result<String, CaError> {
        isthmus_api::yaml::to_string(&self.to_secret(name, namespace)).map_err(|e| {
            CaError::Secret {
                what: format!("Secret {namespace}/{name}"),
                field: "manifest".into(),
                problem: e.to_string(),
            }
        })
    }
}

/// The notAfter of a leaf of `validity` issued at `now` by `signer`: cut to the signer's
/// notAfter. The flag tells whether it was cut.
pub fn leaf_not_after(
    signer: &LeafSigner,
    validity: SignedDuration,
    now: Timestamp,
) -> (Timestamp, bool) {
    match now.checked_add(validity) {
        Ok(t) if t <= signer.cert.not_after => (t, false),
        _ => (signer.cert.not_after, true),
    }
}

/// Issues a leaf for `role`, signed by `signer`: basicConstraints critical CA:FALSE;
/// keyUsage critical digitalSignature (and keyEncipherment for an RSA key, as the workload
/// certificates of Istio's Makefile); extendedKeyUsage serverAuth or clientAuth; the SANs
/// of the role; subject O of the signer, CN the first server name (when it fits the 64
/// characters X.520 allows) or `dns-proxy.<cluster>`; authorityKeyIdentifier of the signer.
/// The validity is cut to the signer's notAfter. A DNS proxy client certificate is refused
/// ([`CaError::ForeignCluster`]) unless the signer is a root or the cluster's own
/// intermediate ([`LeafSigner::foreign_to`]).
pub fn issue_leaf(
    signer: &LeafSigner,
    role: &LeafRole,
    options: &LeafOptions,
    now: Timestamp,
) -> Result<LeafCert, CaError> {
    role.validate()?;
    if options.validity <= SignedDuration::ZERO {
        return Err(CaError::Parameter {
            field: "validity",
            problem: "must be positive".into(),
        });
    }
    if let Some(err) = signer.cert.validity_problem("signing certificate", now) {
        return Err(err);
    }
    if let LeafRole::DnsProxyClient { cluster, .. } = role
        && let Some(signer) = signer.foreign_to(cluster)
    {
        return Err(CaError::ForeignCluster {
            cluster: cluster.clone(),
            signer,
        });
    }
    let (not_after, _) = leaf_not_after(signer, options.validity, now);
    let not_before = now
        .checked_sub(BACKDATE)
        .unwrap_or(now)
        .max(signer.cert.not_before);

    let key = generate_key(options.key_type)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(org) = signer.cert.organisations.first() {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org.as_str());
    }
    let san_err = |e: rcgen::Error| CaError::Parameter {
        field: "subjectAltName",
        problem: e.to_string(),
    };
    match role {
        LeafRole::Server { names } => {
            // X.520 bounds a CN to 64 characters; a longer first name stays in the SANs only.
            if let Some(first) = names.first().filter(|n| n.len() <= 64) {
                params
                    .distinguished_name
                    .push(DnType::CommonName, first.as_str());
            }
            for name in names {
                let san = match name.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(name.as_str().try_into().map_err(san_err)?),
                };
                params.subject_alt_names.push(san);
            }
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        LeafRole::DnsProxyClient {
            cluster,
            trust_domain,
        } => {
            params
                .distinguished_name
                .push(DnType::CommonName, format!("dns-proxy.{cluster}"));
            let uri = dns_proxy_spiffe_id(trust_domain, cluster);
            params
                .subject_alt_names
                .push(SanType::URI(uri.as_str().try_into().map_err(san_err)?));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if key.algorithm() == &PKCS_RSA_SHA256 {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.use_authority_key_identifier_extension = true;
    params.not_before = to_offset(not_before, "notBefore")?;
    params.not_after = to_offset(not_after, "notAfter")?;
    params.serial_number = Some(random_serial()?);

    let issuer =
        Issuer::from_ca_cert_der(&signer.cert.der.clone().into(), &signer.key).map_err(|e| {
            CaError::Parse {
                what: "signing certificate".into(),
                field: "subject",
                problem: e.to_string(),
            }
        })?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| CaError::Crypto {
            what: "leaf certificate".into(),
            problem: e.to_string(),
        })?;
    let leaf = CertFacts::parse(cert.der(), "issued leaf certificate")?;
    if !signed_by(&leaf, &signer.cert) {
        return Err(CaError::WrongIssuer {
            what: "issued leaf certificate".into(),
            problem: format!(
                "issuer name does not equal the subject of {} byte for byte",
                signer.cert.subject
            ),
        });
    }
    let mut cert_chain = der_to_pem(&leaf.der);
    cert_chain.push_str(&concat_pem(&signer.chain));
    Ok(LeafCert {
        cert_chain,
        key: key.serialize_pem(),
        ca: concat_pem(&signer.roots),
        not_after,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::*;
    use crate::ca::{IntermediateOptions, RootOptions, issue_intermediate};

    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn root() -> RootCa {
        RootCa::generate(&RootOptions::default(), now()).unwrap()
    }

    fn server() -> LeafRole {
        LeafRole::Server {
            names: vec![
                "isthmus-discovery.isthmus-system.svc".into(),
                "discovery.example.com".into(),
                "127.0.0.1".into(),
            ],
        }
    }

    fn client(cluster: &str) -> LeafRole {
        LeafRole::DnsProxyClient {
            cluster: cluster.into(),
            trust_domain: "cluster.local".into(),
        }
    }

    fn pem_ders(pem: &str) -> Vec<Vec<u8>> {
        parse_pem_certs(pem, "t")
            .unwrap()
            .into_iter()
            .map(|c| c.der)
            .collect()
    }

    #[test]
    fn spiffe_id_has_the_mesh_proto_format() {
        // Must equal mesh_proto::identity::dns_proxy_spiffe_id.
        assert_eq!(
            dns_proxy_spiffe_id("cluster.local", "east"),
            "spiffe://cluster.local/isthmus/dns-proxy/east"
        );
    }

    #[test]
    fn server_leaf_from_an_intermediate() {
        let root = root();
        let bundle =
            issue_intermediate(&root, "hub", &IntermediateOptions::default(), now()).unwrap();
        let signer = LeafSigner::from_cacerts(&bundle, "hub", now()).unwrap();
        let leaf = issue_leaf(&signer, &server(), &LeafOptions::default(), now()).unwrap();

        let ders = pem_ders(&leaf.cert_chain);
        assert_eq!(ders.len(), 3, "leaf, intermediate, root");
        assert_eq!(ders[1..], pem_ders(&bundle.cert_chain)[..]);
        assert_eq!(pem_ders(&leaf.ca), pem_ders(&bundle.root_cert));
        assert_eq!(leaf.not_after, now() + DAY * 90);

        let (_, x) = X509Certificate::from_der(&ders[0]).unwrap();
        let bc = x.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca);
        let ku = x.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
        let eku = x.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.server_auth && !eku.value.client_auth);
        let sans: Vec<String> = x
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sans,
            [
                "DNS:isthmus-discovery.isthmus-system.svc",
                "DNS:discovery.example.com",
                "IP:[127, 0, 0, 1]"
            ]
        );
        assert!(
            x.subject()
                .to_string()
                .contains("CN=isthmus-discovery.isthmus-system.svc")
        );
        let leaf_facts = CertFacts::parse(&ders[0], "leaf").unwrap();
        assert!(signed_by(&leaf_facts, &signer.cert));
    }

    #[test]
    fn client_leaf_from_the_root_carries_the_spiffe_id() {
        let root = root();
        let signer = LeafSigner::from_root(&root).unwrap();
        let leaf = issue_leaf(&signer, &client("east"), &LeafOptions::default(), now()).unwrap();
        let ders = pem_ders(&leaf.cert_chain);
        assert_eq!(ders.len(), 2, "leaf, root");
        assert_eq!(ders[1], root.cert().cert_der());
        assert_eq!(pem_ders(&leaf.ca), [root.cert().cert_der().to_vec()]);

        let (_, x) = X509Certificate::from_der(&ders[0]).unwrap();
        let eku = x.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.client_auth && !eku.value.server_auth);
        let uris: Vec<&str> = x
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::URI(u) => Some(*u),
                _ => None,
            })
            .collect();
        assert_eq!(uris, ["spiffe://cluster.local/isthmus/dns-proxy/east"]);
    }

    #[test]
    fn an_intermediate_signs_only_its_own_clusters_dns_proxy() {
        let root = root();
        let east =
            issue_intermediate(&root, "east", &IntermediateOptions::default(), now()).unwrap();
        let signer = LeafSigner::from_cacerts(&east, "east", now()).unwrap();
        assert!(!signer.is_root());
        assert_eq!(signer.clusters(), ["east".to_string()]);
        assert_eq!(signer.foreign_to("east"), None);
        assert!(issue_leaf(&signer, &client("east"), &LeafOptions::default(), now()).is_ok());

        let err = issue_leaf(&signer, &client("west"), &LeafOptions::default(), now()).unwrap_err();
        assert!(
            matches!(&err, CaError::ForeignCluster { cluster, signer }
                if cluster == "west" && signer.contains("\"east\"")),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("\"west\"") && text.contains("\"east\""),
            "{text}"
        );
        // Server certificates are not cluster identities.
        assert!(issue_leaf(&signer, &server(), &LeafOptions::default(), now()).is_ok());

        // The root signs any cluster's proxy.
        let by_root = LeafSigner::from_root(&root).unwrap();
        assert!(by_root.is_root() && by_root.clusters().is_empty());
        assert_eq!(by_root.foreign_to("west"), None);
    }

    #[test]
    fn long_first_name_stays_out_of_the_common_name() {
        let signer = LeafSigner::from_root(&root()).unwrap();
        let long = format!("{}.example.com", "a".repeat(60));
        let role = LeafRole::Server {
            names: vec![long.clone()],
        };
        let leaf = issue_leaf(&signer, &role, &LeafOptions::default(), now()).unwrap();
        let ders = pem_ders(&leaf.cert_chain);
        let (_, x) = X509Certificate::from_der(&ders[0]).unwrap();
        assert!(x.subject().iter_common_name().next().is_none());
        let san = x.subject_alternative_name().unwrap().unwrap();
        assert!(matches!(san.value.general_names[0], GeneralName::DNSName(d) if d == long));
    }

    #[test]
    fn validity_is_cut_to_the_signer() {
        let root = root();
        let opts = IntermediateOptions {
            validity: DAY * 10,
            ..IntermediateOptions::default()
        };
        let bundle = issue_intermediate(&root, "west", &opts, now()).unwrap();
        let signer = LeafSigner::from_cacerts(&bundle, "west", now()).unwrap();
        let (end, cut) = leaf_not_after(&signer, DAY * 90, now());
        assert!(cut);
        let leaf = issue_leaf(&signer, &client("west"), &LeafOptions::default(), now()).unwrap();
        assert_eq!(leaf.not_after, end);
        assert_eq!(end, signer.not_after());
    }

    #[test]
    fn bad_names_are_refused() {
        let signer = LeafSigner::from_root(&root()).unwrap();
        let o = LeafOptions::default();
        let bad = [
            LeafRole::Server { names: vec![] },
            LeafRole::Server {
                names: vec!["Bad_Name".into()],
            },
            LeafRole::Server {
                names: vec!["ok.example".into(), "has space".into()],
            },
            client("Not_A_Label"),
            client("a/b"),
            LeafRole::DnsProxyClient {
                cluster: "east".into(),
                trust_domain: "Cluster.Local".into(),
            },
            LeafRole::DnsProxyClient {
                cluster: "east".into(),
                trust_domain: String::new(),
            },
        ];
        for role in bad {
            let err = issue_leaf(&signer, &role, &o, now()).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("name") || text.contains("trust domain") || text.contains("cluster"),
                "{role:?}: {text}"
            );
        }
        let zero = LeafOptions {
            validity: SignedDuration::ZERO,
            ..o
        };
        assert!(issue_leaf(&signer, &server(), &zero, now()).is_err());
    }

    #[test]
    fn unusable_bundles_are_refused() {
        let root = root();
        let good =
            issue_intermediate(&root, "hub", &IntermediateOptions::default(), now()).unwrap();
        let other = issue_intermediate(&root, "x", &IntermediateOptions::default(), now()).unwrap();

        let mut wrong_key = good.clone();
        wrong_key.ca_key = other.ca_key.clone();
        let e = LeafSigner::from_cacerts(&wrong_key, "dir", now()).unwrap_err();
        assert!(e.to_string().contains("dir/ca-key.pem"), "{e}");

        let mut wrong_chain = good.clone();
        wrong_chain.cert_chain = other.cert_chain.clone();
        let e = LeafSigner::from_cacerts(&wrong_chain, "dir", now()).unwrap_err();
        assert!(e.to_string().contains("dir/cert-chain.pem"), "{e}");

        let mut foreign_root = good.clone();
        foreign_root.root_cert = crate::ca::RootCa::generate(&RootOptions::default(), now())
            .unwrap()
            .cert_pem();
        let e = LeafSigner::from_cacerts(&foreign_root, "dir", now()).unwrap_err();
        assert!(e.to_string().contains("does not chain"), "{e}");

        let mut garbage = good.clone();
        garbage.ca_cert = "not pem".into();
        let e = LeafSigner::from_cacerts(&garbage, "dir", now()).unwrap_err();
        assert!(e.to_string().contains("dir/ca-cert.pem"), "{e}");

        let e = LeafSigner::from_cacerts(&good, "dir", now() + DAY * 800).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }

    #[test]
    fn secret_is_kubernetes_tls_with_ca() {
        let signer = LeafSigner::from_root(&root()).unwrap();
        let leaf = issue_leaf(&signer, &server(), &LeafOptions::default(), now()).unwrap();
        let s = leaf.to_secret("isthmus-discovery-tls", "isthmus-system");
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        let data = s.data.unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
        assert_eq!(data["tls.key"].0, leaf.key.as_bytes());
        assert!(!format!("{leaf:?}").contains("PRIVATE KEY"));
        let yaml = leaf
            .to_secret_yaml("isthmus-discovery-tls", "isthmus-system")
            .unwrap();
        assert!(yaml.contains("type: kubernetes.io/tls"), "{yaml}");
    }
}
