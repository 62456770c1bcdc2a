//! Checking a `cacerts` bundle the way istiod loads it.

use std::time::Duration;

use jiff::Timestamp;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::bundle::CaCerts;
use super::certs::{CertFacts, parse_pem_certs, signed_by};
use super::keys::{key_matches, load_private_key};
use super::root::to_offset;

/// SPIFFE identity of the throwaway certificate used to prove the intermediate can sign.
const PROBE_SPIFFE_ID: &str = "spiffe://cluster.local/ns/isthmus-verify/sa/probe";

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, for example `ca-key matches ca-cert`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The failure is that a part could not be parsed at all (not a failed rule).
    pub malformed: bool,
}

/// Expiry of one certificate of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertExpiry {
    /// Where it is: `ca-cert.pem`, `cert-chain.pem[2]`, `root-cert.pem[1]`...
    pub part: String,
    /// Subject distinguished name.
    pub subject: String,
    /// End of validity.
    pub not_after: Timestamp,
    /// Whole days left at the time of the check (negative once expired).
    pub days_left: i64,
}

/// The outcome of [`verify_bundle`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Every check that ran, in order.
    pub checks: Vec<Check>,
    /// Every certificate found, with its expiry.
    pub certs: Vec<CertExpiry>,
}

impl VerifyReport {
    /// All checks passed.
    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// Some part could not be parsed (as opposed to parsed and found wrong).
    pub fn malformed(&self) -> bool {
        self.checks.iter().any(|c| c.malformed)
    }

    fn push(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
            malformed: false,
        });
    }

    fn push_malformed(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            malformed: true,
        });
    }
}

/// Checks a bundle as istiod does when it loads plug-in certificates: all four parts present;
/// ca-key matches ca-cert; cert-chain starts with ca-cert; the chain validates to one of the
/// roots in root-cert (which may hold several during a rotation); ca-cert is a CA that can
/// sign (proved by signing a throwaway workload certificate and verifying it with webpki);
/// every certificate is valid at `now`. Never fails: problems are in the report.
pub fn verify_bundle(bundle: &CaCerts, now: Timestamp) -> VerifyReport {
    let mut report = VerifyReport::default();
    let mut all_present = true;
    for (name, content) in bundle.files() {
        if content.trim().is_empty() {
            all_present = false;
            report.push(&format!("{name} present"), false, "missing or empty");
        }
    }
    if all_present {
        report.push(
            "all four parts present",
            true,
            "ca-cert, ca-key, cert-chain, root-cert",
        );
    }

    let parse_certs = |report: &mut VerifyReport, name: &str, pem: &str| {
        if pem.trim().is_empty() {
            return None;
        }
        match parse_pem_certs(pem, name) {
            Ok(c) => Some(c),
            Err(e) => {
                report.push_malformed(&format!("{name} parses"), e.to_string());
                None
            }
        }
    };
    let ca_certs = parse_certs(&mut report, "ca-cert.pem", &bundle.ca_cert);
    let chain = parse_certs(&mut report, "cert-chain.pem", &bundle.cert_chain);
    let roots = parse_certs(&mut report, "root-cert.pem", &bundle.root_cert);
    let key = if bundle.ca_key.trim().is_empty() {
        None
    } else {
        match load_private_key(&bundle.ca_key, "ca-key.pem") {
            Ok(k) => Some(k),
            Err(e) => {
                report.push_malformed("ca-key.pem parses", e.to_string());
                None
            }
        }
    };

    let ca = match ca_certs {
        Some(mut c) if c.len() == 1 => Some(c.remove(0)),
        Some(c) => {
            report.push(
                "ca-cert.pem holds one certificate",
                false,
                format!("holds {}", c.len()),
            );
            None
        }
        None => None,
    };

    // Expiry list.
    if let Some(ca) = &ca {
        record_expiry(&mut report, "ca-cert.pem", ca, now);
    }
    for (i, c) in chain.iter().flatten().enumerate() {
        record_expiry(&mut report, &format!("cert-chain.pem[{i}]"), c, now);
    }
    for (i, c) in roots.iter().flatten().enumerate() {
        record_expiry(&mut report, &format!("root-cert.pem[{i}]"), c, now);
    }

    if let (Some(ca), Some(key)) = (&ca, &key) {
        let ok = key_matches(key, &ca.public_key);
        report.push(
            "ca-key matches ca-cert",
            ok,
            if ok {
                "public keys are equal"
            } else {
                "ca-key.pem is not the key of ca-cert.pem"
            },
        );
    }

    if let Some(ca) = &ca {
        match ca.ca_problem() {
            None => {
                let pathlen = match ca.basic_constraints {
                    Some((_, Some(n))) => format!("pathlen {n}"),
                    _ => "no pathlen limit".to_string(),
                };
                report.push(
                    "ca-cert is a CA",
                    true,
                    format!("CA:TRUE, {pathlen}, may sign certificates"),
                );
            }
            Some((field, problem)) => {
                report.push("ca-cert is a CA", false, format!("{field}: {problem}"))
            }
        }
    }

    if let (Some(ca), Some(chain)) = (&ca, &chain) {
        let ok = chain.first().is_some_and(|first| first.der == ca.der);
        report.push(
            "cert-chain starts with ca-cert",
            ok,
            if ok {
                "first certificate of cert-chain.pem is ca-cert.pem".to_string()
            } else {
                "the first certificate of cert-chain.pem is not ca-cert.pem".to_string()
            },
        );
    }

    if let Some(roots) = &roots {
        let bad: Vec<String> = roots
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ca_problem().is_some() || !r.self_issued() || !signed_by(r, r))
            .map(|(i, r)| format!("root-cert.pem[{i}] ({}) is not a self-signed CA", r.subject))
            .collect();
        report.push(
            "root-cert holds only self-signed CA certificates",
            bad.is_empty(),
            if bad.is_empty() {
                format!("{} root(s)", roots.len())
            } else {
                bad.join("; ")
            },
        );
    }

    if let (Some(chain), Some(roots)) = (&chain, &roots) {
        let (ok, detail) = chain_to_roots(chain, roots);
        report.push("cert-chain validates to a root in root-cert", ok, detail);
    }

    let mut expired = Vec::new();
    let dated = ca
        .iter()
        .chain(chain.iter().flatten())
        .chain(roots.iter().flatten());
    for c in dated {
        if let Some(e) = c.validity_problem(&c.subject, now) {
            let text = e.to_string();
            if !expired.contains(&text) {
                expired.push(text);
            }
        }
    }
    report.push(
        "every certificate is within its validity period",
        expired.is_empty(),
        if expired.is_empty() {
            "yes".to_string()
        } else {
            expired.join("; ")
        },
    );

    if let (Some(ca), Some(key), Some(chain), Some(roots)) = (&ca, &key, &chain, &roots) {
        let outcome = probe_signing(ca, key, chain, roots, now);
        report.push(
            "ca-cert signs a workload certificate that verifies against root-cert",
            outcome.is_ok(),
            outcome
                .err()
                .unwrap_or_else(|| format!("issued and verified {PROBE_SPIFFE_ID}")),
        );
    }
    report
}

