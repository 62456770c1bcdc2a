//! Discovery tables as service sets: every record converted with its names checked, since
//! they come over the network.

use std::collections::BTreeMap;

use mesh_proto::mcs::ConvertError;
use mesh_proto::table::{Key, NameTable};
use mesh_proto::v1::ServiceRecord;

use crate::model::{Service, ServiceSet};
use crate::source::record::{self, Names};

/// Converts one discovery record into the proxy's service model, its names checked to be
/// RFC 1123 labels. Otherwise the result is the one the file and kube sources give for the
/// equivalent ServiceImport and EndpointSlices ([`record::to_service`]).
pub fn convert_record(record: &ServiceRecord) -> Result<Service, ConvertError> {
    record::to_service(record, Names::Checked)
}

/// Converts whole tables and logs each malformed record once per distinct error (not again on
/// every delta while it stays the same). Converting all records is cheaper than finding the
/// unchanged ones: a deep comparison costs about as much as the conversion itself.
#[derive(Debug, Default)]
pub struct Converter {
    /// The errors of the last conversion, by service key.
    errors: BTreeMap<Key, String>,
}

impl Converter {
    /// The service set of `table`, without the malformed records.
    pub fn convert(&mut self, table: &NameTable) -> ServiceSet {
        let mut errors = BTreeMap::new();
        let mut services = Vec::with_capacity(table.len());
        for (key, record) in table.iter() {
            match convert_record(record) {
                Ok(s) => services.push(s),
                Err(e) => {
                    let e = e.to_string();
                    if self.errors.get(key) != Some(&e) {
                        tracing::warn!(service = %key, error = %e, "skipping malformed service record");
                    }
                    errors.insert(key.clone(), e);
                }
            }
        }
        self.errors = errors;
        ServiceSet { services }
    }

    /// Records skipped in the last conversion.
    pub fn skipped(&self) -> usize {
        self.errors.len()
    }
}

/// Converts a table once, returning the service set and every record's error.
pub fn to_service_set(table: &NameTable) -> (ServiceSet, Vec<ConvertError>) {
    let mut services = Vec::new();
    let mut errors = Vec::new();
    for (_, record) in table.iter() {
        match convert_record(record) {
            Ok(s) => services.push(s),
            Err(e) => errors.push(e),
        }
    }
    (ServiceSet { services }, errors)
}
