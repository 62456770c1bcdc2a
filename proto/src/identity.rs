//! Who a discovery client is: the member cluster named in its certificate.
//!
//! A DNS proxy's client certificate carries a URI SAN
//! `spiffe://<trust-domain>/isthmus/dns-proxy/<cluster>`; the server only streams that
//! cluster's view to it. The certificate chain itself is checked by TLS against the clusterset
//! root before this code runs.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// The URI SAN path prefix that names a DNS proxy's cluster.
pub const DNS_PROXY_PATH: &str = "/isthmus/dns-proxy/";

/// The SPIFFE ID a DNS proxy for `cluster` presents.
pub fn dns_proxy_spiffe_id(trust_domain: &str, cluster: &str) -> String {
    format!("spiffe://{trust_domain}{DNS_PROXY_PATH}{cluster}")
}

/// Why a certificate names no cluster.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("certificate is not valid DER X.509: {0}")]
    Parse(String),
    #[error(
        "certificate has no URI SAN of the form spiffe://<trust-domain>{DNS_PROXY_PATH}<cluster>"
    )]
    NoClusterIdentity,
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
}
