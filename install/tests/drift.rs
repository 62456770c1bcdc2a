//! `deploy/` holds the generated manifests for the default parameters; this test fails when
//! they differ from what the code generates. `UPDATE_DEPLOY=1` rewrites them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use isthmus_install::deploy_tree;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("deploy")
}

#[test]
fn committed_deploy_files_match_the_generator() {
    let tree = deploy_tree().unwrap();
    let dir = deploy_dir();
    let update = std::env::var_os("UPDATE_DEPLOY").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (rel, text) in &tree {
        let path = dir.join(rel);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != *text {
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, text).unwrap();
            } else {
                stale.push(rel.clone());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/ is out of date: {stale:?}; run `UPDATE_DEPLOY=1 cargo nextest run -p isthmus-install --test drift`"
    );
}

#[test]
fn generated_directories_hold_no_stray_files() {
    // deploy/hub and deploy/member hold only generated files, so nothing hand-edited hides there.
    let tree = deploy_tree().unwrap();
    let expected: BTreeSet<String> = tree.iter().map(|(p, _)| p.clone()).collect();
    for sub in ["hub", "member"] {
        let Ok(entries) = std::fs::read_dir(deploy_dir().join(sub)) else {
            continue;
        };
        for e in entries {
            let name = format!("{sub}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                expected.contains(&name),
                "deploy/{name} is not generated; remove it or add it to deploy_tree()"
            );
        }
    }
}

#[test]
fn every_generated_manifest_file_is_valid_multi_document_yaml() {
    for (rel, text) in deploy_tree().unwrap() {
        if rel.ends_with(".yaml") {
            let docs: Vec<serde_json::Value> =
                serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(!docs.is_empty(), "{rel}");
            for d in docs {
                assert!(
                    d["apiVersion"].is_string() && d["kind"].is_string(),
                    "{rel}: {d}"
                );
            }
        }
    }
}

#[test]
fn coredns_snippet_delegates_clusterset_local() {
    let tree = deploy_tree().unwrap();
    let (_, text) = tree
        .iter()
        .find(|(p, _)| p == "member/coredns-stub-domain.conf")
        .unwrap();
    let body: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::trim)
        .collect();
    assert_eq!(
        body,
        vec![
            "clusterset.local:53 {",
            "errors",
            "cache 5",
            "forward . DNS_PROXY_CLUSTER_IP",
            "}"
        ]
    );
    assert_eq!(
        isthmus_install::manifests::coredns_stub_domain("10.96.0.53"),
        "clusterset.local:53 {\n    errors\n    cache 5\n    forward . 10.96.0.53\n}\n"
    );
}
