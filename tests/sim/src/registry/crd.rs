//! Resources defined by CustomResourceDefinition objects: reading the served resource, its
//! storage version, status subresource, list types and schema from a CRD.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::resource::{ListType, PrinterColumn, ResourceInfo};
use super::version::version_priority;

/// Errors reading a CustomResourceDefinition.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A required CRD field is missing or has the wrong type.
    #[error("CustomResourceDefinition {crd:?}: field {field} is missing or invalid")]
    InvalidCrd {
        /// Name of the CRD object.
        crd: String,
        /// The offending field.
        field: &'static str,
    },
}

/// Reads the resource a CRD object defines.
pub fn from_crd(crd: &Value) -> Result<ResourceInfo, RegistryError> {
    let crd_name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let bad = |field: &'static str| RegistryError::InvalidCrd {
        crd: crd_name.clone(),
        field,
    };
    let spec = crd.get("spec").ok_or_else(|| bad("spec"))?;
    let s = |v: &Value, p: &str, field: &'static str| -> Result<String, RegistryError> {
        v.pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(field))
    };
    let group = s(spec, "/group", "spec.group")?;
    let plural = s(spec, "/names/plural", "spec.names.plural")?;
    let kind = s(spec, "/names/kind", "spec.names.kind")?;
    let singular = s(spec, "/names/singular", "spec.names.singular")
        .unwrap_or_else(|_| kind.to_ascii_lowercase());
    let list_kind =
        s(spec, "/names/listKind", "spec.names.listKind").unwrap_or_else(|_| format!("{kind}List"));
    let scope = s(spec, "/scope", "spec.scope")?;
    let strings = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("spec.versions"))?;
    let mut served = Vec::new();
    let mut storage = None;
    let mut status_subresource = false;
    let mut list_types = BTreeMap::new();
    let mut schema = None;
    let mut printer_columns = BTreeMap::new();
    for v in versions {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("spec.versions[].name"))?;
        if v.get("served").and_then(Value::as_bool).unwrap_or(false) {
            served.push(name.to_string());
            printer_columns.insert(name.to_string(), read_columns(v));
        }
        if v.get("storage").and_then(Value::as_bool).unwrap_or(false) {
            storage = Some(name.to_string());
            if v.pointer("/subresources/status").is_some() {
                status_subresource = true;
            }
            if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
                collect_list_types(s, None, &mut list_types);
                schema = Some(Arc::new(s.clone()));
            }
        }
    }
    if served.is_empty() {
        return Err(bad("spec.versions[].served"));
    }
    served.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    Ok(ResourceInfo {
        group,
        versions: served,
        storage_version: storage.ok_or_else(|| bad("spec.versions[].storage"))?,
        plural,
        singular,
        kind,
        list_kind,
        namespaced: scope == "Namespaced",
        short_names: strings("/names/shortNames"),
        categories: strings("/names/categories"),
        status_subresource,
        list_types,
        custom: true,
        schema,
        printer_columns,
    })
}

/// Reads the `additionalPrinterColumns` of one CRD version (entries without a name or a
/// JSONPath are left out).
fn read_columns(version: &Value) -> Vec<PrinterColumn> {
    let text = |c: &Value, k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let name = text(c, "name");
            let json_path = text(c, "jsonPath");
            (!name.is_empty() && !json_path.is_empty()).then(|| PrinterColumn {
                name,
                column_type: text(c, "type"),
                format: text(c, "format"),
                description: text(c, "description"),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path,
            })
        })
        .collect()
}

/// Reads `x-kubernetes-list-type: map` / `set` markers from a CRD schema, by field name.
fn collect_list_types(schema: &Value, field: Option<&str>, out: &mut BTreeMap<String, ListType>) {
    if let (Some(field), Some(lt)) = (
        field,
        schema.get("x-kubernetes-list-type").and_then(Value::as_str),
    ) {
        match lt {
            "map" => {
                let keys: Vec<String> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                if !keys.is_empty() {
                    out.insert(field.to_string(), ListType::Map(keys));
                }
            }
            "set" => {
                out.insert(field.to_string(), ListType::Set);
            }
            _ => {}
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            collect_list_types(sub, Some(name), out);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_list_types(items, field, out);
    }
    if let Some(add) = schema.get("additionalProperties") {
        collect_list_types(add, None, out);
    }
}
