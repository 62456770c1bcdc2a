//! Watch streaming: the events a watcher sees (selector transitions, bookmarks, errors; objects
//! in full, as `PartialObjectMetadata` or as one-row Tables), the stream's life (timeouts,
//! dropped watches, partitions, shutdown) and the open-watch count.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::request::Query;
use super::response::{Body, TableRender, render_obj};
use super::state::ClusterState;
use crate::error::ApiError;
use crate::faults::Partition;
use crate::printers::TableMeta;
use crate::registry::ResourceInfo;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, Store, Stored, WatchInit, WatchStart};
use crate::sync::lock;

/// Counts a watch as open while it lives.
struct WatchGuard {
    state: Arc<ClusterState>,
    key: String,
}

impl WatchGuard {
    fn new(state: Arc<ClusterState>, key: String) -> Self {
        *lock(&state.watches).entry(key.clone()).or_default() += 1;
        Self { state, key }
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut w = lock(&self.state.watches);
        if let Some(n) = w.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.remove(&self.key);
            }
        }
    }
}

/// One line of a watch stream: `{"type":...,"object":...}`.
fn event_line(etype: &str, object: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(object.len() + 32);
    out.put_slice(b"{\"type\":\"");
    out.put_slice(etype.as_bytes());
    out.put_slice(b"\",\"object\":");
    out.put_slice(object);
    out.put_slice(b"}\n");
    out.freeze()
}

/// A watch answered with Tables: each event's object is a one-row Table, and only the first
/// carries the column definitions (as the API server's watch encoder does).
pub(super) struct TableWatch {
    render: TableRender,
    headers_sent: bool,
}

impl TableWatch {
    pub(super) fn new(render: TableRender) -> Self {
        Self {
            render,
            headers_sent: false,
        }
    }

    /// Whether the next Table carries the column definitions (only the first does).
    fn take_headers(&mut self) -> bool {
        !std::mem::replace(&mut self.headers_sent, true)
    }
}

/// What one watcher asked for: resource, version, namespace, selectors and the form of the
/// objects (full, metadata-only or Table).
pub(super) struct WatchFilter {
    pub(super) info: Arc<ResourceInfo>,
    pub(super) version: String,
    pub(super) ns: Option<String>,
    pub(super) labels: LabelSelector,
    pub(super) fields: FieldSelector,
    pub(super) meta_only: bool,
    pub(super) table: Option<TableWatch>,
}

impl WatchFilter {
    fn matches(&self, o: &Stored) -> bool {
        Store::matches_obj(o, self.ns.as_deref(), &self.labels, &self.fields)
    }

    /// An object as this watcher receives it.
    fn render(&mut self, o: &Stored) -> Bytes {
        match &mut self.table {
            Some(t) => {
                let headers = t.take_headers();
                t.render.render_one(&self.info, &self.version, o, headers)
            }
            None => render_obj(&self.info, &self.version, o, self.meta_only),
        }
    }

