//! Multi-Cluster Services objects as name-table records: the one reading of ServiceImports and
//! imported EndpointSlices into [`ServiceRecord`]s (KEP-1645).
//!
//! The controller builds the tables it serves from the objects it writes into each member;
//! the DNS proxy's file and Kubernetes sources read the same objects with the same functions
//! and convert the records to their own model as the gRPC source does. So every source of a
//! proxy agrees by construction, not by a test.
//!
//! - [`import_record`]: a ServiceImport's record (type, clusterset IPs, ports).
//! - [`slice_entry`]: an imported EndpointSlice (service, source cluster, endpoints, ports).
//! - [`service_record`]: one service's record from its import and slices.
//! - [`part`], [`assemble`], [`cluster_table`]: whole tables from a cluster's objects.
//!
//! Objects are JSON, as Kubernetes sends and stores them; `null` reads as unset. A field that
//! cannot be used is a [`ConvertError`] naming the object and the field; callers log it and
//! leave the object out.
//!
//! [`ServiceRecord`]: crate::v1::ServiceRecord

mod assemble;
mod error;
mod import;
mod json;
mod ports;
mod slice;

use serde_json::Value;

pub use assemble::{assemble, cluster_table, service_record};
pub use error::ConvertError;
pub use import::import_record;
pub use slice::{SliceEntry, slice_entry};

use crate::table::Key;
use crate::v1::ServiceRecord;
use isthmus_api::labels::MCS_SERVICE_NAME;

/// What one object contributes to a name table.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// A ServiceImport: its service and the record, without its clusters yet.
    Import(Key, ServiceRecord),
    /// An imported EndpointSlice.
    Slice(SliceEntry),
}

/// Reads one object: `None` for objects that are not part of the view (other kinds,
/// EndpointSlices without the MCS service-name label).
pub fn part(o: &Value) -> Option<Result<Part, ConvertError>> {
    match o.get("kind").and_then(Value::as_str) {
        Some("ServiceImport") => Some(import_record(o).map(|r| {
            let key = r
                .key
                .as_ref()
                .map(|k| Key::new(k.namespace.clone(), k.name.clone()))
                .unwrap_or_else(|| Key::new("", ""));
            Part::Import(key, r)
        })),
        Some("EndpointSlice") => {
            // Only imported slices (with the MCS labels) are part of the view.
            o.pointer("/metadata/labels")
                .and_then(|l| l.get(MCS_SERVICE_NAME))
                .map(|_| slice_entry(o).map(Part::Slice))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
