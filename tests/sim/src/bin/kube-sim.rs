//! `kube-sim --clusters N --kubeconfig-dir DIR`: starts N simulated clusters, writes one
//! kubeconfig per cluster and serves until Ctrl-C or SIGTERM. `--fault CLUSTER:COMMAND`
//! injects faults from the start; `--admin-listen 127.0.0.1:PORT` serves a small admin
//! endpoint to change them while running:
//! `curl -d 'partition=hang' http://127.0.0.1:PORT/faults/cluster-1`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use kube_sim::{FaultCommand, FaultHandle, SimCluster, SimOptions, mcs_crds};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Simulated Kubernetes API servers on 127.0.0.1.
#[derive(Parser, Debug)]
#[command(name = "kube-sim", version)]
struct Args {
    /// Number of clusters to start.
    #[arg(long, default_value_t = 1)]
    clusters: usize,
    /// Directory for the kubeconfigs (`<name>.yaml`).
    #[arg(long)]
    kubeconfig_dir: PathBuf,
    /// Cluster name prefix: clusters are `<prefix>-1`..`<prefix>-N`.
    #[arg(long, default_value = "cluster")]
    name_prefix: String,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    insecure: bool,
    /// Bearer token required on every request.
    #[arg(long)]
    token: Option<String>,
    /// Do not install the MCS and ClusterProperty CRDs.
    #[arg(long)]
    no_mcs_crds: bool,
    /// A fault from the start, `CLUSTER:COMMAND` (repeatable); commands as the admin endpoint
    /// takes them: `partition=refuse|hang|none`, `latency=<ms>`,
    /// `error=<rule>,every=<n>|rate=<0..1>[,seed=<n>][,code=500|429][,retry-after=<s>]`,
    /// `clear-errors`, `close-watches`, `compact`, `reset`.
    #[arg(long = "fault", value_name = "CLUSTER:COMMAND", value_parser = parse_fault)]
    faults: Vec<(String, FaultCommand)>,
    /// Serve the admin endpoint here (loopback only): `POST /faults/<cluster>` with one command
    /// per line; `GET /clusters` lists the clusters.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
}

fn parse_fault(s: &str) -> Result<(String, FaultCommand), String> {
    let (cluster, command) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected CLUSTER:COMMAND"))?;
    let command = command.parse().map_err(|e| format!("{e}"))?;
    Ok((cluster.to_owned(), command))
}

/// The clusters by name, with their fault switches and URLs.
type Clusters = BTreeMap<String, (FaultHandle, String)>;

/// Applies each line of `body` to `cluster`; the answer's status and text.
fn admin_faults(clusters: &Clusters, cluster: &str, body: &str) -> (u16, String) {
    let Some((faults, _)) = clusters.get(cluster) else {
        return (404, format!("no cluster {cluster:?}\n"));
    };
    let mut commands = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.parse::<FaultCommand>() {
            Ok(c) => commands.push(c),
            Err(e) => return (400, format!("{e}\n")),
        }
    }
    if commands.is_empty() {
        return (400, "no fault command in the body\n".to_owned());
    }
    for c in &commands {
        faults.apply(c);
        tracing::info!(cluster, command = ?c, "fault applied");
    }
    (
        200,
        format!("applied {} command(s) to {cluster}\n", commands.len()),
    )
}

/// One admin request: request line, headers (for Content-Length), body.
async fn admin_request(stream: TcpStream, clusters: &Clusters) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length.min(64 * 1024)];
    reader.read_exact(&mut body).await?;
    let body = String::from_utf8_lossy(&body);
    let (status, text) = match (method, path.strip_prefix("/faults/")) {
        ("POST", Some(cluster)) => admin_faults(clusters, cluster, &body),
        ("GET", None) if path == "/clusters" => (
            200,
            clusters
                .iter()
                .map(|(name, (_, url))| format!("{name} {url}\n"))
                .collect(),
        ),
        _ => (
            404,
            "POST /faults/<cluster> (one command per line) or GET /clusters\n".to_owned(),
        ),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let mut stream = reader.into_inner();
    stream
        .write_all(
            format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            )
            .as_bytes(),
        )
        .await?;
    stream.shutdown().await?;
    Ok(())
}

async fn serve_admin(listener: TcpListener, clusters: Clusters) {
    let clusters = std::sync::Arc::new(clusters);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let clusters = clusters.clone();
        tokio::spawn(async move {
            if let Err(e) = admin_request(stream, &clusters).await {
                tracing::warn!(error = %e, "admin request failed");
            }
        });
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(addr) = args.admin_listen
        && !addr.ip().is_loopback()
    {
        anyhow::bail!(
            "--admin-listen {addr}: the admin endpoint listens on a loopback address only"
        );
    }
    std::fs::create_dir_all(&args.kubeconfig_dir)
        .with_context(|| format!("creating {}", args.kubeconfig_dir.display()))?;
    let mut clusters = Vec::new();
    for i in 1..=args.clusters {
        let opts = SimOptions {
            name: format!("{}-{i}", args.name_prefix),
            tls: !args.insecure,
            token: args.token.clone(),
            crds: if args.no_mcs_crds {
                Vec::new()
            } else {
                mcs_crds()
            },
            ..SimOptions::default()
        };
        let sim = SimCluster::start(opts).await?;
        let path = args.kubeconfig_dir.join(format!("{}.yaml", sim.name()));
        sim.write_kubeconfig(&path)?;
        println!("{} {} {}", sim.name(), sim.url(), path.display());
        clusters.push(sim);
    }
    let mut by_name = Clusters::new();
    for sim in &clusters {
        by_name.insert(sim.name().to_owned(), (sim.faults(), sim.url().to_string()));
    }
    for (cluster, command) in &args.faults {
        let (faults, _) = by_name
            .get(cluster)
            .with_context(|| format!("--fault {cluster}:...: no cluster {cluster:?}"))?;
        faults.apply(command);
    }
    if let Some(addr) = args.admin_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("--admin-listen {addr}"))?;
        println!("admin http://{}", listener.local_addr()?);
        tokio::spawn(serve_admin(listener, by_name));
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    for sim in clusters {
        sim.shutdown().await;
    }
    Ok(())
}
