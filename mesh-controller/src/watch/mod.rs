//! Watches of one member cluster, feeding an index through [`Sink`].
//!
//! Every watch is a `kube::runtime::watcher` stream with jittered exponential backoff, run in
//! its own tracing span. A relist (`Init` .. `InitDone`) is buffered and handed over as one
//! [`Sink::replace`], so objects deleted while a watch was down disappear from the index.
//! Watch errors and successes feed the member's [`MemberHealth`]; one failing watch changes
//! nothing by itself.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use crate::backoff::WatchBackoff;
use crate::members::MemberHealth;
use crate::metrics::Metrics;
use crate::resource::api_resource;

/// Label selector of the east-west gateway Service.
pub const EASTWEST_SELECTOR: &str = "istio=eastwestgateway";
/// Namespace of the east-west gateway Service.
pub const ISTIO_NAMESPACE: &str = "istio-system";
/// Label selector of the EndpointSlice watch: slices without the MCS source-cluster label.
pub const IMPORTED_SLICE_EXCLUSION: &str = "!multicluster.kubernetes.io/source-cluster";

/// What is watched in every member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// `ServiceExport` (all namespaces).
    ServiceExport,
    /// `ServiceImport` (all namespaces; ours and users').
    ServiceImport,
    /// `Service` (all namespaces; the index keeps only exported ones).
    Service,
    /// `EndpointSlice` (all namespaces; the index keeps those of exported services and ours).
    EndpointSlice,
    /// `Namespace` (metadata only).
    Namespace,
    /// The east-west gateway `Service` in `istio-system` (`istio=eastwestgateway`).
    Gateway,
    /// The `istio-ca-root-cert` ConfigMap in `istio-system` (the root istiod publishes),
    /// with Istio wiring only; it does not count for the member's health.
    IstioCaRoot,
}

impl WatchKind {
    /// Every kind, in start order.
    pub const ALL: [WatchKind; 6] = [
        WatchKind::Namespace,
        WatchKind::Service,
        WatchKind::EndpointSlice,
        WatchKind::ServiceExport,
        WatchKind::ServiceImport,
        WatchKind::Gateway,
    ];

    /// The name used in logs, metrics and health.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ServiceExport => "ServiceExport",
            Self::ServiceImport => "ServiceImport",
            Self::Service => "Service",
            Self::EndpointSlice => "EndpointSlice",
            Self::Namespace => "Namespace",
            Self::Gateway => "GatewayService",
            Self::IstioCaRoot => "IstioCaRootConfigMap",
        }
    }

    /// Whether the watch counts for the member's health (reachability, readiness): not the
    /// Istio watches, which a member installed without their permissions cannot list.
    pub fn counts_for_health(&self) -> bool {
        !matches!(self, Self::IstioCaRoot)
    }
}

/// Errors turning a watched object into a typed one.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The object does not have the shape of its kind.
    #[error("cluster {cluster}: {kind} {name}: malformed object: {source}")]
    Malformed {
        /// Member cluster.
        cluster: String,
        /// Kind.
        kind: &'static str,
        /// `namespace/name`.
        name: String,
        /// The decoding error.
        source: serde_json::Error,
    },
}

/// Decodes a watched object into its typed form; the error names the cluster, kind and object.
pub fn typed<K: DeserializeOwned>(
    cluster: &str,
    kind: WatchKind,
    obj: DynamicObject,
) -> Result<K, WatchError> {
    let name = format!(
        "{}/{}",
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or("")
    );
    serde_json::to_value(obj)
        .and_then(serde_json::from_value)
        .map_err(|source| WatchError::Malformed {
            cluster: cluster.to_owned(),
            kind: kind.as_str(),
            name,
            source,
        })
}

/// Receives the watched state of members. Implemented over the clusterset index. Every
/// method returns whether the indexed state changed (only then is a reconcile needed).
pub trait Sink: Send + Sync + 'static {
    /// A (re)list finished: `objects` is now the complete set of `kind` in `cluster`.
    fn replace(&self, cluster: &str, kind: WatchKind, objects: Vec<DynamicObject>) -> bool;
    /// An object was added or changed.
    fn apply(&self, cluster: &str, kind: WatchKind, object: DynamicObject) -> bool;
    /// An object was deleted.
    fn delete(&self, cluster: &str, kind: WatchKind, object: DynamicObject) -> bool;
}

