//! Certificate parsing and the facts the CA checks about each certificate.

use jiff::Timestamp;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::CaError;

/// What the CA needs to know about one certificate, owned.
#[derive(Clone)]
pub(crate) struct CertFacts {
    pub der: Vec<u8>,
    pub subject: String,
    pub subject_raw: Vec<u8>,
    pub issuer: String,
    pub issuer_raw: Vec<u8>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// basicConstraints: (cA, pathLenConstraint), `None` when the extension is absent.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// Whether keyUsage allows keyCertSign; `None` when the extension is absent.
    pub key_cert_sign: Option<bool>,
    /// subjectPublicKey BIT STRING content.
    pub public_key: Vec<u8>,
    /// Values of the subject's L (locality) attributes.
    pub localities: Vec<String>,
    /// Values of the subject's O attributes.
    pub organisations: Vec<String>,
}

impl std::fmt::Debug for CertFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFacts")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertFacts {
    /// Parses one DER certificate. `what` names it for errors.
    pub fn parse(der: &[u8], what: &str) -> Result<Self, CaError> {
        let parse_err = |field: &'static str, problem: String| CaError::Parse {
            what: what.to_string(),
            field,
            problem,
        };
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| parse_err("certificate", e.to_string()))?;
        if !rest.is_empty() {
            return Err(parse_err(
                "certificate",
                "trailing bytes after the certificate".into(),
            ));
        }
        let basic_constraints = cert
            .basic_constraints()
            .map_err(|e| parse_err("basicConstraints", e.to_string()))?
            .map(|bc| (bc.value.ca, bc.value.path_len_constraint));
        let key_cert_sign = cert
            .key_usage()
            .map_err(|e| parse_err("keyUsage", e.to_string()))?
            .map(|ku| ku.value.key_cert_sign());
        let ts = |t: i64, field: &'static str| {
            Timestamp::from_second(t).map_err(|e| parse_err(field, e.to_string()))
        };
        let attr_values =
            |iter: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
                iter.filter_map(|a| a.as_str().ok().map(str::to_string))
                    .collect::<Vec<_>>()
            };
        Ok(CertFacts {
            der: der.to_vec(),
            subject: cert.subject().to_string(),
            subject_raw: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().to_string(),
            issuer_raw: cert.issuer().as_raw().to_vec(),
            not_before: ts(cert.validity().not_before.timestamp(), "validity.notBefore")?,
            not_after: ts(cert.validity().not_after.timestamp(), "validity.notAfter")?,
            basic_constraints,
            key_cert_sign,
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            localities: attr_values(&mut cert.subject().iter_locality()),
            organisations: attr_values(&mut cert.subject().iter_organization()),
        })
    }

    /// Is this a CA certificate (basicConstraints cA=TRUE and, when keyUsage is present,
    /// keyCertSign)? Returns the problem when not.
    pub fn ca_problem(&self) -> Option<(&'static str, String)> {
        match self.basic_constraints {
            None => {
                return Some((
                    "basicConstraints",
                    "extension missing; a CA needs cA=TRUE".into(),
                ));
            }
            Some((false, _)) => {
                return Some((
                    "basicConstraints",
                    "cA is FALSE: this is not a CA certificate".into(),
                ));
            }
            Some((true, _)) => {}
        }
        if self.key_cert_sign == Some(false) {
            return Some((
                "keyUsage",
                "keyCertSign is not set: this CA cannot sign certificates".into(),
            ));
        }
        None
    }

    /// Is `now` inside [notBefore, notAfter]?
    pub fn validity_problem(&self, what: &str, now: Timestamp) -> Option<CaError> {
        if now < self.not_before {
            return Some(CaError::Validity {
                what: what.to_string(),
                field: "notBefore",
                at: self.not_before,
                problem: "not valid yet".into(),
            });
        }
        if now > self.not_after {
            return Some(CaError::Validity {
                what: what.to_string(),
                field: "notAfter",
                at: self.not_after,
                problem: "expired".into(),
            });
        }
        None
    }

    /// Whole days from `now` to notAfter (negative once expired).
    pub fn days_left(&self, now: Timestamp) -> i64 {
        (self.not_after.as_second() - now.as_second()).div_euclid(86_400)
    }

    /// Subject and issuer are the same name (a self-issued, normally self-signed, root).
    pub fn self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }
}

/// Was `child` issued by `issuer`: the names chain byte for byte (as Go's and webpki's path
/// builders require) and the signature verifies with the issuer's public key?
pub(crate) fn signed_by(child: &CertFacts, issuer: &CertFacts) -> bool {
    if child.issuer_raw != issuer.subject_raw {
        return false;
    }
    let (Ok((_, c)), Ok((_, i))) = (
        X509Certificate::from_der(&child.der),
        X509Certificate::from_der(&issuer.der),
    ) else {
        return false;
    };
    c.verify_signature(Some(i.public_key())).is_ok()
}

/// Splits PEM text into DER certificates. An input with no CERTIFICATE block is an error.
pub(crate) fn parse_pem_certs(pem: &str, what: &str) -> Result<Vec<CertFacts>, CaError> {
    let mut out = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let der = item.map_err(|e| CaError::Pem {
            what: what.to_string(),
            problem: format!("certificate block {}: {e}", i + 1),
        })?;
        let label = if i == 0 {
            what.to_string()
        } else {
            format!("{what} (certificate {})", i + 1)
        };
        out.push(CertFacts::parse(&der, &label)?);
    }
    if out.is_empty() {
        return Err(CaError::Pem {
            what: what.to_string(),
            problem: "no CERTIFICATE block found".into(),
        });
    }
    Ok(out)
}

/// Encodes DER as a PEM CERTIFICATE block.
pub(crate) fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + 70);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Concatenates PEM certificates, one block after another.
pub(crate) fn concat_pem<'a>(certs: impl IntoIterator<Item = &'a CertFacts>) -> String {
    certs.into_iter().map(|c| der_to_pem(&c.der)).collect()
}
