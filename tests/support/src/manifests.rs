//! Manifests as JSON: YAML streams parsed into values, and round trips through typed structs
//! (k8s-openapi and the project's CRD types) that must lose and add nothing.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The documents of a YAML stream, empty ones dropped; `origin` names it in errors.
pub fn yaml_documents(text: &str, origin: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", origin.display()))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Parses `v` as `T` and checks that serializing it back gives `v` again: no unknown field
/// was dropped and nothing was added.
#[track_caller]
pub fn typed<T: DeserializeOwned + Serialize>(v: &Value) -> T {
    let t: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"));
    let back = serde_json::to_value(&t).unwrap();
    let mut diffs = Vec::new();
    diff_paths("", v, &back, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{} {}: changed by the typed round trip: {diffs:#?}",
        v["kind"],
        v["metadata"]["name"]
    );
    t
}

/// JSON pointers (below `at`) where `a` and `b` differ. Object key order is ignored, and
/// numbers compare by value (`0` equals `0.0`: k8s-openapi holds schema bounds as `f64`).
pub fn diff_paths(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => diff_paths(&format!("{at}/{k}"), va, vb, out),
                    None => out.push(format!("{at}/{k}: dropped")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{at}/{k}: added"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_paths(&format!("{at}/{i}"), va, vb, out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a != b => out.push(format!("{at}: {a} != {b}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_paths_names_dropped_added_and_changed_fields() {
        let mut out = Vec::new();
        diff_paths(
            "",
            &json!({"a": 1, "b": {"c": [1, 2]}, "n": 0}),
            &json!({"b": {"c": [1, 3]}, "d": true, "n": 0.0}),
            &mut out,
        );
        assert_eq!(out, vec!["/a: dropped", "/b/c/1: 2 != 3", "/d: added"]);
    }
}
