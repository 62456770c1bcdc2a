//! `crdgen` prints the committed CRDs generated from the Rust types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use isthmus_install::crds;

#[test]
fn crdgen_prints_the_committed_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crdgen"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/crds")
            .join(crds::MEMBER_CLUSTER_CRD_FILE),
    )
    .unwrap_or_default();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "deploy/crds/{} is stale: cargo run -p isthmus-install --bin crdgen > deploy/crds/{}",
        crds::MEMBER_CLUSTER_CRD_FILE,
        crds::MEMBER_CLUSTER_CRD_FILE
    );
}

#[test]
fn crdgen_prints_each_committed_policy_crd() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crdgen"))
            .args(args)
            .output()
            .unwrap()
    };
    let list = run(&["--list"]);
    assert!(list.status.success());
    let names = String::from_utf8(list.stdout).unwrap();
    let policy_files: Vec<&str> = names
        .lines()
        .filter(|n| n.starts_with("placement.isthmus.io_"))
        .collect();
    assert_eq!(policy_files.len(), 4, "{names}");
    for file in policy_files {
        let out = run(&[file]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/crds")
                .join(file),
        )
        .unwrap_or_default();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            committed,
            "deploy/crds/{file} is stale: cargo run -p isthmus-install --bin crdgen -- {file} > deploy/crds/{file}"
        );
    }
    let bad = run(&["nope.yaml"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a generated CRD file"));
}
