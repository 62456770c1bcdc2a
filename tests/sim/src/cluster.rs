//! A running simulated cluster ([`SimCluster`]): starting it from [`SimOptions`], its address and
//! kubeconfig, direct seeding and reading of objects, the request log, and shutdown.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::faults::{self, FaultHandle};
use crate::selector;
use crate::server::{self, ClusterState, RequestRecord};
use crate::store::{self, Store, StoreLimits};
use crate::sync::lock;
use crate::tls;

/// Errors of the simulator's public API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listener or writing a file failed.
    #[error("I/O error on {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS material could not be generated.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The API rejected an object (seeding, CRD installation).
    #[error("{what}: {source}")]
    Api {
        /// Which object.
        what: String,
        /// The API error.
        source: ApiError,
    },
    /// A bundled or configured file could not be read.
    #[error("{file}: {message}")]
    Config {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// How to start a simulated cluster.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Cluster name (kubeconfig cluster/user/context name).
    pub name: String,
    /// Serve HTTPS with a generated CA (in the kubeconfig's `certificate-authority-data`).
    pub tls: bool,
    /// Bearer token required on every request (401 otherwise); `None` = no authentication.
    pub token: Option<String>,
    /// CustomResourceDefinition objects to install at start.
    pub crds: Vec<Value>,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Watch events kept for resuming watches; older resourceVersions give 410 Gone.
    pub history_limit: usize,
    /// Per-cluster event channel capacity; a watcher further behind gets 410 Gone.
    pub watch_buffer: usize,
    /// Requests kept in the request log (oldest dropped first).
    pub request_log_limit: usize,
    /// Port to bind on 127.0.0.1 (0 = ephemeral).
    pub port: u16,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            name: "sim".into(),
            tls: false,
            token: None,
            crds: Vec::new(),
            bookmark_interval: Duration::from_secs(5),
            history_limit: 2000,
            watch_buffer: 4096,
            request_log_limit: 100_000,
            port: 0,
        }
    }
}

/// A running simulated cluster; stops on drop or [`SimCluster::shutdown`].
pub struct SimCluster {
    state: Arc<ClusterState>,
    ca_pem: Option<String>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("name", &self.state.name)
            .field("url", &self.url())
            .finish()
    }
}

