//! The pure reconcile: an index [`Snapshot`] in, the [`Desired`] state out.
//!
//! No I/O, no clock: `now` is a parameter, so the same input always gives the same output.
//! Semantics are documented in `docs/controller.md` ("Export and import", "Conflicts",
//! "Istio wiring").

pub mod conflicts;
pub mod imports;
pub mod istio;
pub mod plan;
pub mod status;
pub mod vip;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use isthmus_api::mcs::ServiceExportStatus;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::index::Dirty;
use crate::model::{
    ClusterName, Desired, DesiredObject, EventIntent, EventType, McsVersion, MemberState,
    MemberStatus, NsName, Reachability, ReconcileConfig, Snapshot,
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

/// The facts about one service every member shares, computed before VIP allocation: the
/// derived clusterset service (with conflicts), the members where a user-owned ServiceImport
/// blocks ours, the IP families it wants VIPs for and the VIPs its owned imports carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceBasis {
    /// The derived service; `None` when no active member validly exports it.
    pub derived: Option<Derived>,
    /// Members holding a ServiceImport of the same name that Isthmus does not own.
    pub blocked: BTreeSet<ClusterName>,
    /// The IP families to allocate VIPs for (`None` for headless or not imported services).
    pub families: Option<Vec<String>>,
    /// IPs of owned ServiceImports of this service in any member, adopted as its VIPs.
    pub adoptable: BTreeSet<IpAddr>,
    /// Exports of active members without a usable Service.
    pub invalid_exports: usize,
}

/// The desired state of one service: its objects (built once, shared by every member that
/// gets them), the members that get them, the ServiceExport statuses and events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceOutcome {
    /// The facts it was computed from.
    pub basis: ServiceBasis,
    /// Its clusterset VIPs.
    pub vips: Vec<String>,
    /// The ServiceImport, per MCS version served by an importing member.
    pub imports: BTreeMap<McsVersion, Arc<DesiredObject>>,
    /// The imported EndpointSlices (identical in every importing member).
    pub slices: Vec<Arc<DesiredObject>>,
    /// The importing members, as positions in the snapshot's member order.
    pub members: Vec<u32>,
    /// ServiceExport statuses, per exporting cluster.
    pub export_status: Vec<(ClusterName, ServiceExportStatus)>,
    /// Conflict Events on its exports.
    pub events: Vec<EventIntent>,
}

/// What the per-service functions of one pass share.
pub struct PassContext<'a> {
    /// The snapshot.
    pub snap: &'a Snapshot,
    /// Settings.
    pub cfg: &'a ReconcileConfig,
    /// The pass time.
    pub now: Timestamp,
    /// Whether each member's exports count, in snapshot order.
    pub active: Vec<bool>,
    /// The family of VIPs when neither the Services nor the ranges say otherwise.
    pub default_family: &'static str,
    /// The mesh networks ConfigMap every member gets (`Ok(None)`: none), when Istio wiring
    /// writes it.
    pub mesh_networks: Result<Option<Value>, String>,
}

impl<'a> PassContext<'a> {
    /// The context of a pass over `snap` at `now`.
    pub fn new(snap: &'a Snapshot, cfg: &'a ReconcileConfig, now: Timestamp) -> Self {
        Self {
            snap,
            cfg,
            now,
            active: snap
                .members
                .values()
                .map(|m| is_active(m, cfg, now))
                .collect(),
            default_family: cfg
                .clusterset_cidrs
                .first()
                .map_or("IPv4", |c| vip::family_of(&c.network())),
            mesh_networks: match &cfg.istio {
                Some(w) if w.mesh_networks => istio::mesh_networks_configmap(snap),
                _ => Ok(None),
            },
        }
    }

    fn active_members(&self) -> impl Iterator<Item = (&'a ClusterName, &'a MemberState)> + '_ {
        self.snap
            .members
            .iter()
            .zip(&self.active)
            .filter(|(_, on)| **on)
            .map(|((n, m), _)| (n, m.as_ref()))
    }
}

