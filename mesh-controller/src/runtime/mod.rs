//! The live controller runtime: member registry, watches, the reconcile loop and the writes.
//!
//! The runtime is generic over an [`Engine`]: the clusterset index (fed by the watches through
//! [`Sink`]) plus the pure reconcile that turns its snapshot into a [`Plan`]. The runtime owns
//! everything that touches clusters: clients, discovery, watches, health probes, leader
//! election, the applier, and the HTTP endpoints.

pub mod engine;
pub mod hub;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::Client;
use kube::api::DynamicObject;
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::apply::{ClusterApplier, SyncReport, to_served_version};
use crate::backoff::Backoff;
use crate::leader::{LeaderElector, LeaseConfig};
pub use crate::members;
use crate::members::{MemberError, MemberHealth, MemberSpec, MemberStatus, Reachability};
use crate::metrics::{MemberStateLabel, Metrics, StateLabels};
use crate::model::DesiredObject;
pub use crate::plan::{ClusterPlan, Plan, SharedPlan};
use crate::server::{self, Readiness};
use crate::watch::{Sink, WatchContext, WatchKind, spawn_member_watches};

/// Errors starting the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A member's client could not be built.
    #[error(transparent)]
    Member(#[from] MemberError),
    /// The HTTP endpoints could not be served.
    #[error(transparent)]
    Server(#[from] server::ServerError),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The discovery API could not be served.
    #[error(transparent)]
    Discovery(#[from] crate::discovery::DiscoveryError),
}

/// The index plus the pure reconcile, as the runtime sees them.
pub trait Engine: Sink {
    /// Reconciles the current snapshot, given the members' status, at `now`.
    fn plan(&self, members: &[MemberStatus], now: Timestamp) -> Plan;
}

/// How the replica decides whether it writes.
#[derive(Clone, Debug)]
pub enum LeaderMode {
    /// Always write (single replica, demo, tests).
    Disabled,
    /// Hold a Lease before writing.
    Lease {
        /// Cluster holding the Lease: this kubeconfig, or the first member when `None`.
        kubeconfig: Option<PathBuf>,
        /// Lease settings.
        config: LeaseConfig,
    },
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Clusterset name (About-API `clusterset.k8s.io`).
    pub clusterset: String,
    /// Members.
    pub members: Vec<MemberSpec>,
    /// Where to serve `/healthz`, `/readyz`, `/metrics` (`None`: not served).
    pub metrics_listen: Option<SocketAddr>,
    /// A member whose watches (or probe) all fail this long is unreachable.
    pub unreachable_after: Duration,
    /// The reconcile's grace period for unreachable members: a pass is scheduled when it
    /// expires, so their exports are withdrawn on time.
    pub unreachable_grace: Duration,
    /// Full resync period (re-apply everything, prune by listing).
    pub resync_period: Duration,
    /// Quiet time after an event before reconciling.
    pub debounce: Duration,
    /// Health probe period.
    pub probe_period: Duration,
    /// Server-side timeout of watch requests.
    pub watch_timeout: Duration,
    /// Longest time one pass may spend writing to one member.
    pub write_timeout: Duration,
    /// Leader election.
    pub leader: LeaderMode,
    /// Serve ClusterSet discovery over gRPC (every replica, leader or not).
    pub discovery: Option<crate::discovery::DiscoveryConfig>,
}

impl RunConfig {
    /// Defaults for `members`: 10 s unreachable threshold, 5 min resync, 100 ms debounce,
    /// 2 s probe, no leader election, no HTTP endpoints.
    pub fn new(clusterset: impl Into<String>, members: Vec<MemberSpec>) -> Self {
        Self {
            clusterset: clusterset.into(),
            members,
            metrics_listen: None,
            unreachable_after: Duration::from_secs(10),
            unreachable_grace: crate::model::DEFAULT_UNREACHABLE_GRACE,
            resync_period: Duration::from_secs(300),
            debounce: Duration::from_millis(100),
            probe_period: Duration::from_secs(2),
            watch_timeout: Duration::from_secs(290),
            write_timeout: Duration::from_secs(30),
            leader: LeaderMode::Disabled,
            discovery: None,
        }
    }
}

/// A summary of the last completed pass, for status tables and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassSummary {
    /// Completed passes that wrote (or would have written) to clusters.
    pub passes: u64,
    /// The last plan's counts.
    pub exports: usize,
    /// Imports desired.
    pub imports: usize,
    /// Exports in conflict.
    pub conflicts: usize,
    /// Write errors in the last pass.
    pub errors: usize,
    /// Whether this replica wrote in the last pass.
    pub wrote: bool,
}

struct Member {
    spec: MemberSpec,
    client: Client,
    health: MemberHealth,
}

/// Forwards watch updates to the engine and wakes the reconcile loop.
struct NotifyingSink {
    engine: Arc<dyn Engine>,
    notify: Arc<Notify>,
}

impl NotifyingSink {
    fn wake(&self, changed: bool) -> bool {
        if changed {
            self.notify.notify_one();
        }
        changed
    }
}

impl Sink for NotifyingSink {
    fn replace(&self, cluster: &str, kind: WatchKind, objects: Vec<DynamicObject>) -> bool {
        self.wake(self.engine.replace(cluster, kind, objects))
    }
    fn apply(&self, cluster: &str, kind: WatchKind, object: DynamicObject) -> bool {
        self.wake(self.engine.apply(cluster, kind, object))
    }
    fn delete(&self, cluster: &str, kind: WatchKind, object: DynamicObject) -> bool {
        self.wake(self.engine.delete(cluster, kind, object))
    }
}

/// A running controller.
pub struct ControllerHandle {
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    health: Vec<MemberHealth>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The bound address of the HTTP endpoints, when served.
    pub metrics_addr: Option<SocketAddr>,
    /// The bound address of the discovery API, when served.
    pub discovery_addr: Option<SocketAddr>,
    /// The discovery publisher, when served.
    pub publisher: Option<Arc<mesh_proto::publisher::Publisher>>,
    summary: watch::Receiver<PassSummary>,
    leader: watch::Receiver<bool>,
}

impl ControllerHandle {
    /// Every member's status.
    pub fn members(&self) -> Vec<MemberStatus> {
        self.health.iter().map(MemberHealth::status).collect()
    }

    /// The last pass summary.
    pub fn summary(&self) -> PassSummary {
        self.summary.borrow().clone()
    }

    /// A receiver of pass summaries (changes after every pass).
    pub fn summaries(&self) -> watch::Receiver<PassSummary> {
        self.summary.clone()
    }

    /// Whether this replica currently writes.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Ready once every reachable member has synced once.
    pub fn ready(&self) -> Result<(), String> {
        readiness(&self.health)
    }

    /// Stops every task and waits for them.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until `cancel` fires or a task ends unexpectedly, then stops everything.
    pub async fn run_until(mut self, cancel: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = cancel => {}
            Some(res) = self.tasks.join_next() => {
                if let Err(e) = res {
                    error!(error = %e, "controller task ended unexpectedly");
                }
            }
        }
        self.shutdown().await;
    }
}

