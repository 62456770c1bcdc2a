//! A Table column definition, the columns every printer shares (NAME, AGE), and a row.

use std::borrow::Cow;

use jiff::Timestamp;
use serde_json::{Value, json};

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name; kubectl prints it upper-cased.
    pub name: Cow<'static, str>,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or `date`.
    pub column_type: Cow<'static, str>,
    /// OpenAPI format (`name` marks the object's name column).
    pub format: Cow<'static, str>,
    /// Human-readable description.
    pub description: Cow<'static, str>,
    /// 0 for the standard view; kubectl shows higher priorities only with `-o wide`.
    pub priority: i64,
}

impl Column {
    /// A built-in column.
    pub(super) const fn new(
        name: &'static str,
        column_type: &'static str,
        priority: i64,
        description: &'static str,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            column_type: Cow::Borrowed(column_type),
            format: Cow::Borrowed(""),
            description: Cow::Borrowed(description),
            priority,
        }
    }

    /// The NAME column every printer starts with (type `string`, format `name`).
    pub(super) const fn name() -> Self {
        Self::name_with_priority(0)
    }

    /// The NAME column at another priority (events show it only with `-o wide`).
    pub(super) const fn name_with_priority(priority: i64) -> Self {
        Self {
            name: Cow::Borrowed("Name"),
            column_type: Cow::Borrowed("string"),
            format: Cow::Borrowed("name"),
            description: Cow::Borrowed(NAME_DESCRIPTION),
            priority,
        }
    }

    /// The JSON of the definition (every field present, as the API server writes it).
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.column_type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Description of the NAME column.
pub(super) const NAME_DESCRIPTION: &str = "Name of the object, unique within its namespace.";
/// Description of the AGE and CREATED AT columns.
pub(super) const AGE_DESCRIPTION: &str = "Time since the object was created.";

/// The AGE column of the built-in printers.
pub(super) const AGE: Column = Column::new("Age", "string", 0, AGE_DESCRIPTION);

/// The cells of one object, and the row conditions (a completed Pod's `Completed`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// One cell per column definition.
    pub cells: Vec<Value>,
    /// `TableRowCondition`s, usually none.
    pub conditions: Vec<Value>,
}

impl Row {
    /// A row with these cells and no conditions.
    pub(super) fn new(cells: Vec<Value>) -> Self {
        Self {
            cells,
            conditions: Vec::new(),
        }
    }
}

/// The cells of one object, computed at `now` (ages are relative).
pub(super) type RowFn = fn(&Value, Timestamp) -> Row;
