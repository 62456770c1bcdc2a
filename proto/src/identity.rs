//! Who a discovery client is: the member cluster named in its certificate.
//!
//! A DNS proxy's client certificate carries a URI SAN
//! `spiffe://<trust-domain>/isthmus/dns-proxy/<cluster>`; the server only streams that
//! cluster's view to it. The certificate chain itself is checked by TLS against the clusterset
//! root before this code runs.
//!
//! The name alone is not enough: every cluster's intermediate CA (its Istio `cacerts`) chains
//! to the same root, so whoever holds one cluster's intermediate could sign a certificate
//! naming another cluster. [`check_signer`] therefore binds the identity to its issuer: the
//! certificate that signed the DNS proxy's leaf must be the intermediate of the same cluster
//! (the cluster's name is the intermediate's subject `L`, as `isthmus ca issue` and Istio's
//! certificate Makefiles write it), or a clusterset root itself, which is the operator's key.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// The URI SAN path prefix that names a DNS proxy's cluster.
pub const DNS_PROXY_PATH: &str = "/isthmus/dns-proxy/";

/// The SPIFFE ID a DNS proxy for `cluster` presents.
pub fn dns_proxy_spiffe_id(trust_domain: &str, cluster: &str) -> String {
    format!("spiffe://{trust_domain}{DNS_PROXY_PATH}{cluster}")
}

/// Why a certificate names no cluster, or may not speak for the cluster it names.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("certificate is not valid DER X.509: {0}")]
    Parse(String),
    #[error(
        "certificate has no URI SAN of the form spiffe://<trust-domain>{DNS_PROXY_PATH}<cluster>"
    )]
    NoClusterIdentity,
    /// The trusted roots could not be read.
    #[error("client CA roots: {0}")]
    Roots(String),
    /// The presented chain does not verify up to a trusted root.
    #[error("client certificate chain does not verify against the clusterset root: {0}")]
    Chain(String),
    /// The chain verifies, but the certificate that signed the leaf is not the named cluster's
    /// intermediate (nor a root).
    #[error(
        "client certificate for cluster {cluster:?} is signed by {signer}; a DNS proxy \
         certificate must be signed by its own cluster's intermediate (subject L={cluster}) or \
         by the clusterset root"
    )]
    ForeignSigner {
        /// The cluster the leaf names.
        cluster: String,
        /// What signed it instead.
        signer: String,
    },
}

/// The clusterset root(s) client chains are verified against for [`check_signer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRoots {
    roots: Vec<CertificateDer<'static>>,
}

impl ClientRoots {
    /// Reads every CERTIFICATE block of `pem`; at least one, each usable as a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<Self, IdentityError> {
        let roots = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::Roots(format!("bad certificate PEM: {e}")))?;
        if roots.is_empty() {
            return Err(IdentityError::Roots("no CERTIFICATE block".into()));
        }
        for r in &roots {
            webpki::anchor_from_trusted_cert(r)
                .map_err(|e| IdentityError::Roots(format!("not a usable root: {e}")))?;
        }
        Ok(ClientRoots { roots })
    }
}

/// What signed a DNS proxy certificate that [`check_signer`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// A clusterset root signed the leaf directly.
    Root,
    /// The intermediate CA of the leaf's own cluster.
    ClusterIntermediate,
}

/// The cluster names (`L` attributes) in the subject of a DER certificate.
pub fn subject_localities(der: &[u8]) -> Result<Vec<String>, IdentityError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| IdentityError::Parse(e.to_string()))?;
    Ok(cert
        .subject()
        .iter_locality()
        .filter_map(|a| a.as_str().ok().map(str::to_owned))
        .collect())
}

/// A further condition on a verified path (webpki's `verify_path`).
type PathCheck<'a> = dyn Fn(&webpki::VerifiedPath<'_>) -> Result<(), webpki::Error> + 'a;

