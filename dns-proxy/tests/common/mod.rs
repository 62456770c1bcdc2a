//! The dns-proxy fixtures of this crate's tests: the fixture clusterset, a big headless
//! service, its table, and the request path without sockets. Helpers that need no dns-proxy
//! type (DNS queries, polling, HTTP) are in `isthmus-testing`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dns_proxy::fast::Ctx;
use dns_proxy::handler::{self, Action};
use dns_proxy::model::{Endpoint, Port, Service, ServiceKind, ServiceSet};
use dns_proxy::table::{Table, ZoneConfig};
use hickory_proto::op::Message;

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
