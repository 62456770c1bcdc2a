//! Reading documents: multi-document YAML, policy kinds with validation and Karmada's
//! defaulting, cluster files, resource templates and previous assignments.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cluster::{self, ClusterError, ClusterInfo};
use crate::model::{
    ISTHMUS_PLACEMENT_GROUP, KARMADA_POLICY_GROUP, OverridePolicy, OverrideSpec, POLICY_VERSION,
    Placement, PolicyScope, PolicySet, PropagationPolicy, PropagationSpec, ResourceSelector,
    Toleration,
};
use crate::resource::{Resource, ResourceError};
use crate::schema::{self, PolicyCrd, ValidateError};
use crate::selector;

/// Errors reading input documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not YAML.
    #[error("{source_name}: invalid YAML: {message}")]
    Yaml {
        /// File or input name.
        source_name: String,
        /// Parser message.
        message: String,
    },
    /// A document is not a map.
    #[error("{source_name}: document {index} is not a map")]
    NotAMap {
        /// File or input name.
        source_name: String,
        /// Document index.
        index: usize,
    },
    /// A document of a kind this reader does not take.
    #[error(
        "{source_name}: document {index}: unsupported {api_version}/{kind} (want PropagationPolicy, ClusterPropagationPolicy, OverridePolicy or ClusterOverridePolicy of policy.karmada.io/v1alpha1 or placement.isthmus.io/v1alpha1)"
    )]
    UnsupportedKind {
        /// File or input name.
        source_name: String,
        /// Document index.
        index: usize,
        /// apiVersion.
        api_version: String,
        /// kind.
        kind: String,
    },
    /// A policy document breaks its schema or a semantic rule.
    #[error("{source_name}: {kind} {name:?}: {message}")]
    Invalid {
        /// File or input name.
        source_name: String,
        /// kind.
        kind: String,
        /// namespace/name.
        name: String,
        /// What is wrong (starts with the field path).
        message: String,
    },
    /// A cluster document is wrong.
    #[error("{source_name}: {source}")]
    Cluster {
        /// File or input name.
        source_name: String,
        /// Cause.
        source: Box<ClusterError>,
    },
    /// The resource template is wrong.
    #[error("{source_name}: {source}")]
    Resource {
        /// File or input name.
        source_name: String,
        /// Cause.
        source: Box<ResourceError>,
    },
    /// Exactly one resource document expected.
    #[error("{source_name}: expected exactly one resource document, found {count}")]
    ResourceCount {
        /// File or input name.
        source_name: String,
        /// How many documents.
        count: usize,
    },
    /// Previous-assignment file is wrong.
    #[error("{source_name}: {message}")]
    Previous {
        /// File or input name.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// Parse multi-document YAML into JSON values; empty documents are skipped and `kind: List`
/// documents are flattened into their items.
pub fn parse_documents(source_name: &str, text: &str) -> Result<Vec<Value>, LoadError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| LoadError::Yaml {
        source_name: source_name.into(),
        message: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(docs.len());
    for d in docs {
        if d.is_null() {
            continue;
        }
        if d.get("kind").and_then(Value::as_str) == Some("List")
            && let Some(items) = d.get("items").and_then(Value::as_array)
        {
            out.extend(items.iter().cloned());
            continue;
        }
        out.push(d);
    }
    for (index, d) in out.iter().enumerate() {
        if !d.is_object() {
            return Err(LoadError::NotAMap {
                source_name: source_name.into(),
                index,
            });
        }
    }
    Ok(out)
}

/// Karmada's default not-ready / unreachable tolerations (`Exists`, `NoExecute`, 300 s), added
/// like its `AddTolerations`: unless a toleration with the same key, operator, value and
/// effect (`MatchToleration`, whatever its seconds) is already there.
fn default_tolerations(placement: &mut Placement) {
    for key in [
        "cluster.karmada.io/not-ready",
        "cluster.karmada.io/unreachable",
    ] {
        let present = placement.cluster_tolerations.iter().any(|t| {
            t.key == key && t.operator == "Exists" && t.value.is_empty() && t.effect == "NoExecute"
        });
        if !present {
            placement.cluster_tolerations.push(Toleration {
                key: key.into(),
                operator: "Exists".into(),
                value: String::new(),
                effect: "NoExecute".into(),
                toleration_seconds: Some(300),
            });
        }
    }
}

/// Apply Karmada's defaulting to a placement: spread field defaults to `cluster`, `minGroups`
/// to 1, `replicaSchedulingType` to `Divided`, a divided strategy without preference to
/// `Weighted`, and the default not-ready/unreachable tolerations.
pub fn default_placement(placement: &mut Placement) {
    for sc in &mut placement.spread_constraints {
        if sc.spread_by_field.is_empty() && sc.spread_by_label.is_empty() {
            sc.spread_by_field = "cluster".into();
        }
        if sc.min_groups == 0 {
            sc.min_groups = 1;
        }
    }
    if let Some(rs) = &mut placement.replica_scheduling {
        if rs.replica_scheduling_type.is_empty() {
            rs.replica_scheduling_type = "Divided".into();
        }
        if rs.replica_scheduling_type == "Divided" && rs.replica_division_preference.is_empty() {
            rs.replica_division_preference = "Weighted".into();
        }
    }
    default_tolerations(placement);
}

/// The mutating webhook gives a namespaced policy's selectors its namespace: every selector
/// without a namespace gets `namespace`.
fn default_selector_namespaces(selectors: &mut [ResourceSelector], namespace: &str) {
    for rs in selectors {
        if rs.namespace.is_empty() {
            namespace.clone_into(&mut rs.namespace);
        }
    }
}

/// Collected admission errors; Karmada reports all of them, joined here by `"; "`.
fn finish(errs: Vec<String>) -> Result<(), String> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Karmada's admission rules for a placement (its validating webhook's `ValidatePlacement`,
/// plus the toleration operator and workload affinity checks). Every broken rule is
/// reported.
pub fn validate_placement(p: &Placement) -> Result<(), String> {
    let mut errs = Vec::new();
    placement_errors(p, &mut errs);
    finish(errs)
}

fn placement_errors(p: &Placement, errs: &mut Vec<String>) {
    if p.cluster_affinity.is_some() && !p.cluster_affinities.is_empty() {
        errs.push("spec.placement: clusterAffinities cannot co-exist with clusterAffinity".into());
    }
    if let Some(a) = &p.cluster_affinity
        && let Err(e) = selector::validate_affinity(a)
    {
        errs.push(format!("spec.placement.clusterAffinity.fieldSelector: {e}"));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, t) in p.cluster_affinities.iter().enumerate() {
        if let Err(e) = selector::validate_qualified_name(&t.affinity_name) {
            errs.push(format!(
                "spec.placement.clusterAffinities[{i}].affinityName: Invalid value: {e}"
            ));
        }
        if !names.insert(t.affinity_name.as_str()) {
            errs.push(format!(
                "spec.placement.clusterAffinities: duplicate affinityName {:?}: each affinity term in a policy must have a unique name",
                t.affinity_name
            ));
        }
        if let Err(e) = selector::validate_affinity(&t.affinity) {
            errs.push(format!(
                "spec.placement.clusterAffinities[{i}].fieldSelector: {e}"
            ));
        }
    }
    for (i, t) in p.cluster_tolerations.iter().enumerate() {
        if !matches!(t.operator.as_str(), "" | "Equal" | "Exists") {
            errs.push(format!(
                "spec.placement.clusterTolerations[{i}].operator: Unsupported value: {:?}: supported values: \"Equal\", \"Exists\"",
                t.operator
            ));
        }
    }
    spread_constraint_errors(p, errs);
    if let Some(rs) = &p.replica_scheduling
        && let Some(w) = &rs.weight_preference
    {
        for (i, sw) in w.static_weight_list.iter().enumerate() {
            if let Err(e) = selector::validate_affinity(&sw.target_cluster) {
                errs.push(format!("spec.placement.replicaScheduling.weightPreference.staticWeightList[{i}].targetCluster.fieldSelector: {e}"));
            }
        }
    }
    if let Some(wa) = &p.workload_affinity {
        let key = |term: &str| {
            wa.pointer(&format!("/{term}/groupByLabelKey"))
                .and_then(Value::as_str)
        };
        for term in ["affinity", "antiAffinity"] {
            if let Some(k) = key(term)
                && let Err(e) = selector::validate_qualified_name(k)
            {
                errs.push(format!(
                    "spec.placement.workloadAffinity.{term}.groupByLabelKey: Invalid value: {e}"
                ));
            }
        }
        if let (Some(a), Some(b)) = (key("affinity"), key("antiAffinity"))
            && a == b
        {
            errs.push(format!(
                "spec.placement.workloadAffinity: Invalid value: {a:?}: affinity and antiAffinity must not use the same groupByLabelKey"
            ));
        }
    }
}

fn spread_constraint_errors(p: &Placement, errs: &mut Vec<String>) {
    let mut fields: Vec<&str> = Vec::new();
    let mut repeated: Vec<&str> = Vec::new();
    for (i, sc) in p.spread_constraints.iter().enumerate() {
        let path = format!("spec.placement.spreadConstraints[{i}]");
        if !sc.spread_by_field.is_empty() && !sc.spread_by_label.is_empty() {
            errs.push(format!(
                "{path}: spreadByLabel should not co-exist with spreadByField"
            ));
        }
        if sc.min_groups < 0 {
            errs.push(format!("{path}: minGroups lower than 0 is not allowed"));
        }
        if sc.max_groups < 0 {
            errs.push(format!("{path}: maxGroups lower than 0 is not allowed"));
        }
        if sc.max_groups > 0 && sc.max_groups < sc.min_groups {
            errs.push(format!(
                "{path}: maxGroups lower than minGroups is not allowed (maxGroups {}, minGroups {})",
                sc.max_groups, sc.min_groups
            ));
        }
        if !sc.spread_by_field.is_empty() {
            let field = sc.spread_by_field.as_str();
            if fields.contains(&field) {
                if !repeated.contains(&field) {
                    repeated.push(field);
                    errs.push(format!(
                        "spec.placement.spreadConstraints: multiple {field} spread constraints are not allowed"
                    ));
                }
            } else {
                fields.push(field);
            }
        }
    }
    if !fields.is_empty() && !fields.contains(&"cluster") {
        errs.push("spec.placement.spreadConstraints: the cluster spread constraint must be enabled in one of the constraints in case of SpreadByField is enabled".into());
    }
    let has_label = p
        .spread_constraints
        .iter()
        .any(|sc| !sc.spread_by_label.is_empty());
    if has_label && fields.iter().any(|f| *f != "cluster") {
        errs.push("spec.placement.spreadConstraints: spreadByLabel cannot be combined with spreadByField region, zone or provider".into());
    }
}

/// Karmada's admission rules for a whole PropagationSpec: the placement rules, valid label
/// selectors, named resource selectors when `preemption: Always`, `propagateDeps` and
/// consistent purge settings for application failover, and no `dispatching: true` together
/// with `dispatchingOnClusters.clusterNames`. Every broken rule is reported.
pub fn validate_propagation_spec(spec_value: &Value, spec: &PropagationSpec) -> Result<(), String> {
    let mut errs = Vec::new();
    placement_errors(&spec.placement, &mut errs);
    for (i, rs) in spec.resource_selectors.iter().enumerate() {
        if let Some(sel) = &rs.label_selector
            && let Err(e) = selector::validate_label_selector(sel)
        {
            errs.push(format!("spec.resourceSelectors[{i}].labelSelector: {e}"));
        }
        if spec.preemption == "Always" && rs.name.is_empty() {
            errs.push(format!(
                "spec.resourceSelectors[{i}].name: name cannot be empty if preemption is Always, the empty name may cause unexpected resources preemption"
            ));
        }
    }
    if let Some(app) = spec_value
        .pointer("/failover/application")
        .filter(|v| !v.is_null())
    {
        // the mutating webhook turns propagateDeps on for ServiceImport selectors
        let deps = spec_value
            .get("propagateDeps")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || spec.resource_selectors.iter().any(|rs| {
                rs.kind == "ServiceImport" && rs.api_version == "multicluster.x-k8s.io/v1alpha1"
            });
        if !deps {
            errs.push(
                "spec.propagateDeps: Invalid value: false: application failover is set, propagateDeps must be true".into(),
            );
        }
        let path = "spec.failover.application";
        if let Some(t) = app
            .pointer("/decisionConditions/tolerationSeconds")
            .and_then(Value::as_i64)
            && t < 0
        {
            errs.push(format!(
                "{path}.decisionConditions.tolerationSeconds: Invalid value: {t}: must be greater than or equal to 0"
            ));
        }
        let purge = app.get("purgeMode").and_then(Value::as_str).unwrap_or("");
        let graceful = matches!(purge, "Gracefully" | "Graciously");
        // the mutating webhook defaults gracePeriodSeconds to 600 for a graceful purge
        let grace = app
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or(graceful.then_some(600));
        if let Some(g) = grace
            && !purge.is_empty()
            && !graceful
        {
            errs.push(format!(
                "{path}.gracePeriodSeconds: Invalid value: {g}: only takes effect when purgeMode is gracefully"
            ));
        }
        if grace.is_none() && graceful {
            errs.push(format!(
                "{path}.gracePeriodSeconds: Invalid value: null: should not be empty when purgeMode is gracefully"
            ));
        }
        if let Some(g) = grace
            && g <= 0
        {
            errs.push(format!(
                "{path}.gracePeriodSeconds: Invalid value: {g}: must be greater than 0"
            ));
        }
    }
    if let Some(s) = spec_value.get("suspension") {
        let dispatching = s.get("dispatching").and_then(Value::as_bool) == Some(true);
        let named = s
            .pointer("/dispatchingOnClusters/clusterNames")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if dispatching && named {
            errs.push("spec.suspension: suspension dispatching cannot co-exist with dispatchingOnClusters.clusterNames".into());
        }
    }
    finish(errs)
}

fn json_pointer_ok(path: &str) -> bool {
    path.is_empty() || path.starts_with('/')
}

fn pointer_error(path: &str, value: &str) -> String {
    format!("{path}: Invalid value: {value:?}: JSON pointer must be empty or start with a \"/\"")
}

/// Karmada's admission rules for an OverrideSpec: the legacy `targetCluster`/`overriders` pair
/// and `overrideRules` are exclusive; field selectors, label and annotation keys and values,
/// JSON pointers, and field overriders (exactly one of `yaml`/`json`, values for `add` and
/// `replace`, none for `remove`) are checked. Every broken rule is reported.
pub fn validate_override_spec(spec: &OverrideSpec) -> Result<(), String> {
    let mut errs = Vec::new();
    if let Some(t) = &spec.target_cluster
        && let Err(e) = selector::validate_affinity(t)
    {
        errs.push(format!("spec.targetCluster.fieldSelector: {e}"));
    }
    if !spec.override_rules.is_empty() {
        if spec.target_cluster.is_some() {
            errs.push("spec.targetCluster: overrideRules and targetCluster can't co-exist".into());
        }
        if spec
            .overriders
            .as_ref()
            .is_some_and(|o| !overriders_empty(o))
        {
            errs.push("spec.overriders: overrideRules and overriders can't co-exist".into());
        }
    }
    for (r, rule) in spec.override_rules.iter().enumerate() {
        let rule_path = format!("spec.overrideRules[{r}]");
        let o = &rule.overriders;
        for (j, a) in o.annotations_overrider.iter().enumerate() {
            for key in a.value.keys() {
                if let Err(e) = selector::validate_qualified_name(&key.to_ascii_lowercase()) {
                    errs.push(format!(
                        "{rule_path}.overriders.annotationsOverrider[{j}].value: Invalid value: {e}"
                    ));
                }
            }
        }
        for (j, l) in o.labels_overrider.iter().enumerate() {
            for (key, value) in &l.value {
                if let Err(e) = selector::validate_qualified_name(key)
                    .and_then(|()| selector::validate_label_value(value))
                {
                    errs.push(format!(
                        "{rule_path}.overriders.labelsOverrider[{j}].value: Invalid value: {e}"
                    ));
                }
            }
        }
        for (j, i) in o.image_overrider.iter().enumerate() {
            if let Some(pred) = &i.predicate
                && !json_pointer_ok(&pred.path)
            {
                errs.push(pointer_error(
                    &format!("{rule_path}.overriders.imageOverrider[{j}].predicate.path"),
                    &pred.path,
                ));
            }
        }
        for (j, f) in o.field_overrider.iter().enumerate() {
            let path = format!("{rule_path}.overriders.fieldOverrider[{j}]");
            match (f.yaml.is_empty(), f.json.is_empty()) {
                (false, false) => errs.push(format!(
                    "{path}: FieldOverrider has both YAML and JSON set. Only one is allowed"
                )),
                (true, true) => errs.push(format!(
                    "{path}: FieldOverrider has neither YAML nor JSON set. One is required"
                )),
                _ => {}
            }
            if !json_pointer_ok(&f.field_path) {
                errs.push(pointer_error(&format!("{path}.fieldPath"), &f.field_path));
            }
            for (kind, ops) in [("json", &f.json), ("yaml", &f.yaml)] {
                for (k, op) in ops.iter().enumerate() {
                    let op_path = format!("{path}.{kind}[{k}]");
                    if !json_pointer_ok(&op.sub_path) {
                        errs.push(pointer_error(&format!("{op_path}.subPath"), &op.sub_path));
                    }
                    let has_value = op.value.as_ref().is_some_and(|v| !v.is_null());
                    match op.operator.as_str() {
                        "add" | "replace" if !has_value => errs.push(format!(
                            "{op_path}.value: value is required for add or replace operation"
                        )),
                        "remove" if has_value => errs.push(format!(
                            "{op_path}.value: value is not allowed for remove operation"
                        )),
                        _ => {}
                    }
                }
            }
        }
        if let Some(t) = &rule.target_cluster
            && let Err(e) = selector::validate_affinity(t)
        {
            errs.push(format!("{rule_path}.targetCluster.fieldSelector: {e}"));
        }
    }
    finish(errs)
}

/// Karmada's `emptyOverrides`: no plaintext, image, command, args, label or annotation edits.
fn overriders_empty(o: &crate::model::Overriders) -> bool {
    o.plaintext.is_empty()
        && o.image_overrider.is_empty()
        && o.command_overrider.is_empty()
        && o.args_overrider.is_empty()
        && o.labels_overrider.is_empty()
        && o.annotations_overrider.is_empty()
}

fn kind_info(api_version: &str, kind: &str) -> Option<(PolicyCrd, String)> {
    let (group, version) = api_version.split_once('/')?;
    if version != POLICY_VERSION
        || (group != KARMADA_POLICY_GROUP && group != ISTHMUS_PLACEMENT_GROUP)
    {
        return None;
    }
    let crd = match kind {
        "PropagationPolicy" => PolicyCrd::PropagationPolicy,
        "ClusterPropagationPolicy" => PolicyCrd::ClusterPropagationPolicy,
        "OverridePolicy" => PolicyCrd::OverridePolicy,
        "ClusterOverridePolicy" => PolicyCrd::ClusterOverridePolicy,
        _ => return None,
    };
    Some((crd, group.to_string()))
}

/// One policy document of either family.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyPolicy {
    /// PropagationPolicy or ClusterPropagationPolicy.
    Propagation(PropagationPolicy),
    /// OverridePolicy or ClusterOverridePolicy.
    Override(OverridePolicy),
}

