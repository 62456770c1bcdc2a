//! Per-cluster intermediate CAs: issuing, and deciding when an existing one can stay.

use jiff::{SignedDuration, Timestamp};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, SanType};

use super::bundle::CaCerts;
use super::certs::{CertFacts, concat_pem, parse_pem_certs, signed_by};
use super::keys::{KeyType, generate_key, key_matches, load_private_key};
use super::label::validate_cluster_name;
use super::root::{BACKDATE, RootCa, RootCert, random_serial, to_offset};
use super::{CaError, DEFAULT_ORG, INTERMEDIATE_CN, INTERMEDIATE_SAN_DNS};

/// One day.
const DAY: SignedDuration = SignedDuration::from_hours(24);

/// Settings for one intermediate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntermediateOptions {
    /// Key algorithm of the intermediate's own key.
    pub key_type: KeyType,
    /// Requested lifetime; cut to the root's notAfter when longer.
    pub validity: SignedDuration,
    /// Subject O; `None` takes the root's O (or "Istio" when the root has none).
    pub organisation: Option<String>,
}

impl Default for IntermediateOptions {
    /// ECDSA P-256, 365 days, organisation from the root.
    fn default() -> Self {
        IntermediateOptions {
            key_type: KeyType::EcdsaP256,
            validity: DAY * 365,
            organisation: None,
        }
    }
}

/// When to replace a cluster's intermediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalPolicy {
    /// Lifetime of a newly issued intermediate.
    pub validity: SignedDuration,
    /// An intermediate that expires within this window of `now` is replaced.
    pub renew_before: SignedDuration,
}

impl Default for RenewalPolicy {
    /// Issue for 365 days, renew 30 days before expiry.
    fn default() -> Self {
        RenewalPolicy {
            validity: DAY * 365,
            renew_before: DAY * 30,
        }
    }
}

/// What [`plan_cacerts`] decided for one cluster.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The bundle the cluster should have.
    pub cacerts: CaCerts,
    /// `true` when the existing intermediate and key were kept.
    pub reused: bool,
    /// Why: the existing intermediate's expiry when kept, or what was wrong with it.
    pub reason: String,
}

/// The notAfter an intermediate of `validity` issued at `now` gets under `root`, and whether
/// it had to be cut to the root's own notAfter.
pub fn intermediate_not_after(
    root: &RootCert,
    validity: SignedDuration,
    now: Timestamp,
) -> (Timestamp, bool) {
    let wanted = now.checked_add(validity).unwrap_or(root.not_after());
    if wanted > root.not_after() {
        (root.not_after(), true)
    } else {
        (wanted, false)
    }
}

