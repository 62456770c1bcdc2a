//! Structural checks of Istio install documents against the structures Istio 1.30.3 reads
//! them with, vendored in `tests/schemas/istio/` (sources in its README). Shared by
//! `install_structures.rs` and `schemas.rs`; see the former for what is checked and why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use isthmus_testing::paths::crate_dir;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub fn schema_path(name: &str) -> PathBuf {
    crate_dir("gateway-config")
        .join("tests/schemas/istio")
        .join(name)
}

pub fn read(name: &str) -> String {
    std::fs::read_to_string(schema_path(name)).unwrap()
}

pub type Check = Result<(), String>;

// ---- protobuf messages (structure only: names, types, repeated/map, oneof groups) ----

#[derive(Debug, Clone)]
pub struct ProtoField {
    /// Type as written, resolved to a full message/enum name when it names one.
    pub ty: String,
    pub repeated: bool,
    /// Value type of a `map<string, V>`.
    pub map_value: Option<String>,
    pub oneof: Option<String>,
}

#[derive(Debug, Default)]
pub struct Protos {
    /// Full message name (`Network.NetworkEndpoints`) -> JSON name -> field.
    pub messages: BTreeMap<String, BTreeMap<String, ProtoField>>,
    pub enums: BTreeSet<String>,
}

