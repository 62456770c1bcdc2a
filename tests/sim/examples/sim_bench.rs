//! Scale benchmark of the simulator: many clusters with many objects in one process.
//! Measures seeding rate, resident memory, list throughput over HTTP and watch fan-out.
//! Bounded: every phase has a fixed amount of work and a deadline.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use kube_sim::{SimCluster, SimOptions};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Simulated-cluster scale benchmark.
#[derive(Parser, Debug)]
#[command(name = "sim_bench")]
struct Args {
    /// Number of simulated clusters.
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// Objects (Services) per cluster.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Full lists (no limit) to time, spread over the clusters.
    #[arg(long, default_value_t = 20)]
    lists: usize,
    /// Updates per cluster while every cluster has a watcher open.
    #[arg(long, default_value_t = 500)]
    updates: usize,
    /// Deadline for the watch phase, in seconds.
    #[arg(long, default_value_t = 60)]
    watch_deadline: u64,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn service(i: usize, generation: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": format!("svc-{i:05}"),
            "namespace": "bench",
            "labels": {"app": format!("app-{}", i % 100), "tier": "backend", "rev": generation.to_string()},
            "annotations": {"example.com/owner": "team-a"}
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": format!("10.96.{}.{}", (i / 250) % 250, i % 250 + 1),
            "selector": {"app": format!("app-{}", i % 100)},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                      {"name": "grpc", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]
        }
    })
}

/// One HTTP/1.1 GET with `Connection: close`; returns the body size.
async fn get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<usize> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    if !buf.starts_with(b"HTTP/1.1 200") {
        bail!(
            "GET {path}: {}",
            String::from_utf8_lossy(&buf[..buf.len().min(200)])
        );
    }
    Ok(buf.len())
}

/// Opens a watch and counts event lines until `want` arrived or the deadline passed.
async fn count_events(
    addr: std::net::SocketAddr,
    path: String,
    want: usize,
    deadline: Instant,
) -> anyhow::Result<usize> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = 0usize;
    let mut prev = 0u8;
    while seen < want {
        let n = match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if b == b'\n' && prev == b'}' {
                seen += 1;
            }
            prev = b;
        }
    }
    Ok(seen)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rss0 = rss_kib();
    println!(
        "sim-bench: {} clusters x {} objects",
        args.clusters, args.objects
    );

    let t = Instant::now();
    let mut sims = Vec::with_capacity(args.clusters);
    for i in 0..args.clusters {
        let sim = SimCluster::start(SimOptions {
            name: format!("bench-{i}"),
            bookmark_interval: Duration::from_secs(3600),
            history_limit: 1000,
            watch_buffer: args.updates.max(1024) * 2,
            request_log_limit: 1000,
            ..SimOptions::default()
        })
        .await?;
        sims.push(sim);
    }
    let rss_empty = rss_kib();
    println!(
        "start: {:.2}s, RSS {} MiB -> {} MiB",
        t.elapsed().as_secs_f64(),
        rss0 / 1024,
        rss_empty / 1024
    );

    let t = Instant::now();
    for sim in &sims {
        for i in 0..args.objects {
            sim.apply_json(service(i, 0))
                .with_context(|| format!("seeding {}", sim.name()))?;
        }
    }
    let seeded = args.clusters * args.objects;
    let secs = t.elapsed().as_secs_f64();
    let rss_full = rss_kib();
    println!(
        "seed: {seeded} objects in {secs:.2}s ({:.0} objects/s); RSS {} MiB, {:.0} bytes/object",
        seeded as f64 / secs,
        rss_full / 1024,
        (rss_full.saturating_sub(rss_empty) * 1024) as f64 / seeded.max(1) as f64
    );

    // Full lists over HTTP.
    let t = Instant::now();
    let mut bytes = 0usize;
    for i in 0..args.lists {
        let sim = &sims[i % sims.len()];
        bytes += get(sim.addr(), "/api/v1/namespaces/bench/services").await?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "list: {} full lists of {} objects in {secs:.2}s ({:.1} ms/list, {:.0} objects/s, {:.0} MiB/s)",
        args.lists,
        args.objects,
        secs * 1000.0 / args.lists.max(1) as f64,
        (args.lists * args.objects) as f64 / secs,
        bytes as f64 / secs / 1048576.0
    );

    // Paginated list of one cluster, as kube-rs' watcher does (limit=500).
    let t = Instant::now();
    let sim = &sims[0];
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let path = if token.is_empty() {
            "/api/v1/namespaces/bench/services?limit=500".to_string()
        } else {
            format!("/api/v1/namespaces/bench/services?limit=500&continue={token}")
        };
        let mut s = TcpStream::connect(sim.addr()).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        pages += 1;
        let text = String::from_utf8_lossy(&buf);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(body).context("page body")?;
        token = v["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if token.is_empty() || pages > 10_000 {
            break;
        }
    }
    println!(
        "paged list: {} objects in {pages} pages of 500 in {:.1} ms",
        args.objects,
        t.elapsed().as_secs_f64() * 1000.0
    );

    // Watch fan-out: one watcher per cluster, `updates` writes per cluster.
    let deadline = Instant::now() + Duration::from_secs(args.watch_deadline);
    let mut watchers = Vec::new();
    for sim in &sims {
        let rv = sim.resource_version();
        let path = format!(
            "/api/v1/namespaces/bench/services?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&labelSelector=tier%3Dbackend"
        );
        watchers.push(tokio::spawn(count_events(
            sim.addr(),
            path,
            args.updates,
            deadline,
        )));
    }
    // Every watch must be registered before the writes start.
    while sims.iter().any(|s| s.open_watches(Some("services")) == 0) {
        if Instant::now() > deadline {
            bail!("watches did not open before the deadline");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = Instant::now();
    for round in 1..=args.updates {
        for sim in &sims {
            sim.apply_json(service(round % args.objects.max(1), round))?;
        }
    }
    let write_secs = t.elapsed().as_secs_f64();
    let mut delivered = 0;
    for w in watchers {
        delivered += w.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    let want = args.updates * sims.len();
    println!(
        "watch: {} watchers, {want} updates written in {write_secs:.2}s ({:.0} writes/s), {delivered}/{want} events delivered in {secs:.2}s ({:.0} events/s)",
        sims.len(),
        want as f64 / write_secs,
        delivered as f64 / secs
    );
    println!("final RSS {} MiB", rss_kib() / 1024);
    for sim in sims {
        sim.shutdown().await;
    }
    Ok(())
}
