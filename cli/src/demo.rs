//! `isthmus demo`: simulated member clusters with a sample application, the real
//! controller running against them over HTTP, kubeconfigs for `kubectl`, and a status table.
//!
//! The sample application lives in namespace `shop`:
//! - `frontend`: a plain Service in the first cluster (not exported);
//! - `cart`: a ClusterIP Service exported from the first two clusters, which sit on different
//!   networks;
//! - `db`: a headless Service with hostnames (`db-0`, `db-1`), exported from the third cluster.
//!
//! The simulator has no EndpointSlice controller, so the demo writes the EndpointSlices the
//! built-in controller would create.
//!
//! Each simulated cluster also gets a DNS proxy on 127.0.0.1, fed over the controller's
//! ClusterSet discovery API (plaintext on loopback); the demo prints `dig` commands for them.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use isthmus_api::labels::{
    CLUSTER_ID_PROPERTY, ENDPOINTSLICE_BUILTIN_MANAGER, ENDPOINTSLICE_MANAGED_BY,
    ENDPOINTSLICE_SERVICE_NAME, MCS_SERVICE_NAME, MCS_SOURCE_CLUSTER,
};
use kube_sim::{SimCluster, SimOptions, mcs_crds};
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::info;

use mesh_controller::members::{MemberSpec, Reachability};
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::{self, ControllerHandle, RunConfig};

/// Prints a line to stdout; a closed stdout (`demo | head`) is not an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Namespace of the sample application.
pub const DEMO_NAMESPACE: &str = "shop";
/// MCS API version the demo reads with.
const MCS_V1BETA1: &str = "multicluster.x-k8s.io/v1beta1";

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A flag value is out of range.
    #[error("--clusters: {0}")]
    Clusters(String),
    /// A simulated cluster failed.
    #[error("simulated cluster: {0}")]
    Sim(#[from] kube_sim::SimError),
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The controller could not start.
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// A DNS proxy could not start.
    #[error("DNS proxy of {cluster}: {reason}")]
    Proxy {
        /// The cluster the proxy serves.
        cluster: String,
        /// What failed.
        reason: String,
    },
    /// The clusterset did not converge in time.
    #[error("not converged after {secs} s: {reason}")]
    NotConverged {
        /// Seconds waited.
        secs: u64,
        /// What is still missing.
        reason: String,
    },
}

/// `isthmus demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of simulated member clusters (alternating between two networks).
    #[arg(long, default_value_t = 3)]
    pub clusters: usize,
    /// Where to write a kubeconfig per simulated cluster and the clusterset file.
    #[arg(long, value_name = "DIR", default_value = "isthmus-demo")]
    pub kubeconfig_dir: PathBuf,
    /// Exit 0 once converged (non-zero with a reason if it does not converge in time).
    #[arg(long)]
    pub once: bool,
    /// How long to wait for convergence.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = isthmus_api::duration::parse_flag)]
    pub timeout: Duration,
}

/// Name of the `i`-th (1-based) demo cluster.
pub fn cluster_name(i: usize) -> String {
    format!("cluster-{i}")
}

/// Network of the `i`-th (1-based) demo cluster: odd ones on `network-1`, even ones on `network-2`.
pub fn network_of(i: usize) -> String {
    format!("network-{}", (i + 1) % 2 + 1)
}

fn service(name: &str, cluster_ip: &str, port: (&str, i32)) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": DEMO_NAMESPACE, "labels": {"app": name}},
        "spec": {
            "type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
            "selector": {"app": name},
            "ports": [{"name": port.0, "port": port.1, "protocol": "TCP", "targetPort": port.1}]
        }
    })
}

fn slice(service: &str, suffix: &str, port: (&str, i32), endpoints: Vec<Value>) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{service}-{suffix}"), "namespace": DEMO_NAMESPACE,
            "labels": {
                ENDPOINTSLICE_SERVICE_NAME: service,
                ENDPOINTSLICE_MANAGED_BY: ENDPOINTSLICE_BUILTIN_MANAGER,
            }
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": port.0, "port": port.1, "protocol": "TCP"}]
    })
}

fn endpoint(ip: &str, node: &str, hostname: Option<&str>) -> Value {
    let mut e = json!({
        "addresses": [ip],
        "conditions": {"ready": true, "serving": true, "terminating": false},
        "nodeName": node,
    });
    if let Some(h) = hostname {
        e["hostname"] = json!(h);
    }
    e
}