/// What one member's watches need.
#[derive(Clone)]
pub struct WatchContext {
    /// Member name.
    pub cluster: String,
    /// Member client.
    pub client: Client,
    /// MCS API version served by the member (`None`: MCS kinds are not watched).
    pub mcs_version: Option<String>,
    /// Member health.
    pub health: MemberHealth,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Where updates go.
    pub sink: Arc<dyn Sink>,
    /// Server-side timeout of each watch request.
    pub watch_timeout: Duration,
    /// Also watch what the Istio wiring reads ([`WatchKind::IstioCaRoot`]).
    pub istio: bool,
}

/// First delay before a failed watch is retried; doubled (with jitter) up to
/// [`WATCH_BACKOFF_MAX`], and back to this once the watch delivers again.
pub const WATCH_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest delay between watch retries (before jitter).
pub const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Exponential backoff for watch retries: 200 ms doubling up to 5 s, with jitter, reset on
/// success.
fn backoff() -> WatchBackoff {
    WatchBackoff::new(WATCH_BACKOFF_MIN, WATCH_BACKOFF_MAX)
}

fn map_event<A, B>(e: Event<A>, f: impl Fn(A) -> B) -> Event<B> {
    match e {
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(f(o)),
        Event::InitDone => Event::InitDone,
        Event::Apply(o) => Event::Apply(f(o)),
        Event::Delete(o) => Event::Delete(f(o)),
    }
}

/// Starts every watch of one member on `tasks`; they stop when `cancel` fires.
pub fn spawn_member_watches(
    ctx: &WatchContext,
    tasks: &mut JoinSet<()>,
    cancel: &CancellationToken,
) {
    let istio = ctx.istio.then_some(WatchKind::IstioCaRoot);
    for kind in WatchKind::ALL.into_iter().chain(istio) {
        let is_mcs = matches!(kind, WatchKind::ServiceExport | WatchKind::ServiceImport);
        if is_mcs && ctx.mcs_version.is_none() {
            continue;
        }
        if kind.counts_for_health() {
            ctx.health.register_watch(kind.as_str());
        }
        let ctx = ctx.clone();
        let cancel = cancel.clone();
        let span = info_span!("watch", cluster = %ctx.cluster, kind = kind.as_str());
        tasks.spawn(
            async move {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = run_watch(ctx, kind) => {}
                }
            }
            .instrument(span),
        );
    }
}

fn watcher_config(ctx: &WatchContext, kind: WatchKind) -> watcher::Config {
    let timeout = u32::try_from(ctx.watch_timeout.as_secs().max(1)).unwrap_or(290);
    let cfg = watcher::Config::default().timeout(timeout);
    match kind {
        WatchKind::Gateway => cfg.labels(EASTWEST_SELECTOR),
        // Imported slices (ours, or another MCS implementation's) are never sources: leave
        // them out server-side instead of decoding every echo of what the controller wrote.
        WatchKind::EndpointSlice => cfg.labels(IMPORTED_SLICE_EXCLUSION),
        // As istiod's namespace controller watches it.
        WatchKind::IstioCaRoot => cfg.fields(&format!(
            "metadata.name={}",
            crate::root_of_trust::CA_ROOT_CONFIGMAP
        )),
        _ => cfg,
    }
}

