//! The resources a simulated cluster serves: built-in kinds and those defined by CRDs, and the
//! discovery documents that describe them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

/// Errors reading a CustomResourceDefinition.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A required CRD field is missing or has the wrong type.
    #[error("CustomResourceDefinition {crd:?}: field {field} is missing or invalid")]
    InvalidCrd {
        /// Name of the CRD object.
        crd: String,
        /// The offending field.
        field: &'static str,
    },
}

/// List semantics of a list-valued field (used by strategic merge patch and server-side apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Merged item by item. The first key field is the strategic-merge-patch merge key; server-side
    /// apply identifies items by all key fields present (`containerPort` + `protocol`).
    Map(Vec<String>),
    /// A set of scalars.
    Set,
}

/// One served resource (all its versions share one storage).
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group ("" for core).
    pub group: String,
    /// Served versions, highest priority first.
    pub versions: Vec<String>,
    /// The storage version.
    pub storage_version: String,
    /// Plural resource name (`services`).
    pub plural: String,
    /// Singular name (`service`).
    pub singular: String,
    /// Kind (`Service`).
    pub kind: String,
    /// List kind (`ServiceList`).
    pub list_kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`svc`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource (then status is separate from the main resource).
    pub status_subresource: bool,
    /// List types of fields that are keyed or sets, by field name: `ports` -> Map("port").
    pub list_types: BTreeMap<String, ListType>,
    /// True for resources defined by a CRD.
    pub custom: bool,
    /// The storage version's `openAPIV3Schema` of a CRD (used for defaulting only).
    pub schema: Option<Arc<Value>>,
}

/// `group/resource` key of a resource's storage.
pub type ResourceKey = Arc<str>;

impl ResourceInfo {
    /// The storage key `group/plural`.
    pub fn key(&self) -> ResourceKey {
        Arc::from(format!("{}/{}", self.group, self.plural))
    }

    /// `apiVersion` for a version of this resource.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether the server keeps `metadata.generation` for this kind (custom resources, CRDs and
    /// the built-ins whose spec has controllers acting on it; not e.g. ConfigMap or Service).
    pub fn has_generation(&self) -> bool {
        self.custom
            || matches!(
                self.kind.as_str(),
                "Deployment"
                    | "StatefulSet"
                    | "DaemonSet"
                    | "ReplicaSet"
                    | "PodDisruptionBudget"
                    | "EndpointSlice"
                    | "CustomResourceDefinition"
                    | "Pod"
            )
    }

    /// The list type of a field of this kind, by field name; metadata lists are shared by all.
    pub fn list_type(&self, field: &str) -> ListType {
        match field {
            "ownerReferences" => ListType::Map(vec!["uid".into()]),
            "finalizers" => ListType::Set,
            "managedFields" => ListType::Atomic,
            _ => self
                .list_types
                .get(field)
                .cloned()
                .unwrap_or(ListType::Atomic),
        }
    }
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

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
        })
        .collect()
}

/// Reads the resource a CRD object defines.
pub fn from_crd(crd: &Value) -> Result<ResourceInfo, RegistryError> {
    let crd_name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let bad = |field: &'static str| RegistryError::InvalidCrd {
        crd: crd_name.clone(),
        field,
    };
    let spec = crd.get("spec").ok_or_else(|| bad("spec"))?;
    let s = |v: &Value, p: &str, field: &'static str| -> Result<String, RegistryError> {
        v.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(field))
    };
    let group = s(spec, "/group", "spec.group")?;
    let plural = s(spec, "/names/plural", "spec.names.plural")?;
    let kind = s(spec, "/names/kind", "spec.names.kind")?;
    let singular = s(spec, "/names/singular", "spec.names.singular")
        .unwrap_or_else(|_| kind.to_ascii_lowercase());
    let list_kind =
        s(spec, "/names/listKind", "spec.names.listKind").unwrap_or_else(|_| format!("{kind}List"));
    let scope = s(spec, "/scope", "spec.scope")?;
    let strings = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("spec.versions"))?;
    let mut served = Vec::new();
    let mut storage = None;
    let mut status_subresource = false;
    let mut list_types = BTreeMap::new();
    let mut schema = None;
    for v in versions {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("spec.versions[].name"))?;
        if v.get("served").and_then(Value::as_bool).unwrap_or(false) {
            served.push(name.to_string());
        }
        if v.get("storage").and_then(Value::as_bool).unwrap_or(false) {
            storage = Some(name.to_string());
            if v.pointer("/subresources/status").is_some() {
                status_subresource = true;
            }
            if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
                collect_list_types(s, None, &mut list_types);
                schema = Some(Arc::new(s.clone()));
            }
        }
    }
    if served.is_empty() {
        return Err(bad("spec.versions[].served"));
    }
    served.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    Ok(ResourceInfo {
        group,
        versions: served,
        storage_version: storage.ok_or_else(|| bad("spec.versions[].storage"))?,
        plural,
        singular,
        kind,
        list_kind,
        namespaced: scope == "Namespaced",
        short_names: strings("/names/shortNames"),
        categories: strings("/names/categories"),
        status_subresource,
        list_types,
        custom: true,
        schema,
    })
}

