//! Per-cluster overrides (Karmada's override manager): ClusterOverridePolicies first, then
//! OverridePolicies of the resource's namespace; each group sorted by implicit priority
//! (least specific first) then name; within a rule the overriders run in Karmada's order:
//! image, command, args, labels, annotations, field, plaintext.

use serde_json::{Value, json};

use crate::cluster::ClusterInfo;
use crate::matching::{ImplicitPriority, selectors_priority};
use crate::model::{
    CommandArgsOverrider, FieldOverrider, ImageOverrider, LabelAnnotationOverrider, OverridePolicy,
    Overriders, PlaintextOverrider, PolicyScope, SubPatch,
};
use crate::resource::Resource;
use crate::selector;

/// An override that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{policy}: {message}")]
pub struct OverrideError {
    /// `Kind namespace/name` of the policy.
    pub policy: String,
    /// What failed.
    pub message: String,
}

fn patch(obj: &mut Value, ops: Vec<Value>) -> Result<(), String> {
    if ops.is_empty() {
        return Ok(());
    }
    let p: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).map_err(|e| format!("invalid patch: {e}"))?;
    json_patch::patch(obj, &p).map_err(|e| e.to_string())
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn check_op(op: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&op) {
        Ok(())
    } else {
        Err(format!(
            "unsupported operator {op:?}, expected one of {}",
            allowed.join(", ")
        ))
    }
}

/// Parsed container image reference (Karmada's imageparser).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRef {
    /// Registry host (may include a port).
    pub hostname: String,
    /// Repository path.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Digest (`sha256:...`).
    pub digest: String,
}

impl ImageRef {
    /// Split `registry/repository:tag@digest`.
    pub fn parse(image: &str) -> Self {
        let (hostname, rest) = match image.find('/') {
            Some(i) => {
                let first = &image[..i];
                if first.contains(['.', ':']) || first == "localhost" {
                    (first.to_string(), &image[i + 1..])
                } else {
                    (String::new(), image)
                }
            }
            None => (String::new(), image),
        };
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r, d.to_string()),
            None => (rest, String::new()),
        };
        let (repository, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => {
                (rest[..i].to_string(), rest[i + 1..].to_string())
            }
            _ => (rest.to_string(), String::new()),
        };
        Self {
            hostname,
            repository,
            tag,
            digest,
        }
    }

    /// Karmada's `SetTagOrDigest`: a digest (`algo:hex`, 32+ hex digits) or a tag
    /// (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`); anything else leaves the image unchanged.
    fn set_tag_or_digest(&mut self, value: &str) {
        if is_digest(value) {
            self.digest = value.to_string();
            self.tag.clear();
        } else if is_tag(value) {
            self.tag = value.to_string();
            self.digest.clear();
        }
    }
}

fn is_tag(v: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    v.len() <= 128
        && v.chars().next().is_some_and(word)
        && v.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// The reference grammar's digest: `algorithm:hex` where the algorithm is letter-led
/// alphanumeric components joined by `+`, `.`, `_` or `-`, and the hex part has 32+ digits.
fn is_digest(v: &str) -> bool {
    let Some((algo, hex)) = v.split_once(':') else {
        return false;
    };
    let algo_ok = algo.split(['+', '.', '_', '-']).all(|component| {
        component
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && component.chars().all(|c| c.is_ascii_alphanumeric())
    });
    algo_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.hostname.is_empty() {
            write!(f, "{}/", self.hostname)?;
        }
        f.write_str(&self.repository)?;
        if !self.tag.is_empty() {
            write!(f, ":{}", self.tag)?;
        } else if !self.digest.is_empty() {
            write!(f, "@{}", self.digest)?;
        }
        Ok(())
    }
}

/// Apply one image overrider to an image string.
pub fn override_image(image: &str, o: &ImageOverrider) -> Result<String, String> {
    check_op(&o.operator, &["add", "remove", "replace"])?;
    let mut r = ImageRef::parse(image);
    match (o.component.as_str(), o.operator.as_str()) {
        ("Registry", "add") => r.hostname.push_str(&o.value),
        ("Registry", "replace") => r.hostname = o.value.clone(),
        ("Registry", "remove") => r.hostname.clear(),
        ("Repository", "add") => r.repository.push_str(&o.value),
        ("Repository", "replace") => r.repository = o.value.clone(),
        ("Repository", "remove") => r.repository.clear(),
        ("Tag", "add") => {
            let current = if r.tag.is_empty() {
                r.digest.clone()
            } else {
                r.tag.clone()
            };
            r.set_tag_or_digest(&format!("{current}{}", o.value));
        }
        ("Tag", "replace") => r.set_tag_or_digest(&o.value),
        ("Tag", "remove") => {
            r.tag.clear();
            r.digest.clear();
        }
        (c, _) => return Err(format!("unsupported image component {c:?}")),
    }
    Ok(r.to_string())
}

