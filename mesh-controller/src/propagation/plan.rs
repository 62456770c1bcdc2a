//! The pure part of propagation: from the hub's policies, resource templates and members,
//! plus the previous decisions, compute what every member should hold and what each policy's
//! status says. No clients and no clock: the caller passes `now`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use isthmus_placement::cluster::{ClusterInfo, Taint};
use isthmus_placement::load::{AnyPolicy, policy_from_value};
use isthmus_placement::model::{OverridePolicy, PolicyScope, PropagationPolicy};
use isthmus_placement::{PolicyRef, Resource, match_policy, no_execute_evictions, schedule};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::ObjKey;
use crate::ownership::TEMPLATE_LABEL;
use isthmus_api::crd::{
    EXPORT_SERVICES_FIELD, PROPAGATE_DEPENDENCIES_FIELD, PendingEviction, PlacementFailure,
    PropagationStatus, ResourcePlacement, TargetCluster,
};

use super::deps;

/// Annotation on every propagated object: the full `apiVersion kind namespace/name` of the
/// source template (the label value is limited to 63 characters).
pub const TEMPLATE_ANNOTATION: &str = "placement.isthmus.io/template";
/// Annotation on every propagated object: the policy that placed it.
pub const POLICY_ANNOTATION: &str = "placement.isthmus.io/policy";
/// Policy annotation asking for a ServiceExport next to every propagated Service, for
/// Karmada-shaped documents that cannot carry `spec.exportServices`.
pub const EXPORT_SERVICES_ANNOTATION: &str = "placement.isthmus.io/export-services";
/// Taint key put on members the controller cannot reach (Karmada's key, so Karmada-shaped
/// tolerations and the default 300 s toleration apply).
pub const UNREACHABLE_TAINT: &str = "cluster.karmada.io/unreachable";
/// `apiVersion` of the ServiceExports propagation creates.
pub const SERVICE_EXPORT_API_VERSION: &str = "multicluster.x-k8s.io/v1beta1";

/// Errors reading a policy object from the hub.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The policy breaks Karmada's schema or admission rules, or an Isthmus field is invalid.
    #[error("{kind} {name}: {message}")]
    InvalidPolicy {
        /// Kind.
        kind: String,
        /// `namespace/name` or `name`.
        name: String,
        /// What is wrong (with the field path).
        message: String,
    },
}

/// A propagation policy as read from the hub.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDoc {
    /// The policy, validated and defaulted by the placement crate.
    pub policy: PropagationPolicy,
    /// `spec.exportServices` or the [`EXPORT_SERVICES_ANNOTATION`] annotation.
    pub export_services: bool,
    /// `spec.propagateDeps` (Karmada) or `spec.propagateDependencies` (Isthmus).
    pub propagate_deps: bool,
    /// `metadata.generation`.
    pub generation: Option<i64>,
}

/// The placement decision kept between passes for one template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The policy that claims the template.
    pub policy: PolicyRef,
    /// Cluster -> replicas.
    pub placements: BTreeMap<String, i32>,
    /// The affinity group in use.
    pub observed_affinity: Option<String>,
    /// `(cluster, taint)` -> when the `NoExecute` taint was first seen on a placed cluster.
    pub no_execute_since: BTreeMap<(String, String), Instant>,
}

/// What a pass reads.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// Members (with [`UNREACHABLE_TAINT`] on the unreachable ones, see [`with_reachability`]).
    pub clusters: &'a [ClusterInfo],
    /// Propagation policies.
    pub policies: &'a [PolicyDoc],
    /// Override policies.
    pub overrides: &'a [OverridePolicy],
    /// Resource templates on the hub (of the kinds the policies select).
    pub templates: &'a [Value],
    /// Dependencies fetched from the hub (see [`wanted_dependencies`]).
    pub dependencies: &'a BTreeMap<ObjKey, Value>,
    /// The previous pass's bindings.
    pub previous: &'a BTreeMap<ObjKey, Binding>,
    /// The current time.
    pub now: Instant,
}

