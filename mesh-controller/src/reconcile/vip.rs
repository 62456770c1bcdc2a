//! Clusterset VIP allocation: stable for the life of an import, identical in every member and
//! unchanged across controller restarts.
//!
//! IPs of ServiceImports the controller owns are adopted first (found in any member's index),
//! in service order; every other service gets a deterministic address: SHA-256 of
//! `namespace/name` picks a start offset in the family's range, then linear probing skips taken
//! addresses. The first and last address of a range are never handed out.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use sha2::{Digest, Sha256};

use crate::model::NsName;

/// `IPv4` / `IPv6` as written in `ipFamilies`.
pub fn family_of(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

/// The range configured for a family.
pub fn cidr_for<'a>(cidrs: &'a [IpNet], family: &str) -> Option<&'a IpNet> {
    cidrs.iter().find(|c| family_of(&c.network()) == family)
}

fn host_count(net: &IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if bits >= 128 {
        u128::MAX
    } else {
        1u128 << bits
    }
}

fn nth(net: &IpNet, n: u128) -> IpAddr {
    match net.network() {
        IpAddr::V4(a) => {
            // n < 2^32 because the range is IPv4.
            let v = u32::from(a).wrapping_add(u32::try_from(n).unwrap_or(0));
            IpAddr::V4(v.into())
        }
        IpAddr::V6(a) => IpAddr::V6(u128::from(a).wrapping_add(n).into()),
    }
}

fn start_offset(key: &NsName, family: &str) -> u128 {
    let mut h = Sha256::new();
    h.update(key.namespace.as_bytes());
    h.update(b"/");
    h.update(key.name.as_bytes());
    h.update(b"/");
    h.update(family.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_be_bytes(b)
}

/// Allocates VIPs for `wanted` (service -> families in order). `adoptable` holds, per service,
/// the IPs its owned imports already carry. Services whose family has no range, or whose range
/// is full, get no IP of that family.
pub fn allocate(
    cidrs: &[IpNet],
    wanted: &BTreeMap<NsName, Vec<String>>,
    adoptable: &BTreeMap<NsName, BTreeSet<IpAddr>>,
) -> BTreeMap<NsName, Vec<String>> {
    let mut taken: BTreeSet<IpAddr> = BTreeSet::new();
    let mut chosen: BTreeMap<NsName, BTreeMap<String, IpAddr>> = BTreeMap::new();
    // 1. Adopt.
    for (key, families) in wanted {
        let Some(ips) = adoptable.get(key) else {
            continue;
        };
        for family in families {
            let Some(net) = cidr_for(cidrs, family) else {
                continue;
            };
            if let Some(ip) = ips
                .iter()
                .find(|ip| family_of(ip) == family && net.contains(*ip) && !taken.contains(*ip))
            {
                taken.insert(*ip);
                chosen
                    .entry(key.clone())
                    .or_default()
                    .insert(family.clone(), *ip);
            }
        }
    }
    // 2. Allocate the rest.
    for (key, families) in wanted {
        for family in families {
            if chosen.get(key).is_some_and(|c| c.contains_key(family)) {
                continue;
            }
            let Some(net) = cidr_for(cidrs, family) else {
                continue;
            };
            let size = host_count(net);
            if size < 3 {
                continue;
            }
            let usable = size - 2;
            // Bounded probing: at most 65536 tries, enough for any realistic service count.
            let tries = usable.min(65_536);
            let start = start_offset(key, family) % usable;
            for i in 0..tries {
                let ip = nth(net, 1 + (start + i) % usable);
                if taken.insert(ip) {
                    chosen
                        .entry(key.clone())
                        .or_default()
                        .insert(family.clone(), ip);
                    break;
                }
            }
        }
    }
    wanted
        .iter()
        .map(|(key, families)| {
            let ips = families
                .iter()
                .filter_map(|f| chosen.get(key).and_then(|c| c.get(f)))
                .map(ToString::to_string)
                .collect();
            (key.clone(), ips)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cidrs() -> Vec<IpNet> {
        vec![
            "242.0.0.0/16".parse().unwrap(),
            "fd00:242::/112".parse().unwrap(),
        ]
    }

    #[test]
    fn deterministic_and_inside_the_range() {
        let wanted = BTreeMap::from([
            (NsName::new("a", "x"), vec!["IPv4".to_owned()]),
            (
                NsName::new("b", "y"),
                vec!["IPv4".to_owned(), "IPv6".to_owned()],
            ),
        ]);
        let one = allocate(&cidrs(), &wanted, &BTreeMap::new());
        let two = allocate(&cidrs(), &wanted, &BTreeMap::new());
        assert_eq!(one, two);
        let by: Vec<String> = one[&NsName::new("b", "y")].clone();
        assert_eq!(by.len(), 2);
        let v4: IpAddr = by[0].parse().unwrap();
        let v6: IpAddr = by[1].parse().unwrap();
        assert!(cidrs()[0].contains(&v4));
        assert!(cidrs()[1].contains(&v6));
        assert_ne!(
            one[&NsName::new("a", "x")],
            one[&NsName::new("b", "y")][..1]
        );
    }

    #[test]
    fn adoption_wins_and_collisions_probe() {
        let wanted = BTreeMap::from([
            (NsName::new("a", "x"), vec!["IPv4".to_owned()]),
            (NsName::new("b", "y"), vec!["IPv4".to_owned()]),
        ]);
        let first = allocate(&cidrs(), &wanted, &BTreeMap::new());
        let x_ip: IpAddr = first[&NsName::new("a", "x")][0].parse().unwrap();
        // b/y claims a/x's address: adoption is honoured for b/y, a/x moves on.
        let adopt = BTreeMap::from([(NsName::new("b", "y"), BTreeSet::from([x_ip]))]);
        let second = allocate(&cidrs(), &wanted, &adopt);
        assert_eq!(second[&NsName::new("b", "y")][0], x_ip.to_string());
        assert_ne!(second[&NsName::new("a", "x")][0], x_ip.to_string());
    }

    #[test]
    fn out_of_range_adoption_is_ignored_and_missing_family_gets_nothing() {
        let wanted = BTreeMap::from([(NsName::new("a", "x"), vec!["IPv6".to_owned()])]);
        let only_v4 = vec![cidrs()[0]];
        assert!(allocate(&only_v4, &wanted, &BTreeMap::new())[&NsName::new("a", "x")].is_empty());
        let wanted4 = BTreeMap::from([(NsName::new("a", "x"), vec!["IPv4".to_owned()])]);
        let adopt = BTreeMap::from([(
            NsName::new("a", "x"),
            BTreeSet::from(["10.0.0.1".parse::<IpAddr>().unwrap()]),
        )]);
        let got = allocate(&cidrs(), &wanted4, &adopt);
        assert_ne!(got[&NsName::new("a", "x")][0], "10.0.0.1");
    }

    #[test]
    fn tiny_range_fills_up_without_looping_forever() {
        let net: Vec<IpNet> = vec!["242.0.0.0/30".parse().unwrap()];
        let wanted: BTreeMap<NsName, Vec<String>> = (0..5)
            .map(|i| (NsName::new("n", format!("s{i}")), vec!["IPv4".to_owned()]))
            .collect();
        let got = allocate(&net, &wanted, &BTreeMap::new());
        let assigned: Vec<_> = got.values().filter(|v| !v.is_empty()).collect();
        assert_eq!(assigned.len(), 2);
    }
}
