//! Whether a member's istiod serves the clusterset root: the root it publishes in the
//! `istio-system/istio-ca-root-cert` ConfigMap compared with the clusterset root, and whether
//! the member's `cacerts` Secret holds the clusterset chain.
//!
//! istiod publishes the root workloads must trust in a ConfigMap `istio-ca-root-cert` (key
//! `root-cert.pem`) in every namespace it serves, `istio-system` included (Istio's
//! `pilot/pkg/features/experimental.go` `PILOT_CA_CERT_CONFIGMAP`,
//! `pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go`). istiod picks its CA
//! once, at start (`pilot/pkg/bootstrap/istio_ca.go`): the plug-in `cacerts` Secret when it
//! exists then, otherwise a self-signed root of its own. An istiod started before `cacerts`
//! was plugged keeps that foreign root until it is restarted.
//!
//! Pure: no I/O, so the controller (status condition, metric, log) and checks run outside
//! it share one reading.

use gateway_config::ca::CaCerts;
use sha2::{Digest, Sha256};

/// Name of the ConfigMap istiod publishes its root in.
pub const CA_ROOT_CONFIGMAP: &str = "istio-ca-root-cert";
/// Key of the root bundle in [`CA_ROOT_CONFIGMAP`].
pub const CA_ROOT_KEY: &str = "root-cert.pem";
/// Type of the MemberCluster status condition.
pub const CONDITION_TYPE: &str = "IstioRootOfTrust";
/// Reason: istiod publishes the clusterset root (status `True`).
pub const REASON_CLUSTERSET_ROOT: &str = "ClustersetRoot";
/// Reason: istiod publishes roots without the clusterset root (status `False`).
pub const REASON_FOREIGN_ROOT: &str = "ForeignRoot";
/// Reason: nothing readable is published (status `Unknown`).
pub const REASON_NOT_PUBLISHED: &str = "NotPublished";

/// What a member's istiod trusts, as far as its published root shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trust {
    /// The published bundle holds the clusterset root.
    ClustersetRoot,
    /// The published bundle holds other roots only.
    ForeignRoot,
    /// No bundle is published, or it holds no readable certificate.
    NotPublished,
}

impl Trust {
    /// The condition status: `True`, `False` or `Unknown`.
    pub fn condition_status(self) -> &'static str {
        match self {
            Self::ClustersetRoot => "True",
            Self::ForeignRoot => "False",
            Self::NotPublished => "Unknown",
        }
    }

    /// The condition reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::ClustersetRoot => REASON_CLUSTERSET_ROOT,
            Self::ForeignRoot => REASON_FOREIGN_ROOT,
            Self::NotPublished => REASON_NOT_PUBLISHED,
        }
    }
}

/// The verdict on one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootOfTrust {
    /// The verdict.
    pub trust: Trust,
    /// SHA-256 fingerprint of the clusterset root.
    pub clusterset: String,
    /// SHA-256 fingerprints of the certificates istiod publishes, in bundle order.
    pub published: Vec<String>,
    /// What the verdict means, with the fingerprints.
    pub message: String,
}

/// The SHA-256 fingerprint of a DER certificate: 64 lower-case hex digits.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A PEM bundle that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PEM block {block}: {problem}")]
pub struct PemError {
    /// Zero-based position of the block.
    pub block: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// The DER bytes of every `CERTIFICATE` block of a PEM bundle, in order; an error names the
/// block that cannot be decoded. Other blocks are skipped.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, PemError> {
    let mut out = Vec::new();
    for (i, block) in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
        let block = block.map_err(|e| PemError {
            block: i,
            problem: e.to_string(),
        })?;
        if block.label == "CERTIFICATE" {
            out.push(block.contents);
        }
    }
    Ok(out)
}

