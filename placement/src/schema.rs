//! Structural validation of policy documents against Karmada's CRD schemas (embedded from
//! `testdata/schemas/`): unknown fields, types, enums, required fields and minimums.

use std::sync::OnceLock;

use serde_json::Value;

/// A document that does not fit the CRD schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// Dotted path of the offending field, e.g. `spec.placement.clusterAffinity.foo`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Errors loading the embedded schemas (a build defect, reported rather than panicking).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaLoadError {
    /// The embedded CRD does not parse.
    #[error("embedded CRD schema {0} is unreadable: {1}")]
    Unreadable(&'static str, String),
}

/// Which policy CRD to validate against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyCrd {
    /// PropagationPolicy.
    PropagationPolicy,
    /// ClusterPropagationPolicy.
    ClusterPropagationPolicy,
    /// OverridePolicy.
    OverridePolicy,
    /// ClusterOverridePolicy.
    ClusterOverridePolicy,
}

const PP: &str = include_str!("../testdata/schemas/policy.karmada.io_propagationpolicies.yaml");
const CPP: &str =
    include_str!("../testdata/schemas/policy.karmada.io_clusterpropagationpolicies.yaml");
const OP: &str = include_str!("../testdata/schemas/policy.karmada.io_overridepolicies.yaml");
const COP: &str =
    include_str!("../testdata/schemas/policy.karmada.io_clusteroverridepolicies.yaml");

type Loaded = Result<Value, SchemaLoadError>;

fn load(name: &'static str, text: &str) -> Loaded {
    let crd: Value = serde_saphyr::from_str(text)
        .map_err(|e| SchemaLoadError::Unreadable(name, e.to_string()))?;
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
        .cloned()
        .ok_or_else(|| SchemaLoadError::Unreadable(name, "no openAPIV3Schema".into()))
}

fn schema_for(crd: PolicyCrd) -> Result<&'static Value, SchemaLoadError> {
    static CELLS: [OnceLock<Loaded>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let (idx, name, text) = match crd {
        PolicyCrd::PropagationPolicy => (0, "propagationpolicies", PP),
        PolicyCrd::ClusterPropagationPolicy => (1, "clusterpropagationpolicies", CPP),
        PolicyCrd::OverridePolicy => (2, "overridepolicies", OP),
        PolicyCrd::ClusterOverridePolicy => (3, "clusteroverridepolicies", COP),
    };
    CELLS[idx]
        .get_or_init(|| load(name, text))
        .as_ref()
        .map_err(Clone::clone)
}

/// Validate a whole document (apiVersion, kind, metadata, spec) against the kind's CRD schema.
pub fn validate(crd: PolicyCrd, doc: &Value) -> Result<(), ValidateError> {
    let schema = schema_for(crd)?;
    let mut path = String::new();
    check(schema, doc, &mut path, None).map_err(ValidateError::Schema)
}

const CLUSTER_SWAGGER: &str =
    include_str!("../testdata/schemas/swagger.json.cluster-v1alpha1-subset.json");
const CLUSTER_DEF: &str = "com.github.karmada-io.karmada.pkg.apis.cluster.v1alpha1.Cluster";

