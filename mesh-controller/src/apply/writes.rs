//! Object writes: server-side apply of one pass's changed objects, in [`super::order`].

use std::sync::Arc;

use futures::StreamExt;
use isthmus_api::labels::FIELD_MANAGER;
use kube::api::{Patch, PatchParams};
use serde_json::Value;
use tracing::warn;

use super::APPLIED_HASH;
use super::applier::{Applied, ClusterApplier, SyncReport};
use super::error::fenced;
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
        let fence = self.fence.clone();
        let cluster = self.cluster.clone();
        let per_write = self.per_write;
        let mut results = futures::stream::iter(todo)
            .map(|(_, obj)| {
                let client = client.clone();
                let limit = limit.clone();
                let fence = fence.clone();
                let cluster = cluster.clone();
                async move {
                    let _permit = match &limit {
                        Some(l) => l.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let ar = api_resource(&obj.key.api_version, &obj.key.kind);
                    let api = dyn_api(&client, &ar, &obj.key.namespace);
                    let pp = PatchParams::apply(FIELD_MANAGER).force();
                    let body = with_applied_hash(&obj.body, obj.fingerprint);
                    let r = fenced(
                        &cluster,
                        &fence,
                        per_write,
                        api.patch(&obj.key.name, &pp, &Patch::Apply(&body)),
                    )
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

/// The body as sent: `body` with the [`APPLIED_HASH`] annotation holding `fingerprint` (the
/// fingerprint of `body` itself), so a writer that starts knowing nothing can tell from a
/// listing whether a member already holds what it would send.
pub(super) fn with_applied_hash(body: &Value, fingerprint: u64) -> Value {
    let mut out = body.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(
                APPLIED_HASH.to_owned(),
                Value::String(hash_text(fingerprint)),
            );
        }
    }
    out
}

/// How a fingerprint is written in [`APPLIED_HASH`].
pub(super) fn hash_text(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// The fingerprint an [`APPLIED_HASH`] annotation holds, if it is well formed.
pub(super) fn parse_hash(text: &str) -> Option<u64> {
    (text.len() == 16)
        .then(|| u64::from_str_radix(text, 16).ok())
        .flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_applied_hash_is_added_without_touching_the_rest() {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "annotations": {"x": "y"}}});
        let sent = with_applied_hash(&body, 0xabc);
        assert_eq!(sent["metadata"]["annotations"]["x"], "y");
        assert_eq!(
            sent["metadata"]["annotations"][APPLIED_HASH],
            "0000000000000abc"
        );
        assert_eq!(
            parse_hash(
                sent["metadata"]["annotations"][APPLIED_HASH]
                    .as_str()
                    .unwrap()
            ),
            Some(0xabc)
        );
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash("zzzzzzzzzzzzzzzz"), None);
        let bare = with_applied_hash(&json!({"metadata": {"name": "a"}}), 1);
        assert_eq!(
            bare["metadata"]["annotations"][APPLIED_HASH],
            "0000000000000001"
        );
    }
}
