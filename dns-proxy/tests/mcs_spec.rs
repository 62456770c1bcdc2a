//! One test per rule of the Multi-Cluster Services DNS specification (KEP-1645
//! `specification.md`, schema 1.0.0), of the mcs-api conformance suite's DNS checks and of
//! the behaviour CoreDNS's multicluster support pins in its tests, plus the choices
//! `docs/dns.md` makes where those are silent. No sockets: requests go through the same
//! entry point the servers use, and every case runs over both the fast and the slow path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ask, udp_ctx};
use dns_proxy::fast::Ctx;
use dns_proxy::handler::Action;
use dns_proxy::model::{Endpoint, Port, Service, ServiceKind, ServiceSet};
use dns_proxy::table::{Table, ZoneConfig};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use isthmus_testing::dns::query;

const SERIAL: u32 = 1_499_347_823;

fn port(name: Option<&str>, protocol: &str, number: u16) -> Port {
    Port {
        name: name.map(String::from),
        protocol: protocol.into(),
        port: number,
    }
}

fn ep(cluster: &str, hostname: Option<&str>, addrs: &[&str], ready: bool) -> Endpoint {
    Endpoint {
        cluster: cluster.into(),
        hostname: hostname.map(String::from),
        addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        ready,
    }
}

fn clusterset_ip(ns: &str, name: &str, ips: &[&str], ports: Vec<Port>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::ClusterSetIp {
            ips: ips.iter().map(|a| a.parse().unwrap()).collect(),
        },
        ports,
        endpoints: vec![],
    }
}

fn headless(ns: &str, name: &str, ports: Vec<Port>, endpoints: Vec<Endpoint>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::Headless,
        ports,
        endpoints,
    }
}

/// The services CoreDNS's multicluster tests use, the mcs-api conformance `hello` service
/// (two ports, both 42) and a few more for readiness and multi-cluster cases.
fn spec_set() -> ServiceSet {
    let http = || vec![port(Some("http"), "tcp", 80)];
    ServiceSet {
        services: vec![
            clusterset_ip("testns", "svc1", &["10.0.0.1"], http()),
            clusterset_ip("testns", "svc6", &["1234:abcd::1"], http()),
            clusterset_ip("testns", "svc-dual-stack", &["10.0.0.3", "10::3"], http()),
            clusterset_ip(
                "testns",
                "mixed",
                &["10.0.0.4"],
                vec![
                    port(Some("http"), "tcp", 80),
                    port(None, "tcp", 8080),
                    port(Some("DNS"), "UDP", 53),
                    port(Some("assoc"), "sctp", 9000),
                ],
            ),
            clusterset_ip("testns", "noips", &[], http()),
            clusterset_ip(
                "conformance",
                "hello",
                &["242.0.0.42"],
                vec![port(Some("tcp"), "tcp", 42), port(Some("udp"), "udp", 42)],
            ),
            headless(
                "testns",
                "hdls1",
                http(),
                vec![
                    ep("clusterid", None, &["172.0.0.2"], true),
                    ep("clusterid", None, &["172.0.0.3"], true),
                    ep("clusterid", Some("dup-name"), &["172.0.0.4"], true),
                    ep("clusterid", Some("dup-name"), &["172.0.0.5"], true),
                    ep("clusterid", None, &["5678:abcd::1"], true),
                    ep("clusterid", None, &["5678:abcd::2"], true),
                ],
            ),
            headless(
                "testns",
                "hdlsprtls",
                vec![],
                vec![ep("clusterid", None, &["172.0.0.20"], true)],
            ),
            headless(
                "testns",
                "pets",
                vec![
                    port(Some("https"), "tcp", 443),
                    port(Some("metrics"), "tcp", 9090),
                ],
                vec![
                    ep("clusterA", Some("my-pet-1"), &["10.3.0.1"], true),
                    ep("clusterA", Some("my-pet-2"), &["10.3.0.2"], true),
                    ep("clusterA", Some("my-pet-3"), &["10.3.0.3"], false),
                    ep("clusterB", Some("my-pet-1"), &["10.4.0.1"], true),
                    ep(
                        "clusterB",
                        Some("My-Pet-2"),
                        &["10.4.0.2", "fd00:4::2"],
                        true,
                    ),
                ],
            ),
            headless(
                "testns",
                "notready",
                http(),
                vec![ep("clusterA", Some("p"), &["10.5.0.1"], false)],
            ),
            headless(
                "quiet",
                "gone",
                http(),
                vec![ep("clusterA", Some("p"), &["10.6.0.1"], false)],
            ),
        ],
    }
}

fn spec_table() -> Table {
    Table::build(&ZoneConfig::default(), &spec_set(), SERIAL).unwrap()
}

