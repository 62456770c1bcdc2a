//! Hub mode: members come from `MemberCluster` objects (`isthmus.io/v1alpha1`) in a hub
//! cluster, their kubeconfigs from the Secrets the objects reference; the controller writes
//! each member's status back into its MemberCluster.
//!
//! The member list is re-read every `refresh` period. When it changes (a member added,
//! removed or edited, or a referenced Secret updated) the controller is restarted in-process
//! with the new list; the index is rebuilt from the watches and the VIPs already allocated
//! are adopted from the existing ServiceImports.
//!
//! With propagation on (the default), the leader also runs a propagation pass every
//! propagation period: the hub's resource templates go to the members per the hub's
//! `placement.isthmus.io` policies (see [`crate::propagation`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use isthmus_api::labels::FIELD_MANAGER;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

use crate::members::{KubeconfigText, MemberSpec, Reachability};
use crate::metrics::Metrics;
use crate::model::{MemberInfo, ReconcileConfig};
use crate::propagation::{PropagationConfig, Propagator};
use crate::registry;
use crate::runtime::engine::IndexEngine;
use crate::runtime::{self, RunConfig, RuntimeError};
use isthmus_api::crd::{MemberCluster, MemberClusterStatus, SecretKeyRef};

/// Default key of a kubeconfig in a Secret.
pub const DEFAULT_SECRET_KEY: &str = "kubeconfig";

/// Errors of hub mode.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub cannot be read.
    #[error("hub: listing MemberClusters: {0}")]
    List(#[source] Box<kube::Error>),
    /// The controller failed to start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Hub mode settings.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Clusterset name written to the members' `clusterset.k8s.io` ClusterProperty.
    pub clusterset: String,
    /// Runtime settings (members are filled in from the hub).
    pub run: RunConfig,
    /// Reconcile settings.
    pub reconcile: ReconcileConfig,
    /// How often the member list is re-read and statuses are written.
    pub refresh: Duration,
}

/// One member as read from the hub.
#[derive(Clone, Debug, PartialEq)]
pub struct HubMember {
    /// Registry data.
    pub info: MemberInfo,
    /// How to reach it.
    pub spec: MemberSpec,
}

async fn secret_value(
    hub: &Client,
    r: &SecretKeyRef,
    member: &str,
    field: &str,
) -> Result<Vec<u8>, String> {
    let api: Api<Secret> = Api::namespaced(hub.clone(), &r.namespace);
    let key = r.key.as_deref().unwrap_or(DEFAULT_SECRET_KEY);
    let secret = api
        .get_opt(&r.name)
        .await
        .map_err(|e| {
            format!(
                "MemberCluster {member}: {field}: reading secret {}/{}: {e}",
                r.namespace, r.name
            )
        })?
        .ok_or_else(|| {
            format!(
                "MemberCluster {member}: {field}: secret {}/{} not found",
                r.namespace, r.name
            )
        })?;
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| {
            format!(
                "MemberCluster {member}: {field}: secret {}/{} has no key {key:?}",
                r.namespace, r.name
            )
        })
}

/// Reads the members from the hub. A MemberCluster that cannot be used (invalid fields, no
/// kubeconfig Secret) is logged and skipped.
pub async fn load_members(hub: &Client) -> Result<Vec<HubMember>, HubError> {
    let api: Api<MemberCluster> = Api::all(hub.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| HubError::List(Box::new(e)))?;
    let mut out = Vec::new();
    for mc in list.items {
        let name = mc.metadata.name.clone().unwrap_or_default();
        let reader = match &mc.spec.reader_kubeconfig_secret_ref {
            Some(r) => match secret_value(hub, r, &name, "spec.readerKubeconfigSecretRef").await {
                Ok(v) => Some(v),
                Err(e) => {
                    warn!(error = %e, "no remote secret for this member");
                    None
                }
            },
            None => None,
        };
        let info = match registry::from_member_cluster(&mc, reader) {
            Ok(i) => i,
            Err(e) => {
                warn!(error = %e, "skipping MemberCluster");
                continue;
            }
        };
        let Some(r) = &mc.spec.kubeconfig_secret_ref else {
            warn!(member = %name, "skipping MemberCluster: spec.kubeconfigSecretRef is not set");
            continue;
        };
        let yaml = match secret_value(hub, r, &name, "spec.kubeconfigSecretRef")
            .await
            .map(String::from_utf8)
        {
            Ok(Ok(y)) => y,
            Ok(Err(_)) => {
                warn!(member = %name, "skipping MemberCluster: its kubeconfig is not UTF-8");
                continue;
            }
            Err(e) => {
                warn!(error = %e, "skipping MemberCluster");
                continue;
            }
        };
        let spec = MemberSpec {
            name: info.name.clone(),
            network: info.network.clone(),
            kubeconfig: None,
            kubeconfig_yaml: Some(KubeconfigText {
                origin: format!("secret {}/{}", r.namespace, r.name),
                yaml,
            }),
            context: None,
        };
        out.push(HubMember { info, spec });
    }
    out.sort_by(|a, b| a.info.name.cmp(&b.info.name));
    Ok(out)
}

