//! The About API (`about.k8s.io`): `ClusterProperty`.

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// A property of the cluster it lives in, such as its ID within the clusterset.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "about.k8s.io",
    version = "v1alpha1",
    kind = "ClusterProperty",
    schema = "disabled"
)]
pub struct ClusterPropertySpec {
    pub value: String,
}
