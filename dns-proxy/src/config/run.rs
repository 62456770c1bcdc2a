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
        tcp_idle_timeout: Duration::from_millis(args.tcp_idle_timeout_ms.max(1)),
        max_inflight_forwards: 4096,
        max_tcp_connections: args.tcp_max_connections.max(1),
        max_tcp_per_source: args.tcp_max_per_source,
        abuse_log_interval: Duration::from_millis(args.abuse_log_interval_ms.max(10)),
        udp_recv_buffer: args.udp_rcvbuf,
    };
    raise_fd_limit(opts.max_tcp_connections as u64 + FD_RESERVE);

    let source_task = match &args.source {
        SourceSpec::File(p) => {
            // The first read decides: a file that cannot be read or parsed stops the start.
            let watcher = crate::source::file::start(p.clone(), handle.clone())
                .map_err(ConfigError::SourceFile)?;
            tokio::spawn(watcher.run(Duration::from_millis(args.poll_interval_ms.max(10))))
        }
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

/// File descriptors kept for what is not a TCP client: listeners, UDP sockets, upstream
/// sockets, the HTTP endpoint, source files and watches.
const FD_RESERVE: u64 = 256;

/// Raises the soft limit on open files toward `need` (at most the hard limit), so
/// `--tcp-max-connections` can be reached; warns when it cannot.
fn raise_fd_limit(need: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= need {
        return;
    }
    let target = need.min(hard);
    if target > soft && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_err() {
        tracing::warn!(soft, hard, need, "could not raise the open-file limit");
        return;
    }
    if target < need {
        tracing::warn!(
            limit = target,
            need,
            "the open-file limit is below --tcp-max-connections plus {FD_RESERVE}; new TCP connections may fail to be accepted before the connection limits apply"
        );
    }
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