/// What a pass decides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Bindings to keep for the next pass.
    pub bindings: BTreeMap<ObjKey, Binding>,
    /// Cluster -> objects it should hold.
    pub desired: BTreeMap<String, BTreeMap<ObjKey, Value>>,
    /// Cluster -> objects not rendered this pass (a failed override) that must not be pruned.
    pub keep: BTreeMap<String, BTreeSet<ObjKey>>,
    /// Status of every propagation policy.
    pub statuses: BTreeMap<PolicyRef, PropagationStatus>,
    /// The earliest pending eviction, so the caller can come back in time.
    pub next_eviction: Option<Duration>,
}

fn display(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

fn truthy(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("must be a boolean, got {other}")),
    }
}

/// The document the placement crate validates: our object without status, server metadata
/// and the Isthmus-only spec fields.
fn karmada_shaped(obj: &Value, strip: &[&str]) -> Value {
    let mut doc = obj.clone();
    if let Some(o) = doc.as_object_mut() {
        o.remove("status");
        let meta = o.get("metadata").cloned().unwrap_or(Value::Null);
        let mut m = Map::new();
        for f in ["name", "namespace"] {
            if let Some(v) = meta.get(f) {
                m.insert(f.to_owned(), v.clone());
            }
        }
        o.insert("metadata".into(), Value::Object(m));
        if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
            for f in strip {
                spec.remove(*f);
            }
        }
    }
    doc
}

fn invalid(obj: &Value, message: String) -> PlanError {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    PlanError::InvalidPolicy {
        kind: s("/kind").to_owned(),
        name: display(s("/metadata/namespace"), s("/metadata/name")),
        message,
    }
}

/// Reads a `PropagationPolicy` or `ClusterPropagationPolicy` object from the hub.
pub fn read_propagation_policy(obj: &Value) -> Result<PolicyDoc, PlanError> {
    let export_field = truthy(obj.pointer(&format!("/spec/{EXPORT_SERVICES_FIELD}")))
        .map_err(|m| invalid(obj, format!("spec.{EXPORT_SERVICES_FIELD}: {m}")))?;
    let deps_alias = truthy(obj.pointer(&format!("/spec/{PROPAGATE_DEPENDENCIES_FIELD}")))
        .map_err(|m| invalid(obj, format!("spec.{PROPAGATE_DEPENDENCIES_FIELD}: {m}")))?;
    let deps_karmada = truthy(obj.pointer("/spec/propagateDeps"))
        .map_err(|m| invalid(obj, format!("spec.propagateDeps: {m}")))?;
    let annotation = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(EXPORT_SERVICES_ANNOTATION))
        .and_then(Value::as_str);
    let export_annotation = match annotation {
        None => false,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(invalid(
                obj,
                format!(
                    "metadata.annotations[{EXPORT_SERVICES_ANNOTATION}]: {other:?} is not \"true\" or \"false\""
                ),
            ));
        }
    };
    let doc = karmada_shaped(obj, &[EXPORT_SERVICES_FIELD, PROPAGATE_DEPENDENCIES_FIELD]);
    match policy_from_value("hub", 0, &doc) {
        Ok(AnyPolicy::Propagation(policy)) => Ok(PolicyDoc {
            policy,
            export_services: export_field || export_annotation,
            propagate_deps: deps_alias || deps_karmada,
            generation: obj.pointer("/metadata/generation").and_then(Value::as_i64),
        }),
        Ok(AnyPolicy::Override(_)) => {
            Err(invalid(obj, "kind: not a propagation policy".to_owned()))
        }
        Err(e) => Err(invalid(obj, e.to_string())),
    }
}

/// Reads an `OverridePolicy` or `ClusterOverridePolicy` object from the hub.
pub fn read_override_policy(obj: &Value) -> Result<OverridePolicy, PlanError> {
    match policy_from_value("hub", 0, &karmada_shaped(obj, &[])) {
        Ok(AnyPolicy::Override(p)) => Ok(p),
        Ok(AnyPolicy::Propagation(_)) => {
            Err(invalid(obj, "kind: not an override policy".to_owned()))
        }
        Err(e) => Err(invalid(obj, e.to_string())),
    }
}