async fn write_statuses(hub: &Client, handle: &runtime::ControllerHandle, engine: &IndexEngine) {
    let Some(desired) = engine.last_desired() else {
        return;
    };
    let api: Api<MemberCluster> = Api::all(hub.clone());
    // The stored statuses, for stable condition transition times.
    let previous: BTreeMap<String, MemberClusterStatus> = match api
        .list(&ListParams::default())
        .await
    {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|mc| Some((mc.metadata.name?, mc.status?)))
            .collect(),
        Err(e) => {
            warn!(error = %e, "cannot read the MemberClusters' statuses; condition times restart");
            BTreeMap::new()
        }
    };
    let now = jiff::Timestamp::now();
    let members: BTreeMap<String, Reachability> = handle
        .members()
        .into_iter()
        .map(|m| (m.name, m.reachability))
        .collect();
    for (name, st) in &desired.member_status {
        let mut status = registry::member_cluster_status(st, previous.get(name), now);
        status.reachable = matches!(members.get(name), Some(Reachability::Reachable));
        let body = json!({
            "apiVersion": "isthmus.io/v1alpha1",
            "kind": "MemberCluster",
            "metadata": {"name": name},
            "status": status,
        });
        if let Err(e) = api
            .patch_status(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
        {
            warn!(member = %name, error = %e, "cannot write MemberCluster status");
        }
    }
}

/// Runs the controller in hub mode until `shutdown` completes, with propagation on and its
/// default settings.
pub async fn run(
    hub: Client,
    cfg: HubConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HubError> {
    run_with_propagation(hub, cfg, Some(PropagationConfig::default()), shutdown).await
}

/// The unreachable members, as propagation sees them.
fn unreachable_members(handle: &runtime::ControllerHandle) -> std::collections::BTreeSet<String> {
    handle
        .members()
        .into_iter()
        .filter(|m| matches!(m.reachability, Reachability::Unreachable { .. }))
        .map(|m| m.name)
        .collect()
}

async fn member_clients(members: &[HubMember]) -> BTreeMap<String, Client> {
    let mut out = BTreeMap::new();
    for m in members {
        match crate::members::client_for_spec(&m.spec).await {
            Ok(c) => {
                out.insert(m.info.name.clone(), c);
            }
            Err(e) => {
                warn!(member = %m.info.name, error = %e, "propagation: no client for this member")
            }
        }
    }
    out
}

/// Runs the controller in hub mode until `shutdown` completes; `propagation` turns
/// propagation on with these settings.
pub async fn run_with_propagation(
    hub: Client,
    cfg: HubConfig,
    propagation: Option<PropagationConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HubError> {
    let mut shutdown = std::pin::pin!(shutdown);
    // Kept across restarts: the decisions survive a member-list change.
    let mut propagator = propagation.map(Propagator::new);
    loop {
        let members = load_members(&hub).await?;
        if members.is_empty() {
            warn!("the hub has no usable MemberCluster; checking again later");
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(cfg.refresh) => continue,
            }
        }
        info!(
            members = members.len(),
            "starting the controller for the hub's members"
        );
        let metrics = Arc::new(Metrics::new());
        let infos = members.iter().map(|m| m.info.clone()).collect();
        let engine =
            Arc::new(IndexEngine::new(infos, cfg.reconcile.clone()).with_metrics(metrics.clone()));
        let mut run_cfg = cfg.run.clone();
        run_cfg.clusterset = cfg.clusterset.clone();
        run_cfg.members = members.iter().map(|m| m.spec.clone()).collect();
        let handle = match runtime::start(run_cfg, engine.clone(), metrics).await {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "cannot start the controller for the hub's members; retrying");
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(cfg.refresh) => continue,
                }
            }
        };
        if let Some(p) = propagator.as_mut() {
            p.set_members(member_clients(&members).await);
        }
        let mut refresh = tokio::time::interval(cfg.refresh);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let period = propagator
            .as_ref()
            .map_or(cfg.refresh, |p| p.config().period);
        let mut propagate = tokio::time::interval(period);
        propagate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    handle.shutdown().await;
                    return Ok(());
                }
                _ = propagate.tick(), if propagator.is_some() => {
                    let leader = handle.is_leader();
                    if let Some(p) = propagator.as_mut()
                        && !leader
                    {
                        // another replica decides meanwhile; start from its statuses later
                        p.reseed();
                    }
                    if let Some(p) = propagator.as_mut()
                        && leader
                    {
                        let unreachable = unreachable_members(&handle);
                        let limit = p.config().pass_timeout;
                        let fence = handle.leader.clone();
                        // Leadership lost: the pass's writes in flight are cancelled.
                        tokio::select! {
                            r = tokio::time::timeout(limit, p.pass(&hub, &unreachable)) => {
                                if r.is_err() {
                                    warn!(timeout = ?limit, "propagation pass cut short; the next pass continues");
                                }
                            }
                            () = fence.lost() => {
                                warn!("leadership lost: propagation pass cancelled");
                                p.reseed();
                            }
                        }
                    }
                    continue;
                }
                _ = refresh.tick() => {}
            }
            if handle.is_leader() {
                let fence = handle.leader.clone();
                tokio::select! {
                    () = write_statuses(&hub, &handle, &engine) => {}
                    () = fence.lost() => warn!("leadership lost: MemberCluster status writes cancelled"),
                }
            }
            match load_members(&hub).await {
                Ok(now) if now != members => {
                    info!(
                        before = members.len(),
                        after = now.len(),
                        "member list changed; restarting the controller"
                    );
                    handle.shutdown().await;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "cannot re-read the member list; keeping the current one")
                }
            }
        }
    }
}
