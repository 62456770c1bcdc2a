//! CustomResourceDefinitions: ours generated from the Rust types, the MCS and About API ones
//! embedded from `deploy/crds/` (structure copies of the upstream CRDs).

use kube::CustomResourceExt;
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
        yaml: include_str!("../../deploy/crds/multicluster.x-k8s.io_serviceexports.yaml"),
    },
    EmbeddedCrd {
        file: "multicluster.x-k8s.io_serviceimports.yaml",
        yaml: include_str!("../../deploy/crds/multicluster.x-k8s.io_serviceimports.yaml"),
    },
    EmbeddedCrd {
        file: "about.k8s.io_clusterproperties.yaml",
        yaml: include_str!("../../deploy/crds/about.k8s.io_clusterproperties.yaml"),
    },
];

/// File name of the generated MemberCluster CRD under `deploy/crds/`.
pub const MEMBER_CLUSTER_CRD_FILE: &str = "isthmus.io_memberclusters.yaml";

/// The MemberCluster CRD (`isthmus.io/v1alpha1`), generated from [`isthmus_api::crd::MemberCluster`].
pub fn member_cluster_crd() -> Result<Value, InstallError> {
    serde_json::to_value(isthmus_api::crd::MemberCluster::crd()).map_err(|e| {
        InstallError::Generate {
            what: "the MemberCluster CRD".into(),
            reason: e.to_string(),
        }
    })
}

/// The generated CRD as the YAML committed in `deploy/crds/` (what `crdgen` prints).
pub fn member_cluster_crd_yaml() -> Result<String, InstallError> {
    super::to_yaml_docs(&[member_cluster_crd()?])
}

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

/// The placement policy CRDs (`placement.isthmus.io/v1alpha1`): PropagationPolicy,
/// ClusterPropagationPolicy, OverridePolicy and ClusterOverridePolicy, generated from
/// [`isthmus_api::crd`], as (file name under `deploy/crds/`, CRD).
pub fn placement_crds() -> Result<Vec<(String, Value)>, InstallError> {
    use isthmus_api::crd::{
        ClusterOverridePolicy, ClusterPropagationPolicy, OverridePolicy, PropagationPolicy,
    };
    let crds = [
        ("PropagationPolicy", PropagationPolicy::crd()),
        ("ClusterPropagationPolicy", ClusterPropagationPolicy::crd()),
        ("OverridePolicy", OverridePolicy::crd()),
        ("ClusterOverridePolicy", ClusterOverridePolicy::crd()),
    ];
    crds.into_iter()
        .map(|(kind, crd)| {
            let file = format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural);
            serde_json::to_value(crd)
                .map(|v| (file, v))
                .map_err(|e| InstallError::Generate {
                    what: format!("the {kind} CRD"),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// The CRDs the hub needs.
pub fn hub_crds() -> Result<Vec<Value>, InstallError> {
    let mut out = vec![member_cluster_crd()?];
    out.extend(placement_crds()?.into_iter().map(|(_, v)| v));
    Ok(out)
}

/// The generated CRDs as (path relative to `deploy/`, YAML).
pub fn generated_crds() -> Result<Vec<(String, String)>, InstallError> {
    let mut out = vec![(
        format!("crds/{MEMBER_CLUSTER_CRD_FILE}"),
        member_cluster_crd_yaml()?,
    )];
    for (file, crd) in placement_crds()? {
        out.push((format!("crds/{file}"), super::to_yaml_docs(&[crd])?));
    }
    Ok(out)
}
