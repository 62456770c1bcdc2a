//! The stored form of an object: compact JSON plus the metadata that selectors, owner tracking
//! and deletion read without parsing it, and the key it is stored under.

use bytes::Bytes;
use serde_json::Value;

/// One stored object: its serialized JSON plus the metadata selectors and deletion need.
#[derive(Debug)]
pub struct Stored {
    /// metadata.name
    pub name: Box<str>,
    /// metadata.namespace
    pub namespace: Option<Box<str>>,
    /// metadata.uid
    pub uid: Box<str>,
    /// metadata.resourceVersion
    pub rv: u64,
    /// metadata.labels
    pub labels: Box<[(Box<str>, Box<str>)]>,
    /// uids from metadata.ownerReferences
    pub owners: Box<[Box<str>]>,
    /// metadata.finalizers is not empty
    pub has_finalizers: bool,
    /// metadata.deletionTimestamp is set
    pub deleting: bool,
    /// compact JSON of the object in its storage version
    pub json: Bytes,
}

impl Stored {
    pub(super) fn from_value(v: &Value, rv: u64) -> Self {
        let meta = v.get("metadata");
        let s = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .map(|(k, v)| {
                        (
                            Box::from(k.as_str()),
                            Box::from(v.as_str().unwrap_or_default()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("uid").and_then(Value::as_str))
                    .map(Box::from)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name: Box::from(s("name").unwrap_or_default()),
            namespace: s("namespace").map(Box::from),
            uid: Box::from(s("uid").unwrap_or_default()),
            rv,
            labels,
            owners,
            has_finalizers: meta
                .and_then(|m| m.get("finalizers"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()),
            deleting: s("deletionTimestamp").is_some(),
            // Exact-size allocation: a serializer buffer may have twice the capacity it needs.
            json: Bytes::from(serde_json::to_vec(v).unwrap_or_default().into_boxed_slice()),
        }
    }

    /// Parses the stored JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// The key of an object within its resource: `namespace/name`, or `name` when cluster-scoped.
pub(super) fn obj_key(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}
