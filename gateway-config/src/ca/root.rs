//! The clusterset root CA.

use jiff::{SignedDuration, Timestamp};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SerialNumber};

use super::certs::{CertFacts, parse_pem_certs, signed_by};
use super::keys::{KeyType, generate_key, key_matches, load_private_key};
use super::{CaError, DEFAULT_ORG, DEFAULT_ROOT_CN};

/// How far back notBefore is set, to tolerate clock skew between machines.
pub(crate) const BACKDATE: SignedDuration = SignedDuration::from_hours(1);

/// Settings for a new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootOptions {
    /// Key algorithm.
    pub key_type: KeyType,
    /// Subject O.
    pub organisation: String,
    /// Subject CN.
    pub common_name: String,
    /// Lifetime from now.
    pub validity: SignedDuration,
}

impl Default for RootOptions {
    /// ECDSA P-256, O=Istio, CN=Root CA, 10 years (3650 days, as Istio's Makefile).
    fn default() -> Self {
        RootOptions {
            key_type: KeyType::EcdsaP256,
            organisation: DEFAULT_ORG.to_string(),
            common_name: DEFAULT_ROOT_CN.to_string(),
            validity: SignedDuration::from_hours(24 * 3650),
        }
    }
}

/// A root certificate without its key: what workloads trust, and all rotation step 1 needs.
#[derive(Clone, Debug)]
pub struct RootCert {
    pub(crate) facts: CertFacts,
}

impl RootCert {
    /// Parses a PEM file holding exactly one self-signed CA certificate. `what` names the
    /// source for errors (for example the file path).
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, CaError> {
        let mut certs = parse_pem_certs(pem, what)?;
        if certs.len() != 1 {
            return Err(CaError::Pem {
                what: what.to_string(),
                problem: format!(
                    "holds {} certificates; a root file must hold exactly one",
                    certs.len()
                ),
            });
        }
        let facts = certs.remove(0);
        Self::from_facts(facts, what)
    }

    pub(crate) fn from_facts(facts: CertFacts, what: &str) -> Result<Self, CaError> {
        if let Some((field, problem)) = facts.ca_problem() {
            return Err(CaError::NotCa {
                what: what.to_string(),
                field,
                problem,
            });
        }
        if !facts.self_issued() || !signed_by(&facts, &facts) {
            return Err(CaError::WrongIssuer {
                what: what.to_string(),
                problem: format!(
                    "issuer {:?} differs from subject {:?} or the signature does not verify with \
                     its own key: a root must be self-signed",
                    facts.issuer, facts.subject
                ),
            });
        }
        Ok(RootCert { facts })
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        super::certs::der_to_pem(&self.facts.der)
    }

    /// The certificate as DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.facts.der
    }

    /// Subject distinguished name, for display.
    pub fn subject(&self) -> &str {
        &self.facts.subject
    }

    /// End of validity.
    pub fn not_after(&self) -> Timestamp {
        self.facts.not_after
    }

    /// Start of validity.
    pub fn not_before(&self) -> Timestamp {
        self.facts.not_before
    }

    /// Is this the same certificate as `other` (byte-identical DER)?
    pub fn same_as(&self, other: &RootCert) -> bool {
        self.facts.der == other.facts.der
    }
}

/// A root CA: certificate plus signing key. `Debug` never shows the key.
pub struct RootCa {
    pub(crate) cert: RootCert,
    pub(crate) key: KeyPair,
}

