//! The discovery channel as `install` sets it up: the hub controller serves the gRPC API with
//! the server certificate of `isthmus-discovery-tls`, a member's DNS proxy streams from it with
//! the client certificate of `isthmus-dns-proxy-tls`. Certificates are issued the way
//! `isthmus ca leaf` issues them, written where the Secrets are mounted (moved to a
//! temporary directory), and both ends' own flag parsers load them from the manifests' args.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::path::Path;

use clap::Parser;
use gateway_config::ca::{LeafOptions, LeafRole, LeafSigner, RootCa, RootOptions, issue_leaf};
use isthmus_install::manifests::{
    CONTROLLER_NAME, DISCOVERY_PORT, DISCOVERY_SERVICE, DISCOVERY_TLS_DIR, DISCOVERY_TLS_SECRET,
    DNS_PROXY_NAME, DNS_PROXY_TLS_DIR, DNS_PROXY_TLS_SECRET, controller_args, dns_proxy_args,
};
use isthmus_install::{InstallOptions, Role, default_discovery_url, render_objects};
use isthmus_testing::manifests::typed;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PodSpec, Service};
use serde_json::Value;

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn pod_spec(objs: &[Value], name: &str) -> PodSpec {
    let d: Deployment = typed(find(objs, "Deployment", name).unwrap());
    d.spec.unwrap().template.spec.unwrap()
}

