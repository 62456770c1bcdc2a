//! Every owner's answers, encoded once at build time: the answer section of each RRset (SRV
//! weights set), and its additional section with the addresses of the SRV targets (spec
//! 2.3.2, 2.4.2). The slow path reads the [`Node`]s; the fast path the packed arena.

use std::collections::{HashMap, HashSet};

use super::node::{Node, RrSet};
use super::rdata::Rdata;
use super::rtype;
use super::staging::Staged;
use super::wire::{name_to_wire, push_name};
use super::zone::DNS_VERSION_TTL;

/// Largest answer section kept for one RRset, so that any answer fits a TCP message. The
/// additional section of an RRset has the same cap (it is left out entirely above it).
const MAX_RRSET_WIRE: usize = 60_000;

/// Owner names (lower-case wire form) and their nodes.
pub(super) type Names = HashMap<Box<[u8]>, Node, foldhash::fast::FixedState>;

/// The encoded answers of a table.
#[derive(Debug)]
pub(super) struct Encoded {
    pub(super) names: Names,
    /// The fast path's packed answers: per owner, `[key len u8][key][rrset count u8]` then per
    /// RRset `[type u16][count u16][len u16][wire][extra count u16][extra len u16][extra wire]`.
    pub(super) arena: Vec<u8>,
    /// Where each owner's entry starts in `arena`, and its key length.
    pub(super) entries: Vec<(usize, usize)>,
    /// Records in the answer sections.
    pub(super) records: usize,
}