/// The reply over the fast path (the normal entry point) and over the slow path (forced by
/// a second, unrelated additional record); both must be the same message.
fn reply(t: &Table, name: &str, qtype: RecordType, ctx: &Ctx) -> Message {
    let pkt = query(name, qtype, Some(1232));
    let (a, m) = ask(t, &pkt, ctx, true);
    let m = m.unwrap_or_else(|| panic!("{name} {qtype}: no reply ({a:?})"));
    let slow = slow_reply(t, name, qtype, ctx);
    assert_eq!(
        m.metadata, slow.metadata,
        "{name} {qtype}: slow path header"
    );
    assert_eq!(m.answers, slow.answers, "{name} {qtype}: slow path answers");
    assert_eq!(m.authorities, slow.authorities, "{name} {qtype}: authority");
    assert_eq!(
        m.additionals, slow.additionals,
        "{name} {qtype}: additional"
    );
    m
}

/// A query only the slow path handles (an additional record other than OPT), with or
/// without EDNS.
fn slow_query_edns(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = hickory_proto::op::Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    // An additional record other than OPT is something only the slow path handles.
    m.add_additional(Record::from_rdata(
        Name::from_ascii("extra.example.").unwrap(),
        1,
        RData::A(A::new(192, 0, 2, 1)),
    ));
    let pkt = m.to_vec().unwrap();
    assert!(matches!(
        dns_proxy::fast::parse(&pkt),
        dns_proxy::fast::Parsed::Slow
    ));
    pkt
}

fn slow_query(name: &str, qtype: RecordType) -> Vec<u8> {
    slow_query_edns(name, qtype, None)
}

fn slow_reply(t: &Table, name: &str, qtype: RecordType, ctx: &Ctx) -> Message {
    let pkt = slow_query_edns(name, qtype, Some(1232));
    let mut out = Vec::new();
    let a = dns_proxy::handler::handle(t, &pkt, ctx, true, &mut out);
    assert!(matches!(a, Action::Reply { .. }), "{name} {qtype}: {a:?}");
    Message::from_vec(&out).unwrap()
}

fn ask_udp(t: &Table, name: &str, qtype: RecordType) -> Message {
    reply(t, name, qtype, &udp_ctx())
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

fn answers(m: &Message) -> Vec<String> {
    sorted(m.answers.iter().map(|r| r.data.to_string()))
}

fn additionals(m: &Message) -> Vec<String> {
    sorted(
        m.additionals
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data)),
    )
}

fn assert_positive(m: &Message, what: &str) {
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{what}");
    assert!(m.metadata.authoritative, "{what}: AA");
    assert!(!m.answers.is_empty(), "{what}: answers");
    assert!(m.authorities.is_empty(), "{what}: authority");
}

fn assert_soa_authority(m: &Message, what: &str) {
    assert!(m.answers.is_empty(), "{what}: no answers");
    assert_eq!(m.authorities.len(), 1, "{what}: one authority record");
    let soa = &m.authorities[0];
    assert_eq!(soa.name.to_ascii(), "clusterset.local.", "{what}");
    assert!(matches!(soa.data, RData::SOA(_)), "{what}: SOA");
}

fn assert_nodata(m: &Message, what: &str) {
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{what}");
    assert!(m.metadata.authoritative, "{what}: AA");
    assert_soa_authority(m, what);
}

fn assert_nxdomain(m: &Message, what: &str) {
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{what}");
    assert!(m.metadata.authoritative, "{what}: AA");
    assert_soa_authority(m, what);
}

// 2.2 Record for schema version.

#[test]
fn dns_version_txt_is_schema_1_0_0_cached_for_28800_seconds() {
    let t = spec_table();
    let m = ask_udp(&t, "dns-version.clusterset.local.", RecordType::TXT);
    assert_positive(&m, "dns-version TXT");
    assert_eq!(answers(&m), ["1.0.0"]);
    assert_eq!(m.answers[0].ttl, 28800);
    // Exactly one character-string, "1.0.0".
    let RData::TXT(txt) = &m.answers[0].data else {
        panic!("not TXT")
    };
    assert_eq!(txt.txt_data.len(), 1);
    assert_eq!(&*txt.txt_data[0], b"1.0.0");
    assert_nodata(
        &ask_udp(&t, "dns-version.clusterset.local.", RecordType::A),
        "dns-version A",
    );
}

// 2.3.1 A/AAAA for a ClusterSetIP service.

#[test]
fn clusterset_ip_service_resolves_to_its_clusterset_ip() {
    let t = spec_table();
    let m = ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::A);
    assert_positive(&m, "svc1 A");
    assert_eq!(answers(&m), ["10.0.0.1"]);
    assert_eq!(m.answers[0].ttl, 5);
    assert_eq!(
        m.answers[0].name.to_ascii(),
        "svc1.testns.svc.clusterset.local."
    );
    let m = ask_udp(&t, "svc6.testns.svc.clusterset.local.", RecordType::AAAA);
    assert_eq!(answers(&m), ["1234:abcd::1"]);
}