impl AnyPolicy {
    fn key(&self) -> (&'static str, &str, &str) {
        match self {
            Self::Propagation(p) => (p.kind(), &p.namespace, &p.name),
            Self::Override(p) => (p.kind(), &p.namespace, &p.name),
        }
    }
}

/// Read one policy document (`index` names it in errors): schema check, Karmada's admission
/// rules and defaulting. A controller can call this per object and skip the bad ones.
pub fn policy_from_value(
    source_name: &str,
    index: usize,
    doc: &Value,
) -> Result<AnyPolicy, LoadError> {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some((crd, group)) = kind_info(api_version, kind) else {
        return Err(LoadError::UnsupportedKind {
            source_name: source_name.into(),
            index,
            api_version: api_version.into(),
            kind: kind.into(),
        });
    };
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let display = if namespace.is_empty() {
        name.clone()
    } else {
        format!("{namespace}/{name}")
    };
    let invalid = |message: String| LoadError::Invalid {
        source_name: source_name.into(),
        kind: kind.into(),
        name: display.clone(),
        message,
    };
    schema::validate(crd, doc).map_err(|e| match e {
        ValidateError::Schema(s) => invalid(s.to_string()),
        ValidateError::Load(l) => invalid(l.to_string()),
    })?;
    if name.is_empty() {
        return Err(invalid("metadata.name: must not be empty".into()));
    }
    let scope = match crd {
        PolicyCrd::PropagationPolicy | PolicyCrd::OverridePolicy => PolicyScope::Namespaced,
        _ => PolicyScope::Cluster,
    };
    let namespace = match scope {
        PolicyScope::Namespaced if namespace.is_empty() => "default".to_string(),
        PolicyScope::Namespaced => namespace,
        PolicyScope::Cluster => String::new(),
    };
    let spec_value = doc.get("spec").cloned().unwrap_or(Value::Null);
    match crd {
        PolicyCrd::PropagationPolicy | PolicyCrd::ClusterPropagationPolicy => {
            if spec_value.is_null() {
                return Err(invalid("spec: missing required field".into()));
            }
            if name.len() > 63 {
                return Err(invalid(format!(
                    "metadata.name: {kind}'s name should be no more than 63 characters"
                )));
            }
            let mut spec: PropagationSpec = serde_path_to_error::deserialize(&spec_value)
                .map_err(|e| invalid(format!("spec.{}: {}", e.path(), e.inner())))?;
            validate_propagation_spec(&spec_value, &spec).map_err(invalid)?;
            if scope == PolicyScope::Namespaced {
                default_selector_namespaces(&mut spec.resource_selectors, &namespace);
            }
            default_placement(&mut spec.placement);
            Ok(AnyPolicy::Propagation(PropagationPolicy {
                scope,
                group,
                namespace,
                name,
                spec,
            }))
        }
        PolicyCrd::OverridePolicy | PolicyCrd::ClusterOverridePolicy => {
            let mut spec: OverrideSpec = if spec_value.is_null() {
                OverrideSpec::default()
            } else {
                serde_path_to_error::deserialize(&spec_value)
                    .map_err(|e| invalid(format!("spec.{}: {}", e.path(), e.inner())))?
            };
            validate_override_spec(&spec).map_err(invalid)?;
            if scope == PolicyScope::Namespaced {
                default_selector_namespaces(&mut spec.resource_selectors, &namespace);
            }
            Ok(AnyPolicy::Override(OverridePolicy {
                scope,
                group,
                namespace,
                name,
                spec,
            }))
        }
    }
}

