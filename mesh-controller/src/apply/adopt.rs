//! Warm start: what a writer that knows nothing of a member (a restart, a new term of
//! leadership, a member back from unreachable) reads there before its first write, so that it
//! writes only what differs.

use std::sync::Arc;

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::json;
use tracing::{info, warn};

use super::ObjKey;
use super::applier::{Applied, ClusterApplier, hash_of};
use super::prune::{NEVER_PRUNED, list_owned, prune_kinds};
use crate::resource::api_resource;

impl ClusterApplier {
    /// Reads what the member holds of what this writer owns: owned objects whose
    /// [`super::APPLIED_HASH`] annotation is present are recorded as written with that
    /// fingerprint, ServiceImport statuses with the fingerprint of the status they hold, and
    /// ServiceExport statuses as they are. A kind that cannot be listed is simply written
    /// again.
    pub(super) async fn adopt(&mut self, desired_kinds: Vec<(String, String)>) {
        // The kinds never pruned (Namespaces) are read too: they are adopted, not pruned.
        let kept: Vec<(String, String)> = desired_kinds
            .iter()
            .filter(|(_, k)| NEVER_PRUNED.contains(&k.as_str()))
            .cloned()
            .collect();
        let mut kinds = prune_kinds(&self.managed_kinds, desired_kinds);
        kinds.extend(kept);
        let listing = list_owned(
            self.cluster.clone(),
            self.client.clone(),
            kinds,
            self.list_limit.clone(),
        )
        .await;
        let mut adopted = 0usize;
        for f in &listing.found {
            if let Some(body) = f.applied {
                let key = Arc::new(f.key.clone());
                self.applied.insert(
                    key.hash(),
                    Applied {
                        key,
                        body,
                        status: f.status,
                    },
                );
                adopted += 1;
            }
        }
        let exports = self.adopt_export_statuses().await;
        info!(cluster = %self.cluster, found = listing.found.len(), adopted, export_statuses = exports,
            list_errors = listing.errors.len(), "adopted what the member holds");
        self.adopted = Some(listing);
        self.adopt_pending = false;
    }

    /// Records the ServiceExport statuses the member holds (of the MCS version its
    /// ServiceImports are managed in) as written; returns how many.
    async fn adopt_export_statuses(&mut self) -> usize {
        let Some(api_version) = self
            .managed_kinds
            .iter()
            .find(|(_, k)| k == "ServiceImport")
            .map(|(a, _)| a.clone())
        else {
            return 0;
        };
        let ar = api_resource(&api_version, "ServiceExport");
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let list = match tokio::time::timeout(self.per_write, api.list(&ListParams::default()))
            .await
        {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                warn!(cluster = %self.cluster, error = %e, "cannot list ServiceExports; their statuses are written again");
                return 0;
            }
            Err(_) => {
                warn!(cluster = %self.cluster, "listing ServiceExports timed out; their statuses are written again");
                return 0;
            }
        };
        let mut n = 0;
        for o in list.items {
            let (Some(name), Some(namespace), Some(status)) = (
                o.metadata.name.clone(),
                o.metadata.namespace.clone(),
                o.data.get("status"),
            ) else {
                continue;
            };
            // The same body the status write hashes.
            let body = json!({
                "apiVersion": api_version,
                "kind": "ServiceExport",
                "metadata": {"name": name, "namespace": namespace},
                "status": status,
            });
            self.statuses.insert(
                ObjKey {
                    api_version: api_version.clone(),
                    kind: "ServiceExport".into(),
                    namespace,
                    name,
                },
                hash_of(&body),
            );
            n += 1;
        }
        n
    }
}