async fn run_watch(ctx: WatchContext, kind: WatchKind) {
    let cfg = watcher_config(&ctx, kind);
    match kind {
        WatchKind::Namespace => {
            let api: Api<PartialObjectMeta<Namespace>> = Api::all(ctx.client.clone());
            let stream = watcher::watcher(api, cfg)
                .backoff(backoff())
                .map(|r| r.map(|e| map_event(e, meta_to_dynamic)));
            drive(&ctx, kind, stream).await;
        }
        _ => {
            let (api_version, k) = match kind {
                WatchKind::ServiceExport => (
                    format!(
                        "{}/{}",
                        isthmus_api::mcs::GROUP,
                        ctx.mcs_version.as_deref().unwrap_or("v1beta1")
                    ),
                    "ServiceExport",
                ),
                WatchKind::ServiceImport => (
                    format!(
                        "{}/{}",
                        isthmus_api::mcs::GROUP,
                        ctx.mcs_version.as_deref().unwrap_or("v1beta1")
                    ),
                    "ServiceImport",
                ),
                WatchKind::EndpointSlice => ("discovery.k8s.io/v1".to_owned(), "EndpointSlice"),
                WatchKind::IstioCaRoot => ("v1".to_owned(), "ConfigMap"),
                _ => ("v1".to_owned(), "Service"),
            };
            let ar = api_resource(&api_version, k);
            let api: Api<DynamicObject> =
                if matches!(kind, WatchKind::Gateway | WatchKind::IstioCaRoot) {
                    Api::namespaced_with(ctx.client.clone(), ISTIO_NAMESPACE, &ar)
                } else {
                    Api::all_with(ctx.client.clone(), &ar)
                };
            let stream = watcher::watcher(api, cfg).backoff(backoff()).map(move |r| {
                r.map(|e| {
                    map_event(e, |mut o: DynamicObject| {
                        // Watch responses of dynamic objects may omit the type; restore it.
                        if o.types.is_none() {
                            o.types = Some(kube::core::TypeMeta {
                                api_version: api_version.clone(),
                                kind: k.to_owned(),
                            });
                        }
                        o
                    })
                })
            });
            drive(&ctx, kind, stream).await;
        }
    }
}

fn meta_to_dynamic(m: PartialObjectMeta<Namespace>) -> DynamicObject {
    DynamicObject {
        types: Some(kube::core::TypeMeta {
            api_version: "v1".into(),
            kind: "Namespace".into(),
        }),
        metadata: m.metadata,
        data: serde_json::Value::Null,
    }
}

async fn drive<S>(ctx: &WatchContext, kind: WatchKind, stream: S)
where
    S: Stream<Item = Result<Event<DynamicObject>, watcher::Error>>,
{
    let labels = Metrics::ck(&ctx.cluster, kind.as_str());
    let health = kind.counts_for_health().then_some(&ctx.health);
    let events = ctx.metrics.watch_events.get_or_create(&labels).clone();
    let errors = ctx.metrics.watch_errors.get_or_create(&labels).clone();
    let mut buffer: Vec<DynamicObject> = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(ev) => {
                events.inc();
                match ev {
                    Event::Init => {
                        debug!("relist started");
                        buffer.clear();
                        if let Some(h) = health {
                            h.watch_ok(kind.as_str(), false);
                        }
                    }
                    Event::InitApply(o) => buffer.push(o),
                    Event::InitDone => {
                        let objects = std::mem::take(&mut buffer);
                        debug!(objects = objects.len(), "relist done");
                        ctx.sink.replace(&ctx.cluster, kind, objects);
                        if let Some(h) = health {
                            h.watch_ok(kind.as_str(), true);
                        }
                    }
                    Event::Apply(o) => {
                        ctx.sink.apply(&ctx.cluster, kind, o);
                        if let Some(h) = health {
                            h.watch_ok(kind.as_str(), false);
                        }
                    }
                    Event::Delete(o) => {
                        ctx.sink.delete(&ctx.cluster, kind, o);
                        if let Some(h) = health {
                            h.watch_ok(kind.as_str(), false);
                        }
                    }
                }
            }
            Err(e) => {
                errors.inc();
                warn!(error = %e, "watch failed; retrying with backoff");
                if let Some(h) = health {
                    h.watch_failed(kind.as_str(), &e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    #[test]
    fn typed_decoding_names_the_object_on_error() {
        let good: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": [{"port": 80}]}
        }))
        .unwrap();
        let svc: Service = typed("east", WatchKind::Service, good).unwrap();
        assert_eq!(svc.spec.unwrap().ports.unwrap()[0].port, 80);
        let bad: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": "eighty"}
        }))
        .unwrap();
        let err = typed::<Service>("east", WatchKind::Service, bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cluster east: Service shop/web: malformed object"),
            "{err}"
        );
    }
}
