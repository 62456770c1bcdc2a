//! Status writes through the status subresource: the status of applied objects
//! (ServiceImport `status.clusters`) and ServiceExport statuses.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use isthmus_api::labels::FIELD_MANAGER;
use isthmus_api::mcs;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tracing::warn;

use super::ObjKey;
use super::applier::{ClusterApplier, SyncReport, hash_of};
use super::error::fenced;
use super::order::CONCURRENCY;
use crate::metrics::Metrics;
use crate::model::DesiredObject;
use crate::plan::StatusWrite;
use crate::resource::{api_resource, dyn_api};

/// Whether a ServiceExport status says it is in conflict, with the condition's message.
pub fn conflict_of(status: &Value) -> (bool, String) {
    let conds = status.get("conditions").and_then(Value::as_array);
    for c in conds.into_iter().flatten() {
        if c.get("type").and_then(Value::as_str) == Some(mcs::condition::CONFLICT) {
            let on = c.get("status").and_then(Value::as_str) == Some("True");
            let msg = c
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return (on, msg);
        }
    }
    (false, String::new())
}

impl ClusterApplier {
    pub(super) async fn write_object_statuses(
        &mut self,
        objects: Vec<Arc<DesiredObject>>,
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        let client = self.client.clone();
        let limit = self.limit.clone();
        let fence = self.fence.clone();
        let cluster = self.cluster.clone();
        let per_write = self.per_write;
        let objects = objects.into_iter().filter(|o| o.status.is_some());
        let mut results = futures::stream::iter(objects)
            .map(|obj| {
                let client = client.clone();
                let limit = limit.clone();
                let fence = fence.clone();
                let cluster = cluster.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let key = &obj.key;
                    let body = json!({
                        "apiVersion": key.api_version,
                        "kind": key.kind,
                        "metadata": {"name": key.name, "namespace": key.namespace},
                        "status": obj.status,
                    });
                    let ar = api_resource(&key.api_version, &key.kind);
                    let api = dyn_api(&client, &ar, &key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let r = fenced(
                        &cluster,
                        &fence,
                        per_write,
                        api.patch_status(&key.name, &pp, &Patch::Apply(&body)),
                    )
                    .await
                    .map(|_| ());
                    (obj, r)
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((obj, r)) = results.next().await {
            match r {
                Ok(()) => {
                    if let Some(a) = self.applied.get_mut(&obj.key_hash) {
                        a.status = obj.status_fingerprint;
                    }
                    report.statuses += 1;
                }
                Err(e) => {
                    // The object is gone (deleted behind our back): write it again next pass.
                    let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
                    let err = self.api_err("apply-status", &obj.key, e);
                    warn!(error = %err, "status write failed");
                    self.count_error(metrics, &obj.key.kind, &err);
                    if gone {
                        self.applied.remove(&obj.key_hash);
                    } else if let Some(a) = self.applied.get_mut(&obj.key_hash) {
                        // Retried on the next pass.
                        a.status = 0;
                    }
                    report.errors += 1;
                }
            }
        }
    }

    pub(super) async fn write_statuses(
        &mut self,
        statuses: &[StatusWrite],
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut todo: Vec<(ObjKey, u64, Value)> = Vec::new();
        for sw in statuses {
            let key = ObjKey {
                api_version: sw.api_version.clone(),
                kind: sw.kind.clone(),
                namespace: sw.namespace.clone(),
                name: sw.name.clone(),
            };
            if sw.kind == "ServiceExport" {
                seen.insert((sw.namespace.clone(), sw.name.clone()));
            }
            let body = json!({
                "apiVersion": sw.api_version,
                "kind": sw.kind,
                "metadata": {"name": sw.name, "namespace": sw.namespace},
                "status": sw.status,
            });
            let h = hash_of(&body);
            if self.statuses.get(&key) != Some(&h) {
                todo.push((key, h, body));
            }
        }
        let client = self.client.clone();
        let limit = self.limit.clone();
        let fence = self.fence.clone();
        let cluster = self.cluster.clone();
        let per_write = self.per_write;
        let mut results = futures::stream::iter(todo)
            .map(|(key, h, body)| {
                let client = client.clone();
                let limit = limit.clone();
                let fence = fence.clone();
                let cluster = cluster.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let ar = api_resource(&key.api_version, &key.kind);
                    let api = dyn_api(&client, &ar, &key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let r = fenced(
                        &cluster,
                        &fence,
                        per_write,
                        api.patch_status(&key.name, &pp, &Patch::Apply(&body)),
                    )
                    .await
                    .map(|_| ());
                    (key, h, r)
                }
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((key, h, r)) = results.next().await {
            match r {
                Ok(()) => {
                    self.statuses.insert(key, h);
                    report.statuses += 1;
                }
                // The export went away between the read and the write.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    self.statuses.remove(&key);
                }
                Err(e) => {
                    let err = self.api_err("apply-status", &key, e);
                    warn!(error = %err, "status write failed");
                    self.count_error(metrics, &key.kind, &err);
                    self.statuses.remove(&key);
                    report.errors += 1;
                }
            }
        }
        drop(results);
        self.statuses.retain(|k, _| {
            k.kind != "ServiceExport" || seen.contains(&(k.namespace.clone(), k.name.clone()))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_condition_is_read() {
        let st = json!({"conditions": [
            {"type": "Valid", "status": "True"},
            {"type": "Conflict", "status": "True", "message": "port conflict on 80"}]});
        assert_eq!(conflict_of(&st), (true, "port conflict on 80".into()));
        assert_eq!(conflict_of(&json!({})), (false, String::new()));
    }
}