#[test]
fn dual_stack_clusterset_ip_service_has_both_a_and_aaaa() {
    let t = spec_table();
    let name = "svc-dual-stack.testns.svc.clusterset.local.";
    assert_eq!(answers(&ask_udp(&t, name, RecordType::A)), ["10.0.0.3"]);
    assert_eq!(answers(&ask_udp(&t, name, RecordType::AAAA)), ["10::3"]);
}

#[test]
fn missing_address_family_is_nodata_not_nxdomain() {
    let t = spec_table();
    assert_nodata(
        &ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::AAAA),
        "svc1 AAAA",
    );
    assert_nodata(
        &ask_udp(&t, "svc6.testns.svc.clusterset.local.", RecordType::A),
        "svc6 A",
    );
    // A ClusterSetIP import that has no IP yet exists, its port names too, all NODATA: an
    // SRV record would point at a name without addresses.
    for (name, qtype) in [
        ("noips.testns.svc.clusterset.local.", RecordType::A),
        ("noips.testns.svc.clusterset.local.", RecordType::SRV),
        (
            "_http._tcp.noips.testns.svc.clusterset.local.",
            RecordType::SRV,
        ),
    ] {
        assert_nodata(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
    }
}

#[test]
fn unknown_service_and_namespace_are_nxdomain_with_soa() {
    let t = spec_table();
    for name in [
        "svc0.testns.svc.clusterset.local.",
        "svc0.svc-nons.svc.clusterset.local.",
        "svc1.nsnoexist.svc.clusterset.local.",
        "bogusendpoint.clusterid.svc0.testns.svc.clusterset.local.",
    ] {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
            assert_nxdomain(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
        }
    }
}

// 2.3.2 SRV for a ClusterSetIP service.

#[test]
fn named_port_srv_targets_the_service_name() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "_http._tcp.svc1.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_positive(&m, "_http._tcp.svc1 SRV");
    assert_eq!(answers(&m), ["0 100 80 svc1.testns.svc.clusterset.local."]);
    assert_eq!(
        m.answers[0].name.to_ascii(),
        "_http._tcp.svc1.testns.svc.clusterset.local."
    );
    assert_eq!(m.answers[0].ttl, 5);
}

#[test]
fn srv_additional_section_carries_the_target_addresses() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "_http._tcp.svc1.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        additionals(&m),
        ["svc1.testns.svc.clusterset.local. A 10.0.0.1"]
    );
    let m = ask_udp(&t, "svc6.testns.svc.clusterset.local.", RecordType::SRV);
    assert_eq!(
        additionals(&m),
        ["svc6.testns.svc.clusterset.local. AAAA 1234:abcd::1"]
    );
    // Dual stack: both families, one SRV record (two addresses behind it: weight 50).
    let m = ask_udp(
        &t,
        "svc-dual-stack.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        answers(&m),
        ["0 50 80 svc-dual-stack.testns.svc.clusterset.local."]
    );
    assert_eq!(
        additionals(&m),
        [
            "svc-dual-stack.testns.svc.clusterset.local. A 10.0.0.3",
            "svc-dual-stack.testns.svc.clusterset.local. AAAA 10::3",
        ]
    );
    for r in &m.additionals {
        assert_eq!(r.ttl, 5);
    }
    // Address answers carry no additional records.
    let m = ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::A);
    assert!(m.additionals.is_empty());
}

#[test]
fn port_names_and_protocols_are_lower_cased_in_srv_owner_names() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "_dns._udp.mixed.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(answers(&m), ["0 100 53 mixed.testns.svc.clusterset.local."]);
    let m = ask_udp(
        &t,
        "_assoc._sctp.mixed.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        answers(&m),
        ["0 100 9000 mixed.testns.svc.clusterset.local."]
    );
    // The port's protocol is part of the name: a named TCP port has no `_udp` record.
    assert_nxdomain(
        &ask_udp(
            &t,
            "_http._udp.mixed.testns.svc.clusterset.local.",
            RecordType::SRV,
        ),
        "_http._udp",
    );
}

#[test]
fn unnamed_ports_have_no_port_srv_record() {
    let t = spec_table();
    // The only `_<port>._tcp` names are the named ports'.
    let dump = t.dump();
    let srv_owners: Vec<&str> = dump
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.ends_with("._tcp.mixed.testns.svc.clusterset.local"))
        .collect();
    assert_eq!(srv_owners, ["_http._tcp.mixed.testns.svc.clusterset.local"]);
    assert_nxdomain(
        &ask_udp(
            &t,
            "_8080._tcp.mixed.testns.svc.clusterset.local.",
            RecordType::SRV,
        ),
        "_8080._tcp",
    );
}