fn cluster_defs() -> Result<&'static Defs, SchemaLoadError> {
    static CELL: OnceLock<Result<Defs, SchemaLoadError>> = OnceLock::new();
    CELL.get_or_init(|| {
        let doc: Value = serde_json::from_str(CLUSTER_SWAGGER)
            .map_err(|e| SchemaLoadError::Unreadable("cluster swagger", e.to_string()))?;
        let mut defs = doc
            .get("definitions")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| {
                SchemaLoadError::Unreadable("cluster swagger", "no definitions".into())
            })?;
        // cluster files are often hand-written summaries: check fields and types, but do not
        // insist on fields the scheduler does not read (e.g. spec.syncMode)
        for def in defs.values_mut() {
            if let Some(obj) = def.as_object_mut() {
                obj.remove("required");
            }
        }
        Ok(defs)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Validate a Karmada `cluster.karmada.io/v1alpha1` `Cluster` against its OpenAPI definition.
pub fn validate_karmada_cluster(doc: &Value) -> Result<(), ValidateError> {
    let defs = cluster_defs()?;
    let schema = defs.get(CLUSTER_DEF).ok_or_else(|| {
        SchemaLoadError::Unreadable("cluster swagger", "no Cluster definition".into())
    })?;
    let mut path = String::new();
    check(schema, doc, &mut path, Some(defs)).map_err(ValidateError::Schema)
}

/// Validation failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    /// The document breaks the schema.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The schema itself could not be loaded.
    #[error(transparent)]
    Load(#[from] SchemaLoadError),
}

fn err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        path: if path.is_empty() {
            "<document>".to_string()
        } else {
            path.to_string()
        },
        message: message.into(),
    }
}

type Defs = serde_json::Map<String, Value>;

fn check(
    schema: &Value,
    value: &Value,
    path: &mut String,
    defs: Option<&Defs>,
) -> Result<(), SchemaError> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return match defs.and_then(|d| d.get(name)) {
            Some(target) => check(target, value, path, defs),
            // definitions outside the embedded subset (ObjectMeta, Taint, Quantity) are not checked
            None => Ok(()),
        };
    }
    if value.is_null() {
        // Kubernetes treats explicit nulls as absent.
        return Ok(());
    }
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return if value.is_string() || value.is_i64() || value.is_u64() {
            Ok(())
        } else {
            Err(err(path, "must be an integer or a string"))
        };
    }
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(map) = value.as_object() else {
                return Err(err(
                    path,
                    format!("must be an object, got {}", type_name(value)),
                ));
            };
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if map.get(r).is_none_or(Value::is_null) {
                        return Err(err(path, format!("missing required field `{r}`")));
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, child) in map {
                let base = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let result = if let Some(sub) = props.and_then(|p| p.get(key)) {
                    check(sub, child, path, defs)
                } else if let Some(add) = additional.filter(|a| a.is_object()) {
                    check(add, child, path, defs)
                } else if preserve || (props.is_none() && additional.is_none()) {
                    Ok(())
                } else {
                    Err(err(path, format!("unknown field `{key}`")))
                };
                path.truncate(base);
                result?;
            }
            Ok(())
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return Err(err(
                    path,
                    format!("must be an array, got {}", type_name(value)),
                ));
            };
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    let base = path.len();
                    path.push_str(&format!("[{i}]"));
                    let result = check(item_schema, item, path, defs);
                    path.truncate(base);
                    result?;
                }
            }
            Ok(())
        }
        Some("string") => {
            let Some(s) = value.as_str() else {
                return Err(err(
                    path,
                    format!("must be a string, got {}", type_name(value)),
                ));
            };
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                && !allowed.iter().any(|a| a.as_str() == Some(s))
            {
                let list: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                return Err(err(
                    path,
                    format!(
                        "unsupported value {s:?}, expected one of {}",
                        list.join(", ")
                    ),
                ));
            }
            Ok(())
        }
        Some("integer") => {
            let Some(n) = value.as_i64() else {
                return Err(err(
                    path,
                    format!("must be an integer, got {}", type_name(value)),
                ));
            };
            if let Some(min) = schema.get("minimum").and_then(Value::as_i64)
                && n < min
            {
                return Err(err(path, format!("must be >= {min}, got {n}")));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_i64)
                && n > max
            {
                return Err(err(path, format!("must be <= {max}, got {n}")));
            }
            Ok(())
        }
        Some("number") => {
            if value.is_number() {
                Ok(())
            } else {
                Err(err(
                    path,
                    format!("must be a number, got {}", type_name(value)),
                ))
            }
        }
        Some("boolean") => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(err(
                    path,
                    format!("must be a boolean, got {}", type_name(value)),
                ))
            }
        }
        _ => Ok(()),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
