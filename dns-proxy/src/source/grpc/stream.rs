//! Running the source: the discovery client (restarted when its TLS files change or after a
//! refusal) and the loop that converts and publishes every new table.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mesh_proto::client::{self, ClientState};
use mesh_proto::table::NameTable;
use tokio::sync::watch;

use super::convert::Converter;
use super::settings::GrpcSource;
use crate::handle::TableHandle;
use crate::metrics::StreamStatus;

fn age_secs(state: &ClientState) -> Option<f64> {
    state
        .updated_at
        .map(|t| t.elapsed().as_millis() as f64 / 1000.0)
}

/// Resolves when any of the TLS files changes (never, for a plaintext source).
async fn files_changed(src: &GrpcSource, initial: Vec<Option<(SystemTime, u64)>>) {
    if src.tls.is_none() {
        return std::future::pending().await;
    }
    let mut ticker = tokio::time::interval(src.files_poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if src.file_stamps() != initial {
            return;
        }
    }
}

/// Keeps a discovery client running: restarts it with freshly read TLS files when they change,
/// and after a permanent refusal (wrong identity, bad TLS material) waits `backoff_max` before
/// trying again, so fixing the certificate needs no restart of the proxy.
async fn client_loop(src: GrpcSource, tx: watch::Sender<ClientState>) {
    let retry = src.backoff_max.max(Duration::from_millis(100));
    loop {
        let stamps = src.file_stamps();
        let cfg = match src.client_config() {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::error!(error = %e, retry_in_s = retry.as_secs_f64(), "discovery client TLS material unusable");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        let result = client::run(cfg, tx.clone(), files_changed(&src, stamps.clone())).await;
        tx.send_modify(|s| {
            if s.connected {
                s.connected = false;
                s.reconnects += 1;
            }
        });
        match result {
            Ok(()) => {
                tracing::info!(url = %src.url, cluster = %src.cluster, "TLS files changed; reconnecting with them");
            }
            Err(e) => {
                tracing::error!(url = %src.url, cluster = %src.cluster, error = %e, retry_in_s = retry.as_secs_f64(), "discovery server refused this proxy, or its TLS setup is unusable; serving the last table (if any) and retrying later");
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = files_changed(&src, stamps) => {}
                }
            }
        }
    }
}

fn status_of(state: &ClientState) -> StreamStatus {
    StreamStatus {
        connected: state.connected,
        reconnects: state.reconnects,
        snapshots: state.snapshots,
        deltas: state.deltas,
        updated: state
            .updated_at
            .and_then(|t| SystemTime::now().checked_sub(t.elapsed())),
    }
}

/// Runs the gRPC source: publishes a table after the first snapshot and after every change,
/// keeps the last table while disconnected, and exports the stream's state as metrics. Runs
/// until the task is dropped.
pub async fn run(src: GrpcSource, handle: Arc<TableHandle>) {
    let (tx, rx) = watch::channel(ClientState::default());
    handle.metrics().stream_status(&StreamStatus::default());
    tracing::info!(url = %src.url, cluster = %src.cluster, tls = src.tls.is_some(), "starting the discovery client");
    tokio::select! {
        _ = client_loop(src.clone(), tx) => {}
        _ = consume(src, rx, handle) => {}
    }
}

async fn consume(src: GrpcSource, mut rx: watch::Receiver<ClientState>, handle: Arc<TableHandle>) {
    let mut converter = Some(Converter::default());
    let mut published: Option<Arc<NameTable>> = None;
    let mut connected = false;
    let mut ended = 0;
    while rx.changed().await.is_ok() {
        let state = rx.borrow_and_update().clone();
        handle.metrics().stream_status(&status_of(&state));
        let services = published.as_ref().map(|t| t.len());
        // A drop and reconnect between two looks at the state still shows as a new ended
        // connection.
        if connected && (!state.connected || state.reconnects > ended) {
            connected = false;
            tracing::warn!(url = %src.url, cluster = %src.cluster, table_age_s = ?age_secs(&state), services = ?services, "discovery stream disconnected; serving the last table");
        }
        if state.connected && !connected {
            connected = true;
            tracing::info!(url = %src.url, cluster = %src.cluster, table_age_s = ?age_secs(&state), services = ?services, "discovery stream connected");
        }
        ended = state.reconnects;
        let Some(table) = state.table else { continue };
        if published.as_ref().is_some_and(|p| Arc::ptr_eq(p, &table)) {
            continue;
        }
        published = Some(table.clone());
        let mut conv = converter.take().unwrap_or_default();
        let h = handle.clone();
        let done = tokio::task::spawn_blocking(move || {
            let set = conv.convert(&table);
            let result = h.publish(&set);
            (conv, result)
        })
        .await;
        match done {
            Ok((conv, result)) => {
                handle.metrics().stream_skipped_records(conv.skipped());
                converter = Some(conv);
                if let Err(e) = result {
                    tracing::error!(error = %e, "building the answer table failed");
                    handle.metrics().table_load_error();
                }
            }
            Err(e) => tracing::error!(error = %e, "table conversion task failed"),
        }
    }
}
