//! What marks an object as written by Isthmus: the ownership label
//! ([`MANAGED_BY`]`=`[`MANAGED_BY_VALUE`]) on everything it writes, and the template label on
//! the copies propagation places in members.

use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use kube::api::DynamicObject;
use serde_json::Value;

/// Label on every object propagation writes into a member: names its source template.
pub const TEMPLATE_LABEL: &str = "placement.isthmus.io/template";

/// Whether a JSON object carries the Isthmus ownership label.
pub fn has_owner_label(obj: &Value) -> bool {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY))
        .and_then(Value::as_str)
        == Some(MANAGED_BY_VALUE)
}

/// Whether a watched object carries the Isthmus ownership label.
pub fn is_owned(obj: &DynamicObject) -> bool {
    obj.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// The label selector pruning lists with: only objects carrying the ownership label, and not
/// the copies placement propagated (those carry the template label and are pruned by
/// propagation alone, e.g. a Secret that followed a workload).
pub fn prune_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE},!{TEMPLATE_LABEL}")
}