/// Kinds whose container images the image overrider rewrites without a predicate.
const IMAGE_KINDS: &[&str] = &[
    "Pod",
    "ReplicaSet",
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "Job",
];
/// Kinds whose containers the command and args overriders edit.
const COMMAND_KINDS: &[&str] = &[
    "Pod",
    "ReplicaSet",
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "Job",
];

/// Containers path of a workload kind listed in `kinds`, as a JSON pointer.
fn containers_pointer(obj: &Value, kinds: &[&str]) -> Option<&'static str> {
    let kind = obj.get("kind").and_then(Value::as_str)?;
    if !kinds.contains(&kind) {
        return None;
    }
    Some(if kind == "Pod" {
        "/spec/containers"
    } else {
        "/spec/template/spec/containers"
    })
}

fn image_ops(obj: &Value, o: &ImageOverrider) -> Result<Vec<Value>, String> {
    let mut ops = Vec::new();
    if let Some(pred) = &o.predicate {
        let cur = obj
            .pointer(&pred.path)
            .ok_or_else(|| format!("image path {} not found", pred.path))?;
        let cur = cur
            .as_str()
            .ok_or_else(|| format!("image path {} is not a string", pred.path))?;
        ops.push(json!({"op": "replace", "path": pred.path, "value": override_image(cur, o)?}));
        return Ok(ops);
    }
    let Some(ptr) = containers_pointer(obj, IMAGE_KINDS) else {
        return Ok(ops);
    };
    if let Some(cs) = obj.pointer(ptr).and_then(Value::as_array) {
        for (i, c) in cs.iter().enumerate() {
            if let Some(image) = c.get("image").and_then(Value::as_str) {
                ops.push(json!({
                    "op": "replace",
                    "path": format!("{ptr}/{i}/image"),
                    "value": override_image(image, o)?,
                }));
            }
        }
    }
    Ok(ops)
}

fn command_args_ops(
    obj: &Value,
    o: &CommandArgsOverrider,
    field: &str,
) -> Result<Vec<Value>, String> {
    check_op(&o.operator, &["add", "remove"])?;
    let mut ops = Vec::new();
    let Some(ptr) = containers_pointer(obj, COMMAND_KINDS) else {
        return Ok(ops);
    };
    let Some(cs) = obj.pointer(ptr).and_then(Value::as_array) else {
        return Ok(ops);
    };
    for (i, c) in cs.iter().enumerate() {
        if c.get("name").and_then(Value::as_str) != Some(o.container_name.as_str()) {
            continue;
        }
        let current: Vec<String> = match c.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{ptr}/{i}/{field} holds a non-string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("{ptr}/{i}/{field} is not a list")),
        };
        let next: Vec<String> = if o.operator == "add" {
            current.iter().chain(o.value.iter()).cloned().collect()
        } else {
            current
                .iter()
                .filter(|v| !o.value.contains(v))
                .cloned()
                .collect()
        };
        ops.push(json!({"op": "add", "path": format!("{ptr}/{i}/{field}"), "value": next}));
    }
    Ok(ops)
}

fn label_annotation(
    obj: &mut Value,
    o: &LabelAnnotationOverrider,
    field: &str,
) -> Result<(), String> {
    check_op(&o.operator, &["add", "remove", "replace"])?;
    for (key, value) in &o.value {
        let exists = obj
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key(key));
        let path = format!("/metadata/{field}/{}", escape(key));
        let op = match o.operator.as_str() {
            "remove" | "replace" if !exists => continue,
            "remove" => json!({"op": "remove", "path": path}),
            "replace" => json!({"op": "replace", "path": path, "value": value}),
            _ => {
                let meta = obj
                    .as_object_mut()
                    .ok_or("object is not a map")?
                    .entry("metadata")
                    .or_insert_with(|| json!({}));
                let meta = meta.as_object_mut().ok_or("metadata is not a map")?;
                let slot = meta.entry(field).or_insert_with(|| json!({}));
                if slot.is_null() {
                    *slot = json!({});
                }
                json!({"op": "add", "path": path, "value": value})
            }
        };
        patch(obj, vec![op])?;
    }
    Ok(())
}

