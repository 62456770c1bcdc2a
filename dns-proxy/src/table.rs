//! The answer table: every in-zone (name, type) pair with its answer precomputed as wire bytes.
//!
//! A [`Table`] is immutable. Sources build a new one from a [`ServiceSet`] and publish it
//! through [`crate::handle::TableHandle`]; the request path only reads.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use crate::model::{ServiceKind, ServiceSet};

/// DNS record type codes used by the table.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const OPT: u16 = 41;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

/// The MCS DNS schema version served at `dns-version.<zone>`.
pub const SCHEMA_VERSION: &str = "1.0.0";

/// TTL of the `dns-version.<zone>` TXT record: the schema version is static, so it is cached
/// like the specification's and CoreDNS's example (`28800`), not with the service TTL.
pub const DNS_VERSION_TTL: u32 = 28_800;

/// Largest answer section kept for one RRset, so that any answer fits a TCP message. The
/// additional section of an RRset has the same cap (it is left out entirely above it).
const MAX_RRSET_WIRE: usize = 60_000;

/// Settings of the served zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The zone, e.g. `clusterset.local` (no trailing dot, any case).
    pub zone: String,
    /// TTL of every record and the negative-caching TTL (SOA minimum).
    pub ttl: u32,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            zone: "clusterset.local".to_string(),
            ttl: 5,
        }
    }
}

