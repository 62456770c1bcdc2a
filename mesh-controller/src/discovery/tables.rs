//! Tests of the name table one member cluster sees, derived from the objects the applier writes
//! into it.
//!
//! The input is a member's desired objects from the reconcile ([`crate::plan::ClusterPlan`]
//! `objects`): its ServiceImports and imported EndpointSlices, plus objects of other kinds that
//! are ignored here. Reading the very objects the applier writes keeps DNS answers fed over
//! gRPC equal to answers read back from the cluster; no MCS rule is evaluated a second time.
//!
//! The reading is [`mesh_proto::mcs`], the one the DNS proxy's file and kube sources use for
//! the same objects: one [`ServiceRecord`](mesh_proto::v1::ServiceRecord) per ServiceImport,
//! with its type, clusterset IPs and ports, and per exporting cluster (the
//! `multicluster.kubernetes.io/source-cluster` label of the imported slices) the endpoints
//! (addresses, hostname, ready) and ports of those slices. An exporting cluster whose slices
//! hold no endpoints is listed with none, so the record still names it. Endpoints of `FQDN`
//! slices carry no IP addresses and are left out, as DNS answers cannot use them.

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use mesh_proto::table::Key;
    use serde_json::json;

    use crate::model::{EndpointObj, NsName, SliceObj, SlicePortObj};
    use crate::reconcile::imports::imported_slices;
    use mesh_proto::mcs::*;

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
        let mut objects = vec![json!({
            "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.1"],
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80}]},
        })];
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
}
