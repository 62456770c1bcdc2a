//! Label and annotation keys used across the clusterset.

/// MCS: the name of the exported service an EndpointSlice belongs to.
pub const MCS_SERVICE_NAME: &str = "multicluster.kubernetes.io/service-name";
/// MCS: the cluster an imported EndpointSlice came from.
pub const MCS_SOURCE_CLUSTER: &str = "multicluster.kubernetes.io/source-cluster";
/// Kubernetes: which controller manages an EndpointSlice.
pub const ENDPOINTSLICE_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// Kubernetes: the Service a locally-managed EndpointSlice belongs to.
pub const ENDPOINTSLICE_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The `managed-by` value Isthmus sets on the EndpointSlices it imports. Never the built-in
/// controller's (`endpointslice-controller.k8s.io`).
pub const ENDPOINTSLICE_MANAGER: &str = "mesh-controller.isthmus.io";
/// The value of the built-in EndpointSlice controller's `managed-by` label.
pub const ENDPOINTSLICE_BUILTIN_MANAGER: &str = "endpointslice-controller.k8s.io";

/// Ownership label on every object Isthmus writes; pruning only ever touches objects carrying it.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`] on objects Isthmus owns.
pub const MANAGED_BY_VALUE: &str = "isthmus";
/// The field manager name for every server-side apply Isthmus makes.
pub const FIELD_MANAGER: &str = "isthmus-mesh-controller";

/// Istio: the network a namespace (istio-system) or workload belongs to.
pub const ISTIO_NETWORK: &str = "topology.istio.io/network";
/// Istio: marks a Secret holding a remote cluster's kubeconfig.
pub const ISTIO_MULTICLUSTER: &str = "istio/multiCluster";
/// Istio: the cluster a remote secret describes.
pub const ISTIO_CLUSTER_ANNOTATION: &str = "networking.istio.io/cluster";

/// About API: the well-known ClusterProperty holding this cluster's ID.
pub const CLUSTER_ID_PROPERTY: &str = "cluster.clusterset.k8s.io";
/// About API: the well-known ClusterProperty holding the clusterset this cluster belongs to.
pub const CLUSTERSET_PROPERTY: &str = "clusterset.k8s.io";
