//! The pure reconcile: an index [`Snapshot`] in, the [`Desired`] state out.
//!
//! No I/O, no clock: `now` is a parameter, so the same input always gives the same output.
//! Semantics are documented in `docs/controller.md` ("Export and import", "Conflicts",
//! "Istio wiring").

pub mod conflicts;
pub mod imports;
pub mod istio;
pub mod status;
pub mod vip;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::model::{
    ClusterName, Desired, EventIntent, EventType, McsVersion, MemberState, MemberStatus, NsName,
    Reachability, ReconcileConfig, Snapshot,
};
use conflicts::{ConflictEntry, Constituent, Derived};
use status::Verdict;

/// Reason of the Conflict condition and Event when a member holds a ServiceImport of the same
/// name that Isthmus does not own (it is left untouched).
pub const IMPORT_CONFLICT: &str = "ImportConflict";

/// Whether a member's exports count: reachable, or unreachable for less than the grace period.
pub fn is_active(member: &MemberState, cfg: &ReconcileConfig, now: Timestamp) -> bool {
    match member.reachability {
        Reachability::Reachable => true,
        Reachability::Unreachable { since } => {
            let grace =
                SignedDuration::try_from(cfg.unreachable_grace).unwrap_or(SignedDuration::MAX);
            now.duration_since(since) < grace
        }
    }
}

fn verdict_base(member: &MemberState, key: &NsName) -> Result<(), Verdict> {
    match member.services.get(key) {
        None => Err(Verdict::NoService(format!(
            "Service {key} not found in cluster {}",
            member.info.name
        ))),
        Some(s) if s.type_ == "ExternalName" => Err(Verdict::InvalidServiceType(format!(
            "Service {key} is of type ExternalName, which cannot be exported"
        ))),
        Some(_) => Ok(()),
    }
}

fn object_key(v: &Value) -> (String, String, String, String) {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name"),
    )
}

