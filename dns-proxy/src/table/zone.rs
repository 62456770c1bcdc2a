//! The served zone: its settings and its own records (SOA and NS at the apex, the schema
//! version, `svc.<zone>`).

use super::rdata::Rdata;
use super::staging::Staging;

/// The MCS DNS schema version served at `dns-version.<zone>`.
pub const SCHEMA_VERSION: &str = "1.0.0";

/// TTL of the `dns-version.<zone>` TXT record: the schema version is static, so it is cached
/// like the specification's and CoreDNS's example (`28800`), not with the service TTL.
pub const DNS_VERSION_TTL: u32 = 28_800;

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

/// The zone's SOA record; `ttl` is also its negative-caching time (minimum).
pub(super) fn soa(zone: &str, ttl: u32, serial: u32) -> Rdata {
    Rdata::Soa {
        mname: format!("ns.dns.{zone}"),
        rname: format!("hostmaster.{zone}"),
        serial,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: ttl,
    }
}

/// The name of the schema version's TXT record.
pub(super) fn version_name(zone: &str) -> String {
    format!("dns-version.{zone}")
}

/// Adds the zone's own records: SOA and NS at the apex, the schema version, and `svc.<zone>`,
/// which is part of the schema and exists even with no services.
pub(super) fn add_apex(staging: &mut Staging, zone: &str, soa: &Rdata) {
    staging.add(zone, soa.clone());
    staging.add(zone, Rdata::Ns(format!("ns.dns.{zone}")));
    staging.add(&version_name(zone), Rdata::Txt(SCHEMA_VERSION.to_string()));
    staging.exists(format!("svc.{zone}"));
}
