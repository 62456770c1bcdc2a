//! Real mutual TLS (rustls, in memory) between workloads whose certificates come from the CA's
//! per-cluster intermediates, in steady state and at every step of a root rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway_config::ca::{
    CaCerts, IntermediateOptions, RootCa, RootOptions, Rotation, RotationStep, issue_intermediate,
    rotation_bundle,
};
use isthmus_testing::tls::{Peer, mtls, peer};
use jiff::Timestamp;

fn root() -> RootCa {
    RootCa::generate(&RootOptions::default(), Timestamp::now()).unwrap()
}

fn intermediate(root: &RootCa, cluster: &str) -> CaCerts {
    issue_intermediate(
        root,
        cluster,
        &IntermediateOptions::default(),
        Timestamp::now(),
    )
    .unwrap()
}

fn both_ways(a: &Peer, b: &Peer) -> Result<(), String> {
    mtls(a, b).map_err(|e| format!("{} -> {}: {e}", a.spiffe_id, b.spiffe_id))?;
    mtls(b, a).map_err(|e| format!("{} -> {}: {e}", b.spiffe_id, a.spiffe_id))
}

#[test]
fn workloads_of_two_clusters_authenticate_each_other() {
    let root = root();
    let east = intermediate(&root, "east");
    let west = intermediate(&root, "west");
    let a = peer(&east, &east, "shop", "frontend");
    let b = peer(&west, &west, "shop", "cart");
    both_ways(&a, &b).unwrap();
}

#[test]
fn rsa_intermediate_interoperates_with_ecdsa_one() {
    let root = root();
    let east = intermediate(&root, "east");
    let opts = IntermediateOptions {
        key_type: gateway_config::ca::KeyType::Rsa4096,
        ..Default::default()
    };
    let west = issue_intermediate(&root, "west", &opts, Timestamp::now()).unwrap();
    let a = peer(&east, &east, "shop", "frontend");
    let b = peer(&west, &west, "shop", "cart");
    both_ways(&a, &b).unwrap();
}

#[test]
fn intermediate_from_a_foreign_root_is_rejected() {
    let ours = root();
    let foreign = root();
    let east = intermediate(&ours, "east");
    let intruder_ca = intermediate(&foreign, "west");
    let a = peer(&east, &east, "shop", "frontend");
    let intruder = peer(&intruder_ca, &intruder_ca, "shop", "cart");
    let err = mtls(&a, &intruder).unwrap_err();
    assert!(err.contains("server chain"), "{err}");
    // Each side distrusts the other's chain; whichever checks first ends the handshake.
    let err = mtls(&intruder, &a).unwrap_err();
    assert!(
        err.contains("chain") || err.contains("certificate"),
        "{err}"
    );
    // Even if the intruder trusts our root, our side still refuses its certificate.
    let intruder_trusting_us = peer(&intruder_ca, &east, "shop", "cart");
    let err = mtls(&a, &intruder_trusting_us).unwrap_err();
    assert!(err.contains("server chain"), "{err}");
    let err = mtls(&intruder_trusting_us, &a).unwrap_err();
    assert!(
        err.contains("server side") && err.contains("certificate"),
        "{err}"
    );
}

/// The bundles of two clusters at each rotation state S0..S3.
struct Walk {
    states: Vec<[CaCerts; 2]>,
}

fn walk() -> Walk {
    let now = Timestamp::now();
    let old = root();
    let new = root();
    let opts = IntermediateOptions::default();
    let rotation = Rotation {
        old_root: old.cert(),
        new_root: new.cert(),
        new_signer: Some(&new),
        intermediate: &opts,
    };
    let clusters = ["east", "west"];
    let s0 = clusters.map(|c| intermediate(&old, c));
    let mut states = vec![s0];
    for step in [
        RotationStep::AddNewRoot,
        RotationStep::SwitchIntermediate,
        RotationStep::DropOldRoot,
    ] {
        let prev = states.last().unwrap();
        let next =
            [0, 1].map(|i| rotation_bundle(&rotation, step, clusters[i], &prev[i], now).unwrap());
        states.push(next);
    }
    Walk { states }
}

impl Walk {
    /// A workload of cluster `i` in state `s`: certificate from that state's bundle, trust
    /// from that state's root-cert.
    fn workload(&self, s: usize, i: usize, sa: &str) -> Peer {
        let b = &self.states[s][i];
        peer(b, b, "shop", sa)
    }
}

#[test]
fn rotation_keeps_every_documented_pair_working() {
    let w = walk();
    // While step k rolls out, workloads are in state k-1 or k, in any cluster. Every pair of
    // those states must authenticate, across clusters and within one.
    for step in 1..=3usize {
        for (sa, sb) in [
            (step - 1, step - 1),
            (step - 1, step),
            (step, step - 1),
            (step, step),
        ] {
            for (ia, ib) in [(0, 1), (0, 0)] {
                let a = w.workload(sa, ia, "a");
                let b = w.workload(sb, ib, "b");
                both_ways(&a, &b).unwrap_or_else(|e| {
                    panic!("step {step}: S{sa}(cluster {ia}) / S{sb}(cluster {ib}): {e}")
                });
            }
        }
    }
}

#[test]
fn skipping_a_rollout_breaks_exactly_the_pairs_the_runbook_warns_about() {
    let w = walk();
    // S0 and S2: the S0 side does not trust the new root, so it rejects the S2 leaf.
    let s0 = w.workload(0, 0, "a");
    let s2 = w.workload(2, 1, "b");
    assert!(mtls(&s0, &s2).is_err(), "S0 dialling S2 must fail");
    assert!(mtls(&s2, &s0).is_err(), "S2 dialling S0 must fail");
    // S1 and S3: the S3 side no longer trusts the old root, so it rejects the S1 leaf.
    let s1 = w.workload(1, 0, "a");
    let s3 = w.workload(3, 1, "b");
    assert!(mtls(&s1, &s3).is_err(), "S1 dialling S3 must fail");
    assert!(mtls(&s3, &s1).is_err(), "S3 dialling S1 must fail");
}

#[test]
fn rotation_bundles_have_the_documented_roots_and_signers() {
    let w = walk();
    let count = |pem: &str| isthmus_testing::tls::certs_of(pem).len();
    for i in 0..2 {
        assert_eq!(count(&w.states[0][i].root_cert), 1);
        assert_eq!(count(&w.states[1][i].root_cert), 2);
        assert_eq!(count(&w.states[2][i].root_cert), 2);
        assert_eq!(count(&w.states[3][i].root_cert), 1);
        assert_eq!(
            w.states[1][i].ca_cert, w.states[0][i].ca_cert,
            "step 1 keeps signing"
        );
        assert_ne!(
            w.states[2][i].ca_cert, w.states[1][i].ca_cert,
            "step 2 switches signing"
        );
        assert_eq!(
            w.states[3][i].ca_cert, w.states[2][i].ca_cert,
            "step 3 keeps signing"
        );
        for s in 0..4 {
            let r = gateway_config::ca::verify_bundle(&w.states[s][i], Timestamp::now());
            assert!(
                r.is_ok(),
                "state {s}: {:?}",
                r.failures().collect::<Vec<_>>()
            );
        }
    }
}