fn export(name: &str) -> Value {
    json!({
        "apiVersion": MCS_V1BETA1, "kind": "ServiceExport",
        "metadata": {"name": name, "namespace": DEMO_NAMESPACE}
    })
}

/// Which clusters export `cart` and `db` in a demo of `n` clusters.
pub fn exporters(n: usize) -> (Vec<usize>, usize) {
    let cart = if n >= 2 { vec![1, 2] } else { vec![1] };
    let db = n.min(3);
    (cart, db)
}

/// The objects the demo seeds into the `i`-th (1-based) of `n` clusters.
pub fn sample_objects(i: usize, n: usize) -> Vec<Value> {
    let node = format!("{}-node-1", cluster_name(i));
    let mut objs = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system",
                "labels": {"istio": "eastwestgateway", "topology.istio.io/network": network_of(i)}},
            "spec": {"type": "LoadBalancer", "clusterIP": format!("10.{i}.255.1"),
                "selector": {"istio": "eastwestgateway"},
                "ports": [{"name": "tls", "port": 15443, "protocol": "TCP", "targetPort": 15443}]},
            "status": {"loadBalancer": {"ingress": [{"ip": format!("192.0.2.{}", 10 + i)}]}}
        }),
    ];
    if i == 1 {
        objs.push(service("frontend", "10.1.0.10", ("http", 80)));
        objs.push(slice(
            "frontend",
            "abc12",
            ("http", 80),
            vec![endpoint("10.1.1.5", &node, None)],
        ));
    }
    let (cart, db) = exporters(n);
    if cart.contains(&i) {
        objs.push(service("cart", &format!("10.{i}.0.20"), ("http", 8080)));
        objs.push(slice(
            "cart",
            "x7k2p",
            ("http", 8080),
            vec![
                endpoint(&format!("10.{i}.2.11"), &node, None),
                endpoint(&format!("10.{i}.2.12"), &node, None),
            ],
        ));
        objs.push(export("cart"));
    }
    if db == i {
        let mut svc = service("db", "None", ("postgres", 5432));
        svc["spec"]["clusterIP"] = json!("None");
        svc["spec"]["clusterIPs"] = json!(["None"]);
        objs.push(svc);
        objs.push(slice(
            "db",
            "q9d4m",
            ("postgres", 5432),
            vec![
                endpoint(&format!("10.{i}.3.21"), &node, Some("db-0")),
                endpoint(&format!("10.{i}.3.22"), &node, Some("db-1")),
            ],
        ));
        objs.push(export("db"));
    }
    objs
}

/// The clusterset file of the demo (kubeconfigs relative to the file).
pub fn clusterset_yaml(names: &[String]) -> String {
    let mut s = String::from(
        "apiVersion: isthmus.io/v1alpha1\nkind: ClusterSet\nname: demo\nmeshID: demo-mesh\nmembers:\n",
    );
    for (k, name) in names.iter().enumerate() {
        let _ = write!(
            s,
            "- name: {name}\n  network: {}\n  kubeconfig: {name}.kubeconfig\n  eastWestGateway:\n    exposure: LoadBalancer\n",
            network_of(k + 1)
        );
    }
    s
}

