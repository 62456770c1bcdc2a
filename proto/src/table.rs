//! The name table one member cluster sees, and the snapshot/delta arithmetic both ends share.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::v1::{Delta, ServiceKey, ServiceRecord, Snapshot, WatchResponse, watch_response::Body};

/// `namespace/name` of a service, ordered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Key {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn to_proto(&self) -> ServiceKey {
        ServiceKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    fn from_proto(key: &ServiceKey) -> Self {
        Key::new(key.namespace.clone(), key.name.clone())
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The services one member cluster can resolve, keyed by namespace and name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameTable {
    records: BTreeMap<Key, ServiceRecord>,
}

/// Why a message could not be applied to a table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    #[error("service record has no key")]
    MissingKey,
    #[error("service record {0} has an empty namespace or name")]
    EmptyKey(String),
    #[error("service {0} appears twice in one message")]
    Duplicate(String),
    #[error("delta to version {got} does not follow version {have}")]
    OutOfOrder { have: u64, got: u64 },
    #[error("delta from epoch {got} does not match the table's epoch {have}")]
    EpochMismatch { have: u64, got: u64 },
    #[error("a delta arrived before any snapshot")]
    DeltaBeforeSnapshot,
    #[error("message has no body")]
    EmptyMessage,
}

impl NameTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a table from records; a record without a usable key is an error.
    pub fn from_records(
        records: impl IntoIterator<Item = ServiceRecord>,
    ) -> Result<Self, TableError> {
        let mut table = NameTable::new();
        for record in records {
            let key = record_key(&record)?;
            if table.records.insert(key.clone(), record).is_some() {
                return Err(TableError::Duplicate(key.to_string()));
            }
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, key: &Key) -> Option<&ServiceRecord> {
        self.records.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &ServiceRecord)> {
        self.records.iter()
    }

    /// Inserts or replaces one record.
    pub fn upsert(&mut self, record: ServiceRecord) -> Result<(), TableError> {
        let key = record_key(&record)?;
        self.records.insert(key, record);
        Ok(())
    }

    pub fn remove(&mut self, key: &Key) -> Option<ServiceRecord> {
        self.records.remove(key)
    }

    /// The full table as one snapshot message body.
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot {
            services: self.records.values().cloned().collect(),
            more: false,
        }
    }

    /// The full table as snapshot parts of at most `per_part` records each (at least one part,
    /// empty for an empty table). Small messages keep every connection's buffers small.
    pub fn to_snapshot_parts(&self, per_part: usize) -> Vec<Snapshot> {
        let per_part = per_part.max(1);
        let records: Vec<&ServiceRecord> = self.records.values().collect();
        let mut parts: Vec<Snapshot> = records
            .chunks(per_part)
            .map(|chunk| Snapshot {
                services: chunk.iter().map(|r| (*r).clone()).collect(),
                more: true,
            })
            .collect();
        match parts.last_mut() {
            Some(last) => last.more = false,
            None => parts.push(Snapshot::default()),
        }
        parts
    }

    /// The delta that turns `self` into `next`, or `None` when they are equal.
    pub fn diff(&self, next: &NameTable) -> Option<Delta> {
        let mut delta = Delta::default();
        for (key, record) in &next.records {
            if self.records.get(key) != Some(record) {
                delta.upserted.push(record.clone());
            }
        }
        for key in self.records.keys() {
            if !next.records.contains_key(key) {
                delta.removed.push(key.to_proto());
            }
        }
        if delta.upserted.is_empty() && delta.removed.is_empty() {
            None
        } else {
            Some(delta)
        }
    }

    /// Applies a delta in place. Validates the whole delta first, so a bad delta changes nothing.
    pub fn apply_delta(&mut self, delta: &Delta) -> Result<(), TableError> {
        let mut seen = std::collections::BTreeSet::new();
        for record in &delta.upserted {
            let key = record_key(record)?;
            if !seen.insert(key.clone()) {
                return Err(TableError::Duplicate(key.to_string()));
            }
        }
        for key in &delta.removed {
            let key = Key::from_proto(key);
            if !seen.insert(key.clone()) {
                return Err(TableError::Duplicate(key.to_string()));
            }
        }
        for record in &delta.upserted {
            self.upsert(record.clone())?;
        }
        for key in &delta.removed {
            self.records.remove(&Key::from_proto(key));
        }
        Ok(())
    }
}

