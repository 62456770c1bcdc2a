//! Services from their parts: a ServiceImport's record plus, per exporting cluster, the
//! endpoints and ports of its imported EndpointSlices.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ConvertError, Part, SliceEntry, part};
use crate::table::{Key, NameTable};
use crate::v1::{ClusterEndpoints, ServiceRecord};

/// One service's record: its ServiceImport's record plus, per source cluster (by name), the
/// endpoints and the ports of its imported slices, both in a canonical order (the order of the
/// slices does not matter, and an unchanged view never produces a delta). An exporting cluster
/// whose slices hold no endpoints is listed with none, so the record still names it.
pub fn service_record<'a>(
    import: &ServiceRecord,
    slices: impl IntoIterator<Item = &'a SliceEntry>,
) -> ServiceRecord {
    let mut by_cluster: BTreeMap<&str, ClusterEndpoints> = BTreeMap::new();
    for s in slices {
        let entry = by_cluster
            .entry(s.cluster.as_str())
            .or_insert_with(|| ClusterEndpoints {
                cluster: s.cluster.clone(),
                endpoints: Vec::new(),
                ports: Vec::new(),
            });
        entry.endpoints.extend(s.endpoints.iter().cloned());
        for p in &s.ports {
            if !entry.ports.contains(p) {
                entry.ports.push(p.clone());
            }
        }
    }
    let mut record = import.clone();
    record.clusters = by_cluster
        .into_values()
        .map(|mut ce| {
            ce.endpoints.sort_by(|a, b| {
                (&a.addresses, &a.hostname, a.ready).cmp(&(&b.addresses, &b.hostname, b.ready))
            });
            ce.ports.sort_by(|a, b| {
                (a.port, &a.protocol, &a.name).cmp(&(b.port, &b.protocol, &b.name))
            });
            ce
        })
        .collect();
    record
}

/// A name table from the parts of a cluster's objects. A slice whose service has no
/// ServiceImport names nothing.
pub fn assemble<'a>(parts: impl IntoIterator<Item = &'a Part>) -> NameTable {
    let mut services: BTreeMap<&Key, Vec<&SliceEntry>> = BTreeMap::new();
    let mut imports = Vec::new();
    for p in parts {
        match p {
            Part::Import(key, r) => imports.push((key, r)),
            Part::Slice(s) => services.entry(&s.key).or_default().push(s),
        }
    }
    let mut records = Vec::with_capacity(imports.len());
    for (key, import) in imports {
        let slices = services.get(key).map_or(&[][..], Vec::as_slice);
        records.push(service_record(import, slices.iter().copied()));
    }
    // Later imports of the same key replace earlier ones, as a server-side apply would.
    let mut table = NameTable::new();
    for r in records {
        // Keys were checked when the parts were read; inserting cannot fail on them.
        let _ = table.upsert(r);
    }
    table
}

/// A name table from a cluster's objects (other kinds are ignored). An object that cannot be
/// read is reported in the second element and left out; the rest of the table is still built.
pub fn cluster_table<'a>(
    objects: impl IntoIterator<Item = &'a Value>,
) -> (NameTable, Vec<ConvertError>) {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for o in objects {
        match part(o) {
            Some(Ok(p)) => parts.push(p),
            Some(Err(e)) => errors.push(e),
            None => {}
        }
    }
    (assemble(&parts), errors)
}
