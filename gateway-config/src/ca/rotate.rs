//! Root rotation in three steps, for every cluster of the clusterset at once.
//!
//! Workload states: S0 = (leaf from old intermediate, trusts old root), S1 = (old leaf,
//! trusts old+new), S2 = (leaf from new intermediate, trusts new+old), S3 = (new leaf, trusts
//! new). Step 1 moves S0 to S1, step 2 S1 to S2, step 3 S2 to S3. While a step rolls out, the
//! workloads of every cluster are in the state before or after it, and any two of them
//! authenticate each other: S0/S1, S1/S2 and S2/S3 pairs all work. S0/S2 and S1/S3 pairs do
//! not, which is why every cluster must finish one step before any starts the next.

use jiff::{SignedDuration, Timestamp};

use super::CaError;
use super::bundle::CaCerts;
use super::certs::{CertFacts, concat_pem, parse_pem_certs, signed_by};
use super::issue::{IntermediateOptions, issue_intermediate, reusable_intermediate};
use super::keys::{key_matches, load_private_key};
use super::label::validate_cluster_name;
use super::root::{RootCa, RootCert};

/// One step of a root rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStep {
    /// 1: root-cert becomes old+new roots; signing stays on the old intermediate.
    AddNewRoot,
    /// 2: signing moves to an intermediate from the new root; root-cert stays combined.
    SwitchIntermediate,
    /// 3: the old root is dropped from root-cert.
    DropOldRoot,
}

impl RotationStep {
    /// The step for the numbers 1, 2 and 3.
    pub fn from_number(n: u8) -> Result<Self, CaError> {
        match n {
            1 => Ok(RotationStep::AddNewRoot),
            2 => Ok(RotationStep::SwitchIntermediate),
            3 => Ok(RotationStep::DropOldRoot),
            _ => Err(CaError::Parameter {
                field: "step",
                problem: format!("{n} is not 1, 2 or 3"),
            }),
        }
    }

    /// 1, 2 or 3.
    pub fn number(self) -> u8 {
        match self {
            RotationStep::AddNewRoot => 1,
            RotationStep::SwitchIntermediate => 2,
            RotationStep::DropOldRoot => 3,
        }
    }

    /// What must be true in every cluster before this step's bundles are applied.
    pub fn preconditions(self) -> &'static [&'static str] {
        match self {
            RotationStep::AddNewRoot => &[
                "istiod runs with ISTIO_MULTIROOT_MESH=true in every cluster (Helm: env; \
                 IstioOperator: values.pilot.env); without it istiod ignores a changed \
                 root-cert.pem",
                "meshConfig.defaultConfig.proxyMetadata has PROXY_CONFIG_XDS_AGENT: \"true\", so \
                 proxies take trust-bundle changes from istiod without a restart",
                "`isthmus ca verify` passes for every cluster's current bundle",
            ],
            RotationStep::SwitchIntermediate => &[
                "step 1 bundles are applied as the cacerts Secret in EVERY cluster",
                "istiod in every cluster has reloaded the files (it watches the mounted cacerts and \
                 logs \"Istiod has detected the newly added intermediate CA\") or was restarted \
                 (kubectl -n istio-system rollout restart deployment/istiod)",
                "every workload in every cluster (sidecars, gateways, ztunnel, waypoints) trusts \
                 both roots: `istioctl proxy-config secret <pod> -o json` shows both in ROOTCA; \
                 restart any that show one",
            ],
            RotationStep::DropOldRoot => &[
                "step 2 bundles are applied in EVERY cluster and istiod has reloaded them (or was \
                 restarted)",
                "every workload certificate in every cluster was re-issued by the new \
                 intermediate: wait one workload-certificate lifetime (24h by default) or restart \
                 the workloads; `istioctl proxy-config secret <pod>` shows the new issuer",
                "no workload still presents a certificate from an old intermediate (those stop \
                 being accepted once the old root is gone)",
            ],
        }
    }

    /// What to do and check once this step's bundles are written.
    pub fn after(self) -> &'static [&'static str] {
        match self {
            RotationStep::AddNewRoot => &[
                "apply OUT/<cluster>/cacerts.yaml (or create the Secret from the files) in each \
                 cluster; istiod reloads the mounted files once the kubelet updates them (or \
                 restart istiod)",
                "wait until every workload trusts both roots in every cluster, then run step 2 \
                 with --bundle-dir pointing at this step's OUT",
            ],
            RotationStep::SwitchIntermediate => &[
                "apply each cluster's new bundle and let istiod reload it as in step 1",
                "wait until every workload certificate is re-issued by the new intermediates \
                 (24h by default, or restart workloads), then run step 3 with --bundle-dir \
                 pointing at this step's OUT",
            ],
            RotationStep::DropOldRoot => &[
                "apply each cluster's bundle and let istiod reload it as before; workloads then \
                 trust only the new root",
                "the old root key can be retired once `isthmus ca verify` passes everywhere",
            ],
        }
    }
}

