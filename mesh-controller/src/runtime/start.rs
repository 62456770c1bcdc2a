//! Start-up: clients, per-member tasks, leader election, HTTP endpoints, discovery and the
//! reconcile loop.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::DynamicObject;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span};

use super::handle::ControllerHandle;
use super::istio::IstioReader;
use super::member::{Member, member_supervisor, probe};
use super::readiness::readiness;
use super::reconcile_loop::Loop;
use super::summary::PassSummary;
use super::write::{LISTINGS_IN_FLIGHT, WRITES_IN_FLIGHT};
use super::{Engine, LeaderMode, RunConfig, RuntimeError};
use crate::leader::{Fence, LeaderElector};
use crate::members::{self, MemberHealth};
use crate::metrics::Metrics;
use crate::server::{self, Readiness};
use crate::watch::{Sink, WatchContext, WatchKind};

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
    let mut endpoints = Vec::new();
    for spec in &cfg.members {
        let (client, endpoint) = members::connect(spec).await?;
        let health = MemberHealth::new(&spec.name, &spec.network);
        health.register_watch("Discovery");
        members.push(Member {
            spec: spec.clone(),
            client,
            health,
        });
        endpoints.push(endpoint);
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
            istio: cfg.istio.is_some(),
        };
        let cancel_m = cancel.clone();
        let span = info_span!("member", cluster = %m.spec.name);
        tasks.spawn(member_supervisor(ctx, cancel_m).instrument(span));
        tasks.spawn(
            probe(
                m.client.clone(),
                m.health.clone(),
                cfg.probe_period,
                cancel.clone(),
            )
            .instrument(info_span!("probe", cluster = %m.spec.name)),
        );
    }

    // The Secrets the Istio wiring reads by name.
    if let Some(reads) = &cfg.istio {
        for (m, endpoint) in members.iter().zip(endpoints) {
            let reader = IstioReader {
                cluster: m.spec.name.clone(),
                client: m.client.clone(),
                endpoint,
                engine: engine.clone(),
                notify: notify.clone(),
                metrics: metrics.clone(),
                refresh: reads.refresh,
            };
            tasks.spawn(
                reader
                    .run(cancel.clone())
                    .instrument(info_span!("istio-reads", cluster = %m.spec.name)),
            );
        }
    }

    // Leader election.
    let leader_rx = match &cfg.leader {
        LeaderMode::Disabled => Fence::open(),
        LeaderMode::Lease { kubeconfig, config } => {
            let (leader_tx, leader_rx) = Fence::channel();
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
            leader_rx
        }
    };

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
