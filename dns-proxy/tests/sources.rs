//! Sources: YAML parsing and its errors, the kube watch-event logic (no sockets), resolv.conf,
//! forwarding ACLs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use dns_proxy::config::{SourceSpec, parse_resolv_conf};
use dns_proxy::model::ServiceKind;
use dns_proxy::source::file::{FileError, parse};
use dns_proxy::source::kube::{ImportObj, KubeState, Update};
use dns_proxy::table::{Lookup, Table, ZoneConfig, name_to_wire};
use isthmus_api::mcs::ServiceImportSpec;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;

#[test]
fn fixture_parses_both_api_versions_and_ready_endpoints() {
    let set = common::fixture_set();
    assert_eq!(set.services.len(), 3);
    let db = set.services.iter().find(|s| s.name == "db").unwrap();
    assert_eq!(db.kind, ServiceKind::Headless);
    assert_eq!(db.endpoints.len(), 4);
    assert_eq!(db.endpoints.iter().filter(|e| e.ready).count(), 3);
    let web = set.services.iter().find(|s| s.name == "web").unwrap();
    assert_eq!(web.ports.len(), 3);
    assert_eq!(web.ports[1].protocol, "udp");
}

#[test]
fn bad_documents_are_named_by_index_and_field() {
    let p = Path::new("x.yaml");
    let cases: &[(&str, usize, &str)] = &[
        (
            "apiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: a, namespace: b}\nspec: {type: Weird}\n",
            0,
            "spec.type",
        ),
        (
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n---\napiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\nmetadata: {name: a, namespace: b}\nspec: {type: ClusterSetIP, ips: [not-an-ip]}\n",
            1,
            "spec.ips[0]",
        ),
        (
            "apiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: a, namespace: b}\nspec: {type: ClusterSetIP, ports: [{port: 70000}]}\n",
            0,
            "spec.ports[0].port",
        ),
        (
            "apiVersion: multicluster.x-k8s.io/v1beta1\nkind: ServiceImport\nmetadata: {name: a}\nspec: {type: Headless}\n",
            0,
            "metadata.namespace",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: b}\naddressType: IPv4\nendpoints: []\n",
            0,
            "multicluster.kubernetes.io/service-name",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: b, labels: {multicluster.kubernetes.io/service-name: a}}\naddressType: IPv4\nendpoints: []\n",
            0,
            "multicluster.kubernetes.io/source-cluster",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, namespace: b, labels: {multicluster.kubernetes.io/service-name: a, multicluster.kubernetes.io/source-cluster: c}}\naddressType: IPv4\nendpoints: [{addresses: [1.2.3.4]}, {addresses: [bad]}]\n",
            0,
            "endpoints[1].addresses[0]",
        ),
        (
            "kind: ServiceImport\nmetadata: {name: a}\n",
            0,
            "apiVersion",
        ),
    ];
    for (text, index, field) in cases {
        let e = parse(p, text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(&format!("document {index}")), "{msg}");
        assert!(msg.contains(field), "{msg} should name {field}");
        assert!(msg.starts_with("x.yaml"), "{msg}");
    }
    assert!(matches!(
        parse(p, "a: [unclosed"),
        Err(FileError::Yaml { .. })
    ));
}

#[test]
fn list_documents_and_unrelated_kinds() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: multicluster.x-k8s.io/v1beta1\n  kind: ServiceImport\n  metadata: {name: a, namespace: b}\n  spec: {type: ClusterSetIP, ips: [1.1.1.1]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\n---\n";
    let set = parse(Path::new("l.yaml"), text).unwrap();
    assert_eq!(set.services.len(), 1);
    assert!(parse(Path::new("e.yaml"), "").unwrap().services.is_empty());
}