fn readiness(health: &[MemberHealth]) -> Result<(), String> {
    let waiting: Vec<String> = health
        .iter()
        .map(MemberHealth::status)
        .filter(|s| {
            matches!(s.reachability, Reachability::Pending)
                || (!s.synced_once && !matches!(s.reachability, Reachability::Unreachable { .. }))
        })
        .map(|s| s.name)
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(format!("members not synced yet: {}", waiting.join(", ")))
    }
}

/// The MCS kinds and imported slices pruned on full passes.
fn managed_kinds(mcs_version: Option<&str>) -> Vec<(String, String)> {
    let mut kinds = vec![("discovery.k8s.io/v1".to_owned(), "EndpointSlice".to_owned())];
    if let Some(v) = mcs_version {
        kinds.push((
            format!("{}/{v}", isthmus_api::mcs::GROUP),
            "ServiceImport".to_owned(),
        ));
    }
    kinds
}

/// Starts the controller: clients, watches, probes, leader election, reconcile loop and
/// (when configured) the HTTP endpoints.
pub async fn start(
    cfg: RunConfig,
    engine: Arc<dyn Engine>,
    metrics: Arc<Metrics>,
) -> Result<ControllerHandle, RuntimeError> {
    if cfg.members.is_empty() {
        return Err(RuntimeError::Config("the clusterset has no members".into()));
    }
    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let notify = Arc::new(Notify::new());
    let sink: Arc<dyn Sink> = Arc::new(NotifyingSink {
        engine: engine.clone(),
        notify: notify.clone(),
    });

    let mut members = Vec::new();
    for spec in &cfg.members {
        let client = members::client_for_spec(spec).await?;
        let health = MemberHealth::new(&spec.name, &spec.network);
        health.register_watch("Discovery");
        members.push(Member {
            spec: spec.clone(),
            client,
            health,
        });
    }

    // Per member: discovery, then watches; and a health probe.
    for m in &members {
        let ctx = WatchContext {
            cluster: m.spec.name.clone(),
            client: m.client.clone(),
            mcs_version: None,
            health: m.health.clone(),
            metrics: metrics.clone(),
            sink: sink.clone(),
            watch_timeout: cfg.watch_timeout,
        };
        let cancel_m = cancel.clone();
        let span = info_span!("member", cluster = %m.spec.name);
        tasks.spawn(member_supervisor(ctx, cancel_m).instrument(span));
        let (client, health, period, cancel_p) = (
            m.client.clone(),
            m.health.clone(),
            cfg.probe_period,
            cancel.clone(),
        );
        tasks.spawn(
            async move {
                loop {
                    let r =
                        tokio::time::timeout(Duration::from_secs(2), client.apiserver_version())
                            .await;
                    let r = match r {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(format!("health probe: {e}")),
                        Err(_) => Err("health probe: no answer within 2s".to_owned()),
                    };
                    health.probe(r);
                    tokio::select! {
                        () = cancel_p.cancelled() => break,
                        () = tokio::time::sleep(period) => {}
                    }
                }
            }
            .instrument(info_span!("probe", cluster = %m.spec.name)),
        );
    }

    // Leader election.
    let (leader_tx, leader_rx) = watch::channel(false);
    match &cfg.leader {
        LeaderMode::Disabled => {
            leader_tx.send_replace(true);
        }
        LeaderMode::Lease { kubeconfig, config } => {
            let client = match kubeconfig {
                Some(path) => members::client_for("lease", path, None).await?,
                None => members
                    .first()
                    .map(|m| m.client.clone())
                    .ok_or_else(|| RuntimeError::Config("no cluster to hold the lease".into()))?,
            };
            let elector = LeaderElector::new(client, config.clone());
            let cancel_l = cancel.clone();
            tasks.spawn(
                elector
                    .run(leader_tx, cancel_l)
                    .instrument(info_span!("leader-election")),
            );
        }
    }

    // HTTP endpoints.
    let health_list: Vec<MemberHealth> = members.iter().map(|m| m.health.clone()).collect();
    let mut metrics_addr = None;
    if let Some(addr) = cfg.metrics_listen {
        let (listener, bound) = server::bind(addr).await?;
        metrics_addr = Some(bound);
        let h = health_list.clone();
        let readiness_fn: Readiness = Arc::new(move || readiness(&h));
        let cancel_s = cancel.clone();
        let m = metrics.clone();
        tasks.spawn(async move {
            if let Err(e) = server::serve(listener, m, readiness_fn, async move {
                cancel_s.cancelled().await
            })
            .await
            {
                error!(error = %e, "HTTP endpoints stopped");
            }
        });
        info!(addr = %bound, "serving /healthz, /readyz and /metrics");
    }

    // ClusterSet discovery.
    let discovery = match cfg.discovery.clone() {
        Some(dcfg) => {
            let names = cfg.members.iter().map(|m| m.name.clone()).collect();
            let d = crate::discovery::Discovery::start(
                dcfg,
                names,
                metrics.clone(),
                cancel.clone(),
                &mut tasks,
            )
            .await?;
            Some(Arc::new(d))
        }
        None => None,
    };
    let discovery_addr = discovery.as_ref().map(|d| d.addr());
    let publisher = discovery.as_ref().map(|d| d.publisher().clone());

    // Reconcile loop.
    let (summary_tx, summary_rx) = watch::channel(PassSummary::default());
    let lp = Loop {
        cfg: cfg.clone(),
        engine,
        members,
        metrics: metrics.clone(),
        notify,
        leader: leader_rx.clone(),
        summary: summary_tx,
        appliers: HashMap::new(),
        discovery,
        write_limit: Arc::new(Semaphore::new(WRITES_IN_FLIGHT)),
        list_limit: Arc::new(Semaphore::new(LISTINGS_IN_FLIGHT)),
    };
    let cancel_r = cancel.clone();
    tasks.spawn(lp.run(cancel_r).instrument(info_span!("reconcile-loop")));

    Ok(ControllerHandle {
        cancel,
        tasks,
        health: health_list,
        metrics,
        metrics_addr,
        discovery_addr,
        publisher,
        summary: summary_rx,
        leader: leader_rx,
    })
}

