//! A throw-away certificate authority for TLS tests: a self-signed root issuing server
//! certificates (DNS names, IP addresses) and client certificates (SPIFFE URIs).

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

/// A self-signed root.
pub struct TestCa {
    root: CertifiedIssuer<'static, KeyPair>,
    /// The root certificate, PEM.
    pub root_pem: String,
}

/// A certificate issued by a [`TestCa`] and its private key, PEM.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A new root named `common_name` (unconstrained CA, may sign certificates and CRLs).
    pub fn new(common_name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let root = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let root_pem = root.pem();
        TestCa { root, root_pem }
    }

    /// A certificate for the DNS names or IP addresses `names` and the URI SANs `uris`.
    pub fn leaf(&self, names: &[&str], uris: &[&str]) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        for u in uris {
            params
                .subject_alt_names
                .push(SanType::URI(u.to_string().try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.root).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for `names`.
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, &[])
    }

    /// A client certificate whose only SAN is the SPIFFE id `uri`.
    pub fn client(&self, uri: &str) -> Leaf {
        self.leaf(&[], &[uri])
    }
}

impl Leaf {
    /// Writes the certificate and key as `<dir>/<cert>` and `<dir>/<key>`.
    pub fn write(&self, dir: &Path, cert: &str, key: &str) {
        std::fs::write(dir.join(cert), &self.cert_pem).unwrap();
        std::fs::write(dir.join(key), &self.key_pem).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_carry_their_names_and_chain_to_the_root() {
        let ca = TestCa::new("test root");
        let server = ca.server(&["discovery.isthmus.test", "10.0.0.1"]);
        let client = ca.client("spiffe://cluster.local/ns/isthmus-system/sa/dns-proxy");
        for (leaf, want) in [
            (&server, "discovery.isthmus.test"),
            (
                &client,
                "spiffe://cluster.local/ns/isthmus-system/sa/dns-proxy",
            ),
        ] {
            let der = crate::tls::certs_of(&leaf.cert_pem).remove(0);
            let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
            let san = x.subject_alternative_name().unwrap().unwrap();
            assert!(format!("{:?}", san.value).contains(want), "{san:?}");
            assert!(x.issuer().to_string().contains("test root"));
        }
    }
}