/// The roots of a rotation and how step 2 issues.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    /// The root every cluster trusts today.
    pub old_root: &'a RootCert,
    /// The root to move to.
    pub new_root: &'a RootCert,
    /// The new root with its key; needed only by step 2, which signs new intermediates.
    pub new_signer: Option<&'a RootCa>,
    /// Settings of the intermediates step 2 issues.
    pub intermediate: &'a IntermediateOptions,
}

/// The bundle `cluster` gets at `step`, from the bundle it runs with now (`current`: the
/// bundle before rotation for step 1, the step 1 output for step 2, the step 2 output for
/// step 3). Errors when `current` is not in the state the step expects.
pub fn rotation_bundle(
    rotation: &Rotation<'_>,
    step: RotationStep,
    cluster: &str,
    current: &CaCerts,
    now: Timestamp,
) -> Result<CaCerts, CaError> {
    validate_cluster_name(cluster)?;
    let old = &rotation.old_root.facts;
    let new = &rotation.new_root.facts;
    if old.der == new.der {
        return Err(CaError::Parameter {
            field: "new root",
            problem: "is the same certificate as the old root".into(),
        });
    }
    if let Some(err) = new.validity_problem("new root certificate", now) {
        return Err(err);
    }
    let what = |part: &str| format!("cluster {cluster}: {part}");
    let mut certs = parse_pem_certs(&current.ca_cert, &what("ca-cert.pem"))?;
    if certs.len() != 1 {
        return Err(CaError::Pem {
            what: what("ca-cert.pem"),
            problem: format!("holds {} certificates, not one", certs.len()),
        });
    }
    let ca = certs.remove(0);
    let key = load_private_key(&current.ca_key, &what("ca-key.pem"))?;
    if !key_matches(&key, &ca.public_key) {
        return Err(CaError::KeyMismatch {
            key: what("ca-key.pem"),
            cert: what("ca-cert.pem"),
        });
    }
    let order = |problem: String| CaError::RotationOrder {
        cluster: cluster.to_string(),
        problem,
    };
    let by_old = signed_by(&ca, old);
    let by_new = signed_by(&ca, new);

    match step {
        RotationStep::AddNewRoot => {
            if !by_old {
                return Err(order(if by_new {
                    "ca-cert.pem is already signed by the new root; step 1 starts from bundles \
                     signed by the old root"
                        .into()
                } else {
                    "ca-cert.pem is not signed by the old root".into()
                }));
            }
            if let Some(err) = ca.validity_problem(&what("ca-cert.pem"), now) {
                return Err(err);
            }
            Ok(bundle_of(&ca, current.ca_key.clone(), old, &[old, new]))
        }
        RotationStep::SwitchIntermediate => {
            let trusted = parse_pem_certs(&current.root_cert, &what("root-cert.pem"))?;
            let has = |r: &CertFacts| trusted.iter().any(|t| t.der == r.der);
            if !has(new) || !has(old) {
                return Err(order(
                    "root-cert.pem does not hold both the old and the new root: apply step 1 \
                     first and pass its output as --bundle-dir"
                        .into(),
                ));
            }
            if by_new {
                // A re-run: keep the new intermediate already issued, if still good.
                if let Ok(ca) = reusable_intermediate(
                    rotation.new_root,
                    cluster,
                    current,
                    SignedDuration::ZERO,
                    now,
                ) {
                    return Ok(bundle_of(&ca, current.ca_key.clone(), new, &[new, old]));
                }
            } else if !by_old {
                return Err(order(
                    "ca-cert.pem is signed by neither the old nor the new root".into(),
                ));
            }
            let signer = rotation.new_signer.ok_or_else(|| CaError::Parameter {
                field: "new root key",
                problem: "step 2 signs new intermediates and needs the new root's key".into(),
            })?;
            if signer.cert.facts.der != new.der {
                return Err(CaError::Parameter {
                    field: "new root key",
                    problem: "belongs to a different certificate than the new root".into(),
                });
            }
            let issued = issue_intermediate(signer, cluster, rotation.intermediate, now)?;
            let issued_ca = parse_pem_certs(&issued.ca_cert, "issued intermediate")?.remove(0);
            Ok(bundle_of(&issued_ca, issued.ca_key, new, &[new, old]))
        }
        RotationStep::DropOldRoot => {
            if !by_new {
                return Err(order(
                    "ca-cert.pem is still signed by the old root: apply step 2 first and pass its \
                     output as --bundle-dir"
                        .into(),
                ));
            }
            if let Some(err) = ca.validity_problem(&what("ca-cert.pem"), now) {
                return Err(err);
            }
            Ok(bundle_of(&ca, current.ca_key.clone(), new, &[new]))
        }
    }
}

