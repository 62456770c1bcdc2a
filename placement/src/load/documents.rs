//! Multi-document YAML into JSON values.

use serde_json::Value;

use super::error::LoadError;

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
