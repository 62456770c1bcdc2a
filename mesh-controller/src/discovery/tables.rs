//! The name table one member cluster sees, derived from the objects the applier writes into it.
//!
//! The input is a member's desired objects from the reconcile ([`crate::runtime::ClusterPlan`]
//! `objects`): its ServiceImports and imported EndpointSlices, plus objects of other kinds that
//! are ignored here. Reading the very objects the applier writes keeps DNS answers fed over
//! gRPC equal to answers read back from the cluster; no MCS rule is evaluated a second time.
//!
//! One [`ServiceRecord`] per ServiceImport: its type, clusterset IPs and ports, and per exporting
//! cluster (the `multicluster.kubernetes.io/source-cluster` label of the imported slices) the
//! endpoints (addresses, hostname, ready) and ports of those slices. An exporting cluster whose
//! slices hold no endpoints is listed with none, so the record still names it. Endpoints of
//! `FQDN` slices carry no IP addresses and are left out, as DNS answers cannot use them.

use std::collections::BTreeMap;

use isthmus_api::labels::{MCS_SERVICE_NAME, MCS_SOURCE_CLUSTER};
use isthmus_api::mcs::import_type;
use mesh_proto::table::{Key, NameTable};
use mesh_proto::v1::{ClusterEndpoints, Endpoint, Port, ServiceKey, ServiceRecord, ServiceType};
use serde_json::Value;

/// A desired object that cannot become part of a name table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// A field is missing or has an unusable value.
    #[error("{object}: field {field}: {reason}")]
    Field {
        /// `Kind namespace/name` of the object.
        object: String,
        /// Path of the field, e.g. `spec.ports[0].port`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn field_err(object: &str, field: impl Into<String>, reason: impl Into<String>) -> TableError {
    TableError::Field {
        object: object.to_owned(),
        field: field.into(),
        reason: reason.into(),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn object_name(kind: &str, v: &Value) -> String {
    format!(
        "{kind} {}/{}",
        str_at(v, "/metadata/namespace").unwrap_or(""),
        str_at(v, "/metadata/name").unwrap_or("")
    )
}

fn ns_name(object: &str, v: &Value) -> Result<(String, String), TableError> {
    let ns = str_at(v, "/metadata/namespace")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| field_err(object, "metadata.namespace", "missing"))?;
    let name = str_at(v, "/metadata/name")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| field_err(object, "metadata.name", "missing"))?;
    Ok((ns.to_owned(), name.to_owned()))
}

/// Ports as the wire carries them: name (empty when unnamed), upper-case protocol
/// (`TCP` when unset), port number.
fn ports(object: &str, field: &str, v: Option<&Value>) -> Result<Vec<Port>, TableError> {
    let Some(list) = v else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| field_err(object, field, "not a list"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let Some(number) = p.get("port").and_then(Value::as_u64) else {
            // Slice ports may leave the number unset ("all ports"); nothing to name in DNS.
            continue;
        };
        let port = u32::try_from(number)
            .ok()
            .filter(|n| (1..=65535).contains(n))
            .ok_or_else(|| {
                field_err(
                    object,
                    format!("{field}[{i}].port"),
                    format!("{number} is not a port number"),
                )
            })?;
        let protocol = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_ascii_uppercase();
        if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
            return Err(field_err(
                object,
                format!("{field}[{i}].protocol"),
                format!("{protocol:?} is not TCP, UDP or SCTP"),
            ));
        }
        out.push(Port {
            name: p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            protocol,
            port,
        });
    }
    Ok(out)
}

