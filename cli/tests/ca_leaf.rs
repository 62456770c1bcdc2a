//! `isthmus ca leaf`: server and DNS-proxy client certificates for the discovery
//! channel, issued by the built binary from an intermediate directory, a `cacerts.yaml`
//! directory and a root directory; checked with openssl (that test needs it installed) and by a
//! real mutual-TLS handshake with rustls, as the controller and the DNS proxy run it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use isthmus_testing::tls::{certs_of, handshake, ring_provider, spiffe_ids};
use isthmus_testing::tools::{describe, require, run_in};
use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

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

/// A root in `dir/root`, the intermediate of cluster `hub` in `dir/hub` and that of cluster
/// `east` in `dir/east-ca`.
fn ca_dirs(dir: &Path) {
    let o = ca(&["init", "--out", s(&dir.join("root"))]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    for (cluster, out) in [("hub", "hub"), ("east", "east-ca")] {
        let o = ca(&[
            "issue",
            "--root",
            s(&dir.join("root")),
            "--cluster",
            cluster,
            "--out",
            s(&dir.join(out)),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    }
}

fn leaf(args: &[&str]) {
    let mut all = vec!["leaf"];
    all.extend_from_slice(args);
    let o = ca(&all);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
}

/// `ca leaf` for a discovery server certificate naming `names`; must succeed.
fn server_leaf(ca_dir: &str, out: &str, names: &str, extra: &[&str]) {
    let mut args = vec!["--ca", ca_dir, "--out", out, "--server-dns", names];
    args.extend_from_slice(extra);
    leaf(&args);
}

/// `ca leaf` for the DNS proxy client certificate of `cluster`; must succeed.
fn proxy_leaf(ca_dir: &str, out: &str, cluster: &str, trust_domain: &str, extra: &[&str]) {
    let mut args = vec![
        "--ca",
        ca_dir,
        "--out",
        out,
        "--dns-proxy-cluster",
        cluster,
        "--trust-domain",
        trust_domain,
    ];
    args.extend_from_slice(extra);
    leaf(&args);
}

struct Issued {
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: RootCertStore,
}

fn load(dir: &Path) -> Issued {
    let chain = certs_of(&fs::read_to_string(dir.join("tls.crt")).unwrap());
    let key = PrivateKeyDer::from_pem_file(dir.join("tls.key")).unwrap();
    let mut roots = RootCertStore::empty();
    for r in certs_of(&fs::read_to_string(dir.join("ca.crt")).unwrap()) {
        roots.add(r).unwrap();
    }
    Issued { chain, key, roots }
}

/// The discovery channel: the DNS proxy checks the server's DNS name against `ca.crt`, the
/// server requires a client certificate chaining to its `ca.crt`. Returns the URI SANs of
/// the client certificate the server saw.
fn discovery_mtls(server: &Issued, client: &Issued, name: &str) -> Result<Vec<String>, String> {
    let provider = ring_provider();
    let client_verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(server.roots.clone()),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(server.chain.clone(), server.key.clone_key())
        .map_err(|e| e.to_string())?;
    let server_verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(client.roots.clone()),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_webpki_verifier(server_verifier)
        .with_client_auth_cert(client.chain.clone(), client.key.clone_key())
        .map_err(|e| e.to_string())?;
    let presented = handshake(client_config, server_config, name)?;
    Ok(presented.first().map(spiffe_ids).unwrap_or_default())
}

#[test]
fn server_and_client_leaves_authenticate_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ca_dirs(d);
    // Server from the hub's intermediate; one client from its cluster's intermediate, one
    // from the root, one from a cacerts.yaml bundle of its cluster.
    server_leaf(
        s(&d.join("hub")),
        s(&d.join("server")),
        "isthmus-discovery.isthmus-system.svc,127.0.0.1",
        &[],
    );
    proxy_leaf(
        s(&d.join("east-ca")),
        s(&d.join("east")),
        "east",
        "cluster.local",
        &[],
    );
    proxy_leaf(
        s(&d.join("root")),
        s(&d.join("west")),
        "west",
        "cluster.local",
        &["--validity", "30"],
    );
    let o = ca(&[
        "issue",
        "--root",
        s(&d.join("root")),
        "--cluster",
        "south",
        "--out",
        s(&d.join("south-ca")),
        "--format",
        "secret",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    proxy_leaf(
        s(&d.join("south-ca")),
        s(&d.join("south")),
        "south",
        "cluster.local",
        &[],
    );

    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.join("server/tls.key")), 0o600);
    assert_eq!(mode(&d.join("server/tls.crt")), 0o644);
    assert_eq!(mode(&d.join("server/ca.crt")), 0o644);
    // tls.crt is the leaf then the signer's chain: intermediate and root, or the root.
    assert_eq!(load(&d.join("server")).chain.len(), 3);
    assert_eq!(load(&d.join("west")).chain.len(), 2);

    let server = load(&d.join("server"));
    for (cluster, name) in [
        ("east", "isthmus-discovery.isthmus-system.svc"),
        ("west", "127.0.0.1"),
        ("south", "isthmus-discovery.isthmus-system.svc"),
    ] {
        let client = load(&d.join(cluster));
        let ids = discovery_mtls(&server, &client, name).unwrap();
        assert_eq!(
            ids,
            [format!(
                "spiffe://cluster.local/isthmus/dns-proxy/{cluster}"
            )]
        );
    }
    // The server certificate does not name other hosts.
    let client = load(&d.join("east"));
    let e = discovery_mtls(&server, &client, "other.example.com").unwrap_err();
    assert!(e.contains("NotValidForName") || e.contains("name"), "{e}");
    // A client certificate cannot serve, and a server certificate cannot be a client.
    let e = discovery_mtls(&client, &server, "isthmus-discovery.isthmus-system.svc").unwrap_err();
    assert!(e.contains("extended key usage"), "{e}");
}

#[test]
fn leaves_from_a_foreign_root_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ca_dirs(&a);
    ca_dirs(&b);
    server_leaf(
        s(&a.join("hub")),
        s(&a.join("server")),
        "discovery.test",
        &[],
    );
    proxy_leaf(
        s(&b.join("east-ca")),
        s(&b.join("client")),
        "east",
        "cluster.local",
        &[],
    );
    let e = discovery_mtls(
        &load(&a.join("server")),
        &load(&b.join("client")),
        "discovery.test",
    )
    .unwrap_err();
    assert!(e.contains("invalid peer certificate"), "{e}");
    // A client that trusts the server but holds a certificate of the other root is refused
    // by the server.
    let mut client = load(&b.join("client"));
    client.roots = load(&a.join("server")).roots;
    let e = discovery_mtls(&load(&a.join("server")), &client, "discovery.test").unwrap_err();
    assert!(e.starts_with("server side"), "{e}");
}

#[test]
#[ignore = "needs openssl"]
fn openssl_verifies_chain_purpose_and_extensions() {
    let openssl = require("openssl");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ca_dirs(d);
    server_leaf(
        s(&d.join("hub")),
        s(&d.join("server")),
        "discovery.isthmus.test,10.0.0.1",
        &[],
    );
    proxy_leaf(
        s(&d.join("east-ca")),
        s(&d.join("client")),
        "east",
        "mesh.example",
        &[],
    );
    for (dir, purpose, wrong) in [
        ("server", "sslserver", "sslclient"),
        ("client", "sslclient", "sslserver"),
    ] {
        let dir = d.join(dir);
        let ok = run_in(
            &dir,
            &openssl,
            &[
                "verify",
                "-CAfile",
                "ca.crt",
                "-untrusted",
                "tls.crt",
                "-purpose",
                purpose,
                "tls.crt",
            ],
        );
        assert!(ok.status.success(), "{}", describe(&ok));
        let bad = run_in(
            &dir,
            &openssl,
            &[
                "verify",
                "-CAfile",
                "ca.crt",
                "-untrusted",
                "tls.crt",
                "-purpose",
                wrong,
                "tls.crt",
            ],
        );
        assert!(!bad.status.success(), "{dir:?} must not verify as {wrong}");
    }
    let show = |dir: &str| {
        let o = run_in(
            &d.join(dir),
            &openssl,
            &["x509", "-noout", "-text", "-in", "tls.crt"],
        );
        assert!(o.status.success(), "{}", describe(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let server = show("server");
    for needle in [
        "X509v3 Basic Constraints: critical",
        "CA:FALSE",
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "TLS Web Server Authentication",
        "DNS:discovery.isthmus.test, IP Address:10.0.0.1",
        "Issuer: O = Istio, CN = Intermediate CA, L = hub",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(server.contains(needle), "missing {needle:?} in\n{server}");
    }
    assert!(!server.contains("TLS Web Client Authentication"));
    let client = show("client");
    for needle in [
        "TLS Web Client Authentication",
        "URI:spiffe://mesh.example/isthmus/dns-proxy/east",
        "CA:FALSE",
    ] {
        assert!(client.contains(needle), "missing {needle:?} in\n{client}");
    }
    assert!(!client.contains("TLS Web Server Authentication"));
}

#[test]
fn secret_form_to_stdout_and_to_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ca_dirs(d);
    let o = ca(&[
        "leaf",
        "--ca",
        s(&d.join("east-ca")),
        "--out",
        "-",
        "--format",
        "secret",
        "--dns-proxy-cluster",
        "east",
        "--trust-domain",
        "cluster.local",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let yaml = String::from_utf8(o.stdout).unwrap();
    let secret: k8s_openapi::api::core::v1::Secret = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.metadata.name.as_deref(),
        Some("isthmus-dns-proxy-tls")
    );
    assert_eq!(secret.metadata.namespace.as_deref(), Some("isthmus-system"));
    let data = secret.data.unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
    let chain = certs_of(std::str::from_utf8(&data["tls.crt"].0).unwrap());
    assert_eq!(
        spiffe_ids(&chain[0]),
        ["spiffe://cluster.local/isthmus/dns-proxy/east"]
    );
    // Messages go to stderr, so stdout is only the manifest.
    assert!(String::from_utf8_lossy(&o.stderr).contains("issued"));

    let out = d.join("secret-out");
    let o = ca(&[
        "leaf",
        "--ca",
        s(&d.join("hub")),
        "--out",
        s(&out),
        "--format",
        "secret",
        "--server-dns",
        "discovery.test",
        "--secret-name",
        "discovery-tls",
        "--namespace",
        "hub-system",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let file = out.join("tls-secret.yaml");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_saphyr::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(secret.metadata.name.as_deref(), Some("discovery-tls"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("hub-system"));
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ca_dirs(d);
    let hub = d.join("hub");
    let out = d.join("out");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--server-dns", "Bad_Name"], "server DNS names"),
        (vec!["--server-dns", ","], "at least one name"),
        (
            vec![
                "--dns-proxy-cluster",
                "East",
                "--trust-domain",
                "cluster.local",
            ],
            "cluster name",
        ),
        (
            vec![
                "--dns-proxy-cluster",
                "east",
                "--trust-domain",
                "Cluster.Local",
            ],
            "trust domain",
        ),
        (vec!["--dns-proxy-cluster", "east"], "--trust-domain"),
        (vec![], "--server-dns"),
        (
            vec![
                "--server-dns",
                "a.test",
                "--dns-proxy-cluster",
                "east",
                "--trust-domain",
                "td",
            ],
            "cannot be used with",
        ),
        (vec!["--server-dns", "a.test", "--validity-days", "0"], "0"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["leaf", "--ca", s(&hub), "--out", s(&out)];
        args.extend(extra.iter().copied());
        let o = ca(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", describe(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} wrote output");
    }

    // A directory that is no CA, a corrupted intermediate, a key of another CA.
    let o = ca(&[
        "leaf",
        "--ca",
        s(d),
        "--out",
        s(&out),
        "--server-dns",
        "a.test",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds neither"));

    let broken = d.join("broken");
    fs::create_dir(&broken).unwrap();
    for name in ["ca-key.pem", "cert-chain.pem", "root-cert.pem"] {
        fs::copy(hub.join(name), broken.join(name)).unwrap();
    }
    fs::write(
        broken.join("ca-cert.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    let o = ca(&[
        "leaf",
        "--ca",
        s(&broken),
        "--out",
        s(&out),
        "--server-dns",
        "a.test",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ca-cert.pem"));

    fs::copy(hub.join("ca-cert.pem"), broken.join("ca-cert.pem")).unwrap();
    fs::copy(d.join("root/root-key.pem"), broken.join("ca-key.pem")).unwrap();
    let o = ca(&[
        "leaf",
        "--ca",
        s(&broken),
        "--out",
        s(&out),
        "--server-dns",
        "a.test",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ca-key.pem") && !err.contains("PRIVATE KEY"),
        "{err}"
    );
    assert!(!out.exists());

    // Existing output is kept without --force.
    server_leaf(s(&hub), s(&out), "a.test", &[]);
    let before = fs::read(out.join("tls.key")).unwrap();
    let o = ca(&[
        "leaf",
        "--ca",
        s(&hub),
        "--out",
        s(&out),
        "--server-dns",
        "a.test",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert_eq!(fs::read(out.join("tls.key")).unwrap(), before);
    server_leaf(s(&hub), s(&out), "a.test", &["--force"]);
    assert_ne!(fs::read(out.join("tls.key")).unwrap(), before);
}

#[test]
fn a_cluster_intermediate_does_not_issue_another_clusters_dns_proxy_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ca_dirs(d);
    let out = d.join("out");
    for format in ["files", "secret"] {
        let o = ca(&[
            "leaf",
            "--ca",
            s(&d.join("east-ca")),
            "--out",
            s(&out),
            "--format",
            format,
            "--dns-proxy-cluster",
            "west",
            "--trust-domain",
            "cluster.local",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--dns-proxy-cluster west")
                && err.contains("\"east\"")
                && err.contains("from the root"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!out.exists(), "{format}: output written");
    }
    // Its own cluster's identity, and any cluster's from the root, are issued.
    proxy_leaf(
        s(&d.join("east-ca")),
        s(&d.join("east")),
        "east",
        "cluster.local",
        &[],
    );
    proxy_leaf(
        s(&d.join("root")),
        s(&d.join("west")),
        "west",
        "cluster.local",
        &[],
    );
}