/// What "converged" means for a demo of `sims.len()` clusters: every cluster has the `cart`
/// (ClusterSetIP, with a VIP) and `db` (Headless) ServiceImports, imported EndpointSlices from
/// every exporting cluster, and its ClusterProperty; every export is Valid.
pub fn check_converged(sims: &[SimCluster]) -> Result<(), String> {
    let n = sims.len();
    let (cart, db) = exporters(n);
    let expected: [(&str, &str, Vec<usize>); 2] =
        [("cart", "ClusterSetIP", cart), ("db", "Headless", vec![db])];
    for sim in sims {
        let c = sim.name();
        if sim
            .get_json(
                "about.k8s.io/v1alpha1",
                "ClusterProperty",
                None,
                CLUSTER_ID_PROPERTY,
            )
            .is_none()
        {
            return Err(format!(
                "{c}: ClusterProperty {CLUSTER_ID_PROPERTY} missing"
            ));
        }
        let slices = sim.list_json("discovery.k8s.io/v1", "EndpointSlice", Some(DEMO_NAMESPACE));
        for (name, type_, from) in &expected {
            let Some(imp) = sim.get_json(MCS_V1BETA1, "ServiceImport", Some(DEMO_NAMESPACE), name)
            else {
                return Err(format!(
                    "{c}: ServiceImport {DEMO_NAMESPACE}/{name} missing"
                ));
            };
            if imp.pointer("/spec/type").and_then(Value::as_str) != Some(type_) {
                return Err(format!(
                    "{c}: ServiceImport {DEMO_NAMESPACE}/{name} is not {type_}"
                ));
            }
            let ips = imp
                .pointer("/spec/ips")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if (*type_ == "ClusterSetIP") != (ips > 0) {
                return Err(format!(
                    "{c}: ServiceImport {DEMO_NAMESPACE}/{name} has {ips} IPs"
                ));
            }
            let sources: BTreeSet<String> = slices
                .iter()
                .filter(|s| {
                    s.pointer("/metadata/labels")
                        .and_then(|l| l.get(MCS_SERVICE_NAME))
                        .and_then(Value::as_str)
                        == Some(name)
                })
                .filter_map(|s| {
                    s.pointer("/metadata/labels")
                        .and_then(|l| l.get(MCS_SOURCE_CLUSTER))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            for k in from {
                let src = cluster_name(*k);
                if !sources.contains(&src) {
                    return Err(format!(
                        "{c}: no EndpointSlice of {DEMO_NAMESPACE}/{name} imported from {src}"
                    ));
                }
            }
        }
        for e in sim.list_json(MCS_V1BETA1, "ServiceExport", Some(DEMO_NAMESPACE)) {
            let valid = e
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|x| x["type"] == "Valid" && x["status"] == "True")
                });
            if !valid {
                let name = e
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                return Err(format!(
                    "{c}: ServiceExport {DEMO_NAMESPACE}/{name} has no Valid=True condition yet"
                ));
            }
        }
    }
    Ok(())
}

/// The status table: members, networks, gateways, exports, imports, conflicts.
pub fn status_table(handle: &ControllerHandle, engine: &IndexEngine) -> String {
    let desired = engine.last_desired();
    let snap = engine.snapshot();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<11} {:<12} {:<8} {:<18} {:>7} {:>7}",
        "MEMBER", "NETWORK", "STATE", "MCS", "GATEWAY", "EXPORTS", "IMPORTS"
    );
    for m in handle.members() {
        let ms = desired.as_ref().and_then(|d| d.member_status.get(&m.name));
        let gw = ms
            .map(|s| {
                let port = s.gateway_port.map(|p| format!(":{p}")).unwrap_or_default();
                s.gateway_addresses
                    .first()
                    .map(|a| format!("{a}{port}"))
                    .unwrap_or_else(|| "-".into())
            })
            .filter(|g| g != "-")
            .or_else(|| {
                let gw = snap.members.get(&m.name)?.gateway.as_ref()?;
                gw.lb_addresses.first().map(|a| format!("{a}:15443"))
            })
            .unwrap_or_else(|| "-".into());
        let state = match m.reachability {
            Reachability::Unreachable { .. } => "Unreachable",
            r => r.label(),
        };
        let _ = writeln!(
            out,
            "{:<12} {:<11} {:<12} {:<8} {:<18} {:>7} {:>7}",
            m.name,
            m.network,
            state,
            m.mcs_version.as_deref().unwrap_or("-"),
            gw,
            ms.map_or(0, |s| s.exports),
            ms.map_or(0, |s| s.imports),
        );
    }
    let s = handle.summary();
    let _ = writeln!(
        out,
        "\nexports: {}   imports: {}   conflicts: {}   write errors (last pass): {}",
        s.exports, s.imports, s.conflicts, s.errors
    );
    out
}

/// One in-process DNS proxy of the demo, fed over gRPC.
pub struct DemoProxy {
    /// The cluster whose view it serves.
    pub cluster: String,
    /// Its UDP and TCP address.
    pub addr: SocketAddr,
    handle: Arc<dns_proxy::handle::TableHandle>,
    server: Option<dns_proxy::server::Server>,
    source: tokio::task::JoinHandle<()>,
}

