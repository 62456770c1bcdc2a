//! Interoperability with openssl: what the CA issues verifies with `openssl verify` and shows
//! the right extensions in `openssl x509 -text`; roots made by openssl (as Istio's Makefiles make
//! them) are accepted by `isthmus ca issue`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gateway_config::ca::{
    CaCerts, IntermediateOptions, RootCa, RootOptions, issue_intermediate, verify_bundle,
};
use isthmus_testing::tls::workload_leaf;
use isthmus_testing::tools::{describe, require, run_in};
use jiff::Timestamp;
use rustls_pki_types::UnixTime;

/// Runs `isthmus ca <args>`.
fn ca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .arg("ca")
        .args(args)
        .output()
        .unwrap()
}

/// The CA fixtures (roots made by openssl, as Istio's Makefiles make them).
fn testdata() -> PathBuf {
    isthmus_testing::paths::testdata("gateway-config").join("ca")
}

fn write_bundle(dir: &Path, b: &CaCerts) {
    for (name, content) in b.files() {
        fs::write(dir.join(name), content).unwrap();
    }
}

/// `openssl verify` of the intermediate and of a workload leaf issued from it.
fn openssl_verifies(openssl: &Path, dir: &Path, b: &CaCerts) {
    write_bundle(dir, b);
    let (_, chain, _) = workload_leaf(b, "shop", "cart");
    let leaf_pem = pem_of(chain[0].as_ref());
    fs::write(dir.join("leaf.pem"), leaf_pem).unwrap();

    let o = run_in(
        dir,
        openssl,
        &["verify", "-CAfile", "root-cert.pem", "ca-cert.pem"],
    );
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("OK"),
        "{}",
        describe(&o)
    );
    let o = run_in(
        dir,
        openssl,
        &[
            "verify",
            "-CAfile",
            "root-cert.pem",
            "-untrusted",
            "ca-cert.pem",
            "leaf.pem",
        ],
    );
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("leaf.pem: OK"),
        "{}",
        describe(&o)
    );
    let o = run_in(
        dir,
        openssl,
        &[
            "verify",
            "-CAfile",
            "root-cert.pem",
            "-untrusted",
            "cert-chain.pem",
            "leaf.pem",
        ],
    );
    assert!(o.status.success(), "{}", describe(&o));
    // Without the intermediate the leaf must not verify (the check is real).
    let o = run_in(
        dir,
        openssl,
        &["verify", "-CAfile", "root-cert.pem", "leaf.pem"],
    );
    assert!(!o.status.success(), "{}", describe(&o));
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

#[test]
#[ignore = "needs openssl"]
fn openssl_verifies_ecdsa_and_rsa_intermediates_and_their_leaves() {
    let openssl = require("openssl");
    let now = Timestamp::now();
    let root = RootCa::generate(&RootOptions::default(), now).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now).unwrap();
    openssl_verifies(&openssl, tmp.path(), &b);

    // An RSA root (from the fixtures, made by openssl) signing an ECDSA intermediate.
    let fixture = testdata().join("openssl-rsa-pkcs1");
    let rsa_root = RootCa::from_pem(
        &fs::read_to_string(fixture.join("root-cert.pem")).unwrap(),
        &fs::read_to_string(fixture.join("root-key.pem")).unwrap(),
        "root-cert.pem",
        "root-key.pem",
        now,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let b = issue_intermediate(&rsa_root, "west", &IntermediateOptions::default(), now).unwrap();
    openssl_verifies(&openssl, tmp.path(), &b);
}