#[test]
fn srv_at_the_service_name_lists_every_port_once() {
    // mcs-api conformance: `nslookup -type=SRV <svc>.<ns>.svc.clusterset.local` returns the
    // service's port with the service name as target; unnamed ports are included there.
    let t = spec_table();
    let m = ask_udp(&t, "mixed.testns.svc.clusterset.local.", RecordType::SRV);
    assert_eq!(
        answers(&m),
        [
            "0 25 53 mixed.testns.svc.clusterset.local.",
            "0 25 80 mixed.testns.svc.clusterset.local.",
            "0 25 8080 mixed.testns.svc.clusterset.local.",
            "0 25 9000 mixed.testns.svc.clusterset.local.",
        ]
    );
    // The conformance `hello` service has `tcp/42` and `udp/42`: one record, port 42, with
    // the weight CoreDNS gives it (the suite's example output is `0 50 42 hello...`).
    let m = ask_udp(
        &t,
        "hello.conformance.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        answers(&m),
        ["0 50 42 hello.conformance.svc.clusterset.local."]
    );
    let m = ask_udp(
        &t,
        "_udp._udp.hello.conformance.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        answers(&m),
        ["0 100 42 hello.conformance.svc.clusterset.local."]
    );
}

#[test]
fn srv_priority_is_zero_and_weight_is_100_over_the_address_port_pairs() {
    // Not prescribed by the specification; equal weights, computed as CoreDNS does: 100
    // divided by the (address, port) pairs behind the RRset, before identical records merge.
    let t = spec_table();
    for (name, records, weight) in [
        ("mixed.testns.svc.clusterset.local.", 4, 25),
        ("_http._tcp.svc1.testns.svc.clusterset.local.", 1, 100),
        ("svc-dual-stack.testns.svc.clusterset.local.", 1, 50),
        // 5 addresses x 2 ports.
        ("pets.testns.svc.clusterset.local.", 8, 10),
        ("_https._tcp.pets.testns.svc.clusterset.local.", 4, 20),
        ("_http._tcp.hdls1.testns.svc.clusterset.local.", 5, 16),
    ] {
        let m = ask_udp(&t, name, RecordType::SRV);
        assert_eq!(m.answers.len(), records, "{name}");
        for r in &m.answers {
            let RData::SRV(srv) = &r.data else {
                panic!("{name}: not SRV")
            };
            assert_eq!(srv.priority, 0, "{name}");
            assert_eq!(srv.weight, weight, "{name}");
        }
    }
}

// 2.3.3 / 2.4.3 PTR records are not specified and not required; the cluster-local PTR
// records stay the only ones, so reverse names are not answered here but forwarded.

#[test]
fn reverse_lookups_are_forwarded_not_answered() {
    let t = spec_table();
    for name in [
        // A ClusterSetIP, IPv4 and IPv6.
        "1.0.0.10.in-addr.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.",
        // Ready headless endpoints.
        "1.0.3.10.in-addr.arpa.",
        "2.0.0.172.in-addr.arpa.",
        // Anything else.
        "9.9.9.10.in-addr.arpa.",
    ] {
        for qtype in [RecordType::PTR, RecordType::ANY] {
            let pkt = query(name, qtype, None);
            assert!(
                matches!(ask(&t, &pkt, &udp_ctx(), true).0, Action::Forward { .. }),
                "{name} {qtype}"
            );
            let pkt = slow_query(name, qtype);
            assert!(
                matches!(ask(&t, &pkt, &udp_ctx(), true).0, Action::Forward { .. }),
                "{name} {qtype} (slow path)"
            );
            // Without forwarding rights: REFUSED, as for any other outside name.
            let (_, m) = ask(&t, &query(name, qtype, None), &udp_ctx(), false);
            assert_eq!(m.unwrap().metadata.response_code, ResponseCode::Refused);
        }
    }
    // And no PTR data exists anywhere in the table.
    assert!(t.dump().iter().all(|(_, types)| !types.contains(&12)));
}

// 2.3.4 / 2.4.4 Records that must not exist.

#[test]
fn no_record_picks_one_clusters_backends() {
    let t = spec_table();
    for name in [
        "clusterid.hdls1.testns.svc.clusterset.local.",
        "clustera.pets.testns.svc.clusterset.local.",
        "clusterB.pets.testns.svc.clusterset.local.",
        "clusterid.svc1.testns.svc.clusterset.local.",
    ] {
        for qtype in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::SRV,
            RecordType::TXT,
        ] {
            assert_nxdomain(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
        }
    }
    assert_nxdomain(
        &ask_udp(
            &t,
            "bogusendpoint.clusterid.hdls1.testns.svc.clusterset.local.",
            RecordType::A,
        ),
        "unknown host",
    );
}

// 2.4.1 A/AAAA for a headless service.

