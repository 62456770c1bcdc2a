//! YAML output with one fixed style: block collections, lists at their key's indent,
//! multi-line strings as literal blocks, long single-line strings (base64 data) unwrapped.
//! Every crate that writes YAML for users writes it through here.

use serde::Serialize;

/// A document of a stream that could not be serialized.
#[derive(Debug, thiserror::Error)]
#[error("document {index}: {source}")]
pub struct DocumentError {
    /// Zero-based position of the document in the stream.
    pub index: usize,
    /// The serializer's error.
    #[source]
    pub source: serde_saphyr::SerializeError,
}

/// Where `---` separators go in a multi-document stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Separators {
    /// Before every document, the first included (`kubectl get -o yaml` streams, installs).
    Leading,
    /// Only between documents.
    Between,
}

/// Serializes `value` as one YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    // Never fold long scalars: base64 and tokens stay on one line, as kubectl writes them.
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(value, options)
}

/// Serializes `objects` as one multi-document YAML stream, every document ending in a newline.
pub fn documents<T: Serialize>(
    objects: &[T],
    separators: Separators,
) -> Result<String, DocumentError> {
    let mut out = String::new();
    for (index, obj) in objects.iter().enumerate() {
        if index > 0 || separators == Separators::Leading {
            out.push_str("---\n");
        }
        let doc = to_string(obj).map_err(|source| DocumentError { index, source })?;
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_stay_on_one_line() {
        let long = "A".repeat(300);
        let text = to_string(&serde_json::json!({"data": long, "multi": "a\nb\n"})).unwrap();
        assert_eq!(text, format!("data: {long}\nmulti: |\n  a\n  b\n"));
    }

    #[test]
    fn streams_place_separators_as_asked() {
        let docs = [serde_json::json!({"a": 1}), serde_json::json!({"b": 2})];
        assert_eq!(
            documents(&docs, Separators::Leading).unwrap(),
            "---\na: 1\n---\nb: 2\n"
        );
        assert_eq!(
            documents(&docs, Separators::Between).unwrap(),
            "a: 1\n---\nb: 2\n"
        );
        let none: [serde_json::Value; 0] = [];
        assert_eq!(documents(&none, Separators::Leading).unwrap(), "");
    }
}
