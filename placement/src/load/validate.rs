//! Karmada's admission rules (its validating webhook) for placements, PropagationSpecs and
//! OverrideSpecs; every broken rule is reported.

use serde_json::Value;

use crate::model::{OverrideSpec, Placement, PropagationSpec};
use crate::selector;

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
        if let Some(overflow) = &t.overflow_affinities {
            overflow_errors(p, i, t, overflow, errs);
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

/// Karmada's `IsOverflowSchedulingAllowed` after its defaulting (`Divided`, and `Weighted`
/// for a divided strategy without a preference): aggregated, or weighted by dynamic weight.
fn overflow_allowed(p: &Placement) -> bool {
    let Some(rs) = &p.replica_scheduling else {
        return false;
    };
    if !matches!(rs.replica_scheduling_type.as_str(), "" | "Divided") {
        return false;
    }
    match rs.replica_division_preference.as_str() {
        "Aggregated" => true,
        "" | "Weighted" => rs
            .weight_preference
            .as_ref()
            .is_some_and(|w| !w.dynamic_weight.is_empty()),
        _ => false,
    }
}

/// Karmada's `ValidateOverflowAffinities` and the strategy rule of `ValidatePlacement` for
/// the overflow tiers of `clusterAffinities[i]`.
fn overflow_errors(
    p: &Placement,
    i: usize,
    term: &crate::model::ClusterAffinityTerm,
    overflow: &[crate::model::OverflowClusterAffinity],
    errs: &mut Vec<String>,
) {
    let path = format!("spec.placement.clusterAffinities[{i}].overflowAffinities");
    if !overflow_allowed(p) {
        errs.push(format!(
            "{path}: overflowAffinities can only be used together with dynamic weight or aggregated scheduling"
        ));
    }
    let a = &term.affinity;
    if a.label_selector.is_none()
        && a.field_selector.is_none()
        && a.cluster_names.is_empty()
        && a.exclude.is_empty()
    {
        errs.push(format!(
            "{path}: overflowAffinities can only be used together with the inline ClusterAffinity"
        ));
    }
    let mut names = std::collections::BTreeSet::from([term.affinity_name.as_str()]);
    for (j, o) in overflow.iter().enumerate() {
        if let Err(e) = selector::validate_qualified_name(&o.affinity_name) {
            errs.push(format!("{path}[{j}].affinityName: Invalid value: {e}"));
        }
        if !names.insert(o.affinity_name.as_str()) {
            errs.push(format!(
                "{path}[{j}].affinityName: Invalid value: {:?}: overflow affinity name must be unique and must not duplicate the primary group's affinityName",
                o.affinity_name
            ));
        }
        if let Err(e) = selector::validate_affinity(&o.affinity) {
            errs.push(format!("{path}[{j}].fieldSelector: {e}"));
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