fn bundle_of(ca: &CertFacts, ca_key: String, signer: &CertFacts, roots: &[&CertFacts]) -> CaCerts {
    CaCerts {
        ca_cert: concat_pem([ca]),
        ca_key,
        cert_chain: concat_pem([ca, signer]),
        root_cert: concat_pem(roots.iter().copied()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ca::{RootOptions, verify_bundle};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    struct Fixture {
        old: RootCa,
        new: RootCa,
        opts: IntermediateOptions,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                old: RootCa::generate(&RootOptions::default(), now()).unwrap(),
                new: RootCa::generate(&RootOptions::default(), now()).unwrap(),
                opts: IntermediateOptions::default(),
            }
        }
        fn rotation(&self) -> Rotation<'_> {
            Rotation {
                old_root: self.old.cert(),
                new_root: self.new.cert(),
                new_signer: Some(&self.new),
                intermediate: &self.opts,
            }
        }
    }

    fn roots_of(pem: &str) -> Vec<Vec<u8>> {
        parse_pem_certs(pem, "t")
            .unwrap()
            .into_iter()
            .map(|c| c.der)
            .collect()
    }

    #[test]
    fn steps_produce_the_documented_bundles() {
        let f = Fixture::new();
        let r = f.rotation();
        let s0 = issue_intermediate(&f.old, "east", &f.opts, now()).unwrap();

        let s1 = rotation_bundle(&r, RotationStep::AddNewRoot, "east", &s0, now()).unwrap();
        assert_eq!(s1.ca_cert, s0.ca_cert);
        assert_eq!(s1.ca_key, s0.ca_key);
        assert_eq!(
            roots_of(&s1.root_cert),
            [f.old.cert().cert_der(), f.new.cert().cert_der()]
        );
        assert!(verify_bundle(&s1, now()).is_ok());

        let s2 = rotation_bundle(&r, RotationStep::SwitchIntermediate, "east", &s1, now()).unwrap();
        assert_ne!(s2.ca_cert, s1.ca_cert);
        let chain = roots_of(&s2.cert_chain);
        assert_eq!(chain[1], f.new.cert().cert_der());
        assert_eq!(
            roots_of(&s2.root_cert),
            [f.new.cert().cert_der(), f.old.cert().cert_der()]
        );
        assert!(verify_bundle(&s2, now()).is_ok());

        // Re-running step 2 on its own output keeps the new intermediate.
        let again =
            rotation_bundle(&r, RotationStep::SwitchIntermediate, "east", &s2, now()).unwrap();
        assert_eq!(again, s2);

        let s3 = rotation_bundle(&r, RotationStep::DropOldRoot, "east", &s2, now()).unwrap();
        assert_eq!(s3.ca_cert, s2.ca_cert);
        assert_eq!(roots_of(&s3.root_cert), [f.new.cert().cert_der()]);
        assert!(verify_bundle(&s3, now()).is_ok());
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        let f = Fixture::new();
        let r = f.rotation();
        let s0 = issue_intermediate(&f.old, "east", &f.opts, now()).unwrap();
        let err = rotation_bundle(&r, RotationStep::SwitchIntermediate, "east", &s0, now());
        assert!(matches!(err, Err(CaError::RotationOrder { .. })), "{err:?}");
        let err = rotation_bundle(&r, RotationStep::DropOldRoot, "east", &s0, now());
        assert!(matches!(err, Err(CaError::RotationOrder { .. })), "{err:?}");
        let s1 = rotation_bundle(&r, RotationStep::AddNewRoot, "east", &s0, now()).unwrap();
        let err = rotation_bundle(&r, RotationStep::DropOldRoot, "east", &s1, now());
        assert!(matches!(err, Err(CaError::RotationOrder { .. })), "{err:?}");
        let s2 = rotation_bundle(&r, RotationStep::SwitchIntermediate, "east", &s1, now()).unwrap();
        let err = rotation_bundle(&r, RotationStep::AddNewRoot, "east", &s2, now());
        assert!(matches!(err, Err(CaError::RotationOrder { .. })), "{err:?}");
    }

    #[test]
    fn step_two_needs_the_new_key_and_distinct_roots() {
        let f = Fixture::new();
        let s0 = issue_intermediate(&f.old, "east", &f.opts, now()).unwrap();
        let r = f.rotation();
        let s1 = rotation_bundle(&r, RotationStep::AddNewRoot, "east", &s0, now()).unwrap();
        let no_key = Rotation {
            new_signer: None,
            ..f.rotation()
        };
        let err = rotation_bundle(
            &no_key,
            RotationStep::SwitchIntermediate,
            "east",
            &s1,
            now(),
        );
        assert!(
            matches!(
                err,
                Err(CaError::Parameter {
                    field: "new root key",
                    ..
                })
            ),
            "{err:?}"
        );
        let same = Rotation {
            new_root: f.old.cert(),
            ..f.rotation()
        };
        let err = rotation_bundle(&same, RotationStep::AddNewRoot, "east", &s0, now());
        assert!(
            matches!(
                err,
                Err(CaError::Parameter {
                    field: "new root",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn step_numbers_round_trip() {
        for n in 1..=3 {
            let s = RotationStep::from_number(n).unwrap();
            assert_eq!(s.number(), n);
            assert!(!s.preconditions().is_empty());
            assert!(!s.after().is_empty());
        }
        assert!(RotationStep::from_number(4).is_err());
        let text = RotationStep::AddNewRoot.preconditions().join(" ");
        assert!(text.contains("ISTIO_MULTIROOT_MESH=true"));
        assert!(text.contains("PROXY_CONFIG_XDS_AGENT"));
        // Istio 1.30 has no AUTO_RELOAD_PLUGIN_CERTS: istiod always watches a plugged-in
        // cacerts (pilot/pkg/bootstrap/istio_ca.go).
        for s in [
            RotationStep::AddNewRoot,
            RotationStep::SwitchIntermediate,
            RotationStep::DropOldRoot,
        ] {
            let all = [s.preconditions(), s.after()].concat().join(" ");
            assert!(!all.contains("AUTO_RELOAD"), "{all}");
        }
    }
}