/// The members with [`UNREACHABLE_TAINT`] (`NoSchedule` and `NoExecute`) added to the ones in
/// `unreachable`, the way Karmada taints a cluster it lost.
pub fn with_reachability(
    clusters: &[ClusterInfo],
    unreachable: &BTreeSet<String>,
) -> Vec<ClusterInfo> {
    clusters
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if unreachable.contains(&c.name) {
                for effect in ["NoSchedule", "NoExecute"] {
                    if !c
                        .taints
                        .iter()
                        .any(|t| t.key == UNREACHABLE_TAINT && t.effect == effect)
                    {
                        c.taints.push(Taint {
                            key: UNREACHABLE_TAINT.to_owned(),
                            value: String::new(),
                            effect: effect.to_owned(),
                        });
                    }
                }
            }
            c
        })
        .collect()
}

/// The key of an object (`namespace` defaulted the way [`Resource`] does).
pub fn key_of(r: &Resource) -> ObjKey {
    ObjKey {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
    }
}

/// The value of [`TEMPLATE_LABEL`] for a template: `kind.namespace.name` (lowercase kind),
/// shortened with a hash suffix when longer than a label value may be.
pub fn template_label_value(key: &ObjKey) -> String {
    let mut parts = vec![key.kind.to_ascii_lowercase()];
    if !key.namespace.is_empty() {
        parts.push(key.namespace.clone());
    }
    parts.push(key.name.clone());
    let full = parts.join(".");
    if full.len() <= 63 {
        return full;
    }
    let digest = Sha256::digest(format!("{} {}", key.api_version, full).as_bytes());
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let mut head: String = full.chars().take(52).collect();
    while head.ends_with(['.', '-', '_']) {
        head.pop();
    }
    format!("{head}-{hex}")
}

fn template_annotation(key: &ObjKey) -> String {
    format!(
        "{} {} {}",
        key.api_version,
        key.kind,
        display(&key.namespace, &key.name)
    )
}

fn policy_display(p: &PolicyRef) -> String {
    let kind = match p.scope {
        PolicyScope::Namespaced => "PropagationPolicy",
        PolicyScope::Cluster => "ClusterPropagationPolicy",
    };
    format!("{kind} {}", display(&p.namespace, &p.name))
}

/// What a member receives for a template rendered for it: no status, no server-set metadata,
/// no cluster-specific fields; the ownership label, the template label and annotations added.
pub fn member_copy(mut obj: Value, template: &ObjKey, policy: &PolicyRef) -> Value {
    let Some(o) = obj.as_object_mut() else {
        return obj;
    };
    o.remove("status");
    let meta = o.get("metadata").cloned().unwrap_or(Value::Null);
    let mut m = Map::new();
    for f in ["name", "namespace"] {
        if let Some(v) = meta.get(f) {
            m.insert(f.to_owned(), v.clone());
        }
    }
    let mut labels = meta
        .get("labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert(MANAGED_BY.to_owned(), json!(MANAGED_BY_VALUE));
    labels.insert(
        TEMPLATE_LABEL.to_owned(),
        json!(template_label_value(template)),
    );
    let mut annotations = meta
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.retain(|k, _| {
        k != "kubectl.kubernetes.io/last-applied-configuration"
            && k != "deployment.kubernetes.io/revision"
            && !k.starts_with("pv.kubernetes.io/")
            && k != EXPORT_SERVICES_ANNOTATION
    });
    annotations.insert(
        TEMPLATE_ANNOTATION.to_owned(),
        json!(template_annotation(template)),
    );
    annotations.insert(POLICY_ANNOTATION.to_owned(), json!(policy_display(policy)));
    m.insert("labels".into(), Value::Object(labels));
    m.insert("annotations".into(), Value::Object(annotations));
    o.insert("metadata".into(), Value::Object(m));
    let group = template.api_version.split_once('/').map_or("", |(g, _)| g);
    if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
        match (group, template.kind.as_str()) {
            ("", "Service") => {
                // the member allocates its own addresses; a headless Service stays headless
                let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
                spec.remove("clusterIPs");
                spec.remove("healthCheckNodePort");
                if !headless {
                    spec.remove("clusterIP");
                }
            }
            ("", "PersistentVolumeClaim") => {
                spec.remove("volumeName");
            }
            ("", "Pod") => {
                spec.remove("nodeName");
            }
            ("batch", "Job") => {
                spec.remove("selector");
                if let Some(l) = spec
                    .get_mut("template")
                    .and_then(|t| t.get_mut("metadata"))
                    .and_then(|m| m.get_mut("labels"))
                    .and_then(Value::as_object_mut)
                {
                    l.retain(|k, _| {
                        !matches!(
                            k.as_str(),
                            "controller-uid"
                                | "batch.kubernetes.io/controller-uid"
                                | "job-name"
                                | "batch.kubernetes.io/job-name"
                        )
                    });
                }
            }
            _ => {}
        }
    }
    if group.is_empty() && template.kind == "ServiceAccount" {
        o.remove("secrets");
    }
    obj
}

