//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

use serde_json::{Map, Value};

use crate::registry::{ListType, ResourceInfo};

/// A patch that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch body is not valid JSON of the expected shape.
    #[error("the patch body is malformed: {0}")]
    Malformed(String),
    /// A JSON patch operation failed (test failed, path missing...).
    #[error("the JSON patch could not be applied: {0}")]
    JsonPatch(String),
    /// A strategic merge patch directive is invalid.
    #[error("invalid strategic merge patch: {0}")]
    Strategic(String),
}

/// The patch types the server understands (by Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml`
    Apply,
}

impl PatchType {
    /// Reads a Content-Type header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => {
                if base.ends_with("cbor") {
                    None
                } else {
                    Some(Self::Apply)
                }
            }
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic merge patch to `target` in place.
pub fn apply(
    kind: PatchType,
    target: &mut Value,
    body: &[u8],
    info: &ResourceInfo,
) -> Result<(), PatchError> {
    match kind {
        PatchType::Merge => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| PatchError::Malformed(e.to_string()))?;
            json_patch::merge(target, &patch);
            Ok(())
        }
        PatchType::Json => {
            let patch: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| PatchError::Malformed(e.to_string()))?;
            json_patch::patch(target, &patch).map_err(|e| PatchError::JsonPatch(e.to_string()))
        }
        PatchType::Strategic => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| PatchError::Malformed(e.to_string()))?;
            strategic_merge(target, &patch, info)
        }
        PatchType::Apply => Err(PatchError::Malformed(
            "apply patches are handled by server-side apply".into(),
        )),
    }
}

/// Strategic merge patch for a kind: keyed lists merge per key, sets merge as unions, other lists
/// are replaced; `$patch: replace|delete`, `$deleteFromPrimitiveList/<f>`, `$retainKeys` are
/// honoured and `$setElementOrder/<f>` is accepted (order is kept as in the live object).
pub fn strategic_merge(
    target: &mut Value,
    patch: &Value,
    info: &ResourceInfo,
) -> Result<(), PatchError> {
    let Value::Object(pmap) = patch else {
        return Err(PatchError::Malformed(
            "a strategic merge patch must be a JSON object".into(),
        ));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(tmap) = target {
        match merge_map(tmap, pmap, info)? {
            MapOutcome::Keep => {}
            MapOutcome::Replace(v) => *target = Value::Object(v),
            MapOutcome::Delete => *target = Value::Object(Map::new()),
        }
    }
    Ok(())
}

enum MapOutcome {
    Keep,
    Replace(Map<String, Value>),
    Delete,
}

fn directive(p: &Map<String, Value>) -> Option<&str> {
    p.get("$patch").and_then(Value::as_str)
}

/// Removes every `$`-directive from a value, recursively.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|i| {
                    !i.as_object()
                        .is_some_and(|m| m.len() == 1 && m.contains_key("$patch"))
                })
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn merge_map(
    t: &mut Map<String, Value>,
    p: &Map<String, Value>,
    info: &ResourceInfo,
) -> Result<MapOutcome, PatchError> {
    match directive(p) {
        Some("replace") => {
            if let Value::Object(m) = strip(&Value::Object(p.clone())) {
                return Ok(MapOutcome::Replace(m));
            }
        }
        Some("delete") => return Ok(MapOutcome::Delete),
        Some("merge") | None => {}
        Some(other) => {
            return Err(PatchError::Strategic(format!(
                "unknown $patch directive {other:?}"
            )));
        }
    }
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()) || p.contains_key(k));
    }
    for (k, pv) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (t.get_mut(field), pv) {
                list.retain(|item| !del.contains(item));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match pv {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(pm) => {
                let existing = t.get_mut(k);
                match existing {
                    Some(Value::Object(tm)) => match merge_map(tm, pm, info)? {
                        MapOutcome::Keep => {}
                        MapOutcome::Replace(m) => {
                            t.insert(k.clone(), Value::Object(m));
                        }
                        MapOutcome::Delete => {
                            t.remove(k);
                        }
                    },
                    _ => {
                        if directive(pm) == Some("delete") {
                            t.remove(k);
                        } else {
                            t.insert(k.clone(), strip(pv));
                        }
                    }
                }
            }
            Value::Array(pa) => {
                let merged = merge_list(k, t.get(k), pa, info)?;
                t.insert(k.clone(), merged);
            }
            scalar => {
                t.insert(k.clone(), scalar.clone());
            }
        }
    }
    Ok(MapOutcome::Keep)
}

