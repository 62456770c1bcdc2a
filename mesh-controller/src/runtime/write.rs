//! The writes of one pass: each reachable member's plan, completed and converted to the MCS
//! version it serves, handed to its applier; members are written concurrently, each within
//! the write timeout.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, error, info_span, warn};

use super::istio::restart_istiod;
use super::reconcile_loop::Loop;
use crate::apply::{ClusterApplier, PER_WRITE_TIMEOUT, SyncReport, error_class, to_served_version};
use crate::members::{self, MemberStatus, Reachability};
use crate::model::{DesiredObject, IstioFact, IstiodState};
use crate::plan::ClusterPlan;

/// Writes in flight at once over all members (each member also has its own bound).
pub(super) const WRITES_IN_FLIGHT: usize = 1024;

/// Background prune listings in flight at once over all members.
pub(super) const LISTINGS_IN_FLIGHT: usize = 4;

/// The kinds full passes list for pruning even when none is desired: the MCS kinds and
/// imported slices, and with Istio wiring the mesh networks ConfigMap (listed in
/// `istio-system` only).
fn managed_kinds(mcs_version: Option<&str>, istio: bool) -> Vec<(String, String)> {
    let mut kinds = vec![("discovery.k8s.io/v1".to_owned(), "EndpointSlice".to_owned())];
    if let Some(v) = mcs_version {
        kinds.push((
            format!("{}/{v}", isthmus_api::mcs::GROUP),
            "ServiceImport".to_owned(),
        ));
    }
    if istio {
        kinds.push(("v1".to_owned(), "ConfigMap".to_owned()));
    }
    kinds
}

