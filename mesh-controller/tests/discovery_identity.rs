//! A DNS proxy's identity is bound to its cluster: the built `mesh-controller` binary serves
//! discovery over mutual TLS under a clusterset root and streams a member's view to a client
//! certificate signed by that member's own intermediate, but refuses one naming the same
//! member that was minted with another member's intermediate (as whoever holds that member's
//! `cacerts` could do; `ca leaf` refuses to, so the certificate is forged here with rcgen).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use gateway_config::ca::{
    CaCerts, IntermediateOptions, LeafCert, LeafOptions, LeafRole, LeafSigner, RootCa, RootOptions,
    dns_proxy_spiffe_id, issue_intermediate, issue_leaf,
};
use isthmus_testing::{Env, eventually};
use mesh_proto::client::{self, ClientConfig, ClientError, ClientState, ClientTls};
use mesh_proto::table::ClientTable;
use tokio::io::{AsyncBufReadExt, BufReader};

const TRUST_DOMAIN: &str = "cluster.local";
const SERVER_NAME: &str = "isthmus-discovery.isthmus-system.svc";
const LIMIT: Duration = Duration::from_secs(60);

fn write_files(dir: &Path, cert: &LeafCert) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in cert.files() {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// A client certificate naming `cluster`'s DNS proxy, signed with `signing`'s intermediate key
/// without any check: `tls.crt` (leaf + the intermediate's chain) and `tls.key`.
fn forge(signing: &CaCerts, cluster: &str) -> (String, String) {
    let ca_key = rcgen::KeyPair::from_pem(&signing.ca_key).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&signing.ca_cert, ca_key).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("dns-proxy.{cluster}"));
    params.subject_alt_names = vec![rcgen::SanType::URI(
        dns_proxy_spiffe_id(TRUST_DOMAIN, cluster)
            .try_into()
            .unwrap(),
    )];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (
        format!("{}{}", leaf.pem(), signing.cert_chain),
        key.serialize_pem(),
    )
}

/// Starts `mesh-controller run` serving discovery with the server files in `server` and
/// returns the child and the address it serves on (read from its JSON log).
async fn start_binary(clusterset: &Path, server: &Path) -> (tokio::process::Child, String) {
    let f = |name: &str| server.join(name).to_str().unwrap().to_owned();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args(["--log-format", "json", "run", "--clusterset"])
        .arg(clusterset)
        .args(["--leader-elect=false", "--metrics-listen", "127.0.0.1:0"])
        .args(["--discovery-listen", "127.0.0.1:0"])
        .args(["--discovery-tls-cert", &f("tls.crt")])
        .args(["--discovery-tls-key", &f("tls.key")])
        .args(["--discovery-client-ca", &f("ca.crt")])
        .args(["--trust-domain", TRUST_DOMAIN])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start mesh-controller");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["fields"]["message"] == "serving ClusterSet discovery" {
                return v["fields"]["addr"].as_str().unwrap().to_owned();
            }
        }
        panic!("mesh-controller exited before serving discovery");
    })
    .await
    .expect("discovery served");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

