//! Table-driven tests of the answer logic, no sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dns_proxy::handler::Action;
use dns_proxy::table::rtype;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use isthmus_testing::dns::query;

fn rdata_strings(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    v.sort();
    v
}

struct Case {
    name: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    answers: &'static [&'static str],
}

const CASES: &[Case] = &[
    // ClusterSetIP service.
    Case {
        name: "web.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &["242.0.0.10"],
    },
    Case {
        name: "web.shop.svc.clusterset.local.",
        qtype: RecordType::AAAA,
        rcode: ResponseCode::NoError,
        answers: &["fd00:242::10"],
    },
    Case {
        name: "web.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NoError,
        answers: &[
            // 2 IPs x 3 ports behind the RRset: weight 100 / 6.
            "0 16 53 web.shop.svc.clusterset.local.",
            "0 16 80 web.shop.svc.clusterset.local.",
            "0 16 8080 web.shop.svc.clusterset.local.",
        ],
    },
    Case {
        name: "_http._tcp.web.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NoError,
        answers: &["0 50 80 web.shop.svc.clusterset.local."],
    },
    Case {
        name: "_dns._udp.web.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NoError,
        answers: &["0 50 53 web.shop.svc.clusterset.local."],
    },
    Case {
        name: "_http._udp.web.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "_tcp.web.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "web.shop.svc.clusterset.local.",
        qtype: RecordType::TXT,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "web.shop.svc.clusterset.local.",
        qtype: RecordType::MX,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "east.web.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    // Names that do not exist, empty non-terminals, apex.
    Case {
        name: "nope.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "web.other.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "foo.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "clusterset.local.",
        qtype: RecordType::NS,
        rcode: ResponseCode::NoError,
        answers: &["ns.dns.clusterset.local."],
    },
    Case {
        name: "dns-version.clusterset.local.",
        qtype: RecordType::TXT,
        rcode: ResponseCode::NoError,
        answers: &["1.0.0"],
    },
    Case {
        name: "dns-version.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    // Headless service: ready endpoints across clusters, host names, no cluster-level name.
    Case {
        name: "db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &["10.1.0.1", "10.1.0.2", "10.2.0.7"],
    },
    Case {
        name: "db.shop.svc.clusterset.local.",
        qtype: RecordType::AAAA,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "db.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NoError,
        answers: &[
            "0 33 5432 10-2-0-7.west.db.shop.svc.clusterset.local.",
            "0 33 5432 db-0.east.db.shop.svc.clusterset.local.",
            "0 33 5432 db-1.east.db.shop.svc.clusterset.local.",
        ],
    },
    Case {
        name: "_pg._tcp.db.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NoError,
        answers: &[
            "0 33 5432 10-2-0-7.west.db.shop.svc.clusterset.local.",
            "0 33 5432 db-0.east.db.shop.svc.clusterset.local.",
            "0 33 5432 db-1.east.db.shop.svc.clusterset.local.",
        ],
    },
    Case {
        name: "db-0.east.db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &["10.1.0.1"],
    },
    Case {
        name: "db-1.east.db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &["10.1.0.2"],
    },
    Case {
        name: "10-2-0-7.west.db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        answers: &["10.2.0.7"],
    },
    Case {
        name: "db-0.east.db.shop.svc.clusterset.local.",
        qtype: RecordType::AAAA,
        rcode: ResponseCode::NoError,
        answers: &[],
    },
    Case {
        name: "db-2.east.db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "db-0.west.db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "east.db.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "west.db.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    // A headless service with no ready endpoints does not exist.
    Case {
        name: "empty.shop.svc.clusterset.local.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
    Case {
        name: "_x._tcp.empty.shop.svc.clusterset.local.",
        qtype: RecordType::SRV,
        rcode: ResponseCode::NXDomain,
        answers: &[],
    },
];

#[test]
fn answers_follow_the_mcs_dns_specification() {
    let t = table(&fixture_set());
    for c in CASES {
        for edns in [None, Some(1232)] {
            let (a, m) = ask(&t, &query(c.name, c.qtype, edns), &udp_ctx(), true);
            let m = m.unwrap_or_else(|| panic!("{} {}: no reply ({a:?})", c.name, c.qtype));
            let what = format!("{} {} edns={edns:?}", c.name, c.qtype);
            assert_eq!(m.metadata.response_code, c.rcode, "{what}");
            assert!(m.metadata.authoritative, "{what}: AA");
            assert!(!m.metadata.truncation, "{what}: TC");
            assert!(m.metadata.recursion_desired, "{what}: RD copied");
            assert_eq!(m.metadata.id, 0x4242, "{what}: ID");
            assert_eq!(rdata_strings(&m), c.answers, "{what}");
            for r in &m.answers {
                // The schema version is static and cached longer (spec 2.2 example, CoreDNS).
                let ttl = if c.name.starts_with("dns-version.") {
                    28800
                } else {
                    5
                };
                assert_eq!(r.ttl, ttl, "{what}: TTL");
                assert_eq!(r.name.to_ascii(), c.name, "{what}: owner");
            }
            if c.answers.is_empty() {
                // RFC 2308: negative answers carry the zone's SOA in the authority section.
                assert_eq!(m.authorities.len(), 1, "{what}: authority");
                let soa = &m.authorities[0];
                assert_eq!(soa.name.to_ascii(), "clusterset.local.");
                let RData::SOA(s) = &soa.data else {
                    panic!("{what}: authority is not a SOA")
                };
                assert_eq!(s.minimum, 5);
                assert_eq!(soa.ttl, 5);
            } else {
                assert!(
                    m.authorities.is_empty(),
                    "{what}: no authority on positive answers"
                );
            }
            assert_eq!(
                m.edns.is_some(),
                edns.is_some(),
                "{what}: OPT only when asked"
            );
            if let Some(e) = &m.edns {
                assert_eq!(e.max_payload(), 1232);
            }
        }
    }
}

#[test]
fn apex_soa_and_case_preserving_owner_names() {
    let t = table(&fixture_set());
    let (_, m) = ask(
        &t,
        &query("ClusterSet.LOCAL.", RecordType::SOA, None),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].name.to_ascii(), "ClusterSet.LOCAL.");
    assert!(matches!(m.answers[0].data, RData::SOA(_)));
    let (_, m) = ask(
        &t,
        &query("WeB.ShOp.SVC.clusterset.Local.", RecordType::A, None),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "WeB.ShOp.SVC.clusterset.Local."
    );
    assert_eq!(
        m.answers[0].name.to_ascii(),
        "WeB.ShOp.SVC.clusterset.Local."
    );
    assert_eq!(rdata_strings(&m), ["242.0.0.10"]);
}

#[test]
fn any_is_answered_with_one_rrset() {
    let t = table(&fixture_set());
    let (_, m) = ask(
        &t,
        &query("web.shop.svc.clusterset.local.", RecordType::ANY, None),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.answers.is_empty());
    let first = m.answers[0].record_type();
    assert!(
        m.answers.iter().all(|r| r.record_type() == first),
        "RFC 8482: one RRset"
    );
    let (_, m) = ask(
        &t,
        &query("shop.svc.clusterset.local.", RecordType::ANY, None),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert!(m.answers.is_empty());
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
}

#[test]
fn out_of_zone_is_forwarded_or_refused() {
    let t = table(&fixture_set());
    let pkt = query("example.com.", RecordType::A, Some(1232));
    assert!(matches!(
        ask(&t, &pkt, &udp_ctx(), true).0,
        Action::Forward { qtype: 1 }
    ));
    let (a, m) = ask(&t, &pkt, &udp_ctx(), false);
    assert!(matches!(a, Action::Reply { rcode: 5, .. }));
    let m = m.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    // A name that only ends like the zone is not in it.
    let pkt = query("notclusterset.local.", RecordType::A, None);
    assert!(matches!(
        ask(&t, &pkt, &udp_ctx(), true).0,
        Action::Forward { .. }
    ));
    // Reverse names are outside the zone too, clusterset IPs' included (the specification
    // defines no PTR records).
    let pkt = query("10.0.0.242.in-addr.arpa.", RecordType::PTR, None);
    assert!(matches!(
        ask(&t, &pkt, &udp_ctx(), true).0,
        Action::Forward { .. }
    ));
}

#[test]
fn unusual_requests_take_the_slow_path() {
    use hickory_proto::op::{Edns, MessageType, OpCode, Query};
    use hickory_proto::rr::{DNSClass, Name};
    let t = table(&fixture_set());
    let ctx = udp_ctx();
    // AXFR / IXFR are refused.
    let (_, m) = ask(
        &t,
        &query("clusterset.local.", RecordType::AXFR, None),
        &ctx,
        true,
    );
    assert_eq!(m.unwrap().metadata.response_code, ResponseCode::Refused);
    // Other classes are refused.
    let mut q = Message::new(7, MessageType::Query, OpCode::Query);
    let mut qq = Query::query(
        Name::from_ascii("web.shop.svc.clusterset.local.").unwrap(),
        RecordType::A,
    );
    qq.set_query_class(DNSClass::CH);
    q.add_query(qq);
    let (_, m) = ask(&t, &q.to_vec().unwrap(), &ctx, true);
    assert_eq!(m.unwrap().metadata.response_code, ResponseCode::Refused);
    // Other opcodes: NOTIMP.
    let mut q = Message::new(8, MessageType::Query, OpCode::Status);
    q.add_query(Query::query(
        Name::from_ascii("web.shop.svc.clusterset.local.").unwrap(),
        RecordType::A,
    ));
    let (_, m) = ask(&t, &q.to_vec().unwrap(), &ctx, true);
    assert_eq!(m.unwrap().metadata.response_code, ResponseCode::NotImp);
    // Two questions: FORMERR.
    let mut q = Message::new(9, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(
        Name::from_ascii("web.shop.svc.clusterset.local.").unwrap(),
        RecordType::A,
    ));
    q.add_query(Query::query(
        Name::from_ascii("db.shop.svc.clusterset.local.").unwrap(),
        RecordType::A,
    ));
    let (_, m) = ask(&t, &q.to_vec().unwrap(), &ctx, true);
    assert_eq!(m.unwrap().metadata.response_code, ResponseCode::FormErr);
    // EDNS version 1: BADVERS with an OPT record.
    let mut q = Message::new(10, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(
        Name::from_ascii("web.shop.svc.clusterset.local.").unwrap(),
        RecordType::A,
    ));
    let mut e = Edns::new();
    e.set_version(1);
    q.set_edns(e);
    let mut out = Vec::new();
    let a = dns_proxy::handler::handle(&t, &q.to_vec().unwrap(), &ctx, true, &mut out);
    assert!(matches!(a, Action::Reply { .. }));
    // BADVERS = 16: low 4 bits 0 in the header, high bits 1 in OPT.
    assert_eq!(out[3] & 0x0F, 0);
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.edns.as_ref().unwrap().rcode_high(), 1);
    // Garbage after a valid header: FORMERR with the same ID.
    let mut junk = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[0x3f, b'a', b'b']);
    let mut out = Vec::new();
    assert!(matches!(
        dns_proxy::handler::handle(&t, &junk, &ctx, true, &mut out),
        Action::Reply { rcode: 1, .. }
    ));
    assert_eq!(&out[0..2], &[0x12, 0x34]);
    // Responses and runts are dropped.
    let mut resp = query("web.shop.svc.clusterset.local.", RecordType::A, None);
    resp[2] |= 0x80;
    assert_eq!(
        dns_proxy::handler::handle(&t, &resp, &ctx, true, &mut out),
        Action::Drop
    );
    assert_eq!(
        dns_proxy::handler::handle(&t, &[1, 2, 3], &ctx, true, &mut out),
        Action::Drop
    );
}

#[test]
fn compressed_question_names_are_answered_by_the_slow_path() {
    let t = table(&fixture_set());
    // Header, then the question name as a pointer to a name placed... a pointer loop is
    // rejected; a pointer to itself must not hang.
    let pkt = [0u8, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
    let mut out = Vec::new();
    let a = dns_proxy::handler::handle(&t, &pkt, &udp_ctx(), true, &mut out);
    assert!(matches!(a, Action::Reply { rcode: 1, .. }), "{a:?}");
}

#[test]
fn truncation_over_udp_and_full_answers_over_tcp() {
    let t = table(&fixture_with_big(300));
    let name = "big.shop.svc.clusterset.local.";
    // No EDNS: 512 bytes.
    let (_, m) = ask(&t, &query(name, RecordType::A, None), &udp_ctx(), true);
    let m = m.unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    // EDNS 4096 but the server caps UDP at 1232: still truncated.
    let (_, m) = ask(
        &t,
        &query(name, RecordType::A, Some(4096)),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
    // With a larger server limit and client buffer the whole answer fits: 300 * 16 + header.
    let big_ctx = dns_proxy::fast::Ctx {
        max_udp: 8192,
        ..udp_ctx()
    };
    let (_, m) = ask(&t, &query(name, RecordType::A, Some(8192)), &big_ctx, true);
    let m = m.unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 300);
    // The client's smaller buffer is honoured.
    let (_, m) = ask(&t, &query(name, RecordType::A, Some(1000)), &big_ctx, true);
    assert!(m.unwrap().metadata.truncation);
    // TCP: everything.
    let tcp = dns_proxy::fast::Ctx {
        tcp: true,
        ..udp_ctx()
    };
    let (_, m) = ask(&t, &query(name, RecordType::A, None), &tcp, true);
    let m = m.unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 300);
    let (_, m) = ask(&t, &query(name, RecordType::SRV, None), &tcp, true);
    assert_eq!(m.unwrap().answers.len(), 300);
    // A small answer is not truncated without EDNS.
    let (_, m) = ask(
        &t,
        &query(
            "pod-7.west.big.shop.svc.clusterset.local.",
            RecordType::A,
            None,
        ),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(rdata_strings(&m), ["10.9.0.8"]);
}

#[test]
fn huge_rrsets_are_capped_to_fit_a_tcp_message() {
    let t = table(&fixture_with_big(5000));
    let tcp = dns_proxy::fast::Ctx {
        tcp: true,
        ..udp_ctx()
    };
    let mut out = Vec::new();
    let pkt = query("big.shop.svc.clusterset.local.", RecordType::SRV, None);
    dns_proxy::handler::handle(&t, &pkt, &tcp, true, &mut out);
    assert!(out.len() <= 65535);
    let m = Message::from_vec(&out).unwrap();
    assert!(!m.answers.is_empty());
}

#[test]
fn not_loaded_table_gives_servfail_in_zone() {
    let t = dns_proxy::table::Table::not_loaded(&dns_proxy::table::ZoneConfig::default()).unwrap();
    let (a, m) = ask(
        &t,
        &query("web.shop.svc.clusterset.local.", RecordType::A, None),
        &udp_ctx(),
        true,
    );
    assert!(matches!(a, Action::Reply { rcode: 2, .. }));
    assert_eq!(m.unwrap().metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn configurable_zone_and_ttl() {
    let cfg = dns_proxy::table::ZoneConfig {
        zone: "Mesh.Example.".into(),
        ttl: 30,
    };
    let t = dns_proxy::table::Table::build(&cfg, &fixture_set(), 9).unwrap();
    let (_, m) = ask(
        &t,
        &query("web.shop.svc.mesh.example.", RecordType::A, None),
        &udp_ctx(),
        true,
    );
    let m = m.unwrap();
    assert_eq!(rdata_strings(&m), ["242.0.0.10"]);
    assert_eq!(m.answers[0].ttl, 30);
    let (_, m) = ask(
        &t,
        &query("dns-version.mesh.example.", RecordType::TXT, None),
        &udp_ctx(),
        true,
    );
    assert_eq!(rdata_strings(&m.unwrap()), ["1.0.0"]);
    assert!(matches!(
        ask(
            &t,
            &query("web.shop.svc.clusterset.local.", RecordType::A, None),
            &udp_ctx(),
            true
        )
        .0,
        Action::Forward { .. }
    ));
}

#[test]
fn fast_and_slow_paths_agree() {
    let t = table(&fixture_with_big(120));
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::SRV,
        RecordType::TXT,
        RecordType::SOA,
        RecordType::NS,
        RecordType::ANY,
        RecordType::PTR,
        RecordType::MX,
    ];
    let mut names: Vec<String> = t.dump().into_iter().map(|(n, _)| format!("{n}.")).collect();
    names.extend(
        [
            "nope.clusterset.local.",
            "east.db.shop.svc.clusterset.local.",
            "x.y.z.clusterset.local.",
        ]
        .map(String::from),
    );
    let mut checked = 0;
    for name in &names {
        let mixed: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 3 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        for n in [name.as_str(), mixed.as_str()] {
            for t_ in types {
                for edns in [None, Some(512), Some(1232), Some(4096)] {
                    for tcp in [false, true] {
                        let ctx = dns_proxy::fast::Ctx { tcp, ..udp_ctx() };
                        let pkt = query(n, t_, edns);
                        let dns_proxy::fast::Parsed::Query(q) = dns_proxy::fast::parse(&pkt) else {
                            panic!("fast parser refused {n} {t_}")
                        };
                        let mut fast_out = Vec::new();
                        let fast_rcode = dns_proxy::fast::answer(&t, &pkt, &q, &ctx, &mut fast_out);
                        let dns_proxy::slow::SlowOutcome::Reply { bytes, rcode, .. } =
                            dns_proxy::slow::handle(&t, &pkt, &ctx)
                        else {
                            panic!("slow path did not answer {n} {t_}")
                        };
                        assert_eq!(fast_rcode, rcode, "{n} {t_}");
                        let f = Message::from_vec(&fast_out).unwrap();
                        let s = Message::from_vec(&bytes).unwrap();
                        assert_eq!(f.metadata, s.metadata, "{n} {t_} {edns:?} tcp={tcp}");
                        assert_eq!(f.queries, s.queries, "{n} {t_}");
                        assert_eq!(f.answers, s.answers, "{n} {t_} {edns:?} tcp={tcp}");
                        assert_eq!(f.authorities, s.authorities, "{n} {t_}");
                        assert_eq!(f.additionals, s.additionals, "{n} {t_} {edns:?} tcp={tcp}");
                        assert_eq!(
                            f.edns.as_ref().map(|e| (
                                e.max_payload(),
                                e.version(),
                                e.flags().dnssec_ok
                            )),
                            s.edns.as_ref().map(|e| (
                                e.max_payload(),
                                e.version(),
                                e.flags().dnssec_ok
                            ))
                        );
                        assert!(fast_out.len() <= dns_proxy::fast::response_limit(&ctx, q.edns));
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn rtype_constants_match_hickory() {
    assert_eq!(rtype::SRV, u16::from(RecordType::SRV));
    assert_eq!(rtype::AAAA, u16::from(RecordType::AAAA));
    assert_eq!(rtype::ANY, u16::from(RecordType::ANY));
}

/// The worst-case amplification stated in docs/security.md: over UDP, no answer is larger than
/// the size limit (512 without EDNS, 1,232 with it by default), and the smallest query that can
/// reach it names a one-letter service in a one-letter namespace (42 bytes, 53 with OPT).
#[test]
fn udp_answers_stay_within_the_stated_amplification_ratio() {
    let ctx = udp_ctx();
    let (mut worst_plain, mut worst_edns) = (0f64, 0f64);
    for n in (1..=80).chain([100, 200]) {
        let mut svc = common::big_service(n);
        svc.namespace = "b".into();
        svc.name = "a".into();
        let t = table(&dns_proxy::model::ServiceSet {
            services: vec![svc],
        });
        for name in [
            "a.b.svc.clusterset.local.",
            "_http._tcp.a.b.svc.clusterset.local.",
        ] {
            for qtype in [
                RecordType::A,
                RecordType::SRV,
                RecordType::ANY,
                RecordType::TXT,
            ] {
                for edns in [None, Some(1232), Some(4096)] {
                    let pkt = query(name, qtype, edns);
                    let mut out = Vec::new();
                    dns_proxy::handler::handle(&t, &pkt, &ctx, false, &mut out);
                    let limit = if edns.is_some() { 1232 } else { 512 };
                    assert!(out.len() <= limit, "{name} {qtype} {edns:?}: {}", out.len());
                    let ratio = out.len() as f64 / pkt.len() as f64;
                    if edns.is_some() {
                        assert!(pkt.len() >= 53);
                        worst_edns = worst_edns.max(ratio);
                    } else {
                        assert!(pkt.len() >= 42);
                        worst_plain = worst_plain.max(ratio);
                    }
                }
            }
        }
    }
    eprintln!("worst ratio: {worst_plain:.1} without EDNS, {worst_edns:.1} with EDNS");
    assert!(worst_plain <= 512.0 / 42.0 && worst_edns <= 1232.0 / 53.0);
    // The bound is nearly reached: headless A RRsets that just fit.
    assert!(
        worst_plain > 11.0 && worst_edns > 22.0,
        "{worst_plain} {worst_edns}"
    );
}
