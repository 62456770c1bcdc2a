//! One policy document: its kind, the schema check, Karmada's admission rules and defaulting.

use serde_json::Value;

use super::defaults::{default_placement, default_selector_namespaces};
use super::error::LoadError;
use super::validate::{validate_override_spec, validate_propagation_spec};
use crate::model::{
    ISTHMUS_PLACEMENT_GROUP, KARMADA_POLICY_GROUP, OverridePolicy, OverrideSpec, POLICY_VERSION,
    PolicyScope, PropagationPolicy, PropagationSpec,
};
use crate::schema::{self, PolicyCrd, ValidateError};

/// The CRD and API group of a policy's `apiVersion` and `kind`; `None` for anything else.
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
    pub(super) fn key(&self) -> (&'static str, &str, &str) {
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