impl DemoProxy {
    /// Starts a DNS proxy for `cluster` on 127.0.0.1 (any free port) following the discovery
    /// API at `discovery` in plaintext. Names outside the zone are refused (no forwarding).
    pub async fn start(cluster: &str, discovery: SocketAddr) -> Result<Self, DemoError> {
        let err = |reason: String| DemoError::Proxy {
            cluster: cluster.to_owned(),
            reason,
        };
        let handle = Arc::new(
            dns_proxy::handle::TableHandle::new(
                dns_proxy::table::ZoneConfig::default(),
                Arc::new(dns_proxy::metrics::Metrics::default()),
            )
            .map_err(|e| err(e.to_string()))?,
        );
        let mut src =
            dns_proxy::source::grpc::GrpcSource::new(format!("http://{discovery}"), cluster);
        src.backoff_initial = Duration::from_millis(50);
        src.backoff_max = Duration::from_secs(1);
        let source = tokio::spawn(dns_proxy::source::grpc::run(src, handle.clone()));
        let server =
            dns_proxy::server::start(dns_proxy::server::ServerOptions::local(), handle.clone())
                .await
                .map_err(|e| {
                    source.abort();
                    err(e.to_string())
                })?;
        Ok(Self {
            cluster: cluster.to_owned(),
            addr: server.udp_addr,
            handle,
            server: Some(server),
            source,
        })
    }

    /// Services in the proxy's current table (`None` before the first table).
    pub fn services(&self) -> Option<usize> {
        self.handle
            .is_ready()
            .then(|| self.handle.load().service_count())
    }

