//! Fuzzes the request path: fast parser + answer, slow path, error responses.
//! Run: `cargo +nightly fuzz run request -- -max_total_time=60` in dns-proxy/fuzz.
#![no_main]

use std::sync::OnceLock;

use dns_proxy::fast::Ctx;
use dns_proxy::handler::{self, Action};
use dns_proxy::model::{Endpoint, Port, Service, ServiceKind, ServiceSet};
use dns_proxy::table::{Table, ZoneConfig};
use libfuzzer_sys::fuzz_target;

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let services = vec![
            Service {
                namespace: "shop".into(),
                name: "web".into(),
                kind: ServiceKind::ClusterSetIp { ips: vec!["242.0.0.10".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())] },
                ports: vec![Port { name: Some("http".into()), protocol: "tcp".into(), port: 80 }],
                endpoints: vec![],
            },
            Service {
                namespace: "shop".into(),
                name: "db".into(),
                kind: ServiceKind::Headless,
                ports: vec![Port { name: Some("pg".into()), protocol: "tcp".into(), port: 5432 }],
                endpoints: (0..100u8)
                    .map(|i| Endpoint {
                        cluster: "east".into(),
                        hostname: Some(format!("db-{i}")),
                        addresses: vec![std::net::Ipv4Addr::new(10, 1, 0, i).into()],
                        ready: true,
                    })
                    .collect(),
            },
        ];
        match Table::build(&ZoneConfig::default(), &ServiceSet { services }, 1) {
            Ok(t) => t,
            Err(e) => panic!("fixture table: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let t = table();
    let mut out = Vec::with_capacity(65535);
    for ctx in [Ctx { tcp: false, recursion_available: true, max_udp: 1232 }, Ctx { tcp: true, recursion_available: false, max_udp: 4096 }] {
        if let Action::Reply { .. } = handler::handle(t, data, &ctx, true, &mut out) {
            assert!(out.len() >= 12);
            assert_eq!(out[0..2], data[0..2]);
        }
        let _ = dns_proxy::slow::handle(t, data, &ctx);
        let _ = handler::servfail(data, &ctx);
    }
});