fn record_key(record: &ServiceRecord) -> Result<Key, TableError> {
    let key = record.key.as_ref().ok_or(TableError::MissingKey)?;
    if key.namespace.is_empty() || key.name.is_empty() {
        return Err(TableError::EmptyKey(format!(
            "{}/{}",
            key.namespace, key.name
        )));
    }
    Ok(Key::from_proto(key))
}

/// What a client holds: the table, and the epoch and version it reflects.
#[derive(Clone, Debug, Default)]
pub struct ClientTable {
    pub epoch: u64,
    pub version: u64,
    /// `None` until the first snapshot arrives.
    pub table: Option<Arc<NameTable>>,
    /// Parts of a snapshot still arriving: (epoch, version, records so far).
    pending: Option<(u64, u64, NameTable)>,
}

/// What applying one message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A part of a snapshot; the table changes when the last part arrives.
    SnapshotPart,
    Snapshot,
    Delta,
    Keepalive,
}

impl ClientTable {
    /// Applies one server message. On error the table is unchanged and the caller should
    /// reconnect without resuming.
    pub fn apply(&mut self, response: &WatchResponse) -> Result<Applied, TableError> {
        match response.body.as_ref().ok_or(TableError::EmptyMessage)? {
            Body::Snapshot(snapshot) => {
                let mut table = match self.pending.take() {
                    Some((epoch, version, table))
                        if epoch == response.epoch && version == response.version =>
                    {
                        table
                    }
                    _ => NameTable::new(),
                };
                for record in &snapshot.services {
                    let key = record_key(record)?;
                    if table.records.insert(key.clone(), record.clone()).is_some() {
                        return Err(TableError::Duplicate(key.to_string()));
                    }
                }
                if snapshot.more {
                    self.pending = Some((response.epoch, response.version, table));
                    return Ok(Applied::SnapshotPart);
                }
                self.table = Some(Arc::new(table));
                self.epoch = response.epoch;
                self.version = response.version;
                Ok(Applied::Snapshot)
            }
            Body::Delta(_) if self.pending.is_some() => {
                self.pending = None;
                Err(TableError::DeltaBeforeSnapshot)
            }
            Body::Delta(delta) => {
                let current = self.table.as_ref().ok_or(TableError::DeltaBeforeSnapshot)?;
                if response.epoch != self.epoch {
                    return Err(TableError::EpochMismatch {
                        have: self.epoch,
                        got: response.epoch,
                    });
                }
                if response.version <= self.version {
                    return Err(TableError::OutOfOrder {
                        have: self.version,
                        got: response.version,
                    });
                }
                let mut next = NameTable::clone(current);
                next.apply_delta(delta)?;
                self.table = Some(Arc::new(next));
                self.version = response.version;
                Ok(Applied::Delta)
            }
            Body::Keepalive(_) => Ok(Applied::Keepalive),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use crate::v1::{ClusterEndpoints, Endpoint, Port, ServiceType};

    pub(crate) fn record(ns: &str, name: &str, ip: &str) -> ServiceRecord {
        ServiceRecord {
            key: Some(ServiceKey {
                namespace: ns.into(),
                name: name.into(),
            }),
            r#type: ServiceType::ClusterSetIp as i32,
            ips: vec![ip.into()],
            ports: vec![Port {
                name: "http".into(),
                protocol: "TCP".into(),
                port: 80,
            }],
            clusters: vec![ClusterEndpoints {
                cluster: "east".into(),
                endpoints: vec![Endpoint {
                    addresses: vec!["10.0.0.1".into()],
                    hostname: String::new(),
                    ready: true,
                }],
                ports: vec![],
            }],
        }
    }

    fn table(records: &[ServiceRecord]) -> NameTable {
        NameTable::from_records(records.iter().cloned()).unwrap()
    }

    #[test]
    fn diff_then_apply_reaches_the_target() {
        let a = table(&[
            record("ns", "a", "242.0.0.1"),
            record("ns", "b", "242.0.0.2"),
        ]);
        let b = table(&[
            record("ns", "b", "242.0.0.9"),
            record("ns", "c", "242.0.0.3"),
        ]);
        let delta = a.diff(&b).unwrap();
        assert_eq!(delta.upserted.len(), 2);
        assert_eq!(delta.removed.len(), 1);
        let mut applied = a.clone();
        applied.apply_delta(&delta).unwrap();
        assert_eq!(applied, b);
        assert!(b.diff(&b).is_none());
    }

    #[test]
    fn client_applies_snapshot_then_deltas_in_order() {
        let mut client = ClientTable::default();
        let snap = WatchResponse {
            epoch: 7,
            version: 3,
            body: Some(Body::Snapshot(
                table(&[record("ns", "a", "242.0.0.1")]).to_snapshot(),
            )),
        };
        assert_eq!(client.apply(&snap).unwrap(), Applied::Snapshot);
        let delta = WatchResponse {
            epoch: 7,
            version: 4,
            body: Some(Body::Delta(Delta {
                upserted: vec![record("ns", "b", "242.0.0.2")],
                removed: vec![ServiceKey {
                    namespace: "ns".into(),
                    name: "a".into(),
                }],
            })),
        };
        assert_eq!(client.apply(&delta).unwrap(), Applied::Delta);
        let t = client.table.clone().unwrap();
        assert_eq!(t.len(), 1);
        assert!(t.get(&Key::new("ns", "b")).is_some());
        // Replaying the same version is rejected and changes nothing.
        assert_eq!(
            client.apply(&delta),
            Err(TableError::OutOfOrder { have: 4, got: 4 })
        );
        assert_eq!(client.table.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn delta_from_another_epoch_or_before_snapshot_is_rejected() {
        let mut client = ClientTable::default();
        let delta = WatchResponse {
            epoch: 1,
            version: 2,
            body: Some(Body::Delta(Delta::default())),
        };
        assert_eq!(client.apply(&delta), Err(TableError::DeltaBeforeSnapshot));
        client
            .apply(&WatchResponse {
                epoch: 2,
                version: 1,
                body: Some(Body::Snapshot(Snapshot::default())),
            })
            .unwrap();
        assert_eq!(
            client.apply(&delta),
            Err(TableError::EpochMismatch { have: 2, got: 1 })
        );
    }

    #[test]
    fn snapshot_parts_replace_the_table_only_when_complete() {
        let full = table(&[
            record("ns", "a", "1"),
            record("ns", "b", "2"),
            record("ns", "c", "3"),
        ]);
        let parts = full.to_snapshot_parts(2);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].more && !parts[1].more);
        let mut client = ClientTable::default();
        client
            .apply(&WatchResponse {
                epoch: 1,
                version: 1,
                body: Some(Body::Snapshot(
                    table(&[record("ns", "old", "9")]).to_snapshot(),
                )),
            })
            .unwrap();
        let msg = |p: &Snapshot| WatchResponse {
            epoch: 1,
            version: 5,
            body: Some(Body::Snapshot(p.clone())),
        };
        assert_eq!(
            client.apply(&msg(&parts[0])).unwrap(),
            Applied::SnapshotPart
        );
        assert!(
            client
                .table
                .as_ref()
                .unwrap()
                .get(&Key::new("ns", "old"))
                .is_some()
        );
        assert_eq!(client.apply(&msg(&parts[1])).unwrap(), Applied::Snapshot);
        assert_eq!(client.table.as_deref(), Some(&full));
        assert_eq!(client.version, 5);
        assert_eq!(NameTable::new().to_snapshot_parts(10).len(), 1);
    }

    #[test]
    fn records_without_keys_are_rejected() {
        let mut bad = record("ns", "a", "242.0.0.1");
        bad.key = None;
        assert_eq!(
            NameTable::from_records([bad]).unwrap_err(),
            TableError::MissingKey
        );
        let empty = record("", "a", "242.0.0.1");
        assert!(matches!(
            NameTable::from_records([empty]),
            Err(TableError::EmptyKey(_))
        ));
        let dup = [record("ns", "a", "1"), record("ns", "a", "2")];
        assert!(matches!(
            NameTable::from_records(dup),
            Err(TableError::Duplicate(_))
        ));
    }

    #[test]
    fn a_bad_delta_leaves_the_table_unchanged() {
        let mut t = table(&[record("ns", "a", "242.0.0.1")]);
        let mut keyless = record("ns", "z", "1");
        keyless.key = None;
        let delta = Delta {
            upserted: vec![record("ns", "b", "242.0.0.2"), keyless],
            removed: vec![],
        };
        assert!(t.apply_delta(&delta).is_err());
        assert_eq!(t.len(), 1);
    }
}
