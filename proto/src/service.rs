//! The tonic service that serves a [`Publisher`] to DNS proxies.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::identity;
use crate::publisher::{Publisher, SubscribeError, Subscription};
use crate::v1::cluster_set_discovery_server::ClusterSetDiscovery;
use crate::v1::{Keepalive, WatchRequest, WatchResponse, watch_response::Body};

/// How the service checks who a client is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Plaintext or server-only TLS: any client may ask for any cluster's view.
    Insecure,
    /// mTLS: the client certificate must name the cluster whose view it asks for, and be
    /// signed by that cluster's own intermediate or by one of these roots
    /// ([`identity::check_signer`]).
    ClusterCertificate(identity::ClientRoots),
}

/// Serves `ClusterSetDiscovery.Watch` from a publisher.
pub struct DiscoveryService {
    publisher: Arc<Publisher>,
    keepalive: Duration,
    auth: ClientAuth,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl DiscoveryService {
    /// `stopping` turning true ends every open stream with `UNAVAILABLE`, so clients move on
    /// (and resume elsewhere) instead of holding a shutdown open.
    pub fn new(
        publisher: Arc<Publisher>,
        keepalive: Duration,
        auth: ClientAuth,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        DiscoveryService {
            publisher,
            keepalive,
            auth,
            stopping,
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

/// Checks that `name` is an RFC 1123 label, as member cluster IDs are.
pub fn validate_cluster_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("cluster must not be empty".into());
    }
    if name.len() > 63 {
        return Err(format!("cluster {name:?} is longer than 63 characters"));
    }
    let bytes = name.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !bytes.iter().all(ok_char) || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(format!("cluster {name:?} is not an RFC 1123 label"));
    }
    Ok(())
}

#[tonic::async_trait]
impl ClusterSetDiscovery for DiscoveryService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let peer = match &self.auth {
            ClientAuth::Insecure => None,
            ClientAuth::ClusterCertificate(roots) => {
                let certs = request.peer_certs().ok_or_else(|| {
                    Status::unauthenticated("a client certificate naming the cluster is required")
                })?;
                let leaf = certs.first().ok_or_else(|| {
                    Status::unauthenticated("a client certificate naming the cluster is required")
                })?;
                let clusters = identity::clusters_in_certificate(leaf.as_ref())
                    .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))?;
                Some((certs, clusters, roots))
            }
        };
        let req = request.into_inner();
        validate_cluster_name(&req.cluster).map_err(Status::invalid_argument)?;
        if let Some((certs, allowed, roots)) = peer {
            if !allowed.iter().any(|c| c == &req.cluster) {
                return Err(Status::permission_denied(format!(
                    "client certificate is for {allowed:?}, not cluster {:?}",
                    req.cluster
                )));
            }
            let now = rustls_pki_types::UnixTime::now();
            identity::check_signer(&certs, roots, &req.cluster, now).map_err(|e| {
                tracing::warn!(cluster = %req.cluster, error = %e, "discovery client refused");
                Status::permission_denied(e.to_string())
            })?;
        }
        let resume =
            (req.resume_from_version > 0).then_some((req.resume_epoch, req.resume_from_version));
        let sub = self
            .publisher
            .subscribe(&req.cluster, resume)
            .map_err(|e| match e {
                SubscribeError::NotReady => Status::unavailable(e.to_string()),
                SubscribeError::UnknownCluster(_) => Status::not_found(e.to_string()),
            })?;
        tracing::info!(cluster = %req.cluster, resumed = sub.resumed, version = sub.version, "discovery client subscribed");
        Ok(Response::new(Box::pin(feed(
            sub,
            self.keepalive,
            self.stopping.clone(),
        ))))
    }
}

struct FeedState {
    sub: Subscription,
    pending: std::vec::IntoIter<Arc<WatchResponse>>,
    version: u64,
    keepalive: tokio::time::Interval,
    stopping: tokio::sync::watch::Receiver<bool>,
    done: bool,
}