/// Applies the `default` values of a structural schema to an object: a missing property with a
/// default gets it, recursively through properties, array items and additionalProperties (as
/// the API server does for custom resources).
pub fn apply_defaults(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    if !m.contains_key(name)
                        && let Some(d) = sub.get("default")
                    {
                        m.insert(name.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(name) {
                        apply_defaults(sub, child);
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    apply_defaults(add, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Reads `x-kubernetes-list-type: map` / `set` markers from a CRD schema, by field name.
fn collect_list_types(schema: &Value, field: Option<&str>, out: &mut BTreeMap<String, ListType>) {
    if let (Some(field), Some(lt)) = (
        field,
        schema.get("x-kubernetes-list-type").and_then(Value::as_str),
    ) {
        match lt {
            "map" => {
                let keys: Vec<String> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                if !keys.is_empty() {
                    out.insert(field.to_string(), ListType::Map(keys));
                }
            }
            "set" => {
                out.insert(field.to_string(), ListType::Set);
            }
            _ => {}
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            collect_list_types(sub, Some(name), out);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_list_types(items, field, out);
    }
    if let Some(add) = schema.get("additionalProperties") {
        collect_list_types(add, None, out);
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first; others last.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    for (prefix, rank) in [("beta", 2u8), ("alpha", 1u8)] {
        if let Some(n) = tail.strip_prefix(prefix)
            && let Ok(minor) = n.parse::<u32>()
        {
            return (rank, major, minor);
        }
    }
    (0, 0, 0)
}

/// Built-in and custom resources of one cluster.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<Arc<ResourceInfo>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            resources: builtins().into_iter().map(Arc::new).collect(),
        }
    }
}

impl Registry {
    /// Finds a resource by group, version and plural name (or short/singular name).
    pub fn lookup(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .iter()
            .find(|r| {
                r.group == group && r.plural == resource && r.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    /// Finds a resource by `apiVersion` and kind.
    pub fn lookup_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<(Arc<ResourceInfo>, String)> {
        let (group, version) = split_api_version(api_version);
        self.resources
            .iter()
            .find(|r| r.group == group && r.kind == kind && r.versions.iter().any(|v| v == version))
            .map(|r| (r.clone(), version.to_string()))
    }

    /// Finds the resource stored under a key.
    pub fn by_key(&self, key: &str) -> Option<Arc<ResourceInfo>> {
        self.resources.iter().find(|r| *r.key() == *key).cloned()
    }

    /// All resources.
    pub fn all(&self) -> &[Arc<ResourceInfo>] {
        &self.resources
    }

    /// Adds or replaces a CRD-defined resource; returns the key of a replaced resource whose
    /// group/plural changed (its objects must go).
    pub fn upsert_custom(&mut self, crd_name: &str, info: ResourceInfo) {
        self.remove_custom(crd_name);
        self.resources.push(Arc::new(info));
    }

    /// Removes the CRD-defined resource named `<plural>.<group>`; returns it.
    pub fn remove_custom(&mut self, crd_name: &str) -> Option<Arc<ResourceInfo>> {
        let pos = self
            .resources
            .iter()
            .position(|r| r.custom && format!("{}.{}", r.plural, r.group) == crd_name)?;
        Some(self.resources.remove(pos))
    }

    /// Groups with their versions, in registration order (core group excluded).
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.resources {
            if r.group.is_empty() {
                continue;
            }
            let entry = match out.iter_mut().position(|(g, _)| *g == r.group) {
                Some(i) => &mut out[i].1,
                None => {
                    out.push((r.group.clone(), Vec::new()));
                    let last = out.len() - 1;
                    &mut out[last].1
                }
            };
            for v in &r.versions {
                if !entry.contains(v) {
                    entry.push(v.clone());
                }
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    fn group_json(name: &str, versions: &[String]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
            .collect();
        let preferred = vs.first().cloned().unwrap_or(Value::Null);
        json!({"name": name, "versions": vs, "preferredVersion": preferred})
    }

    /// `/apis` document.
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, v)| Self::group_json(g, v))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/<group>` document.
    pub fn api_group(&self, group: &str) -> Option<Value> {
        self.groups()
            .iter()
            .find(|(g, _)| g == group)
            .map(|(g, v)| {
                let mut doc = Self::group_json(g, v);
                if let Some(m) = doc.as_object_mut() {
                    m.insert("kind".into(), json!("APIGroup"));
                    m.insert("apiVersion".into(), json!("v1"));
                }
                doc
            })
    }

    /// `/api/v1` or `/apis/<group>/<version>` document.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let mut resources = Vec::new();
        for r in &self.resources {
            if r.group != group || !r.versions.iter().any(|v| v == version) {
                continue;
            }
            let mut entry = json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": RW,
                "storageVersionHash": "",
            });
            if let Some(m) = entry.as_object_mut() {
                if !r.short_names.is_empty() {
                    m.insert("shortNames".into(), json!(r.short_names));
                }
                if !r.categories.is_empty() {
                    m.insert("categories".into(), json!(r.categories));
                }
            }
            resources.push(entry);
            if r.status_subresource {
                resources.push(json!({
                    "name": format!("{}/status", r.plural),
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        if resources.is_empty() {
            return None;
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}

/// Splits `apps/v1` into ("apps", "v1") and `v1` into ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_defaults_fill_missing_fields() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "mode": {"type": "string", "default": "auto"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"weight": {"type": "integer", "default": 1}}}}
            }}
        }});
        let mut obj = json!({"metadata": {"name": "x"}, "spec": {"items": [{}, {"weight": 5}]}});
        apply_defaults(&schema, &mut obj);
        assert_eq!(obj["spec"]["mode"], "auto");
        assert_eq!(obj["spec"]["items"], json!([{"weight": 1}, {"weight": 5}]));
        let mut explicit = json!({"spec": {"mode": "manual"}});
        apply_defaults(&schema, &mut explicit);
        assert_eq!(explicit["spec"]["mode"], "manual");
    }

    #[test]
    fn version_order_follows_kubernetes_rules() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta1", "v1beta2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            v,
            vec!["v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn discovery_lists_status_subresource() {
        let reg = Registry::default();
        let doc = reg.api_resource_list("", "v1").unwrap_or_default();
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"services/status"));
        assert!(names.contains(&"configmaps"));
        assert!(!names.contains(&"configmaps/status"));
    }
}