impl Loop {
    pub(super) async fn write(
        &mut self,
        mut plans: BTreeMap<String, ClusterPlan>,
        statuses: &[MemberStatus],
        full: bool,
        full_for: &mut Vec<String>,
    ) -> Vec<SyncReport> {
        let mut jobs = Vec::new();
        for (m, st) in self.members.iter().zip(statuses) {
            if !matches!(st.reachability, Reachability::Reachable) {
                // Skip: nothing can be written; start over with a full pass once it is back.
                if let Some(a) = self.appliers.get_mut(&m.spec.name) {
                    a.invalidate();
                }
                continue;
            }
            let cp = plans.remove(&m.spec.name).unwrap_or_default();
            let mut objects: Vec<Arc<DesiredObject>> = cp.shared;
            let mut plain: Vec<Value> = cp.objects;
            // The About-API properties, unless the plan already has them.
            for p in members::cluster_properties(&m.spec.name, &self.cfg.clusterset) {
                let name = p.pointer("/metadata/name").and_then(Value::as_str);
                let present = objects
                    .iter()
                    .any(|o| o.key.kind == "ClusterProperty" && Some(o.key.name.as_str()) == name)
                    || plain.iter().any(|o| {
                        o.get("kind").and_then(Value::as_str) == Some("ClusterProperty")
                            && o.pointer("/metadata/name").and_then(Value::as_str) == name
                    });
                if !present {
                    plain.push(p);
                }
            }
            let mut sts = cp.statuses;
            if !cp.rewrite_namespaces.is_empty()
                && let Some(a) = self.appliers.get_mut(&m.spec.name)
            {
                a.forget_namespaces(&cp.rewrite_namespaces);
            }
            if let Some(v) = st.mcs_version.as_deref() {
                for o in &mut plain {
                    to_served_version(o, v);
                }
                // The reconcile writes the MCS version the index knows; a member whose version
                // changed since gets converted copies.
                for o in &mut objects {
                    if let Some((g, ver)) = o.key.api_version.split_once('/')
                        && g == isthmus_api::mcs::GROUP
                        && ver != v
                        && let Some(conv) = o.with_api_version(&format!("{g}/{v}"))
                    {
                        *o = Arc::new(conv);
                    }
                }
                for s in &mut sts {
                    if let Some((g, _)) = s.api_version.split_once('/')
                        && g == isthmus_api::mcs::GROUP
                    {
                        s.api_version = format!("{g}/{v}");
                    }
                }
            }
            for o in plain {
                match DesiredObject::new(o) {
                    Some(d) => objects.push(Arc::new(d)),
                    None => {
                        warn!(cluster = %m.spec.name, "skipping a desired object without apiVersion, kind or metadata.name");
                        self.metrics
                            .apply_error(&m.spec.name, "unknown", "invalid_desired");
                    }
                }
            }
            let member_full = full || full_for.contains(&m.spec.name);
            let limit = self.write_limit.clone();
            let list_limit = self.list_limit.clone();
            let applier = self.appliers.remove(&m.spec.name).unwrap_or_else(|| {
                ClusterApplier::new(
                    &m.spec.name,
                    m.client.clone(),
                    managed_kinds(st.mcs_version.as_deref(), self.cfg.istio.is_some()),
                )
                .with_limit(limit)
                .with_list_limit(list_limit)
                .with_fence(self.leader.clone())
                .with_write_deadline(PER_WRITE_TIMEOUT.min(self.cfg.write_timeout))
            });
            let mut evs = cp.events;
            if let Some(v) = st.mcs_version.as_deref() {
                for e in &mut evs {
                    if let Some((g, _)) = e.api_version.split_once('/')
                        && g == isthmus_api::mcs::GROUP
                    {
                        e.api_version = format!("{g}/{v}");
                    }
                }
            }
            let restart = cp.restart_istiod.map(|r| (m.client.clone(), r));
            jobs.push((applier, objects, sts, evs, member_full, restart));
        }
        full_for.retain(|n| !jobs.iter().any(|(a, ..)| a.cluster() == n));
        let metrics = self.metrics.clone();
        let mut set: JoinSet<(ClusterApplier, SyncReport, Option<IstiodState>)> = JoinSet::new();
        let timeout = self.cfg.write_timeout;
        for (mut applier, objects, sts, evs, member_full, restart) in jobs {
            // Checked before every member's batch (and by every write of it).
            if !self.leader.is_leading() {
                debug!(cluster = %applier.cluster(), "not leading any more: batch not started");
                continue;
            }
            let fence = self.leader.clone();
            let metrics = metrics.clone();
            let span = info_span!("apply", cluster = %applier.cluster(), full = member_full);
            set.spawn(
                async move {
                    // A member that accepts connections but stops answering must not hold
                    // the other members' writes: the pass for it is cut short and retried.
                    let sync = applier.sync(objects, &sts, &evs, member_full, &metrics);
                    // Leadership lost: the writes in flight are cancelled at once.
                    let sync = async {
                        tokio::select! {
                            report = sync => Some(report),
                            () = fence.lost() => None,
                        }
                    };
                    let mut report = match tokio::time::timeout(timeout, sync).await {
                        Ok(Some(report)) => report,
                        Ok(None) => {
                            warn!(cluster = %applier.cluster(), "leadership lost: writes in flight cancelled");
                            metrics.apply_error(applier.cluster(), "*", "not_leader");
                            SyncReport {
                                errors: 1,
                                ..SyncReport::default()
                            }
                        }
                        Err(_) => {
                            warn!(cluster = %applier.cluster(), ?timeout, "writes to the member timed out; retrying on the next pass");
                            metrics.apply_error(applier.cluster(), "*", "timeout");
                            // What was written is recorded as it completes; the rest (and an
                            // interrupted prune listing) is done by the next pass.
                            SyncReport {
                                errors: 1,
                                ..SyncReport::default()
                            }
                        }
                    };
                    let mut istiod = None;
                    if let Some((client, req)) = restart.filter(|_| fence.is_leading()) {
                        let cluster = applier.cluster().to_owned();
                        let r = tokio::time::timeout(
                            timeout,
                            restart_istiod(&cluster, &client, &req, &metrics),
                        )
                        .await;
                        match r {
                            Ok(Ok(state)) => istiod = Some(state),
                            Ok(Err(e)) => {
                                warn!(cluster = %cluster, error = %e, "cannot restart istiod; retrying on the next pass");
                                metrics.apply_error(&cluster, "Deployment", error_class(&e));
                                report.errors += 1;
                            }
                            Err(_) => {
                                warn!(cluster = %cluster, ?timeout, "restarting istiod timed out; retrying on the next pass");
                                metrics.apply_error(&cluster, "Deployment", "timeout");
                                report.errors += 1;
                            }
                        }
                    }
                    (applier, report, istiod)
                }
                .instrument(span),
            );
        }
        let mut reports = Vec::new();
        while let Some(res) = set.join_next().await {
            let Ok((applier, report, istiod)) = res else {
                error!("an apply task panicked");
                continue;
            };
            if let Some(state) = istiod
                && self
                    .engine
                    .observe(applier.cluster(), IstioFact::Istiod(state))
            {
                // The next pass sees the restart (and stops asking for it).
                self.notify.notify_one();
            }
            self.appliers.insert(applier.cluster().to_owned(), applier);
            reports.push(report);
        }
        if !self.leader.is_leading() {
            // Another replica may write from now on: forget what this one wrote; its next
            // term adopts what the members hold.
            self.appliers.clear();
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_kinds_follow_the_served_mcs_version() {
        let k = managed_kinds(Some("v1alpha1"), false);
        assert!(k.contains(&(
            "multicluster.x-k8s.io/v1alpha1".into(),
            "ServiceImport".into()
        )));
        assert_eq!(managed_kinds(None, false).len(), 1);
        assert!(managed_kinds(None, true).contains(&("v1".into(), "ConfigMap".into())));
    }
}