#[test]
fn headless_service_resolves_to_every_ready_endpoint_in_every_cluster() {
    let t = spec_table();
    let m = ask_udp(&t, "hdls1.testns.svc.clusterset.local.", RecordType::A);
    assert_positive(&m, "hdls1 A");
    assert_eq!(
        answers(&m),
        ["172.0.0.2", "172.0.0.3", "172.0.0.4", "172.0.0.5"]
    );
    let m = ask_udp(&t, "hdls1.testns.svc.clusterset.local.", RecordType::AAAA);
    assert_eq!(answers(&m), ["5678:abcd::1", "5678:abcd::2"]);
    // Two clusters, the not-ready pet left out.
    let m = ask_udp(&t, "pets.testns.svc.clusterset.local.", RecordType::A);
    assert_eq!(
        answers(&m),
        ["10.3.0.1", "10.3.0.2", "10.4.0.1", "10.4.0.2"]
    );
    let m = ask_udp(&t, "pets.testns.svc.clusterset.local.", RecordType::AAAA);
    assert_eq!(answers(&m), ["fd00:4::2"]);
    for r in &m.answers {
        assert_eq!(r.ttl, 5);
    }
}

#[test]
fn headless_host_names_include_the_cluster_id() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "my-pet-1.clusterA.pets.testns.svc.clusterset.local.",
        RecordType::A,
    );
    assert_eq!(answers(&m), ["10.3.0.1"]);
    let m = ask_udp(
        &t,
        "my-pet-1.clusterB.pets.testns.svc.clusterset.local.",
        RecordType::A,
    );
    assert_eq!(answers(&m), ["10.4.0.1"]);
    // A host with an IPv4 and an IPv6 address has one record of each.
    let name = "my-pet-2.clusterb.pets.testns.svc.clusterset.local.";
    assert_eq!(answers(&ask_udp(&t, name, RecordType::A)), ["10.4.0.2"]);
    assert_eq!(answers(&ask_udp(&t, name, RecordType::AAAA)), ["fd00:4::2"]);
    // One host name, several endpoints: one record per address.
    let m = ask_udp(
        &t,
        "dup-name.clusterid.hdls1.testns.svc.clusterset.local.",
        RecordType::A,
    );
    assert_eq!(answers(&m), ["172.0.0.4", "172.0.0.5"]);
}

#[test]
fn endpoint_without_hostname_is_named_by_its_address() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "172-0-0-2.clusterid.hdls1.testns.svc.clusterset.local.",
        RecordType::A,
    );
    assert_eq!(answers(&m), ["172.0.0.2"]);
    let m = ask_udp(
        &t,
        "5678-abcd--2.clusterid.hdls1.testns.svc.clusterset.local.",
        RecordType::AAAA,
    );
    assert_eq!(answers(&m), ["5678:abcd::2"]);
    let m = ask_udp(
        &t,
        "172-0-0-20.clusterid.hdlsprtls.testns.svc.clusterset.local.",
        RecordType::A,
    );
    assert_eq!(answers(&m), ["172.0.0.20"]);
}

#[test]
fn not_ready_endpoints_get_no_records() {
    let t = spec_table();
    assert_nxdomain(
        &ask_udp(
            &t,
            "my-pet-3.clusterA.pets.testns.svc.clusterset.local.",
            RecordType::A,
        ),
        "not-ready host",
    );
    let m = ask_udp(
        &t,
        "_https._tcp.pets.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert!(
        !answers(&m).iter().any(|a| a.contains("my-pet-3")),
        "{:?}",
        answers(&m)
    );
}