/// The message stream of one subscriber: catch-up, then live deltas and keepalives. A
/// subscriber that falls behind the buffer is ended with `RESOURCE_EXHAUSTED`; it reconnects
/// and resumes from its last version.
fn feed(
    sub: Subscription,
    keepalive: Duration,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<WatchResponse, Status>> {
    let pending = sub.initial.clone().into_iter();
    let period = keepalive.max(Duration::from_millis(10));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = FeedState {
        version: sub.version,
        sub,
        pending,
        keepalive: interval,
        stopping,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(m) = st.pending.next() {
            // Let the encoder flush each catch-up message on its own, so a large snapshot
            // never grows this connection's buffers to the snapshot's size.
            tokio::task::yield_now().await;
            st.version = st.version.max(m.version);
            return Some((Ok(WatchResponse::clone(&m)), st));
        }
        enum Next {
            Stop,
            Message(Result<Arc<WatchResponse>, RecvError>),
            Keepalive,
        }
        loop {
            let next = tokio::select! {
                _ = st.stopping.wait_for(|stop| *stop) => Next::Stop,
                msg = st.sub.live.recv() => Next::Message(msg),
                _ = st.keepalive.tick() => Next::Keepalive,
            };
            let item = match next {
                Next::Stop => {
                    st.done = true;
                    Err(Status::unavailable(
                        "server is shutting down; reconnect and resume",
                    ))
                }
                Next::Message(Ok(m)) => {
                    // Deltas the catch-up already covered are skipped.
                    if m.version <= st.version {
                        continue;
                    }
                    st.version = m.version;
                    Ok(WatchResponse::clone(&m))
                }
                Next::Message(Err(RecvError::Lagged(n))) => {
                    tracing::warn!(cluster = %st.sub.cluster, skipped = n, "discovery client too slow; dropping it");
                    st.done = true;
                    Err(Status::resource_exhausted(format!(
                        "client fell {n} messages behind; reconnect and resume from version {}",
                        st.version
                    )))
                }
                Next::Message(Err(RecvError::Closed)) => {
                    st.done = true;
                    Err(Status::not_found(format!(
                        "cluster {:?} left the clusterset",
                        st.sub.cluster
                    )))
                }
                Next::Keepalive => Ok(WatchResponse {
                    epoch: st.sub.epoch,
                    version: st.version,
                    body: Some(Body::Keepalive(Keepalive {})),
                }),
            };
            return Some((item, st));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_must_be_rfc1123_labels() {
        assert!(validate_cluster_name("east-1").is_ok());
        for bad in ["", "East", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(validate_cluster_name(bad).is_err(), "{bad:?}");
        }
    }
}

/// PEM material for the server's side of mTLS.
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate chain (naming its service DNS name) and key.
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The clusterset root(s) client certificates must chain to.
    pub client_ca_pem: Vec<u8>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("serving: {0}")]
    Transport(String),
}

/// Serves the discovery API on `listener` until `shutdown` completes. With `tls`, clients must
/// present a certificate under the clusterset root naming the cluster they ask for, signed by
/// that cluster's intermediate or the root ([`identity::check_signer`]); without it
/// the API is plaintext and unauthenticated.
pub async fn serve(
    publisher: Arc<Publisher>,
    listener: tokio::net::TcpListener,
    tls: Option<ServerTls>,
    keepalive: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    use crate::v1::cluster_set_discovery_server::ClusterSetDiscoveryServer;
    use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_keepalive(Some(Duration::from_secs(30)));
    let auth = if let Some(tls) = tls {
        let roots = identity::ClientRoots::from_pem(&tls.client_ca_pem)
            .map_err(|e| ServeError::Tls(e.to_string()))?;
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
            .client_ca_root(Certificate::from_pem(&tls.client_ca_pem));
        builder = builder
            .tls_config(config)
            .map_err(|e| ServeError::Tls(e.to_string()))?;
        ClientAuth::ClusterCertificate(roots)
    } else {
        ClientAuth::Insecure
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let service = DiscoveryService::new(publisher, keepalive, auth, stop_rx);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    builder
        .add_service(ClusterSetDiscoveryServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ServeError::Transport(e.to_string()))
}
