//! A ServiceImport: its service's type, clusterset IPs and ports (KEP-1645, "ServiceImport").

use isthmus_api::mcs::import_type;
use serde_json::Value;

use super::ConvertError;
use super::json::{ip_address, list, ns_name, object_name, shown};
use super::ports::ports;
use crate::v1::{ServiceKey, ServiceRecord, ServiceType};

/// The record of a ServiceImport, without its clusters (those come from its EndpointSlices).
///
/// `spec.type` must be `ClusterSetIP` or `Headless`. The clusterset IPs (`spec.ips`) are read
/// only for `ClusterSetIP`: a headless service has none, whatever the object says.
pub fn import_record(v: &Value) -> Result<ServiceRecord, ConvertError> {
    let object = object_name("ServiceImport", v);
    let (namespace, name) = ns_name(&object, v)?;
    let type_ = match v.pointer("/spec/type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s == import_type::CLUSTER_SET_IP => {
            Some(ServiceType::ClusterSetIp)
        }
        Some(Value::String(s)) if s == import_type::HEADLESS => Some(ServiceType::Headless),
        Some(other) => {
            return Err(ConvertError::new(
                &object,
                "spec.type",
                format!("{} is neither ClusterSetIP nor Headless", shown(other)),
            ));
        }
    };
    let Some(type_) = type_ else {
        return Err(ConvertError::new(
            &object,
            "spec.type",
            "missing (ClusterSetIP or Headless)",
        ));
    };
    let mut ips = Vec::new();
    if type_ == ServiceType::ClusterSetIp {
        let list = list(&object, || "spec.ips".to_owned(), v.pointer("/spec/ips"))?;
        ips.reserve(list.len());
        for (i, ip) in list.iter().enumerate() {
            ips.push(ip_address(&object, || format!("spec.ips[{i}]"), ip)?);
        }
    }
    Ok(ServiceRecord {
        key: Some(ServiceKey { namespace, name }),
        r#type: type_ as i32,
        ips,
        ports: ports(&object, "spec.ports", v.pointer("/spec/ports"))?,
        clusters: Vec::new(),
    })
}