#[test]
fn headless_service_without_ready_endpoints_is_nxdomain() {
    let t = spec_table();
    for (name, qtype) in [
        ("notready.testns.svc.clusterset.local.", RecordType::A),
        ("notready.testns.svc.clusterset.local.", RecordType::AAAA),
        ("notready.testns.svc.clusterset.local.", RecordType::SRV),
        (
            "_http._tcp.notready.testns.svc.clusterset.local.",
            RecordType::SRV,
        ),
        (
            "p.clusterA.notready.testns.svc.clusterset.local.",
            RecordType::A,
        ),
    ] {
        assert_nxdomain(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
    }
    // Its namespace still exists (an import is there): NODATA, not NXDOMAIN.
    assert_nodata(
        &ask_udp(&t, "quiet.svc.clusterset.local.", RecordType::A),
        "namespace of an import with no ready endpoints",
    );
}

// 2.4.2 SRV for a headless service.

#[test]
fn headless_srv_has_one_record_per_ready_endpoint_and_named_port() {
    let t = spec_table();
    // 4 ready pets (2 in each cluster) x 1 port per `_<port>._<proto>` name; one pet has two
    // addresses, so 5 (address, port) pairs are behind the RRset: weight 20.
    let m = ask_udp(
        &t,
        "_https._tcp.pets.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_positive(&m, "_https._tcp.pets");
    assert_eq!(
        answers(&m),
        [
            "0 20 443 my-pet-1.clustera.pets.testns.svc.clusterset.local.",
            "0 20 443 my-pet-1.clusterb.pets.testns.svc.clusterset.local.",
            "0 20 443 my-pet-2.clustera.pets.testns.svc.clusterset.local.",
            "0 20 443 my-pet-2.clusterb.pets.testns.svc.clusterset.local.",
        ]
    );
    // At the service name: N endpoints x M ports.
    let m = ask_udp(&t, "pets.testns.svc.clusterset.local.", RecordType::SRV);
    assert_eq!(m.answers.len(), 4 * 2);
    // CoreDNS's headless case, with CoreDNS's weights (6 addresses: 100 / 6): every endpoint,
    // named by host name or address.
    let m = ask_udp(
        &t,
        "_http._tcp.hdls1.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        answers(&m),
        [
            "0 16 80 172-0-0-2.clusterid.hdls1.testns.svc.clusterset.local.",
            "0 16 80 172-0-0-3.clusterid.hdls1.testns.svc.clusterset.local.",
            "0 16 80 5678-abcd--1.clusterid.hdls1.testns.svc.clusterset.local.",
            "0 16 80 5678-abcd--2.clusterid.hdls1.testns.svc.clusterset.local.",
            "0 16 80 dup-name.clusterid.hdls1.testns.svc.clusterset.local.",
        ]
    );
}

#[test]
fn headless_srv_additional_section_carries_the_host_addresses() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "_http._tcp.hdls1.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(
        additionals(&m),
        [
            "172-0-0-2.clusterid.hdls1.testns.svc.clusterset.local. A 172.0.0.2",
            "172-0-0-3.clusterid.hdls1.testns.svc.clusterset.local. A 172.0.0.3",
            "5678-abcd--1.clusterid.hdls1.testns.svc.clusterset.local. AAAA 5678:abcd::1",
            "5678-abcd--2.clusterid.hdls1.testns.svc.clusterset.local. AAAA 5678:abcd::2",
            "dup-name.clusterid.hdls1.testns.svc.clusterset.local. A 172.0.0.4",
            "dup-name.clusterid.hdls1.testns.svc.clusterset.local. A 172.0.0.5",
        ]
    );
}

#[test]
fn headless_service_without_ports_has_addresses_but_no_srv() {
    let t = spec_table();
    let name = "hdlsprtls.testns.svc.clusterset.local.";
    assert_eq!(answers(&ask_udp(&t, name, RecordType::A)), ["172.0.0.20"]);
    assert_nodata(&ask_udp(&t, name, RecordType::SRV), "portless SRV");
}

// Zone structure: SOA, NS, empty non-terminals, negative answers (RFC 2308, RFC 8020).

#[test]
fn apex_soa_has_the_documented_fields_and_ttl_as_minimum() {
    let t = spec_table();
    let m = ask_udp(&t, "clusterset.local.", RecordType::SOA);
    assert_positive(&m, "SOA");
    let RData::SOA(soa) = &m.answers[0].data else {
        panic!("not SOA")
    };
    assert_eq!(soa.mname.to_ascii(), "ns.dns.clusterset.local.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.clusterset.local.");
    assert_eq!(soa.serial, SERIAL);
    assert_eq!(
        (soa.refresh, soa.retry, soa.expire, soa.minimum),
        (7200, 1800, 86400, 5)
    );
    assert_eq!(m.answers[0].ttl, 5);
    let m = ask_udp(&t, "clusterset.local.", RecordType::NS);
    assert_eq!(answers(&m), ["ns.dns.clusterset.local."]);
}

#[test]
fn negative_answers_carry_the_zone_soa_for_negative_caching() {
    let t = spec_table();
    for m in [
        ask_udp(&t, "svc0.testns.svc.clusterset.local.", RecordType::A),
        ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::AAAA),
        ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::SOA),
    ] {
        let soa = &m.authorities[0];
        let RData::SOA(s) = &soa.data else {
            panic!("not SOA")
        };
        assert_eq!(soa.ttl, 5);
        assert_eq!(s.minimum, 5);
        assert_eq!(s.mname.to_ascii(), "ns.dns.clusterset.local.");
    }
}

