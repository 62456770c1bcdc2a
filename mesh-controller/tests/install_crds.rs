//! The CRDs `install` prints: the MCS and About API copies equal the upstream structure copies
//! and serve both versions; ours is a valid apiextensions v1 CRD generated from the Rust types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_install::crds::{self, MEMBER_CRDS};
use isthmus_testing::manifests::typed;
use isthmus_testing::paths::repo_root;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn crd(v: &Value) -> CustomResourceDefinition {
    typed(v)
}

/// SHA-256 of the upstream structure copies (prose descriptions removed) at the commits the
/// source table of `deploy/crds/README.md` names.
const UPSTREAM_SHA256: [(&str, &str); 3] = [
    (
        "multicluster.x-k8s.io_serviceexports.yaml",
        "b42fc26227b16dbcfcd0e166307e843898d7ef26e09ab0a39f6d328ae18f7e08",
    ),
    (
        "multicluster.x-k8s.io_serviceimports.yaml",
        "602e6102f01c1abbbf4a0972d1960ac74d554716fe65c8bf2d9f3f4f0f829562",
    ),
    (
        "about.k8s.io_clusterproperties.yaml",
        "ed81e085126b01dbf21ba0db0bbd8ca16ba9cbaaa25025f5f6d6e34a95cc4086",
    ),
];

#[test]
fn mcs_copies_equal_the_upstream_structure_copies() {
    assert_eq!(MEMBER_CRDS.len(), UPSTREAM_SHA256.len());
    for c in MEMBER_CRDS {
        let committed =
            std::fs::read_to_string(repo_root().join("deploy/crds").join(c.file)).unwrap();
        assert_eq!(c.yaml, committed, "install embeds deploy/crds/{}", c.file);
        let digest: String = Sha256::digest(committed.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let (_, upstream) = UPSTREAM_SHA256
            .iter()
            .find(|(file, _)| *file == c.file)
            .unwrap_or_else(|| panic!("no upstream digest for {}", c.file));
        assert_eq!(
            digest, *upstream,
            "deploy/crds/{} differs from the upstream structure copy",
            c.file
        );
    }
}

#[test]
fn mcs_crds_serve_v1alpha1_and_v1beta1_with_identical_schemas() {
    for (file, v) in MEMBER_CRDS
        .iter()
        .map(|c| c.file)
        .zip(crds::member_crds().unwrap())
    {
        let c = crd(&v);
        let versions = &c.spec.versions;
        let names: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["v1alpha1", "v1beta1"], "{file}");
        assert!(versions.iter().all(|v| v.served), "{file}");
        let storage: Vec<&str> = versions
            .iter()
            .filter(|v| v.storage)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(storage, vec!["v1beta1"], "{file}");
        assert_eq!(
            serde_json::to_value(&versions[0].schema).unwrap(),
            serde_json::to_value(&versions[1].schema).unwrap(),
            "{file}"
        );
        assert!(
            versions.iter().all(|v| v
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()),
            "{file}"
        );
        assert_eq!(
            c.metadata.name.as_deref(),
            Some(format!("{}.{}", c.spec.names.plural, c.spec.group).as_str())
        );
    }
}

#[test]
fn crd_readme_carries_the_source_table() {
    let readme = std::fs::read_to_string(repo_root().join("deploy/crds/README.md")).unwrap();
    for c in MEMBER_CRDS {
        assert!(
            readme.contains(&format!("| {} |", c.file)),
            "README lacks the source of {}",
            c.file
        );
    }
    assert!(readme.contains("ded161af6ea9596cd9e878c61ed4f4e8d5cf8401"));
    assert!(readme.contains("970300d6be14f7d5509f7cfdbc1a306f095bb666"));
}

#[test]
fn member_cluster_crd_is_a_valid_apiextensions_v1_crd() {
    let v = crds::member_cluster_crd().unwrap();
    let c = crd(&v);
    assert_eq!(
        c.metadata.name.as_deref(),
        Some("memberclusters.isthmus.io")
    );
    assert_eq!(c.spec.group, "isthmus.io");
    assert_eq!(c.spec.names.kind, "MemberCluster");
    assert_eq!(c.spec.names.plural, "memberclusters");
    assert_eq!(c.spec.scope, "Cluster");
    assert_eq!(c.spec.versions.len(), 1);
    let ver = &c.spec.versions[0];
    assert_eq!(ver.name, "v1alpha1");
    assert!(ver.served && ver.storage);
    assert!(
        ver.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let schema = ver
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap();
    let spec = schema.properties.as_ref().unwrap().get("spec").unwrap();
    assert_eq!(spec.type_.as_deref(), Some("object"));
    assert!(
        spec.required.iter().flatten().any(|r| r == "network"),
        "{spec:?}"
    );
    // The applier's plural table agrees with the CRD.
    let ar = mesh_controller::resource::api_resource("isthmus.io/v1alpha1", "MemberCluster");
    assert_eq!(ar.plural, c.spec.names.plural);
}
