//! The records of each service: ClusterSetIP services (spec 2.3) resolve to their clusterset
//! IPs, headless services (spec 2.4) to their ready endpoints, each with SRV records per port.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::names;
use super::rdata::Rdata;
use super::staging::Staging;
use crate::model::{Port, Service, ServiceKind};

/// Adds the records of every service; returns how many have at least one name. Services whose
/// names are not valid DNS names, and the second of two with the same name, are logged and
/// skipped.
pub(super) fn add_services(staging: &mut Staging, zone: &str, services: &[Service]) -> usize {
    let mut count = 0usize;
    let mut seen = BTreeSet::new();
    for svc in services {
        let Some(svc_name) = names::service_name(svc, zone) else {
            tracing::warn!(namespace = %svc.namespace, service = %svc.name, "skipping service: not a valid DNS name");
            continue;
        };
        if !seen.insert(svc_name.clone()) {
            tracing::warn!(namespace = %svc.namespace, service = %svc.name, "duplicate service; keeping the first");
            continue;
        }
        // The namespace exists while any service is imported into it, even a headless
        // one with no ready endpoints (whose own name does not exist).
        if let Some(ns_name) = names::namespace_name(&svc_name) {
            staging.exists(ns_name.to_string());
        }
        let ports: Vec<&Port> = svc.ports.iter().filter(|p| p.port != 0).collect();
        let named = match &svc.kind {
            ServiceKind::ClusterSetIp { ips } => {
                clusterset_ip(staging, &svc_name, ips, &ports);
                true
            }
            ServiceKind::Headless => headless(staging, svc, &svc_name, &ports),
        };
        if named {
            count += 1;
        }
    }
    count
}

/// A ClusterSetIP service: its name holds the clusterset IPs, and SRV records at the name and
/// at each named port point at it.
fn clusterset_ip(staging: &mut Staging, svc_name: &str, ips: &[IpAddr], ports: &[&Port]) {
    staging.exists(svc_name.to_string());
    for ip in ips {
        staging.add(svc_name, Rdata::address(*ip));
    }
    for p in ports {
        let srv = Rdata::Srv {
            priority: 0,
            weight: 0,
            port: p.port,
            target: svc_name.to_string(),
        };
        let pn = names::named_port(p.name.as_deref(), &p.protocol, svc_name);
        if ips.is_empty() {
            // No address to point at yet: the port names exist, with no
            // records (NODATA), as for CoreDNS.
            if let Some(pn) = pn {
                staging.exists(pn);
            }
            continue;
        }
        // One SRV source per (IP, port), for the weights.
        staging.add_srv(svc_name, &srv, ips.len());
        if let Some(pn) = pn {
            staging.add_srv(&pn, &srv, ips.len());
        }
    }
}

/// A headless service: its name holds the addresses of every ready endpoint across clusters,
/// each endpoint address has a host name below its cluster's name, and SRV records at the name
/// and at each named port point at the host names. Returns whether the service has a name: one
/// with no ready endpoints does not exist (spec 2.4.1).
fn headless(staging: &mut Staging, svc: &Service, svc_name: &str, ports: &[&Port]) -> bool {
    // (host name, addresses) of every ready endpoint, across clusters.
    let mut hosts: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for ep in svc.endpoints.iter().filter(|e| e.ready) {
        if !names::valid_cluster(&ep.cluster) {
            tracing::warn!(namespace = %svc.namespace, service = %svc.name, cluster = %ep.cluster, "skipping endpoint: invalid cluster ID");
            continue;
        }
        let cluster_name = names::cluster_name(&ep.cluster, svc_name);
        for addr in &ep.addresses {
            let host = match names::host_name(&ep.label_for(addr), &cluster_name) {
                Ok(host) => host,
                Err(host) => {
                    tracing::warn!(namespace = %svc.namespace, service = %svc.name, host = %host, "skipping endpoint: not a valid DNS name");
                    continue;
                }
            };
            staging.hide(cluster_name.clone());
            hosts.entry(host).or_default().push(*addr);
        }
    }
    if hosts.is_empty() {
        return false;
    }
    for (host, addrs) in &hosts {
        for addr in addrs {
            staging.add(svc_name, Rdata::address(*addr));
            staging.add(host, Rdata::address(*addr));
        }
        for p in ports {
            let srv = Rdata::Srv {
                priority: 0,
                weight: 0,
                port: p.port,
                target: host.clone(),
            };
            // One SRV source per (address, port), for the weights.
            let n = addrs.len();
            staging.add_srv(svc_name, &srv, n);
            if let Some(pn) = names::named_port(p.name.as_deref(), &p.protocol, svc_name) {
                staging.add_srv(&pn, &srv, n);
            }
        }
    }
    true
}