fn tls(ca: &str, cert: String, key: String) -> Option<ClientTls> {
    Some(ClientTls {
        ca_pem: ca.as_bytes().to_vec(),
        cert_pem: cert.into_bytes(),
        key_pem: key.into_bytes(),
        server_name: Some(SERVER_NAME.into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_members_own_intermediate_vouches_for_its_dns_proxy() {
    let env = Env::new(2).await;
    let dir = tempfile::tempdir().unwrap();
    let clusterset = env.write_clusterset(dir.path());
    let (one, two) = (env.names[0].clone(), env.names[1].clone());

    let now = jiff::Timestamp::now();
    let root = RootCa::generate(&RootOptions::default(), now).unwrap();
    let server = issue_leaf(
        &LeafSigner::from_root(&root).unwrap(),
        &LeafRole::Server {
            names: vec![SERVER_NAME.into()],
        },
        &LeafOptions::default(),
        now,
    )
    .unwrap();
    write_files(&dir.path().join("server"), &server);
    let ca_one = issue_intermediate(&root, &one, &IntermediateOptions::default(), now).unwrap();
    let ca_two = issue_intermediate(&root, &two, &IntermediateOptions::default(), now).unwrap();
    let role_two = LeafRole::DnsProxyClient {
        cluster: two.clone(),
        trust_domain: TRUST_DOMAIN.into(),
    };
    let right = issue_leaf(
        &LeafSigner::from_cacerts(&ca_two, "two", now).unwrap(),
        &role_two,
        &LeafOptions::default(),
        now,
    )
    .unwrap();
    // The library will not sign it from the first member's intermediate.
    let refused = issue_leaf(
        &LeafSigner::from_cacerts(&ca_one, "one", now).unwrap(),
        &role_two,
        &LeafOptions::default(),
        now,
    );
    assert!(refused.is_err(), "{refused:?}");
    let (forged_cert, forged_key) = forge(&ca_one, &two);

    let (mut child, addr) = start_binary(&clusterset, &dir.path().join("server")).await;
    let url = format!("https://{addr}");

    // The certificate from the member's own intermediate streams its view.
    let mut cfg = ClientConfig::new(url.clone(), two.clone());
    cfg.tls = tls(&right.ca, right.cert_chain.clone(), right.key.clone());
    cfg.backoff_max = Duration::from_millis(500);
    let (tx, mut rx) = tokio::sync::watch::channel(ClientState::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(client::run(cfg, tx, async {
        let _ = stop_rx.await;
    }));
    eventually("the member's proxy gets its table", LIMIT, || {
        let state = rx.borrow_and_update().clone();
        async move {
            (state.connected && state.table.is_some())
                .then_some(())
                .ok_or_else(|| "no table yet".to_owned())
        }
    })
    .await;
    let _ = stop_tx.send(());
    proxy.await.unwrap().unwrap();

    // The forged one passes TLS (it chains to the root) but is refused for the member, with
    // a reason naming the intermediate's cluster; nothing is delivered.
    let mut cfg = ClientConfig::new(url.clone(), two.clone());
    cfg.tls = tls(&right.ca, forged_cert, forged_key);
    let (tx, _rx) = tokio::sync::watch::channel(ClientState::default());
    let mut table = ClientTable::default();
    let err = tokio::time::timeout(LIMIT, client::watch_once(&cfg, &mut table, &tx))
        .await
        .expect("an answer")
        .expect_err("a certificate minted by another member's intermediate is refused");
    match &err {
        ClientError::Refused(status) => {
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
            assert!(
                status.message().contains(&format!("cluster {one:?}")),
                "{status:?}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(table.table.is_none(), "no names were delivered");

    // The first member's intermediate does vouch for the first member's proxy.
    let own = issue_leaf(
        &LeafSigner::from_cacerts(&ca_one, "one", now).unwrap(),
        &LeafRole::DnsProxyClient {
            cluster: one.clone(),
            trust_domain: TRUST_DOMAIN.into(),
        },
        &LeafOptions::default(),
        now,
    )
    .unwrap();
    let mut cfg = ClientConfig::new(url, one.clone());
    cfg.tls = tls(&own.ca, own.cert_chain, own.key);
    let (tx, mut rx) = tokio::sync::watch::channel(ClientState::default());
    let mut table = ClientTable::default();
    let task = tokio::spawn(async move { client::watch_once(&cfg, &mut table, &tx).await });
    eventually("the first member's proxy gets its table", LIMIT, || {
        let state = rx.borrow_and_update().clone();
        async move {
            state
                .table
                .is_some()
                .then_some(())
                .ok_or_else(|| "no table yet".to_owned())
        }
    })
    .await;
    task.abort();
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
