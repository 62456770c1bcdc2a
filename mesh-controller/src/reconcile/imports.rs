//! The objects an importing member gets: the ServiceImport and the imported EndpointSlices.

use std::collections::BTreeMap;

use isthmus_api::labels::{
    ENDPOINTSLICE_MANAGED_BY, ENDPOINTSLICE_MANAGER, MANAGED_BY, MANAGED_BY_VALUE,
    MCS_SERVICE_NAME, MCS_SOURCE_CLUSTER,
};
use isthmus_api::mcs::import_type;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::conflicts::Derived;
use crate::model::{McsVersion, NsName, SliceObj};

/// Longest Kubernetes object name we generate (RFC 1123 label).
const MAX_NAME: usize = 63;

/// The name of the imported EndpointSlice made from `source_slice` of `service` in `cluster`:
/// `<service>-<cluster>-<hash>`, the prefix shortened so the whole fits 63 characters; the
/// hash (10 hex digits of SHA-256 over namespace, service, cluster and source slice) keeps
/// names unique and stable.
pub fn slice_name(service: &NsName, cluster: &str, source_slice: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        service.namespace.as_str(),
        service.name.as_str(),
        cluster,
        source_slice,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let mut prefix = format!("{}-{}", service.name, cluster);
    let room = MAX_NAME - hash.len() - 1;
    if prefix.len() > room {
        prefix.truncate(room);
    }
    let prefix = prefix.trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

fn labels_with_owner(labels: &BTreeMap<String, String>) -> Value {
    let mut m: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    m.insert(MANAGED_BY.to_owned(), json!(MANAGED_BY_VALUE));
    Value::Object(m)
}

/// The ServiceImport for `key` in a member serving `version`. `families` are the IP families
/// the VIPs were allocated for (used for `ipFamilies` when the Services do not say).
pub fn service_import(
    key: &NsName,
    d: &Derived,
    ips: &[String],
    families: &[String],
    version: McsVersion,
) -> Value {
    let ports: Vec<Value> = d
        .ports
        .iter()
        .map(|p| {
            let mut m = Map::new();
            if !p.name.is_empty() {
                m.insert("name".into(), json!(p.name));
            }
            m.insert("protocol".into(), json!(p.protocol));
            if let Some(a) = &p.app_protocol {
                m.insert("appProtocol".into(), json!(a));
            }
            m.insert("port".into(), json!(p.port));
            Value::Object(m)
        })
        .collect();
    let mut spec = Map::new();
    spec.insert(
        "type".into(),
        json!(if d.headless {
            import_type::HEADLESS
        } else {
            import_type::CLUSTER_SET_IP
        }),
    );
    spec.insert("ports".into(), Value::Array(ports));
    if !d.headless && !ips.is_empty() {
        spec.insert("ips".into(), json!(ips));
    }
    if !d.ip_families.is_empty() {
        spec.insert("ipFamilies".into(), json!(d.ip_families));
    } else if !d.headless && !families.is_empty() {
        spec.insert("ipFamilies".into(), json!(families));
    }
    spec.insert("sessionAffinity".into(), json!(d.session_affinity));
    // Only meaningful (and only valid on a Service) with ClientIP affinity.
    if let Some(c) = &d.session_affinity_config
        && d.session_affinity == "ClientIP"
    {
        spec.insert("sessionAffinityConfig".into(), json!(c));
    }
    if let Some(p) = &d.internal_traffic_policy {
        spec.insert("internalTrafficPolicy".into(), json!(p));
    }
    if let Some(t) = &d.traffic_distribution {
        spec.insert("trafficDistribution".into(), json!(t));
    }
    let mut meta = Map::new();
    meta.insert("name".into(), json!(key.name));
    meta.insert("namespace".into(), json!(key.namespace));
    meta.insert("labels".into(), labels_with_owner(&d.labels));
    if !d.annotations.is_empty() {
        meta.insert("annotations".into(), json!(d.annotations));
    }
    let clusters: Vec<Value> = d.clusters.iter().map(|c| json!({"cluster": c})).collect();
    json!({
        "apiVersion": version.api_version(),
        "kind": "ServiceImport",
        "metadata": Value::Object(meta),
        "spec": Value::Object(spec),
        "status": {"clusters": clusters},
    })
}

fn slice_labels(key: &NsName, cluster: &str) -> Value {
    json!({
        MCS_SERVICE_NAME: key.name,
        MCS_SOURCE_CLUSTER: cluster,
        ENDPOINTSLICE_MANAGED_BY: ENDPOINTSLICE_MANAGER,
        MANAGED_BY: MANAGED_BY_VALUE,
    })
}

fn slice_object(key: &NsName, cluster: &str, name: String, slice: &SliceObj) -> Value {
    let endpoints: Vec<Value> = slice
        .endpoints
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("addresses".into(), json!(e.addresses));
            let mut c = Map::new();
            for (k, v) in [
                ("ready", e.ready),
                ("serving", e.serving),
                ("terminating", e.terminating),
            ] {
                if let Some(v) = v {
                    c.insert(k.into(), json!(v));
                }
            }
            m.insert("conditions".into(), Value::Object(c));
            if let Some(h) = &e.hostname {
                m.insert("hostname".into(), json!(h));
            }
            if let Some(z) = &e.zone {
                m.insert("zone".into(), json!(z));
            }
            Value::Object(m)
        })
        .collect();
    let ports: Vec<Value> = slice
        .ports
        .iter()
        .map(|p| {
            let mut m = Map::new();
            if let Some(n) = &p.name {
                m.insert("name".into(), json!(n));
            }
            if let Some(pr) = &p.protocol {
                m.insert("protocol".into(), json!(pr));
            }
            if let Some(a) = &p.app_protocol {
                m.insert("appProtocol".into(), json!(a));
            }
            if let Some(n) = p.port {
                m.insert("port".into(), json!(n));
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": key.namespace,
            "labels": slice_labels(key, cluster),
        },
        "addressType": slice.address_type,
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// The imported EndpointSlices of `key` from `cluster`: one per source slice; one empty slice
/// of `default_family` when the source has none, so every exporting cluster is represented.
pub fn imported_slices(
    key: &NsName,
    cluster: &str,
    source: Option<&BTreeMap<String, SliceObj>>,
    default_family: &str,
) -> Vec<Value> {
    match source {
        Some(slices) if !slices.is_empty() => slices
            .iter()
            .map(|(name, s)| slice_object(key, cluster, slice_name(key, cluster, name), s))
            .collect(),
        _ => vec![slice_object(
            key,
            cluster,
            slice_name(key, cluster, ""),
            &SliceObj {
                address_type: default_family.to_owned(),
                ..SliceObj::default()
            },
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_names_fit_and_are_stable() {
        let key = NsName::new("ns", "a".repeat(70));
        let n = slice_name(&key, "cluster-with-long-name", "web-abcde");
        assert!(n.len() <= 63, "{n}");
        assert_eq!(n, slice_name(&key, "cluster-with-long-name", "web-abcde"));
        assert_ne!(n, slice_name(&key, "cluster-with-long-name", "web-fghij"));
        let short = slice_name(&NsName::new("ns", "web"), "east", "web-1");
        assert!(short.starts_with("web-east-"), "{short}");
        assert_eq!(short.len(), "web-east-".len() + 10);
    }
}
