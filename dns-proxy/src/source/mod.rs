//! Sources of truth. The file and kube sources keep a [`Store`] of the objects they have seen
//! and publish `Store::to_set()` through [`crate::handle::TableHandle::publish`]; the gRPC
//! source converts the controller's name table ([`grpc::Converter`]) and publishes the same way.

pub mod file;
pub mod grpc;
pub mod kube;

use std::collections::BTreeMap;
use std::net::IpAddr;

use isthmus_api::labels::{MCS_SERVICE_NAME, MCS_SOURCE_CLUSTER};
use isthmus_api::mcs::{ServiceImportSpec, import_type};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{Endpoint, Port, Service, ServiceKind, ServiceSet};

/// A field of an object that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{object}: field {field}: {reason}")]
pub struct ConvertError {
    /// `Kind namespace/name`.
    pub object: String,
    /// Path of the field, e.g. `spec.ports[0].port`.
    pub field: String,
    pub reason: String,
}

fn err(object: &str, field: impl Into<String>, reason: impl Into<String>) -> ConvertError {
    ConvertError {
        object: object.to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ImportEntry {
    kind: ServiceKind,
    ports: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SliceEntry {
    service: String,
    endpoints: Vec<Endpoint>,
}

/// The objects a source has seen, keyed by namespace and name, in the form the table needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    imports: BTreeMap<(String, String), ImportEntry>,
    slices: BTreeMap<(String, String), SliceEntry>,
}

impl Store {
    /// Adds or replaces a ServiceImport.
    pub fn apply_import(
        &mut self,
        namespace: &str,
        name: &str,
        spec: &ServiceImportSpec,
    ) -> Result<(), ConvertError> {
        let object = format!("ServiceImport {namespace}/{name}");
        if namespace.is_empty() {
            return Err(err(&object, "metadata.namespace", "missing"));
        }
        if name.is_empty() {
            return Err(err(&object, "metadata.name", "missing"));
        }
        let kind = match spec.type_.as_str() {
            import_type::CLUSTER_SET_IP => {
                let mut ips = Vec::with_capacity(spec.ips.len());
                for (i, ip) in spec.ips.iter().enumerate() {
                    let ip: IpAddr = ip.parse().map_err(|_| {
                        err(
                            &object,
                            format!("spec.ips[{i}]"),
                            format!("{ip:?} is not an IP address"),
                        )
                    })?;
                    ips.push(ip);
                }
                ServiceKind::ClusterSetIp { ips }
            }
            import_type::HEADLESS => ServiceKind::Headless,
            "" => {
                return Err(err(
                    &object,
                    "spec.type",
                    "missing (ClusterSetIP or Headless)",
                ));
            }
            other => {
                return Err(err(
                    &object,
                    "spec.type",
                    format!("{other:?} is neither ClusterSetIP nor Headless"),
                ));
            }
        };
        let mut ports = Vec::with_capacity(spec.ports.len());
        for (i, p) in spec.ports.iter().enumerate() {
            let port = u16::try_from(p.port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    err(
                        &object,
                        format!("spec.ports[{i}].port"),
                        format!("{} is not a port number", p.port),
                    )
                })?;
            let protocol = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
            if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
                return Err(err(
                    &object,
                    format!("spec.ports[{i}].protocol"),
                    format!("{protocol:?} is not TCP, UDP or SCTP"),
                ));
            }
            ports.push(Port {
                name: p.name.clone().filter(|n| !n.is_empty()),
                protocol,
                port,
            });
        }
        self.imports.insert(
            (namespace.to_string(), name.to_string()),
            ImportEntry { kind, ports },
        );
        Ok(())
    }

    /// Removes a ServiceImport.
    pub fn delete_import(&mut self, namespace: &str, name: &str) {
        self.imports
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Adds or replaces an MCS EndpointSlice (it must carry the MCS service-name and
    /// source-cluster labels).
    pub fn apply_slice(&mut self, slice: &EndpointSlice) -> Result<(), ConvertError> {
        let (key, entry) = convert_slice(slice)?;
        self.slices.insert(key, entry);
        Ok(())
    }

    /// Removes an EndpointSlice.
    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        self.slices
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Drops everything (a watch restarted its initial list).
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
        let mut eps: BTreeMap<(&str, &str), Vec<Endpoint>> = BTreeMap::new();
        for ((ns, _), s) in &self.slices {
            eps.entry((ns.as_str(), s.service.as_str()))
                .or_default()
                .extend(s.endpoints.iter().cloned());
        }
        let services = self
            .imports
            .iter()
            .map(|((ns, name), imp)| Service {
                namespace: ns.clone(),
                name: name.clone(),
                kind: imp.kind.clone(),
                ports: imp.ports.clone(),
                endpoints: eps
                    .remove(&(ns.as_str(), name.as_str()))
                    .unwrap_or_default(),
            })
            .collect();
        ServiceSet { services }
    }
}

fn convert_slice(slice: &EndpointSlice) -> Result<((String, String), SliceEntry), ConvertError> {
    let ns = slice.metadata.namespace.clone().unwrap_or_default();
    let name = slice.metadata.name.clone().unwrap_or_default();
    let object = format!("EndpointSlice {ns}/{name}");
    if ns.is_empty() {
        return Err(err(&object, "metadata.namespace", "missing"));
    }
    if name.is_empty() {
        return Err(err(&object, "metadata.name", "missing"));
    }
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    let service = labels
        .get(MCS_SERVICE_NAME)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            err(
                &object,
                format!("metadata.labels[{MCS_SERVICE_NAME}]"),
                "missing",
            )
        })?
        .clone();
    let cluster = labels
        .get(MCS_SOURCE_CLUSTER)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            err(
                &object,
                format!("metadata.labels[{MCS_SOURCE_CLUSTER}]"),
                "missing",
            )
        })?
        .clone();
    let mut endpoints = Vec::new();
    match slice.address_type.as_str() {
        "IPv4" | "IPv6" => {
            for (i, ep) in slice.endpoints.iter().enumerate() {
                let mut addresses = Vec::with_capacity(ep.addresses.len());
                for (j, a) in ep.addresses.iter().enumerate() {
                    let ip: IpAddr = a.parse().map_err(|_| {
                        err(
                            &object,
                            format!("endpoints[{i}].addresses[{j}]"),
                            format!("{a:?} is not an IP address"),
                        )
                    })?;
                    addresses.push(ip);
                }
                let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                endpoints.push(Endpoint {
                    cluster: cluster.clone(),
                    hostname: ep.hostname.clone(),
                    addresses,
                    ready,
                });
            }
        }
        "FQDN" => {}
        other => {
            return Err(err(
                &object,
                "addressType",
                format!("{other:?} is not IPv4, IPv6 or FQDN"),
            ));
        }
    }
    Ok(((ns, name), SliceEntry { service, endpoints }))
}