/// The services with an export in an active member.
pub fn exported_services(ctx: &PassContext<'_>) -> BTreeSet<NsName> {
    let mut out = BTreeSet::new();
    for (_, member) in ctx.active_members() {
        out.extend(member.exports.keys().cloned());
    }
    out
}

/// Whether `key` has an export in an active member.
pub fn is_exported(ctx: &PassContext<'_>, key: &NsName) -> bool {
    ctx.active_members()
        .any(|(_, m)| m.exports.contains_key(key))
}

/// Step 1 of a service: its valid exports, derived properties, blocking user imports and
/// adoptable VIPs.
pub fn service_basis(ctx: &PassContext<'_>, key: &NsName) -> ServiceBasis {
    let mut basis = ServiceBasis::default();
    let mut constituents: Vec<Constituent<'_>> = Vec::new();
    for (cluster, member) in ctx.active_members() {
        let Some(export) = member.exports.get(key) else {
            continue;
        };
        if verdict_base(member, key).is_err() {
            basis.invalid_exports += 1;
            continue;
        }
        if let Some(service) = member.services.get(key) {
            constituents.push(Constituent {
                cluster,
                export,
                service,
            });
        }
    }
    let Some(mut d) = conflicts::derive(&constituents) else {
        return basis;
    };
    for (cluster, member) in &ctx.snap.members {
        if member.imports.get(key).is_some_and(|i| !i.owned_by_us) {
            basis.blocked.insert(cluster.clone());
        }
    }
    if !basis.blocked.is_empty() {
        let names: Vec<&str> = basis.blocked.iter().map(String::as_str).collect();
        d.conflicts.push(ConflictEntry {
            reason: IMPORT_CONFLICT,
            message: format!(
                "A ServiceImport {key} not managed by Isthmus exists in cluster(s) {}; it is left untouched and the service is not imported there.",
                names.join(", ")
            ),
        });
    }
    if !d.headless {
        basis.families = Some(if d.ip_families.is_empty() {
            vec![ctx.default_family.to_owned()]
        } else {
            d.ip_families.clone()
        });
        for member in ctx.snap.members.values() {
            if let Some(import) = member.imports.get(key).filter(|i| i.owned_by_us) {
                basis
                    .adoptable
                    .extend(import.ips.iter().filter_map(|ip| ip.parse::<IpAddr>().ok()));
            }
        }
    }
    basis.derived = Some(d);
    basis
}

/// Step 2: the clusterset VIPs of every service, from the bases of all of them.
pub fn allocate_vips<'a>(
    cfg: &ReconcileConfig,
    bases: impl Iterator<Item = (&'a NsName, &'a ServiceBasis)>,
) -> BTreeMap<NsName, Vec<String>> {
    let mut wanted: BTreeMap<NsName, Vec<String>> = BTreeMap::new();
    let mut adoptable: BTreeMap<NsName, BTreeSet<IpAddr>> = BTreeMap::new();
    for (key, b) in bases {
        if let Some(f) = &b.families {
            wanted.insert(key.clone(), f.clone());
            if !b.adoptable.is_empty() {
                adoptable.insert(key.clone(), b.adoptable.clone());
            }
        }
    }
    vip::allocate(&cfg.clusterset_cidrs, &wanted, &adoptable)
}

fn shared(v: Value) -> Option<Arc<DesiredObject>> {
    DesiredObject::new(v).map(Arc::new)
}