fn push(set: &mut PolicySet, p: AnyPolicy) {
    match p {
        AnyPolicy::Propagation(p) => set.propagation.push(p),
        AnyPolicy::Override(p) => set.overrides.push(p),
    }
}

fn duplicate(source_name: &str, index: usize, p: &AnyPolicy) -> LoadError {
    let (kind, namespace, name) = p.key();
    let display = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    };
    LoadError::Invalid {
        source_name: source_name.into(),
        kind: kind.into(),
        name: display.clone(),
        message: format!("document {index}: duplicate {kind} {display:?} in the same input"),
    }
}

/// Read policies from already-parsed documents; the first bad document fails the whole set.
pub fn policies_from_values(source_name: &str, docs: &[Value]) -> Result<PolicySet, LoadError> {
    let mut set = PolicySet::default();
    let mut seen = std::collections::BTreeSet::new();
    for (index, doc) in docs.iter().enumerate() {
        let p = policy_from_value(source_name, index, doc)?;
        let (kind, namespace, name) = p.key();
        if !seen.insert((kind, namespace.to_string(), name.to_string())) {
            return Err(duplicate(source_name, index, &p));
        }
        push(&mut set, p);
    }
    Ok(set)
}

/// Read policies, skipping (and logging) bad documents; returns the good ones and the errors.
pub fn policies_from_values_lenient(
    source_name: &str,
    docs: &[Value],
) -> (PolicySet, Vec<LoadError>) {
    let mut set = PolicySet::default();
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (index, doc) in docs.iter().enumerate() {
        let parsed = policy_from_value(source_name, index, doc).and_then(|p| {
            let (kind, namespace, name) = p.key();
            if seen.insert((kind, namespace.to_string(), name.to_string())) {
                Ok(p)
            } else {
                Err(duplicate(source_name, index, &p))
            }
        });
        match parsed {
            Ok(p) => push(&mut set, p),
            Err(e) => {
                tracing::warn!(source = source_name, index, error = %e, "skipping invalid policy");
                errors.push(e);
            }
        }
    }
    (set, errors)
}

