//! Kubernetes Events recorded on ServiceExports entering or leaving conflict.

use std::collections::BTreeMap;

use isthmus_api::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_VALUE};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use tracing::{info, warn};

use super::ObjKey;
use super::applier::{ClusterApplier, SyncReport};
use super::error::{ApplyError, fenced};
use crate::metrics::Metrics;
use crate::plan::EventWrite;

impl ClusterApplier {
    pub(super) async fn write_events(
        &mut self,
        events: &[EventWrite],
        metrics: &Metrics,
        report: &mut SyncReport,
    ) {
        for ev in events {
            let id = (ev.namespace.clone(), ev.name.clone());
            // The same event for the same object is recorded once, until its reason changes.
            if self.last_event.get(&id) == Some(&ev.reason) {
                continue;
            }
            match self.record_event(ev).await {
                Ok(()) => {
                    self.last_event.insert(id, ev.reason.clone());
                    report.events += 1;
                }
                Err(err) => {
                    warn!(error = %err, "cannot record event");
                    self.count_error(metrics, "Event", &err);
                }
            }
        }
    }

    async fn record_event(&self, sw: &EventWrite) -> Result<(), ApplyError> {
        let now = jiff::Timestamp::now();
        let name = format!("{}.{:x}", sw.name, now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(sw.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY.to_owned(),
                    MANAGED_BY_VALUE.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(sw.api_version.clone()),
                kind: Some(sw.kind.clone()),
                namespace: Some(sw.namespace.clone()),
                name: Some(sw.name.clone()),
                ..ObjectReference::default()
            },
            reason: Some(sw.reason.clone()),
            message: Some(sw.message.clone()),
            type_: Some(sw.type_.clone()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            source: Some(EventSource {
                component: Some(FIELD_MANAGER.into()),
                host: None,
            }),
            reporting_component: Some(FIELD_MANAGER.into()),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &sw.namespace);
        fenced(
            &self.cluster,
            &self.fence,
            self.per_write,
            api.create(&PostParams::default(), &event),
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            self.api_err(
                "event",
                &ObjKey {
                    api_version: "v1".into(),
                    kind: "Event".into(),
                    namespace: sw.namespace.clone(),
                    name,
                },
                e,
            )
        })?;
        info!(cluster = %self.cluster, namespace = %sw.namespace, object = %sw.name, reason = %sw.reason, "event recorded");
        Ok(())
    }
}
