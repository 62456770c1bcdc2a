//! How the API server spells values in Table cells: elapsed times ("5m30s"), Go's `%v` of a
//! float, Go's JSON encoding (what a `string` column shows for a list or a map), label maps
//! and label selectors.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// Reads a Kubernetes timestamp (RFC 3339, with or without fractional seconds); `None` for a
/// missing, empty or unreadable one (the API server would print it as the zero time).
pub fn timestamp(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<Timestamp>().ok())
}

/// The elapsed time since `t` as the printers show it, `<unknown>` for the zero time
/// (`translateTimestampSince` in `pkg/printers/internalversion/printers.go`).
pub fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

/// A duration with two or three significant figures: `45s`, `5m30s`, `2h5m`, `3d4h`, `2y10d`
/// (`HumanDuration` in `k8s.io/apimachinery/pkg/util/duration`). A clock slightly behind
/// gives `0s`; more than one second in the future gives `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let dy = days % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// Splits the shortest decimal form of `f` into its sign, its digits and the exponent of the
/// first digit (`1234.5` is `("", "12345", 3)`).
fn shortest_digits(f: f64) -> (&'static str, String, i64) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    (sign, digits, exp.parse().unwrap_or(0))
}

/// `d.ddde±XX` with at least two exponent digits (`pad`) or as few as needed.
fn scientific(sign: &str, digits: &str, exp: i64, pad: bool) -> String {
    let (first, rest) = digits.split_at(digits.len().min(1));
    let dot = if rest.is_empty() { "" } else { "." };
    let esign = if exp < 0 { '-' } else { '+' };
    if pad {
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs())
    } else {
        format!("{sign}{first}{dot}{rest}e{esign}{}", exp.abs())
    }
}

/// A float as Go's `fmt.Print` writes it (`%v`, shortest digits, exponent form from 1e+06 or
/// below 1e-04): `1.5`, `100000`, `1e+06`, `2.5e-05`.
pub fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (sign, digits, exp) = shortest_digits(f);
    if f != 0.0 && !(-4..6).contains(&exp) {
        return scientific(sign, &digits, exp, true);
    }
    format!("{f}")
}

/// A float as Go's `encoding/json` writes it: plain decimals, exponent form below 1e-6 or
/// from 1e21 (`1e-7`, `1e+21`).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (sign, digits, exp) = shortest_digits(f);
        return scientific(sign, &digits, exp, false);
    }
    format!("{f}")
}

/// A number as Go prints the decoded JSON value: integers in full, floats as [`go_float`].
pub fn go_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        n.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` does (HTML-safe: `<`, `>` and
/// `&` as `\u003c`, `\u003e`, `\u0026`; U+2028 and U+2029 escaped too).
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value as Go's `json.Marshal` writes a decoded object: compact, map keys sorted.
pub fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, v);
    out
}

fn write_go_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
        Value::Number(n) => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => go_json_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            out.push('{');
            for (i, (k, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(out, k);
                out.push(':');
                write_go_json(out, item);
            }
            out.push('}');
        }
    }
}

/// A label map as `k1=v1,k2=v2` sorted by key, `<none>` when empty or missing
/// (`labels.FormatLabels`).
pub fn format_labels(v: Option<&Value>) -> String {
    let sorted: BTreeMap<&String, &str> = v
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
        .collect();
    if sorted.is_empty() {
        return "<none>".into();
    }
    sorted
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `metav1.LabelSelector` as the selector string `labels.Selector.String()` gives
/// (`metav1.LabelSelectorAsSelector`): requirements sorted by key, `k=v`, `k in (a,b)`,
/// `k notin (a,b)`, `k`, `!k`; empty for a missing or empty selector; `None` for an invalid
/// operator.
pub fn selector_string(sel: Option<&Value>) -> Option<String> {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return Some(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for expr in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match expr.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.clone(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key, text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        reqs.into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// A selector as `metav1.FormatLabelSelector` prints it: `<none>` when empty, `<error>` when
/// invalid.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: i64) -> String {
        human_duration(SignedDuration::from_secs(s))
    }

    #[test]
    fn human_duration_has_two_or_three_figures() {
        // One case per branch of HumanDuration (k8s.io/apimachinery/pkg/util/duration).
        assert_eq!(secs(1), "1s");
        assert_eq!(secs(70), "70s");
        assert_eq!(secs(190), "3m10s");
        assert_eq!(secs(60 * 70), "70m");
        assert_eq!(secs(47 * 60 * 60), "47h");
        assert_eq!(secs(49 * 60 * 60), "2d1h");
        assert_eq!(secs((8 * 24 + 2) * 60 * 60), "8d");
        assert_eq!(secs(367 * 24 * 60 * 60), "367d");
        assert_eq!(secs((365 * 2 + 1) * 24 * 60 * 60), "2y1d");
        assert_eq!(secs((365 * 8 + 10) * 24 * 60 * 60), "8y");
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(-1), "0s");
        assert_eq!(secs(-2), "<invalid>");
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(3 * 60 * 60 + 5 * 60), "3h5m");
        assert_eq!(secs(8 * 60 * 60), "8h");
        assert_eq!(secs(2 * 24 * 60 * 60), "2d");
    }

    #[test]
    fn since_is_unknown_without_a_time() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let t = timestamp(Some(&json!("2024-05-01T11:55:00Z")));
        assert_eq!(since(t, now), "5m");
        let micro = timestamp(Some(&json!("2024-05-01T11:59:30.123456Z")));
        assert_eq!(since(micro, now), "29s");
        assert_eq!(since(timestamp(Some(&json!(""))), now), "<unknown>");
        assert_eq!(since(timestamp(None), now), "<unknown>");
    }

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100_000.0), "100000");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(123_456_789.0), "1.23456789e+08");
        assert_eq!(go_float(0.000_025), "2.5e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(-3.25), "-3.25");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1_000_000.0), "1000000");
    }

    #[test]
    fn json_is_compact_sorted_and_html_safe() {
        let v = json!({"b": [1, 2.5, "x<y&z>"], "a": {"d": null, "c": true}});
        assert_eq!(
            go_json(&v),
            r#"{"a":{"c":true,"d":null},"b":[1,2.5,"x\u003cy\u0026z\u003e"]}"#
        );
        assert_eq!(go_json(&json!(["10.0.0.1"])), r#"["10.0.0.1"]"#);
    }

    #[test]
    fn labels_and_selectors_sort_by_key() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "Exists"}]});
        assert_eq!(
            selector_string(Some(&sel)).unwrap(),
            "app=web,!canary,env notin (dev),tier in (a,b),zone"
        );
        assert_eq!(selector_string(Some(&json!({}))).unwrap(), "");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(
            format_label_selector(Some(
                &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
            )),
            "<error>"
        );
    }
}