fn sub_ops(list: &[SubPatch]) -> Result<Vec<Value>, String> {
    list.iter()
        .map(|s| {
            check_op(&s.operator, &["add", "remove", "replace"])?;
            Ok(match s.operator.as_str() {
                "remove" => json!({"op": "remove", "path": s.sub_path}),
                op => json!({"op": op, "path": s.sub_path, "value": s.value.clone().unwrap_or(Value::Null)}),
            })
        })
        .collect()
}

fn field_override(obj: &mut Value, o: &FieldOverrider) -> Result<(), String> {
    let current = obj
        .pointer(&o.field_path)
        .ok_or_else(|| format!("field path {} not found", o.field_path))?;
    let text = current
        .as_str()
        .ok_or_else(|| format!("field path {} is not a string", o.field_path))?
        .to_string();
    // like Karmada, YAML operations win when both are given
    let out = if !o.yaml.is_empty() {
        let mut doc: Value = serde_saphyr::from_str(&text)
            .map_err(|e| format!("field {} is not YAML: {e}", o.field_path))?;
        patch(&mut doc, sub_ops(&o.yaml)?).map_err(|e| format!("field {}: {e}", o.field_path))?;
        // written back like Karmada's `yaml.JSONToYAML`: map keys in sorted order
        serde_saphyr::to_string(&sorted_keys(doc)).map_err(|e| e.to_string())?
    } else if !o.json.is_empty() {
        let mut doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("field {} is not JSON: {e}", o.field_path))?;
        patch(&mut doc, sub_ops(&o.json)?).map_err(|e| format!("field {}: {e}", o.field_path))?;
        serde_json::to_string(&doc).map_err(|e| e.to_string())?
    } else {
        return Ok(());
    };
    let slot = obj
        .pointer_mut(&o.field_path)
        .ok_or_else(|| format!("field path {} not found", o.field_path))?;
    *slot = Value::String(out);
    Ok(())
}

fn sorted_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

fn plaintext_ops(list: &[PlaintextOverrider]) -> Result<Vec<Value>, String> {
    list.iter()
        .map(|p| {
            check_op(&p.operator, &["add", "remove", "replace"])?;
            Ok(match p.operator.as_str() {
                "remove" => json!({"op": "remove", "path": p.path}),
                op => json!({"op": op, "path": p.path, "value": p.value.clone().unwrap_or(Value::Null)}),
            })
        })
        .collect()
}

/// Apply one overrider set to an object, in Karmada's order.
pub fn apply_overriders(obj: &mut Value, o: &Overriders) -> Result<(), String> {
    for io in &o.image_overrider {
        let ops = image_ops(obj, io)?;
        patch(obj, ops)?;
    }
    for co in &o.command_overrider {
        let ops = command_args_ops(obj, co, "command")?;
        patch(obj, ops)?;
    }
    for ao in &o.args_overrider {
        let ops = command_args_ops(obj, ao, "args")?;
        patch(obj, ops)?;
    }
    for lo in &o.labels_overrider {
        label_annotation(obj, lo, "labels")?;
    }
    for ao in &o.annotations_overrider {
        label_annotation(obj, ao, "annotations")?;
    }
    for fo in &o.field_overrider {
        field_override(obj, fo)?;
    }
    patch(obj, plaintext_ops(&o.plaintext)?)
}

struct Matched<'a> {
    policy: &'a OverridePolicy,
    priority: ImplicitPriority,
}

fn matching<'a>(
    resource: &Resource,
    policies: &'a [OverridePolicy],
    scope: PolicyScope,
) -> Vec<Matched<'a>> {
    let mut out: Vec<Matched<'a>> = policies
        .iter()
        .filter(|p| p.scope == scope)
        .filter(|p| scope == PolicyScope::Cluster || p.namespace == resource.namespace)
        .filter_map(|p| {
            if p.spec.resource_selectors.is_empty() {
                // no selectors: matches everything, ranked like a kind-only match
                return Some(Matched {
                    policy: p,
                    priority: ImplicitPriority::MatchAll,
                });
            }
            let priority = selectors_priority(resource, &p.spec.resource_selectors);
            (priority != ImplicitPriority::Mismatch).then_some(Matched {
                policy: p,
                priority,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.policy.name.cmp(&b.policy.name))
    });
    out
}

