//! Running the proxy as the command line says: the table handle, the source, the DNS
//! listeners and the HTTP endpoints, until ctrl-c or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use super::{Args, ConfigError, SourceSpec, grpc_source, read_resolv_conf};
use crate::forward::Forwarder;
use crate::handle::TableHandle;
use crate::metrics::Metrics;
use crate::server::{self, ServerOptions};
use crate::table::ZoneConfig;

/// Runs the proxy until ctrl-c / SIGTERM. Prints `listening dns udp ADDR`, `listening dns tcp
/// ADDR` and `listening http ADDR` lines on stdout once bound.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let zone = ZoneConfig {
        zone: args.zone.clone(),
        ttl: args.ttl,
    };
    if crate::table::name_to_wire(&args.zone).is_none() {
        return Err(ConfigError::Zone(args.zone.clone()).into());
    }
    let grpc = grpc_source(&args)?;
    let metrics = Arc::new(Metrics::default());
    let handle = Arc::new(TableHandle::new(zone, metrics)?);
    let forwarder = if args.no_forward {
        None
    } else {
        let ups = if args.upstreams.is_empty() {
            read_resolv_conf(&args.resolv_conf)?
        } else {
            args.upstreams.clone()
        };
        if ups.is_empty() {
            tracing::warn!("no upstream resolvers; forwarding disabled");
            None
        } else {
            Some(Forwarder::new(
                ups,
                Duration::from_millis(args.upstream_timeout_ms),
            ))
        }
    };
    let allow = if args.allow_forward.is_empty() {
        server::default_allow_forward()
    } else {
        args.allow_forward.clone()
    };
    let workers = args.udp_workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = ServerOptions {
        listen: args.listen,
        udp_workers: workers,
        max_udp: args.edns_udp_size.max(512),
        allow_forward: allow,
        forwarder: forwarder.clone(),
        tcp_idle_timeout: Duration::from_secs(10),
        max_inflight_forwards: 4096,
        max_tcp_connections: 1024,
        udp_recv_buffer: args.udp_rcvbuf,
    };

    let source_task = match &args.source {
        SourceSpec::File(p) => tokio::spawn(crate::source::file::run(
            p.clone(),
            Duration::from_millis(args.poll_interval_ms.max(10)),
            handle.clone(),
        )),
        SourceSpec::Kube => {
            let client = crate::source::kube::client(args.kubeconfig.as_deref()).await?;
            let h = handle.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::source::kube::run(client, h).await {
                    tracing::error!(error = %e, "kube source stopped");
                }
            })
        }
        SourceSpec::Grpc(url) => {
            let src = grpc.ok_or_else(|| ConfigError::GrpcUrl {
                url: url.clone(),
                reason: "not configured".into(),
            })?;
            tokio::spawn(crate::source::grpc::run(src, handle.clone()))
        }
    };

    let srv = server::start(opts, handle.clone()).await?;
    announce(format_args!("listening dns udp {}", srv.udp_addr));
    announce(format_args!("listening dns tcp {}", srv.tcp_addr));
    let http_task = match args.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await?;
            announce(format_args!("listening http {}", l.local_addr()?));
            let router = crate::http::router(handle.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, router).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            }))
        }
        None => None,
    };
    tracing::info!(udp = %srv.udp_addr, tcp = %srv.tcp_addr, zone = %args.zone, upstreams = ?forwarder.as_ref().map(|f| f.upstreams().to_vec()), workers, "dns-proxy started");

    shutdown_signal().await;
    tracing::info!("shutting down");
    source_task.abort();
    if let Some(t) = http_task {
        t.abort();
    }
    tokio::task::spawn_blocking(move || srv.shutdown()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Prints one line on stdout for whoever started the proxy (tests, scripts); a closed stdout is
/// not an error for a server.
fn announce(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
