//! The Table of a custom resource, from its CRD version's `additionalPrinterColumns`, as the
//! apiextensions API server builds it (`tableconvertor.go` and `serveDefaultColumnsIfEmpty`):
//! NAME first, then the declared columns; a version that declares none gets AGE
//! (`.metadata.creationTimestamp`, type `date`). A column whose JSONPath does not parse ends
//! the list there (the API server keeps the columns before it).

use std::borrow::Cow;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::column::{AGE_DESCRIPTION, Column};
use super::fields::object_name;
use super::format::{go_json, go_number, human_duration, timestamp};
use super::jsonpath::JsonPath;
use crate::registry::PrinterColumn;

/// The declared columns of one CRD version, with their parsed JSONPaths.
pub(super) struct CustomColumns {
    definitions: Vec<Column>,
    paths: Vec<JsonPath>,
}

impl CustomColumns {
    /// Reads the declared columns (AGE when there are none).
    pub(super) fn new(declared: &[PrinterColumn]) -> Self {
        let age = [PrinterColumn {
            name: "Age".into(),
            column_type: "date".into(),
            format: String::new(),
            description: AGE_DESCRIPTION.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }];
        let declared = if declared.is_empty() {
            &age[..]
        } else {
            declared
        };
        let mut definitions = vec![Column::name()];
        let mut paths = Vec::new();
        for col in declared {
            let Ok(path) = JsonPath::parse(&col.json_path) else {
                break;
            };
            paths.push(path);
            let description = if col.description.is_empty() {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    col.json_path
                )
            } else {
                col.description.clone()
            };
            definitions.push(Column {
                name: Cow::Owned(col.name.clone()),
                column_type: Cow::Owned(col.column_type.clone()),
                format: Cow::Owned(col.format.clone()),
                description: Cow::Owned(description),
                priority: col.priority,
            });
        }
        Self { definitions, paths }
    }

    /// The column definitions, NAME first.
    pub(super) fn definitions(&self) -> Vec<Column> {
        self.definitions.clone()
    }

    /// The cells of one object: its name, then the first value each JSONPath selects, typed
    /// by its column (null when nothing is selected or the value has the wrong type).
    pub(super) fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let mut cells = vec![json!(object_name(obj))];
        for (path, def) in self.paths.iter().zip(self.definitions.iter().skip(1)) {
            let first = path.find(obj).ok().and_then(|r| r.into_iter().next());
            cells.push(match first {
                None => Value::Null,
                Some(v) => typed_cell(&def.column_type, &v, now),
            });
        }
        cells
    }
}

/// A value as a cell of a column of this type (`cellForJSONValue`; a `string` column prints
/// any value the way the JSONPath printer does).
fn typed_cell(column_type: &str, v: &Value, now: Timestamp) -> Value {
    match (column_type, v) {
        ("string", _) => json!(jsonpath_text(v)),
        (_, Value::Null) => Value::Null,
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => json!(i),
            // A float is truncated; one beyond the int64 range saturates as Go converts.
            #[allow(clippy::cast_possible_truncation)]
            None => json!(n.as_f64().map_or(0, |f| f as i64)),
        },
        ("number", Value::Number(n)) => go_json_number(n.as_f64().unwrap_or(0.0)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => {
            if s.is_empty() || s == "null" {
                json!("<unknown>")
            } else {
                match timestamp(Some(v)) {
                    Some(t) => json!(human_duration(now.duration_since(t))),
                    None => json!("<invalid>"),
                }
            }
        }
        _ => Value::Null,
    }
}