/// protobuf's JSON name of a field: `json_name` when given, else lowerCamelCase.
pub fn proto_json_name(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl Protos {
    /// Parses the structure-only `.proto` copies: one declaration per line, blocks for
    /// `message`, `enum` and `oneof`.
    pub fn parse(texts: &[&str]) -> Protos {
        let mut protos = Protos::default();
        // Unresolved type names per message, resolved once every file is read.
        let mut raw: Vec<(String, String, String, ProtoField)> = Vec::new();
        for text in texts {
            enum Scope {
                Message(String),
                Enum,
                Oneof(String),
            }
            let mut stack: Vec<Scope> = Vec::new();
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with("//") {
                    continue;
                }
                let message = || {
                    stack.iter().rev().find_map(|s| match s {
                        Scope::Message(m) => Some(m.clone()),
                        _ => None,
                    })
                };
                // An empty message on one line: `message X {}`.
                if let Some(name) = line
                    .strip_prefix("message ")
                    .and_then(|l| l.strip_suffix("{}"))
                {
                    let full = match message() {
                        Some(m) => format!("{m}.{}", name.trim()),
                        None => name.trim().to_owned(),
                    };
                    protos.messages.entry(full).or_default();
                    continue;
                }
                if let Some(rest) = line.strip_suffix('{').map(str::trim) {
                    let (kind, name) = rest.split_once(' ').unwrap();
                    let full = match message() {
                        Some(m) => format!("{m}.{}", name.trim()),
                        None => name.trim().to_owned(),
                    };
                    match kind {
                        "message" => {
                            protos.messages.entry(full.clone()).or_default();
                            stack.push(Scope::Message(full));
                        }
                        "enum" => {
                            protos.enums.insert(full);
                            stack.push(Scope::Enum);
                        }
                        "oneof" => stack.push(Scope::Oneof(name.trim().to_owned())),
                        other => panic!("unexpected block {other:?}: {line}"),
                    }
                    continue;
                }
                if line == "}" {
                    stack.pop().unwrap();
                    continue;
                }
                let Some(msg) = message() else { continue };
                if matches!(stack.last(), Some(Scope::Enum))
                    || line.starts_with("reserved ")
                    || line.starts_with("option ")
                {
                    continue;
                }
                let oneof = match stack.last() {
                    Some(Scope::Oneof(o)) => Some(o.clone()),
                    _ => None,
                };
                let decl = line
                    .strip_suffix(';')
                    .unwrap_or_else(|| panic!("not a declaration: {line}"));
                let json_name = decl
                    .split_once("json_name = \"")
                    .map(|(_, r)| r.split('"').next().unwrap().to_owned());
                let decl = decl.split('[').next().unwrap().trim();
                let (lhs, _number) = decl.rsplit_once('=').unwrap();
                let lhs = lhs.trim();
                let (ty_part, name) = lhs.rsplit_once(' ').unwrap();
                let (repeated, ty_part) = match ty_part.strip_prefix("repeated ") {
                    Some(t) => (true, t.trim()),
                    None => (false, ty_part.trim()),
                };
                let (ty, map_value) = match ty_part
                    .strip_prefix("map<")
                    .and_then(|m| m.strip_suffix('>'))
                {
                    Some(kv) => {
                        let (_, v) = kv.split_once(',').unwrap();
                        ("map".to_owned(), Some(v.trim().to_owned()))
                    }
                    None => (ty_part.to_owned(), None),
                };
                let json = json_name.unwrap_or_else(|| proto_json_name(name));
                raw.push((
                    msg,
                    json,
                    String::new(),
                    ProtoField {
                        ty,
                        repeated,
                        map_value,
                        oneof,
                    },
                ));
            }
            assert!(stack.is_empty(), "unbalanced braces");
        }
        for (msg, json, _, mut field) in raw {
            field.ty = protos.resolve(&msg, &field.ty);
            field.map_value = field.map_value.map(|v| protos.resolve(&msg, &v));
            let fields = protos.messages.get_mut(&msg).unwrap();
            assert!(fields.insert(json.clone(), field).is_none(), "{msg}.{json}");
        }
        protos
    }

    /// Resolves a type name used inside message `scope` as protobuf does: innermost scope
    /// first. Names that resolve to nothing here stay as written.
    pub fn resolve(&self, scope: &str, ty: &str) -> String {
        let mut prefix = Some(scope.to_owned());
        while let Some(p) = prefix {
            let candidate = format!("{p}.{ty}");
            if self.messages.contains_key(&candidate) || self.enums.contains(&candidate) {
                return candidate;
            }
            prefix = p.rsplit_once('.').map(|(a, _)| a.to_owned());
        }
        ty.to_owned()
    }

    pub fn field(&self, message: &str, json: &str) -> Option<&ProtoField> {
        self.messages.get(message)?.get(json)
    }

    /// Checks `value` against message `message`.
    pub fn check_message(&self, value: &Value, message: &str, path: &str) -> Check {
        let fields = self
            .messages
            .get(message)
            .ok_or_else(|| format!("{path}: message {message} is not in the vendored schemas"))?;
        let obj = value
            .as_object()
            .ok_or_else(|| format!("{path}: {message} must be an object, not {value}"))?;
        let mut oneofs: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in obj {
            let at = join(path, k);
            let f = fields
                .get(k)
                .ok_or_else(|| format!("{at}: unknown field of {message}"))?;
            if let Some(group) = &f.oneof
                && let Some(other) = oneofs.insert(group, k)
            {
                return Err(format!("{at}: {other} and {k} are one of {group}"));
            }
            self.check_field(v, f, &at)?;
        }
        Ok(())
    }

    pub fn check_field(&self, value: &Value, f: &ProtoField, path: &str) -> Check {
        if let Some(vt) = &f.map_value {
            let obj = value
                .as_object()
                .ok_or_else(|| format!("{path}: a map must be an object"))?;
            for (k, v) in obj {
                self.check_type(v, vt, &join(path, k))?;
            }
            return Ok(());
        }
        if f.repeated {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{path}: a repeated field must be a list"))?;
            for (i, v) in items.iter().enumerate() {
                self.check_type(v, &f.ty, &format!("{path}[{i}]"))?;
            }
            return Ok(());
        }
        self.check_type(value, &f.ty, path)
    }

    pub fn check_type(&self, value: &Value, ty: &str, path: &str) -> Check {
        let ok = match ty {
            "string" | "google.protobuf.StringValue" => value.is_string(),
            "bool" | "google.protobuf.BoolValue" => value.is_boolean(),
            "uint32" | "uint64" | "fixed32" | "google.protobuf.UInt32Value" => value.is_u64(),
            "int32"
            | "int64"
            | "sint32"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value" => value.is_i64(),
            "double" | "float" | "google.protobuf.DoubleValue" => value.is_number(),
            "google.protobuf.Duration" => value.as_str().is_some_and(|s| s.ends_with('s')),
            "google.protobuf.Struct" | "google.protobuf.Any" => value.is_object(),
            "google.protobuf.Value" => true,
            t if self.enums.contains(t) => value.is_string(),
            t if self.messages.contains_key(t) => return self.check_message(value, t, path),
            t => return Err(format!("{path}: type {t} is not in the vendored schemas")),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{path}: {value} is not a {ty}"))
        }
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub fn protos() -> &'static Protos {
    static P: OnceLock<Protos> = OnceLock::new();
    P.get_or_init(|| {
        Protos::parse(&[
            &read("values_types.proto"),
            &read("network.proto"),
            &read("mesh_config.proto"),
        ])
    })
}

// ---- Go structs of operator/pkg/apis/types.go (JSON tags) ----

#[derive(Debug, Clone)]
pub struct GoField {
    /// JSON name; `None` for an embedded struct whose fields are inlined.
    pub json: Option<String>,
    pub ty: String,
}

pub fn go_structs() -> &'static BTreeMap<String, Vec<GoField>> {
    static S: OnceLock<BTreeMap<String, Vec<GoField>>> = OnceLock::new();
    S.get_or_init(|| {
        let mut out = BTreeMap::new();
        let mut current: Option<(String, Vec<GoField>)> = None;
        for line in read("operator_types.go").lines() {
            let line = line.trim();
            if let Some(name) = line
                .strip_prefix("type ")
                .and_then(|l| l.strip_suffix(" struct {"))
            {
                current = Some((name.to_owned(), Vec::new()));
                continue;
            }
            let Some((_, fields)) = current.as_mut() else {
                continue;
            };
            if line == "}" {
                let (name, fields) = current.take().unwrap();
                out.insert(name, fields);
                continue;
            }
            let (decl, tag) = match line.split_once('`') {
                Some((d, t)) => (d.trim(), Some(t)),
                None => (line, None),
            };
            let json = tag
                .and_then(|t| t.split_once("json:\""))
                .map(|(_, r)| r.split(['"', ',']).next().unwrap().to_owned());
            if json.as_deref() == Some("-") {
                continue;
            }
            let tokens: Vec<&str> = decl.split_whitespace().collect();
            let (ty, json) = match tokens.as_slice() {
                [ty] => (*ty, json.filter(|j| !j.is_empty())),
                [_, ty] => (*ty, json),
                other => panic!("unexpected Go field {other:?}"),
            };
            fields.push(GoField {
                json,
                ty: ty.to_owned(),
            });
        }
        out
    })
}

