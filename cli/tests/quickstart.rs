//! The kind quickstart cannot run here (no Docker), so its inputs and commands are checked
//! piece by piece: the clusterset file loads, the sample manifests parse into their types, the
//! script is valid bash (a test that needs bash), and every `isthmus` command in it parses with
//! the real command line (and every install validates).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use clap::Parser;
use isthmus_testing::paths::repo_root;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `v` as a `T`, failing on any field the type does not know.
fn typed<T: DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"))
}

fn quickstart() -> PathBuf {
    repo_root().join("deploy/quickstart")
}

fn script() -> String {
    std::fs::read_to_string(quickstart().join("kind.sh")).unwrap()
}

#[test]
fn clusterset_has_three_members_on_two_networks() {
    let cs = gateway_config::clusterset::ClusterSet::load(&quickstart().join("clusterset.yaml"))
        .unwrap();
    let names: Vec<&str> = cs.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["east", "central", "west"]);
    let mut nets: Vec<&str> = cs.members.iter().map(|m| m.network.as_str()).collect();
    nets.sort();
    nets.dedup();
    assert_eq!(nets, vec!["net-east", "net-west"]);
    // The script installs each member with the network the clusterset gives it.
    let s = script();
    for m in &cs.members {
        assert!(
            s.contains(&format!("[{}]={}", m.name, m.network)),
            "kind.sh: network of {}",
            m.name
        );
        // Kubeconfigs sit next to the file, named after the member (the script writes them there).
        let kc = m.kubeconfig.as_ref().unwrap();
        assert_eq!(
            kc.file_name().unwrap().to_string_lossy(),
            format!("{}.kubeconfig", m.name)
        );
    }
}

#[test]
fn sample_manifests_parse_into_their_types() {
    for file in ["sample.yaml", "sample-server.yaml", "sample-client.yaml"] {
        let text = std::fs::read_to_string(quickstart().join(file)).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert!(!docs.is_empty(), "{file}");
        for d in &docs {
            match (
                d["apiVersion"].as_str().unwrap(),
                d["kind"].as_str().unwrap(),
            ) {
                ("v1", "Namespace") => drop(typed::<Namespace>(d)),
                ("v1", "Service") => drop(typed::<Service>(d)),
                ("apps/v1", "Deployment") => drop(typed::<Deployment>(d)),
                ("multicluster.x-k8s.io/v1beta1", "ServiceExport") => {
                    drop(typed::<isthmus_api::mcs::v1beta1::ServiceExport>(d));
                }
                (av, k) => panic!("{file}: unexpected {av} {k}"),
            }
        }
    }
    // The exported Service and its export share a name and namespace.
    let text = std::fs::read_to_string(quickstart().join("sample.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let svc = docs.iter().find(|d| d["kind"] == "Service").unwrap();
    let exp = docs.iter().find(|d| d["kind"] == "ServiceExport").unwrap();
    assert_eq!(exp["metadata"]["name"], svc["metadata"]["name"]);
    assert_eq!(exp["metadata"]["namespace"], svc["metadata"]["namespace"]);
}

#[test]
#[ignore = "needs bash"]
fn script_is_valid_bash() {
    let bash = isthmus_testing::require("bash");
    let out = std::process::Command::new(&bash)
        .arg("-n")
        .arg(quickstart().join("kind.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for s in ["mint-member-kubeconfig.sh", "coredns-delegate.sh"] {
        let p = repo_root().join("deploy/scripts").join(s);
        let out = std::process::Command::new(&bash)
            .arg("-n")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{s}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Command lines of the script starting with `program`, with shell variables replaced by
/// sample values and everything from the first `|` or `>` on dropped.
fn commands(program: &str) -> Vec<Vec<String>> {
    let vars = [
        ("\"${NETWORK[$c]}\"", "net-east"),
        ("\"$WORK/ca/root\"", "/tmp/qs/ca/root"),
        (
            "\"$WORK/admin/clusterset.yaml\"",
            "/tmp/qs/admin/clusterset.yaml",
        ),
        ("\"$WORK/istio\"", "/tmp/qs/istio"),
        ("\"$QS/clusterset.yaml\"", "/tmp/qs/clusterset.yaml"),
        ("\"$ISTIO_VERSION\"", "1.30"),
        ("\"$c\"", "east"),
    ];
    script()
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&format!("{program} ")) || l.contains(&format!("|| {program} ")))
        .map(|l| {
            let l = l.rsplit("|| ").next().unwrap();
            let mut l = l.split(['|', '>']).next().unwrap().to_owned();
            for (k, v) in vars {
                l = l.replace(k, v);
            }
            assert!(!l.contains('$'), "unreplaced variable in: {l}");
            l.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

#[test]
fn istio_is_installed_in_the_order_that_works() {
    // CRDs and cacerts before istiod, then the gateway, then Isthmus; remote secrets come from
    // the controller, never from the admin kubeconfigs.
    let s = script();
    let at = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("kind.sh lacks {needle:?}"))
    };
    let crds = at("--crds-only");
    let cacerts = at("isthmus ca issue");
    let istiod = at("istiod.istio-operator.yaml");
    let gateway = at("eastwest-gateway.istio-operator.yaml");
    let member = at("--istio-version");
    assert!(
        crds < istiod && cacerts < istiod,
        "CRDs and cacerts before istiod"
    );
    assert!(
        istiod < gateway && gateway < member,
        "istiod, gateway, then Isthmus"
    );
    assert!(s.contains("--no-remote-secrets"));
    assert!(!s.contains("remote-secrets.yaml"));
    // The last step reaches the service by its clusterset name.
    let last_curl = s.rfind("curl ").unwrap();
    assert!(s[last_curl..].contains("helloworld.sample.svc.clusterset.local"));
}

#[test]
fn isthmus_commands_parse_and_installs_validate() {
    let cmds = commands("isthmus");
    // gateway render, ca init, ca issue, three installs (CRDs first, member, hub), and ca leaf
    // for the discovery server
    assert_eq!(cmds.len(), 7, "{cmds:?}");
    for c in cmds {
        let cli = isthmus::app::Cli::try_parse_from(&c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        if let isthmus::app::Command::Install(args) = cli.command {
            isthmus_install::InstallOptions::try_from(args)
                .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        }
    }
}
