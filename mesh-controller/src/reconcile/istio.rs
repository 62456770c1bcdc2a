//! Istio multi-network wiring per member, built with gateway-config's generators: the network
//! label on `istio-system`, the `cross-network-gateway`, remote secrets for every other member
//! and the plug-in `cacerts`; plus the address other networks reach the member's gateway at.

use gateway_config::ca::desired_cacerts;
use gateway_config::clusterset::GatewayExposure;
use gateway_config::istio::{ISTIO_SYSTEM, TLS_PORT, expose_services, network_namespace};
use gateway_config::remote_secret::{RemoteSecretOptions, remote_secret};
use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::model::{IstioWiring, MemberState, MemberStatus, Snapshot};

fn owned(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert(MANAGED_BY.to_owned(), json!(MANAGED_BY_VALUE));
        }
    }
    v
}

fn to_value<T: serde::Serialize>(obj: &T, what: &str, status: &mut MemberStatus) -> Option<Value> {
    match serde_json::to_value(obj) {
        Ok(v) => Some(owned(v)),
        Err(e) => {
            status.notes.push(format!("{what}: cannot serialize: {e}"));
            None
        }
    }
}

/// Where other networks reach `member`'s east-west gateway, or a note why it is unknown.
pub fn gateway_address(member: &MemberState, status: &mut MemberStatus) {
    let tls = i32::from(TLS_PORT);
    match &member.info.exposure {
        GatewayExposure::Static { addresses, port } => {
            status.gateway_addresses = addresses.clone();
            status.gateway_port = Some(port.map_or(tls, i32::from));
        }
        GatewayExposure::LoadBalancer => match &member.gateway {
            Some(g) if !g.lb_addresses.is_empty() || !g.external_ips.is_empty() => {
                let mut a = g.lb_addresses.clone();
                a.extend(g.external_ips.iter().cloned());
                status.gateway_addresses = a;
                status.gateway_port = Some(tls);
            }
            Some(_) => status
                .notes
                .push("east-west gateway Service has no load-balancer address yet".to_owned()),
            None => status
                .notes
                .push("east-west gateway Service not found in istio-system".to_owned()),
        },
        GatewayExposure::NodePort { node_port, .. } => {
            let port = member
                .gateway
                .as_ref()
                .and_then(|g| g.tls_node_port)
                .or(node_port.map(i32::from));
            if member.node_addresses.is_empty() {
                status
                    .notes
                    .push("no node addresses for the NodePort east-west gateway".to_owned());
            } else {
                status.gateway_addresses = member.node_addresses.clone();
            }
            match port {
                Some(p) => status.gateway_port = Some(p),
                None => status
                    .notes
                    .push("east-west gateway tls node port not known yet".to_owned()),
            }
        }
    }
}

/// The Istio objects for `member`.
pub fn objects(
    snap: &Snapshot,
    member: &MemberState,
    wiring: &IstioWiring,
    now: Timestamp,
    status: &mut MemberStatus,
) -> Vec<Value> {
    let mut out = Vec::new();
    let name = &member.info.name;
    out.extend(to_value(
        &network_namespace(&member.info.network),
        "istio-system Namespace",
        status,
    ));
    out.push(owned(expose_services(&wiring.expose_hosts)));
    for (other_name, other) in &snap.members {
        if other_name == name {
            continue;
        }
        let Some(kc) = &other.info.reader_kubeconfig else {
            status.notes.push(format!(
                "no remote secret for cluster {other_name}: its reader kubeconfig is not known"
            ));
            continue;
        };
        let opts = RemoteSecretOptions {
            origin: format!("reader kubeconfig of cluster {other_name}"),
            namespace: Some(ISTIO_SYSTEM.to_owned()),
            ..RemoteSecretOptions::default()
        };
        match remote_secret(other_name, kc, &opts) {
            Ok(rs) => {
                for w in rs.warnings {
                    status
                        .notes
                        .push(format!("remote secret for {other_name}: {w}"));
                }
                out.extend(to_value(
                    &rs.secret,
                    &format!("remote secret for {other_name}"),
                    status,
                ));
            }
            Err(e) => status
                .notes
                .push(format!("no remote secret for cluster {other_name}: {e}")),
        }
    }
    if let Some(root) = &wiring.root {
        match desired_cacerts(root, name, member.cacerts.as_ref(), &wiring.renewal, now) {
            Ok(b) => out.extend(to_value(&b.to_secret(), "cacerts", status)),
            Err(e) => status.notes.push(format!("cacerts: {e}")),
        }
    }
    out
}
