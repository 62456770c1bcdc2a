//! Pruning: what the applier wrote and no longer desires, and the owned objects a background
//! listing (by [`prune_selector`]) finds that are no longer desired.

use std::collections::HashSet;
use std::sync::Arc;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Preconditions};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::APPLIED_HASH;
use super::ObjKey;
use super::applier::{ClusterApplier, SyncReport};
use super::error::{ApplyError, fenced};
use super::listing::{Found, Listing};
use super::writes::parse_hash;
use crate::metrics::Metrics;
use crate::model::{STATUS_SUBRESOURCE_KINDS, fingerprint};
use crate::ownership::{is_owned, prune_selector};
use crate::resource::{api_resource, dyn_api};

/// Longest time one prune listing (every managed kind of one member) may take; a listing cut
/// short is started again by the next pass.
const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Kinds never deleted by pruning, even when they carry the ownership label (a Namespace
/// holds user objects).
pub const NEVER_PRUNED: &[&str] = &["Namespace"];

/// Kinds the controller writes in one namespace only, as (`apiVersion`, kind, namespace):
/// listed for pruning in that namespace alone, as the member grants them there only (the
/// Istio wiring: the mesh networks ConfigMap, remote secrets and `cacerts`, the
/// `cross-network-gateway`, all in `istio-system`).
pub const NAMESPACED_LISTINGS: &[(&str, &str, &str)] = &[
    ("v1", "ConfigMap", "istio-system"),
    ("v1", "Secret", "istio-system"),
    ("networking.istio.io/v1", "Gateway", "istio-system"),
];

/// The namespace a prune listing of `kind` is limited to, if any ([`NAMESPACED_LISTINGS`]).
pub fn listing_namespace(api_version: &str, kind: &str) -> Option<&'static str> {
    NAMESPACED_LISTINGS
        .iter()
        .find(|(a, k, _)| *a == api_version && *k == kind)
        .map(|(_, _, ns)| *ns)
}

/// The kinds a full pass lists for pruning: the managed kinds and the desired ones, sorted,
/// without the [`NEVER_PRUNED`] kinds.
pub fn prune_kinds(
    managed: &[(String, String)],
    desired: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut kinds: HashSet<(String, String)> = managed.iter().cloned().collect();
    kinds.extend(desired);
    let mut kinds: Vec<_> = kinds
        .into_iter()
        .filter(|(_, k)| !NEVER_PRUNED.contains(&k.as_str()))
        .collect();
    kinds.sort();
    kinds
}

impl Drop for ClusterApplier {
    fn drop(&mut self) {
        if let Some(h) = self.listing.take() {
            h.abort();
        }
    }
}

impl ClusterApplier {
    /// Whether a background prune listing has finished and waits for a pass to prune.
    pub fn listing_done(&self) -> bool {
        self.listing.as_ref().is_some_and(|h| h.is_finished())
    }

    /// Whether a prune listing is running or finished and not yet consumed.
    pub fn listing_in_flight(&self) -> bool {
        self.listing.is_some()
    }

    pub(super) fn abort_listing(&mut self) -> bool {
        match self.listing.take() {
            Some(h) => {
                h.abort();
                true
            }
            None => false,
        }
    }

    /// The finished background listing, if any (a running one is left running).
    async fn take_listing(&mut self) -> Option<Listing> {
        if !self.listing_done() {
            return None;
        }
        let handle = self.listing.take()?;
        match handle.await {
            Ok(listing) => Some(listing),
            Err(e) => {
                // Aborted or panicked: list again.
                warn!(cluster = %self.cluster, error = %e, "prune listing did not finish; listing again");
                self.list_pending = true;
                None
            }
        }
    }