#[test]
fn empty_non_terminals_are_nodata_and_other_names_nxdomain() {
    let t = spec_table();
    for (name, qtype) in [
        ("svc.clusterset.local.", RecordType::A),
        ("svc.clusterset.local.", RecordType::NS),
        ("testns.svc.clusterset.local.", RecordType::A),
        ("testns.svc.clusterset.local.", RecordType::NS),
        ("_tcp.svc1.testns.svc.clusterset.local.", RecordType::SRV),
        ("clusterset.local.", RecordType::A),
        ("clusterset.local.", RecordType::HINFO),
    ] {
        assert_nodata(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
    }
    for (name, qtype) in [
        ("foo.clusterset.local.", RecordType::NS),
        ("foo.svc.clusterset.local.", RecordType::NS),
        ("pod.clusterset.local.", RecordType::A),
        ("ns.dns.clusterset.local.", RecordType::A),
        ("x.svc1.testns.svc.clusterset.local.", RecordType::A),
    ] {
        assert_nxdomain(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
    }
    // `svc.<zone>` exists even when nothing is imported.
    let empty = Table::build(&ZoneConfig::default(), &ServiceSet::default(), 1).unwrap();
    assert_nodata(
        &ask_udp(&empty, "svc.clusterset.local.", RecordType::A),
        "svc.<zone> with no services",
    );
}

#[test]
fn wildcard_labels_are_literal_and_match_nothing() {
    // Wildcard queries were removed from CoreDNS's kubernetes and multicluster plugins; the
    // specification has none. `*` is an ordinary label here.
    let t = spec_table();
    for (name, qtype) in [
        ("svc1.*.svc.clusterset.local.", RecordType::A),
        ("*.testns.svc.clusterset.local.", RecordType::A),
        (
            "*.*.hdlsprtls.testns.svc.clusterset.local.",
            RecordType::SRV,
        ),
        (
            "*._not-udp-or-tcp.svc1.testns.svc.clusterset.local.",
            RecordType::SRV,
        ),
        ("any.testns.svc.clusterset.local.", RecordType::A),
    ] {
        assert_nxdomain(&ask_udp(&t, name, qtype), &format!("{name} {qtype}"));
    }
}

#[test]
fn no_cname_records_are_served() {
    let t = spec_table();
    assert_nodata(
        &ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::CNAME),
        "CNAME at a service",
    );
    assert!(t.dump().iter().all(|(_, types)| !types.contains(&5)));
}

// Matching, case, transport.

#[test]
fn matching_is_case_insensitive_and_the_question_case_is_kept() {
    let t = spec_table();
    let m = ask_udp(
        &t,
        "_HTTPS._TCP.Pets.TestNS.svc.ClusterSet.Local.",
        RecordType::SRV,
    );
    assert_eq!(m.answers.len(), 4);
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "_HTTPS._TCP.Pets.TestNS.svc.ClusterSet.Local."
    );
    for r in &m.answers {
        assert_eq!(
            r.name.to_ascii(),
            "_HTTPS._TCP.Pets.TestNS.svc.ClusterSet.Local."
        );
    }
    // Host names and cluster IDs from the API are lower-cased in the data.
    assert!(answers(&m).iter().all(|a| a == &a.to_ascii_lowercase()));
}

#[test]
fn additional_records_are_left_out_before_an_answer_is_truncated() {
    // Six hosts: the SRV answer fits 512 bytes, with the six A records it would not.
    let set = ServiceSet {
        services: vec![headless(
            "shop",
            "six",
            vec![port(Some("http"), "tcp", 80)],
            (0..6)
                .map(|i| {
                    let addr = format!("10.8.0.{}", i + 1);
                    ep("east", Some(&format!("pod-{i}")), &[addr.as_str()], true)
                })
                .collect(),
        )],
    };
    let t = Table::build(&ZoneConfig::default(), &set, 1).unwrap();
    let name = "_http._tcp.six.shop.svc.clusterset.local.";
    let (_, m) = ask(&t, &query(name, RecordType::SRV, None), &udp_ctx(), true);
    let m = m.unwrap();
    assert!(
        !m.metadata.truncation,
        "TC must not be set for optional data"
    );
    assert_eq!(m.answers.len(), 6);
    assert!(m.additionals.is_empty());
    // With EDNS (1232 bytes) everything fits.
    let m = ask_udp(&t, name, RecordType::SRV);
    assert_eq!(m.answers.len(), 6);
    assert_eq!(m.additionals.len(), 6);
    assert!(!m.metadata.truncation);
    // The slow path makes the same choice without EDNS.
    let mut out = Vec::new();
    dns_proxy::handler::handle(
        &t,
        &slow_query(name, RecordType::SRV),
        &udp_ctx(),
        true,
        &mut out,
    );
    let s = Message::from_vec(&out).unwrap();
    assert!(!s.metadata.truncation);
    assert_eq!(s.answers.len(), 6);
    // The unrelated additional record in the query makes no difference to the room left.
    assert!(s.additionals.len() <= 6);
}

#[test]
fn ipv4_mapped_addresses_are_served_as_ipv4() {
    let set = ServiceSet {
        services: vec![
            clusterset_ip("a", "mapped", &["::ffff:10.9.0.1"], vec![]),
            headless(
                "a",
                "h",
                vec![],
                vec![ep("c1", None, &["::ffff:10.9.0.2"], true)],
            ),
        ],
    };
    let t = Table::build(&ZoneConfig::default(), &set, 1).unwrap();
    assert_eq!(
        answers(&ask_udp(
            &t,
            "mapped.a.svc.clusterset.local.",
            RecordType::A
        )),
        ["10.9.0.1"]
    );
    assert_eq!(
        answers(&ask_udp(
            &t,
            "10-9-0-2.c1.h.a.svc.clusterset.local.",
            RecordType::A
        )),
        ["10.9.0.2"]
    );
}

