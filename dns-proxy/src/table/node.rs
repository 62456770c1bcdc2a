//! What the table holds at one owner name.

use super::rdata::Rdata;

/// One RRset, as served.
#[derive(Debug)]
pub struct RrSet {
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<Rdata>,
    /// Records for the additional section, sent with this RRset when the message has room:
    /// the A/AAAA records of SRV targets, in target order (`(owner, data)`, TTL of the table).
    pub additional: Vec<(String, Rdata)>,
}

/// Everything at one owner name. An empty `rrsets` is an empty non-terminal (or a service
/// name with no addresses): the name exists, every type is NODATA.
#[derive(Debug, Default)]
pub struct Node {
    pub rrsets: Vec<RrSet>,
}