impl SimCluster {
    /// Starts a cluster on 127.0.0.1.
    pub async fn start(opts: SimOptions) -> Result<SimCluster, SimError> {
        let listener = TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|source| SimError::Io {
                what: format!("binding 127.0.0.1:{}", opts.port),
                source,
            })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| SimError::Io {
            what: "reading the bound address".into(),
            source,
        })?;
        let (tls, ca_pem) = if opts.tls {
            let t = tls::generate(&opts.name)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(t.config)),
                Some(t.ca_pem),
            )
        } else {
            (None, None)
        };
        let store = Arc::new(Mutex::new(Store::new(StoreLimits {
            history: opts.history_limit.max(1),
            watch_buffer: opts.watch_buffer,
        })));
        {
            let mut s = lock(&store);
            s.set_service_account_ca(ca_pem.as_deref());
            for crd in &opts.crds {
                let name = crd
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("<unnamed>")
                    .to_string();
                s.seed(crd.clone()).map_err(|source| SimError::Api {
                    what: format!("installing CRD {name}"),
                    source,
                })?;
            }
        }
        let state = Arc::new(ClusterState {
            name: opts.name.clone(),
            faults: Arc::new(faults::Faults::new(store.clone())),
            store,
            token: opts.token.clone(),
            log: Mutex::new(VecDeque::new()),
            log_limit: opts.request_log_limit.max(1),
            bookmark_interval: opts.bookmark_interval,
            addr,
            shutdown: watch::channel(false).0,
            watches: Mutex::new(std::collections::HashMap::new()),
        });
        let task = tokio::spawn(server::serve(state.clone(), listener, tls));
        tracing::info!(cluster = %opts.name, %addr, tls = opts.tls, "simulated cluster started");
        Ok(SimCluster {
            state,
            ca_pem,
            task: Some(task),
        })
    }

    /// The cluster name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// `http(s)://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.state.addr)
    }

    /// PEM of the cluster CA, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig with one cluster, user and context named after the cluster.
    pub fn kubeconfig_yaml(&self) -> String {
        use base64::Engine;
        let name = &self.state.name;
        let ca = self
            .ca_pem
            .as_ref()
            .map(|pem| {
                format!(
                    "\n    certificate-authority-data: {}",
                    base64::engine::general_purpose::STANDARD.encode(pem)
                )
            })
            .unwrap_or_default();
        let user = match &self.state.token {
            Some(t) => format!("\n    token: {t}"),
            // kubectl asks for a username over HTTPS when a user has no credentials at all; the
            // server checks no token in this case, so any value works.
            None => "\n    token: unauthenticated".to_string(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}{ca}\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\ncurrent-context: {name}\nusers:\n- name: {name}\n  user:{user}\npreferences: {{}}\n",
            url = self.url()
        )
    }

    /// Writes [`SimCluster::kubeconfig_yaml`] to a file.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| SimError::Io {
            what: format!("writing {}", path.display()),
            source,
        })
    }

    /// Fault injection for this cluster.
    pub fn faults(&self) -> FaultHandle {
        FaultHandle {
            inner: self.state.faults.clone(),
        }
    }

    /// Direct seeding: create or replace an object as given (status included); bumps the
    /// resourceVersion and emits watch events. A missing namespace is created.
    pub fn apply_json(&self, obj: Value) -> Result<Value, SimError> {
        let what = describe(&obj);
        lock(&self.state.store)
            .seed(obj)
            .map_err(|source| SimError::Api { what, source })
    }

    /// Deletes an object as a client's DELETE would (finalizers and cascading honoured);
    /// `None` if it does not exist.
    pub fn delete_json(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let mut store = lock(&self.state.store);
        let (info, version) = store.registry().lookup_kind(api_version, kind)?;
        store
            .delete(
                &info,
                &version,
                ns.filter(|_| info.namespaced),
                name,
                store::Propagation::Background,
                false,
            )
            .ok()
    }

    /// One object in the given version, if it exists.
    pub fn get_json(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let store = lock(&self.state.store);
        let (info, version) = store.registry().lookup_kind(api_version, kind)?;
        let obj = store.get(&info, ns.filter(|_| info.namespaced), name)?;
        serde_json::from_slice(&Store::render(&info, &version, &obj)).ok()
    }

    /// All objects of a kind (in one namespace, or all when `ns` is `None`).
    pub fn list_json(&self, api_version: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
        let store = lock(&self.state.store);
        let Some((info, version)) = store.registry().lookup_kind(api_version, kind) else {
            return Vec::new();
        };
        let all = selector::LabelSelector::default();
        let none = selector::FieldSelector::default();
        store
            .list(
                &info,
                ns.filter(|_| info.namespaced),
                &all,
                &none,
                None,
                None,
            )
            .map(|page| {
                page.items
                    .iter()
                    .filter_map(|o| serde_json::from_slice(&Store::render(&info, &version, o)).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The requests served so far (oldest first, bounded by `request_log_limit`).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).iter().cloned().collect()
    }

    /// Empties the request log.
    pub fn clear_request_log(&self) {
        lock(&self.state.log).clear();
    }

    /// Number of open watch streams, on one resource (`"services"`, `"serviceexports"`; any
    /// group) or on all when `None`. Lets a test wait until a component is watching before it
    /// changes state.
    pub fn open_watches(&self, resource: Option<&str>) -> usize {
        lock(&self.state.watches)
            .iter()
            .filter(|(key, _)| resource.is_none_or(|r| key.rsplit('/').next() == Some(r)))
            .map(|(_, n)| *n)
            .sum()
    }

    /// The current resourceVersion of the cluster.
    pub fn resource_version(&self) -> u64 {
        lock(&self.state.store).rv()
    }

    /// Number of stored objects (all kinds).
    pub fn object_count(&self) -> usize {
        lock(&self.state.store).object_count()
    }

    /// Stops the server: the listener closes, open connections and watches end.
    pub async fn shutdown(mut self) {
        self.state.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.state.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `Kind namespace/name` of an object, for error messages.
fn describe(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let ns = s("/metadata/namespace");
    format!(
        "{} {}{}{}",
        s("/kind"),
        ns,
        if ns.is_empty() { "" } else { "/" },
        s("/metadata/name")
    )
}