/// Issues a new intermediate CA for `cluster`, signed by `root`, as istiod expects it:
/// basicConstraints critical CA:TRUE pathlen:0; keyUsage critical digitalSignature,
/// nonRepudiation, keyEncipherment (RSA keys only), keyCertSign, as Istio's Makefile;
/// subject O=<org>, CN=Intermediate CA, L=<cluster>; DNS SAN `istiod.istio-system.svc`. The validity is cut to the root's notAfter. The returned
/// bundle's chain is intermediate + root and its root-cert is the root alone.
pub fn issue_intermediate(
    root: &RootCa,
    cluster: &str,
    options: &IntermediateOptions,
    now: Timestamp,
) -> Result<CaCerts, CaError> {
    validate_cluster_name(cluster)?;
    if let Some(err) = root.cert.facts.validity_problem("root certificate", now) {
        return Err(err);
    }
    if options.validity <= SignedDuration::ZERO {
        return Err(CaError::Parameter {
            field: "validity",
            problem: "must be positive".into(),
        });
    }
    let organisation = match &options.organisation {
        Some(o) if o.trim().is_empty() => {
            return Err(CaError::Parameter {
                field: "organisation",
                problem: "must not be empty".into(),
            });
        }
        Some(o) => o.clone(),
        None => root
            .cert
            .facts
            .organisations
            .first()
            .cloned()
            .unwrap_or_else(|| DEFAULT_ORG.to_string()),
    };
    let (not_after, _) = intermediate_not_after(&root.cert, options.validity, now);
    let not_before = now
        .checked_sub(BACKDATE)
        .unwrap_or(now)
        .max(root.cert.not_before());

    let key = generate_key(options.key_type)?;
    let mut params = CertificateParams::default();
    // The default name holds a placeholder CN; start from an empty one so the order is O, CN, L.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, organisation.as_str());
    params
        .distinguished_name
        .push(DnType::CommonName, INTERMEDIATE_CN);
    params
        .distinguished_name
        .push(DnType::LocalityName, cluster);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = super::keys::ca_key_usages(&key);
    params.subject_alt_names = vec![SanType::DnsName(INTERMEDIATE_SAN_DNS.try_into().map_err(
        |e: rcgen::Error| CaError::Parameter {
            field: "subjectAltName",
            problem: e.to_string(),
        },
    )?)];
    params.use_authority_key_identifier_extension = true;
    params.not_before = to_offset(not_before, "notBefore")?;
    params.not_after = to_offset(not_after, "notAfter")?;
    params.serial_number = Some(random_serial()?);

    let issuer = root.issuer()?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| CaError::Crypto {
            what: format!("intermediate for cluster {cluster}"),
            problem: e.to_string(),
        })?;
    let facts = CertFacts::parse(cert.der(), "issued intermediate")?;
    if !signed_by(&facts, &root.cert.facts) {
        // Happens only if the root's subject could not be re-encoded byte for byte.
        return Err(CaError::WrongIssuer {
            what: format!("intermediate for cluster {cluster}"),
            problem: format!(
                "does not chain to the root: the root's subject {:?} uses an encoding this CA \
                 cannot reproduce exactly",
                root.cert.subject()
            ),
        });
    }
    Ok(CaCerts {
        ca_cert: cert.pem(),
        ca_key: key.serialize_pem(),
        cert_chain: concat_pem([&facts, &root.cert.facts]),
        root_cert: root.cert.cert_pem(),
    })
}

/// Why `existing` cannot be kept for `cluster` under `root` (or `Ok` with its notAfter).
pub(crate) fn reusable_intermediate(
    root: &RootCert,
    cluster: &str,
    existing: &CaCerts,
    renew_before: SignedDuration,
    now: Timestamp,
) -> Result<CertFacts, String> {
    let mut certs = parse_pem_certs(&existing.ca_cert, "ca-cert.pem").map_err(|e| e.to_string())?;
    if certs.len() != 1 {
        return Err(format!(
            "ca-cert.pem holds {} certificates, not one",
            certs.len()
        ));
    }
    let ca = certs.remove(0);
    let key = load_private_key(&existing.ca_key, "ca-key.pem").map_err(|e| e.to_string())?;
    if !key_matches(&key, &ca.public_key) {
        return Err("ca-key.pem does not match ca-cert.pem".into());
    }
    if !signed_by(&ca, &root.facts) {
        return Err(format!(
            "ca-cert.pem is not signed by the root {:?}",
            root.subject()
        ));
    }
    if let Some((field, problem)) = ca.ca_problem() {
        return Err(format!("ca-cert.pem {field}: {problem}"));
    }
    if !ca.localities.iter().any(|l| l == cluster) {
        return Err(format!(
            "ca-cert.pem subject L is {:?}, not cluster {cluster:?}",
            ca.localities
        ));
    }
    if now < ca.not_before {
        return Err(format!("ca-cert.pem is not valid before {}", ca.not_before));
    }
    let remaining = ca.not_after.duration_since(now);
    if remaining <= renew_before {
        return Err(format!(
            "ca-cert.pem expires {} ({} days left), within the renewal window of {} days",
            ca.not_after,
            ca.days_left(now),
            renew_before.as_hours() / 24
        ));
    }
    Ok(ca)
}