/// The ServiceExport created next to a propagated Service.
pub fn service_export(service: &ObjKey, policy: &PolicyRef) -> (ObjKey, Value) {
    let key = ObjKey {
        api_version: SERVICE_EXPORT_API_VERSION.to_owned(),
        kind: "ServiceExport".to_owned(),
        namespace: service.namespace.clone(),
        name: service.name.clone(),
    };
    let obj = json!({
        "apiVersion": SERVICE_EXPORT_API_VERSION,
        "kind": "ServiceExport",
        "metadata": {
            "name": service.name,
            "namespace": service.namespace,
            "labels": {
                MANAGED_BY: MANAGED_BY_VALUE,
                TEMPLATE_LABEL: template_label_value(service),
            },
            "annotations": {
                TEMPLATE_ANNOTATION: template_annotation(service),
                POLICY_ANNOTATION: policy_display(policy),
            }
        }
    });
    (key, obj)
}

fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Whether templates in `namespace` are never propagated: the system namespaces (`kube-*`)
/// and the controller's own (`isthmus-system`, which holds the members' kubeconfigs), as
/// Karmada ignores its own and the `kube-*` namespaces.
pub fn is_reserved_namespace(namespace: &str) -> bool {
    namespace.starts_with("kube-") || namespace == RESERVED_NAMESPACE
}

/// The controller's namespace, never a source of templates.
pub const RESERVED_NAMESPACE: &str = "isthmus-system";

/// Templates worth considering: readable, not being deleted, not a copy propagation wrote,
/// not in a reserved namespace.
fn resources(templates: &[Value]) -> Vec<Resource> {
    let mut out = Vec::new();
    for t in templates {
        let ns = t
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if is_reserved_namespace(ns) {
            continue;
        }
        if is_deleting(t)
            || t.pointer(&format!(
                "/metadata/labels/{}",
                TEMPLATE_LABEL.replace('/', "~1")
            ))
            .is_some()
        {
            continue;
        }
        match Resource::from_value(t.clone()) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!(error = %e, "skipping resource template"),
        }
    }
    out
}

fn claim<'a>(
    r: &Resource,
    policies: &'a [PolicyDoc],
    plain: &[PropagationPolicy],
    previous: &BTreeMap<ObjKey, Binding>,
) -> Option<&'a PolicyDoc> {
    let current = previous.get(&key_of(r)).map(|b| &b.policy);
    let p = match_policy(r, plain, current)?;
    let pref = PolicyRef::of(p);
    policies.iter().find(|d| PolicyRef::of(&d.policy) == pref)
}

