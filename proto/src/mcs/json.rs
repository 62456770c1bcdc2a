//! Reading fields of a Kubernetes object given as JSON: the helpers every object reader shares.

use serde_json::Value;

use super::ConvertError;

/// The string at a JSON pointer, if there is one.
pub(super) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// `Kind namespace/name`, as errors name an object (empty parts when unset).
pub(super) fn object_name(kind: &str, v: &Value) -> String {
    format!(
        "{kind} {}/{}",
        str_at(v, "/metadata/namespace").unwrap_or(""),
        str_at(v, "/metadata/name").unwrap_or("")
    )
}

/// The object's namespace and name, both required.
pub(super) fn ns_name(object: &str, v: &Value) -> Result<(String, String), ConvertError> {
    let ns = str_at(v, "/metadata/namespace")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConvertError::new(object, "metadata.namespace", "missing"))?;
    let name = str_at(v, "/metadata/name")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConvertError::new(object, "metadata.name", "missing"))?;
    Ok((ns.to_owned(), name.to_owned()))
}

/// An optional list: unset and `null` are empty, as Kubernetes reads them.
pub(super) fn list<'a>(
    object: &str,
    field: impl FnOnce() -> String,
    v: Option<&'a Value>,
) -> Result<&'a [Value], ConvertError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(list)) => Ok(list),
        Some(_) => Err(ConvertError::new(object, field(), "not a list")),
    }
}

/// A value as errors quote it: strings quoted and escaped as Rust shows them, other JSON as
/// JSON.
pub(super) fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// An IP address written as a string; the text is kept as written.
pub(super) fn ip_address(
    object: &str,
    field: impl FnOnce() -> String,
    v: &Value,
) -> Result<String, ConvertError> {
    match v.as_str() {
        Some(s) if s.parse::<std::net::IpAddr>().is_ok() => Ok(s.to_owned()),
        _ => Err(ConvertError::new(
            object,
            field(),
            format!("{} is not an IP address", shown(v)),
        )),
    }
}
