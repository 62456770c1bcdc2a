//! `--source kube`: watches ServiceImports (v1beta1, or v1alpha1 when only that is served)
//! and MCS EndpointSlices (label `multicluster.kubernetes.io/service-name`) in the local
//! cluster. [`KubeState`] turns watch events into a [`Store`] without any I/O; the objects
//! reach the store as JSON, the form the MCS reading takes.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use isthmus_api::labels::MCS_SERVICE_NAME;
use isthmus_api::mcs::{ServiceImportSpec, v1alpha1, v1beta1};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use super::Store;
use crate::handle::TableHandle;

/// Errors starting the kube source.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("loading kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("no Kubernetes configuration (in-cluster or kubeconfig): {0}")]
    Config(String),
    #[error("creating the Kubernetes client: {0}")]
    Client(String),
    #[error("checking which ServiceImport version is served: {0}")]
    Discovery(String),
}

/// A ServiceImport reduced to what the table needs, independent of its API version.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportObj {
    pub namespace: String,
    pub name: String,
    pub spec: ServiceImportSpec,
}

impl ImportObj {
    /// The object as the MCS reading takes it: JSON, as Kubernetes serves it.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut metadata = serde_json::Map::new();
        metadata.insert("namespace".into(), self.namespace.clone().into());
        metadata.insert("name".into(), self.name.clone().into());
        let mut object = serde_json::Map::new();
        object.insert("kind".into(), "ServiceImport".into());
        object.insert("metadata".into(), metadata.into());
        object.insert("spec".into(), serde_json::to_value(&self.spec)?);
        Ok(object.into())
    }
}

/// One watch event from either watch.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Update {
    Import(Event<ImportObj>),
    Slice(Event<EndpointSlice>),
}

/// Watch bookkeeping: the store plus whether each watch has finished its initial list.
#[derive(Debug, Default)]
pub struct KubeState {
    pub store: Store,
    imports_synced: bool,
    slices_synced: bool,
    imports_listing: bool,
    slices_listing: bool,
}

impl KubeState {
    /// Applies one event. Malformed objects are logged and skipped (the rest of the table
    /// stays). Returns whether the store may have changed.
    pub fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Import(ev) => match ev {
                Event::Init => {
                    self.store.clear_imports();
                    self.imports_listing = true;
                    true
                }
                Event::InitApply(o) | Event::Apply(o) => {
                    let applied = o
                        .to_json()
                        .map_err(|e| e.to_string())
                        .and_then(|v| self.store.apply_import(&v).map_err(|e| e.to_string()));
                    if let Err(e) = applied {
                        tracing::warn!(error = %e, "skipping malformed ServiceImport");
                        self.store.delete_import(&o.namespace, &o.name);
                    }
                    true
                }
                Event::Delete(o) => {
                    self.store.delete_import(&o.namespace, &o.name);
                    true
                }
                Event::InitDone => {
                    self.imports_listing = false;
                    self.imports_synced = true;
                    true
                }
            },
            Update::Slice(ev) => match ev {
                Event::Init => {
                    self.store.clear_slices();
                    self.slices_listing = true;
                    true
                }
                Event::InitApply(s) | Event::Apply(s) => {
                    let applied = serde_json::to_value(&s)
                        .map_err(|e| e.to_string())
                        .and_then(|v| self.store.apply_slice(&v).map_err(|e| e.to_string()));
                    if let Err(e) = applied {
                        tracing::warn!(error = %e, "skipping malformed EndpointSlice");
                        let ns = s.metadata.namespace.clone().unwrap_or_default();
                        let name = s.metadata.name.clone().unwrap_or_default();
                        self.store.delete_slice(&ns, &name);
                    }
                    true
                }
                Event::Delete(s) => {
                    let ns = s.metadata.namespace.clone().unwrap_or_default();
                    let name = s.metadata.name.clone().unwrap_or_default();
                    self.store.delete_slice(&ns, &name);
                    true
                }
                Event::InitDone => {
                    self.slices_listing = false;
                    self.slices_synced = true;
                    true
                }
            },
        }
    }

    /// True when both watches have a complete list and neither is re-listing: only then is
    /// the store a complete picture worth publishing.
    pub fn complete(&self) -> bool {
        self.imports_synced && self.slices_synced && !self.imports_listing && !self.slices_listing
    }
}

