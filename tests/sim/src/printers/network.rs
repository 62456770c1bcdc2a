//! The printers of Services, Endpoints and EndpointSlices (`printService`, `printEndpoints`,
//! `printEndpointSlice` with `getServiceExternalIP`, `makePortString`, `formatEndpoints`,
//! `formatDiscoveryPorts` and `formatDiscoveryEndpoints` in
//! `pkg/printers/internalversion/printers.go`).
//!
//! A real API server defaults a Service's `type` to `ClusterIP` and copies `clusterIP` into
//! `clusterIPs`; the simulator does neither, so a missing type prints as `ClusterIP` and a
//! missing `clusterIPs` falls back to `clusterIP`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::column::{AGE, Column, Row};
use super::fields::{age, list, object_name, text};
use super::format::format_labels;

/// At most this many endpoints or ports are listed before `+ N more...`.
const LIST_MAX: usize = 3;

pub(super) const SERVICE: &[Column] = &[
    Column::name(),
    Column::new("Type", "string", 0, "How the Service is exposed."),
    Column::new("Cluster-IP", "string", 0, "The IP address of the service."),
    Column::new(
        "External-IP",
        "string",
        0,
        "External addresses of the service.",
    ),
    Column::new("Port(s)", "string", 0, "The ports the service exposes."),
    AGE,
    Column::new("Selector", "string", 1, "The pods the service routes to."),
];