#[test]
#[ignore = "needs openssl"]
fn openssl_shows_the_intermediate_extensions() {
    let openssl = require("openssl");
    let now = Timestamp::now();
    let root = RootCa::generate(&RootOptions::default(), now).unwrap();
    let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write_bundle(tmp.path(), &b);
    let o = run_in(
        tmp.path(),
        &openssl,
        &["x509", "-text", "-noout", "-in", "ca-cert.pem"],
    );
    assert!(o.status.success(), "{}", describe(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "X509v3 Basic Constraints: critical",
        "CA:TRUE, pathlen:0",
        "X509v3 Key Usage: critical",
        "Digital Signature, Non Repudiation, Certificate Sign",
        "X509v3 Subject Key Identifier",
        "DNS:istiod.istio-system.svc",
        "Subject: O = Istio, CN = Intermediate CA, L = east",
        "Issuer: O = Istio, CN = Root CA",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

/// Makes a root with openssl in `dir`, as `kind` says, and returns nothing; files are
/// root-cert.pem and root-key.pem.
fn openssl_root(openssl: &Path, dir: &Path, kind: &str) {
    let run = |args: &[&str]| {
        let o = run_in(dir, openssl, args);
        assert!(o.status.success(), "openssl {args:?}: {}", describe(&o));
    };
    match kind {
        // The way Istio's Makefile.selfsigned.mk does it (2048 bits to keep the test fast).
        "rsa-pkcs1-makefile" => {
            fs::copy(
                testdata().join("openssl-rsa-pkcs1/root-ca.conf"),
                dir.join("root-ca.conf"),
            )
            .unwrap();
            run(&["genrsa", "-traditional", "-out", "root-key.pem", "2048"]);
            run(&[
                "req",
                "-sha256",
                "-new",
                "-key",
                "root-key.pem",
                "-config",
                "root-ca.conf",
                "-out",
                "root-cert.csr",
            ]);
            run(&[
                "x509",
                "-req",
                "-sha256",
                "-days",
                "3650",
                "-signkey",
                "root-key.pem",
                "-extensions",
                "req_ext",
                "-extfile",
                "root-ca.conf",
                "-in",
                "root-cert.csr",
                "-out",
                "root-cert.pem",
            ]);
        }
        "rsa-pkcs8" => {
            run(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "root-key.pem",
            ]);
            run(&[
                "req",
                "-new",
                "-x509",
                "-sha256",
                "-key",
                "root-key.pem",
                "-out",
                "root-cert.pem",
                "-days",
                "3650",
                "-subj",
                "/O=Istio/CN=Root CA",
                "-addext",
                "basicConstraints=critical,CA:true",
            ]);
        }
        "ec-sec1" => {
            run(&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "root-key.pem",
            ]);
            run(&[
                "req",
                "-new",
                "-x509",
                "-sha256",
                "-key",
                "root-key.pem",
                "-out",
                "root-cert.pem",
                "-days",
                "3650",
                "-subj",
                "/C=DE/O=Acme GmbH/CN=Acme Root",
                "-addext",
                "basicConstraints=critical,CA:true",
            ]);
        }
        "ec-pkcs8-p384" => {
            run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                "root-key.pem",
            ]);
            run(&[
                "req",
                "-new",
                "-x509",
                "-sha384",
                "-key",
                "root-key.pem",
                "-out",
                "root-cert.pem",
                "-days",
                "3650",
                "-subj",
                "/O=Acme/CN=Acme P-384 Root",
                "-addext",
                "basicConstraints=critical,CA:true",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
        }
        other => panic!("unknown root kind {other}"),
    }
    let key = fs::read_to_string(dir.join("root-key.pem")).unwrap();
    let expected_header = match kind {
        "rsa-pkcs1-makefile" => "BEGIN RSA PRIVATE KEY",
        "ec-sec1" => "BEGIN EC PRIVATE KEY",
        _ => "BEGIN PRIVATE KEY",
    };
    assert!(
        key.contains(expected_header),
        "{kind}: openssl wrote another key form"
    );
}

#[test]
#[ignore = "needs openssl"]
fn roots_made_by_openssl_are_accepted_by_ca_issue() {
    let openssl = require("openssl");
    for kind in [
        "rsa-pkcs1-makefile",
        "rsa-pkcs8",
        "ec-sec1",
        "ec-pkcs8-p384",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("root");
        fs::create_dir(&root_dir).unwrap();
        openssl_root(&openssl, &root_dir, kind);
        let out = tmp.path().join("east");
        let o = ca(&[
            "issue",
            "--root",
            root_dir.to_str().unwrap(),
            "--cluster",
            "east",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{kind}: {}", describe(&o));
        let b = CaCerts::from_lookup(|n| fs::read_to_string(out.join(n)).ok());
        let r = verify_bundle(&b, Timestamp::now());
        assert!(r.is_ok(), "{kind}: {:?}", r.failures().collect::<Vec<_>>());
        openssl_verifies(&openssl, &out, &b);
        // The root key never leaves the root directory.
        let root_key = fs::read_to_string(root_dir.join("root-key.pem")).unwrap();
        for (name, content) in b.files() {
            assert!(
                !content.contains(root_key.trim()),
                "{kind}: {name} holds the root key"
            );
        }
        let o = ca(&["verify", out.to_str().unwrap()]);
        assert!(o.status.success(), "{kind}: {}", describe(&o));
    }
}

#[test]
fn fixture_roots_made_by_openssl_load_and_issue_without_openssl() {
    let now = Timestamp::now();
    for fixture in ["openssl-rsa-pkcs1", "openssl-ec-sec1"] {
        let dir = testdata().join(fixture);
        let root = RootCa::from_pem(
            &fs::read_to_string(dir.join("root-cert.pem")).unwrap(),
            &fs::read_to_string(dir.join("root-key.pem")).unwrap(),
            "root-cert.pem",
            "root-key.pem",
            now,
        )
        .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let b = issue_intermediate(&root, "east", &IntermediateOptions::default(), now).unwrap();
        let r = verify_bundle(&b, now);
        assert!(
            r.is_ok(),
            "{fixture}: {:?}",
            r.failures().collect::<Vec<_>>()
        );

        // A workload leaf chains to the openssl-made root under webpki.
        let (_, chain, _) = workload_leaf(&b, "shop", "cart");
        let root_der = isthmus_testing::tls::certs_of(&b.root_cert).remove(0);
        let anchor = webpki::anchor_from_trusted_cert(&root_der).unwrap();
        let ee = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &chain[1..],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("{fixture}: {e:?}"));
    }
}