fn import(name: &str, ty: &str, ips: &[&str]) -> ImportObj {
    ImportObj {
        namespace: "ns".into(),
        name: name.into(),
        spec: ServiceImportSpec {
            type_: ty.into(),
            ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    }
}

fn slice(name: &str, svc: &str, cluster: &str, addrs: &[&str]) -> EndpointSlice {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "ns", "labels": {
            "multicluster.kubernetes.io/service-name": svc,
            "multicluster.kubernetes.io/source-cluster": cluster}},
        "addressType": "IPv4",
        "endpoints": addrs.iter().map(|a| serde_json::json!({"addresses": [a]})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn a_records(state: &KubeState, name: &str) -> Option<usize> {
    let t = Table::build(&ZoneConfig::default(), &state.store.to_set(), 1).unwrap();
    match t.lookup(&name_to_wire(name).unwrap(), 1) {
        Lookup::Answer(s) => Some(s.rdata.len()),
        Lookup::NoData => Some(0),
        Lookup::NxDomain => None,
    }
}

#[test]
fn kube_events_build_the_store_and_completion_waits_for_both_lists() {
    let mut st = KubeState::default();
    assert!(!st.complete());
    st.apply(Update::Import(Event::Init));
    st.apply(Update::Import(Event::InitApply(import(
        "web",
        "ClusterSetIP",
        &["242.0.0.1"],
    ))));
    st.apply(Update::Import(Event::InitApply(import(
        "hl",
        "Headless",
        &[],
    ))));
    st.apply(Update::Import(Event::InitDone));
    assert!(!st.complete(), "slices not listed yet");
    st.apply(Update::Slice(Event::Init));
    st.apply(Update::Slice(Event::InitApply(slice(
        "hl-a",
        "hl",
        "east",
        &["10.0.0.1", "10.0.0.2"],
    ))));
    assert!(!st.complete(), "slice list in progress");
    st.apply(Update::Slice(Event::InitDone));
    assert!(st.complete());
    assert_eq!(a_records(&st, "web.ns.svc.clusterset.local"), Some(1));
    assert_eq!(a_records(&st, "hl.ns.svc.clusterset.local"), Some(2));
    // Live changes.
    st.apply(Update::Slice(Event::Apply(slice(
        "hl-b",
        "hl",
        "west",
        &["10.1.0.1"],
    ))));
    assert_eq!(a_records(&st, "hl.ns.svc.clusterset.local"), Some(3));
    assert_eq!(
        a_records(&st, "10-1-0-1.west.hl.ns.svc.clusterset.local"),
        Some(1)
    );
    st.apply(Update::Slice(Event::Delete(slice(
        "hl-a",
        "hl",
        "east",
        &[],
    ))));
    assert_eq!(a_records(&st, "hl.ns.svc.clusterset.local"), Some(1));
    st.apply(Update::Import(Event::Delete(import(
        "web",
        "ClusterSetIP",
        &[],
    ))));
    assert_eq!(a_records(&st, "web.ns.svc.clusterset.local"), None);
    // A malformed object is skipped; the rest stays.
    st.apply(Update::Import(Event::Apply(import(
        "bad",
        "ClusterSetIP",
        &["nope"],
    ))));
    assert_eq!(a_records(&st, "bad.ns.svc.clusterset.local"), None);
    assert_eq!(a_records(&st, "hl.ns.svc.clusterset.local"), Some(1));
    // An update that breaks an existing import removes it rather than keeping stale data.
    st.apply(Update::Import(Event::Apply(import(
        "web2",
        "ClusterSetIP",
        &["242.0.0.2"],
    ))));
    assert_eq!(a_records(&st, "web2.ns.svc.clusterset.local"), Some(1));
    st.apply(Update::Import(Event::Apply(import("web2", "Bogus", &[]))));
    assert_eq!(a_records(&st, "web2.ns.svc.clusterset.local"), None);
    // A re-list replaces everything once done; the store is incomplete meanwhile.
    st.apply(Update::Import(Event::Init));
    assert!(!st.complete());
    st.apply(Update::Import(Event::InitApply(import(
        "new",
        "ClusterSetIP",
        &["242.0.0.3"],
    ))));
    st.apply(Update::Import(Event::InitDone));
    assert!(st.complete());
    assert_eq!(a_records(&st, "new.ns.svc.clusterset.local"), Some(1));
    assert_eq!(a_records(&st, "hl.ns.svc.clusterset.local"), None);
}

#[test]
fn resolv_conf_and_source_specs() {
    let text = "# comment\nsearch svc.cluster.local\nnameserver 10.96.0.10\nnameserver fe80::1%eth0 ; scoped\nnameserver bogus\noptions ndots:5\n  nameserver 1.1.1.1\n";
    let got: Vec<String> = parse_resolv_conf(text)
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(got, ["10.96.0.10:53", "[fe80::1]:53", "1.1.1.1:53"]);
    assert_eq!("kube".parse::<SourceSpec>().unwrap(), SourceSpec::Kube);
    assert_eq!(
        "file:/a/b.yaml".parse::<SourceSpec>().unwrap(),
        SourceSpec::File("/a/b.yaml".into())
    );
    assert!("grpc:x".parse::<SourceSpec>().is_err());
    assert!("file:".parse::<SourceSpec>().is_err());
}

#[test]
fn default_forwarding_acl() {
    use dns_proxy::server::{allowed, default_allow_forward};
    let acl = default_allow_forward();
    for ok in [
        "127.0.0.1",
        "10.244.1.5",
        "172.20.0.1",
        "192.168.1.1",
        "100.64.3.3",
        "::1",
        "fd00::5",
        "::ffff:10.0.0.1",
    ] {
        assert!(allowed(&acl, ok.parse().unwrap()), "{ok}");
    }
    for no in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
        assert!(!allowed(&acl, no.parse().unwrap()), "{no}");
    }
}

#[test]
fn invalid_names_are_skipped_not_fatal() {
    let mut set = common::fixture_set();
    let mut bad = common::big_service(1);
    bad.name = "x".repeat(70);
    set.services.push(bad);
    let mut dotted = common::big_service(1);
    dotted.name = "a.b".into();
    set.services.push(dotted);
    let t = Table::build(&ZoneConfig::default(), &set, 1).unwrap();
    assert_eq!(t.service_count(), 2);
    assert!(
        Table::build(
            &ZoneConfig {
                zone: "a..b".into(),
                ttl: 5
            },
            &set,
            1
        )
        .is_err()
    );
}

fn handle() -> std::sync::Arc<dns_proxy::handle::TableHandle> {
    std::sync::Arc::new(
        dns_proxy::handle::TableHandle::new(ZoneConfig::default(), Default::default()).unwrap(),
    )
}

#[test]
fn file_start_requires_a_readable_file_and_publishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let h = handle();
    match dns_proxy::source::file::start(missing.clone(), h.clone()) {
        Err(e @ FileError::Read { .. }) => {
            assert!(
                e.to_string().contains(&missing.display().to_string()),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!h.is_ready());
    dns_proxy::source::file::start(Path::new(common::FIXTURE).to_path_buf(), h.clone()).unwrap();
    assert!(h.is_ready());
    assert!(h.metrics().render().contains("dns_proxy_table_services 2"));
}

#[tokio::test]
async fn file_run_waits_for_a_file_that_is_not_there_yet() {
    let dir = tempfile::tempdir().unwrap();
    let later = dir.path().join("later.yaml");
    let h = handle();
    let task = tokio::spawn(dns_proxy::source::file::run(
        later.clone(),
        std::time::Duration::from_millis(20),
        h.clone(),
    ));
    // Checked several times while missing: one rejection, not one per check.
    isthmus_testing::eventually(
        "the missing file rejected",
        std::time::Duration::from_secs(10),
        || async {
            if h.metrics()
                .render()
                .contains("dns_proxy_table_load_errors_total 1")
            {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        h.metrics()
            .render()
            .contains("dns_proxy_table_load_errors_total 1")
    );
    assert!(!h.is_ready());
    std::fs::copy(common::FIXTURE, &later).unwrap();
    isthmus_testing::eventually("ready", std::time::Duration::from_secs(10), || async {
        if h.is_ready() {
            Ok(())
        } else {
            Err("not ready".to_string())
        }
    })
    .await;
    task.abort();
}