/// Writes `role`'s leaf (tls.crt, tls.key, ca.crt) under `dir`, signed by `root`.
fn write_leaf(root: &RootCa, role: &LeafRole, dir: &Path) {
    let signer = LeafSigner::from_root(root).unwrap();
    let leaf = issue_leaf(&signer, role, &LeafOptions::default(), now()).unwrap();
    for (file, content) in leaf.files() {
        std::fs::write(dir.join(file), content).unwrap();
    }
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// `args` with the Secret mount `from` moved to `to` and wildcard listeners on loopback.
fn relocate(args: &[String], from: &str, to: &Path) -> Vec<String> {
    args.iter()
        .map(|a| {
            if let Some(rest) = a.strip_prefix(from) {
                format!("{}{rest}", to.display())
            } else if a.starts_with("0.0.0.0:") {
                "127.0.0.1:0".into()
            } else {
                a.clone()
            }
        })
        .collect()
}

#[test]
fn secret_names_and_port_match_gateway_config_and_the_controller() {
    let server = LeafRole::Server {
        names: vec!["x".into()],
    };
    let client = LeafRole::DnsProxyClient {
        cluster: "east".into(),
        trust_domain: "cluster.local".into(),
    };
    assert_eq!(server.default_secret_name(), DISCOVERY_TLS_SECRET);
    assert_eq!(client.default_secret_name(), DNS_PROXY_TLS_SECRET);
    assert_eq!(
        mesh_controller::discovery::DEFAULT_LISTEN
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .port(),
        DISCOVERY_PORT
    );
    assert_eq!(
        default_discovery_url("isthmus-system"),
        format!("https://{DISCOVERY_SERVICE}.isthmus-system.svc:{DISCOVERY_PORT}")
    );
}

#[test]
fn hub_controller_serves_discovery_with_the_mounted_server_certificate() {
    let opts = InstallOptions::defaults(Role::Hub, None, None);
    let objs = render_objects(&opts).unwrap();
    let spec = pod_spec(&objs, CONTROLLER_NAME);
    // The Secret is mounted read-only where the args point.
    let vol = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| {
            v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(DISCOVERY_TLS_SECRET)
        })
        .unwrap();
    let c = &spec.containers[0];
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == vol.name)
        .unwrap();
    assert_eq!(mount.mount_path, DISCOVERY_TLS_DIR);
    assert_eq!(mount.read_only, Some(true));
    let port = c
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.as_deref() == Some("grpc"))
        .unwrap();
    assert_eq!(port.container_port, i32::from(DISCOVERY_PORT));
    // Secret files are 0440 and group-owned by the pod's fsGroup, the containers' group.
    let psc = spec.security_context.as_ref().unwrap();
    assert_eq!(psc.fs_group, psc.run_as_group);
    // The Service sends port 8443 (named grpc) to that container port.
    let svc: Service = typed(find(&objs, "Service", DISCOVERY_SERVICE).unwrap());
    let sp = &svc.spec.unwrap().ports.unwrap()[0];
    assert_eq!(sp.name.as_deref(), Some("grpc"));
    assert_eq!(sp.port, i32::from(DISCOVERY_PORT));
    assert_eq!(
        sp.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("grpc".into()))
    );

    // The Deployment's args, with a certificate issued as `ca leaf --server-dns` would, parse
    // with `mesh-controller run`'s parser and load as a mutual-TLS discovery config.
    let args = controller_args(&opts);
    assert_eq!(args, c.args.clone().unwrap());
    let root = RootCa::generate(&RootOptions::default(), now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_leaf(
        &root,
        &LeafRole::Server {
            names: vec![format!("{DISCOVERY_SERVICE}.isthmus-system.svc")],
        },
        dir.path(),
    );
    let args = relocate(&args, DISCOVERY_TLS_DIR, dir.path());
    let cli = mesh_controller::cli::Cli::try_parse_from(
        std::iter::once("mesh-controller".to_owned()).chain(args.clone()),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mesh_controller::cli::Command::Run(run) = cli.command;
    let cfg = mesh_controller::cli::discovery_config(&run)
        .unwrap()
        .expect("discovery is served");
    assert!(cfg.tls.is_some(), "served without TLS");
    assert_eq!(cfg.trust_domain, "cluster.local");
}

#[test]
fn hub_without_discovery_serves_nothing_and_needs_no_secret() {
    let mut opts = InstallOptions::defaults(Role::Hub, None, None);
    opts.discovery = false;
    let objs = render_objects(&opts).unwrap();
    assert!(find(&objs, "Service", DISCOVERY_SERVICE).is_none());
    let spec = pod_spec(&objs, CONTROLLER_NAME);
    assert!(
        spec.volumes.unwrap().iter().all(|v| v
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref())
            != Some(DISCOVERY_TLS_SECRET))
    );
    let args = controller_args(&opts);
    let cli = mesh_controller::cli::Cli::try_parse_from(
        std::iter::once("mesh-controller".to_owned()).chain(args.clone()),
    )
    .unwrap();
    let mesh_controller::cli::Command::Run(run) = cli.command;
    assert!(
        mesh_controller::cli::discovery_config(&run)
            .unwrap()
            .is_none()
    );
}

