//! Label and field selectors as the Kubernetes API parses them.

use serde_json::Value;

/// A selector that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    /// Malformed label selector.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// Malformed or unsupported field selector.
    #[error("{0}")]
    Field(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector (`a=b,c!=d,e in (f,g),h,!i`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::Label(format!("{whole}: expected a parenthesised set")))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| !valid_value(v)) {
        return Err(SelectorError::Label(format!("{whole}: invalid value")));
    }
    Ok(values)
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { reqs });
        }
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err(SelectorError::Label(format!("{s}: empty requirement")));
            }
            let (key, op) = if let Some(k) = part.strip_prefix('!') {
                (k.trim().to_string(), Op::NotExists)
            } else if let Some((k, v)) = part.split_once("!=") {
                (k.trim().to_string(), Op::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once("==") {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = part.split_once('=') {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                (k.trim().to_string(), Op::NotIn(parse_set(rest, part)?))
            } else if let Some((k, rest)) = part.split_once(" in ") {
                (k.trim().to_string(), Op::In(parse_set(rest, part)?))
            } else {
                (part.to_string(), Op::Exists)
            };
            if !valid_key(&key) {
                return Err(SelectorError::Label(format!(
                    "{part}: invalid label key {key:?}"
                )));
            }
            if let Op::Eq(v) | Op::NotEq(v) = &op
                && !valid_value(v)
            {
                return Err(SelectorError::Label(format!(
                    "{part}: invalid label value {v:?}"
                )));
            }
            reqs.push((key, op));
        }
        Ok(Self { reqs })
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether a label set matches.
    pub fn matches<'a>(&self, labels: &'a [(Box<str>, Box<str>)]) -> bool {
        let get = |k: &str| -> Option<&'a str> {
            labels.iter().find(|(lk, _)| &**lk == k).map(|(_, v)| &**v)
        };
        self.reqs.iter().all(|(k, op)| {
            let v = get(k);
            match op {
                Op::Eq(want) => v == Some(want.as_str()),
                Op::NotEq(want) => v != Some(want.as_str()),
                Op::In(set) => v.is_some_and(|v| set.iter().any(|s| s == v)),
                Op::NotIn(set) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
            }
        })
    }
}

/// A parsed field selector (`metadata.name=x,metadata.namespace!=y`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// Field labels supported beyond `metadata.name` and `metadata.namespace`, per kind.
fn extra_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Secret" => &["type"],
        "Pod" => &[
            "spec.nodeName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "spec.restartPolicy",
            "spec.schedulerName",
        ],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
        ],
        "ReplicaSet" => &["status.replicas"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter for a kind.
    pub fn parse(s: &str, kind: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { reqs });
        }
        for part in s.split(',') {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(SelectorError::Field(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let k = k.trim();
            if k != "metadata.name" && k != "metadata.namespace" && !extra_fields(kind).contains(&k)
            {
                return Err(SelectorError::Field(format!(
                    "field label not supported: {k}"
                )));
            }
            reqs.push((k.to_string(), eq, v.trim().to_string()));
        }
        Ok(Self { reqs })
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// True when the selector only uses `metadata.name`/`metadata.namespace`.
    pub fn metadata_only(&self) -> bool {
        self.reqs.iter().all(|(k, _, _)| k.starts_with("metadata."))
    }

    /// Whether an object matches; `body` is consulted only for non-metadata fields.
    pub fn matches(&self, namespace: Option<&str>, name: &str, body: Option<&Value>) -> bool {
        self.reqs.iter().all(|(k, eq, want)| {
            let got: String = match k.as_str() {
                "metadata.name" => name.to_string(),
                "metadata.namespace" => namespace.unwrap_or_default().to_string(),
                path => {
                    let ptr = format!("/{}", path.replace('.', "/"));
                    match body.and_then(|b| b.pointer(&ptr)) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    }
                }
            };
            (got == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(Box<str>, Box<str>)> {
        pairs
            .iter()
            .map(|(k, v)| (Box::from(*k), Box::from(*v)))
            .collect()
    }

    #[test]
    fn label_operators() -> Result<(), SelectorError> {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web,db)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("missing notin (x)", true),
            ("app=web,tier in (back)", false),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel)?.matches(&l), want, "{sel}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a=b,,").is_err());
        Ok(())
    }

    #[test]
    fn field_selectors() -> Result<(), SelectorError> {
        let f = FieldSelector::parse("metadata.name=a,metadata.namespace!=kube-system", "Service")?;
        assert!(f.matches(Some("default"), "a", None));
        assert!(!f.matches(Some("kube-system"), "a", None));
        assert!(FieldSelector::parse("spec.foo=bar", "Service").is_err());
        let s = FieldSelector::parse("type=Opaque", "Secret")?;
        assert!(s.matches(Some("d"), "x", Some(&serde_json::json!({"type": "Opaque"}))));
        Ok(())
    }
}
