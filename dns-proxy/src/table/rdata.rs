//! Record data and its wire encoding.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::rtype;
use super::wire::push_name;

/// Record data, in a form both the wire encoder and the hickory-based slow path use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ns(String),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Txt(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

impl Rdata {
    /// The record type code.
    pub fn rtype(&self) -> u16 {
        match self {
            Rdata::A(_) => rtype::A,
            Rdata::Aaaa(_) => rtype::AAAA,
            Rdata::Ns(_) => rtype::NS,
            Rdata::Soa { .. } => rtype::SOA,
            Rdata::Txt(_) => rtype::TXT,
            Rdata::Srv { .. } => rtype::SRV,
        }
    }

    /// An address record: A for IPv4 and IPv4-mapped IPv6 addresses, AAAA for the others.
    pub(super) fn address(ip: IpAddr) -> Rdata {
        match ip {
            IpAddr::V4(a) => Rdata::A(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Rdata::A(v4),
                None => Rdata::Aaaa(a),
            },
        }
    }

    /// Appends the record data in wire form (names uncompressed).
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Rdata::A(a) => out.extend_from_slice(&a.octets()),
            Rdata::Aaaa(a) => out.extend_from_slice(&a.octets()),
            Rdata::Ns(n) => push_name(out, n),
            Rdata::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                push_name(out, mname);
                push_name(out, rname);
                for v in [serial, refresh, retry, expire, minimum] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Rdata::Txt(t) => {
                for chunk in t.as_bytes().chunks(255) {
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
                if t.is_empty() {
                    out.push(0);
                }
            }
            Rdata::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                out.extend_from_slice(&priority.to_be_bytes());
                out.extend_from_slice(&weight.to_be_bytes());
                out.extend_from_slice(&port.to_be_bytes());
                push_name(out, target);
            }
        }
    }
}
