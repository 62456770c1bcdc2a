//! A discovery record ([`ServiceRecord`]) in the proxy's service model. Every source ends
//! here: the gRPC source with the records it receives, the file and kube sources with the
//! records [`mesh_proto::mcs`] reads from their objects.
//!
//! Protocols become lower case (unset means TCP), empty port names and host names mean none,
//! endpoints keep the record's order. Per-cluster port lists are not used for DNS (as
//! EndpointSlice ports are not), but they are checked like the service's ports.

use std::net::IpAddr;

use isthmus_api::names::rfc1123_label;
use mesh_proto::mcs::ConvertError;
use mesh_proto::v1::{ServiceRecord, ServiceType};

use crate::model::{Endpoint, Port, Service, ServiceKind};

/// Whether the names in a record must be RFC 1123 labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    /// Namespace, name, cluster IDs and host names must be lower-case RFC 1123 labels:
    /// records from the controller's stream.
    Checked,
    /// Names are taken as the objects give them (the table builder still skips names that
    /// cannot be DNS names): records read from the objects of a file or of the local cluster.
    AsGiven,
}

fn check(
    names: Names,
    object: &str,
    field: impl FnOnce() -> String,
    value: &str,
) -> Result<(), ConvertError> {
    match names {
        Names::Checked => rfc1123_label(value)
            .map_err(|e| ConvertError::new(object, field(), format!("{value:?} {e}"))),
        Names::AsGiven => Ok(()),
    }
}

fn parse_ip(object: &str, field: impl FnOnce() -> String, s: &str) -> Result<IpAddr, ConvertError> {
    s.parse()
        .map_err(|_| ConvertError::new(object, field(), format!("{s:?} is not an IP address")))
}

/// Converts one record into the proxy's service model.
pub fn to_service(record: &ServiceRecord, names: Names) -> Result<Service, ConvertError> {
    let (namespace, name) = match &record.key {
        Some(k) => (k.namespace.as_str(), k.name.as_str()),
        None => ("", ""),
    };
    let object = format!("ServiceRecord {namespace}/{name}");
    if record.key.is_none() {
        return Err(ConvertError::new(&object, "key", "missing"));
    }
    check(names, &object, || "key.namespace".into(), namespace)?;
    check(names, &object, || "key.name".into(), name)?;
    let kind = match ServiceType::try_from(record.r#type) {
        Ok(ServiceType::ClusterSetIp) => {
            let mut ips = Vec::with_capacity(record.ips.len());
            for (i, ip) in record.ips.iter().enumerate() {
                ips.push(parse_ip(&object, || format!("ips[{i}]"), ip)?);
            }
            ServiceKind::ClusterSetIp { ips }
        }
        // Headless services have no clusterset IPs; any sent are ignored, as
        // `mesh_proto::mcs` ignores `spec.ips` of a headless ServiceImport.
        Ok(ServiceType::Headless) => ServiceKind::Headless,
        Ok(ServiceType::Unspecified) => {
            return Err(ConvertError::new(
                &object,
                "type",
                "unspecified (ClusterSetIP or Headless)",
            ));
        }
        Err(_) => {
            return Err(ConvertError::new(
                &object,
                "type",
                format!("unknown value {}", record.r#type),
            ));
        }
    };
    let ports = convert_ports(&object, "ports", &record.ports)?;
    let mut endpoints = Vec::new();
    for (c, ce) in record.clusters.iter().enumerate() {
        check(
            names,
            &object,
            || format!("clusters[{c}].cluster"),
            &ce.cluster,
        )?;
        convert_ports(&object, &format!("clusters[{c}].ports"), &ce.ports)?;
        for (e, ep) in ce.endpoints.iter().enumerate() {
            let hostname = if ep.hostname.is_empty() {
                None
            } else {
                check(
                    names,
                    &object,
                    || format!("clusters[{c}].endpoints[{e}].hostname"),
                    &ep.hostname,
                )?;
                Some(ep.hostname.clone())
            };
            let mut addresses = Vec::with_capacity(ep.addresses.len());
            for (a, addr) in ep.addresses.iter().enumerate() {
                addresses.push(parse_ip(
                    &object,
                    || format!("clusters[{c}].endpoints[{e}].addresses[{a}]"),
                    addr,
                )?);
            }
            endpoints.push(Endpoint {
                cluster: ce.cluster.clone(),
                hostname,
                addresses,
                ready: ep.ready,
            });
        }
    }
    Ok(Service {
        namespace: namespace.to_string(),
        name: name.to_string(),
        kind,
        ports,
        endpoints,
    })
}

fn convert_ports(
    object: &str,
    path: &str,
    ports: &[mesh_proto::v1::Port],
) -> Result<Vec<Port>, ConvertError> {
    let mut out = Vec::with_capacity(ports.len());
    for (i, p) in ports.iter().enumerate() {
        let port = u16::try_from(p.port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                ConvertError::new(
                    object,
                    format!("{path}[{i}].port"),
                    format!("{} is not a port number", p.port),
                )
            })?;
        let protocol = if p.protocol.is_empty() {
            "tcp".to_string()
        } else {
            p.protocol.to_ascii_lowercase()
        };
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(ConvertError::new(
                object,
                format!("{path}[{i}].protocol"),
                format!("{:?} is not TCP, UDP or SCTP", p.protocol),
            ));
        }
        out.push(Port {
            name: (!p.name.is_empty()).then(|| p.name.clone()),
            protocol,
            port,
        });
    }
    Ok(out)
}
