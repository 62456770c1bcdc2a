//! `isthmus install`, run as a binary: parameters, exit codes, output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use serde_json::Value;

fn install(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .arg("install")
        .args(args)
        .output()
        .unwrap()
}

fn docs(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple(&String::from_utf8(out.stdout.clone()).unwrap()).unwrap()
}

#[test]
fn member_without_cluster_or_network_exits_2_with_a_clear_error() {
    for (args, needle) in [
        (
            vec!["--role", "member"],
            "--cluster: required with --role member",
        ),
        (
            vec!["--role", "member", "--cluster", "east"],
            "--network: required with --role member",
        ),
        (
            vec!["--role", "member", "--cluster", "East_1", "--network", "n1"],
            "--cluster: \"East_1\" is not an RFC 1123 label",
        ),
        (
            vec![
                "--role",
                "member",
                "--cluster",
                "east",
                "--network",
                "bad net",
            ],
            "--network: \"bad net\"",
        ),
        (
            vec!["--role", "hub", "--cluster", "east"],
            "--cluster: only used with --role member",
        ),
        (
            vec!["--role", "hub", "--namespace", "Bad"],
            "--namespace: \"Bad\"",
        ),
        (vec!["--role", "hub", "--image", ""], "--image:"),
        (vec!["--role", "spoke"], "invalid value 'spoke'"),
        (
            vec![
                "--role",
                "member",
                "--cluster",
                "e",
                "--network",
                "n",
                "--dns-mode",
                "sidecar",
            ],
            "invalid value 'sidecar'",
        ),
    ] {
        let out = install(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: printed manifests on error"
        );
    }
}

#[test]
fn hub_prints_the_memberclusters_crd_and_the_controller() {
    let d = docs(&install(&["--role", "hub"]));
    let kinds: Vec<&str> = d.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"Deployment"), "{kinds:?}");
    assert!(kinds.contains(&"PodDisruptionBudget"), "{kinds:?}");
    // CRDs come first, then the namespace before anything namespaced.
    let first_ns = kinds.iter().position(|k| *k == "Namespace").unwrap();
    assert!(
        kinds[..first_ns]
            .iter()
            .all(|k| *k == "CustomResourceDefinition"),
        "{kinds:?}"
    );
    let image = d.iter().find(|o| o["kind"] == "Deployment").unwrap()["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(
        image,
        format!("isthmus/mesh-controller:{}", env!("CARGO_PKG_VERSION")).as_str()
    );
}

#[test]
fn member_parameters_reach_the_manifests() {
    let d = docs(&install(&[
        "--role",
        "member",
        "--cluster",
        "east",
        "--network",
        "network-1",
        "--namespace",
        "mesh-ops",
        "--dns-proxy-image",
        "example/dns-proxy:dev",
        "--dns-mode",
        "daemonset",
    ]));
    let crds: Vec<&str> = d
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        crds,
        vec![
            "serviceexports.multicluster.x-k8s.io",
            "serviceimports.multicluster.x-k8s.io",
            "clusterproperties.about.k8s.io"
        ]
    );
    let ds = d.iter().find(|o| o["kind"] == "DaemonSet").unwrap();
    assert_eq!(ds["metadata"]["namespace"], "mesh-ops");
    let pod = &ds["spec"]["template"];
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "example/dns-proxy:dev"
    );
    assert_eq!(pod["metadata"]["labels"]["isthmus.io/cluster"], "east");
    assert_eq!(
        pod["metadata"]["labels"]["topology.istio.io/network"],
        "network-1"
    );
    assert!(!d.iter().any(|o| o["kind"] == "Deployment"));
    let sa = d
        .iter()
        .find(|o| o["kind"] == "ServiceAccount" && o["metadata"]["name"] == "isthmus-member")
        .unwrap();
    assert_eq!(sa["metadata"]["namespace"], "mesh-ops");
}

#[test]
fn skip_crds_leaves_them_out_and_output_is_stable() {
    let a = install(&[
        "--role",
        "member",
        "--cluster",
        "east",
        "--network",
        "n1",
        "--skip-crds",
    ]);
    let b = install(&[
        "--role",
        "member",
        "--cluster",
        "east",
        "--network",
        "n1",
        "--skip-crds",
    ]);
    assert_eq!(a.stdout, b.stdout);
    assert!(
        !docs(&a)
            .iter()
            .any(|o| o["kind"] == "CustomResourceDefinition")
    );
}

#[test]
fn committed_defaults_equal_the_install_output() {
    // deploy/hub/*.yaml is `install --role hub --skip-crds` split into files.
    let out = docs(&install(&["--role", "hub", "--skip-crds"]));
    let dir = isthmus_testing::paths::repo_root().join("deploy/hub");
    let mut committed = Vec::new();
    for f in ["namespace.yaml", "rbac.yaml", "controller.yaml"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        committed.extend(serde_saphyr::from_multiple::<Value>(&text).unwrap());
    }
    assert_eq!(out, committed);
}