    /// Deletes `key` if it still carries the ownership label. Returns whether it was deleted.
    async fn delete_owned(&self, key: &ObjKey) -> Result<bool, ApplyError> {
        if NEVER_PRUNED.contains(&key.kind.as_str()) {
            return Ok(false);
        }
        let ar = api_resource(&key.api_version, &key.kind);
        let api = dyn_api(&self.client, &ar, &key.namespace);
        let live = match api.get_opt(&key.name).await {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(false),
            Err(e) => return Err(self.api_err("delete", key, e)),
        };
        if !is_owned(&live) {
            debug!(cluster = %self.cluster, kind = %key.kind, object = %key.display(), "not ours any more, left alone");
            return Ok(false);
        }
        let dp = DeleteParams::default().preconditions(Preconditions {
            resource_version: live.metadata.resource_version.clone(),
            uid: live.metadata.uid.clone(),
        });
        match fenced(
            &self.cluster,
            &self.fence,
            self.per_write,
            api.delete(&key.name, &dp),
        )
        .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(self.api_err("delete", key, e)),
        }
    }

    /// Prunes what was written and is no longer desired, plus what a finished background
    /// listing found and is no longer desired, and starts a listing when one is pending.
    /// Listing never delays the writes of a pass: it runs in the background and its result
    /// prunes on a later pass.
    pub(super) async fn prune(
        &mut self,
        desired_keys: &HashSet<u64>,
        desired_kinds: Vec<(String, String)>,
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        let mut gone: Vec<ObjKey> = self
            .applied
            .iter()
            .filter(|(kh, a)| {
                !desired_keys.contains(*kh) && !NEVER_PRUNED.contains(&a.key.kind.as_str())
            })
            .map(|(_, a)| (*a.key).clone())
            .collect();
        let listing = match self.adopted.take() {
            Some(listing) => Some(listing),
            None => self.take_listing().await,
        };
        if let Some(listing) = listing {
            let mut seen: HashSet<u64> = gone.iter().map(ObjKey::hash).collect();
            for found in listing.found {
                let key = found.key;
                let h = key.hash();
                if !desired_keys.contains(&h)
                    && !NEVER_PRUNED.contains(&key.kind.as_str())
                    && seen.insert(h)
                {
                    gone.push(key);
                }
            }
            if !listing.errors.is_empty() {
                // List again on the next pass (the errors make it a retry pass).
                self.list_pending = true;
            }
            for (kind, err) in listing.errors {
                warn!(error = %err, "cannot list owned objects");
                self.count_error(metrics, &kind, &err);
                report.errors += 1;
            }
        }
        if self.list_pending && self.listing.is_none() {
            let kinds = prune_kinds(&self.managed_kinds, desired_kinds);
            debug!(cluster = %self.cluster, kinds = kinds.len(), "prune listing started");
            self.listing = Some(tokio::spawn(list_owned(
                self.cluster.clone(),
                self.client.clone(),
                kinds,
                self.list_limit.clone(),
            )));
            self.list_pending = false;
        }
        for key in gone {
            match self.delete_owned(&key).await {
                Ok(deleted) => {
                    if deleted {
                        metrics
                            .prunes
                            .get_or_create(&Metrics::ck(&self.cluster, &key.kind))
                            .inc();
                        report.pruned += 1;
                        info!(cluster = %self.cluster, kind = %key.kind, object = %key.display(), "pruned");
                    }
                    self.applied.remove(&key.hash());
                }
                Err(err) => {
                    warn!(error = %err, "prune failed");
                    self.count_error(metrics, &key.kind, &err);
                    report.errors += 1;
                }
            }
        }
        // Objects no longer desired that are never pruned are simply forgotten.
        self.applied.retain(|kh, a| {
            desired_keys.contains(kh) || !NEVER_PRUNED.contains(&a.key.kind.as_str())
        });
    }
}

