//! Random and mutated packets through the request path (fast and slow): never a panic, and
//! every reply is a well-formed response to the request's ID. Bounded and seeded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use dns_proxy::fast::Ctx;
use dns_proxy::handler::{self, Action};
use hickory_proto::rr::RecordType;
use isthmus_testing::dns::query;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_and_random_packets_never_crash_the_request_path() {
    let t = common::table(&common::fixture_with_big(50));
    let seeds: Vec<Vec<u8>> = [
        ("web.shop.svc.clusterset.local.", RecordType::A, None),
        ("db.shop.svc.clusterset.local.", RecordType::SRV, Some(1232)),
        (
            "_pg._tcp.db.shop.svc.clusterset.local.",
            RecordType::SRV,
            Some(512),
        ),
        ("big.shop.svc.clusterset.local.", RecordType::A, None),
        ("clusterset.local.", RecordType::ANY, Some(4096)),
        ("example.com.", RecordType::AAAA, Some(1232)),
    ]
    .iter()
    .map(|(n, ty, e)| query(n, *ty, *e))
    .collect();
    let ctxs = [
        Ctx {
            tcp: false,
            recursion_available: true,
            max_udp: 1232,
        },
        Ctx {
            tcp: true,
            recursion_available: false,
            max_udp: 4096,
        },
    ];
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut out = Vec::new();
    let mut replies = 0;
    for i in 0..60_000 {
        let mut pkt = if i % 5 == 0 {
            let len = rng.below(80);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        if i % 5 != 0 {
            for _ in 0..1 + rng.below(4) {
                match rng.below(4) {
                    0 if !pkt.is_empty() => {
                        let at = rng.below(pkt.len());
                        pkt[at] = rng.next() as u8;
                    }
                    1 if !pkt.is_empty() => {
                        let at = rng.below(pkt.len());
                        pkt.truncate(at);
                    }
                    2 => {
                        let at = rng.below(pkt.len() + 1);
                        pkt.insert(at, rng.next() as u8);
                    }
                    _ if pkt.len() > 12 => {
                        let at = 2 + rng.below(10);
                        pkt[at] ^= 1 << rng.below(8);
                    }
                    _ => {}
                }
            }
        }
        let ctx = &ctxs[i % 2];
        match handler::handle(&t, &pkt, ctx, i % 3 != 0, &mut out) {
            Action::Reply { .. } => {
                replies += 1;
                assert!(out.len() >= 12, "reply shorter than a header");
                assert_eq!(&out[0..2], &pkt[0..2], "reply ID");
                assert!(out[2] & 0x80 != 0, "QR set");
                assert!(
                    out.len()
                        <= dns_proxy::fast::response_limit(
                            ctx,
                            Some(dns_proxy::fast::Edns {
                                udp_size: 65535,
                                dnssec_ok: false
                            })
                        )
                );
            }
            Action::Forward { .. } | Action::Drop => {}
        }
        // The slow path alone must also cope with everything.
        let _ = dns_proxy::slow::handle(&t, &pkt, ctx);
        let _ = handler::servfail(&pkt, ctx);
    }
    assert!(replies > 10_000, "{replies}");
}
