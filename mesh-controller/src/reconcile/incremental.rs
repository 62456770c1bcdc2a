//! Incremental reconcile: a pass recomputes only the services the index marked dirty (and
//! every service when membership, reachability, MCS versions or the VIP ranges changed),
//! through the same per-service functions a full reconcile uses, and reuses the previous
//! pass's outcome for the others. VIPs are allocated over every service on every pass (cheap:
//! one entry per service), and a service whose VIPs moved is rebuilt, so the result is always
//! what a full reconcile of the same snapshot gives.
//!
//! The result, [`SharedDesired`], keeps every object once per service (behind an `Arc`) plus,
//! per service, the positions of the members that get it: a member's objects are references,
//! not copies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use isthmus_api::mcs::ServiceExportStatus;
use jiff::Timestamp;
use serde_json::Value;

use super::{
    PassContext, ServiceBasis, ServiceOutcome, allocate_vips, exported_services, is_exported,
    member_part, service_basis, service_outcome,
};
use crate::index::Dirty;
use crate::model::{
    ClusterName, Desired, DesiredObject, EventIntent, McsVersion, MemberStatus, NsName,
    ReconcileConfig, Snapshot, Summary,
};

/// The state kept between passes: every exported service's last outcome.
#[derive(Debug, Default)]
pub struct Reconciler {
    services: BTreeMap<NsName, Arc<ServiceOutcome>>,
    members: Vec<ClusterName>,
    active: Vec<bool>,
    cidrs: Vec<IpNet>,
    grace: Duration,
    primed: bool,
}

/// What one pass recomputed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Whether every service was recomputed.
    pub full: bool,
    /// Services whose outcome was recomputed.
    pub recomputed: usize,
}

/// The desired state of the whole clusterset after a pass, objects shared between members.
#[derive(Clone, Debug, Default)]
pub struct SharedDesired {
    /// Member names, in snapshot order (the positions [`ServiceOutcome::members`] refer to).
    pub members: Vec<ClusterName>,
    /// The MCS version each member serves, same order.
    pub versions: Vec<McsVersion>,
    /// Every exported service's outcome.
    pub services: BTreeMap<NsName, Arc<ServiceOutcome>>,
    /// Per member (same order): objects that are not per service (Istio wiring).
    pub member_objects: Vec<Vec<Arc<DesiredObject>>>,
    /// Per member status.
    pub member_status: BTreeMap<ClusterName, MemberStatus>,
    /// Counts.
    pub summary: Summary,
    /// What the pass recomputed.
    pub stats: PassStats,
}

