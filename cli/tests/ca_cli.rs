//! The built `isthmus ca` binary: init, issue, verify, rotate and renew; exit codes,
//! file modes, refusal to overwrite and nothing written on bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gateway_config::ca::{CaCerts, RootCa, RootOptions, verify_bundle};
use isthmus_testing::tls::certs_of;
use isthmus_testing::tools::describe;
use jiff::{SignedDuration, Timestamp};

/// Runs `isthmus ca <args>`.
fn ca(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .arg("ca")
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn init(dir: &Path) {
    let o = ca(&["init", "--out", s(dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
}

fn issue(root: &Path, cluster: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "issue",
        "--root",
        s(root),
        "--cluster",
        cluster,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    ca(&args)
}

fn read_dir_bundle(dir: &Path) -> CaCerts {
    CaCerts::from_lookup(|n| fs::read_to_string(dir.join(n)).ok())
}

/// Names of the entries of a directory (empty when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn init_writes_root_with_modes_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    let o = ca(&[
        "init",
        "--out",
        s(&dir),
        "--org",
        "Acme",
        "--common-name",
        "Acme Root",
        "--validity-days",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(!stdout(&o).contains("PRIVATE KEY") && !stderr(&o).contains("PRIVATE KEY"));
    assert_eq!(entries(&dir), ["root-cert.pem", "root-key.pem"]);
    assert_eq!(mode(&dir.join("root-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("root-cert.pem")), 0o644);
    assert_eq!(mode(&dir), 0o700);
    let cert = fs::read_to_string(dir.join("root-cert.pem")).unwrap();
    let key = fs::read_to_string(dir.join("root-key.pem")).unwrap();
    let root = RootCa::from_pem(&cert, &key, "c", "k", Timestamp::now()).unwrap();
    assert!(
        root.cert().subject().contains("O=Acme") && root.cert().subject().contains("CN=Acme Root")
    );
    let days = root
        .cert()
        .not_after()
        .duration_since(Timestamp::now())
        .as_hours()
        / 24;
    assert!((99..=100).contains(&days), "{days}");

    let o = ca(&["init", "--out", s(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        fs::read_to_string(dir.join("root-key.pem")).unwrap(),
        key,
        "key must be untouched"
    );

    let o = ca(&["init", "--out", s(&dir), "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_ne!(fs::read_to_string(dir.join("root-key.pem")).unwrap(), key);
    assert_eq!(mode(&dir.join("root-key.pem")), 0o600);
}

#[test]
fn init_makes_an_rsa_4096_root_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    let o = ca(&["init", "--out", s(&dir), "--key-type", "rsa-4096"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let cert = fs::read_to_string(dir.join("root-cert.pem")).unwrap();
    let der = certs_of(&cert).remove(0);
    let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(
        x.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.1"
    );
    let bits = match x.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => rsa.key_size(),
        other => panic!("not RSA: {other:?}"),
    };
    assert_eq!(bits, 4096);
    let out = tmp.path().join("east");
    let o = issue(&dir, "east", &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(ca(&["verify", s(&out)]).status.code(), Some(0));
}

#[test]
fn bad_flags_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    let o = ca(&["init", "--out", s(&dir), "--key-type", "rsa-1024"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let o = ca(&["init", "--out", s(&dir), "--validity-days", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(!dir.exists());
}

#[test]
fn issue_writes_the_four_files_as_istiod_expects() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    init(&root);
    let out = tmp.path().join("east");
    let o = issue(&root, "east", &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(!stdout(&o).contains("PRIVATE KEY"));
    assert_eq!(
        entries(&out),
        [
            "ca-cert.pem",
            "ca-key.pem",
            "cert-chain.pem",
            "root-cert.pem"
        ]
    );
    assert_eq!(mode(&out.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&out.join("ca-cert.pem")), 0o644);
    let b = read_dir_bundle(&out);
    let root_key = fs::read_to_string(root.join("root-key.pem")).unwrap();
    for (name, content) in b.files() {
        assert!(
            !content.contains(root_key.trim()),
            "{name} holds the root key"
        );
    }
    assert_eq!(
        b.root_cert.trim(),
        fs::read_to_string(root.join("root-cert.pem"))
            .unwrap()
            .trim()
    );
    let chain = certs_of(&b.cert_chain);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0], certs_of(&b.ca_cert)[0]);
    assert_eq!(chain[1], certs_of(&b.root_cert)[0]);
    assert!(verify_bundle(&b, Timestamp::now()).is_ok());

    // Again without --force: refused, untouched; with --force: replaced.
    let o = issue(&root, "east", &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert_eq!(read_dir_bundle(&out), b);
    let o = issue(&root, "east", &out, &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_ne!(read_dir_bundle(&out).ca_key, b.ca_key);
}

#[test]
fn issue_secret_to_stdout_and_to_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    init(&root);
    let o = issue(&root, "west", Path::new("-"), &["--format", "secret"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let yaml = stdout(&o);
    assert!(
        yaml.contains("kind: Secret") && yaml.contains("name: cacerts"),
        "{yaml}"
    );
    assert!(
        yaml.contains("namespace: istio-system") && yaml.contains("type: Opaque"),
        "{yaml}"
    );
    assert!(
        yaml.contains("app.kubernetes.io/managed-by: isthmus"),
        "{yaml}"
    );
    let b = CaCerts::from_secret_yaml(&yaml, "stdout").unwrap();
    assert!(verify_bundle(&b, Timestamp::now()).is_ok());
    assert!(stderr(&o).contains("west"));

    let out = tmp.path().join("west");
    let o = issue(&root, "west", &out, &["--format", "secret"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(entries(&out), ["cacerts.yaml"]);
    assert_eq!(mode(&out.join("cacerts.yaml")), 0o600);
    let o = ca(&["verify", s(&out.join("cacerts.yaml"))]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));

    // stdout is only for the secret form.
    let o = issue(&root, "west", Path::new("-"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(stdout(&o).is_empty());
}

/// Writes a root directory from PEM strings.
fn root_dir(base: &Path, name: &str, cert: &str, key: &str) -> PathBuf {
    let dir = base.join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("root-cert.pem"), cert).unwrap();
    fs::write(dir.join("root-key.pem"), key).unwrap();
    dir
}

#[test]
fn issue_rejects_bad_input_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let now = Timestamp::now();
    let good = RootCa::generate(&RootOptions::default(), now).unwrap();
    let other = RootCa::generate(&RootOptions::default(), now).unwrap();
    let expired = RootCa::generate(
        &RootOptions {
            validity: SignedDuration::from_hours(24),
            ..RootOptions::default()
        },
        now - SignedDuration::from_hours(24 * 10),
    )
    .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["leaf.example".to_string()])
        .unwrap()
        .self_signed(&leaf_key)
        .unwrap();
    let corrupt = good.cert_pem().replace('A', "!");
    let cases: Vec<(&str, PathBuf, &str, &[&str])> = vec![
        (
            "corrupt-cert",
            root_dir(tmp.path(), "corrupt", &corrupt, &good.key_pem()),
            "root-cert.pem",
            &[],
        ),
        (
            "wrong-key",
            root_dir(tmp.path(), "mismatch", &good.cert_pem(), &other.key_pem()),
            "root-key.pem",
            &[],
        ),
        (
            "garbage-key",
            root_dir(tmp.path(), "garbage", &good.cert_pem(), "garbage\n"),
            "root-key.pem",
            &[],
        ),
        (
            "non-ca",
            root_dir(tmp.path(), "nonca", &leaf.pem(), &leaf_key.serialize_pem()),
            "basicConstraints",
            &[],
        ),
        (
            "expired",
            root_dir(
                tmp.path(),
                "expired",
                &expired.cert_pem(),
                &expired.key_pem(),
            ),
            "expired",
            &[],
        ),
        ("missing", tmp.path().join("nowhere"), "cannot read", &[]),
        (
            "bad-cluster",
            root_dir(tmp.path(), "fine", &good.cert_pem(), &good.key_pem()),
            "RFC 1123",
            &[],
        ),
    ];
    for (case, dir, needle, extra) in cases {
        let out = tmp.path().join(format!("out-{case}"));
        let cluster = if case == "bad-cluster" {
            "East_1"
        } else {
            "east"
        };
        let o = issue(&dir, cluster, &out, extra);
        assert_eq!(o.status.code(), Some(2), "{case}: {}", describe(&o));
        let err = stderr(&o);
        assert!(err.contains(needle), "{case}: expected {needle:?} in {err}");
        let all = format!("{err}{}", stdout(&o));
        assert!(!all.contains("-----BEGIN"), "{case}: PEM in output: {all}");
        for key in [
            good.key_pem(),
            other.key_pem(),
            expired.key_pem(),
            leaf_key.serialize_pem(),
        ] {
            for line in key.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!all.contains(line), "{case}: key material in output");
            }
        }
        assert!(!out.exists(), "{case}: output written on bad input");
        if case != "missing" && case != "bad-cluster" {
            assert!(
                err.contains(s(&dir)),
                "{case}: error must name the file: {err}"
            );
        }
    }
}

#[test]
fn verify_reports_every_failure_and_uses_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    init(&root);
    let east = tmp.path().join("east");
    let west = tmp.path().join("west");
    assert_eq!(issue(&root, "east", &east, &[]).status.code(), Some(0));
    assert_eq!(issue(&root, "west", &west, &[]).status.code(), Some(0));

    let o = ca(&["verify", s(&east)]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("OK") && out.contains("days"), "{out}");
    assert!(
        out.contains("ca-cert.pem") && out.contains("365 days") || out.contains("364 days"),
        "{out}"
    );
    assert!(!out.contains("PRIVATE KEY"));

    // Key of another cluster and chain of another cluster: two failures, both listed.
    let bad = tmp.path().join("bad");
    fs::create_dir(&bad).unwrap();
    for name in CaCerts::FILE_NAMES {
        fs::copy(east.join(name), bad.join(name)).unwrap();
    }
    fs::copy(west.join("ca-key.pem"), bad.join("ca-key.pem")).unwrap();
    fs::copy(west.join("cert-chain.pem"), bad.join("cert-chain.pem")).unwrap();
    let o = ca(&["verify", s(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("[FAIL] ca-key matches ca-cert"), "{out}");
    assert!(
        out.contains("[FAIL] cert-chain starts with ca-cert"),
        "{out}"
    );

    // A missing part is a failed check.
    fs::remove_file(bad.join("root-cert.pem")).unwrap();
    let o = ca(&["verify", s(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        stdout(&o).contains("[FAIL] root-cert.pem present"),
        "{}",
        describe(&o)
    );

    // Unparseable input: exit 2.
    fs::write(
        bad.join("root-cert.pem"),
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert_eq!(ca(&["verify", s(&bad)]).status.code(), Some(2));
    let yaml = tmp.path().join("not-a-secret.yaml");
    fs::write(
        &yaml,
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n",
    )
    .unwrap();
    let o = ca(&["verify", s(&yaml)]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(stderr(&o).contains(s(&yaml)), "{}", describe(&o));
    assert_eq!(
        ca(&["verify", s(&tmp.path().join("absent.yaml"))])
            .status
            .code(),
        Some(2)
    );
}

fn rotate(args: &[&str]) -> std::process::Output {
    let mut v = vec!["rotate"];
    v.extend_from_slice(args);
    ca(&v)
}

#[test]
fn rotate_walks_three_steps_for_all_clusters() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    init(&p("root-old"));
    init(&p("root-new"));
    let current = p("current");
    for c in ["east", "west"] {
        let fmt: &[&str] = if c == "east" {
            &[]
        } else {
            &["--format", "secret"]
        };
        assert_eq!(
            issue(&p("root-old"), c, &current.join(c), fmt)
                .status
                .code(),
            Some(0)
        );
    }
    // The new root's key is needed by step 2 only: hide it for steps 1 and 3.
    let new_key = fs::read_to_string(p("root-new").join("root-key.pem")).unwrap();
    fs::remove_file(p("root-new").join("root-key.pem")).unwrap();
    fs::remove_file(p("root-old").join("root-key.pem")).unwrap();
    let clusterset = p("clusterset.yaml");
    fs::write(
        &clusterset,
        "apiVersion: isthmus.io/v1alpha1\nmembers:\n- name: east\n  network: n1\n- name: west\n",
    )
    .unwrap();

    let common = |step: &str, bundle: &Path, out: &Path, members: &[&str]| {
        let mut a = vec![
            "--root-old".to_string(),
            s(&p("root-old")).to_string(),
            "--root-new".into(),
            s(&p("root-new")).into(),
            "--step".into(),
            step.into(),
            "--bundle-dir".into(),
            s(bundle).into(),
            "--out".into(),
            s(out).into(),
        ];
        a.extend(members.iter().map(|m| m.to_string()));
        a
    };
    let run = |a: Vec<String>| rotate(&a.iter().map(String::as_str).collect::<Vec<_>>());

    // Step 2 before step 1: refused, nothing written.
    fs::write(p("root-new").join("root-key.pem"), &new_key).unwrap();
    let o = run(common(
        "2",
        &current,
        &p("early"),
        &["--clusters", "east,west"],
    ));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        stderr(&o).contains("apply step 1 first"),
        "{}",
        describe(&o)
    );
    assert!(!p("early").exists());
    fs::remove_file(p("root-new").join("root-key.pem")).unwrap();

    let o = run(common(
        "1",
        &current,
        &p("step1"),
        &["--clusters", "east,west"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ISTIO_MULTIROOT_MESH=true") && out.contains("PROXY_CONFIG_XDS_AGENT"),
        "{out}"
    );
    assert!(out.contains("before step 2"), "{out}");
    for c in ["east", "west"] {
        let d = p("step1").join(c);
        assert_eq!(
            entries(&d),
            [
                "ca-cert.pem",
                "ca-key.pem",
                "cacerts.yaml",
                "cert-chain.pem",
                "root-cert.pem"
            ]
        );
        assert_eq!(mode(&d.join("ca-key.pem")), 0o600);
        assert_eq!(mode(&d.join("cacerts.yaml")), 0o600);
        assert_eq!(
            certs_of(&fs::read_to_string(d.join("root-cert.pem")).unwrap()).len(),
            2
        );
        assert_eq!(ca(&["verify", s(&d)]).status.code(), Some(0));
        assert_eq!(
            ca(&["verify", s(&d.join("cacerts.yaml"))]).status.code(),
            Some(0)
        );
    }
    assert_eq!(
        fs::read_to_string(p("step1/east/ca-cert.pem")).unwrap(),
        fs::read_to_string(current.join("east/ca-cert.pem")).unwrap()
    );
    // Same step again into the same place: refused without --force.
    let o = run(common(
        "1",
        &current,
        &p("step1"),
        &["--clusters", "east,west"],
    ));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));

    // Step 2 without the new key: refused.
    let o = run(common(
        "2",
        &p("step1"),
        &p("step2"),
        &["--clusterset", s(&clusterset)],
    ));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(!p("step2").exists());
    fs::write(p("root-new").join("root-key.pem"), &new_key).unwrap();
    let o = run(common(
        "2",
        &p("step1"),
        &p("step2"),
        &["--clusterset", s(&clusterset)],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    for c in ["east", "west"] {
        let d = p("step2").join(c);
        let chain = certs_of(&fs::read_to_string(d.join("cert-chain.pem")).unwrap());
        let new_root = certs_of(&fs::read_to_string(p("root-new").join("root-cert.pem")).unwrap());
        assert_eq!(chain[1], new_root[0]);
        assert_eq!(
            certs_of(&fs::read_to_string(d.join("root-cert.pem")).unwrap()).len(),
            2
        );
        assert_eq!(ca(&["verify", s(&d)]).status.code(), Some(0));
        for (name, content) in read_dir_bundle(&d).files() {
            assert!(
                !content.contains(new_key.trim()),
                "{c}/{name} holds the root key"
            );
        }
    }
    fs::remove_file(p("root-new").join("root-key.pem")).unwrap();

    // Step 3 on step 1 output: refused. On step 2 output: one root left.
    let o = run(common(
        "3",
        &p("step1"),
        &p("step3"),
        &["--clusters", "east,west"],
    ));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(!p("step3").exists());
    let o = run(common(
        "3",
        &p("step2"),
        &p("step3"),
        &["--clusters", "east,west", "--format", "secret"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    for c in ["east", "west"] {
        let d = p("step3").join(c);
        assert_eq!(entries(&d), ["cacerts.yaml"]);
        let b =
            CaCerts::from_secret_yaml(&fs::read_to_string(d.join("cacerts.yaml")).unwrap(), "t")
                .unwrap();
        assert_eq!(certs_of(&b.root_cert).len(), 1);
        assert_eq!(
            ca(&["verify", s(&d.join("cacerts.yaml"))]).status.code(),
            Some(0)
        );
    }
}

#[test]
fn rotate_rejects_bad_cluster_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n);
    init(&p("a"));
    init(&p("b"));
    let (a, b, none, outp) = (p("a"), p("b"), p("none"), p("out"));
    let base = [
        "rotate",
        "--root-old",
        s(&a),
        "--root-new",
        s(&b),
        "--step",
        "1",
    ];
    let tail = ["--bundle-dir", s(&none), "--out", s(&outp)];
    for members in [
        vec!["--clusters", "east,East"],
        vec!["--clusters", "east,east"],
        vec![],
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(&members);
        args.extend(tail);
        let o = ca(&args);
        assert_eq!(o.status.code(), Some(2), "{members:?}: {}", describe(&o));
    }
    let bad = p("bad.yaml");
    fs::write(&bad, "members: east\n").unwrap();
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--clusterset", s(&bad)]);
    args.extend(tail);
    let o = ca(&args);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(stderr(&o).contains("members"), "{}", describe(&o));
    // A listed cluster without a bundle.
    let o = ca(&[&base[..], &["--clusters", "east"], &tail[..]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(!p("out").exists());
}

#[test]
fn renew_replaces_only_what_expires_soon() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    init(&root);
    let bundles = tmp.path().join("bundles");
    assert_eq!(
        issue(&root, "east", &bundles.join("east"), &[])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        issue(
            &root,
            "west",
            &bundles.join("west"),
            &["--validity-days", "10", "--format", "secret"]
        )
        .status
        .code(),
        Some(0)
    );
    // A bundle from another root is invalid here and gets replaced.
    let other = tmp.path().join("other");
    init(&other);
    assert_eq!(
        issue(&other, "north", &bundles.join("north"), &[])
            .status
            .code(),
        Some(0)
    );
    fs::create_dir(bundles.join("notes")).unwrap();

    let east_before = read_dir_bundle(&bundles.join("east"));
    let west_before = fs::read_to_string(bundles.join("west/cacerts.yaml")).unwrap();
    let north_before = read_dir_bundle(&bundles.join("north"));
    let o = ca(&[
        "renew",
        "--root",
        s(&root),
        "--bundle-dir",
        s(&bundles),
        "--threshold-days",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("kept    east"), "{out}");
    assert!(
        out.contains("renewed west") && out.contains("renewal window"),
        "{out}"
    );
    assert!(
        out.contains("renewed north") && out.contains("not signed by the root"),
        "{out}"
    );
    assert!(!out.contains("PRIVATE KEY"));

    assert_eq!(read_dir_bundle(&bundles.join("east")), east_before);
    let west_after = fs::read_to_string(bundles.join("west/cacerts.yaml")).unwrap();
    assert_ne!(west_after, west_before);
    assert_eq!(entries(&bundles.join("west")), ["cacerts.yaml"]);
    assert_eq!(mode(&bundles.join("west/cacerts.yaml")), 0o600);
    let north = read_dir_bundle(&bundles.join("north"));
    assert_ne!(north.ca_cert, north_before.ca_cert);
    assert_eq!(mode(&bundles.join("north/ca-key.pem")), 0o600);
    for d in ["east", "north"] {
        assert_eq!(ca(&["verify", s(&bundles.join(d))]).status.code(), Some(0));
    }
    assert_eq!(
        ca(&["verify", s(&bundles.join("west/cacerts.yaml"))])
            .status
            .code(),
        Some(0)
    );

    // Nothing left to do: everything kept.
    let o = ca(&[
        "renew",
        "--root",
        s(&root),
        "--bundle-dir",
        s(&bundles),
        "--threshold-days",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(!stdout(&o).contains("renewed"), "{}", describe(&o));

    // A bundle directory named like no cluster: exit 2, nothing rewritten.
    fs::create_dir(bundles.join("Bad_Name")).unwrap();
    fs::copy(
        bundles.join("east/ca-cert.pem"),
        bundles.join("Bad_Name/ca-cert.pem"),
    )
    .unwrap();
    let o = ca(&[
        "renew",
        "--root",
        s(&root),
        "--bundle-dir",
        s(&bundles),
        "--threshold-days",
        "400",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert_eq!(read_dir_bundle(&bundles.join("east")), east_before);
}
