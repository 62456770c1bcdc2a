//! The answer table: every in-zone (name, type) pair with its answer precomputed as wire bytes.
//!
//! A [`Table`] is immutable. Sources build a new one from a [`ServiceSet`] and swap it in; the
//! request path only reads. A build goes through one module per step:
//!
//! - `zone`: the zone's settings ([`ZoneConfig`]) and its own records (SOA, NS, the schema
//!   version);
//! - `records`: each service's records (ClusterSetIP or headless, SRV per port), under the
//!   owner names of `names`;
//! - `staging`: the records by owner name, with the empty non-terminals added and duplicates
//!   merged;
//! - `answers`: every RRset encoded as answer bytes with its additional section, into the
//!   [`Node`]s the slow path reads and the arena the fast path reads;
//! - `flat`: the packed index over that arena ([`Table::lookup_wire`]).
//!
//! [`Rdata`], [`rtype`] and the wire-name helpers ([`name_to_wire`], [`wire_to_text`]) are
//! shared with the request paths.

mod answers;
mod flat;
mod names;
mod node;
mod rdata;
mod records;
pub mod rtype;
mod staging;
mod wire;
mod zone;

use std::time::SystemTime;

pub use flat::WireLookup;
pub use node::{Node, RrSet};
pub use rdata::Rdata;
pub use wire::{name_to_wire, wire_to_text};
pub use zone::{DNS_VERSION_TTL, SCHEMA_VERSION, TableError, ZoneConfig};

use crate::model::ServiceSet;
use answers::Names;
use flat::Flat;
use staging::Staging;

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
    names: Names,
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

impl Table {
    /// Builds the table for `set`. Malformed entries (names too long, empty cluster IDs) are
    /// logged and skipped.
    pub fn build(cfg: &ZoneConfig, set: &ServiceSet, serial: u32) -> Result<Table, TableError> {
        let zone = cfg.zone.trim_end_matches('.').to_ascii_lowercase();
        let zone_wire = name_to_wire(&zone).ok_or_else(|| TableError::BadZone(cfg.zone.clone()))?;
        let ttl = cfg.ttl;
        let soa = zone::soa(&zone, ttl, serial);
        let mut staging = Staging::default();
        zone::add_apex(&mut staging, &zone, &soa);
        let services = records::add_services(&mut staging, &zone, &set.services);
        let encoded = answers::encode(staging.finish(&zone), ttl, &zone::version_name(&zone));
        let flat = Flat::new(encoded.arena, &encoded.entries);

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
            names: encoded.names,
            soa,
            soa_authority: soa_authority.into_boxed_slice(),
            services,
            records: encoded.records,
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
