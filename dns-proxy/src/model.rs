//! The source-independent view of the clusterset that the DNS table is built from.
//!
//! Every source (file, Kubernetes watch, gRPC) produces a [`ServiceSet`]; the table
//! builder never sees where the data came from.

use std::net::IpAddr;

/// How a multi-cluster service is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// `ClusterSetIP`: the name resolves to the ServiceImport's IPs.
    ClusterSetIp { ips: Vec<IpAddr> },
    /// `Headless`: the name resolves to every ready endpoint in every exporting cluster.
    Headless,
}

/// A port of a multi-cluster service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The port name; unnamed ports get no `_<port>._<proto>` SRV record.
    pub name: Option<String>,
    /// Lower-case protocol: `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub port: u16,
}

/// One endpoint of a headless service in one exporting cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The exporting cluster's ID (`multicluster.kubernetes.io/source-cluster`).
    pub cluster: String,
    /// The endpoint's `hostname`, if set.
    pub hostname: Option<String>,
    pub addresses: Vec<IpAddr>,
    /// `conditions.ready`; an unset condition counts as ready, as in Kubernetes.
    pub ready: bool,
}

/// One imported service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
    /// Endpoints from the MCS EndpointSlices (used for headless services only).
    pub endpoints: Vec<Endpoint>,
}

/// Everything a source knows at one point in time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSet {
    pub services: Vec<Service>,
}

impl Endpoint {
    /// The DNS label naming this endpoint: its hostname, or (when unset) the address with
    /// `.`/`:` replaced by `-`, the system-assigned identifier CoreDNS and the MCS conformance
    /// suite use.
    pub fn label_for(&self, addr: &IpAddr) -> String {
        match &self.hostname {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => match addr {
                IpAddr::V6(a) => match a.to_ipv4_mapped() {
                    Some(v4) => v4.to_string().replace('.', "-"),
                    None => a.to_string().replace(':', "-"),
                },
                IpAddr::V4(a) => a.to_string().replace('.', "-"),
            },
        }
    }
}
