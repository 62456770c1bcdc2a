//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dns_proxy::fast::Ctx;
use dns_proxy::handler::{self, Action};
use dns_proxy::model::{Endpoint, Port, Service, ServiceKind, ServiceSet};
use dns_proxy::table::{Table, ZoneConfig};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/clusterset.yaml"
);

pub fn fixture_set() -> ServiceSet {
    dns_proxy::source::file::load(Path::new(FIXTURE)).unwrap()
}

/// The fixture plus a headless service `big.shop` with `n` ready endpoints (for truncation).
pub fn fixture_with_big(n: usize) -> ServiceSet {
    let mut set = fixture_set();
    set.services.push(big_service(n));
    set
}

pub fn big_service(n: usize) -> Service {
    Service {
        namespace: "shop".into(),
        name: "big".into(),
        kind: ServiceKind::Headless,
        ports: vec![Port {
            name: Some("http".into()),
            protocol: "tcp".into(),
            port: 80,
        }],
        endpoints: (0..n)
            .map(|i| Endpoint {
                cluster: if i % 2 == 0 {
                    "east".into()
                } else {
                    "west".into()
                },
                hostname: Some(format!("pod-{i}")),
                addresses: vec![format!("10.9.{}.{}", i / 250, i % 250 + 1).parse().unwrap()],
                ready: true,
            })
            .collect(),
    }
}

pub fn table(set: &ServiceSet) -> Table {
    Table::build(&ZoneConfig::default(), set, 1).unwrap()
}

pub fn udp_ctx() -> Ctx {
    Ctx {
        tcp: false,
        recursion_available: true,
        max_udp: 1232,
    }
}

pub fn query(name: &str, t: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let mut q = Query::query(Name::from_ascii(name).unwrap(), t);
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// Runs the full request path and parses the reply.
pub fn ask(t: &Table, pkt: &[u8], ctx: &Ctx, may_forward: bool) -> (Action, Option<Message>) {
    let mut out = Vec::new();
    let a = handler::handle(t, pkt, ctx, may_forward, &mut out);
    let m = match a {
        Action::Reply { .. } => Some(Message::from_vec(&out).unwrap()),
        _ => None,
    };
    (a, m)
}