/// The dependencies to fetch from the hub: those of every template claimed by a policy with
/// `propagateDeps`.
pub fn wanted_dependencies(
    templates: &[Value],
    policies: &[PolicyDoc],
    previous: &BTreeMap<ObjKey, Binding>,
) -> BTreeSet<ObjKey> {
    let plain: Vec<PropagationPolicy> = policies.iter().map(|d| d.policy.clone()).collect();
    let mut out = BTreeSet::new();
    for r in resources(templates) {
        if claim(&r, policies, &plain, previous).is_some_and(|d| d.propagate_deps) {
            out.extend(deps::references(
                &r.api_version,
                &r.kind,
                &r.namespace,
                &r.object,
            ));
        }
    }
    out
}

fn failure(reason: &str, message: String) -> PlacementFailure {
    PlacementFailure {
        reason: reason.to_owned(),
        message,
    }
}

/// One pass's decisions. Deterministic for the same input.
pub fn plan(input: PlanInput<'_>) -> Plan {
    let mut out = Plan::default();
    for d in input.policies {
        out.statuses.insert(
            PolicyRef::of(&d.policy),
            PropagationStatus {
                observed_generation: d.generation,
                ..PropagationStatus::default()
            },
        );
    }
    let plain: Vec<PropagationPolicy> = input.policies.iter().map(|d| d.policy.clone()).collect();
    let names: BTreeSet<&str> = input.clusters.iter().map(|c| c.name.as_str()).collect();
    let everywhere: BTreeMap<String, i32> =
        input.clusters.iter().map(|c| (c.name.clone(), 0)).collect();
    for r in resources(input.templates) {
        let Some(doc) = claim(&r, input.policies, &plain, input.previous) else {
            continue;
        };
        let key = key_of(&r);
        let pref = PolicyRef::of(&doc.policy);
        let placement = &doc.policy.spec.placement;
        let prev = input.previous.get(&key).filter(|b| b.policy == pref);
        let mut previous: BTreeMap<String, i32> = prev
            .map(|b| b.placements.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|(c, _)| names.contains(c.as_str()))
            .collect();
        let mut entry = ResourcePlacement {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            ..ResourcePlacement::default()
        };
        // NoExecute taints: evict once the toleration ran out.
        let mut since = BTreeMap::new();
        for ev in no_execute_evictions(placement, input.clusters, &previous) {
            let k = (ev.cluster.clone(), ev.taint.clone());
            let first = prev
                .and_then(|b| b.no_execute_since.get(&k).copied())
                .unwrap_or(input.now);
            let elapsed = input.now.saturating_duration_since(first);
            let after = Duration::from_secs(u64::try_from(ev.after_seconds).unwrap_or(0));
            if elapsed >= after {
                tracing::info!(template = %template_annotation(&key), cluster = %ev.cluster, taint = %ev.taint, "evicting");
                previous.remove(&ev.cluster);
            } else {
                let left = after.saturating_sub(elapsed);
                out.next_eviction = Some(out.next_eviction.map_or(left, |n| n.min(left)));
                entry.pending_evictions.push(PendingEviction {
                    cluster: ev.cluster.clone(),
                    taint: ev.taint.clone(),
                    remaining_seconds: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                });
                since.insert(k, first);
            }
        }
        // A cluster whose NoExecute taint is tolerated only for a while is no new target:
        // the workload would be evicted again.
        let no_new: BTreeSet<String> = no_execute_evictions(placement, input.clusters, &everywhere)
            .into_iter()
            .map(|e| e.cluster)
            .filter(|c| !previous.contains_key(c))
            .collect();
        let filtered: Vec<ClusterInfo>;
        let candidates: &[ClusterInfo] = if no_new.is_empty() {
            input.clusters
        } else {
            filtered = input
                .clusters
                .iter()
                .filter(|c| !no_new.contains(&c.name))
                .cloned()
                .collect();
            &filtered
        };
        let prev_affinity = prev.and_then(|b| b.observed_affinity.clone());
        let (placements, observed) = match schedule(
            placement,
            &r,
            candidates,
            &previous,
            prev_affinity.as_deref(),
        ) {
            Ok(d) => (d.placements, d.observed_affinity),
            Err(e) => {
                entry.error = Some(failure(e.reason(), e.to_string()));
                (previous, prev_affinity)
            }
        };
        entry.observed_affinity = observed.clone();
        entry.clusters = placements
            .iter()
            .map(|(name, replicas)| TargetCluster {
                name: name.clone(),
                replicas: *replicas,
            })
            .collect();
        let export = doc.export_services && r.api_version == "v1" && r.kind == "Service";
        entry.service_export = export && !placements.is_empty();
        let dep_keys = if doc.propagate_deps {
            deps::references(&r.api_version, &r.kind, &r.namespace, &r.object)
        } else {
            BTreeSet::new()
        };
        let mut related: Vec<ObjKey> = vec![key.clone()];
        match isthmus_placement::render_manifests(
            &r,
            placement,
            &placements,
            input.clusters,
            input.overrides,
        ) {
            Ok(manifests) => {
                for (cluster, obj) in manifests {
                    let desired = out.desired.entry(cluster.clone()).or_default();
                    desired.insert(key.clone(), member_copy(obj, &key, &pref));
                    if export {
                        let (k, o) = service_export(&key, &pref);
                        desired.insert(k, o);
                    }
                }
            }
            Err(e) => {
                entry.error = Some(failure("OverrideFailed", e.to_string()));
                if export {
                    related.push(service_export(&key, &pref).0);
                }
                related.extend(dep_keys.iter().cloned());
                for cluster in placements.keys() {
                    out.keep
                        .entry(cluster.clone())
                        .or_default()
                        .extend(related.iter().cloned());
                }
            }
        }
        for dk in &dep_keys {
            let shown = format!("{} {}", dk.kind, display(&dk.namespace, &dk.name));
            let Some(dep) = input.dependencies.get(dk) else {
                entry
                    .dependencies
                    .push(format!("{shown} (not found on the hub)"));
                continue;
            };
            entry.dependencies.push(shown);
            let dep_res = match Resource::from_value(dep.clone()) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping dependency");
                    continue;
                }
            };
            for cluster in input
                .clusters
                .iter()
                .filter(|c| placements.contains_key(&c.name))
            {
                match isthmus_placement::apply_overrides(&dep_res, cluster, input.overrides) {
                    Ok(obj) => {
                        out.desired
                            .entry(cluster.name.clone())
                            .or_default()
                            .insert(dk.clone(), member_copy(obj, dk, &pref));
                    }
                    Err(e) => {
                        entry.error = Some(failure("OverrideFailed", e.to_string()));
                        out.keep
                            .entry(cluster.name.clone())
                            .or_default()
                            .insert(dk.clone());
                    }
                }
            }
        }
        if let Some(st) = out.statuses.get_mut(&pref) {
            if entry.error.is_some() {
                st.failed += 1;
            }
            if !entry.clusters.is_empty() {
                st.placed += 1;
            }
            st.resources.push(entry);
        }
        out.bindings.insert(
            key,
            Binding {
                policy: pref,
                placements,
                observed_affinity: observed,
                no_execute_since: since,
            },
        );
    }
    for st in out.statuses.values_mut() {
        st.resources.sort_by(|a, b| {
            (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name))
        });
    }
    out
}

/// Keeps what an invalid policy placed: a policy edited into an invalid state (an admission
/// rule the CRD schema cannot express) claims nothing, but its templates' copies (and the
/// ServiceExports of its Services) stay where they were, with the previous binding, until the
/// policy is fixed or deleted.
pub fn hold_for_invalid_policies(
    out: &mut Plan,
    previous: &BTreeMap<ObjKey, Binding>,
    invalid: &BTreeSet<PolicyRef>,
) {
    for (key, b) in previous {
        if !invalid.contains(&b.policy) || out.bindings.contains_key(key) {
            continue;
        }
        for cluster in b.placements.keys() {
            let keep = out.keep.entry(cluster.clone()).or_default();
            keep.insert(key.clone());
            if key.api_version == "v1" && key.kind == "Service" {
                keep.insert(service_export(key, &b.policy).0);
            }
        }
        out.bindings.insert(key.clone(), b.clone());
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