/// `host:port`, with brackets around an IPv6 host (`net.JoinHostPort`).
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The load balancer's ingress IPs (or hostnames), sorted and de-duplicated, unclipped (the
/// API server prints wide).
fn load_balancer_ingress(svc: &Value) -> Vec<String> {
    let set: BTreeSet<String> = list(svc, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| {
            let ip = text(i, "/ip");
            let host = text(i, "/hostname");
            if !ip.is_empty() {
                Some(ip.to_string())
            } else if !host.is_empty() {
                Some(host.to_string())
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect()
}

fn external_ip(svc: &Value, svc_type: &str) -> String {
    let external: Vec<&str> = list(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut all = load_balancer_ingress(svc);
            if !external.is_empty() {
                all.extend(external.iter().map(|s| (*s).to_string()));
                return all.join(",");
            }
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn port_string(svc: &Value) -> String {
    let ports: Vec<String> = list(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node) if node > 0 => format!("{port}:{node}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

pub(super) fn service(obj: &Value, now: Timestamp) -> Row {
    let svc_type = match text(obj, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = list(obj, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .or_else(|| Some(text(obj, "/spec/clusterIP")))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    Row::new(vec![
        json!(object_name(obj)),
        json!(svc_type),
        json!(cluster_ip),
        json!(external_ip(obj, svc_type)),
        json!(port_string(obj)),
        json!(age(obj, now)),
        json!(format_labels(obj.pointer("/spec/selector"))),
    ])
}

pub(super) const ENDPOINTS: &[Column] = &[
    Column::name(),
    Column::new("Endpoints", "string", 0, "The addresses of the endpoints."),
    AGE,
];

pub(super) fn endpoints(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(format_endpoints(obj)),
        json!(age(obj, now)),
    ])
}

/// The first three `ip:port` pairs of all subsets (every address once per port), then
/// `+ N more...`; `<none>` without subsets.
fn format_endpoints(obj: &Value) -> String {
    let subsets = list(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut more = false;
    let mut total = 0;
    for ss in subsets {
        let addresses = list(ss, "/addresses");
        let ports = list(ss, "/ports");
        if ports.is_empty() {
            // Headless services may have no ports.
            total += addresses.len();
            for a in addresses {
                if shown.len() == LIST_MAX {
                    more = true;
                    break;
                }
                shown.push(text(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            total += addresses.len();
            let port = p
                .get("port")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string();
            for a in addresses {
                if shown.len() == LIST_MAX {
                    more = true;
                    break;
                }
                shown.push(join_host_port(text(a, "/ip"), &port));
            }
        }
    }
    let joined = shown.join(",");
    if more {
        format!("{joined} + {} more...", total - LIST_MAX)
    } else {
        joined
    }
}

pub(super) const ENDPOINT_SLICE: &[Column] = &[
    Column::name(),
    Column::new("AddressType", "string", 0, "The type of the addresses."),
    Column::new("Ports", "string", 0, "The ports of the endpoints."),
    Column::new("Endpoints", "string", 0, "The addresses of the endpoints."),
    AGE,
];

/// The first three items, then `+ N more...`; `<unset>` for none (`listWithMoreString`).
fn first_three(items: impl Iterator<Item = String>) -> String {
    let mut shown = Vec::new();
    let mut total = 0;
    for item in items {
        if shown.len() < LIST_MAX {
            shown.push(item);
        }
        total += 1;
    }
    let joined = shown.join(",");
    if total > LIST_MAX {
        format!("{joined} + {} more...", total - LIST_MAX)
    } else if joined.is_empty() {
        "<unset>".into()
    } else {
        joined
    }
}

pub(super) fn endpoint_slice(obj: &Value, now: Timestamp) -> Row {
    let ports = first_three(list(obj, "/ports").iter().map(|p| {
        match (p.get("port").and_then(Value::as_i64), p.get("name")) {
            (Some(port), _) => port.to_string(),
            (None, Some(Value::String(name))) => name.clone(),
            _ => "*".into(),
        }
    }));
    let endpoints = first_three(
        list(obj, "/endpoints")
            .iter()
            .flat_map(|e| list(e, "/addresses"))
            .map(|a| a.as_str().unwrap_or_default().to_string()),
    );
    Row::new(vec![
        json!(object_name(obj)),
        json!(text(obj, "/addressType")),
        json!(ports),
        json!(endpoints),
        json!(age(obj, now)),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn cells(row: Row) -> Vec<String> {
        row.cells
            .into_iter()
            .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
            .collect()
    }

    #[test]
    fn service_columns_and_cells() {
        let names: Vec<String> = SERVICE.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector"
            ]
        );
        assert_eq!(SERVICE[6].priority, 1);
        let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:57:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "selector": {"tier": "fe", "app": "web"},
                "ports": [{"port": 80, "protocol": "TCP"},
                          {"port": 443, "nodePort": 31443, "protocol": "TCP"},
                          {"port": 53, "protocol": "UDP"}]}});
        assert_eq!(
            cells(service(&svc, now())),
            [
                "web",
                "NodePort",
                "10.96.0.10",
                "<none>",
                "80/TCP,443:31443/TCP,53/UDP",
                "3m",
                "app=web,tier=fe"
            ]
        );
    }

    #[test]
    fn service_external_ip_by_type() {
        let lb = |status: Value, external: Value| {
            json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "externalIPs": external,
                "ports": [{"port": 15443}]}, "status": {"loadBalancer": status}})
        };
        let pending = service(&lb(json!({}), json!(null)), now());
        assert_eq!(pending.cells[3], json!("<pending>"));
        let ingress = json!({"ingress": [{"ip": "192.0.2.9"}, {"hostname": "lb.example.com"}, {"ip": "192.0.2.1"}]});
        assert_eq!(
            service(&lb(ingress.clone(), json!(null)), now()).cells[3],
            json!("192.0.2.1,192.0.2.9,lb.example.com")
        );
        assert_eq!(
            service(&lb(ingress, json!(["203.0.113.5"])), now()).cells[3],
            json!("192.0.2.1,192.0.2.9,lb.example.com,203.0.113.5")
        );
        let cluster_ip = json!({"spec": {"externalIPs": ["203.0.113.7", "203.0.113.8"]}});
        let row = service(&cluster_ip, now());
        assert_eq!(
            row.cells[1],
            json!("ClusterIP"),
            "a missing type is the default"
        );
        assert_eq!(row.cells[2], json!("<none>"));
        assert_eq!(row.cells[3], json!("203.0.113.7,203.0.113.8"));
        assert_eq!(row.cells[4], json!("<none>"));
        assert_eq!(row.cells[6], json!("<none>"));
        let ext = json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        assert_eq!(service(&ext, now()).cells[3], json!("db.example.com"));
        let odd = json!({"spec": {"type": "Other"}});
        assert_eq!(service(&odd, now()).cells[3], json!("<unknown>"));
        let headless = json!({"spec": {"clusterIP": "None"}});
        assert_eq!(service(&headless, now()).cells[2], json!("None"));
    }

    #[test]
    fn endpoints_list_three_then_more() {
        let ep = json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]}]});
        assert_eq!(
            endpoints(&ep, now()).cells[1],
            json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...")
        );
        let v6 = json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]});
        assert_eq!(endpoints(&v6, now()).cells[1], json!("[fd00::1]:53"));
        assert_eq!(endpoints(&json!({}), now()).cells[1], json!("<none>"));
    }

    #[test]
    fn endpoint_slice_ports_and_endpoints() {
        let names: Vec<String> = ENDPOINT_SLICE.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
        let slice = json!({"metadata": {"name": "cart-abc12"}, "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}, {"name": "grpc"}, {}],
            "endpoints": [{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2", "10.1.0.3"]},
                {"addresses": ["10.1.0.4"]}, {"addresses": ["10.1.0.5"]}]});
        assert_eq!(
            cells(endpoint_slice(&slice, now())),
            [
                "cart-abc12",
                "IPv4",
                "8080,grpc,*",
                "10.1.0.1,10.1.0.2,10.1.0.3 + 2 more...",
                "<unknown>"
            ]
        );
        let empty = json!({"addressType": "IPv4"});
        assert_eq!(
            cells(endpoint_slice(&empty, now()))[2..4],
            ["<unset>", "<unset>"]
        );
    }
}
