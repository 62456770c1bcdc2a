//! The CustomResourceDefinitions bundled with the simulator (`tests/sim/crds`).

use serde_json::Value;

/// The MCS ServiceExport and ServiceImport CRDs (v1alpha1 and v1beta1 served, v1beta1 storage)
/// and the About-API ClusterProperty CRD.
pub fn mcs_crds() -> Vec<Value> {
    [
        (
            "multicluster.x-k8s.io_serviceexports.yaml",
            include_str!("../crds/multicluster.x-k8s.io_serviceexports.yaml"),
        ),
        (
            "multicluster.x-k8s.io_serviceimports.yaml",
            include_str!("../crds/multicluster.x-k8s.io_serviceimports.yaml"),
        ),
        (
            "about.k8s.io_clusterproperties.yaml",
            include_str!("../crds/about.k8s.io_clusterproperties.yaml"),
        ),
    ]
    .iter()
    .filter_map(|(file, text)| match serde_saphyr::from_str::<Value>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(file, error = %e, "bundled CRD does not parse");
            None
        }
    })
    .collect()
}