/// A float cell as Go's JSON encoder writes it: integral values without a fraction.
fn go_json_number(f: f64) -> Value {
    #[allow(clippy::cast_possible_truncation)]
    if f.fract() == 0.0 && f.abs() < 1e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// A value as the JSONPath printer writes it: lists and maps as compact JSON, strings as they
/// are, numbers and booleans as Go prints them, null as `<no value>`.
fn jsonpath_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => go_json(v),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, path: &str, priority: i64) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            column_type: ty.into(),
            format: String::new(),
            description: String::new(),
            priority,
            json_path: path.into(),
        }
    }

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn service_import_columns_print_type_and_ips() {
        // The upstream ServiceImport CRD's columns.
        let c = CustomColumns::new(&[
            col("Type", "string", ".spec.type", 0),
            col("IP", "string", ".spec.ips", 0),
            col("Age", "date", ".metadata.creationTimestamp", 0),
        ]);
        let names: Vec<_> = c.definitions().iter().map(|d| d.name.to_string()).collect();
        assert_eq!(names, ["Name", "Type", "IP", "Age"]);
        assert_eq!(c.definitions()[0].format, "name");
        assert_eq!(
            c.definitions()[1].description,
            "Custom resource definition column (in JSONPath format): .spec.type"
        );
        let si = json!({"metadata": {"name": "cart", "creationTimestamp": "2024-05-01T11:58:30Z"},
            "spec": {"type": "ClusterSetIP", "ips": ["10.42.0.1"]}});
        assert_eq!(
            c.cells(&si, now()),
            vec![
                json!("cart"),
                json!("ClusterSetIP"),
                json!("[\"10.42.0.1\"]"),
                json!("90s")
            ]
        );
        let headless = json!({"metadata": {"name": "db"}, "spec": {"type": "Headless"}});
        assert_eq!(
            c.cells(&headless, now()),
            vec![json!("db"), json!("Headless"), Value::Null, Value::Null]
        );
    }

    #[test]
    fn no_declared_columns_give_age() {
        let c = CustomColumns::new(&[]);
        let names: Vec<_> = c.definitions().iter().map(|d| d.name.to_string()).collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(c.definitions()[1].column_type, "date");
        let o = json!({"metadata": {"name": "x", "creationTimestamp": "2024-04-30T12:00:00Z"}});
        assert_eq!(c.cells(&o, now()), vec![json!("x"), json!("24h")]);
    }

    #[test]
    fn cells_are_typed_by_their_column() {
        let c = CustomColumns::new(&[
            col("Replicas", "integer", ".spec.replicas", 0),
            col("Weight", "number", ".spec.weight", 0),
            col("Ready", "boolean", ".status.ready", 0),
            col("Count", "integer", ".spec.name", 1),
            col("Seen", "date", ".status.seen", 0),
            col("Bad", "date", ".spec.name", 0),
            col("Float", "string", ".spec.weight", 0),
            col("Null", "string", ".spec.none", 0),
            col("Map", "string", ".spec.map", 0),
        ]);
        assert_eq!(c.definitions()[4].priority, 1);
        let o = json!({"metadata": {"name": "x"}, "spec": {"replicas": 3.7, "weight": 2,
            "name": "n", "none": null, "map": {"b": 1, "a": "<"}},
            "status": {"ready": true, "seen": "2024-05-01T11:00:00Z"}});
        assert_eq!(
            c.cells(&o, now()),
            vec![
                json!("x"),
                json!(3),
                json!(2),
                json!(true),
                Value::Null,
                json!("60m"),
                json!("<invalid>"),
                json!("2"),
                json!("<no value>"),
                json!(r#"{"a":"\u003c","b":1}"#),
            ]
        );
    }

    #[test]
    fn an_unparsable_path_ends_the_columns() {
        let c = CustomColumns::new(&[
            col("A", "string", ".spec.a", 0),
            col("B", "string", ".spec[", 0),
            col("C", "string", ".spec.c", 0),
        ]);
        let names: Vec<_> = c.definitions().iter().map(|d| d.name.to_string()).collect();
        assert_eq!(names, ["Name", "A"]);
        let o = json!({"metadata": {"name": "x"}, "spec": {"a": "1", "c": "3"}});
        assert_eq!(c.cells(&o, now()), vec![json!("x"), json!("1")]);
    }
}