/// Names (`Kind namespace/name`) of the override policies that apply to `resource` in
/// `cluster`, in application order.
pub fn applicable_overrides(
    resource: &Resource,
    cluster: &ClusterInfo,
    policies: &[OverridePolicy],
) -> Vec<String> {
    let mut names = Vec::new();
    let mut scopes = vec![PolicyScope::Cluster];
    if !resource.namespace.is_empty() {
        scopes.push(PolicyScope::Namespaced);
    }
    for scope in scopes {
        for m in matching(resource, policies, scope) {
            if rules_of(m.policy)
                .iter()
                .any(|(t, _)| t.is_none_or(|t| selector::cluster_matches(cluster, t)))
            {
                names.push(policy_name(m.policy));
            }
        }
    }
    names
}

fn policy_name(p: &OverridePolicy) -> String {
    if p.namespace.is_empty() {
        format!("{} {}", p.kind(), p.name)
    } else {
        format!("{} {}/{}", p.kind(), p.namespace, p.name)
    }
}

fn rules_of(p: &OverridePolicy) -> Vec<(Option<&crate::model::ClusterAffinity>, &Overriders)> {
    if p.spec.override_rules.is_empty() {
        match &p.spec.overriders {
            Some(o) => vec![(p.spec.target_cluster.as_ref(), o)],
            None => Vec::new(),
        }
    } else {
        p.spec
            .override_rules
            .iter()
            .map(|r| (r.target_cluster.as_ref(), &r.overriders))
            .collect()
    }
}

/// The manifest `cluster` receives: `resource.object` after every applicable override.
pub fn apply_overrides(
    resource: &Resource,
    cluster: &ClusterInfo,
    policies: &[OverridePolicy],
) -> Result<Value, OverrideError> {
    let mut obj = resource.object.clone();
    let mut scopes = vec![PolicyScope::Cluster];
    if !resource.namespace.is_empty() {
        scopes.push(PolicyScope::Namespaced);
    }
    for scope in scopes {
        for m in matching(resource, policies, scope) {
            for (target, overriders) in rules_of(m.policy) {
                if target.is_some_and(|t| !selector::cluster_matches(cluster, t)) {
                    continue;
                }
                apply_overriders(&mut obj, overriders).map_err(|message| OverrideError {
                    policy: policy_name(m.policy),
                    message: format!("cluster {}: {message}", cluster.name),
                })?;
            }
        }
    }
    Ok(obj)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn io(component: &str, operator: &str, value: &str) -> ImageOverrider {
        ImageOverrider {
            predicate: None,
            component: component.into(),
            operator: operator.into(),
            value: value.into(),
        }
    }

    #[test]
    fn image_components() {
        let cases = [
            (
                "nginx:1.19",
                io("Registry", "add", "registry.io"),
                "registry.io/nginx:1.19",
            ),
            (
                "docker.io/library/nginx:1.19",
                io("Registry", "replace", "quay.io"),
                "quay.io/library/nginx:1.19",
            ),
            (
                "docker.io/library/nginx:1.19",
                io("Registry", "remove", ""),
                "library/nginx:1.19",
            ),
            (
                "fictional.registry.us/busybox",
                io("Registry", "add", "-cn"),
                "fictional.registry.us-cn/busybox",
            ),
            (
                "docker.io/nginx:1.19",
                io("Repository", "replace", "busybox"),
                "docker.io/busybox:1.19",
            ),
            (
                "docker.io/nginx:1.19",
                io("Repository", "add", "-ext"),
                "docker.io/nginx-ext:1.19",
            ),
            ("nginx:1.19", io("Tag", "replace", "1.20"), "nginx:1.20"),
            ("nginx", io("Tag", "add", "1.20"), "nginx:1.20"),
            (
                "nginx:1.19",
                io("Tag", "add", "-alpine"),
                "nginx:1.19-alpine",
            ),
            (
                "nginx:1.19",
                io("Tag", "replace", "not a tag"),
                "nginx:1.19",
            ),
            ("nginx:1.19", io("Tag", "remove", ""), "nginx"),
            (
                "localhost:5000/app:v1",
                io("Tag", "replace", "sha256:0123456789abcdef0123456789abcdef"),
                "localhost:5000/app@sha256:0123456789abcdef0123456789abcdef",
            ),
            ("localhost/app", io("Registry", "remove", ""), "app"),
        ];
        for (image, o, want) in cases {
            assert_eq!(override_image(image, &o).unwrap(), want, "{image} {o:?}");
        }
    }
}