fn import_record(v: &Value) -> Result<ServiceRecord, TableError> {
    let object = object_name("ServiceImport", v);
    let (namespace, name) = ns_name(&object, v)?;
    let type_ = match str_at(v, "/spec/type") {
        Some(import_type::CLUSTER_SET_IP) => ServiceType::ClusterSetIp,
        Some(import_type::HEADLESS) => ServiceType::Headless,
        Some(other) => {
            return Err(field_err(
                &object,
                "spec.type",
                format!("{other:?} is neither ClusterSetIP nor Headless"),
            ));
        }
        None => return Err(field_err(&object, "spec.type", "missing")),
    };
    let mut ips = Vec::new();
    if type_ == ServiceType::ClusterSetIp
        && let Some(list) = v.pointer("/spec/ips")
    {
        let list = list
            .as_array()
            .ok_or_else(|| field_err(&object, "spec.ips", "not a list"))?;
        for (i, ip) in list.iter().enumerate() {
            let ip = ip
                .as_str()
                .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
                .ok_or_else(|| {
                    field_err(
                        &object,
                        format!("spec.ips[{i}]"),
                        format!("{ip} is not an IP address"),
                    )
                })?;
            ips.push(ip.to_owned());
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

/// One imported slice: its service, source cluster, endpoints and ports.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceEntry {
    key: Key,
    cluster: String,
    endpoints: Vec<Endpoint>,
    ports: Vec<Port>,
}

/// What one desired object contributes to a name table.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// A ServiceImport: its service and the record, without its clusters yet.
    Import(Key, ServiceRecord),
    /// An imported EndpointSlice.
    Slice(SliceEntry),
}

/// Reads one desired object: `None` for objects that are not part of the view (other kinds,
/// EndpointSlices without the MCS service-name label).
pub fn part(o: &Value) -> Option<Result<Part, TableError>> {
    match o.get("kind").and_then(Value::as_str) {
        Some("ServiceImport") => Some(import_record(o).map(|r| {
            let key = r
                .key
                .as_ref()
                .map(|k| Key::new(k.namespace.clone(), k.name.clone()))
                .unwrap_or_else(|| Key::new("", ""));
            Part::Import(key, r)
        })),
        Some("EndpointSlice") => {
            // Only imported slices (with the MCS labels) are part of the view.
            o.pointer("/metadata/labels")
                .and_then(|l| l.get(MCS_SERVICE_NAME))
                .map(|_| slice_entry(o).map(Part::Slice))
        }
        _ => None,
    }
}

fn slice_entry(v: &Value) -> Result<SliceEntry, TableError> {
    let object = object_name("EndpointSlice", v);
    let (namespace, _) = ns_name(&object, v)?;
    let label = |l: &str| {
        v.pointer("/metadata/labels")
            .and_then(|ls| ls.get(l))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| field_err(&object, format!("metadata.labels[{l}]"), "missing"))
    };
    let service = label(MCS_SERVICE_NAME)?;
    let cluster = label(MCS_SOURCE_CLUSTER)?;
    let mut endpoints = Vec::new();
    match str_at(v, "/addressType") {
        Some("IPv4" | "IPv6") => {
            let list = match v.get("endpoints") {
                None | Some(Value::Null) => &Vec::new(),
                Some(Value::Array(list)) => list,
                Some(_) => return Err(field_err(&object, "endpoints", "not a list")),
            };
            for (i, e) in list.iter().enumerate() {
                let mut addresses = Vec::new();
                for (j, a) in e
                    .get("addresses")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let a = a
                        .as_str()
                        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
                        .ok_or_else(|| {
                            field_err(
                                &object,
                                format!("endpoints[{i}].addresses[{j}]"),
                                format!("{a} is not an IP address"),
                            )
                        })?;
                    addresses.push(a.to_owned());
                }
                endpoints.push(Endpoint {
                    addresses,
                    hostname: e
                        .get("hostname")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    // An unset condition counts as ready, as in Kubernetes.
                    ready: e
                        .pointer("/conditions/ready")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                });
            }
        }
        Some("FQDN") => {}
        Some(other) => {
            return Err(field_err(
                &object,
                "addressType",
                format!("{other:?} is not IPv4, IPv6 or FQDN"),
            ));
        }
        None => return Err(field_err(&object, "addressType", "missing")),
    }
    Ok(SliceEntry {
        key: Key::new(namespace, service),
        cluster,
        endpoints,
        ports: ports(&object, "ports", v.get("ports"))?,
    })
}

/// Builds a member's name table from its desired objects. An object that cannot be read is
/// reported in the second element and left out; the rest of the table is still built.
pub fn cluster_table<'a>(
    objects: impl IntoIterator<Item = &'a Value>,
) -> (NameTable, Vec<TableError>) {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for o in objects {
        match part(o) {
            Some(Ok(p)) => parts.push(p),
            Some(Err(e)) => errors.push(e),
            None => {}
        }
    }
    (assemble(&parts), errors)
}

/// Builds a member's name table from the parts of its desired objects.
pub fn assemble<'a>(parts: impl IntoIterator<Item = &'a Part>) -> NameTable {
    let mut services: BTreeMap<&Key, Vec<&SliceEntry>> = BTreeMap::new();
    let mut imports = Vec::new();
    for p in parts {
        match p {
            Part::Import(key, r) => imports.push((key, r)),
            Part::Slice(s) => services.entry(&s.key).or_default().push(s),
        }
    }
    let mut records = Vec::with_capacity(imports.len());
    for (key, import) in imports {
        let slices = services.get(key).map_or(&[][..], Vec::as_slice);
        records.push(service_record(import, slices.iter().copied()));
    }
    // Later imports of the same key replace earlier ones, as a server-side apply would.
    let mut table = NameTable::new();
    for r in records {
        // Keys were checked when the parts were read; inserting cannot fail on them.
        let _ = table.upsert(r);
    }
    table
}

