//! The printer a resource version gets: the built-in printer of its kind, its CRD's
//! `additionalPrinterColumns`, or the default NAME / CREATED AT
//! (`k8s.io/apiserver/pkg/registry/rest/table.go`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::builtin::builtin_printer;
use super::column::{AGE_DESCRIPTION, Column, Row, RowFn};
use super::custom::CustomColumns;
use super::fields::object_name;
use super::format::timestamp;
use crate::registry::ResourceInfo;

enum Cells {
    Builtin(RowFn),
    Custom(CustomColumns),
    Default,
}

/// How the objects of one resource version are printed.
pub struct Printer {
    columns: Vec<Column>,
    cells: Cells,
}

impl Printer {
    /// The printer of a resource version: its kind's built-in printer, its CRD's
    /// `additionalPrinterColumns` (AGE alone when it declares none), or the default columns.
    pub fn for_resource(info: &ResourceInfo, version: &str) -> Self {
        if info.custom {
            let custom = CustomColumns::new(info.printer_columns(version));
            return Self {
                columns: custom.definitions(),
                cells: Cells::Custom(custom),
            };
        }
        match builtin_printer(&info.group, &info.kind) {
            Some((columns, row)) => Self {
                columns: columns.to_vec(),
                cells: Cells::Builtin(row),
            },
            None => Self {
                columns: vec![
                    Column::name(),
                    Column::new("Created At", "date", 0, AGE_DESCRIPTION),
                ],
                cells: Cells::Default,
            },
        }
    }

    /// The column definitions.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The row of one object.
    pub fn row(&self, obj: &Value, now: Timestamp) -> Row {
        match &self.cells {
            Cells::Builtin(f) => f(obj, now),
            Cells::Custom(c) => Row::new(c.cells(obj, now)),
            Cells::Default => {
                let created = timestamp(obj.pointer("/metadata/creationTimestamp")).map_or_else(
                    || "0001-01-01T00:00:00Z".to_string(),
                    |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                );
                Row::new(vec![json!(object_name(obj)), json!(created)])
            }
        }
    }
}