/// What the first intermediate of a verified path says about `cluster`: `Ok` when the leaf
/// is signed by a root or by `cluster`'s intermediate, else a description of the signer.
fn path_signer(path: &webpki::VerifiedPath<'_>, cluster: &str) -> Result<Signer, String> {
    let Some(issuer) = path.intermediate_certificates().next() else {
        return Ok(Signer::Root);
    };
    match subject_localities(issuer.der().as_ref()) {
        Ok(names) if names.len() == 1 && names[0] == cluster => Ok(Signer::ClusterIntermediate),
        Ok(names) if names.len() == 1 => Err(format!("the intermediate of cluster {:?}", names[0])),
        Ok(names) if names.is_empty() => {
            Err("an intermediate whose subject names no cluster (no L attribute)".into())
        }
        Ok(names) => Err(format!(
            "an intermediate naming several clusters ({})",
            names.join(", ")
        )),
        Err(e) => Err(format!("an unreadable intermediate ({e})")),
    }
}

/// Checks that the client chain `chain` (leaf first, then the certificates the client sent)
/// verifies at `now` against `roots` for client authentication and that the leaf's signer is
/// `cluster`'s own intermediate or a root. Another path through the presented certificates is
/// tried when the first one found runs through a different signer.
pub fn check_signer(
    chain: &[CertificateDer<'_>],
    roots: &ClientRoots,
    cluster: &str,
    now: UnixTime,
) -> Result<Signer, IdentityError> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| IdentityError::Chain("no certificate presented".into()))?;
    let anchors = roots
        .roots
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(IdentityError::Roots)?;
    let ee = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| IdentityError::Chain(format!("leaf: {e}")))?;
    let verify = |check: Option<&PathCheck>| {
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            None,
            check,
        )
        .map(|path| path_signer(&path, cluster))
    };
    let first = verify(None).map_err(|e| IdentityError::Chain(e.to_string()))?;
    let signer = match first {
        Ok(signer) => return Ok(signer),
        Err(signer) => signer,
    };
    // The path builder took a foreign signer; accept only if another verified path exists
    // whose signer is the cluster's own.
    let bound = |path: &webpki::VerifiedPath<'_>| {
        path_signer(path, cluster)
            .map(|_| ())
            .map_err(|_| webpki::Error::UnknownIssuer)
    };
    match verify(Some(&bound)) {
        Ok(Ok(signer)) => Ok(signer),
        _ => Err(IdentityError::ForeignSigner {
            cluster: cluster.to_owned(),
            signer,
        }),
    }
}

/// The clusters named by a DER certificate's URI SANs.
pub fn clusters_in_certificate(der: &[u8]) -> Result<Vec<String>, IdentityError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| IdentityError::Parse(e.to_string()))?;
    let mut clusters = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(cluster) = cluster_from_uri(uri)
            {
                clusters.push(cluster.to_string());
            }
        }
    }
    if clusters.is_empty() {
        return Err(IdentityError::NoClusterIdentity);
    }
    Ok(clusters)
}

