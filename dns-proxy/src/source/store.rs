//! The MCS objects a file or the local cluster holds, kept per object so watch events apply
//! one at a time, and read into services by [`mesh_proto::mcs`], the reading the controller
//! uses for the tables it serves.

use std::collections::BTreeMap;

use mesh_proto::mcs::{self, ConvertError, SliceEntry};
use mesh_proto::table::Key;
use mesh_proto::v1::ServiceRecord;
use serde_json::Value;

use super::record::{self, Names};
use crate::model::ServiceSet;

/// The ServiceImports and imported EndpointSlices a source has seen, keyed by namespace and
/// name, each already read into its part of a record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    imports: BTreeMap<Key, ServiceRecord>,
    slices: BTreeMap<(String, String), SliceEntry>,
}

impl Store {
    /// Adds or replaces a ServiceImport (JSON, as Kubernetes serves it).
    pub fn apply_import(&mut self, object: &Value) -> Result<(), ConvertError> {
        let record = mcs::import_record(object)?;
        if let Some(k) = &record.key {
            self.imports
                .insert(Key::new(k.namespace.clone(), k.name.clone()), record);
        }
        Ok(())
    }

    /// Removes a ServiceImport.
    pub fn delete_import(&mut self, namespace: &str, name: &str) {
        self.imports.remove(&Key::new(namespace, name));
    }

    /// Adds or replaces an MCS EndpointSlice (JSON, as Kubernetes serves it; it must carry the
    /// MCS service-name and source-cluster labels).
    pub fn apply_slice(&mut self, object: &Value) -> Result<(), ConvertError> {
        let entry = mcs::slice_entry(object)?;
        let meta = |field: &str| {
            object
                .pointer(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        // Both were checked when the slice was read.
        let key = (meta("/metadata/namespace"), meta("/metadata/name"));
        self.slices.insert(key, entry);
        Ok(())
    }

    /// Removes an EndpointSlice.
    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        self.slices
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Drops every ServiceImport (a watch restarted its initial list).
    pub fn clear_imports(&mut self) {
        self.imports.clear();
    }

    /// Drops every slice.
    pub fn clear_slices(&mut self) {
        self.slices.clear();
    }

    /// The services to build a table from. Slices whose service has no ServiceImport are
    /// ignored.
    pub fn to_set(&self) -> ServiceSet {
        let mut slices: BTreeMap<&Key, Vec<&SliceEntry>> = BTreeMap::new();
        for s in self.slices.values() {
            slices.entry(s.service()).or_default().push(s);
        }
        let mut services = Vec::with_capacity(self.imports.len());
        for (key, import) in &self.imports {
            let of_service = slices.get(key).map_or(&[][..], Vec::as_slice);
            let record = mcs::service_record(import, of_service.iter().copied());
            // The objects were read by the same rules; a record that still does not convert
            // is left out, as the other sources leave out malformed records.
            match record::to_service(&record, Names::AsGiven) {
                Ok(s) => services.push(s),
                Err(e) => {
                    tracing::warn!(service = %key, error = %e, "skipping malformed service record")
                }
            }
        }
        ServiceSet { services }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::ServiceKind;

    fn import(name: &str) -> Value {
        json!({"kind": "ServiceImport", "metadata": {"namespace": "shop", "name": name},
               "spec": {"type": "Headless", "ports": [{"name": "http", "port": 80}]}})
    }

    fn slice(name: &str, service: &str, cluster: &str, ip: &str) -> Value {
        json!({"kind": "EndpointSlice",
               "metadata": {"namespace": "shop", "name": name, "labels": {
                   "multicluster.kubernetes.io/service-name": service,
                   "multicluster.kubernetes.io/source-cluster": cluster}},
               "addressType": "IPv4", "endpoints": [{"addresses": [ip]}]})
    }

    #[test]
    fn applies_and_deletes_arrive_one_object_at_a_time() {
        let mut store = Store::default();
        store
            .apply_slice(&slice("db-a", "db", "east", "10.1.0.1"))
            .unwrap();
        // A slice without its ServiceImport names nothing yet.
        assert!(store.to_set().services.is_empty());
        store.apply_import(&import("db")).unwrap();
        store
            .apply_slice(&slice("db-b", "db", "west", "10.2.0.1"))
            .unwrap();
        let set = store.to_set();
        assert_eq!(set.services.len(), 1);
        assert_eq!(set.services[0].kind, ServiceKind::Headless);
        assert_eq!(set.services[0].ports[0].protocol, "tcp");
        let clusters: Vec<&str> = set.services[0]
            .endpoints
            .iter()
            .map(|e| e.cluster.as_str())
            .collect();
        assert_eq!(clusters, ["east", "west"]);
        // Replacing a slice replaces its endpoints; deleting it removes them.
        store
            .apply_slice(&slice("db-a", "db", "east", "10.1.0.9"))
            .unwrap();
        store.delete_slice("shop", "db-b");
        let set = store.to_set();
        assert_eq!(set.services[0].endpoints.len(), 1);
        assert_eq!(
            set.services[0].endpoints[0].addresses,
            ["10.1.0.9".parse::<std::net::IpAddr>().unwrap()]
        );
        store.delete_import("shop", "db");
        assert!(store.to_set().services.is_empty());
        // A malformed object is an error naming it and changes nothing.
        let mut bad = slice("db-c", "db", "east", "10.1.0.300");
        let e = store.apply_slice(&bad).unwrap_err();
        assert_eq!(e.object, "EndpointSlice shop/db-c");
        bad["endpoints"] = json!([]);
        store.apply_slice(&bad).unwrap();
    }

    #[test]
    fn names_are_taken_as_the_objects_give_them() {
        // Cluster IDs are label values, not necessarily RFC 1123 labels; the table builder
        // decides which names it can serve.
        let mut store = Store::default();
        store.apply_import(&import("db")).unwrap();
        store
            .apply_slice(&slice("db-a", "db", "East_1", "10.1.0.1"))
            .unwrap();
        let set = store.to_set();
        assert_eq!(set.services[0].endpoints[0].cluster, "East_1");
    }
}