/// Builds a client from `--kubeconfig` or the in-cluster / default configuration.
pub async fn client(kubeconfig: Option<&str>) -> Result<kube::Client, KubeError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc =
                kube::config::Kubeconfig::read_from(path).map_err(|e| KubeError::Kubeconfig {
                    path: path.to_string(),
                    reason: e.to_string(),
                })?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| KubeError::Kubeconfig {
                    path: path.to_string(),
                    reason: e.to_string(),
                })?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| KubeError::Config(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))
}

fn import_stream<K>(api: Api<K>, to_obj: fn(K) -> ImportObj) -> impl Stream<Item = Update> + Send
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |r| async move {
            match r {
                Ok(ev) => Some(Update::Import(map_event(ev, to_obj))),
                Err(e) => {
                    tracing::warn!(error = %e, "ServiceImport watch error; retrying");
                    None
                }
            }
        })
}

fn map_event<K, T>(ev: Event<K>, f: fn(K) -> T) -> Event<T> {
    match ev {
        Event::Apply(k) => Event::Apply(f(k)),
        Event::Delete(k) => Event::Delete(f(k)),
        Event::Init => Event::Init,
        Event::InitApply(k) => Event::InitApply(f(k)),
        Event::InitDone => Event::InitDone,
    }
}

fn from_v1beta1(s: v1beta1::ServiceImport) -> ImportObj {
    ImportObj {
        namespace: s.metadata.namespace.unwrap_or_default(),
        name: s.metadata.name.unwrap_or_default(),
        spec: s.spec.0,
    }
}

fn from_v1alpha1(s: v1alpha1::ServiceImport) -> ImportObj {
    ImportObj {
        namespace: s.metadata.namespace.unwrap_or_default(),
        name: s.metadata.name.unwrap_or_default(),
        spec: s.spec.0,
    }
}

/// Watches the cluster and publishes a table after the initial lists and after every burst
/// of changes. Runs until the task is dropped.
pub async fn run(client: kube::Client, handle: Arc<TableHandle>) -> Result<(), KubeError> {
    let beta: Api<v1beta1::ServiceImport> = Api::all(client.clone());
    let imports = match beta.list(&ListParams::default().limit(1)).await {
        Ok(_) => import_stream(beta, from_v1beta1).boxed(),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            tracing::info!(
                "multicluster.x-k8s.io/v1beta1 is not served; watching v1alpha1 ServiceImports"
            );
            import_stream(
                Api::<v1alpha1::ServiceImport>::all(client.clone()),
                from_v1alpha1,
            )
            .boxed()
        }
        Err(e) => return Err(KubeError::Discovery(e.to_string())),
    };
    let slices_api: Api<EndpointSlice> = Api::all(client);
    let slices = watcher::watcher(
        slices_api,
        watcher::Config::default().labels(MCS_SERVICE_NAME),
    )
    .default_backoff()
    .filter_map(|r| async move {
        match r {
            Ok(ev) => Some(Update::Slice(ev)),
            Err(e) => {
                tracing::warn!(error = %e, "EndpointSlice watch error; retrying");
                None
            }
        }
    })
    .boxed();
    let mut events = futures::stream::select(imports, slices);
    let mut state = KubeState::default();
    let mut dirty = false;
    loop {
        // Collect a burst of events (up to 50 ms of quiet) before rebuilding.
        let next = if dirty {
            tokio::time::timeout(Duration::from_millis(50), events.next()).await
        } else {
            Ok(events.next().await)
        };
        let quiet = next.is_err();
        match next {
            Ok(Some(u)) => dirty |= state.apply(u),
            Ok(None) => return Ok(()),
            Err(_) => {}
        }
        if dirty && state.complete() && (quiet || !handle.is_ready()) {
            if let Err(e) = handle.publish(&state.store.to_set()) {
                tracing::error!(error = %e, "building the answer table failed");
                handle.metrics().table_load_error();
            }
            dirty = false;
        }
    }
}