    /// A BOOKMARK line at this resourceVersion (marking the end of the initial events when
    /// asked); its object carries only kind, apiVersion and the resourceVersion.
    fn bookmark(&mut self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end && let Some(m) = meta.as_object_mut() {
            m.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        let obj = if self.meta_only {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
        } else {
            json!({"kind": self.info.kind, "apiVersion": self.info.api_version(&self.version), "metadata": meta})
        };
        let body = match &mut self.table {
            Some(t) => {
                let headers = t.take_headers();
                let table_meta = TableMeta {
                    resource_version: rv.to_string(),
                    ..TableMeta::default()
                };
                t.render
                    .render_values(&[obj], &table_meta, headers)
                    .to_vec()
            }
            None => serde_json::to_vec(&obj).unwrap_or_default(),
        };
        event_line("BOOKMARK", &body)
    }

    /// The event this watcher sees for a change, with selector transitions.
    fn line(&mut self, ev: &Event) -> Option<Bytes> {
        if *ev.key != *self.info.key() {
            return None;
        }
        let now = self.matches(&ev.obj);
        let before = ev.old.as_ref().is_some_and(|o| self.matches(o));
        let etype = match ev.etype {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now || before => "DELETED",
            _ => return None,
        };
        Some(event_line(etype, &self.render(&ev.obj)))
    }
}

/// Starts a watch: parses where it starts and its timeout, registers it with the store and
/// streams its events from a task.
pub(super) fn watch_response(
    state: &Arc<ClusterState>,
    filter: WatchFilter,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let info = filter.info.clone();
    let rv = query.get("resourceVersion").unwrap_or_default();
    let send_initial = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let start = if send_initial || rv.is_empty() || rv == "0" {
        WatchStart::Current
    } else {
        WatchStart::From(rv.parse::<u64>().map_err(|_| {
            ApiError::invalid(
                &info.group,
                &info.kind,
                "",
                "resourceVersion",
                "FieldValueInvalid",
                &format!("{rv:?}: must be an unsigned integer"),
            )
        })?)
    };
    let timeout = match query.get("timeoutSeconds") {
        Some(t) if !t.is_empty() => {
            Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds {t:?}"))
            })?))
        }
        _ => None,
    };
    let info = &filter.info;
    let init = lock(&state.store).watch(
        info,
        filter.ns.as_deref(),
        &filter.labels,
        &filter.fields,
        start,
    );
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let state = state.clone();
    tokio::spawn(async move {
        let init = match init {
            Ok(init) => init,
            Err(e) => {
                let _ = tx
                    .send(event_line(
                        "ERROR",
                        &serde_json::to_vec(&e.to_status()).unwrap_or_default(),
                    ))
                    .await;
                return;
            }
        };
        run_watch(
            state,
            filter,
            init,
            tx,
            send_initial && bookmarks,
            bookmarks,
            timeout,
        )
        .await;
    });
    let stream = ReceiverStream::new(rx).map(|b| Ok::<_, std::io::Error>(Frame::data(b)));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// Sends the initial events, backlog and live events of one watch until it ends.
async fn run_watch(
    state: Arc<ClusterState>,
    mut filter: WatchFilter,
    mut init: WatchInit,
    tx: mpsc::Sender<Bytes>,
    initial_bookmark: bool,
    bookmarks: bool,
    timeout: Option<Duration>,
) {
    let _open = WatchGuard::new(state.clone(), filter.info.key().to_string());
    let mut epoch = state.faults.watch_epoch_rx();
    epoch.borrow_and_update();
    let mut part = state.faults.partition_rx();
    let mut shutdown = state.shutdown.subscribe();
    let mut last_rv = init.rv;
    let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    let sleep_until = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until);
    let mut ticker = tokio::time::interval(state.bookmark_interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;

    let mut first: Vec<Bytes> = Vec::new();
    for o in &init.initial {
        first.push(event_line("ADDED", &filter.render(o)));
    }
    if initial_bookmark {
        first.push(filter.bookmark(init.rv, true));
    }
    for ev in &init.backlog {
        if let Some(line) = filter.line(ev) {
            first.push(line);
        }
    }
    for line in first {
        if tx.send(line).await.is_err() {
            return;
        }
    }
    loop {
        // A hung cluster delivers nothing until healed.
        while *part.borrow_and_update() == Partition::Hang {
            if part.changed().await.is_err() {
                return;
            }
        }
        let out = tokio::select! {
            ev = init.rx.recv() => match ev {
                Ok(ev) => {
                    last_rv = last_rv.max(ev.rv);
                    filter.line(&ev)
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let e = ApiError::expired("the watcher fell too far behind and its events were dropped; relist");
                    let _ = tx.send(event_line("ERROR", &serde_json::to_vec(&e.to_status()).unwrap_or_default())).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if bookmarks => Some(filter.bookmark(last_rv, false)),
            _ = &mut sleep_until => return,
            _ = epoch.changed() => return,
            _ = tx.closed() => return,
            _ = shutdown.changed() => return,
            _ = part.changed() => None,
        };
        if let Some(line) = out
            && tx.send(line).await.is_err()
        {
            return;
        }
    }
}