/// Step 3: the objects of a service, where they go, and its exports' statuses and events.
pub fn service_outcome(
    ctx: &PassContext<'_>,
    key: &NsName,
    basis: ServiceBasis,
    vips: Vec<String>,
) -> ServiceOutcome {
    let mut out = ServiceOutcome {
        vips,
        ..ServiceOutcome::default()
    };
    if let Some(d) = &basis.derived {
        let families = basis.families.as_deref().unwrap_or_default();
        for (i, (cluster, member)) in ctx.snap.members.iter().enumerate() {
            if !member.namespaces.contains(&key.namespace) || basis.blocked.contains(cluster) {
                continue;
            }
            out.members.push(u32::try_from(i).unwrap_or(u32::MAX));
            if !out.imports.contains_key(&member.mcs_version)
                && let Some(o) = shared(imports::service_import(
                    key,
                    d,
                    &out.vips,
                    families,
                    member.mcs_version,
                ))
            {
                out.imports.insert(member.mcs_version, o);
            }
        }
        if !out.members.is_empty() {
            let family = d
                .ip_families
                .first()
                .map_or(ctx.default_family, String::as_str);
            out.slices = d
                .clusters
                .iter()
                .flat_map(|source| {
                    let slices = ctx.snap.members.get(source).and_then(|m| m.slices.get(key));
                    imports::imported_slices(key, source, slices, family)
                })
                .filter_map(shared)
                .collect();
        }
    }
    let conflict = basis
        .derived
        .as_ref()
        .filter(|d| !d.conflicts.is_empty())
        .map(|d| {
            (
                conflicts::joined_reason(&d.conflicts),
                conflicts::joined_message(&d.conflicts),
            )
        });
    for (cluster, member) in ctx.active_members() {
        let Some(export) = member.exports.get(key) else {
            continue;
        };
        let verdict = match verdict_base(member, key) {
            Err(v) => v,
            Ok(()) => Verdict::Exported {
                imported_in: out.members.len(),
                conflict: conflict.clone(),
            },
        };
        let was = status::was_conflicted(export);
        match &verdict {
            Verdict::Exported {
                conflict: Some((reason, message)),
                ..
            } if !was => out.events.push(EventIntent {
                cluster: cluster.clone(),
                export: key.clone(),
                type_: EventType::Warning,
                reason: reason.clone(),
                message: message.clone(),
            }),
            Verdict::Exported { conflict: None, .. } if was => out.events.push(EventIntent {
                cluster: cluster.clone(),
                export: key.clone(),
                type_: EventType::Normal,
                reason: "ConflictResolved".to_owned(),
                message: "The export no longer conflicts with other exports".to_owned(),
            }),
            _ => {}
        }
        out.export_status.push((
            cluster.clone(),
            status::export_status(export, &verdict, ctx.now),
        ));
    }
    out.basis = basis;
    out
}

/// The per-member part of a pass: Istio wiring objects and the member's status (without its
/// import count).
pub fn member_part(
    ctx: &PassContext<'_>,
    index: usize,
    member: &MemberState,
) -> (Vec<Arc<DesiredObject>>, MemberStatus) {
    let mut mstatus = MemberStatus {
        reachable: member.reachability == Reachability::Reachable,
        withdrawn: !ctx.active.get(index).copied().unwrap_or(false),
        network: member.info.network.clone(),
        exports: member.exports.len(),
        ..MemberStatus::default()
    };
    let mut objects = Vec::new();
    if let Some(wiring) = &ctx.cfg.istio {
        let mesh_networks = match &ctx.mesh_networks {
            Ok(m) => m.as_ref(),
            Err(e) => {
                mstatus.notes.push(e.clone());
                None
            }
        };
        objects = istio::objects(
            ctx.snap,
            member,
            wiring,
            mesh_networks,
            ctx.now,
            &mut mstatus,
        )
        .into_iter()
        .filter_map(shared)
        .collect();
        istio::gateway_address(member, &mut mstatus);
        istio::root_of_trust(member, wiring, &mut mstatus);
    }
    (objects, mstatus)
}

/// Computes the desired state of every member from `snap` at `now`: the whole computation of
/// [`Reconciler`], without a previous pass to reuse.
pub fn reconcile(snap: &Snapshot, cfg: &ReconcileConfig, now: Timestamp) -> Desired {
    Reconciler::new()
        .pass(snap, Dirty::all(), cfg, now)
        .to_desired()
}

pub mod incremental;
pub use incremental::{Reconciler, SharedDesired};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod istio_tests;
#[cfg(test)]
mod tests;
