//! An imported EndpointSlice: the endpoints and ports one exporting cluster contributes to a
//! service (KEP-1645, "EndpointSlice"; labels `multicluster.kubernetes.io/service-name` and
//! `multicluster.kubernetes.io/source-cluster`).

use isthmus_api::labels::{MCS_SERVICE_NAME, MCS_SOURCE_CLUSTER};
use serde_json::Value;

use super::ConvertError;
use super::json::{ip_address, list, ns_name, object_name, shown};
use super::ports::ports;
use crate::table::Key;
use crate::v1::{Endpoint, Port};

/// One imported slice: its service, source cluster, endpoints and ports.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceEntry {
    pub(super) key: Key,
    pub(super) cluster: String,
    pub(super) endpoints: Vec<Endpoint>,
    pub(super) ports: Vec<Port>,
}

impl SliceEntry {
    /// The service the slice belongs to.
    pub fn service(&self) -> &Key {
        &self.key
    }

    /// The exporting cluster the slice came from.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }
}

/// Reads an imported EndpointSlice. Both MCS labels are required.
///
/// Endpoints of `IPv4` and `IPv6` slices keep their addresses, their `hostname` (empty when
/// unset) and `conditions.ready` (an unset condition counts as ready, as in Kubernetes).
/// Endpoints of `FQDN` slices carry no IP addresses and are left out, as DNS answers cannot
/// use them.
pub fn slice_entry(v: &Value) -> Result<SliceEntry, ConvertError> {
    let object = object_name("EndpointSlice", v);
    let (namespace, _) = ns_name(&object, v)?;
    let label = |l: &str| {
        v.pointer("/metadata/labels")
            .and_then(|ls| ls.get(l))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ConvertError::new(&object, format!("metadata.labels[{l}]"), "missing"))
    };
    let service = label(MCS_SERVICE_NAME)?;
    let cluster = label(MCS_SOURCE_CLUSTER)?;
    let mut endpoints = Vec::new();
    match v.get("addressType") {
        Some(Value::String(t)) if t == "IPv4" || t == "IPv6" => {
            let items = list(&object, || "endpoints".to_owned(), v.get("endpoints"))?;
            endpoints.reserve(items.len());
            for (i, e) in items.iter().enumerate() {
                let given = list(
                    &object,
                    || format!("endpoints[{i}].addresses"),
                    e.get("addresses"),
                )?;
                let mut addresses = Vec::with_capacity(given.len());
                for (j, a) in given.iter().enumerate() {
                    addresses.push(ip_address(
                        &object,
                        || format!("endpoints[{i}].addresses[{j}]"),
                        a,
                    )?);
                }
                endpoints.push(Endpoint {
                    addresses,
                    hostname: e
                        .get("hostname")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    ready: e
                        .pointer("/conditions/ready")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                });
            }
        }
        Some(Value::String(t)) if t == "FQDN" => {}
        None | Some(Value::Null) => {
            return Err(ConvertError::new(&object, "addressType", "missing"));
        }
        Some(other) => {
            return Err(ConvertError::new(
                &object,
                "addressType",
                format!("{} is not IPv4, IPv6 or FQDN", shown(other)),
            ));
        }
    }
    Ok(SliceEntry {
        key: Key::new(namespace, service),
        cluster,
        endpoints,
        ports: ports(&object, "ports", v.get("ports"))?,
    })
}