/// Encodes every owner's RRsets. `version_name` is the owner of the schema version's TXT
/// record (served with [`DNS_VERSION_TTL`]); every other record has `ttl`.
pub(super) fn encode(staged: Staged, ttl: u32, version_name: &str) -> Encoded {
    let Staged {
        owners,
        srv_sources,
    } = staged;
    let mut names = HashMap::with_capacity_and_hasher(
        owners.len(),
        foldhash::fast::FixedState::with_seed(0x15_7b_05),
    );
    let mut records = 0usize;
    // The fast path's arena is written as the names are built; the answer bytes live only
    // there (the slow path works from `rdata`).
    let mut arena: Vec<u8> = Vec::new();
    let mut entries: Vec<(usize, usize)> = Vec::with_capacity(owners.len());
    // The addresses of every SRV target, for additional sections, copied out so the
    // owner map can be consumed (and freed) name by name below.
    let mut target_addrs: HashMap<String, Vec<Rdata>> = HashMap::new();
    for recs in owners.values() {
        for r in recs {
            if let Rdata::Srv { target, .. } = r
                && !target_addrs.contains_key(target)
            {
                let addrs = owners
                    .get(target)
                    .into_iter()
                    .flatten()
                    .filter(|a| matches!(a, Rdata::A(_) | Rdata::Aaaa(_)))
                    .cloned()
                    .collect();
                target_addrs.insert(target.clone(), addrs);
            }
        }
    }
    let mut wire = Vec::new();
    let mut xwire = Vec::new();
    for (owner, recs) in owners {
        let Some(key) = name_to_wire(&owner) else {
            continue;
        };
        // Where the answer section starts in a response to this name: header, question
        // name, type and class.
        let answer_at = 12 + key.len() + 4;
        let mut node = Node::default();
        entries.push((arena.len(), key.len()));
        arena.push(key.len() as u8);
        arena.extend_from_slice(&key);
        let sets: Vec<&[Rdata]> = recs.chunk_by(|a, b| a.rtype() == b.rtype()).collect();
        arena.push(sets.len().min(255) as u8);
        for rdatas in sets {
            let Some(t) = rdatas.first().map(Rdata::rtype) else {
                continue;
            };
            let set_ttl = if t == rtype::TXT && owner == version_name {
                DNS_VERSION_TTL
            } else {
                ttl
            };
            let mut rdata: Vec<Rdata> = rdatas.to_vec();
            if t == rtype::SRV {
                // Equal priority and equal weights (RFC 2782): 100 divided by the number
                // of (address, port) pairs behind the RRset, before identical records
                // were merged. This is CoreDNS's arithmetic, so clients see the same
                // numbers from either server.
                let sources = srv_sources.get(owner.as_str()).copied().unwrap_or(1);
                let w = (100 / sources.max(1)).max(1) as u16;
                for r in &mut rdata {
                    if let Rdata::Srv { weight, .. } = r {
                        *weight = w;
                    }
                }
            }
            wire.clear();
            let mut kept = 0;
            // Offset in the message of each SRV target's name, for the additional owners.
            let mut target_at: Vec<(String, usize)> = Vec::new();
            let mut targets_seen: HashSet<&str> = HashSet::new();
            for r in &rdata {
                let start = wire.len();
                wire.extend_from_slice(&[0xC0, 0x0C]);
                wire.extend_from_slice(&t.to_be_bytes());
                wire.extend_from_slice(&1u16.to_be_bytes());
                wire.extend_from_slice(&set_ttl.to_be_bytes());
                let len_at = wire.len();
                wire.extend_from_slice(&[0, 0]);
                r.encode(&mut wire);
                let rdlen = (wire.len() - len_at - 2) as u16;
                wire[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
                if wire.len() > MAX_RRSET_WIRE {
                    wire.truncate(start);
                    tracing::warn!(name = %owner, rtype = t, kept, total = rdata.len(), "RRset too large for one DNS message; truncated");
                    break;
                }
                if let Rdata::Srv { target, .. } = r
                    && targets_seen.insert(target.as_str())
                {
                    // Owner (2), type, class, TTL, length (10), priority, weight, port (6).
                    target_at.push((target.clone(), answer_at + start + 18));
                }
                kept += 1;
            }
            rdata.truncate(kept);
            records += rdata.len();

            // Additional section: the addresses of the SRV targets (spec 2.3.2, 2.4.2).
            let mut additional: Vec<(String, Rdata)> = Vec::new();
            xwire.clear();
            for (target, at) in &target_at {
                let (target, at) = (target.as_str(), *at);
                let Some(addrs) = target_addrs.get(target) else {
                    continue;
                };
                for r in addrs {
                    let at_type = r.rtype();
                    if at < 0x3FFF {
                        xwire.extend_from_slice(&(0xC000u16 | at as u16).to_be_bytes());
                    } else {
                        push_name(&mut xwire, target);
                    }
                    xwire.extend_from_slice(&at_type.to_be_bytes());
                    xwire.extend_from_slice(&1u16.to_be_bytes());
                    xwire.extend_from_slice(&ttl.to_be_bytes());
                    let len_at = xwire.len();
                    xwire.extend_from_slice(&[0, 0]);
                    r.encode(&mut xwire);
                    let rdlen = (xwire.len() - len_at - 2) as u16;
                    xwire[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
                    additional.push((target.to_string(), r.clone()));
                }
            }
            if xwire.len() > MAX_RRSET_WIRE {
                tracing::debug!(name = %owner, rtype = t, records = additional.len(), "additional section too large; left out");
                xwire.clear();
                additional.clear();
            }
            if node.rrsets.len() < 255 {
                arena.extend_from_slice(&t.to_be_bytes());
                arena.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                arena.extend_from_slice(&(wire.len() as u16).to_be_bytes());
                arena.extend_from_slice(&wire);
                arena.extend_from_slice(&(additional.len() as u16).to_be_bytes());
                arena.extend_from_slice(&(xwire.len() as u16).to_be_bytes());
                arena.extend_from_slice(&xwire);
            }
            node.rrsets.push(RrSet {
                rtype: t,
                ttl: set_ttl,
                rdata,
                additional,
            });
        }
        names.insert(key.into_boxed_slice(), node);
    }
    Encoded {
        names,
        arena,
        entries,
        records,
    }
}
