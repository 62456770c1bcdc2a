//! The RBAC that `install` grants, checked against what the real controller does: the
//! `mesh-controller` binary runs against two simulated members (and a simulated hub holding its
//! Lease) until an export becomes an import, then every API request the simulators recorded
//! must be allowed by the member (or hub) grants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use isthmus_install::rbac;
use isthmus_testing::requests::denied;
use kube_sim::{SimCluster, SimOptions, mcs_crds};
use serde_json::json;

const NS: &str = "isthmus-system";

async fn sim(name: &str, crds: bool) -> SimCluster {
    SimCluster::start(SimOptions {
        name: name.into(),
        crds: if crds { mcs_crds() } else { Vec::new() },
        ..SimOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_the_controller_is_allowed_by_the_installed_rbac() {
    let a = sim("east", true).await;
    let b = sim("west", true).await;
    let hub = sim("hub", false).await;
    b.apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}))
        .unwrap();
    hub.apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        .unwrap();
    isthmus_testing::mcs::seed_demo_export(&a);

    let dir = tempfile::tempdir().unwrap();
    for (c, f) in [(&a, "east.yaml"), (&b, "west.yaml"), (&hub, "hub.yaml")] {
        c.write_kubeconfig(&dir.path().join(f)).unwrap();
    }
    let cs = dir.path().join("clusterset.yaml");
    std::fs::write(
        &cs,
        "name: rbac\nmeshID: rbac\nmembers:\n- name: east\n  network: n1\n  kubeconfig: east.yaml\n- name: west\n  network: n2\n  kubeconfig: west.yaml\n",
    )
    .unwrap();
    let lease = dir.path().join("hub.yaml");
    let done = || {
        !b.list_json(
            "multicluster.x-k8s.io/v1beta1",
            "ServiceImport",
            Some("demo"),
        )
        .is_empty()
            && !b
                .list_json("discovery.k8s.io/v1", "EndpointSlice", Some("demo"))
                .is_empty()
    };
    controller::run_binary_until(&cs, &lease, NS, done)
        .await
        .unwrap();

    let member = rbac::grants_for(&rbac::member_requests(), NS);
    let hub_grants = rbac::grants_for(&rbac::hub_requests(), NS);
    let mut problems = Vec::new();
    for (name, c, g) in [
        ("east", &a, &member),
        ("west", &b, &member),
        ("hub", &hub, &hub_grants),
    ] {
        problems.extend(denied(c, name, g));
    }
    assert!(
        problems.is_empty(),
        "requests the installed RBAC would deny:\n{}",
        problems.join("\n")
    );
    // The logs hold the requests that matter (so the check above is not vacuous).
    let log_b = b.request_log();
    assert!(
        log_b
            .iter()
            .any(|r| r.resource == "serviceimports" && r.verb == "patch"),
        "no import apply in west"
    );
    let log_a = a.request_log();
    assert!(
        log_a
            .iter()
            .any(|r| r.resource == "serviceexports" && r.verb == "watch"),
        "no export watch in east"
    );
    assert!(
        log_a.iter().any(|r| r.resource == "serviceexports"
            && r.subresource == "status"
            && r.verb == "patch"),
        "no export status write in east"
    );
    // The hub was used for the Lease.
    assert!(
        hub.request_log().iter().any(|r| r.resource == "leases"),
        "no Lease requests in the hub"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_the_dns_proxy_is_allowed_by_its_rbac() {
    use clap::Parser;
    let member = sim("east", true).await;
    isthmus_testing::mcs::seed_demo_export(&member);
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("east.yaml");
    member.write_kubeconfig(&kc).unwrap();
    // The workload's own flags, with the listeners moved to loopback ephemeral ports.
    let mut args = vec!["dns-proxy".to_owned()];
    args.extend(isthmus_install::manifests::dns_proxy_args(
        &isthmus_install::InstallOptions::defaults(
            isthmus_install::Role::Member,
            Some("east"),
            Some("net-east"),
        ),
    ));
    for a in args.iter_mut() {
        if a.starts_with("0.0.0.0:") {
            *a = "127.0.0.1:0".into();
        }
    }
    args.extend([
        "--kubeconfig".into(),
        kc.to_str().unwrap().into(),
        "--no-forward".into(),
    ]);
    let parsed = dns_proxy::config::Args::try_parse_from(&args).unwrap();
    let task = tokio::spawn(dns_proxy::config::run(parsed));
    // Bounded wait until both watches are open.
    let start = std::time::Instant::now();
    let watching = |res: &str| {
        member
            .request_log()
            .iter()
            .any(|r| r.resource == res && r.verb == "watch")
    };
    while start.elapsed() < std::time::Duration::from_secs(30)
        && !(watching("serviceimports") && watching("endpointslices"))
    {
        assert!(!task.is_finished(), "dns-proxy stopped early");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    task.abort();
    assert!(
        watching("serviceimports") && watching("endpointslices"),
        "dns-proxy did not start its watches"
    );
    let grants = rbac::grants_for(&rbac::dns_proxy_requests(), NS);
    let problems = denied(&member, "dns-proxy", &grants);
    assert!(
        problems.is_empty(),
        "requests the dns-proxy RBAC would deny:\n{}",
        problems.join("\n")
    );
}
