//! The gRPC source without sockets: converting discovery records into the proxy's service
//! model (equal to what the file source gives for the same services), skipping malformed
//! records, and validating the `--source grpc:` flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use dns_proxy::config::{Args, ConfigError, SourceSpec, grpc_source};
use dns_proxy::model::{Endpoint, Port, Service, ServiceKind};
use dns_proxy::source::grpc::{Converter, convert_record, to_service_set};
use mesh_proto::table::NameTable;
use mesh_proto::v1;
use pretty_assertions::assert_eq;

fn key(ns: &str, name: &str) -> Option<v1::ServiceKey> {
    Some(v1::ServiceKey {
        namespace: ns.into(),
        name: name.into(),
    })
}

fn port(name: &str, protocol: &str, port: u32) -> v1::Port {
    v1::Port {
        name: name.into(),
        protocol: protocol.into(),
        port,
    }
}

fn ep(addresses: &[&str], hostname: &str, ready: bool) -> v1::Endpoint {
    v1::Endpoint {
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        hostname: hostname.into(),
        ready,
    }
}

fn cluster(name: &str, endpoints: Vec<v1::Endpoint>) -> v1::ClusterEndpoints {
    v1::ClusterEndpoints {
        cluster: name.into(),
        endpoints,
        ports: vec![],
    }
}

fn clusterset_ip(ns: &str, name: &str, ips: &[&str]) -> v1::ServiceRecord {
    v1::ServiceRecord {
        key: key(ns, name),
        r#type: v1::ServiceType::ClusterSetIp as i32,
        ips: ips.iter().map(|a| a.to_string()).collect(),
        ports: vec![],
        clusters: vec![],
    }
}

fn headless(ns: &str, name: &str, clusters: Vec<v1::ClusterEndpoints>) -> v1::ServiceRecord {
    v1::ServiceRecord {
        key: key(ns, name),
        r#type: v1::ServiceType::Headless as i32,
        ips: vec![],
        ports: vec![port("pg", "TCP", 5432)],
        clusters,
    }
}

/// The services of [`EQUIVALENT_YAML`], as the controller streams them.
fn sample_table() -> NameTable {
    let mut web = clusterset_ip("shop", "web", &["242.0.0.10", "fd00:242::10"]);
    web.ports = vec![
        port("http", "TCP", 80),
        port("dns", "UDP", 53),
        port("", "SCTP", 9000),
        port("", "", 8080),
    ];
    web.clusters = vec![cluster("east", vec![ep(&["10.3.0.1"], "", true)])];
    let mut db = headless(
        "shop",
        "db",
        vec![
            cluster(
                "east",
                vec![
                    ep(&["10.1.0.1"], "db-0", true),
                    ep(&["10.1.0.2"], "db-1", true),
                    ep(&["10.1.0.3"], "db-2", false),
                ],
            ),
            cluster("west", vec![ep(&["fd00:1::7"], "", true)]),
        ],
    );
    db.clusters[0].ports = vec![port("pg", "TCP", 5432)];
    let api = clusterset_ip("other", "api", &[]);
    NameTable::from_records([web, db, api]).unwrap()
}

