//! Object writes: server-side apply of one pass's changed objects, in [`super::order`].

use std::sync::Arc;

use futures::StreamExt;
use isthmus_api::labels::FIELD_MANAGER;
use kube::api::{Patch, PatchParams};
use tracing::warn;

use super::applier::{Applied, ClusterApplier, SyncReport};
use crate::metrics::Metrics;
use crate::model::DesiredObject;
use crate::resource::{api_resource, dyn_api};

use super::order::CONCURRENCY;

impl ClusterApplier {
    /// Applies the changed objects in `todo` (in order, [`CONCURRENCY`] at a time, within the
    /// shared bound), recording each result as it arrives, so a pass cut short keeps its
    /// progress; objects whose status is to be written too go to `status_todo`.
    pub(super) async fn apply_changed(
        &mut self,
        todo: Vec<(u8, Arc<DesiredObject>)>,
        status_todo: &mut Vec<Arc<DesiredObject>>,
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        let client = self.client.clone();
        let limit = self.limit.clone();
        let mut results = futures::stream::iter(todo)
            .map(|(_, obj)| {
                let client = client.clone();
                let limit = limit.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let ar = api_resource(&obj.key.api_version, &obj.key.kind);
                    let api = dyn_api(&client, &ar, &obj.key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let r = api
                        .patch(&obj.key.name, &pp, &Patch::Apply(&obj.body))
                        .await
                        .map(|_| ());
                    (obj, r)
                }
            })
            .buffer_unordered(CONCURRENCY);
        // Results are recorded as they arrive, so a pass cut short keeps its progress.
        while let Some((obj, r)) = results.next().await {
            let key = &obj.key;
            match r {
                Ok(()) => {
                    metrics
                        .applies
                        .get_or_create(&Metrics::ck(&self.cluster, &key.kind))
                        .inc();
                    // Applying the object leaves its status as it was.
                    let status = self.applied.get(&obj.key_hash).map_or(0, |a| a.status);
                    self.applied.insert(
                        obj.key_hash,
                        Applied {
                            key: obj.key.clone(),
                            body: obj.fingerprint,
                            status,
                        },
                    );
                    report.applied += 1;
                    if obj.status.is_some() && status != obj.status_fingerprint {
                        status_todo.push(obj);
                    }
                }
                Err(e) => {
                    // A cluster-scoped kind answering 404 is not served (its CRD is not
                    // installed): say so once and skip it until the next full pass.
                    let unserved = matches!(&e, kube::Error::Api(s) if s.code == 404)
                        && key.namespace.is_empty();
                    let err = self.api_err("apply", key, e);
                    self.count_error(metrics, &key.kind, &err);
                    self.applied.remove(&obj.key_hash);
                    report.errors += 1;
                    if unserved {
                        if self
                            .unserved
                            .insert((key.api_version.clone(), key.kind.clone()))
                        {
                            warn!(error = %err, kind = %key.kind, "kind not served by this member; skipped until the next full pass");
                        }
                    } else {
                        warn!(error = %err, "apply failed");
                    }
                }
            }
        }
        drop(results);
    }
}