/// One service's record: its ServiceImport's record plus, per source cluster (by name), the
/// endpoints and the ports of its imported slices, both in a canonical order (the order of the
/// slices does not matter, and an unchanged view never produces a delta).
pub fn service_record<'a>(
    import: &ServiceRecord,
    slices: impl IntoIterator<Item = &'a SliceEntry>,
) -> ServiceRecord {
    let mut by_cluster: BTreeMap<&str, ClusterEndpoints> = BTreeMap::new();
    for s in slices {
        let entry = by_cluster
            .entry(s.cluster.as_str())
            .or_insert_with(|| ClusterEndpoints {
                cluster: s.cluster.clone(),
                endpoints: Vec::new(),
                ports: Vec::new(),
            });
        entry.endpoints.extend(s.endpoints.iter().cloned());
        for p in &s.ports {
            if !entry.ports.contains(p) {
                entry.ports.push(p.clone());
            }
        }
    }
    let mut record = import.clone();
    record.clusters = by_cluster
        .into_values()
        .map(|mut ce| {
            ce.endpoints.sort_by(|a, b| {
                (&a.addresses, &a.hostname, a.ready).cmp(&(&b.addresses, &b.hostname, b.ready))
            });
            ce.ports.sort_by(|a, b| {
                (a.port, &a.protocol, &a.name).cmp(&(b.port, &b.protocol, &b.name))
            });
            ce
        })
        .collect();
    record
}