#[test]
fn before_the_first_table_every_path_gives_servfail_in_zone() {
    let t = Table::not_loaded(&ZoneConfig::default()).unwrap();
    for pkt in [
        query("web.shop.svc.clusterset.local.", RecordType::A, None),
        slow_query("web.shop.svc.clusterset.local.", RecordType::A),
    ] {
        let (a, m) = ask(&t, &pkt, &udp_ctx(), true);
        assert!(matches!(a, Action::Reply { rcode: 2, .. }), "{a:?}");
        assert_eq!(m.unwrap().metadata.response_code, ResponseCode::ServFail);
    }
}

#[test]
fn other_classes_in_the_zone_are_refused_on_both_paths() {
    let t = spec_table();
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    let mut q = Query::query(
        Name::from_ascii("svc1.testns.svc.clusterset.local.").unwrap(),
        RecordType::A,
    );
    q.set_query_class(DNSClass::CH);
    m.add_query(q);
    let (_, r) = ask(&t, &m.to_vec().unwrap(), &udp_ctx(), true);
    assert_eq!(r.unwrap().metadata.response_code, ResponseCode::Refused);
}

#[test]
fn additional_owners_past_the_compression_range_are_written_in_full() {
    // 400 hosts: the SRV answer is ~24 kB over TCP, so later targets sit beyond the 14-bit
    // compression pointer range and their additional records carry the full name.
    let t = Table::build(&ZoneConfig::default(), &common::fixture_with_big(400), 1).unwrap();
    let tcp = Ctx {
        tcp: true,
        ..udp_ctx()
    };
    let m = reply(
        &t,
        "_http._tcp.big.shop.svc.clusterset.local.",
        RecordType::SRV,
        &tcp,
    );
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 400);
    assert_eq!(m.additionals.len(), 400);
    let mut targets: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::SRV(s) => s.target.to_ascii(),
            other => panic!("not SRV: {other:?}"),
        })
        .collect();
    targets.sort();
    let mut owners: Vec<String> = m.additionals.iter().map(|r| r.name.to_ascii()).collect();
    owners.sort();
    assert_eq!(owners, targets);
    for r in &m.additionals {
        // pod-N.<cluster>.big... has address 10.9.(N/250).(N%250+1).
        let host = r.name.to_ascii();
        let n: usize = host
            .trim_start_matches("pod-")
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            r.data.to_string(),
            format!("10.9.{}.{}", n / 250, n % 250 + 1)
        );
    }
}

#[test]
fn host_names_exist_only_for_headless_services() {
    let mut vip = clusterset_ip("a", "vip", &["10.7.0.9"], vec![]);
    vip.endpoints = vec![ep("c1", Some("h"), &["10.7.0.1"], true)];
    let t = Table::build(
        &ZoneConfig::default(),
        &ServiceSet {
            services: vec![vip],
        },
        1,
    )
    .unwrap();
    assert_eq!(
        answers(&ask_udp(&t, "vip.a.svc.clusterset.local.", RecordType::A)),
        ["10.7.0.9"]
    );
    assert_nxdomain(
        &ask_udp(&t, "h.c1.vip.a.svc.clusterset.local.", RecordType::A),
        "host name of a ClusterSetIP service",
    );
}

#[test]
fn configured_ttl_is_the_record_ttl_and_the_negative_caching_time() {
    let cfg = ZoneConfig {
        zone: "clusterset.local".into(),
        ttl: 30,
    };
    let t = Table::build(&cfg, &spec_set(), 7).unwrap();
    let m = ask_udp(&t, "svc1.testns.svc.clusterset.local.", RecordType::A);
    assert_eq!(m.answers[0].ttl, 30);
    let m = ask_udp(
        &t,
        "_http._tcp.svc1.testns.svc.clusterset.local.",
        RecordType::SRV,
    );
    assert_eq!(m.answers[0].ttl, 30);
    assert_eq!(m.additionals[0].ttl, 30);
    let m = ask_udp(&t, "svc0.testns.svc.clusterset.local.", RecordType::A);
    let RData::SOA(soa) = &m.authorities[0].data else {
        panic!("not SOA")
    };
    assert_eq!((m.authorities[0].ttl, soa.minimum, soa.serial), (30, 30, 7));
    // The schema version keeps its own TTL.
    let m = ask_udp(&t, "dns-version.clusterset.local.", RecordType::TXT);
    assert_eq!(m.answers[0].ttl, 28800);
}
