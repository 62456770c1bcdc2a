//! The client side of the discovery protocol: keeps one cluster's name table in sync with the
//! controller, reconnecting with exponential backoff and resuming by version. While
//! disconnected the last table stays in place.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isthmus_api::backoff::Backoff;
use tokio::sync::watch;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::table::{Applied, ClientTable, NameTable};
use crate::v1::WatchRequest;
use crate::v1::cluster_set_discovery_client::ClusterSetDiscoveryClient;

/// PEM material for mTLS.
#[derive(Clone)]
pub struct ClientTls {
    /// The clusterset root(s) the server's certificate must chain to.
    pub ca_pem: Vec<u8>,
    /// This proxy's certificate chain and key, naming its cluster.
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The name to check in the server's certificate; defaults to the URL's host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    /// The member cluster this client serves.
    pub cluster: String,
    /// `None` means plaintext (only with an explicit insecure flag at the edge).
    pub tls: Option<ClientTls>,
    pub connect_timeout: Duration,
    /// No message (keepalives included) for this long means the connection is dead.
    pub idle_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, cluster: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            cluster: cluster.into(),
            tls: None,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(45),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What the client publishes after every change.
#[derive(Clone, Debug, Default)]
pub struct ClientState {
    pub epoch: u64,
    pub version: u64,
    /// `None` until the first snapshot arrives.
    pub table: Option<Arc<NameTable>>,
    pub connected: bool,
    /// When the table last changed (snapshot or delta).
    pub updated_at: Option<Instant>,
    pub reconnects: u64,
    pub snapshots: u64,
    pub deltas: u64,
}

impl ClientState {
    pub fn current(&self) -> Option<Arc<NameTable>> {
        self.table.clone()
    }
}

/// Why one connection attempt ended.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid discovery URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("connect: {0}")]
    Connect(String),
    #[error("server refused the watch: {0}")]
    Refused(tonic::Status),
    #[error("stream ended: {0}")]
    Stream(tonic::Status),
    #[error("server closed the stream")]
    Closed,
    #[error("no message for {0:?}")]
    Idle(Duration),
    #[error("server sent a message that does not apply: {0}")]
    Protocol(crate::table::TableError),
}

impl ClientError {
    /// Errors that retrying cannot fix.
    pub fn is_permanent(&self) -> bool {
        match self {
            ClientError::Url { .. } | ClientError::Tls(_) => true,
            ClientError::Refused(s) => matches!(
                s.code(),
                tonic::Code::InvalidArgument
                    | tonic::Code::PermissionDenied
                    | tonic::Code::Unauthenticated
            ),
            _ => false,
        }
    }
}

fn endpoint(cfg: &ClientConfig) -> Result<Endpoint, ClientError> {
    let url_err = |reason: String| ClientError::Url {
        url: cfg.url.clone(),
        reason,
    };
    let mut ep = Endpoint::from_shared(cfg.url.clone()).map_err(|e| url_err(e.to_string()))?;
    ep = ep
        .connect_timeout(cfg.connect_timeout)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if let Some(tls) = &cfg.tls {
        let mut tc = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&tls.ca_pem))
            .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
        if let Some(name) = &tls.server_name {
            tc = tc.domain_name(name.clone());
        }
        ep = ep
            .tls_config(tc)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
    } else if cfg.url.starts_with("https://") {
        return Err(url_err("https URL without TLS material".into()));
    }
    Ok(ep)
}