fn record_expiry(report: &mut VerifyReport, part: &str, c: &CertFacts, now: Timestamp) {
    report.certs.push(CertExpiry {
        part: part.to_string(),
        subject: c.subject.clone(),
        not_after: c.not_after,
        days_left: c.days_left(now),
    });
}

/// Each chain element must be signed by the next; the last must be a root of `roots` or be
/// signed by one.
fn chain_to_roots(chain: &[CertFacts], roots: &[CertFacts]) -> (bool, String) {
    for (i, pair) in chain.windows(2).enumerate() {
        if !signed_by(&pair[0], &pair[1]) {
            return (
                false,
                format!(
                    "cert-chain.pem[{i}] is not signed by cert-chain.pem[{}]",
                    i + 1
                ),
            );
        }
    }
    let Some(last) = chain.last() else {
        return (false, "cert-chain.pem is empty".into());
    };
    for (i, r) in roots.iter().enumerate() {
        if r.der == last.der || signed_by(last, r) {
            return (
                true,
                format!("anchored at root-cert.pem[{i}] ({})", r.subject),
            );
        }
    }
    (
        false,
        format!(
            "the chain ends at {:?}, issued by {:?}, which is not in root-cert.pem",
            last.subject, last.issuer
        ),
    )
}

/// Signs a short-lived workload certificate with the intermediate and verifies it with webpki
/// against the roots, the chain serving as intermediates.
fn probe_signing(
    ca: &CertFacts,
    key: &KeyPair,
    chain: &[CertFacts],
    roots: &[CertFacts],
    now: Timestamp,
) -> Result<(), String> {
    let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(ca.der.as_slice()), key)
        .map_err(|e| format!("cannot use ca-cert.pem as issuer: {e}"))?;
    let leaf_key = KeyPair::generate().map_err(|e| format!("probe key: {e}"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.is_ca = IsCa::ExplicitNoCa;
    let uri = PROBE_SPIFFE_ID
        .try_into()
        .map_err(|e: rcgen::Error| e.to_string())?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let start = now
        .checked_sub(jiff::SignedDuration::from_mins(1))
        .unwrap_or(now);
    let end = now
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap_or(now);
    params.not_before = to_offset(start, "notBefore").map_err(|e| e.to_string())?;
    params.not_after = to_offset(end, "notAfter").map_err(|e| e.to_string())?;
    let leaf = params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| format!("signing failed: {e}"))?;

    let anchors = roots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(r.der.as_slice()))
                .map(|a| a.to_owned())
                .map_err(|e| format!("root-cert.pem[{i}] is not a usable trust anchor: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let intermediates: Vec<CertificateDer<'_>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .collect();
    let ee = webpki::EndEntityCert::try_from(leaf.der()).map_err(|e| format!("probe: {e}"))?;
    let secs = u64::try_from(now.as_second()).unwrap_or(0);
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| format!("a certificate signed by ca-cert.pem does not verify: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ca::{IntermediateOptions, RootCa, RootOptions, issue_intermediate};
    use jiff::SignedDuration;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn bundle() -> (RootCa, CaCerts) {
        let root = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now()).unwrap();
        (root, b)
    }

    fn failed(r: &VerifyReport) -> Vec<String> {
        r.failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    #[test]
    fn fresh_bundle_passes_and_reports_expiry() {
        let (_, b) = bundle();
        let r = verify_bundle(&b, now());
        assert!(r.is_ok(), "{:?}", failed(&r));
        assert!(!r.malformed());
        let parts: Vec<_> = r.certs.iter().map(|c| c.part.as_str()).collect();
        assert_eq!(
            parts,
            [
                "ca-cert.pem",
                "cert-chain.pem[0]",
                "cert-chain.pem[1]",
                "root-cert.pem[0]"
            ]
        );
        assert_eq!(r.certs[0].days_left, 365);
        assert_eq!(r.certs[3].days_left, 3650);
    }

    #[test]
    fn missing_parts_are_each_reported() {
        let (_, mut b) = bundle();
        b.ca_key.clear();
        b.root_cert.clear();
        let r = verify_bundle(&b, now());
        let f = failed(&r);
        assert!(
            f.iter().any(|s| s.starts_with("ca-key.pem present")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|s| s.starts_with("root-cert.pem present")),
            "{f:?}"
        );
        assert!(!r.malformed());
    }

    #[test]
    fn mismatched_key_and_wrong_chain_head_fail() {
        let (root, mut b) = bundle();
        let other =
            issue_intermediate(&root, "west", &IntermediateOptions::default(), now()).unwrap();
        b.ca_key = other.ca_key.clone();
        b.cert_chain = other.cert_chain.clone();
        let r = verify_bundle(&b, now());
        let f = failed(&r);
        assert!(
            f.iter().any(|s| s.starts_with("ca-key matches ca-cert")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|s| s.starts_with("cert-chain starts with ca-cert")),
            "{f:?}"
        );
    }

    #[test]
    fn foreign_root_fails_chain_and_probe() {
        let (_, mut b) = bundle();
        let other = RootCa::generate(&RootOptions::default(), now()).unwrap();
        b.root_cert = other.cert_pem();
        let r = verify_bundle(&b, now());
        let f = failed(&r);
        assert!(
            f.iter().any(|s| s.starts_with("cert-chain validates")),
            "{f:?}"
        );
        assert!(f.iter().any(|s| s.starts_with("ca-cert signs")), "{f:?}");
    }

    #[test]
    fn multi_root_bundle_passes() {
        let (root, mut b) = bundle();
        let other = RootCa::generate(&RootOptions::default(), now()).unwrap();
        b.root_cert = format!("{}{}", other.cert_pem(), root.cert_pem());
        let r = verify_bundle(&b, now());
        assert!(r.is_ok(), "{:?}", failed(&r));
        assert!(
            r.checks
                .iter()
                .any(|c| c.detail.contains("root-cert.pem[1]"))
        );
    }

    #[test]
    fn expired_intermediate_fails() {
        let (_, b) = bundle();
        let r = verify_bundle(&b, now() + SignedDuration::from_hours(24 * 800));
        let f = failed(&r);
        assert!(
            f.iter()
                .any(|s| s.contains("validity period") && s.contains("expired")),
            "{f:?}"
        );
        assert!(r.certs[0].days_left < 0);
    }

    #[test]
    fn non_ca_intermediate_fails() {
        let (root, mut b) = bundle();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["x.example".to_string()]).unwrap();
        let issuer = root.issuer().unwrap();
        let leaf = params.signed_by(&key, &issuer).unwrap();
        b.ca_cert = leaf.pem();
        b.ca_key = key.serialize_pem();
        b.cert_chain = format!("{}{}", leaf.pem(), root.cert_pem());
        let r = verify_bundle(&b, now());
        let f = failed(&r);
        assert!(f.iter().any(|s| s.starts_with("ca-cert is a CA")), "{f:?}");
        assert!(f.iter().any(|s| s.starts_with("ca-cert signs")), "{f:?}");
    }

    #[test]
    fn garbage_is_malformed() {
        let (_, mut b) = bundle();
        b.cert_chain = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".into();
        b.ca_key = "nonsense".into();
        let r = verify_bundle(&b, now());
        assert!(r.malformed());
        assert!(!r.is_ok());
    }
}