/// Deserializes into a Kubernetes type and back; the same JSON must come back.
pub fn round_trip<T: DeserializeOwned + serde::Serialize>(value: &Value, path: &str) -> Check {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| format!("{path}: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("{path}: {e}"))?;
    if &back == value {
        Ok(())
    } else {
        Err(format!("{path}: unknown fields in {value}"))
    }
}

/// All JSON fields of a Go struct, embedded structs inlined.
pub fn go_fields(name: &str) -> Vec<GoField> {
    let mut out = Vec::new();
    for f in &go_structs()[name] {
        match (&f.json, f.ty.trim_start_matches('*')) {
            (None, "metav1.TypeMeta") => {
                for j in ["apiVersion", "kind"] {
                    out.push(GoField {
                        json: Some(j.to_owned()),
                        ty: "string".to_owned(),
                    });
                }
            }
            (None, "bool") => {}
            (None, inner) => out.extend(go_fields(inner)),
            (Some(_), _) => out.push(f.clone()),
        }
    }
    out
}

/// Checks `value` against Go type `ty` of types.go. `spec.values` is checked as the `Values`
/// message and `spec.meshConfig` as `MeshConfig`, as istioctl does.
pub fn check_go(value: &Value, ty: &str, path: &str) -> Check {
    let ty = ty.trim_start_matches('*');
    if let Some(elem) = ty.strip_prefix("[]") {
        let items = value
            .as_array()
            .ok_or_else(|| format!("{path}: must be a list"))?;
        for (i, v) in items.iter().enumerate() {
            check_go(v, elem, &format!("{path}[{i}]"))?;
        }
        return Ok(());
    }
    let ok = match ty {
        "string" => value.is_string(),
        "uint32" => value.is_u64(),
        "any" => true,
        // types.go: BoolValue (un)marshals as a JSON bool.
        "BoolValue" => value.is_boolean(),
        "map[string]string" => value
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
        "json.RawMessage" if path.ends_with("spec.values") => {
            return check_values(value, path);
        }
        "json.RawMessage" if path.ends_with("spec.meshConfig") => {
            return protos().check_message(value, "MeshConfig", path);
        }
        "corev1.EnvVar" => return round_trip::<k8s_openapi::api::core::v1::EnvVar>(value, path),
        "corev1.ServiceSpec" => {
            return round_trip::<k8s_openapi::api::core::v1::ServiceSpec>(value, path);
        }
        "metav1.ObjectMeta" => {
            return round_trip::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(
                value, path,
            );
        }
        s if go_structs().contains_key(s) => {
            let obj = value
                .as_object()
                .ok_or_else(|| format!("{path}: {s} must be an object"))?;
            let fields = go_fields(s);
            for (k, v) in obj {
                let at = join(path, k);
                let f = fields
                    .iter()
                    .find(|f| f.json.as_deref() == Some(k))
                    .ok_or_else(|| format!("{at}: unknown field of {s}"))?;
                check_go(v, &f.ty, &at)?;
            }
            return Ok(());
        }
        other => {
            return Err(format!(
                "{path}: Go type {other} is not covered by this check"
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: {value} is not a {ty}"))
    }
}

/// What the proto types leave free-form but Istio reads with a structure: `meshConfig`
/// (a `MeshConfig`), `global.meshNetworks` (the networks of a `MeshNetworks`) and env
/// (strings: the chart writes each as a container env value).
pub fn check_free_form(values: &Value, env_at: &str, path: &str) -> Check {
    if let Some(mc) = values.get("meshConfig") {
        protos().check_message(mc, "MeshConfig", &join(path, "meshConfig"))?;
    }
    if let Some(mn) = values.pointer("/global/meshNetworks") {
        protos().check_message(
            &json!({ "networks": mn }),
            "MeshNetworks",
            &join(path, "global.meshNetworks"),
        )?;
    }
    if let Some(env) = values.pointer(env_at) {
        for (k, v) in env
            .as_object()
            .ok_or_else(|| format!("{path}{env_at}: must be an object"))?
        {
            if !v.is_string() {
                return Err(format!("{path}{env_at}/{k}: {v} is not a string"));
            }
        }
    }
    Ok(())
}

/// `spec.values` of an IstioOperator: message `Values`.
pub fn check_values(values: &Value, path: &str) -> Check {
    protos().check_message(values, "Values", path)?;
    check_free_form(values, "/pilot/env", path)
}

pub fn check_istio_operator(iop: &Value) -> Check {
    check_go(iop, "IstioOperator", "")?;
    if iop["apiVersion"] != "install.istio.io/v1alpha1" || iop["kind"] != "IstioOperator" {
        return Err(format!("not an IstioOperator: {iop}"));
    }
    Ok(())
}

// ---- Helm values against chart values.yaml key trees ----

pub fn chart_defaults(name: &str) -> Value {
    let text = read(name);
    let v: Value = serde_saphyr::from_str(&text).unwrap();
    v["_internal_defaults_do_not_set"].clone()
}

pub fn istiod_chart() -> &'static Value {
    static C: OnceLock<Value> = OnceLock::new();
    C.get_or_init(|| chart_defaults("istiod-chart.values.yaml"))
}

/// Keys under which a chart takes any map (its default is `{}` or a map the chart passes
/// through): below them the key tree says nothing.
pub const FREE_FORM: [&str; 3] = ["env", "meshNetworks", "meshConfig"];

/// Every key of `value` must be a key of the chart's defaults, with a value of the same
/// JSON type as the default (when the default is a scalar).
pub fn check_chart_tree(value: &Value, defaults: &Value, path: &str) -> Check {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("{path}: must be a map"))?;
    for (k, v) in obj {
        let at = join(path, k);
        let d = defaults
            .get(k)
            .ok_or_else(|| format!("{at}: not a value of the chart"))?;
        check_chart_value(v, d, k, &at)?;
    }
    Ok(())
}

pub fn check_chart_value(v: &Value, d: &Value, key: &str, at: &str) -> Check {
    let same = match d {
        Value::String(_) => v.is_string(),
        Value::Bool(_) => v.is_boolean(),
        Value::Number(_) => v.is_number(),
        Value::Array(_) => v.is_array(),
        Value::Object(m) if m.is_empty() || FREE_FORM.contains(&key) => v.is_object(),
        Value::Object(_) => return check_chart_tree(v, d, at),
        Value::Null => true,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "{at}: {v} does not have the type of the chart's default {d}"
        ))
    }
}