/// One connection: connect, watch, apply messages to `table` until the stream ends; every
/// change is published on `state`.
pub async fn watch_once(
    cfg: &ClientConfig,
    table: &mut ClientTable,
    state: &watch::Sender<ClientState>,
) -> Result<(), ClientError> {
    let channel: Channel = endpoint(cfg)?
        .connect()
        .await
        .map_err(|e| ClientError::Connect(error_chain(&e)))?;
    let mut client = ClusterSetDiscoveryClient::new(channel);
    let request = WatchRequest {
        cluster: cfg.cluster.clone(),
        resume_epoch: table.epoch,
        resume_from_version: if table.table.is_some() {
            table.version
        } else {
            0
        },
    };
    let mut stream = client
        .watch(request)
        .await
        .map_err(ClientError::Refused)?
        .into_inner();
    state.send_modify(|s| s.connected = true);
    loop {
        let next = tokio::time::timeout(cfg.idle_timeout, stream.message()).await;
        let message = match next {
            Err(_) => return Err(ClientError::Idle(cfg.idle_timeout)),
            Ok(Err(status)) => return Err(ClientError::Stream(status)),
            Ok(Ok(None)) => return Err(ClientError::Closed),
            Ok(Ok(Some(m))) => m,
        };
        match table.apply(&message) {
            Ok(Applied::Snapshot) | Ok(Applied::Delta) => {
                let snapshot = matches!(
                    message.body,
                    Some(crate::v1::watch_response::Body::Snapshot(_))
                );
                state.send_modify(|s| {
                    s.epoch = table.epoch;
                    s.version = table.version;
                    s.table = table.table.clone();
                    s.updated_at = Some(Instant::now());
                    if snapshot {
                        s.snapshots += 1;
                    } else {
                        s.deltas += 1;
                    }
                });
            }
            Ok(Applied::SnapshotPart) | Ok(Applied::Keepalive) => {}
            Err(e) => {
                // Forget the resume point so the next connection starts from a snapshot.
                table.version = 0;
                return Err(ClientError::Protocol(e));
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Runs until `shutdown` completes, reconnecting forever with jittered exponential backoff
/// (see `reconnect_backoff`). Returns an error only for permanent failures (bad URL, TLS setup,
/// refused identity).
pub async fn run(
    cfg: ClientConfig,
    state: watch::Sender<ClientState>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ClientError> {
    tokio::pin!(shutdown);
    let mut backoff = reconnect_backoff(&cfg);
    let mut table = ClientTable::default();
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            r = watch_once(&cfg, &mut table, &state) => r,
            _ = &mut shutdown => return Ok(()),
        };
        state.send_modify(|s| {
            s.connected = false;
            s.reconnects += 1;
        });
        let err = match result {
            Ok(()) => ClientError::Closed,
            Err(e) => e,
        };
        if err.is_permanent() {
            tracing::error!(cluster = %cfg.cluster, url = %cfg.url, error = %err, "discovery watch refused permanently");
            return Err(err);
        }
        // A connection that lived a while resets the backoff.
        if started.elapsed() > cfg.backoff_max {
            backoff.reset();
        }
        let age = state.borrow().updated_at.map(|t| t.elapsed().as_secs_f64());
        let wait = backoff.next_delay();
        tracing::warn!(cluster = %cfg.cluster, url = %cfg.url, error = %err, retry_in_ms = wait.as_millis() as u64, table_age_s = ?age, "discovery watch ended; serving the last table");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
}

/// The waits between reconnects: a base delay that starts at `backoff_initial` and doubles up
/// to `backoff_max`, each wait drawn between half the base and the base
/// ([`isthmus_api::backoff`]), so proxies that lost the same server do not all come back at once.
fn reconnect_backoff(cfg: &ClientConfig) -> Backoff {
    Backoff::new(cfg.backoff_initial, cfg.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_double_up_to_the_maximum_between_half_the_base_and_the_base() {
        let mut cfg = ClientConfig::new("http://127.0.0.1:1", "east");
        cfg.backoff_initial = Duration::from_millis(200);
        cfg.backoff_max = Duration::from_secs(30);
        let mut backoff = reconnect_backoff(&cfg);
        let mut base = cfg.backoff_initial;
        for _ in 0..20 {
            let wait = backoff.next().unwrap_or_default();
            assert!(
                wait >= base / 2 && wait <= base,
                "{wait:?} not in [{:?}, {base:?}]",
                base / 2
            );
            base = (base * 2).min(cfg.backoff_max);
        }
        assert_eq!(base, cfg.backoff_max);
    }
}
