//! Reading the fields the printers show from an object's JSON: text, integers, list and map
//! sizes, the name and the age.

use jiff::Timestamp;
use serde_json::Value;

use super::format::{since, timestamp};

/// The string at a JSON pointer (empty when missing or not a string).
pub(super) fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The integer at a JSON pointer (0 when missing).
pub(super) fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The number of items of the list or map at a JSON pointer (0 when missing).
pub(super) fn count(obj: &Value, pointer: &str) -> i64 {
    let n = match obj.pointer(pointer) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The list at a JSON pointer (empty when missing).
pub(super) fn list<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// `metadata.name`.
pub(super) fn object_name(obj: &Value) -> &str {
    text(obj, "/metadata/name")
}

/// The AGE cell: time since `metadata.creationTimestamp`.
pub(super) fn age(obj: &Value, now: Timestamp) -> String {
    since(timestamp(obj.pointer("/metadata/creationTimestamp")), now)
}