impl Reconciler {
    /// A reconciler without history: its first pass computes everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// One pass over `snap`: recomputes what `dirty` marks (everything when the members, their
    /// reachability or the settings changed since the previous pass, or on the first pass).
    /// The configuration must stay the same between passes except for the VIP ranges and the
    /// grace period, whose changes are detected.
    pub fn pass(
        &mut self,
        snap: &Snapshot,
        dirty: Dirty,
        cfg: &ReconcileConfig,
        now: Timestamp,
    ) -> SharedDesired {
        let ctx = PassContext::new(snap, cfg, now);
        let members: Vec<ClusterName> = snap.members.keys().cloned().collect();
        let full = dirty.all
            || !self.primed
            || members != self.members
            || ctx.active != self.active
            || cfg.clusterset_cidrs != self.cidrs
            || cfg.unreachable_grace != self.grace;

        // 1. The bases of the services to recompute.
        let mut bases: BTreeMap<NsName, ServiceBasis> = BTreeMap::new();
        if full {
            self.services.clear();
            for key in exported_services(&ctx) {
                let b = service_basis(&ctx, &key);
                bases.insert(key, b);
            }
        } else {
            let mut keys: BTreeSet<NsName> = dirty.services;
            if !dirty.namespaces.is_empty() {
                keys.extend(
                    self.services
                        .keys()
                        .filter(|k| dirty.namespaces.contains(&k.namespace))
                        .cloned(),
                );
            }
            for key in keys {
                if is_exported(&ctx, &key) {
                    let b = service_basis(&ctx, &key);
                    bases.insert(key, b);
                } else {
                    self.services.remove(&key);
                }
            }
        }

        // 2. VIPs over every service.
        let vips = allocate_vips(
            cfg,
            bases.iter().chain(
                self.services
                    .iter()
                    .filter(|(k, _)| !bases.contains_key(*k))
                    .map(|(k, o)| (k, &o.basis)),
            ),
        );
        let vips_of = |k: &NsName| vips.get(k).cloned().unwrap_or_default();

        // 3. Outcomes: the recomputed services, and those whose VIPs moved.
        let mut recomputed = 0;
        let moved: Vec<NsName> = self
            .services
            .iter()
            .filter(|(k, o)| !bases.contains_key(*k) && o.vips != vips_of(k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in moved {
            if let Some(old) = self.services.get(&key) {
                let basis = old.basis.clone();
                let o = service_outcome(&ctx, &key, basis, vips_of(&key));
                self.services.insert(key, Arc::new(o));
                recomputed += 1;
            }
        }
        for (key, basis) in bases {
            let v = vips_of(&key);
            let o = service_outcome(&ctx, &key, basis, v);
            self.services.insert(key, Arc::new(o));
            recomputed += 1;
        }

        // 4. Per member: Istio wiring and status.
        let mut member_objects = Vec::with_capacity(members.len());
        let mut member_status = BTreeMap::new();
        let mut imports = vec![0usize; members.len()];
        for o in self.services.values() {
            for &i in &o.members {
                if let Some(n) = imports.get_mut(i as usize) {
                    *n += 1;
                }
            }
        }
        let mut summary = Summary::default();
        for (i, (name, member)) in snap.members.iter().enumerate() {
            let (objects, mut st) = member_part(&ctx, i, member);
            st.imports = imports.get(i).copied().unwrap_or(0);
            summary.objects += objects.len();
            member_objects.push(objects);
            member_status.insert(name.clone(), st);
        }
        for o in self.services.values() {
            summary.invalid_exports += o.basis.invalid_exports;
            if let Some(d) = &o.basis.derived {
                summary.services += 1;
                if !d.conflicts.is_empty() {
                    summary.conflicts += 1;
                }
            }
            summary.objects += o.members.len() * (1 + o.slices.len());
        }

        self.members.clone_from(&members);
        self.active = ctx.active;
        self.cidrs.clone_from(&cfg.clusterset_cidrs);
        self.grace = cfg.unreachable_grace;
        self.primed = true;
        SharedDesired {
            versions: snap.members.values().map(|m| m.mcs_version).collect(),
            members,
            services: self.services.clone(),
            member_objects,
            member_status,
            summary,
            stats: PassStats { full, recomputed },
        }
    }
}

impl SharedDesired {
    /// Every member's objects (same order as [`Self::members`]), unsorted: references to the
    /// shared objects.
    pub fn objects_by_member(&self) -> Vec<Vec<Arc<DesiredObject>>> {
        let mut out: Vec<Vec<Arc<DesiredObject>>> = self.member_objects.clone();
        for o in self.services.values() {
            for &i in &o.members {
                let i = i as usize;
                let (Some(list), Some(v)) = (out.get_mut(i), self.versions.get(i)) else {
                    continue;
                };
                if let Some(import) = o.imports.get(v) {
                    list.push(import.clone());
                }
                list.extend(o.slices.iter().cloned());
            }
        }
        out
    }

    /// Every ServiceExport status: (cluster, export, status).
    pub fn export_statuses(
        &self,
    ) -> impl Iterator<Item = (&ClusterName, &NsName, &ServiceExportStatus)> {
        self.services
            .iter()
            .flat_map(|(k, o)| o.export_status.iter().map(move |(c, s)| (c, k, s)))
    }

    /// The Events to record, sorted by cluster and export.
    pub fn events(&self) -> Vec<EventIntent> {
        let mut ev: Vec<EventIntent> = self
            .services
            .values()
            .flat_map(|o| o.events.iter().cloned())
            .collect();
        ev.sort();
        ev
    }

    /// The same state as a [`Desired`] without its objects (statuses, events, counts).
    pub fn to_desired_without_objects(&self) -> Desired {
        Desired {
            objects: BTreeMap::new(),
            export_status: self
                .export_statuses()
                .map(|(c, k, s)| ((c.clone(), k.clone()), s.clone()))
                .collect(),
            member_status: self.member_status.clone(),
            events: self.events(),
            summary: self.summary.clone(),
        }
    }

    /// The whole state as a [`Desired`]: every member's complete objects, sorted by
    /// (apiVersion, kind, namespace, name).
    pub fn to_desired(&self) -> Desired {
        let mut d = self.to_desired_without_objects();
        for (name, mut objs) in self.members.iter().zip(self.objects_by_member()) {
            objs.sort_by(|a, b| a.key.cmp(&b.key));
            let values: Vec<Value> = objs.iter().map(|o| o.to_value()).collect();
            d.objects.insert(name.clone(), values);
        }
        d
    }
}