/// Errors building a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("zone {0:?} is not a valid domain name")]
    BadZone(String),
}

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

    fn encode(&self, out: &mut Vec<u8>) {
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

/// Converts a dotted name (no trailing dot needed) into lower-case uncompressed wire form.
/// Returns `None` when a label is empty or longer than 63 bytes or the name exceeds 255 bytes.
pub fn name_to_wire(name: &str) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            let l = label.len();
            if l == 0 || l > 63 {
                return None;
            }
            out.push(l as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    (out.len() <= 255).then_some(out)
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    match name_to_wire(name) {
        Some(w) => out.extend_from_slice(&w),
        // Names are validated before they reach the encoder; the root is a safe fallback.
        None => out.push(0),
    }
}

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

/// The result of a lookup.
#[derive(Debug)]
pub enum Lookup<'a> {
    Answer(&'a RrSet),
    NoData,
    NxDomain,
}

/// An immutable answer table for one zone.
#[derive(Debug)]
pub struct Table {
    zone: String,
    zone_wire: Box<[u8]>,
    ttl: u32,
    names: HashMap<Box<[u8]>, Node, foldhash::fast::FixedState>,
    /// The fast path's copy of the names and answers, packed for few cache misses.
    flat: Flat,
    soa: Rdata,
    /// The zone's SOA as a complete RR (owner uncompressed) for the authority section.
    soa_authority: Box<[u8]>,
    services: usize,
    records: usize,
    built: SystemTime,
    complete: bool,
}

/// Owner name -> its records, unsorted and possibly repeated until the build sorts them. A
/// flat `Vec` per owner keeps the peak memory of a build small (nested ordered maps cost about
/// a kilobyte per name).
type Staging = BTreeMap<String, Vec<Rdata>>;

impl Table {
    /// Builds the table for `set`. Malformed entries (names too long, empty cluster IDs) are
    /// logged and skipped.
    pub fn build(cfg: &ZoneConfig, set: &ServiceSet, serial: u32) -> Result<Table, TableError> {
        let zone = cfg.zone.trim_end_matches('.').to_ascii_lowercase();
        let zone_wire = name_to_wire(&zone).ok_or_else(|| TableError::BadZone(cfg.zone.clone()))?;
        let ttl = cfg.ttl;
        let mut staging: Staging = BTreeMap::new();
        let soa = Rdata::Soa {
            mname: format!("ns.dns.{zone}"),
            rname: format!("hostmaster.{zone}"),
            serial,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: ttl,
        };
        let version_name = format!("dns-version.{zone}");
        add(&mut staging, &zone, soa.clone());
        add(&mut staging, &zone, Rdata::Ns(format!("ns.dns.{zone}")));
        add(
            &mut staging,
            &version_name,
            Rdata::Txt(SCHEMA_VERSION.to_string()),
        );
        // `svc.<zone>` is part of the schema: it exists even with no services.
        staging.entry(format!("svc.{zone}")).or_default();

        let mut services = 0usize;
        let mut seen = BTreeSet::new();
        // Per SRV owner name: how many (address, port) pairs it was built from.
        let mut srv_sources: BTreeMap<String, usize> = BTreeMap::new();
        // `<clusterid>.<svc>.<ns>.svc.<zone>` must not exist (spec 2.3.4, 2.4.4), even though
        // host names below it do.
        let mut hidden: BTreeSet<String> = BTreeSet::new();
        for svc in &set.services {
            let svc_name =
                format!("{}.{}.svc.{zone}", svc.name, svc.namespace).to_ascii_lowercase();
            if name_to_wire(&svc_name).is_none()
                || svc.name.is_empty()
                || svc.namespace.is_empty()
                || svc.name.contains('.')
                || svc.namespace.contains('.')
            {
                tracing::warn!(namespace = %svc.namespace, service = %svc.name, "skipping service: not a valid DNS name");
                continue;
            }
            if !seen.insert(svc_name.clone()) {
                tracing::warn!(namespace = %svc.namespace, service = %svc.name, "duplicate service; keeping the first");
                continue;
            }
            // The namespace exists while any service is imported into it, even a headless
            // one with no ready endpoints (whose own name does not exist).
            if let Some((_, ns_name)) = svc_name.split_once('.') {
                staging.entry(ns_name.to_string()).or_default();
            }
            let ports: Vec<_> = svc.ports.iter().filter(|p| p.port != 0).collect();
            match &svc.kind {
                ServiceKind::ClusterSetIp { ips } => {
                    services += 1;
                    staging.entry(svc_name.clone()).or_default();
                    for ip in ips {
                        add(&mut staging, &svc_name, ip_rdata(*ip));
                    }
                    for p in &ports {
                        let srv = Rdata::Srv {
                            priority: 0,
                            weight: 0,
                            port: p.port,
                            target: svc_name.clone(),
                        };
                        let pn = named_port(p.name.as_deref(), &p.protocol, &svc_name);
                        if ips.is_empty() {
                            // No address to point at yet: the port names exist, with no
                            // records (NODATA), as for CoreDNS.
                            if let Some(pn) = pn {
                                staging.entry(pn).or_default();
                            }
                            continue;
                        }
                        // One SRV source per (IP, port), for the weights.
                        add_srv(&mut staging, &mut srv_sources, &svc_name, &srv, ips.len());
                        if let Some(pn) = pn {
                            add_srv(&mut staging, &mut srv_sources, &pn, &srv, ips.len());
                        }
                    }
                }
                ServiceKind::Headless => {
                    // (host name, addresses) of every ready endpoint, across clusters.
                    let mut hosts: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
                    for ep in svc.endpoints.iter().filter(|e| e.ready) {
                        if ep.cluster.is_empty() || ep.cluster.contains('.') {
                            tracing::warn!(namespace = %svc.namespace, service = %svc.name, cluster = %ep.cluster, "skipping endpoint: invalid cluster ID");
                            continue;
                        }
                        for addr in &ep.addresses {
                            let label = ep.label_for(addr);
                            let host =
                                format!("{label}.{}.{svc_name}", ep.cluster.to_ascii_lowercase());
                            if label.is_empty()
                                || label.contains('.')
                                || name_to_wire(&host).is_none()
                            {
                                tracing::warn!(namespace = %svc.namespace, service = %svc.name, host = %host, "skipping endpoint: not a valid DNS name");
                                continue;
                            }
                            hidden
                                .insert(format!("{}.{svc_name}", ep.cluster.to_ascii_lowercase()));
                            hosts.entry(host).or_default().push(*addr);
                        }
                    }
                    if hosts.is_empty() {
                        // No ready endpoints: the service name does not exist (spec 2.4.1).
                        continue;
                    }
                    services += 1;
                    for (host, addrs) in &hosts {
                        for addr in addrs {
                            add(&mut staging, &svc_name, ip_rdata(*addr));
                            add(&mut staging, host, ip_rdata(*addr));
                        }
                        for p in &ports {
                            let srv = Rdata::Srv {
                                priority: 0,
                                weight: 0,
                                port: p.port,
                                target: host.clone(),
                            };
                            // One SRV source per (address, port), for the weights.
                            let n = addrs.len();
                            add_srv(&mut staging, &mut srv_sources, &svc_name, &srv, n);
                            if let Some(pn) = named_port(p.name.as_deref(), &p.protocol, &svc_name)
                            {
                                add_srv(&mut staging, &mut srv_sources, &pn, &srv, n);
                            }
                        }
                    }
                }
            }
        }

        // Empty non-terminals: every ancestor of an owner name, up to the apex, exists.
        let owners: Vec<String> = staging.keys().cloned().collect();
        for owner in owners {
            let mut rest = owner.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if parent.len() < zone.len() {
                    break;
                }
                if !hidden.contains(parent) {
                    staging.entry(parent.to_string()).or_default();
                }
                rest = parent;
            }
        }

        let mut names = HashMap::with_capacity_and_hasher(
            staging.len(),
            foldhash::fast::FixedState::with_seed(0x15_7b_05),
        );
        let mut records = 0usize;
        // The fast path's arena is written as the names are built; the answer bytes live only
        // there (the slow path works from `rdata`).
        let mut arena: Vec<u8> = Vec::new();
        let mut entries: Vec<(usize, usize)> = Vec::with_capacity(staging.len());
        // Each owner's records grouped by type (ascending type code, so ANY answers with the
        // lowest), then by data; duplicates merged.
        for recs in staging.values_mut() {
            recs.sort_by(|a, b| (a.rtype(), a).cmp(&(b.rtype(), b)));
            recs.dedup();
        }
        // The addresses of every SRV target, for additional sections, copied out so the
        // staging map can be consumed (and freed) name by name below.
        let mut target_addrs: HashMap<String, Vec<Rdata>> = HashMap::new();
        for recs in staging.values() {
            for r in recs {
                if let Rdata::Srv { target, .. } = r
                    && !target_addrs.contains_key(target)
                {
                    let addrs = staging
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
        for (owner, recs) in staging {
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
        let flat = Flat::new(arena, &entries);

        let mut soa_authority = zone_wire.clone();
        soa_authority.extend_from_slice(&rtype::SOA.to_be_bytes());
        soa_authority.extend_from_slice(&1u16.to_be_bytes());
        soa_authority.extend_from_slice(&ttl.to_be_bytes());
        let mut rd = Vec::new();
        soa.encode(&mut rd);
        soa_authority.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        soa_authority.extend_from_slice(&rd);

        Ok(Table {
            zone,
            zone_wire: zone_wire.into_boxed_slice(),
            ttl,
            flat,
            names,
            soa,
            soa_authority: soa_authority.into_boxed_slice(),
            services,
            records,
            built: SystemTime::now(),
            complete: true,
        })
    }

    /// The table served before a source has loaded: in-zone questions get SERVFAIL.
    pub fn not_loaded(cfg: &ZoneConfig) -> Result<Table, TableError> {
        let mut t = Table::build(cfg, &ServiceSet::default(), 0)?;
        t.complete = false;
        Ok(t)
    }

    /// Whether this table came from a source (false for [`Table::not_loaded`]).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The fast path's lookup: the precomputed answer section (and its record count) straight
    /// from the packed arena. Same result as [`Table::lookup`].
    #[inline]
    pub fn lookup_wire(&self, lower_wire: &[u8], qtype: u16) -> WireLookup<'_> {
        self.flat.lookup(lower_wire, qtype)
    }

    /// Looks up a lower-case wire-format name (with its terminating root label).
    pub fn lookup(&self, lower_wire: &[u8], qtype: u16) -> Lookup<'_> {
        match self.names.get(lower_wire) {
            None => Lookup::NxDomain,
            Some(node) => {
                let found = if qtype == rtype::ANY {
                    // RFC 8482: answer ANY with one RRset.
                    node.rrsets.first()
                } else {
                    node.rrsets.iter().find(|s| s.rtype == qtype)
                };
                found.map_or(Lookup::NoData, Lookup::Answer)
            }
        }
    }

    /// Whether a lower-case wire name is the zone or below it (the match must start at a
    /// label boundary: `notclusterset.local` is not in `clusterset.local`).
    pub fn in_zone(&self, lower_wire: &[u8]) -> bool {
        let z = &self.zone_wire[..];
        if lower_wire.len() < z.len() || !lower_wire.ends_with(z) {
            return false;
        }
        let target = lower_wire.len() - z.len();
        let mut pos = 0usize;
        while pos < target {
            pos += 1 + lower_wire[pos] as usize;
        }
        pos == target
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }
    pub fn ttl(&self) -> u32 {
        self.ttl
    }
    pub fn soa(&self) -> &Rdata {
        &self.soa
    }
    /// The SOA RR for the authority section of negative answers (owner not compressed).
    pub fn soa_authority(&self) -> &[u8] {
        &self.soa_authority
    }
    /// Number of services that have at least one name.
    pub fn service_count(&self) -> usize {
        self.services
    }
    /// Number of records in the table.
    pub fn record_count(&self) -> usize {
        self.records
    }
    /// Number of owner names (including empty non-terminals).
    pub fn name_count(&self) -> usize {
        self.names.len()
    }
    /// When the table was built.
    pub fn built_at(&self) -> SystemTime {
        self.built
    }
    /// Every owner name (dotted, lower case) and its RRset types, sorted; for tests and tools.
    pub fn dump(&self) -> Vec<(String, Vec<u16>)> {
        let mut v: Vec<_> = self
            .names
            .iter()
            .map(|(k, n)| (wire_to_text(k), n.rrsets.iter().map(|s| s.rtype).collect()))
            .collect();
        v.sort();
        v
    }
}

/// The result of [`Table::lookup_wire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireLookup<'a> {
    /// The answer RRs (owners are pointers to the question) and how many there are, then
    /// the additional-section RRs sent with them when they fit (owners point into the
    /// answer, so they are only valid right after `wire`).
    Answer {
        wire: &'a [u8],
        count: u16,
        extra: &'a [u8],
        extra_count: u16,
    },
    NoData,
    NxDomain,
}

/// Open-addressing index over one byte arena. Each entry in the arena is
/// `[key len u8][key][rrset count u8]` then per RRset
/// `[type u16][count u16][len u16][wire][extra count u16][extra len u16][extra wire]`,
/// so a hit touches one slot and one contiguous stretch of memory.
#[derive(Debug, Default)]
struct Flat {
    /// (upper 32 bits of the hash, arena offset + 1); offset 0 marks an empty slot.
    slots: Box<[(u32, u32)]>,
    arena: Box<[u8]>,
    hasher: foldhash::fast::FixedState,
}

impl Flat {
    /// Indexes an arena whose entries start at `entries[i].0` with a key of `entries[i].1`
    /// bytes.
    fn new(arena: Vec<u8>, entries: &[(usize, usize)]) -> Flat {
        let hasher = foldhash::fast::FixedState::with_seed(0x0f1a_7d05);
        let cap = (entries.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![(0u32, 0u32); cap];
        for &(off, klen) in entries {
            let h = hasher.hash_one(&arena[off + 1..off + 1 + klen]);
            let mut i = (h as usize) & (cap - 1);
            while slots[i].1 != 0 {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = ((h >> 32) as u32, off as u32 + 1);
        }
        Flat {
            slots: slots.into_boxed_slice(),
            arena: arena.into_boxed_slice(),
            hasher,
        }
    }

    #[inline]
    fn lookup(&self, key: &[u8], qtype: u16) -> WireLookup<'_> {
        let mask = self.slots.len() - 1;
        let h = self.hasher.hash_one(key);
        let tag = (h >> 32) as u32;
        let mut i = (h as usize) & mask;
        loop {
            let (t, off) = self.slots[i];
            if off == 0 {
                return WireLookup::NxDomain;
            }
            if t == tag {
                let off = off as usize - 1;
                let klen = self.arena[off] as usize;
                if self.arena.get(off + 1..off + 1 + klen) == Some(key) {
                    return self.answer_at(off + 1 + klen, qtype);
                }
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn answer_at(&self, mut pos: usize, qtype: u16) -> WireLookup<'_> {
        let a = &self.arena;
        let n = a[pos];
        pos += 1;
        for _ in 0..n {
            let t = u16::from_be_bytes([a[pos], a[pos + 1]]);
            let count = u16::from_be_bytes([a[pos + 2], a[pos + 3]]);
            let len = u16::from_be_bytes([a[pos + 4], a[pos + 5]]) as usize;
            pos += 6;
            let wire = &a[pos..pos + len];
            pos += len;
            let extra_count = u16::from_be_bytes([a[pos], a[pos + 1]]);
            let xlen = u16::from_be_bytes([a[pos + 2], a[pos + 3]]) as usize;
            pos += 4;
            if t == qtype || qtype == rtype::ANY {
                return WireLookup::Answer {
                    wire,
                    count,
                    extra: &a[pos..pos + xlen],
                    extra_count,
                };
            }
            pos += xlen;
        }
        WireLookup::NoData
    }
}

/// Renders an uncompressed wire name as dotted text (no trailing dot).
pub fn wire_to_text(w: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while pos < w.len() && w[pos] != 0 {
        let l = w[pos] as usize;
        let end = (pos + 1 + l).min(w.len());
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(&w[pos + 1..end]));
        pos = end;
    }
    out
}

fn add(staging: &mut Staging, owner: &str, rdata: Rdata) {
    match staging.get_mut(owner) {
        Some(recs) => recs.push(rdata),
        None => {
            staging.insert(owner.to_string(), vec![rdata]);
        }
    }
}

/// Adds an SRV record standing for `sources` (address, port) pairs.
fn add_srv(
    staging: &mut Staging,
    srv_sources: &mut BTreeMap<String, usize>,
    owner: &str,
    srv: &Rdata,
    sources: usize,
) {
    add(staging, owner, srv.clone());
    *srv_sources.entry(owner.to_string()).or_default() += sources;
}

fn ip_rdata(ip: IpAddr) -> Rdata {
    match ip {
        IpAddr::V4(a) => Rdata::A(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => Rdata::A(v4),
            None => Rdata::Aaaa(a),
        },
    }
}

fn named_port(name: Option<&str>, protocol: &str, svc_name: &str) -> Option<String> {
    let name = name.filter(|n| !n.is_empty())?;
    let owner = format!(
        "_{}._{}.{svc_name}",
        name.to_ascii_lowercase(),
        protocol.to_ascii_lowercase()
    );
    name_to_wire(&owner).map(|_| owner)
}
