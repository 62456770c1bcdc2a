//! One pass: reconcile, publish to discovery subscribers, write (when leading), and report.

use jiff::Timestamp;
use tokio::time::Instant;
use tracing::{debug, info};

use super::reconcile_loop::Loop;
use super::summary::PassSummary;
use crate::members::{MemberStatus, Reachability};
use crate::metrics::{MemberStateLabel, StateLabels};

impl Loop {
    /// One pass; returns the number of failed writes.
    pub(super) async fn pass(&mut self, full: bool, full_for: &mut Vec<String>) -> usize {
        let started = Instant::now();
        let statuses: Vec<MemberStatus> = self.members.iter().map(|m| m.health.status()).collect();
        self.update_member_metrics(&statuses);
        let plan = self.engine.plan(&statuses, Timestamp::now());
        let planned = started.elapsed();
        self.metrics
            .exports
            .set(i64::try_from(plan.exports).unwrap_or(i64::MAX));
        self.metrics
            .imports
            .set(i64::try_from(plan.imports).unwrap_or(i64::MAX));
        self.metrics
            .conflicts
            .set(i64::try_from(plan.conflicts).unwrap_or(i64::MAX));
        for (cluster, cp) in &plan.clusters {
            let labels = crate::metrics::ClusterLabels {
                cluster: cluster.clone(),
            };
            match cp.foreign_root {
                Some(foreign) => {
                    self.metrics
                        .member_istio_foreign_root
                        .get_or_create(&labels)
                        .set(i64::from(foreign));
                }
                None => {
                    self.metrics.member_istio_foreign_root.remove(&labels);
                }
            }
        }
        let is_leader = self.leader.is_leading();
        self.metrics.leader.set(i64::from(is_leader));
        let pending: Vec<&str> = statuses
            .iter()
            .filter(|s| matches!(s.reachability, Reachability::Pending))
            .map(|s| s.name.as_str())
            .collect();
        let mut summary = PassSummary {
            passes: self.summary.borrow().passes,
            exports: plan.exports,
            imports: plan.imports,
            conflicts: plan.conflicts,
            errors: 0,
            wrote: false,
        };
        // Every replica publishes the desired state to its discovery subscribers, once every
        // member is synced or unreachable (a partial snapshot would withdraw names).
        if pending.is_empty()
            && let Some(d) = &self.discovery
        {
            d.publish(&plan.clusters);
        }
        // Writing from a partial snapshot could prune or re-allocate what a not-yet-listed
        // member holds, so nothing is written until every member is synced or unreachable.
        if is_leader && pending.is_empty() {
            let reports = self.write(plan.clusters, &statuses, full, full_for).await;
            summary.errors = reports.iter().map(|r| r.errors).sum();
            summary.wrote = true;
            let applied: usize = reports
                .iter()
                .map(|r| r.applied + r.pruned + r.statuses)
                .sum();
            if applied > 0 || summary.errors > 0 {
                info!(
                    applied = reports.iter().map(|r| r.applied).sum::<usize>(),
                    pruned = reports.iter().map(|r| r.pruned).sum::<usize>(),
                    statuses = reports.iter().map(|r| r.statuses).sum::<usize>(),
                    errors = summary.errors,
                    exports = plan.exports,
                    imports = plan.imports,
                    conflicts = plan.conflicts,
                    "reconciled"
                );
            }
        } else if !pending.is_empty() {
            debug!(pending = %pending.join(","), "waiting for members to sync before writing");
        }
        summary.passes += 1;
        debug!(
            plan_ms = planned.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            wrote = summary.wrote,
            "pass done"
        );
        self.metrics.reconciles.inc();
        self.metrics
            .reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        let errors = summary.errors;
        self.summary.send_replace(summary);
        errors
    }

    fn update_member_metrics(&self, statuses: &[MemberStatus]) {
        let mut counts = [0i64; 3];
        for s in statuses {
            let i = match s.reachability {
                Reachability::Pending => 0,
                Reachability::Reachable => 1,
                Reachability::Unreachable { .. } => 2,
            };
            counts[i] += 1;
            self.metrics
                .member_reachable
                .get_or_create(&crate::metrics::ClusterLabels {
                    cluster: s.name.clone(),
                })
                .set(i64::from(i == 1));
            if let Some(v) = &s.mcs_version {
                self.metrics
                    .member_mcs_version
                    .get_or_create(&crate::metrics::ClusterVersionLabels {
                        cluster: s.name.clone(),
                        version: v.clone(),
                    })
                    .set(1);
            }
        }
        for (state, n) in [
            (MemberStateLabel::Pending, counts[0]),
            (MemberStateLabel::Reachable, counts[1]),
            (MemberStateLabel::Unreachable, counts[2]),
        ] {
            self.metrics
                .members
                .get_or_create(&StateLabels { state })
                .set(n);
        }
    }
}