const EQUIVALENT_YAML: &str = r#"
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: web, namespace: shop}
spec:
  type: ClusterSetIP
  ips: [242.0.0.10, "fd00:242::10"]
  ports:
    - {name: http, protocol: TCP, port: 80}
    - {name: dns, protocol: UDP, port: 53}
    - {protocol: SCTP, port: 9000}
    - {port: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-east
  namespace: shop
  labels: {multicluster.kubernetes.io/service-name: web, multicluster.kubernetes.io/source-cluster: east}
addressType: IPv4
endpoints:
  - addresses: [10.3.0.1]
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata: {name: db, namespace: shop}
spec:
  type: Headless
  ports: [{name: pg, protocol: TCP, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-east
  namespace: shop
  labels: {multicluster.kubernetes.io/service-name: db, multicluster.kubernetes.io/source-cluster: east}
addressType: IPv4
endpoints:
  - {addresses: [10.1.0.1], hostname: db-0, conditions: {ready: true}}
  - {addresses: [10.1.0.2], hostname: db-1}
  - {addresses: [10.1.0.3], hostname: db-2, conditions: {ready: false}}
ports: [{name: pg, protocol: TCP, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-west
  namespace: shop
  labels: {multicluster.kubernetes.io/service-name: db, multicluster.kubernetes.io/source-cluster: west}
addressType: IPv6
endpoints:
  - addresses: ["fd00:1::7"]
---
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: api, namespace: other}
spec:
  type: ClusterSetIP
"#;

#[test]
fn grpc_and_file_sources_give_the_same_service_set() {
    let from_file = dns_proxy::source::file::parse(Path::new("equivalent.yaml"), EQUIVALENT_YAML)
        .expect("YAML parses");
    let (from_grpc, errors) = to_service_set(&sample_table());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(from_grpc, from_file);
    // The same answers follow: the table built from either has the same records.
    let a = dns_proxy::table::Table::build(&Default::default(), &from_grpc, 1).unwrap();
    let b = dns_proxy::table::Table::build(&Default::default(), &from_file, 1).unwrap();
    assert_eq!(a.dump(), b.dump());
}

#[test]
fn conversion_keeps_every_field() {
    let set = to_service_set(&sample_table()).0;
    let web = set.services.iter().find(|s| s.name == "web").unwrap();
    assert_eq!(
        web.kind,
        ServiceKind::ClusterSetIp {
            ips: vec![
                "242.0.0.10".parse().unwrap(),
                "fd00:242::10".parse().unwrap()
            ]
        }
    );
    assert_eq!(
        web.ports,
        vec![
            Port {
                name: Some("http".into()),
                protocol: "tcp".into(),
                port: 80
            },
            Port {
                name: Some("dns".into()),
                protocol: "udp".into(),
                port: 53
            },
            Port {
                name: None,
                protocol: "sctp".into(),
                port: 9000
            },
            Port {
                name: None,
                protocol: "tcp".into(),
                port: 8080
            },
        ]
    );
    let db = set.services.iter().find(|s| s.name == "db").unwrap();
    assert_eq!(db.kind, ServiceKind::Headless);
    assert_eq!(
        db.endpoints,
        vec![
            Endpoint {
                cluster: "east".into(),
                hostname: Some("db-0".into()),
                addresses: vec!["10.1.0.1".parse().unwrap()],
                ready: true
            },
            Endpoint {
                cluster: "east".into(),
                hostname: Some("db-1".into()),
                addresses: vec!["10.1.0.2".parse().unwrap()],
                ready: true
            },
            Endpoint {
                cluster: "east".into(),
                hostname: Some("db-2".into()),
                addresses: vec!["10.1.0.3".parse().unwrap()],
                ready: false
            },
            Endpoint {
                cluster: "west".into(),
                hostname: None,
                addresses: vec!["fd00:1::7".parse().unwrap()],
                ready: true
            },
        ]
    );
    let api = set.services.iter().find(|s| s.name == "api").unwrap();
    assert_eq!(
        api,
        &Service {
            namespace: "other".into(),
            name: "api".into(),
            kind: ServiceKind::ClusterSetIp { ips: vec![] },
            ports: vec![],
            endpoints: vec![],
        }
    );
}

#[test]
fn malformed_records_are_skipped_and_named_by_key_and_field() {
    let bad_ip = clusterset_ip("shop", "bad-ip", &["242.0.0.1", "not-an-ip"]);
    let mut unknown_type = clusterset_ip("shop", "unknown-type", &[]);
    unknown_type.r#type = 7;
    let mut unspecified = clusterset_ip("shop", "unspecified", &[]);
    unspecified.r#type = v1::ServiceType::Unspecified as i32;
    let bad_ns = clusterset_ip("Shop_1", "web", &[]);
    let bad_name = clusterset_ip("shop", "a.b", &[]);
    let mut bad_port = clusterset_ip("shop", "bad-port", &[]);
    bad_port.ports = vec![port("http", "TCP", 80), port("big", "TCP", 70_000)];
    let mut zero_port = clusterset_ip("shop", "zero-port", &[]);
    zero_port.ports = vec![port("z", "TCP", 0)];
    let mut bad_proto = clusterset_ip("shop", "bad-proto", &[]);
    bad_proto.ports = vec![port("h", "HTTP", 80)];
    let bad_cluster = headless(
        "shop",
        "bad-cluster",
        vec![cluster("East.1", vec![ep(&["10.0.0.1"], "", true)])],
    );
    let bad_host = headless(
        "shop",
        "bad-host",
        vec![cluster("east", vec![ep(&["10.0.0.1"], "a.b", true)])],
    );
    let bad_addr = headless(
        "shop",
        "bad-addr",
        vec![cluster(
            "east",
            vec![ep(&["10.0.0.1"], "", true), ep(&["10.0.0.300"], "", true)],
        )],
    );
    let mut bad_cluster_port = headless("shop", "bad-cluster-port", vec![cluster("east", vec![])]);
    bad_cluster_port.clusters[0].ports = vec![port("x", "TCP", 0)];
    let good = clusterset_ip("shop", "good", &["242.0.0.2"]);
    let table = NameTable::from_records([
        bad_ip,
        unknown_type,
        unspecified,
        bad_ns,
        bad_name,
        bad_port,
        zero_port,
        bad_proto,
        bad_cluster,
        bad_host,
        bad_addr,
        bad_cluster_port,
        good,
    ])
    .unwrap();
    let (set, errors) = to_service_set(&table);
    assert_eq!(set.services.len(), 1);
    assert_eq!(set.services[0].name, "good");
    let mut got: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.object.clone(), e.field.clone()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("ServiceRecord shop/bad-ip", "ips[1]"),
        ("ServiceRecord shop/unknown-type", "type"),
        ("ServiceRecord shop/unspecified", "type"),
        ("ServiceRecord Shop_1/web", "key.namespace"),
        ("ServiceRecord shop/a.b", "key.name"),
        ("ServiceRecord shop/bad-port", "ports[1].port"),
        ("ServiceRecord shop/zero-port", "ports[0].port"),
        ("ServiceRecord shop/bad-proto", "ports[0].protocol"),
        ("ServiceRecord shop/bad-cluster", "clusters[0].cluster"),
        (
            "ServiceRecord shop/bad-host",
            "clusters[0].endpoints[0].hostname",
        ),
        (
            "ServiceRecord shop/bad-addr",
            "clusters[0].endpoints[1].addresses[0]",
        ),
        (
            "ServiceRecord shop/bad-cluster-port",
            "clusters[0].ports[0].port",
        ),
    ]
    .iter()
    .map(|(o, f)| (o.to_string(), f.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    let msg = errors
        .iter()
        .find(|e| e.object.ends_with("bad-ip"))
        .unwrap()
        .to_string();
    assert_eq!(
        msg,
        "ServiceRecord shop/bad-ip: field ips[1]: \"not-an-ip\" is not an IP address"
    );

    let mut conv = Converter::default();
    let converted = conv.convert(&Arc::new(table));
    assert_eq!(converted, set);
    assert_eq!(conv.skipped(), 12);
}

#[test]
fn a_record_without_key_is_an_error_not_a_panic() {
    let mut r = clusterset_ip("shop", "web", &[]);
    r.key = None;
    let e = convert_record(&r).unwrap_err();
    assert_eq!(e.field, "key");
}

#[test]
fn converter_follows_changes_across_deltas() {
    let mut conv = Converter::default();
    let first = Arc::new(sample_table());
    assert_eq!(conv.convert(&first), to_service_set(&first).0);
    // A delta: one record changed, one removed, one added, one made malformed.
    let mut next = NameTable::clone(&first);
    next.upsert(clusterset_ip("shop", "web", &["242.0.0.99"]))
        .unwrap();
    next.remove(&mesh_proto::table::Key::new("other", "api"));
    next.upsert(clusterset_ip("shop", "new", &["242.0.0.3"]))
        .unwrap();
    let mut broken = headless("shop", "db", vec![]);
    broken.r#type = 42;
    next.upsert(broken).unwrap();
    let next = Arc::new(next);
    let set = conv.convert(&next);
    assert_eq!(set, to_service_set(&next).0);
    assert_eq!(conv.skipped(), 1);
    let names: Vec<&str> = set.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["new", "web"]);
    // Fixing the record brings it back.
    let mut fixed = NameTable::clone(&next);
    fixed
        .upsert(headless("shop", "db", vec![cluster("east", vec![])]))
        .unwrap();
    let set = conv.convert(&Arc::new(fixed));
    assert_eq!(conv.skipped(), 0);
    assert_eq!(set.services.len(), 3);
}

fn args(extra: &[&str]) -> Args {
    let mut v = vec!["dns-proxy"];
    v.extend_from_slice(extra);
    Args::try_parse_from(v).unwrap()
}

fn grpc_err(extra: &[&str]) -> String {
    match grpc_source(&args(extra)) {
        Ok(c) => panic!("{extra:?} accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn grpc_source_spec_parses_and_checks_the_url() {
    assert_eq!(
        "grpc:https://mesh-controller.isthmus-system:9443"
            .parse::<SourceSpec>()
            .unwrap(),
        SourceSpec::Grpc("https://mesh-controller.isthmus-system:9443".into())
    );
    assert_eq!(
        "grpc:http://127.0.0.1:9000".parse::<SourceSpec>().unwrap(),
        SourceSpec::Grpc("http://127.0.0.1:9000".into())
    );
    for bad in [
        "grpc:",
        "grpc:x",
        "grpc:ftp://host:1",
        "grpc:https://",
        "grpc:https://host:1/path",
        "grpc:https://host:1?q=1",
        "grpc:https://user@host:1",
    ] {
        assert!(
            matches!(
                bad.parse::<SourceSpec>(),
                Err(ConfigError::GrpcUrl { .. } | ConfigError::Source(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn grpc_flags_are_validated_with_errors_naming_the_flag() {
    let http = ["--source", "grpc:http://127.0.0.1:9000"];
    let https = ["--source", "grpc:https://127.0.0.1:9000"];
    // --cluster is required and must be an RFC 1123 label.
    assert!(grpc_err(&[&http[..], &["--insecure"]].concat()).contains("--cluster is required"));
    let e = grpc_err(&[&http[..], &["--insecure", "--cluster", "East_1"]].concat());
    assert!(
        e.contains("--cluster \"East_1\"") && e.contains("RFC 1123"),
        "{e}"
    );
    // Plaintext only with --insecure.
    let e = grpc_err(&[&http[..], &["--cluster", "east"]].concat());
    assert!(e.contains("needs --insecure"), "{e}");
    let ok = grpc_source(&args(
        &[&http[..], &["--cluster", "east", "--insecure"]].concat(),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(ok.cluster, "east");
    assert!(ok.tls.is_none());
    // TLS flags make no sense with http://, --insecure none with https://.
    let e = grpc_err(
        &[
            &http[..],
            &["--cluster", "east", "--insecure", "--grpc-ca", "ca.pem"],
        ]
        .concat(),
    );
    assert!(e.contains("--grpc-ca is only used with an https://"), "{e}");
    let e = grpc_err(&[&https[..], &["--cluster", "east", "--insecure"]].concat());
    assert!(e.contains("--insecure is only used with an http://"), "{e}");
    // https:// needs all three files, each named when missing.
    let e = grpc_err(&[&https[..], &["--cluster", "east"]].concat());
    assert!(e.contains("needs --grpc-ca"), "{e}");
    let e = grpc_err(&[&https[..], &["--cluster", "east", "--grpc-ca", "ca.pem"]].concat());
    assert!(e.contains("needs --grpc-cert"), "{e}");
    let e = grpc_err(
        &[
            &https[..],
            &[
                "--cluster",
                "east",
                "--grpc-ca",
                "ca.pem",
                "--grpc-cert",
                "c.pem",
            ],
        ]
        .concat(),
    );
    assert!(e.contains("needs --grpc-key"), "{e}");
    // Files that do not exist or hold no PEM are named with their flag.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not pem").unwrap();
    let m = missing.to_str().unwrap();
    let j = junk.to_str().unwrap();
    let e = grpc_err(
        &[
            &https[..],
            &[
                "--cluster",
                "east",
                "--grpc-ca",
                m,
                "--grpc-cert",
                j,
                "--grpc-key",
                j,
            ],
        ]
        .concat(),
    );
    assert!(e.starts_with(&format!("--grpc-ca {m}")), "{e}");
    let e = grpc_err(
        &[
            &https[..],
            &[
                "--cluster",
                "east",
                "--grpc-ca",
                j,
                "--grpc-cert",
                j,
                "--grpc-key",
                j,
            ],
        ]
        .concat(),
    );
    assert!(
        e.starts_with(&format!("--grpc-ca {j}")) && e.contains("no PEM CERTIFICATE"),
        "{e}"
    );
    let e = grpc_err(
        &[
            &https[..],
            &[
                "--cluster",
                "east",
                "--grpc-ca",
                j,
                "--grpc-cert",
                j,
                "--grpc-key",
                j,
                "--grpc-server-name",
                "not a name",
            ],
        ]
        .concat(),
    );
    assert!(e.starts_with("--grpc-server-name"), "{e}");
    // gRPC-only flags with another source are errors too.
    let e = grpc_err(&["--source", "kube", "--cluster", "east"]);
    assert!(
        e.contains("--cluster is only used with --source grpc"),
        "{e}"
    );
    let e = grpc_err(&["--source", "file:/x.yaml", "--insecure"]);
    assert!(
        e.contains("--insecure is only used with --source grpc"),
        "{e}"
    );
    assert!(grpc_source(&args(&["--source", "kube"])).unwrap().is_none());
}