/// Decides the bundle `cluster` should have now: keeps `existing`'s intermediate and key when
/// they are signed by `root`, carry the cluster's name, match each other and are not within
/// `policy.renew_before` of expiry; otherwise issues a new intermediate (ECDSA P-256, O taken
/// from the root) for `policy.validity`. Either way chain and root-cert are rebuilt from
/// `root`, so the result is the steady-state bundle (one root).
pub fn plan_cacerts(
    root: &RootCa,
    cluster: &str,
    existing: Option<&CaCerts>,
    policy: &RenewalPolicy,
    now: Timestamp,
) -> Result<Decision, CaError> {
    validate_cluster_name(cluster)?;
    if let Some(err) = root.cert.facts.validity_problem("root certificate", now) {
        return Err(err);
    }
    let verdict = match existing {
        None => Err("no existing bundle".to_string()),
        Some(existing) => {
            reusable_intermediate(&root.cert, cluster, existing, policy.renew_before, now)
                .map(|ca| (ca, existing.ca_key.clone()))
        }
    };
    match verdict {
        Ok((ca, ca_key)) => Ok(Decision {
            reason: format!(
                "valid until {} ({} days left)",
                ca.not_after,
                ca.days_left(now)
            ),
            cacerts: CaCerts {
                ca_cert: concat_pem([&ca]),
                ca_key,
                cert_chain: concat_pem([&ca, &root.cert.facts]),
                root_cert: root.cert.cert_pem(),
            },
            reused: true,
        }),
        Err(reason) => {
            let options = IntermediateOptions {
                validity: policy.validity,
                ..IntermediateOptions::default()
            };
            Ok(Decision {
                cacerts: issue_intermediate(root, cluster, &options, now)?,
                reused: false,
                reason,
            })
        }
    }
}

