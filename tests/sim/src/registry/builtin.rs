//! The built-in resources every simulated cluster serves, with the keyed and set list fields of
//! their kinds.

use std::collections::BTreeMap;

use super::resource::{ListType, ResourceInfo};

/// One row of the built-in resource table.
struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    all: bool,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        status: true,
        all: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "services",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
        status: true,
        all: true,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        short: &["ep"],
        status: false,
        all: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        status: false,
        all: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
        status: false,
        all: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        all: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "pods",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
        status: true,
        all: true,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "nodes",
        kind: "Node",
        namespaced: false,
        short: &["no"],
        status: true,
        all: false,
    },
    Builtin {
        group: "discovery.k8s.io",
        version: "v1",
        plural: "endpointslices",
        kind: "EndpointSlice",
        namespaced: true,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        status: false,
        all: false,
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "deployments",
        kind: "Deployment",
        namespaced: true,
        short: &["deploy"],
        status: true,
        all: true,
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        kind: "StatefulSet",
        namespaced: true,
        short: &["sts"],
        status: true,
        all: true,
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "daemonsets",
        kind: "DaemonSet",
        namespaced: true,
        short: &["ds"],
        status: true,
        all: true,
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "replicasets",
        kind: "ReplicaSet",
        namespaced: true,
        short: &["rs"],
        status: true,
        all: true,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        kind: "Role",
        namespaced: true,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
        short: &[],
        status: false,
        all: false,
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short: &["crd", "crds"],
        status: true,
        all: false,
    },
    Builtin {
        group: "policy",
        version: "v1",
        plural: "poddisruptionbudgets",
        kind: "PodDisruptionBudget",
        namespaced: true,
        short: &["pdb"],
        status: true,
        all: false,
    },
];

/// Keyed and set list fields of the built-in kinds, by kind and field name (patchMergeKey /
/// listMapKeys of the Kubernetes API types).
fn builtin_list_types(kind: &str) -> BTreeMap<String, ListType> {
    let mut m = BTreeMap::new();
    let mut key = |field: &str, k: &str| {
        let keys = k.split(',').map(str::to_string).collect();
        m.insert(field.to_string(), ListType::Map(keys));
    };
    match kind {
        "Pod" | "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
            key("containers", "name");
            key("initContainers", "name");
            key("ephemeralContainers", "name");
            key("volumes", "name");
            key("env", "name");
            key("imagePullSecrets", "name");
            key("volumeMounts", "mountPath");
            key("volumeDevices", "devicePath");
            key("ports", "containerPort,protocol");
            key("conditions", "type");
            key("hostAliases", "ip");
            key("topologySpreadConstraints", "topologyKey,whenUnsatisfiable");
            key("resourceClaims", "name");
            key("containerStatuses", "name");
            key("initContainerStatuses", "name");
        }
        "Service" => {
            key("ports", "port,protocol");
            key("conditions", "type");
        }
        "ServiceAccount" => {
            key("secrets", "name");
            key("imagePullSecrets", "name");
        }
        "Node" => {
            key("conditions", "type");
            key("addresses", "type");
        }
        "Namespace" | "PodDisruptionBudget" | "CustomResourceDefinition" => {
            key("conditions", "type");
        }
        _ => {}
    }
    m
}

/// The built-in resources every simulated cluster serves.
pub fn builtins() -> Vec<ResourceInfo> {
    BUILTINS
        .iter()
        .map(|b| ResourceInfo {
            group: b.group.into(),
            versions: vec![b.version.into()],
            storage_version: b.version.into(),
            plural: b.plural.into(),
            singular: b.kind.to_ascii_lowercase(),
            kind: b.kind.into(),
            list_kind: format!("{}List", b.kind),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| (*s).to_string()).collect(),
            categories: if b.all { vec!["all".into()] } else { vec![] },
            status_subresource: b.status,
            list_types: builtin_list_types(b.kind),
            custom: false,
            schema: None,
            printer_columns: BTreeMap::new(),
        })
        .collect()
}