/// Lists the owned objects (by [`prune_selector`]) of `kinds` in one member, one listing at a
/// time per permit of `limit`, bounded by [`LIST_TIMEOUT`].
pub(super) async fn list_owned(
    cluster: String,
    client: Client,
    kinds: Vec<(String, String)>,
    limit: Arc<Semaphore>,
) -> Listing {
    let _permit = limit.acquire_owned().await.ok();
    let started = std::time::Instant::now();
    let selector = prune_selector();
    let mut listing = Listing::default();
    let list_err = |api_version: String, kind: &str, e: kube::Error| ApplyError::Api {
        cluster: cluster.clone(),
        verb: "list",
        kind: kind.to_owned(),
        name: format!("{api_version} *"),
        source: Box::new(e),
    };
    for (api_version, kind) in kinds {
        let ar = api_resource(&api_version, &kind);
        let api: Api<DynamicObject> = match listing_namespace(&api_version, &kind) {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let lp = ListParams::default().labels(&selector);
        let left = LIST_TIMEOUT.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, api.list(&lp)).await {
            Ok(Ok(list)) => {
                let with_status = STATUS_SUBRESOURCE_KINDS.contains(&kind.as_str());
                for o in list.items {
                    let applied = o
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(APPLIED_HASH))
                        .and_then(|t| parse_hash(t));
                    let status = if with_status {
                        o.data.get("status").map_or(0, fingerprint)
                    } else {
                        0
                    };
                    let name = o.metadata.name.unwrap_or_default();
                    if name.is_empty() {
                        continue;
                    }
                    listing.found.push(Found {
                        key: ObjKey {
                            api_version: api_version.clone(),
                            kind: kind.clone(),
                            namespace: o.metadata.namespace.unwrap_or_default(),
                            name,
                        },
                        applied,
                        status,
                    });
                }
            }
            // The kind is not served here (CRD not installed): nothing of it to prune.
            Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
                debug!(cluster = %cluster, kind = %kind, "kind not served, nothing to prune");
            }
            Ok(Err(e)) => {
                let err = list_err(api_version, &kind, e);
                listing.errors.push((kind, err));
            }
            Err(_) => {
                let e = kube::Error::Service(
                    format!("prune listing exceeded {}s", LIST_TIMEOUT.as_secs()).into(),
                );
                let err = list_err(api_version, &kind, e);
                listing.errors.push((kind, err));
                break;
            }
        }
    }
    debug!(cluster = %cluster, found = listing.found.len(), errors = listing.errors.len(),
        ms = started.elapsed().as_millis() as u64, "prune listing done");
    listing
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
    use serde_json::{Value, json};

    #[test]
    fn namespaces_are_never_listed_for_pruning() {
        let kinds = prune_kinds(
            &[("discovery.k8s.io/v1".into(), "EndpointSlice".into())],
            vec![
                ("v1".into(), "Namespace".into()),
                ("networking.istio.io/v1".into(), "Gateway".into()),
                ("discovery.k8s.io/v1".into(), "EndpointSlice".into()),
            ],
        );
        assert_eq!(
            kinds,
            vec![
                ("discovery.k8s.io/v1".to_owned(), "EndpointSlice".to_owned()),
                ("networking.istio.io/v1".to_owned(), "Gateway".to_owned()),
            ]
        );
        assert_eq!(listing_namespace("v1", "ConfigMap"), Some("istio-system"));
        assert_eq!(listing_namespace("v1", "Secret"), Some("istio-system"));
        assert_eq!(
            listing_namespace("networking.istio.io/v1", "Gateway"),
            Some("istio-system")
        );
        assert_eq!(
            listing_namespace("discovery.k8s.io/v1", "EndpointSlice"),
            None
        );
        assert_eq!(
            prune_selector(),
            "app.kubernetes.io/managed-by=isthmus,!placement.isthmus.io/template"
        );
    }

    fn import(name: &str, owned: bool) -> Value {
        let mut labels = serde_json::Map::new();
        if owned {
            labels.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        }
        json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": name, "namespace": "shop", "labels": labels},
            "spec": {"type": "ClusterSetIP", "ports": [{"port": 80, "protocol": "TCP"}]}})
    }

    /// A fresh writer adopts what the member holds and prunes in its first pass; a resync
    /// of a writer that knows what it wrote re-applies without waiting for its prune listing,
    /// which runs in the background, and the pass after it finishes prunes only owned objects
    /// no longer desired. A restarted writer (a fresh one on the same member) writes nothing.
    #[tokio::test]
    async fn adoption_then_background_listing_prune() {
        let sim = kube_sim::SimCluster::start(kube_sim::SimOptions {
            crds: kube_sim::mcs_crds(),
            ..kube_sim::SimOptions::default()
        })
        .await
        .unwrap();
        sim.apply_json(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {MANAGED_BY: MANAGED_BY_VALUE}}}))
            .unwrap();
        sim.apply_json(import("stale", true)).unwrap();
        sim.apply_json(import("users", false)).unwrap();
        let config = kube::Config::new(sim.url().parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let kinds = vec![(
            "multicluster.x-k8s.io/v1beta1".to_owned(),
            "ServiceImport".to_owned(),
        )];
        let mut applier = ClusterApplier::new("a", client.clone(), kinds.clone());
        let metrics = Metrics::default();
        let desired = || vec![import("web", true)];

        // A fresh writer: adopts (nothing of "web" there yet), writes it, prunes "stale".
        let first = applier
            .sync_values(desired(), &[], &[], true, &metrics)
            .await;
        assert_eq!((first.applied, first.pruned, first.errors), (1, 1, 0));
        assert!(!applier.listing_in_flight());
        let web = sim
            .get_json(
                "multicluster.x-k8s.io/v1beta1",
                "ServiceImport",
                Some("shop"),
                "web",
            )
            .unwrap();
        assert!(
            web.pointer("/metadata/annotations/isthmus.io~1applied-hash")
                .is_some()
        );

        // A restarted writer with the same desired state writes nothing.
        let mut restarted = ClusterApplier::new("a", client, kinds);
        let again = restarted
            .sync_values(desired(), &[], &[], true, &metrics)
            .await;
        assert_eq!(again, SyncReport::default());

        // A resync re-applies and lists in the background.
        sim.apply_json(import("stale", true)).unwrap();
        let resync = applier
            .sync_values(desired(), &[], &[], true, &metrics)
            .await;
        assert_eq!((resync.applied, resync.pruned, resync.errors), (1, 0, 0));
        assert!(applier.listing_in_flight());
        // Bounded wait for the background listing.
        for _ in 0..1000 {
            if applier.listing_done() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(applier.listing_done());

        let second = applier
            .sync_values(desired(), &[], &[], false, &metrics)
            .await;
        assert_eq!((second.applied, second.pruned, second.errors), (0, 1, 0));
        assert!(!applier.listing_in_flight());
        let mut left: Vec<String> = sim
            .list_json(
                "multicluster.x-k8s.io/v1beta1",
                "ServiceImport",
                Some("shop"),
            )
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        left.sort();
        assert_eq!(left, vec!["users".to_owned(), "web".to_owned()]);
        assert!(sim.get_json("v1", "Namespace", None, "shop").is_some());

        // Later passes do not list again.
        let third = applier
            .sync_values(desired(), &[], &[], false, &metrics)
            .await;
        assert_eq!(third, SyncReport::default());
        assert!(!applier.listing_in_flight());
    }
}
