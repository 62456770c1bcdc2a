//! The records of a table while it is built: owner names with their records, before they are
//! sorted, merged and encoded.

use std::collections::{BTreeMap, BTreeSet};

use super::rdata::Rdata;

/// Owner name -> its records, unsorted and possibly repeated until [`Staging::finish`] sorts
/// them. A flat `Vec` per owner keeps the peak memory of a build small (nested ordered maps
/// cost about a kilobyte per name).
#[derive(Debug, Default)]
pub(super) struct Staging {
    owners: BTreeMap<String, Vec<Rdata>>,
    /// Per SRV owner name: how many (address, port) pairs it was built from.
    srv_sources: BTreeMap<String, usize>,
    /// Names that must not exist even though names below them do.
    hidden: BTreeSet<String>,
}

/// The records of a finished build: each owner's records grouped by type (ascending type
/// code, so ANY answers with the lowest), then by data, duplicates merged.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) owners: BTreeMap<String, Vec<Rdata>>,
    /// Per SRV owner name: how many (address, port) pairs it was built from.
    pub(super) srv_sources: BTreeMap<String, usize>,
}

impl Staging {
    /// Adds a record at `owner`.
    pub(super) fn add(&mut self, owner: &str, rdata: Rdata) {
        match self.owners.get_mut(owner) {
            Some(recs) => recs.push(rdata),
            None => {
                self.owners.insert(owner.to_string(), vec![rdata]);
            }
        }
    }

    /// Makes `owner` exist, with no records unless some are added.
    pub(super) fn exists(&mut self, owner: String) {
        self.owners.entry(owner).or_default();
    }

    /// Adds an SRV record standing for `sources` (address, port) pairs.
    pub(super) fn add_srv(&mut self, owner: &str, srv: &Rdata, sources: usize) {
        self.add(owner, srv.clone());
        *self.srv_sources.entry(owner.to_string()).or_default() += sources;
    }

    /// Keeps `name` from existing as an empty non-terminal.
    pub(super) fn hide(&mut self, name: String) {
        self.hidden.insert(name);
    }

    /// Empty non-terminals: every ancestor of an owner name, up to the apex `zone`, exists
    /// (unless hidden). Then sorts and merges each owner's records.
    pub(super) fn finish(mut self, zone: &str) -> Staged {
        let owners: Vec<String> = self.owners.keys().cloned().collect();
        for owner in owners {
            let mut rest = owner.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if parent.len() < zone.len() {
                    break;
                }
                if !self.hidden.contains(parent) {
                    self.owners.entry(parent.to_string()).or_default();
                }
                rest = parent;
            }
        }
        for recs in self.owners.values_mut() {
            recs.sort_by(|a, b| (a.rtype(), a).cmp(&(b.rtype(), b)));
            recs.dedup();
        }
        Staged {
            owners: self.owners,
            srv_sources: self.srv_sources,
        }
    }
}