#[test]
fn grpc_member_dns_proxy_streams_with_the_mounted_client_certificate() {
    let url = "https://discovery.hub.example:8443";
    let mut opts =
        InstallOptions::defaults(Role::Member, Some("east"), Some("net-east")).with_dns_grpc(url);
    if let Some(g) = opts.dns_grpc.as_mut() {
        g.server_name = Some(format!("{DISCOVERY_SERVICE}.isthmus-system.svc"));
    }
    let objs = render_objects(&opts).unwrap();
    // No kube-source RBAC and no API token in the pod.
    for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] {
        assert!(
            find(&objs, kind, DNS_PROXY_NAME).is_none(),
            "{kind} {DNS_PROXY_NAME}"
        );
    }
    assert!(find(&objs, "ServiceAccount", DNS_PROXY_NAME).is_some());
    let spec = pod_spec(&objs, DNS_PROXY_NAME);
    assert_eq!(spec.automount_service_account_token, Some(false));
    let vol = spec
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| {
            v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(DNS_PROXY_TLS_SECRET)
        })
        .unwrap();
    let c = &spec.containers[0];
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == vol.name)
        .unwrap();
    assert_eq!(mount.mount_path, DNS_PROXY_TLS_DIR);
    assert_eq!(mount.read_only, Some(true));

    // The workload's args, with a client certificate issued as `ca leaf --dns-proxy-cluster`
    // would, parse with the DNS proxy's parser and load as its gRPC source.
    let args = dns_proxy_args(&opts);
    assert_eq!(args, c.args.clone().unwrap());
    let root = RootCa::generate(&RootOptions::default(), now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_leaf(
        &root,
        &LeafRole::DnsProxyClient {
            cluster: "east".into(),
            trust_domain: "cluster.local".into(),
        },
        dir.path(),
    );
    let args = relocate(&args, DNS_PROXY_TLS_DIR, dir.path());
    let parsed = dns_proxy::config::Args::try_parse_from(
        std::iter::once("dns-proxy".to_owned()).chain(args.clone()),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert_eq!(
        parsed.source,
        dns_proxy::config::SourceSpec::Grpc(url.into())
    );
    assert_eq!(parsed.cluster.as_deref(), Some("east"));
    assert_eq!(
        parsed.grpc_server_name.as_deref(),
        Some("isthmus-discovery.isthmus-system.svc")
    );
    let src = dns_proxy::config::grpc_source(&parsed).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(src.is_some());
}

/// `isthmus install <args>` through the same parser and code the CLI runs.
fn install(args: &[&str]) -> Result<String, (u8, String)> {
    isthmus_install::execute_flags(args)
}

#[test]
fn discovery_flags_reach_the_manifests_and_misuse_exits_2() {
    let member = ["--role", "member", "--cluster", "east", "--network", "n1"];
    for (extra, needle) in [
        (
            vec!["--discovery-url", "https://h:8443"],
            "--discovery-url: only used with --dns-source grpc",
        ),
        (
            vec!["--dns-source", "grpc", "--discovery-url", "http://h:8443"],
            "--discovery-url: \"http://h:8443\": the DNS proxy uses mutual TLS",
        ),
        (
            vec![
                "--dns-source",
                "grpc",
                "--discovery-url",
                "https://h:8443/x",
            ],
            "--discovery-url:",
        ),
        (
            vec!["--discovery=false"],
            "--discovery: only used with --role hub",
        ),
        (
            vec!["--trust-domain", "example.org"],
            "--trust-domain: only used with --role hub",
        ),
    ] {
        let args: Vec<&str> = member
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect();
        let Err((code, err)) = install(&args) else {
            panic!("{args:?} was accepted");
        };
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    for (extra, needle) in [
        (
            vec!["--dns-source", "grpc"],
            "--dns-source: only used with --role member",
        ),
        (vec!["--trust-domain", "Bad/Domain"], "--trust-domain:"),
    ] {
        let args: Vec<&str> = ["--role", "hub"].into_iter().chain(extra).collect();
        let Err((code, err)) = install(&args) else {
            panic!("{args:?} was accepted");
        };
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }

    let text = |out: Result<String, (u8, String)>| out.unwrap_or_else(|(_, e)| panic!("{e}"));
    let hub = text(install(&[
        "--role",
        "hub",
        "--skip-crds",
        "--trust-domain",
        "example.org",
    ]));
    assert!(
        hub.contains("- --trust-domain\n") && hub.contains("- example.org\n"),
        "{hub}"
    );
    let off = text(install(&[
        "--role",
        "hub",
        "--skip-crds",
        "--discovery=false",
    ]));
    assert!(!off.contains(DISCOVERY_TLS_SECRET), "{off}");
    assert!(off.contains("- none\n"), "{off}");
    let mut grpc_args = member.to_vec();
    grpc_args.extend(["--skip-crds", "--dns-source", "grpc"]);
    let grpc = text(install(&grpc_args));
    assert!(
        grpc.contains("- grpc:https://isthmus-discovery.isthmus-system.svc:8443\n"),
        "{grpc}"
    );
    assert!(grpc.contains(DNS_PROXY_TLS_SECRET), "{grpc}");
}

/// The hub Deployment's discovery flags and the grpc member's DNS proxy flags, with
/// certificates issued as `isthmus ca leaf` issues them into the two Secrets, make a
/// working mutual-TLS channel: the controller (started in-process on simulated members with the
/// discovery config its own parser builds from the hub args) streams the member's table, with
/// an export of another member in it, to a client configured from the proxy's parsed args.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_flags_and_leaf_certificates_make_a_working_discovery_channel() {
    use isthmus_testing::mcs::export_service;
    use isthmus_testing::{Env, eventually};
    use std::time::Duration;

    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    let root = RootCa::generate(&RootOptions::default(), now()).unwrap();
    let service_dns = format!("{DISCOVERY_SERVICE}.isthmus-system.svc");

    // Hub side: the Deployment's args, the server certificate where the Secret is mounted.
    let server_dir = tempfile::tempdir().unwrap();
    write_leaf(
        &root,
        &LeafRole::Server {
            names: vec![service_dns.clone()],
        },
        server_dir.path(),
    );
    let hub = InstallOptions::defaults(Role::Hub, None, None);
    let args = relocate(&controller_args(&hub), DISCOVERY_TLS_DIR, server_dir.path());
    let cli = mesh_controller::cli::Cli::try_parse_from(
        std::iter::once("mesh-controller".to_owned()).chain(args.clone()),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mesh_controller::cli::Command::Run(run) = cli.command;
    let discovery = mesh_controller::cli::discovery_config(&run)
        .unwrap()
        .expect("discovery is served");
    let (ctl, _) = controller::start_with(
        &env,
        Duration::from_secs(60),
        Duration::from_secs(5),
        |cfg| cfg.discovery = Some(discovery),
    )
    .await;
    let addr = ctl.discovery_addr.expect("discovery address");

    // Member side: the DNS proxy's args for the second member, dialing the hub by address and
    // checking the certificate for the Service name.
    let cluster = env.names[1].clone();
    let client_dir = tempfile::tempdir().unwrap();
    write_leaf(
        &root,
        &LeafRole::DnsProxyClient {
            cluster: cluster.clone(),
            trust_domain: hub.trust_domain.clone(),
        },
        client_dir.path(),
    );
    let mut member = InstallOptions::defaults(Role::Member, Some(&cluster), Some("n2"))
        .with_dns_grpc(&format!("https://127.0.0.1:{}", addr.port()));
    if let Some(g) = member.dns_grpc.as_mut() {
        g.server_name = Some(service_dns.clone());
    }
    let args = relocate(
        &dns_proxy_args(&member),
        DNS_PROXY_TLS_DIR,
        client_dir.path(),
    );
    let parsed = dns_proxy::config::Args::try_parse_from(
        std::iter::once("dns-proxy".to_owned()).chain(args.clone()),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let src = dns_proxy::config::grpc_source(&parsed)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .expect("a gRPC source");
    let cfg = src.client_config().unwrap();
    let (tx, mut rx) = tokio::sync::watch::channel(mesh_proto::client::ClientState::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let client = tokio::spawn(mesh_proto::client::run(cfg, tx, async {
        let _ = stop_rx.await;
    }));

    let ns = env.ns.clone();
    eventually(
        "the proxy's stream carries the exported service",
        Duration::from_secs(30),
        || {
            let state = rx.borrow_and_update().clone();
            let ns = ns.clone();
            async move {
                let table = state.table.ok_or("no snapshot yet")?;
                if !state.connected {
                    return Err("not connected".to_owned());
                }
                table
                    .iter()
                    .any(|(k, _)| k.namespace == ns && k.name == "web")
                    .then_some(())
                    .ok_or_else(|| {
                        format!("web.{ns} not in the table yet ({} records)", table.len())
                    })
            }
        },
    )
    .await;
    let _ = stop_tx.send(());
    client.await.unwrap().unwrap();
}