impl std::fmt::Debug for RootCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCa")
            .field("subject", &self.cert.facts.subject)
            .field("not_after", &self.cert.facts.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl RootCa {
    /// Makes a new self-signed root valid from now (less one hour of clock-skew margin) for
    /// `options.validity`.
    pub fn generate(options: &RootOptions, now: Timestamp) -> Result<Self, CaError> {
        if options.validity <= SignedDuration::ZERO {
            return Err(CaError::Parameter {
                field: "validity",
                problem: "must be positive".into(),
            });
        }
        for (field, value) in [
            ("organisation", &options.organisation),
            ("common name", &options.common_name),
        ] {
            if value.trim().is_empty() {
                return Err(CaError::Parameter {
                    field,
                    problem: "must not be empty".into(),
                });
            }
        }
        let key = generate_key(options.key_type)?;
        let mut params = CertificateParams::default();
        // The default name holds a placeholder CN; start from an empty one so the order is O, CN.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, options.organisation.as_str());
        params
            .distinguished_name
            .push(DnType::CommonName, options.common_name.as_str());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = super::keys::ca_key_usages(&key);
        params.not_before = to_offset(now.checked_sub(BACKDATE).unwrap_or(now), "notBefore")?;
        let not_after = now
            .checked_add(options.validity)
            .map_err(|e| CaError::Parameter {
                field: "validity",
                problem: e.to_string(),
            })?;
        params.not_after = to_offset(not_after, "notAfter")?;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(|e| CaError::Crypto {
            what: "root certificate".into(),
            problem: e.to_string(),
        })?;
        let facts = CertFacts::parse(cert.der(), "generated root certificate")?;
        Ok(RootCa {
            cert: RootCert::from_facts(facts, "generated root certificate")?,
            key,
        })
    }

    /// Loads a root from its certificate and key PEM (PKCS#8, PKCS#1 or SEC1 key). Checks
    /// that the certificate is a self-signed CA, valid at `now`, and that the key is its key.
    /// `cert_what` and `key_what` name the sources for errors.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        cert_what: &str,
        key_what: &str,
        now: Timestamp,
    ) -> Result<Self, CaError> {
        let cert = RootCert::from_pem(cert_pem, cert_what)?;
        if let Some(err) = cert.facts.validity_problem(cert_what, now) {
            return Err(err);
        }
        let key = load_private_key(key_pem, key_what)?;
        if !key_matches(&key, &cert.facts.public_key) {
            return Err(CaError::KeyMismatch {
                key: key_what.into(),
                cert: cert_what.into(),
            });
        }
        Ok(RootCa { cert, key })
    }

    /// The root certificate (public part).
    pub fn cert(&self) -> &RootCert {
        &self.cert
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.cert_pem()
    }

    /// The private key as PKCS#8 PEM. Secret: write it only to a 0600 file.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// An rcgen issuer that signs with this root.
    pub(crate) fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, CaError> {
        Issuer::from_ca_cert_der(&self.cert.facts.der.clone().into(), &self.key).map_err(|e| {
            CaError::Parse {
                what: "root certificate".into(),
                field: "subject",
                problem: e.to_string(),
            }
        })
    }
}

/// Converts a jiff timestamp into the `time` type rcgen takes.
pub(crate) fn to_offset(
    ts: Timestamp,
    field: &'static str,
) -> Result<time::OffsetDateTime, CaError> {
    time::OffsetDateTime::from_unix_timestamp(ts.as_second()).map_err(|e| CaError::Parameter {
        field,
        problem: e.to_string(),
    })
}

