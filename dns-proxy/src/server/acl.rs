//! Who may use forwarding: out-of-zone questions from other clients get REFUSED.

use std::net::IpAddr;

use ipnet::IpNet;

/// The default networks allowed to use forwarding: loopback, RFC 1918, RFC 6598 shared
/// space, IPv6 ULA and link-local.
pub fn default_allow_forward() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

/// Whether `ip` is inside one of `nets` (IPv4-mapped IPv6 counts as IPv4).
pub fn allowed(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}
