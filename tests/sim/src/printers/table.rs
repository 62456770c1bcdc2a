//! The `Table` object around the rows (`metav1.Table`): list metadata, column definitions
//! (left out of the watch events after the first, as the API server does), one row per object,
//! and the row's object by `includeObject` (`asTable` in
//! `k8s.io/apiserver/pkg/endpoints/handlers/response.go`).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::printer::Printer;

/// Errors of a Table request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// `includeObject` has a value the API server does not know.
    #[error(
        "Unable to convert to Table as requested: includeObject: Unsupported value: {0:?}: supported values: \"Metadata\", \"None\", \"Object\""
    )]
    IncludeObject(String),
}

/// What each row carries as its `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// The object's `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
    /// Nothing (`object: null`).
    None,
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter (missing or empty is `Metadata`).
    pub fn from_query(v: Option<&str>) -> Result<Self, TableError> {
        match v.unwrap_or_default() {
            "" | "Metadata" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            "None" => Ok(Self::None),
            other => Err(TableError::IncludeObject(other.to_string())),
        }
    }
}

/// How the Table was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as negotiated.
    pub api_version: &'static str,
    /// What each row carries.
    pub include: IncludeObject,
}

/// The list metadata of a Table: the list's, or the object's resourceVersion for one object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableMeta {
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.continue`, for a page followed by more.
    pub continue_token: Option<String>,
    /// `metadata.remainingItemCount`.
    pub remaining: Option<u64>,
}

/// The Table of `objects` (each in the requested version). `headers` false leaves the column
/// definitions out (`null`), as in the events of a watch after the first.
pub fn table(
    printer: &Printer,
    objects: &[Value],
    meta: &TableMeta,
    opts: TableOptions,
    headers: bool,
    now: Timestamp,
) -> Value {
    let mut list_meta = Map::new();
    if !meta.resource_version.is_empty() {
        list_meta.insert("resourceVersion".into(), json!(meta.resource_version));
    }
    if let Some(c) = &meta.continue_token {
        list_meta.insert("continue".into(), json!(c));
    }
    if let Some(r) = meta.remaining {
        list_meta.insert("remainingItemCount".into(), json!(r));
    }
    let columns = if headers {
        Value::Array(printer.columns().iter().map(|c| c.to_json()).collect())
    } else {
        Value::Null
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let row = printer.row(obj, now);
            let object = match opts.include {
                IncludeObject::Object => obj.clone(),
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": opts.api_version,
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                }),
                IncludeObject::None => Value::Null,
            };
            let mut r = Map::new();
            r.insert("cells".into(), Value::Array(row.cells));
            if !row.conditions.is_empty() {
                r.insert("conditions".into(), Value::Array(row.conditions));
            }
            r.insert("object".into(), object);
            Value::Object(r)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": opts.api_version,
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::registry::{builtins, from_crd};

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn include_object_values() {
        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            Ok(IncludeObject::Object)
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")),
            Ok(IncludeObject::None)
        );
        let e = IncludeObject::from_query(Some("All")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unable to convert to Table as requested: includeObject: Unsupported value: \"All\": supported values: \"Metadata\", \"None\", \"Object\""
        );
    }

    #[test]
    fn list_table_has_metadata_columns_and_partial_objects() {
        let info = builtins()
            .into_iter()
            .find(|r| r.kind == "ConfigMap")
            .unwrap();
        let printer = Printer::for_resource(&info, "v1");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7",
                "creationTimestamp": "2024-05-01T11:59:00Z"},
            "data": {"x": "1", "y": "2"}, "binaryData": {"z": ""}});
        let meta = TableMeta {
            resource_version: "9".into(),
            continue_token: Some("tok".into()),
            remaining: Some(3),
        };
        let opts = TableOptions {
            api_version: "meta.k8s.io/v1",
            include: IncludeObject::Metadata,
        };
        let t = table(
            &printer,
            std::slice::from_ref(&cm),
            &meta,
            opts,
            true,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "9", "continue": "tok", "remainingItemCount": 3})
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Data", "Age"]);
        assert_eq!(t["rows"][0]["cells"], json!(["a", 3, "60s"]));
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": cm["metadata"]})
        );
        let whole = TableOptions {
            api_version: "meta.k8s.io/v1beta1",
            include: IncludeObject::Object,
        };
        let t = table(
            &printer,
            std::slice::from_ref(&cm),
            &meta,
            whole,
            false,
            now(),
        );
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["columnDefinitions"], Value::Null);
        assert_eq!(t["rows"][0]["object"], cm);
        let none = TableOptions {
            api_version: "meta.k8s.io/v1",
            include: IncludeObject::None,
        };
        let t = table(&printer, &[cm], &TableMeta::default(), none, true, now());
        assert_eq!(t["rows"][0]["object"], Value::Null);
        assert_eq!(t["metadata"], json!({}));
    }

    #[test]
    fn kinds_without_a_printer_get_name_and_created_at() {
        let info = builtins().into_iter().find(|r| r.kind == "Role").unwrap();
        let printer = Printer::for_resource(&info, "v1");
        let cols: Vec<(String, String)> = printer
            .columns()
            .iter()
            .map(|c| (c.name.to_string(), c.column_type.to_string()))
            .collect();
        assert_eq!(
            cols,
            [
                ("Name".to_string(), "string".to_string()),
                ("Created At".to_string(), "date".to_string())
            ]
        );
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        assert_eq!(
            printer.row(&role, now()).cells,
            vec![json!("r"), json!("2024-01-02T03:04:05Z")]
        );
    }

    #[test]
    fn crd_printer_uses_the_version_columns() {
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1}]},
                {"name": "v1beta1", "served": true, "storage": false}]}});
        let info = from_crd(&crd).unwrap();
        let v1 = Printer::for_resource(&info, "v1");
        let names: Vec<String> = v1.columns().iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["Name", "Size", "Color"]);
        assert_eq!(v1.columns()[2].priority, 1);
        let w = json!({"metadata": {"name": "w"}, "spec": {"size": 3, "color": "blue"}});
        assert_eq!(
            v1.row(&w, now()).cells,
            vec![json!("w"), json!(3), json!("blue")]
        );
        let beta = Printer::for_resource(&info, "v1beta1");
        let names: Vec<String> = beta.columns().iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["Name", "Age"]);
    }
}
