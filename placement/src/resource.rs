//! Resource templates: identity, replica count and per-replica resource requests, read the
//! way Karmada's default resource interpreter reads them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::quantity;

/// Errors reading a resource template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A required field is missing or empty.
    #[error("resource template: missing {0}")]
    Missing(&'static str),
    /// A field has the wrong type or value.
    #[error("resource template {kind} {name:?}: field {path}: {message}")]
    Field {
        /// kind.
        kind: String,
        /// metadata.name.
        name: String,
        /// Path of the field.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Per-replica resource requests in milli-units (`cpu`, `memory`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaRequirements {
    /// Requests by resource name.
    pub requests: BTreeMap<String, i128>,
}

/// A resource template to place.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// apiVersion.
    pub api_version: String,
    /// kind.
    pub kind: String,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid` (empty when the template has none); Karmada breaks replica ties with it.
    pub uid: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Desired replicas (0 for objects that are not workloads).
    pub replicas: i32,
    /// Per-replica requests, when the workload declares any.
    pub requirements: Option<ReplicaRequirements>,
    /// The full object.
    pub object: Value,
}

impl Resource {
    /// Whether Karmada treats the template as a workload (`IsWorkload`): it has replicas or
    /// per-replica requests.
    pub fn is_workload(&self) -> bool {
        self.replicas > 0 || self.requirements.is_some()
    }

    /// The tie order of replica apportionment for this template (from its UID).
    pub fn tie_break(&self) -> crate::divide::TieBreak {
        crate::divide::TieBreak::from_uid(&self.uid)
    }

    /// Read a resource template from its JSON form.
    pub fn from_value(object: Value) -> Result<Self, ResourceError> {
        let s = |p: &str| {
            object
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let api_version = s("/apiVersion");
        let kind = s("/kind");
        let name = s("/metadata/name");
        let uid = s("/metadata/uid");
        let mut namespace = s("/metadata/namespace");
        if namespace.is_empty() && !is_cluster_scoped(&api_version, &kind) {
            // like kubectl, a namespaced object without a namespace lives in `default`
            namespace = "default".to_string();
        }
        if api_version.is_empty() {
            return Err(ResourceError::Missing("apiVersion"));
        }
        if kind.is_empty() {
            return Err(ResourceError::Missing("kind"));
        }
        if name.is_empty() {
            return Err(ResourceError::Missing("metadata.name"));
        }
        let field = |path: &str, message: String| ResourceError::Field {
            kind: kind.clone(),
            name: name.clone(),
            path: path.to_string(),
            message,
        };
        if object
            .pointer("/metadata/uid")
            .is_some_and(|u| !u.is_null() && !u.is_string())
        {
            return Err(field("metadata.uid", "must be a string".into()));
        }
        let mut labels = BTreeMap::new();
        if let Some(l) = object.pointer("/metadata/labels").filter(|v| !v.is_null()) {
            let map = l
                .as_object()
                .ok_or_else(|| field("metadata.labels", "must be a map of strings".into()))?;
            for (k, v) in map {
                let v = v.as_str().ok_or_else(|| {
                    field(&format!("metadata.labels.{k}"), "must be a string".into())
                })?;
                labels.insert(k.clone(), v.to_string());
            }
        }
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        let (replica_path, pod_spec_path): (Option<&str>, Option<&str>) =
            match (group, kind.as_str()) {
                ("apps", "Deployment" | "StatefulSet") => {
                    (Some("/spec/replicas"), Some("/spec/template/spec"))
                }
                ("batch", "Job") => (Some("/spec/parallelism"), Some("/spec/template/spec")),
                ("", "Pod") => (None, Some("/spec")),
                _ => (None, None),
            };
        let replicas = match (replica_path, pod_spec_path) {
            (Some(p), _) => match object.pointer(p) {
                None | Some(Value::Null) => 1,
                Some(v) => {
                    let n = v.as_i64().filter(|n| (0..=i64::from(i32::MAX)).contains(n));
                    let n = n.ok_or_else(|| {
                        field(&dotted(p), "must be a non-negative integer".into())
                    })?;
                    i32::try_from(n).unwrap_or(i32::MAX)
                }
            },
            (None, Some(_)) => 1,
            (None, None) => 0,
        };
        // Like Karmada's Job interpreter: no more pods run at once than completions remain.
        let replicas = match (kind.as_str(), object.pointer("/spec/completions")) {
            ("Job", Some(c)) if group == "batch" && !c.is_null() => {
                let c = c
                    .as_i64()
                    .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
                    .ok_or_else(|| {
                        field("spec.completions", "must be a non-negative integer".into())
                    })?;
                replicas.min(i32::try_from(c).unwrap_or(i32::MAX))
            }
            _ => replicas,
        };
        let requirements = match pod_spec_path.and_then(|p| object.pointer(p)) {
            Some(spec) => pod_requests(spec).map_err(|(p, m)| {
                field(&format!("{}.{p}", &dotted(pod_spec_path.unwrap_or(""))), m)
            })?,
            None => None,
        };
        Ok(Self {
            api_version,
            kind,
            namespace,
            name,
            uid,
            labels,
            replicas,
            requirements,
            object,
        })
    }
}

/// `/spec/replicas` -> `spec.replicas`
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// Well-known cluster-scoped kinds; every other kind is taken as namespaced.
fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    matches!(
        (group, kind),
        (
            "",
            "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
        ) | (
            "rbac.authorization.k8s.io",
            "ClusterRole" | "ClusterRoleBinding"
        ) | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | (
                "storage.k8s.io",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
            )
            | ("scheduling.k8s.io", "PriorityClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("networking.k8s.io", "IngressClass")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration"
                    | "MutatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
            )
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | (
                "policy.karmada.io",
                "ClusterPropagationPolicy" | "ClusterOverridePolicy"
            )
            | ("cluster.karmada.io", "Cluster")
            | ("isthmus.io", "MemberCluster")
    )
}

fn container_requests(c: &Value, path: &str) -> Result<BTreeMap<String, i128>, (String, String)> {
    let mut out = BTreeMap::new();
    if let Some(req) = c.pointer("/resources/requests").and_then(Value::as_object) {
        for (k, v) in req {
            let q = quantity::parse_value_milli(v)
                .map_err(|e| (format!("{path}.resources.requests.{k}"), e.to_string()))?;
            out.insert(k.clone(), q);
        }
    }
    Ok(out)
}

/// Karmada's `AddPodTemplateRequest`: sum of containers, max with each init container, plus
/// pod overhead.
fn pod_requests(spec: &Value) -> Result<Option<ReplicaRequirements>, (String, String)> {
    let mut total: BTreeMap<String, i128> = BTreeMap::new();
    if let Some(cs) = spec.get("containers").and_then(Value::as_array) {
        for (i, c) in cs.iter().enumerate() {
            for (k, v) in container_requests(c, &format!("containers[{i}]"))? {
                *total.entry(k).or_insert(0) += v;
            }
        }
    }
    if let Some(cs) = spec.get("initContainers").and_then(Value::as_array) {
        for (i, c) in cs.iter().enumerate() {
            for (k, v) in container_requests(c, &format!("initContainers[{i}]"))? {
                let e = total.entry(k).or_insert(0);
                *e = (*e).max(v);
            }
        }
    }
    if let Some(over) = spec.get("overhead").and_then(Value::as_object) {
        for (k, v) in over {
            let q = quantity::parse_value_milli(v)
                .map_err(|e| (format!("overhead.{k}"), e.to_string()))?;
            *total.entry(k.clone()).or_insert(0) += q;
        }
    }
    total.retain(|_, v| *v > 0);
    Ok((!total.is_empty()).then_some(ReplicaRequirements { requests: total }))
}