/// Compares the bundle istiod publishes (`root-cert.pem` of [`CA_ROOT_CONFIGMAP`]; `None`
/// when the ConfigMap or its key does not exist) with the clusterset root (DER).
pub fn assess(published: Option<&str>, clusterset_root: &[u8]) -> RootOfTrust {
    let clusterset = fingerprint(clusterset_root);
    let not_published = |why: String| RootOfTrust {
        trust: Trust::NotPublished,
        clusterset: clusterset.clone(),
        published: Vec::new(),
        message: why,
    };
    let Some(pem) = published else {
        return not_published(format!(
            "istiod has not published istio-system/{CA_ROOT_CONFIGMAP} ({CA_ROOT_KEY}) yet; the clusterset root is sha256:{clusterset}"
        ));
    };
    let certs = match pem_certificates(pem) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            return not_published(format!(
                "istio-system/{CA_ROOT_CONFIGMAP} holds no certificate in {CA_ROOT_KEY}; the clusterset root is sha256:{clusterset}"
            ));
        }
        Err(e) => {
            return not_published(format!(
                "istio-system/{CA_ROOT_CONFIGMAP} {CA_ROOT_KEY} cannot be read: {e}; the clusterset root is sha256:{clusterset}"
            ));
        }
    };
    let published: Vec<String> = certs.iter().map(|c| fingerprint(c)).collect();
    let listed = published
        .iter()
        .map(|f| format!("sha256:{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    if certs.iter().any(|c| c.as_slice() == clusterset_root) {
        RootOfTrust {
            trust: Trust::ClustersetRoot,
            message: format!(
                "istiod publishes the clusterset root sha256:{clusterset} (published: {listed})"
            ),
            clusterset,
            published,
        }
    } else {
        RootOfTrust {
            trust: Trust::ForeignRoot,
            message: format!(
                "istiod publishes {listed}, not the clusterset root sha256:{clusterset}: it started without the clusterset cacerts and signs with a root of its own; it must be restarted once istio-system/cacerts holds the clusterset chain"
            ),
            clusterset,
            published,
        }
    }
}

/// The root a `cacerts` bundle's `cert-chain.pem` ends at (DER), if it holds any certificate.
pub fn chain_root(cacerts: &CaCerts) -> Option<Vec<u8>> {
    pem_certificates(&cacerts.cert_chain).ok()?.pop()
}

/// Whether a `cacerts` bundle holds the clusterset chain: its `cert-chain.pem` ends with the
/// clusterset root and its `root-cert.pem` holds it.
pub fn holds_clusterset_chain(cacerts: &CaCerts, clusterset_root: &[u8]) -> bool {
    let chain_ends_at_root = pem_certificates(&cacerts.cert_chain)
        .ok()
        .and_then(|c| c.last().map(|last| last.as_slice() == clusterset_root))
        .unwrap_or(false);
    let trusts_root = pem_certificates(&cacerts.root_cert)
        .map(|c| c.iter().any(|r| r.as_slice() == clusterset_root))
        .unwrap_or(false);
    chain_ends_at_root && trusts_root
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use gateway_config::ca::{IntermediateOptions, RootCa, RootOptions, issue_intermediate};
    use jiff::Timestamp;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn root() -> RootCa {
        RootCa::generate(&RootOptions::default(), now()).unwrap()
    }

    #[test]
    fn the_clusterset_root_anywhere_in_the_bundle_is_trusted() {
        let ours = root();
        let other = root();
        let der = ours.cert().cert_der();
        let v = assess(Some(&ours.cert_pem()), der);
        assert_eq!(v.trust, Trust::ClustersetRoot);
        assert_eq!(v.trust.condition_status(), "True");
        assert_eq!(v.clusterset, fingerprint(der));
        assert!(v.message.contains(&v.clusterset), "{}", v.message);
        // During a rotation istiod publishes both roots.
        let both = format!("{}{}", other.cert_pem(), ours.cert_pem());
        let v = assess(Some(&both), der);
        assert_eq!(v.trust, Trust::ClustersetRoot);
        assert_eq!(v.published.len(), 2);
    }

    #[test]
    fn another_root_is_foreign_with_both_fingerprints() {
        let ours = root();
        let other = root();
        let v = assess(Some(&other.cert_pem()), ours.cert().cert_der());
        assert_eq!(v.trust, Trust::ForeignRoot);
        assert_eq!(
            (v.trust.condition_status(), v.trust.reason()),
            ("False", "ForeignRoot")
        );
        let theirs = fingerprint(other.cert().cert_der());
        assert_eq!(v.published, vec![theirs.clone()]);
        assert!(v.message.contains(&theirs) && v.message.contains(&v.clusterset));
        assert_eq!(theirs.len(), 64);
    }

    #[test]
    fn nothing_readable_is_not_published() {
        let ours = root();
        let der = ours.cert().cert_der();
        for published in [
            None,
            Some(""),
            Some("not pem"),
            Some("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"),
        ] {
            let v = assess(published, der);
            assert_eq!(v.trust, Trust::NotPublished, "{published:?}");
            assert_eq!(v.trust.condition_status(), "Unknown");
            assert!(v.message.contains("istio-ca-root-cert"), "{}", v.message);
        }
    }

    #[test]
    fn cacerts_hold_the_chain_only_when_issued_by_the_clusterset_root() {
        let ours = root();
        let other = root();
        let b = issue_intermediate(&ours, "east", &IntermediateOptions::default(), now()).unwrap();
        assert!(holds_clusterset_chain(&b, ours.cert().cert_der()));
        assert!(!holds_clusterset_chain(&b, other.cert().cert_der()));
        assert!(!holds_clusterset_chain(
            &CaCerts::default(),
            ours.cert().cert_der()
        ));
    }
}
