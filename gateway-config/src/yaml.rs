//! YAML output with one fixed style: block collections, lists at their key's indent,
//! multi-line strings as literal blocks, long single-line strings (base64 data) unwrapped.

use serde::Serialize;

/// Serializes `value` as one YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    // Never fold long scalars: base64 and tokens stay on one line, as kubectl writes them.
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(value, options)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn long_strings_stay_on_one_line() {
        let long = "A".repeat(300);
        let text = super::to_string(&serde_json::json!({"data": long, "multi": "a\nb\n"})).unwrap();
        assert_eq!(text, format!("data: {long}\nmulti: |\n  a\n  b\n"));
    }
}
