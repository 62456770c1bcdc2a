//! CustomResourceDefinitions: ours generated from the Rust types, the MCS and About API ones
//! embedded from `deploy/crds/` (structure copies of the upstream CRDs).

use serde_json::Value;

use super::InstallError;

/// An upstream CRD embedded from `deploy/crds/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedCrd {
    /// File name under `deploy/crds/`.
    pub file: &'static str,
    /// The file's text.
    pub yaml: &'static str,
}

/// The MCS ServiceExport and ServiceImport CRDs and the About API ClusterProperty CRD, as
/// committed in `deploy/crds/`.
pub const MEMBER_CRDS: [EmbeddedCrd; 3] = [
    EmbeddedCrd {
        file: "multicluster.x-k8s.io_serviceexports.yaml",
        yaml: include_str!("../../../deploy/crds/multicluster.x-k8s.io_serviceexports.yaml"),
    },
    EmbeddedCrd {
        file: "multicluster.x-k8s.io_serviceimports.yaml",
        yaml: include_str!("../../../deploy/crds/multicluster.x-k8s.io_serviceimports.yaml"),
    },
    EmbeddedCrd {
        file: "about.k8s.io_clusterproperties.yaml",
        yaml: include_str!("../../../deploy/crds/about.k8s.io_clusterproperties.yaml"),
    },
];

/// File name of the generated MemberCluster CRD under `deploy/crds/`.
pub const MEMBER_CLUSTER_CRD_FILE: &str = "isthmus.io_memberclusters.yaml";

/// Parses one embedded CRD file.
pub fn parse_embedded(crd: &EmbeddedCrd) -> Result<Value, InstallError> {
    serde_saphyr::from_str::<Value>(crd.yaml).map_err(|e| InstallError::Generate {
        what: format!("deploy/crds/{}", crd.file),
        reason: e.to_string(),
    })
}

/// The CRDs a member needs, parsed.
pub fn member_crds() -> Result<Vec<Value>, InstallError> {
    MEMBER_CRDS.iter().map(parse_embedded).collect()
}

/// The CRDs the hub needs.
pub fn hub_crds() -> Result<Vec<Value>, InstallError> {
    Ok(vec![])
}

/// The generated CRDs as (path relative to `deploy/`, YAML).
pub fn generated_crds() -> Result<Vec<(String, String)>, InstallError> {
    Ok(vec![])
}