/// A random positive serial number of 16 bytes (126 random bits: the top bit is cleared so
/// it is positive, the next one set so it is always 16 bytes long).
pub(crate) fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CaError::Crypto {
        what: "serial number".into(),
        problem: e.to_string(),
    })?;
    // Positive and 16 bytes long: top bit clear, next bit set.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn generated_root_has_requested_subject_and_validity() {
        let opts = RootOptions {
            organisation: "Acme".into(),
            common_name: "Acme Mesh Root".into(),
            validity: SignedDuration::from_hours(24 * 100),
            ..RootOptions::default()
        };
        let root = RootCa::generate(&opts, now()).unwrap();
        assert!(
            root.cert().subject().contains("O=Acme"),
            "{}",
            root.cert().subject()
        );
        assert!(root.cert().subject().contains("CN=Acme Mesh Root"));
        assert_eq!(
            root.cert().not_after(),
            now() + SignedDuration::from_hours(24 * 100)
        );
        assert_eq!(root.cert().not_before(), now() - BACKDATE);
        let facts = &root.cert.facts;
        assert_eq!(facts.basic_constraints, Some((true, None)));
        assert_eq!(facts.key_cert_sign, Some(true));

        // As root-ca.conf in Istio's common.mk: basicConstraints critical CA:true, keyUsage
        // critical digitalSignature, nonRepudiation, keyCertSign (keyEncipherment only for
        // RSA keys), subjectKeyIdentifier.
        let (_, x) = x509_parser::parse_x509_certificate(root.cert().cert_der()).unwrap();
        assert!(x.basic_constraints().unwrap().unwrap().critical);
        let ku = x.key_usage().unwrap().unwrap();
        assert!(ku.critical);
        assert!(ku.value.digital_signature() && ku.value.non_repudiation());
        assert!(ku.value.key_cert_sign() && !ku.value.key_encipherment());
        let ski =
            x.get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER);
        assert!(matches!(ski, Ok(Some(_))));
    }

    #[test]
    fn default_root_options_follow_istio_makefile() {
        let opts = RootOptions::default();
        assert_eq!(opts.organisation, "Istio");
        assert_eq!(opts.common_name, "Root CA");
        assert_eq!(opts.validity, SignedDuration::from_hours(24 * 3650));
        assert_eq!(opts.key_type, KeyType::EcdsaP256);
    }

    #[test]
    fn root_round_trips_through_pem() {
        let root = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let loaded = RootCa::from_pem(
            &root.cert_pem(),
            &root.key_pem(),
            "root-cert.pem",
            "root-key.pem",
            now(),
        )
        .unwrap();
        assert!(loaded.cert().same_as(root.cert()));
    }

    #[test]
    fn key_of_another_root_is_rejected() {
        let a = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let b = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let err = RootCa::from_pem(
            &a.cert_pem(),
            &b.key_pem(),
            "root-cert.pem",
            "root-key.pem",
            now(),
        )
        .unwrap_err();
        assert!(matches!(err, CaError::KeyMismatch { .. }), "{err}");
        assert!(err.to_string().contains("root-key.pem"));
    }

    #[test]
    fn expired_root_is_rejected() {
        let opts = RootOptions {
            validity: SignedDuration::from_hours(24),
            ..RootOptions::default()
        };
        let root = RootCa::generate(&opts, now()).unwrap();
        let later = now() + SignedDuration::from_hours(48);
        let err = RootCa::from_pem(
            &root.cert_pem(),
            &root.key_pem(),
            "root-cert.pem",
            "k",
            later,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("root-cert.pem: validity.notAfter"),
            "{err}"
        );
    }

    #[test]
    fn non_ca_certificate_is_not_a_root() {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["leaf.example".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let err = RootCa::from_pem(
            &cert.pem(),
            &key.serialize_pem(),
            "root-cert.pem",
            "k",
            now(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                CaError::NotCa {
                    field: "basicConstraints",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn root_file_with_two_certificates_is_rejected() {
        let a = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let two = format!("{}{}", a.cert_pem(), a.cert_pem());
        let err = RootCert::from_pem(&two, "root-cert.pem").unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let root = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let dbg = format!("{root:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains("PRIVATE"));
    }

    #[test]
    fn empty_names_and_zero_validity_are_rejected() {
        let bad = RootOptions {
            organisation: " ".into(),
            ..RootOptions::default()
        };
        assert!(matches!(
            RootCa::generate(&bad, now()),
            Err(CaError::Parameter { .. })
        ));
        let bad = RootOptions {
            validity: SignedDuration::ZERO,
            ..RootOptions::default()
        };
        assert!(matches!(
            RootCa::generate(&bad, now()),
            Err(CaError::Parameter { .. })
        ));
    }
}
