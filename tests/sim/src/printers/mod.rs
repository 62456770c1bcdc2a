//! Server-side printing: the `meta.k8s.io` `Table` kubectl asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns a real API
//! server prints.
//!
//! One concept per module: the column definition and row (`column`), the printer a resource
//! version gets (`printer`), the Table object around the rows (`table`), the cells of CRD
//! `additionalPrinterColumns` (`custom`) and the JSONPath they use (`jsonpath`), reading
//! object fields (`fields`), how values are spelled in cells (`format`), and the printers of the built-in kinds, after
//! `pkg/printers/internalversion/printers.go`: namespaces, secrets, config maps, service
//! accounts, leases and role bindings (`builtin`), services, endpoints and endpoint slices
//! (`network`), events (`event`), pods and nodes (`pod`), and the apps/v1 workloads and
//! pod disruption budgets (`workload`). Kinds without a printer (roles, CRDs) get the
//! default Table of NAME and CREATED AT, as in `k8s.io/apiserver/pkg/registry/rest/table.go`.

mod builtin;
mod column;
mod custom;
mod event;
mod fields;
mod format;
mod jsonpath;
mod network;
mod pod;
mod printer;
mod table;
mod workload;

pub use column::{Column, Row};
pub use format::human_duration;
pub use jsonpath::{JsonPath, JsonPathError};
pub use printer::Printer;
pub use table::{IncludeObject, TableError, TableMeta, TableOptions, table};
