//! Helpers shared by the install tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// JSON pointers where `a` and `b` differ. Object key order is ignored, and numbers compare by
/// value (`0` equals `0.0`: k8s-openapi holds schema bounds as `f64`).
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

/// Parses `v` as `T` and checks that serializing it back gives `v` again: no unknown field
/// was dropped and nothing was added.
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
