//! What a served resource is: its names, versions, scope and subresources, and the list
//! semantics of its fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// List semantics of a list-valued field (used by strategic merge patch and server-side apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Merged item by item. The first key field is the strategic-merge-patch merge key; server-side
    /// apply identifies items by all key fields present (`containerPort` + `protocol`).
    Map(Vec<String>),
    /// A set of scalars.
    Set,
}

/// One `additionalPrinterColumns` entry of a CRD version, as written in the CRD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column name (`Type`); kubectl prints it upper-cased.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub column_type: String,
    /// Optional format (`name`, `int32`, ...), passed through to the Table.
    pub format: String,
    /// Description; empty means the API server's default text.
    pub description: String,
    /// 0 for the standard view; kubectl shows higher priorities only with `-o wide`.
    pub priority: i64,
    /// The JSONPath evaluated against each object (`.spec.type`).
    pub json_path: String,
}

/// One served resource (all its versions share one storage).
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group ("" for core).
    pub group: String,
    /// Served versions, highest priority first.
    pub versions: Vec<String>,
    /// The storage version.
    pub storage_version: String,
    /// Plural resource name (`services`).
    pub plural: String,
    /// Singular name (`service`).
    pub singular: String,
    /// Kind (`Service`).
    pub kind: String,
    /// List kind (`ServiceList`).
    pub list_kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`svc`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource (then status is separate from the main resource).
    pub status_subresource: bool,
    /// List types of fields that are keyed or sets, by field name: `ports` -> Map("port").
    pub list_types: BTreeMap<String, ListType>,
    /// True for resources defined by a CRD.
    pub custom: bool,
    /// The storage version's `openAPIV3Schema` of a CRD (used for defaulting only).
    pub schema: Option<Arc<Value>>,
    /// `additionalPrinterColumns` of each served CRD version, by version name (empty for the
    /// built-ins, whose Tables come from the printers).
    pub printer_columns: BTreeMap<String, Vec<PrinterColumn>>,
}

/// `group/resource` key of a resource's storage.
pub type ResourceKey = Arc<str>;

impl ResourceInfo {
    /// The storage key `group/plural`.
    pub fn key(&self) -> ResourceKey {
        Arc::from(format!("{}/{}", self.group, self.plural))
    }

    /// `apiVersion` for a version of this resource.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether the server keeps `metadata.generation` for this kind (custom resources, CRDs and
    /// the built-ins whose spec has controllers acting on it; not e.g. ConfigMap or Service).
    pub fn has_generation(&self) -> bool {
        self.custom
            || matches!(
                self.kind.as_str(),
                "Deployment"
                    | "StatefulSet"
                    | "DaemonSet"
                    | "ReplicaSet"
                    | "PodDisruptionBudget"
                    | "EndpointSlice"
                    | "CustomResourceDefinition"
                    | "Pod"
            )
    }

    /// The printer columns a CRD declares for one version (empty when it declares none).
    pub fn printer_columns(&self, version: &str) -> &[PrinterColumn] {
        self.printer_columns
            .get(version)
            .map_or(&[][..], Vec::as_slice)
    }

    /// The list type of a field of this kind, by field name; metadata lists are shared by all.
    pub fn list_type(&self, field: &str) -> ListType {
        match field {
            "ownerReferences" => ListType::Map(vec!["uid".into()]),
            "finalizers" => ListType::Set,
            "managedFields" => ListType::Atomic,
            _ => self
                .list_types
                .get(field)
                .cloned()
                .unwrap_or(ListType::Atomic),
        }
    }
}
