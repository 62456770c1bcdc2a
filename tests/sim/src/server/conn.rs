//! The accept loop and connections: (re)binding the listener around partitions, TLS, HTTP/1
//! connections, and the per-request wrapper (partitions, latency, the request log).

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use super::record::RequestRecord;
use super::response::{Body, error_response};
use super::routes::route;
use super::state::ClusterState;
use crate::faults::{Faults, Partition};
use crate::sync::lock;

/// Accept loop: (re)binds the listener, honours partitions and shutdown.
pub(crate) async fn serve(
    state: Arc<ClusterState>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut listener = Some(listener);
    let mut part_rx = state.faults.partition_rx();
    let mut shutdown = state.shutdown.subscribe();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let partition = *part_rx.borrow_and_update();
        if partition == Partition::Refuse {
            listener = None;
        } else if listener.is_none() {
            for _ in 0..200 {
                match TcpListener::bind(state.addr).await {
                    Ok(l) => {
                        listener = Some(l);
                        break;
                    }
                    Err(e) => {
                        debug!(cluster = %state.name, error = %e, "re-binding the listener");
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                }
            }
            if listener.is_none() {
                warn!(cluster = %state.name, addr = %state.addr, "could not re-bind the listener after a partition");
            }
        }
        match &listener {
            Some(l) => {
                tokio::select! {
                    accepted = l.accept() => match accepted {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let st = state.clone();
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                match tls {
                                    Some(acceptor) => match acceptor.accept(stream).await {
                                        Ok(s) => serve_conn(st, s).await,
                                        Err(e) => debug!(error = %e, "TLS handshake failed"),
                                    },
                                    None => serve_conn(st, stream).await,
                                }
                            });
                        }
                        Err(e) => {
                            debug!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    },
                    _ = part_rx.changed() => {}
                    _ = shutdown.changed() => {}
                }
            }
            None => {
                tokio::select! {
                    r = part_rx.changed() => if r.is_err() { break },
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

async fn serve_conn<I>(state: Arc<ClusterState>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut part_rx = state.faults.partition_rx();
    let mut shutdown = state.shutdown.subscribe();
    let st = state.clone();
    let svc = service_fn(move |req| handle(st.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    let refused = async {
        loop {
            if *part_rx.borrow_and_update() == Partition::Refuse {
                return;
            }
            if part_rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = conn => if let Err(e) = r { debug!(error = %e, "connection ended") },
        _ = refused => {}
        _ = shutdown.changed() => {}
    }
}

/// Waits while the cluster is hung; `false` if the request must be dropped.
async fn wait_partition(faults: &Faults) -> bool {
    let mut rx = faults.partition_rx();
    let first = *rx.borrow_and_update();
    if first == Partition::None {
        return true;
    }
    // A request caught by a partition is never answered.
    loop {
        if rx.changed().await.is_err() {
            return false;
        }
        if *rx.borrow_and_update() == Partition::None {
            return false;
        }
    }
}

/// Serves one request (unless a partition drops it) and records it in the request log.
async fn handle(
    state: Arc<ClusterState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    if !wait_partition(&state.faults).await {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "partitioned",
        ));
    }
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut record = RequestRecord {
        method: req.method().to_string(),
        verb: req.method().as_str().to_ascii_lowercase(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        path: req.uri().path().to_string(),
        code: 0,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        user: String::new(),
    };
    let resp = match route(&state, req, &mut record).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    record.code = resp.status().as_u16();
    debug!(cluster = %state.name, verb = %record.verb, resource = %record.resource, namespace = %record.namespace, name = %record.name, code = record.code, "request");
    let mut log = lock(&state.log);
    if log.len() >= state.log_limit {
        log.pop_front();
    }
    log.push_back(record);
    Ok(resp)
}