fn merge_list(
    field: &str,
    current: Option<&Value>,
    patch: &[Value],
    info: &ResourceInfo,
) -> Result<Value, PatchError> {
    let replace_all = patch.iter().any(|i| {
        i.as_object().and_then(directive) == Some("replace")
            && i.as_object().is_some_and(|m| m.len() == 1)
    });
    let cur: Vec<Value> = match current {
        Some(Value::Array(a)) if !replace_all => a.clone(),
        _ => Vec::new(),
    };
    match info.list_type(field) {
        ListType::Atomic => Ok(strip(&Value::Array(patch.to_vec()))),
        ListType::Set => {
            let mut out = cur;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListType::Map(keys) => {
            let key = keys.first().cloned().unwrap_or_default();
            let mut out = cur;
            for item in patch {
                let Value::Object(pm) = item else {
                    return Err(PatchError::Strategic(format!(
                        "list {field} holds a non-object item"
                    )));
                };
                if pm.len() == 1 && directive(pm).is_some() {
                    continue;
                }
                let Some(kv) = pm.get(&key) else {
                    return Err(PatchError::Strategic(format!(
                        "map in list {field} lacks its merge key {key:?}"
                    )));
                };
                let pos = out.iter().position(|o| o.get(&key) == Some(kv));
                match (pos, directive(pm)) {
                    (Some(i), Some("delete")) => {
                        out.remove(i);
                    }
                    (None, Some("delete")) => {}
                    (Some(i), Some("replace")) => out[i] = strip(item),
                    (Some(i), _) => {
                        if let Value::Object(tm) = &mut out[i] {
                            match merge_map(tm, pm, info)? {
                                MapOutcome::Keep => {}
                                MapOutcome::Replace(m) => out[i] = Value::Object(m),
                                MapOutcome::Delete => {
                                    out.remove(i);
                                }
                            }
                        }
                    }
                    (None, _) => out.push(strip(item)),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::registry::builtins;
    use serde_json::json;

    fn info(kind: &str) -> ResourceInfo {
        builtins().into_iter().find(|r| r.kind == kind).unwrap()
    }

    #[test]
    fn keyed_lists_merge_by_key() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}],
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        strategic_merge(&mut pod, &patch, &info("Pod")).unwrap();
        assert_eq!(
            pod,
            json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}})
        );
    }

    #[test]
    fn delete_and_replace_directives() {
        let mut svc = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
            "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}});
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}},
            "spec": {"ports": [{"port": 80, "$patch": "delete"}]}});
        strategic_merge(&mut svc, &patch, &info("Service")).unwrap();
        assert_eq!(
            svc,
            json!({"metadata": {"labels": {"c": "3"}}, "spec": {"ports": [{"port": 443, "name": "https"}]}})
        );
    }

    #[test]
    fn atomic_lists_are_replaced_and_sets_unioned() {
        let mut es =
            json!({"metadata": {"finalizers": ["a"]}, "endpoints": [{"addresses": ["1.1.1.1"]}]});
        let patch =
            json!({"metadata": {"finalizers": ["b"]}, "endpoints": [{"addresses": ["2.2.2.2"]}]});
        strategic_merge(&mut es, &patch, &info("EndpointSlice")).unwrap();
        assert_eq!(
            es,
            json!({"metadata": {"finalizers": ["a", "b"]}, "endpoints": [{"addresses": ["2.2.2.2"]}]})
        );
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        strategic_merge(&mut es, &patch, &info("EndpointSlice")).unwrap();
        assert_eq!(es["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn whole_list_replace_directive() {
        let mut pod = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"volumes": [{"$patch": "replace"}, {"name": "c"}]}});
        strategic_merge(&mut pod, &patch, &info("Pod")).unwrap();
        assert_eq!(pod, json!({"spec": {"volumes": [{"name": "c"}]}}));
    }
}