/// Read policies from multi-document YAML.
pub fn policies_from_yaml(source_name: &str, text: &str) -> Result<PolicySet, LoadError> {
    policies_from_values(source_name, &parse_documents(source_name, text)?)
}

/// Read clusters from multi-document YAML (MemberCluster and/or Karmada Cluster).
pub fn clusters_from_yaml(source_name: &str, text: &str) -> Result<Vec<ClusterInfo>, LoadError> {
    let docs = parse_documents(source_name, text)?;
    cluster::clusters_from_values(&docs).map_err(|source| LoadError::Cluster {
        source_name: source_name.into(),
        source: Box::new(source),
    })
}

/// Read exactly one resource template.
pub fn resource_from_yaml(source_name: &str, text: &str) -> Result<Resource, LoadError> {
    let mut docs = parse_documents(source_name, text)?;
    if docs.len() != 1 {
        return Err(LoadError::ResourceCount {
            source_name: source_name.into(),
            count: docs.len(),
        });
    }
    let doc = docs.remove(0);
    Resource::from_value(doc).map_err(|source| LoadError::Resource {
        source_name: source_name.into(),
        source: Box::new(source),
    })
}

/// Read a previous assignment: a YAML map of cluster -> replicas.
pub fn previous_from_yaml(
    source_name: &str,
    text: &str,
) -> Result<BTreeMap<String, i32>, LoadError> {
    let docs = parse_documents(source_name, text).map_err(|e| match e {
        LoadError::NotAMap { .. } => LoadError::Previous {
            source_name: source_name.into(),
            message: "expected a map of cluster name to replicas".into(),
        },
        other => other,
    })?;
    let mut out = BTreeMap::new();
    for doc in docs {
        let map = doc.as_object().ok_or_else(|| LoadError::Previous {
            source_name: source_name.into(),
            message: "expected a map of cluster name to replicas".into(),
        })?;
        for (k, v) in map {
            let n = v
                .as_i64()
                .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
                .ok_or_else(|| LoadError::Previous {
                    source_name: source_name.into(),
                    message: format!("{k}: replicas must be a non-negative integer, got {v}"),
                })?;
            out.insert(k.clone(), i32::try_from(n).unwrap_or(i32::MAX));
        }
    }
    Ok(out)
}