    /// Stops the listeners and the discovery client.
    pub fn stop(mut self) {
        self.source.abort();
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// The DNS part of the demo's output: a `dig` command per proxy.
pub fn dns_steps(proxies: &[DemoProxy], discovery: Option<SocketAddr>) -> String {
    let mut s = String::new();
    let Some(first) = proxies.first() else {
        return s;
    };
    let _ = writeln!(
        s,
        "DNS proxies, fed over gRPC by the controller's discovery API{}:",
        discovery.map(|a| format!(" at {a}")).unwrap_or_default()
    );
    for p in proxies {
        let _ = writeln!(
            s,
            "  {:<12} dig @{} -p {} cart.{DEMO_NAMESPACE}.svc.clusterset.local",
            p.cluster,
            p.addr.ip(),
            p.addr.port()
        );
    }
    let _ = writeln!(
        s,
        "  {:<12} dig @{} -p {} db-0.{}.db.{DEMO_NAMESPACE}.svc.clusterset.local",
        first.cluster,
        first.addr.ip(),
        first.addr.port(),
        proxies.last().map_or("", |p| p.cluster.as_str()),
    );
    let _ = writeln!(
        s,
        "  {:<12} dig @{} -p {} SRV _http._tcp.cart.{DEMO_NAMESPACE}.svc.clusterset.local",
        first.cluster,
        first.addr.ip(),
        first.addr.port()
    );
    s
}

fn next_steps(dir: &Path, names: &[String], metrics: Option<std::net::SocketAddr>) -> String {
    let first = names.first().cloned().unwrap_or_default();
    let kc = dir.join(format!("{first}.kubeconfig"));
    let mut s = String::from("\nTry next:\n");
    let _ = writeln!(
        s,
        "  kubectl --kubeconfig {} get services -A -o wide",
        kc.display()
    );
    let _ = writeln!(
        s,
        "  kubectl --kubeconfig {} get serviceimports.multicluster.x-k8s.io -A",
        kc.display()
    );
    let _ = writeln!(
        s,
        "  kubectl --kubeconfig {} get endpointslices -n {DEMO_NAMESPACE} -l {MCS_SERVICE_NAME}=cart",
        kc.display()
    );
    let _ = writeln!(
        s,
        "  kubectl --kubeconfig {} get serviceexports.multicluster.x-k8s.io -n {DEMO_NAMESPACE} cart -o yaml",
        kc.display()
    );
    let _ = writeln!(
        s,
        "  kubectl --kubeconfig {} get clusterproperties.about.k8s.io",
        kc.display()
    );
    if let Some(addr) = metrics {
        let _ = writeln!(s, "  curl http://{addr}/metrics");
    }
    let _ = writeln!(
        s,
        "  (clusterset file: {})",
        dir.join("clusterset.yaml").display()
    );
    s
}

/// Starts `n` simulated clusters with the sample application and writes their kubeconfigs
/// and the clusterset file into `dir`.
pub async fn start_clusters(n: usize, dir: &Path) -> Result<Vec<SimCluster>, DemoError> {
    std::fs::create_dir_all(dir).map_err(|source| DemoError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut sims = Vec::new();
    for i in 1..=n {
        let sim = SimCluster::start(SimOptions {
            name: cluster_name(i),
            tls: true,
            crds: mcs_crds(),
            ..SimOptions::default()
        })
        .await?;
        sim.write_kubeconfig(&dir.join(format!("{}.kubeconfig", cluster_name(i))))?;
        for obj in sample_objects(i, n) {
            sim.apply_json(obj)?;
        }
        sims.push(sim);
    }
    let names: Vec<String> = (1..=n).map(cluster_name).collect();
    let cs = dir.join("clusterset.yaml");
    std::fs::write(&cs, clusterset_yaml(&names))
        .map_err(|source| DemoError::Io { path: cs, source })?;
    Ok(sims)
}

/// Runs `isthmus demo` on its own async runtime. Exit 0 when the demo ran, 1 when it failed.
pub fn main(args: DemoArgs) -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    if args.clusters == 0 || args.clusters > 50 {
        return Err(DemoError::Clusters(format!(
            "{} is out of range (1..=50)",
            args.clusters
        )));
    }
    let started = Instant::now();
    let dir = args.kubeconfig_dir.clone();
    let sims = start_clusters(args.clusters, &dir).await?;
    let names: Vec<String> = (1..=args.clusters).map(cluster_name).collect();
    let members: Vec<MemberSpec> = names
        .iter()
        .enumerate()
        .map(|(k, name)| MemberSpec {
            name: name.clone(),
            network: network_of(k + 1),
            kubeconfig: Some(dir.join(format!("{name}.kubeconfig"))),
            kubeconfig_yaml: None,
            context: None,
        })
        .collect();
    let infos: Vec<MemberInfo> = members
        .iter()
        .map(|m| MemberInfo::new(m.name.clone(), m.network.clone()))
        .collect();
    let metrics = Arc::new(Metrics::new());
    let engine =
        Arc::new(IndexEngine::new(infos, ReconcileConfig::default()).with_metrics(metrics.clone()));
    let mut cfg = RunConfig::new("demo", members);
    cfg.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    // Plaintext discovery on loopback only, for the demo's own DNS proxies.
    cfg.discovery = Some(mesh_controller::discovery::DiscoveryConfig::insecure(
        SocketAddr::from(([127, 0, 0, 1], 0)),
    ));
    let handle = runtime::start(cfg, engine.clone(), metrics).await?;
    info!(clusters = args.clusters, dir = %dir.display(), "demo clusters started; waiting for convergence");
    let mut proxies = Vec::new();
    if let Some(addr) = handle.discovery_addr {
        for name in &names {
            match DemoProxy::start(name, addr).await {
                Ok(p) => proxies.push(p),
                Err(e) => {
                    proxies.into_iter().for_each(DemoProxy::stop);
                    handle.shutdown().await;
                    return Err(e);
                }
            }
        }
    }
    // The sample application has two multi-cluster services (cart, db).
    let proxies_ready = |proxies: &[DemoProxy]| -> Result<(), String> {
        for p in proxies {
            match p.services() {
                Some(2) => {}
                n => {
                    return Err(format!(
                        "DNS proxy of {} has {} services, not 2 yet",
                        p.cluster,
                        n.map_or("no table".to_owned(), |n| n.to_string())
                    ));
                }
            }
        }
        Ok(())
    };

    let deadline = Instant::now() + args.timeout;
    let mut summaries = handle.summaries();
    let mut last = String::from("no reconcile yet");
    loop {
        if handle.summary().wrote {
            match check_converged(&sims).and_then(|()| proxies_ready(&proxies)) {
                Ok(()) => break,
                Err(reason) => last = reason,
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let table = status_table(&handle, &engine);
            proxies.into_iter().for_each(DemoProxy::stop);
            handle.shutdown().await;
            eprintln!("{table}");
            return Err(DemoError::NotConverged {
                secs: args.timeout.as_secs(),
                reason: last,
            });
        }
        // Wake on the next pass, or poll at least every 200 ms.
        let _ = tokio::time::timeout(
            remaining.min(Duration::from_millis(200)),
            summaries.changed(),
        )
        .await;
    }
    say!(
        "Converged in {:.1} s: {} simulated clusters on 2 networks.\n",
        started.elapsed().as_secs_f64(),
        args.clusters
    );
    say!("{}", status_table(&handle, &engine));
    say!("{}", dns_steps(&proxies, handle.discovery_addr));
    if args.once {
        say!("{}", next_steps(&dir, &names, None));
        say!(
            "(--once: the simulated clusters and DNS proxies stop now; run without --once to keep them up for kubectl and dig.)"
        );
        proxies.into_iter().for_each(DemoProxy::stop);
        handle.shutdown().await;
        return Ok(());
    }
    say!("{}", next_steps(&dir, &names, handle.metrics_addr));
    say!("The clusters, the controller and the DNS proxies keep running; press Ctrl-C to stop.");
    handle
        .run_until(mesh_controller::cli::shutdown_signal())
        .await;
    proxies.into_iter().for_each(DemoProxy::stop);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_alternate_and_exporters_fit_the_cluster_count() {
        assert_eq!(network_of(1), "network-1");
        assert_eq!(network_of(2), "network-2");
        assert_eq!(network_of(3), "network-1");
        assert_eq!(exporters(3), (vec![1, 2], 3));
        assert_eq!(exporters(1), (vec![1], 1));
        assert_eq!(exporters(5), (vec![1, 2], 3));
    }

    /// The header line of kubectl's table output, split at its column gaps.
    fn header_of(text: &str) -> Vec<String> {
        text.lines()
            .next()
            .unwrap_or_default()
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The "Try next" commands work against the demo's clusters and print the columns a
    /// real API server's Tables have: `printService` (with SELECTOR for `-o wide`) and
    /// `printEndpointSlice` in `pkg/printers/internalversion/printers.go`, and the upstream
    /// ServiceImport CRD's TYPE and IP.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs kubectl"]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    async fn try_next_commands_print_the_server_columns() {
        let kubectl = isthmus_testing::require("kubectl");
        let dir = tempfile::tempdir().unwrap();
        let sims = start_clusters(3, dir.path()).await.unwrap();
        // What the controller would import into the first cluster.
        sims[0]
            .apply_json(json!({"apiVersion": MCS_V1BETA1, "kind": "ServiceImport",
                "metadata": {"name": "cart", "namespace": DEMO_NAMESPACE},
                "spec": {"type": "ClusterSetIP", "ips": ["242.0.0.1"],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}}))
            .unwrap();
        sims[0]
            .apply_json(
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "cart-cluster-2-abc", "namespace": DEMO_NAMESPACE,
                    "labels": {MCS_SERVICE_NAME: "cart", MCS_SOURCE_CLUSTER: cluster_name(2)}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.2.2.11"]}, {"addresses": ["10.2.2.12"]}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}),
            )
            .unwrap();
        let names: Vec<String> = (1..=3).map(cluster_name).collect();
        let mut printed = Vec::new();
        for line in next_steps(dir.path(), &names, None).lines() {
            let Some(args) = line.trim().strip_prefix("kubectl ") else {
                continue;
            };
            let out = tokio::process::Command::new(&kubectl)
                .args(args.split_whitespace())
                .env("HOME", dir.path())
                .env_remove("KUBECONFIG")
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            printed.push((
                args.to_string(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            ));
        }
        let output = |what: &str| {
            printed
                .iter()
                .find(|(args, _)| args.contains(what))
                .map(|(_, out)| out.clone())
                .unwrap_or_else(|| panic!("no Try next command for {what}: {printed:?}"))
        };
        let services = output("get services");
        assert_eq!(
            header_of(&services),
            [
                "NAMESPACE",
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR"
            ]
        );
        assert!(
            services.lines().any(|l| l.contains("istio-eastwestgateway")
                && l.contains("LoadBalancer")
                && l.contains("192.0.2.11")
                && l.contains("15443/TCP")),
            "{services}"
        );
        let imports = output("get serviceimports");
        assert_eq!(
            header_of(&imports),
            ["NAMESPACE", "NAME", "TYPE", "IP", "AGE"]
        );
        assert!(imports.contains(r#"["242.0.0.1"]"#), "{imports}");
        let slices = output("get endpointslices");
        assert_eq!(
            header_of(&slices),
            ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
        );
        assert!(slices.contains("10.2.2.11,10.2.2.12"), "{slices}");
        assert!(output("get serviceexports").contains("kind: ServiceExport"));
        drop(sims);
    }

    #[test]
    fn clusterset_file_parses() {
        let names = vec![cluster_name(1), cluster_name(2)];
        let text = clusterset_yaml(&names);
        let cs = gateway_config::clusterset::ClusterSet::from_yaml(
            &text,
            Path::new("/tmp/demo/clusterset.yaml"),
        );
        let cs = match cs {
            Ok(cs) => cs,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(cs.members.len(), 2);
        assert_eq!(cs.members[1].network, "network-2");
        assert_eq!(
            cs.members[0].kubeconfig.as_deref(),
            Some(Path::new("/tmp/demo/cluster-1.kubeconfig"))
        );
    }
}