impl SliceEntry {
    /// The service the slice belongs to.
    pub fn service(&self) -> &Key {
        &self.key
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{EndpointObj, NsName, SliceObj, SlicePortObj};
    use crate::reconcile::imports::imported_slices;
    use serde_json::json;

    fn import(name: &str, type_: &str, ips: &[&str]) -> Value {
        json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"type": type_, "ips": ips,
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80}, {"protocol": "UDP", "port": 53}]},
        })
    }

    fn slice(service: &str, cluster: &str, endpoints: Value) -> Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{service}-{cluster}-x"), "namespace": "shop",
                         "labels": {MCS_SERVICE_NAME: service, MCS_SOURCE_CLUSTER: cluster}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
        })
    }

    #[test]
    fn a_clusterset_ip_import_becomes_a_record_with_its_ips_ports_and_exporters() {
        let objects = vec![
            import("web", "ClusterSetIP", &["242.0.0.1"]),
            slice("web", "west", json!([{"addresses": ["10.2.0.1"]}])),
            slice(
                "web",
                "east",
                json!([{"addresses": ["10.1.0.2"], "conditions": {"ready": false}},
                                        {"addresses": ["10.1.0.1"], "conditions": {"ready": true}}]),
            ),
            // Other kinds are not part of the view.
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}),
        ];
        let (table, errors) = cluster_table(&objects);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(table.len(), 1);
        let r = table.get(&Key::new("shop", "web")).unwrap();
        assert_eq!(r.r#type, ServiceType::ClusterSetIp as i32);
        assert_eq!(r.ips, vec!["242.0.0.1"]);
        assert_eq!(
            r.ports,
            vec![
                Port {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 80
                },
                Port {
                    name: String::new(),
                    protocol: "UDP".into(),
                    port: 53
                },
            ]
        );
        let clusters: Vec<&str> = r.clusters.iter().map(|c| c.cluster.as_str()).collect();
        assert_eq!(clusters, vec!["east", "west"]);
        let east = &r.clusters[0];
        assert_eq!(east.endpoints.len(), 2);
        assert_eq!(east.endpoints[0].addresses, vec!["10.1.0.1"]);
        assert!(east.endpoints[0].ready);
        assert!(!east.endpoints[1].ready);
        assert_eq!(east.ports[0].port, 8080);
    }

    #[test]
    fn headless_records_carry_hostnames_and_no_ips_and_unset_ready_counts_as_ready() {
        let objects = vec![
            import("db", "Headless", &[]),
            slice(
                "db",
                "east",
                json!([{"addresses": ["10.1.3.21"], "hostname": "db-0"}]),
            ),
        ];
        let (table, errors) = cluster_table(&objects);
        assert!(errors.is_empty());
        let r = table.get(&Key::new("shop", "db")).unwrap();
        assert_eq!(r.r#type, ServiceType::Headless as i32);
        assert!(r.ips.is_empty());
        assert_eq!(r.clusters[0].endpoints[0].hostname, "db-0");
        assert!(r.clusters[0].endpoints[0].ready);
    }

    #[test]
    fn the_reconciles_own_slices_convert_and_an_exporter_without_endpoints_stays_listed() {
        let key = NsName::new("shop", "web");
        let mut source = BTreeMap::new();
        source.insert(
            "web-abc".to_owned(),
            SliceObj {
                address_type: "IPv4".into(),
                endpoints: vec![EndpointObj {
                    addresses: vec!["10.1.0.9".into()],
                    hostname: Some("web-0".into()),
                    ready: Some(true),
                    ..EndpointObj::default()
                }],
                ports: vec![SlicePortObj {
                    name: Some("http".into()),
                    protocol: Some("TCP".into()),
                    port: Some(80),
                    ..SlicePortObj::default()
                }],
            },
        );
        let mut objects = vec![import("web", "ClusterSetIP", &["242.0.0.1"])];
        objects.extend(imported_slices(&key, "east", Some(&source), "IPv4"));
        objects.extend(imported_slices(&key, "west", None, "IPv4"));
        let (table, errors) = cluster_table(&objects);
        assert!(errors.is_empty(), "{errors:?}");
        let r = table.get(&Key::new("shop", "web")).unwrap();
        assert_eq!(r.clusters.len(), 2);
        assert_eq!(r.clusters[0].cluster, "east");
        assert_eq!(r.clusters[0].endpoints[0].hostname, "web-0");
        assert_eq!(r.clusters[0].endpoints[0].addresses, vec!["10.1.0.9"]);
        assert_eq!(r.clusters[1].cluster, "west");
        assert!(r.clusters[1].endpoints.is_empty());
    }

    #[test]
    fn endpoint_order_does_not_change_the_table() {
        let a = vec![
            import("web", "ClusterSetIP", &["242.0.0.1"]),
            slice(
                "web",
                "east",
                json!([{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2"]}]),
            ),
        ];
        let b = vec![
            slice(
                "web",
                "east",
                json!([{"addresses": ["10.1.0.2"]}, {"addresses": ["10.1.0.1"]}]),
            ),
            import("web", "ClusterSetIP", &["242.0.0.1"]),
        ];
        assert_eq!(cluster_table(&a).0, cluster_table(&b).0);
        assert!(cluster_table(&a).0.diff(&cluster_table(&b).0).is_none());
    }

    #[test]
    fn slices_without_an_import_and_fqdn_endpoints_name_nothing() {
        let mut fqdn = slice("db", "east", json!([{"addresses": ["db.example.com"]}]));
        fqdn["addressType"] = json!("FQDN");
        let objects = vec![
            slice("orphan", "east", json!([{"addresses": ["10.1.0.1"]}])),
            import("db", "Headless", &[]),
            fqdn,
        ];
        let (table, errors) = cluster_table(&objects);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(table.len(), 1);
        let r = table.get(&Key::new("shop", "db")).unwrap();
        assert_eq!(r.clusters.len(), 1);
        assert!(r.clusters[0].endpoints.is_empty());
    }

    #[test]
    fn malformed_objects_are_reported_by_object_and_field_and_skipped() {
        let mut bad_ip = import("bad", "ClusterSetIP", &["not-an-ip"]);
        bad_ip["metadata"]["name"] = json!("bad");
        let mut bad_port = import("port", "ClusterSetIP", &[]);
        bad_port["spec"]["ports"] = json!([{"port": 70000}]);
        let mut bad_label = slice("web", "east", json!([]));
        bad_label["metadata"]["labels"][MCS_SOURCE_CLUSTER] = json!("");
        let objects = vec![
            bad_ip,
            bad_port,
            import("typeless", "", &[]),
            bad_label,
            import("web", "ClusterSetIP", &["242.0.0.1"]),
        ];
        let (table, errors) = cluster_table(&objects);
        assert_eq!(table.len(), 1);
        assert!(table.get(&Key::new("shop", "web")).is_some());
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(text[0].contains("ServiceImport shop/bad: field spec.ips[0]"));
        assert!(text[1].contains("ServiceImport shop/port: field spec.ports[0].port"));
        assert!(text[2].contains("ServiceImport shop/typeless: field spec.type"));
        assert!(text[3].contains(&format!(
            "EndpointSlice shop/web-east-x: field metadata.labels[{MCS_SOURCE_CLUSTER}]"
        )));
    }
}
