//! `kube-sim --clusters N --kubeconfig-dir DIR`: starts N simulated clusters, writes one
//! kubeconfig per cluster and serves until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use kube_sim::{SimCluster, SimOptions, mcs_crds};

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
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    for sim in clusters {
        sim.shutdown().await;
    }
    Ok(())
}