fn cluster_from_uri(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("spiffe://")?;
    let slash = rest.find('/')?;
    let cluster = rest[slash..].strip_prefix(DNS_PROXY_PATH)?;
    (!cluster.is_empty() && !cluster.contains('/')).then_some(cluster)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cert_with_sans(sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_the_cluster_from_the_spiffe_uri() {
        let der = cert_with_sans(vec![rcgen::SanType::URI(
            dns_proxy_spiffe_id("cluster.local", "east")
                .try_into()
                .unwrap(),
        )]);
        assert_eq!(
            clusters_in_certificate(&der).unwrap(),
            vec!["east".to_string()]
        );
    }

    #[test]
    fn other_identities_name_no_cluster() {
        let der = cert_with_sans(vec![
            rcgen::SanType::URI(
                "spiffe://cluster.local/ns/default/sa/web"
                    .try_into()
                    .unwrap(),
            ),
            rcgen::SanType::DnsName("east".try_into().unwrap()),
        ]);
        assert_eq!(
            clusters_in_certificate(&der),
            Err(IdentityError::NoClusterIdentity)
        );
        assert!(matches!(
            clusters_in_certificate(b"junk"),
            Err(IdentityError::Parse(_))
        ));
        assert_eq!(cluster_from_uri("spiffe://td/isthmus/dns-proxy/a/b"), None);
        assert_eq!(cluster_from_uri("https://td/isthmus/dns-proxy/a"), None);
    }

    struct Ca {
        params: rcgen::CertificateParams,
        key: rcgen::KeyPair,
        der: CertificateDer<'static>,
        pem: String,
    }

    fn ca(cn: &str, locality: Option<&str>, parent: Option<&Ca>) -> Ca {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if let Some(l) = locality {
            params
                .distinguished_name
                .push(rcgen::DnType::LocalityName, l);
        }
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = match parent {
            None => params.self_signed(&key).unwrap(),
            Some(p) => params
                .signed_by(&key, &rcgen::Issuer::from_params(&p.params, &p.key))
                .unwrap(),
        };
        Ca {
            der: cert.der().clone(),
            pem: cert.pem(),
            params,
            key,
        }
    }

    fn proxy_leaf(cluster: &str, signer: &Ca) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = vec![rcgen::SanType::URI(
            dns_proxy_spiffe_id("cluster.local", cluster)
                .try_into()
                .unwrap(),
        )];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        params
            .signed_by(
                &key,
                &rcgen::Issuer::from_params(&signer.params, &signer.key),
            )
            .unwrap()
            .der()
            .clone()
    }

    fn roots_of(root: &Ca) -> ClientRoots {
        ClientRoots::from_pem(root.pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_proxy_certificate_is_bound_to_its_own_clusters_intermediate() {
        let root = ca("Root CA", None, None);
        let east = ca("Intermediate CA", Some("east"), Some(&root));
        let west = ca("Intermediate CA", Some("west"), Some(&root));
        let roots = roots_of(&root);
        let now = UnixTime::now();

        let right = [
            proxy_leaf("west", &west),
            west.der.clone(),
            root.der.clone(),
        ];
        assert_eq!(
            check_signer(&right, &roots, "west", now),
            Ok(Signer::ClusterIntermediate)
        );

        // East's intermediate minting west's identity is refused, with the chain intact.
        let forged = [
            proxy_leaf("west", &east),
            east.der.clone(),
            root.der.clone(),
        ];
        let err = check_signer(&forged, &roots, "west", now).unwrap_err();
        assert_eq!(
            err,
            IdentityError::ForeignSigner {
                cluster: "west".into(),
                signer: "the intermediate of cluster \"east\"".into(),
            }
        );
        assert!(err.to_string().contains("L=west"), "{err}");
        // Adding west's real intermediate to the presented chain does not help.
        let padded = [
            proxy_leaf("west", &east),
            west.der.clone(),
            east.der.clone(),
        ];
        assert!(matches!(
            check_signer(&padded, &roots, "west", now),
            Err(IdentityError::ForeignSigner { .. })
        ));

        // The root, the operator's key, may sign any cluster's proxy.
        let by_root = [proxy_leaf("west", &root)];
        assert_eq!(
            check_signer(&by_root, &roots, "west", now),
            Ok(Signer::Root)
        );

        // An intermediate naming no cluster speaks for none.
        let anonymous = ca("Intermediate CA", None, Some(&root));
        let chain = [proxy_leaf("west", &anonymous), anonymous.der.clone()];
        let err = check_signer(&chain, &roots, "west", now).unwrap_err();
        assert!(err.to_string().contains("names no cluster"), "{err}");

        // A chain to another root does not verify at all.
        let other = ca("Root CA", None, None);
        let chain = [proxy_leaf("west", &other)];
        assert!(matches!(
            check_signer(&chain, &roots, "west", now),
            Err(IdentityError::Chain(_))
        ));
        assert!(matches!(
            check_signer(&[], &roots, "west", now),
            Err(IdentityError::Chain(_))
        ));
    }

    #[test]
    fn roots_must_be_certificates() {
        assert!(matches!(
            ClientRoots::from_pem(b"no pem here"),
            Err(IdentityError::Roots(_))
        ));
        let root = ca("Root CA", None, None);
        assert_eq!(roots_of(&root).roots, vec![root.der.clone()]);
    }
}