/// Computes the desired state of every member from `snap` at `now`.
pub fn reconcile(snap: &Snapshot, cfg: &ReconcileConfig, now: Timestamp) -> Desired {
    let mut desired = Desired::default();
    let active: BTreeMap<&ClusterName, bool> = snap
        .members
        .iter()
        .map(|(n, m)| (n, is_active(m, cfg, now)))
        .collect();
    let is_on = |c: &ClusterName| active.get(c).copied().unwrap_or(false);

    // 1. Valid exports, grouped by service.
    let mut groups: BTreeMap<&NsName, Vec<Constituent<'_>>> = BTreeMap::new();
    for (cluster, member) in &snap.members {
        if !is_on(cluster) {
            continue;
        }
        for (key, export) in &member.exports {
            if verdict_base(member, key).is_err() {
                desired.summary.invalid_exports += 1;
                continue;
            }
            if let Some(service) = member.services.get(key) {
                groups.entry(key).or_default().push(Constituent {
                    cluster,
                    export,
                    service,
                });
            }
        }
    }
    let mut derived: BTreeMap<&NsName, Derived> = groups
        .iter()
        .filter_map(|(k, c)| conflicts::derive(c).map(|d| (*k, d)))
        .collect();

    // 2. ServiceImports users own block ours in that member.
    let mut blocked: BTreeMap<&NsName, BTreeSet<&ClusterName>> = BTreeMap::new();
    for (cluster, member) in &snap.members {
        for (key, import) in &member.imports {
            if !import.owned_by_us && derived.contains_key(key) {
                blocked.entry(key).or_default().insert(cluster);
            }
        }
    }
    for (key, clusters) in &blocked {
        if let Some(d) = derived.get_mut(key) {
            let names: Vec<&str> = clusters.iter().map(|c| c.as_str()).collect();
            d.conflicts.push(ConflictEntry {
                reason: IMPORT_CONFLICT,
                message: format!(
                    "A ServiceImport {key} not managed by Isthmus exists in cluster(s) {}; it is left untouched and the service is not imported there.",
                    names.join(", ")
                ),
            });
        }
    }

    // 3. VIPs.
    let default_family = cfg
        .clusterset_cidrs
        .first()
        .map_or("IPv4", |c| vip::family_of(&c.network()));
    let wanted: BTreeMap<NsName, Vec<String>> = derived
        .iter()
        .filter(|(_, d)| !d.headless)
        .map(|(k, d)| {
            let fams = if d.ip_families.is_empty() {
                vec![default_family.to_owned()]
            } else {
                d.ip_families.clone()
            };
            ((*k).clone(), fams)
        })
        .collect();
    let mut adoptable: BTreeMap<NsName, BTreeSet<IpAddr>> = BTreeMap::new();
    for member in snap.members.values() {
        for (key, import) in &member.imports {
            if import.owned_by_us && wanted.contains_key(key) {
                adoptable
                    .entry(key.clone())
                    .or_default()
                    .extend(import.ips.iter().filter_map(|ip| ip.parse::<IpAddr>().ok()));
            }
        }
    }
    let vips = vip::allocate(&cfg.clusterset_cidrs, &wanted, &adoptable);

    // 4. Objects per member. The import (per MCS version) and the slices of a service are the
    // same in every member: build them once, clone them per member.
    let mut built_imports: BTreeMap<(&NsName, McsVersion), Value> = BTreeMap::new();
    let mut built_slices: BTreeMap<&NsName, Vec<Value>> = BTreeMap::new();
    let mut imported_in: BTreeMap<&NsName, usize> = BTreeMap::new();
    for (cluster, member) in &snap.members {
        let mut objects: Vec<Value> = Vec::new();
        let mut mstatus = MemberStatus {
            reachable: member.reachability == Reachability::Reachable,
            withdrawn: !is_on(cluster),
            network: member.info.network.clone(),
            exports: member.exports.len(),
            ..MemberStatus::default()
        };
        for (key, d) in &derived {
            if !member.namespaces.contains(&key.namespace) {
                continue;
            }
            if blocked.get(key).is_some_and(|b| b.contains(cluster)) {
                continue;
            }
            let import = built_imports
                .entry((*key, member.mcs_version))
                .or_insert_with(|| {
                    let ips = vips.get(*key).map(Vec::as_slice).unwrap_or_default();
                    let families = wanted.get(*key).map(Vec::as_slice).unwrap_or_default();
                    imports::service_import(key, d, ips, families, member.mcs_version)
                });
            objects.push(import.clone());
            mstatus.imports += 1;
            *imported_in.entry(key).or_default() += 1;
            let slices = built_slices.entry(key).or_insert_with(|| {
                let family = d.ip_families.first().map_or(default_family, String::as_str);
                d.clusters
                    .iter()
                    .flat_map(|source| {
                        let slices = snap.members.get(source).and_then(|m| m.slices.get(*key));
                        imports::imported_slices(key, source, slices, family)
                    })
                    .collect()
            });
            objects.extend(slices.iter().cloned());
        }
        if let Some(wiring) = &cfg.istio {
            objects.extend(istio::objects(snap, member, wiring, now, &mut mstatus));
            istio::gateway_address(member, &mut mstatus);
        }
        objects.sort_by_cached_key(object_key);
        desired.summary.objects += objects.len();
        desired.objects.insert(cluster.clone(), objects);
        desired.member_status.insert(cluster.clone(), mstatus);
    }

    // 5. ServiceExport statuses and conflict transitions.
    for (cluster, member) in &snap.members {
        if !is_on(cluster) {
            continue;
        }
        for (key, export) in &member.exports {
            let verdict = match verdict_base(member, key) {
                Err(v) => v,
                Ok(()) => {
                    let d = derived.get(key);
                    Verdict::Exported {
                        imported_in: imported_in.get(key).copied().unwrap_or(0),
                        conflict: d.filter(|d| !d.conflicts.is_empty()).map(|d| {
                            (
                                conflicts::joined_reason(&d.conflicts),
                                conflicts::joined_message(&d.conflicts),
                            )
                        }),
                    }
                }
            };
            let was = status::was_conflicted(export);
            match &verdict {
                Verdict::Exported {
                    conflict: Some((reason, message)),
                    ..
                } if !was => desired.events.push(EventIntent {
                    cluster: cluster.clone(),
                    export: key.clone(),
                    type_: EventType::Warning,
                    reason: reason.clone(),
                    message: message.clone(),
                }),
                Verdict::Exported { conflict: None, .. } if was => {
                    desired.events.push(EventIntent {
                        cluster: cluster.clone(),
                        export: key.clone(),
                        type_: EventType::Normal,
                        reason: "ConflictResolved".to_owned(),
                        message: "The export no longer conflicts with other exports".to_owned(),
                    });
                }
                _ => {}
            }
            desired.export_status.insert(
                (cluster.clone(), key.clone()),
                status::export_status(export, &verdict, now),
            );
        }
    }
    desired.summary.services = derived.len();
    desired.summary.conflicts = derived.values().filter(|d| !d.conflicts.is_empty()).count();
    desired
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