/// `istio/istiod` values: the flattened layout (PilotConfig fields and Values fields at the
/// top level), every key known to the chart (or `profile`, read by `zzz_profile.yaml`).
pub fn check_istiod_helm_values(values: &Value) -> Check {
    let obj = values
        .as_object()
        .ok_or("istiod values must be a map".to_owned())?;
    for (k, v) in obj {
        if k == "pilot" {
            return Err("pilot: the 1.30 chart takes these at the top level".into());
        }
        let f = protos()
            .field("PilotConfig", k)
            .or_else(|| protos().field("Values", k))
            .ok_or_else(|| format!("{k}: neither a PilotConfig nor a Values field"))?;
        protos().check_field(v, f, k)?;
        if k != "profile" {
            let d = istiod_chart()
                .get(k)
                .ok_or_else(|| format!("{k}: not a value of the istiod chart"))?;
            check_chart_value(v, d, k, k)?;
        }
    }
    check_free_form(values, "/env", "")
}

/// `istio/ztunnel` values: keys of the chart; `global.X` also when `X` is a top-level key,
/// which the chart's `zzz_profile.yaml` copies `global.*` onto.
pub fn check_ztunnel_helm_values(values: &Value) -> Check {
    let defaults = chart_defaults("ztunnel-chart.values.yaml");
    let obj = values
        .as_object()
        .ok_or("ztunnel values must be a map".to_owned())?;
    for (k, v) in obj {
        if k == "global" {
            for (gk, gv) in v.as_object().ok_or("global must be a map".to_owned())? {
                let at = format!("global.{gk}");
                let d = defaults["global"]
                    .get(gk)
                    .or_else(|| defaults.get(gk))
                    .ok_or_else(|| format!("{at}: not a value of the ztunnel chart"))?;
                check_chart_value(gv, d, gk, &at)?;
            }
        } else {
            let d = defaults
                .get(k)
                .ok_or_else(|| format!("{k}: not a value of the ztunnel chart"))?;
            check_chart_value(v, d, k, k)?;
        }
    }
    Ok(())
}

/// `istio/cni` values: keys of the chart, or `profile` (read by its `zzz_profile.yaml`).
pub fn check_cni_helm_values(values: &Value) -> Check {
    let defaults = chart_defaults("istio-cni-chart.values.yaml");
    let obj = values
        .as_object()
        .ok_or("cni values must be a map".to_owned())?;
    for (k, v) in obj {
        if k == "profile" {
            let f = protos().field("Values", k).ok_or("no Values.profile")?;
            protos().check_field(v, f, k)?;
            continue;
        }
        let d = defaults
            .get(k)
            .ok_or_else(|| format!("{k}: not a value of the cni chart"))?;
        check_chart_value(v, d, k, k)?;
    }
    Ok(())
}
