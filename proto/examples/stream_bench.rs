//! Measures the discovery API: one change delivered to many connected proxies.
//!
//! `stream_bench [--clients N] [--rounds R] [--services S]` runs the server in this process
//! and the clients in a child process (the same binary with `clients`), so the server's memory
//! per idle connection can be read from its own RSS. It prints p50/p99/max delivery latency
//! over all rounds and clients. Bounded: every wait has a timeout.
//!
//! `proto/bench/run.sh [--clients N] [--rounds R] [--services S]` builds and runs it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::table::NameTable;
use mesh_proto::v1::cluster_set_discovery_client::ClusterSetDiscoveryClient;
use mesh_proto::v1::{ServiceKey, ServiceRecord, ServiceType, WatchRequest, watch_response::Body};

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
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

fn table(services: usize, generation: usize) -> NameTable {
    let records = (0..services).map(|i| ServiceRecord {
        key: Some(ServiceKey {
            namespace: format!("ns{}", i % 50),
            name: format!("svc{i}"),
        }),
        r#type: ServiceType::ClusterSetIp as i32,
        ips: vec![format!(
            "242.{}.{}.{}",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        )],
        ports: vec![],
        clusters: vec![],
    });
    let mut t = NameTable::from_records(records).unwrap_or_default();
    // One changed record per generation: the change every client must receive.
    let _ = t.upsert(ServiceRecord {
        key: Some(ServiceKey {
            namespace: "bench".into(),
            name: "changing".into(),
        }),
        r#type: ServiceType::ClusterSetIp as i32,
        ips: vec![format!(
            "242.255.{}.{}",
            (generation >> 8) & 255,
            generation & 255
        )],
        ports: vec![],
        clusters: vec![],
    });
    t
}

fn arg(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} must be a number")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("clients") {
        let url = args.get(2).context("clients URL")?.clone();
        let n = arg(&args, "--clients", 1000)?;
        return clients(url, n).await;
    }
    let n = arg(&args, "--clients", 1000)?;
    let rounds = arg(&args, "--rounds", 20)?;
    let services = arg(&args, "--services", 1000)?;

    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", table(services, 0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_pub = publisher.clone();
    tokio::spawn(async move {
        let never = std::future::pending::<()>();
        if let Err(e) =
            mesh_proto::service::serve(server_pub, listener, None, Duration::from_secs(30), never)
                .await
        {
            eprintln!("server: {e}");
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib();

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "clients",
            &format!("http://{addr}"),
            "--clients",
            &n.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut to_child = child.stdin.take().context("child stdin")?;
    let mut from_child = BufReader::new(child.stdout.take().context("child stdout")?).lines();

    let read_line = |lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>| -> anyhow::Result<String> {
        lines.next().context("clients exited early")?.context("reading clients")
    };
    let ready = tokio::task::block_in_place(|| read_line(&mut from_child))?;
    if ready != "ready" {
        bail!("clients said {ready:?}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kib();
    let connected: u64 = publisher.stats().connected().values().sum();

    let mut latencies: Vec<f64> = Vec::new();
    for round in 1..=rounds {
        let t0 = now_nanos();
        publisher.publish("east", table(services, round));
        let version = publisher.version("east").unwrap_or(0);
        writeln!(to_child, "{version}")?;
        let line = tokio::task::block_in_place(|| read_line(&mut from_child))?;
        for v in line.split_whitespace() {
            let t: u128 = v.parse().context("client timestamp")?;
            latencies.push(t.saturating_sub(t0) as f64 / 1e6);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(to_child);
    let _ = child.wait();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("clients connected: {connected}");
    println!("services in table: {}", services + 1);
    println!("rounds: {rounds}, deliveries measured: {}", latencies.len());
    println!(
        "delivery latency ms: p50 {:.2}  p99 {:.2}  max {:.2}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "server RSS KiB: before clients {rss_before}, with clients {rss_connected}, per idle connection {:.1} KiB",
        (rss_connected.saturating_sub(rss_before)) as f64 / n.max(1) as f64
    );
    Ok(())
}

/// The child: N watchers; for each version it is told, prints every client's receive time.
async fn clients(url: String, n: usize) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(url)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64, u128)>();
    let mut ready = 0usize;
    for id in 0..n {
        // One HTTP/2 connection per client, as separate proxies would have.
        let ch = channel.connect().await?;
        let mut client = ClusterSetDiscoveryClient::new(ch);
        let mut stream = client
            .watch(WatchRequest {
                cluster: "east".into(),
                resume_epoch: 0,
                resume_from_version: 0,
            })
            .await?
            .into_inner();
        let first = tokio::time::timeout(Duration::from_secs(30), stream.message()).await??;
        if !matches!(first.and_then(|m| m.body), Some(Body::Snapshot(_))) {
            bail!("client {id}: expected a snapshot first");
        }
        ready += 1;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(m)) = stream.message().await {
                if matches!(m.body, Some(Body::Delta(_))) {
                    let _ = tx.send((id, m.version, now_nanos()));
                }
            }
        });
    }
    println!("ready");
    eprintln!("{ready} clients connected");
    let mut received: BTreeMap<u64, Vec<u128>> = BTreeMap::new();
    loop {
        let mut line = String::new();
        let read = tokio::task::block_in_place(|| std::io::stdin().lock().read_line(&mut line))?;
        if read == 0 {
            return Ok(());
        }
        let version: u64 = line.trim().parse()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while received.get(&version).map_or(0, Vec::len) < n {
            let Ok(Some((_, v, t))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                bail!("version {version} did not reach every client within 30 s");
            };
            received.entry(v).or_default().push(t);
        }
        let times = received.remove(&version).unwrap_or_default();
        let line: Vec<String> = times.iter().map(u128::to_string).collect();
        println!("{}", line.join(" "));
        std::io::stdout().flush()?;
    }
}