/// First delay before the MCS version discovery of a member is retried; doubled (with jitter)
/// up to [`DISCOVERY_RETRY_MAX`].
const DISCOVERY_RETRY_MIN: Duration = Duration::from_millis(200);
/// Longest delay between discovery retries (before jitter).
const DISCOVERY_RETRY_MAX: Duration = Duration::from_secs(5);

/// Discovers the member's MCS version (retrying while it does not answer), then runs its watches.
async fn member_supervisor(mut ctx: WatchContext, cancel: CancellationToken) {
    let mut backoff = Backoff::new(DISCOVERY_RETRY_MIN, DISCOVERY_RETRY_MAX);
    loop {
        match members::discover_mcs_version(&ctx.client).await {
            Ok(v) => {
                match &v {
                    Some(v) => info!(mcs_version = %v, "member serves the MCS API"),
                    None => warn!(
                        "member does not serve the MCS API (multicluster.x-k8s.io): exports and imports are not watched"
                    ),
                }
                ctx.health.set_mcs_version(v.clone());
                ctx.mcs_version = v;
                ctx.health.remove_watch("Discovery");
                break;
            }
            Err(e) => {
                debug!(error = %e, "discovery failed; retrying");
                ctx.health
                    .watch_failed("Discovery", &format!("discovery: {e}"));
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    let mut tasks = JoinSet::new();
    spawn_member_watches(&ctx, &mut tasks, &cancel);
    while tasks.join_next().await.is_some() {}
}

struct Loop {
    cfg: RunConfig,
    engine: Arc<dyn Engine>,
    members: Vec<Member>,
    metrics: Arc<Metrics>,
    notify: Arc<Notify>,
    leader: watch::Receiver<bool>,
    summary: watch::Sender<PassSummary>,
    appliers: HashMap<String, ClusterApplier>,
    discovery: Option<Arc<crate::discovery::Discovery>>,
    /// Bound on writes in flight over all members.
    write_limit: Arc<Semaphore>,
    /// Bound on background prune listings in flight over all members.
    list_limit: Arc<Semaphore>,
}

/// First delay before a pass retries failed writes; doubled (with jitter) up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest delay between retry passes (before jitter).
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Writes in flight at once over all members (each member also has its own bound).
const WRITES_IN_FLIGHT: usize = 1024;

/// Background prune listings in flight at once over all members.
const LISTINGS_IN_FLIGHT: usize = 4;

impl Loop {
    async fn run(mut self, cancel: CancellationToken) {
        let mut next_resync = Instant::now() + self.cfg.resync_period;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leader = self.leader.clone();
        let mut was_leader = *leader.borrow();
        let notify = self.notify.clone();
        // With leader election disabled the sender is gone: stop listening for changes.
        let mut leader_open = true;
        // Members that need a full pass (first write, recovery, new leadership).
        let mut full_for: Vec<String> = self.members.iter().map(|m| m.spec.name.clone()).collect();
        // Unreachable members whose grace period expired (and got their withdrawal pass).
        let mut withdrawn: std::collections::HashSet<String> = std::collections::HashSet::new();
        // After a pass with failed or unfinished writes, another pass retries them (backing off
        // while they keep failing) instead of waiting for the next change or resync.
        let mut retry_at: Option<Instant> = None;
        let mut retry = Backoff::new(RETRY_MIN, RETRY_MAX);
        loop {
            let mut full = false;
            tokio::select! {
                () = cancel.cancelled() => break,
                () = notify.notified() => {
                    // Debounce: let a burst of events settle.
                    tokio::time::sleep(self.cfg.debounce).await;
                }
                _ = tick.tick() => {
                    let mut changed = false;
                    for m in &self.members {
                        if m.health.evaluate(self.cfg.unreachable_after) {
                            let st = m.health.status();
                            match st.reachability {
                                Reachability::Unreachable { since } => warn!(cluster = %st.name, %since, error = st.last_error.as_deref().unwrap_or(""), "member unreachable"),
                                _ => {
                                    info!(cluster = %st.name, "member reachable again");
                                    full_for.push(st.name.clone());
                                }
                            }
                            changed = true;
                        }
                    }
                    if Instant::now() >= next_resync {
                        next_resync = Instant::now() + self.cfg.resync_period;
                        full = true;
                        debug!("periodic full resync");
                    }
                    // A pass when an unreachable member's grace period expires (withdrawal).
                    let now = Timestamp::now();
                    let grace = jiff::SignedDuration::try_from(self.cfg.unreachable_grace)
                        .unwrap_or(jiff::SignedDuration::MAX);
                    let mut expired_now = false;
                    for m in &self.members {
                        match m.health.status().reachability {
                            Reachability::Unreachable { since } => {
                                if now.duration_since(since) >= grace
                                    && withdrawn.insert(m.spec.name.clone())
                                {
                                    expired_now = true;
                                }
                            }
                            _ => {
                                withdrawn.remove(&m.spec.name);
                            }
                        }
                    }
                    let retry = retry_at.is_some_and(|t| Instant::now() >= t);
                    // A finished background prune listing prunes in a pass.
                    let listed = self.appliers.values().any(ClusterApplier::listing_done);
                    if !changed && !full && !expired_now && !retry && !listed {
                        continue;
                    }
                }
                res = leader.changed(), if leader_open => {
                    if res.is_err() {
                        leader_open = false;
                        continue;
                    }
                    let now_leader = *leader.borrow();
                    if now_leader && !was_leader {
                        full = true;
                    }
                    was_leader = now_leader;
                }
            }
            let errors = self.pass(full, &mut full_for).await;
            if errors > 0 {
                retry_at = Some(Instant::now() + retry.next_delay());
            } else {
                retry_at = None;
                retry.reset();
            }
        }
    }

    /// One pass; returns the number of failed writes.
    async fn pass(&mut self, full: bool, full_for: &mut Vec<String>) -> usize {
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
        let is_leader = *self.leader.borrow();
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

    async fn write(
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
                    managed_kinds(st.mcs_version.as_deref()),
                )
                .with_limit(limit)
                .with_list_limit(list_limit)
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
            jobs.push((applier, objects, sts, evs, member_full));
        }
        full_for.retain(|n| !jobs.iter().any(|(a, ..)| a.cluster() == n));
        let metrics = self.metrics.clone();
        let mut set: JoinSet<(ClusterApplier, SyncReport)> = JoinSet::new();
        let timeout = self.cfg.write_timeout;
        for (mut applier, objects, sts, evs, member_full) in jobs {
            let metrics = metrics.clone();
            let span = info_span!("apply", cluster = %applier.cluster(), full = member_full);
            set.spawn(
                async move {
                    // A member that accepts connections but stops answering must not hold
                    // the other members' writes: the pass for it is cut short and retried.
                    let sync = applier.sync(objects, &sts, &evs, member_full, &metrics);
                    let report = match tokio::time::timeout(timeout, sync).await {
                        Ok(report) => report,
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
                    (applier, report)
                }
                .instrument(span),
            );
        }
        let mut reports = Vec::new();
        while let Some(res) = set.join_next().await {
            let Ok((applier, report)) = res else {
                error!("an apply task panicked");
                continue;
            };
            self.appliers.insert(applier.cluster().to_owned(), applier);
            reports.push(report);
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_waits_for_every_reachable_member() {
        let a = MemberHealth::new("a", "n1");
        let b = MemberHealth::new("b", "n2");
        a.register_watch("Service");
        b.register_watch("Service");
        a.watch_ok("Service", true);
        let r = readiness(&[a.clone(), b.clone()]);
        assert_eq!(r, Err("members not synced yet: b".to_owned()));
        b.watch_failed("Service", "refused");
        b.evaluate(Duration::ZERO);
        assert_eq!(readiness(&[a, b]), Ok(()));
    }

    #[test]
    fn managed_kinds_follow_the_served_mcs_version() {
        let k = managed_kinds(Some("v1alpha1"));
        assert!(k.contains(&(
            "multicluster.x-k8s.io/v1alpha1".into(),
            "ServiceImport".into()
        )));
        assert_eq!(managed_kinds(None).len(), 1);
    }
}