/// The bundle `cluster` should have now; see [`plan_cacerts`].
pub fn desired_cacerts(
    root: &RootCa,
    cluster: &str,
    existing: Option<&CaCerts>,
    policy: &RenewalPolicy,
    now: Timestamp,
) -> Result<CaCerts, CaError> {
    plan_cacerts(root, cluster, existing, policy, now).map(|d| d.cacerts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ca::RootOptions;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn root() -> RootCa {
        RootCa::generate(&RootOptions::default(), now()).unwrap()
    }

    fn one(pem: &str) -> CertFacts {
        parse_pem_certs(pem, "t").unwrap().remove(0)
    }

    #[test]
    fn intermediate_has_istio_shape() {
        let root = root();
        let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now()).unwrap();
        let ca = one(&b.ca_cert);
        assert_eq!(ca.basic_constraints, Some((true, Some(0))));
        assert_eq!(ca.key_cert_sign, Some(true));
        assert_eq!(ca.localities, ["east"]);
        assert_eq!(ca.organisations, ["Istio"]);
        assert!(ca.subject.contains("CN=Intermediate CA"), "{}", ca.subject);
        assert_eq!(ca.not_after, now() + DAY * 365);
        assert!(signed_by(&ca, &root.cert.facts));

        let (_, x) = x509_parser::parse_x509_certificate(&ca.der).unwrap();
        let bc = x.basic_constraints().unwrap().unwrap();
        assert!(bc.critical);
        let ku = x.key_usage().unwrap().unwrap();
        assert!(ku.critical);
        // As tools/certs/common.mk, without keyEncipherment for an ECDSA key.
        assert!(ku.value.digital_signature() && ku.value.non_repudiation());
        assert!(ku.value.key_cert_sign());
        assert!(!ku.value.key_encipherment() && !ku.value.crl_sign());
        let ski =
            x.get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER);
        assert!(
            matches!(ski, Ok(Some(_))),
            "subjectKeyIdentifier as the Makefile's `hash`"
        );
        let san = x.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(names, ["DNSName(istiod.istio-system.svc)"]);

        let chain = parse_pem_certs(&b.cert_chain, "chain").unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].der, ca.der);
        assert_eq!(chain[1].der, root.cert.facts.der);
        assert_eq!(one(&b.root_cert).der, root.cert.facts.der);
        assert!(!b.ca_cert.contains(&root.key_pem()));
        assert!(!b.ca_key.contains(&root.key_pem()));
    }

    #[test]
    fn validity_is_cut_to_the_root() {
        let opts = RootOptions {
            validity: DAY * 100,
            ..RootOptions::default()
        };
        let root = RootCa::generate(&opts, now()).unwrap();
        let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now()).unwrap();
        assert_eq!(one(&b.ca_cert).not_after, root.cert().not_after());
        let (_, clamped) = intermediate_not_after(root.cert(), DAY * 365, now());
        assert!(clamped);
    }

    #[test]
    fn bad_cluster_names_and_expired_roots_are_refused() {
        let root = root();
        let err = issue_intermediate(&root, "East_1", &IntermediateOptions::default(), now());
        assert!(matches!(err, Err(CaError::ClusterName { .. })));
        let late = now() + DAY * 3651;
        let err = issue_intermediate(&root, "east", &IntermediateOptions::default(), late);
        assert!(
            matches!(
                err,
                Err(CaError::Validity {
                    field: "notAfter",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn organisation_follows_root_unless_given() {
        let opts = RootOptions {
            organisation: "Acme".into(),
            ..RootOptions::default()
        };
        let root = RootCa::generate(&opts, now()).unwrap();
        let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now()).unwrap();
        assert_eq!(one(&b.ca_cert).organisations, ["Acme"]);
        let o = IntermediateOptions {
            organisation: Some("Other".into()),
            ..Default::default()
        };
        let b = issue_intermediate(&root, "east", &o, now()).unwrap();
        assert_eq!(one(&b.ca_cert).organisations, ["Other"]);
    }

    #[test]
    fn desired_reuses_a_good_intermediate() {
        let root = root();
        let policy = RenewalPolicy::default();
        let first = desired_cacerts(&root, "east", None, &policy, now()).unwrap();
        let later = now() + DAY * 100;
        let d = plan_cacerts(&root, "east", Some(&first), &policy, later).unwrap();
        assert!(d.reused, "{}", d.reason);
        assert_eq!(d.cacerts, first);
    }

    #[test]
    fn desired_renews_within_the_window() {
        let root = root();
        let policy = RenewalPolicy::default();
        let first = desired_cacerts(&root, "east", None, &policy, now()).unwrap();
        let near_end = now() + DAY * 710;
        let d = plan_cacerts(&root, "east", Some(&first), &policy, near_end).unwrap();
        assert!(!d.reused);
        assert!(d.reason.contains("renewal window"), "{}", d.reason);
        assert_ne!(d.cacerts.ca_cert, first.ca_cert);
        assert_eq!(one(&d.cacerts.ca_cert).not_after, near_end + DAY * 365);
    }

    #[test]
    fn desired_replaces_foreign_mismatched_or_misnamed_intermediates() {
        let root = root();
        let other = RootCa::generate(&RootOptions::default(), now()).unwrap();
        let policy = RenewalPolicy::default();

        let foreign = desired_cacerts(&other, "east", None, &policy, now()).unwrap();
        let d = plan_cacerts(&root, "east", Some(&foreign), &policy, now()).unwrap();
        assert!(!d.reused);
        assert!(d.reason.contains("not signed by the root"), "{}", d.reason);

        let west = desired_cacerts(&root, "west", None, &policy, now()).unwrap();
        let d = plan_cacerts(&root, "east", Some(&west), &policy, now()).unwrap();
        assert!(!d.reused);
        assert!(d.reason.contains("not cluster"), "{}", d.reason);

        let mut mixed = desired_cacerts(&root, "east", None, &policy, now()).unwrap();
        mixed.ca_key = west.ca_key.clone();
        let d = plan_cacerts(&root, "east", Some(&mixed), &policy, now()).unwrap();
        assert!(!d.reused);
        assert!(d.reason.contains("does not match"), "{}", d.reason);

        let garbage = CaCerts {
            ca_cert: "junk".into(),
            ..CaCerts::default()
        };
        let d = plan_cacerts(&root, "east", Some(&garbage), &policy, now()).unwrap();
        assert!(!d.reused);
        assert!(d.reason.contains("ca-cert.pem"), "{}", d.reason);
    }

    #[test]
    fn desired_resets_a_rotation_bundle_to_one_root() {
        let root = root();
        let policy = RenewalPolicy::default();
        let mut b = desired_cacerts(&root, "east", None, &policy, now()).unwrap();
        let other = RootCa::generate(&RootOptions::default(), now()).unwrap();
        b.root_cert.push_str(&other.cert_pem());
        let d = plan_cacerts(&root, "east", Some(&b), &policy, now()).unwrap();
        assert!(d.reused);
        assert_eq!(d.cacerts.root_cert, root.cert_pem());
    }
}
