//! Controller benchmark: time from a ServiceExport's creation to its ServiceImport existing in
//! every member, and the controller's memory, for M simulated members and S exported services.
//!
//! The members are kube-sim API servers in this process (plain HTTP on 127.0.0.1); the
//! controller is the real `mesh-controller run` binary in its own process, so its RSS is
//! measured alone. Usage (see `bench/run.sh`):
//!
//! ```text
//! cargo bench -p mesh-controller --bench controller -- \
//!     --controller target/release/mesh-controller --members 10,50,100 --services 1000 --probes 30
//! ```
//!
//! With `--restart`, after the probes the controller is stopped, one more service is exported
//! while it is down, and it is started again: the second table gives the writes the restarted
//! controller made (those for the new export apart) and the time from its start until the new
//! export is imported in every member with its status.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kube_sim::{SimCluster, SimOptions, mcs_crds};
use serde_json::{Value, json};

const NS: &str = "bench";
const MCS: &str = "multicluster.x-k8s.io/v1beta1";

struct Opts {
    controller: PathBuf,
    members: Vec<usize>,
    services: usize,
    probes: usize,
    converge_limit: Duration,
    restart: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        controller: PathBuf::from("target/release/mesh-controller"),
        members: vec![10, 50, 100],
        services: 1000,
        probes: 30,
        converge_limit: Duration::from_secs(900),
        restart: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--controller" => o.controller = PathBuf::from(val()?),
            "--members" => {
                o.members = val()?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("--members: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--services" => o.services = val()?.parse().map_err(|e| format!("--services: {e}"))?,
            "--probes" => o.probes = val()?.parse().map_err(|e| format!("--probes: {e}"))?,
            "--converge-limit-secs" => {
                o.converge_limit = Duration::from_secs(
                    val()?
                        .parse()
                        .map_err(|e| format!("--converge-limit-secs: {e}"))?,
                )
            }
            "--restart" => o.restart = true,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn service_objects(name: &str, member: usize, k: usize) -> [Value; 3] {
    let ip = format!("10.{}.{}.{}", member % 250, (k / 250) % 250, k % 250 + 1);
    [
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"type": "ClusterIP", "clusterIP": format!("10.96.{}.{}", (k / 250) % 250, k % 250 + 1),
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-abcde"), "namespace": NS,
                "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        json!({"apiVersion": MCS, "kind": "ServiceExport", "metadata": {"name": name, "namespace": NS}}),
    ]
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn imports_everywhere(sims: &[SimCluster], name: &str) -> bool {
    sims.iter()
        .all(|s| s.get_json(MCS, "ServiceImport", Some(NS), name).is_some())
}

/// The fewest ServiceImports any member holds with their `status.clusters` written.
fn count_imports(sims: &[SimCluster]) -> usize {
    sims.iter()
        .map(|s| {
            s.list_json(MCS, "ServiceImport", Some(NS))
                .iter()
                .filter(|i| {
                    i.pointer("/status/clusters")
                        .and_then(Value::as_array)
                        .is_some_and(|c| !c.is_empty())
                })
                .count()
        })
        .min()
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn spawn_controller(o: &Opts, cs_path: &Path) -> Result<tokio::process::Child, String> {
    tokio::process::Command::new(&o.controller)
        .args(["run", "--clusterset"])
        .arg(cs_path)
        .args([
            "--leader-elect=false",
            "--metrics-listen",
            "127.0.0.1:0",
            "--resync-period",
            "1h",
        ])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_CONTROLLER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", o.controller.display()))
}

fn is_write(r: &kube_sim::RequestRecord) -> bool {
    matches!(r.method.as_str(), "PATCH" | "POST" | "PUT" | "DELETE") && !r.resource.is_empty()
}

fn imported_with_status(sims: &[SimCluster], name: &str) -> bool {
    sims.iter().all(|s| {
        s.get_json(MCS, "ServiceImport", Some(NS), name)
            .and_then(|i| {
                i.pointer("/status/clusters")
                    .and_then(Value::as_array)
                    .map(|c| !c.is_empty())
            })
            .unwrap_or(false)
    })
}

/// Stops the controller, exports one more service, starts it again; returns the table line.
async fn restart(
    o: &Opts,
    m: usize,
    sims: &[SimCluster],
    cs_path: &Path,
    mut child: tokio::process::Child,
) -> Result<String, String> {
    // Let the last writes of the probes land, then stop it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = child.kill().await;
    let _ = child.wait().await;
    let k = o.services + o.probes;
    let member = k % m;
    let name = "restart-probe";
    for obj in service_objects(name, member, k) {
        sims[member].apply_json(obj).map_err(|e| e.to_string())?;
    }
    for s in sims {
        s.clear_request_log();
    }
    let started = Instant::now();
    let mut child = spawn_controller(o, cs_path)?;
    loop {
        if imported_with_status(sims, name) {
            break;
        }
        if started.elapsed() > o.converge_limit {
            let _ = child.kill().await;
            return Err(format!("{m} members: no convergence after the restart"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let converge = started.elapsed();
    // Writes that trail the convergence are counted too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = child.kill().await;
    let (mut other, mut probe) = (0usize, 0usize);
    for s in sims {
        for r in s.request_log().iter().filter(|r| is_write(r)) {
            if r.name.contains(name) {
                probe += 1;
            } else {
                other += 1;
                eprintln!(
                    "{m} members: restart wrote {} {}/{}/{}",
                    r.verb, r.resource, r.namespace, r.name
                );
            }
        }
    }
    let line = format!(
        "| {m} | {} | {other} | {probe} | {:.1} |",
        o.services,
        converge.as_secs_f64()
    );
    eprintln!("{m} members: restart: {line}");
    Ok(line)
}

async fn run_size(o: &Opts, m: usize, dir: &Path) -> Result<(String, Option<String>), String> {
    let mut sims = Vec::new();
    let mut cs = String::from("name: bench\nmeshID: bench\nmembers:\n");
    for i in 1..=m {
        let name = format!("member-{i}");
        let sim = SimCluster::start(SimOptions {
            name: name.clone(),
            tls: false,
            crds: mcs_crds(),
            history_limit: 20_000,
            watch_buffer: 65_536,
            request_log_limit: if o.restart { 200_000 } else { 1 },
            ..SimOptions::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        let kc = dir.join(format!("{name}.yaml"));
        sim.write_kubeconfig(&kc).map_err(|e| e.to_string())?;
        sim.apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
            .map_err(|e| e.to_string())?;
        cs.push_str(&format!(
            "- name: {name}\n  network: net-{}\n  kubeconfig: {}\n  eastWestGateway:\n    exposure: LoadBalancer\n",
            i % 2,
            kc.display()
        ));
        sims.push(sim);
    }
    for k in 0..o.services {
        let member = k % m;
        for obj in service_objects(&format!("svc-{k}"), member, k) {
            sims[member].apply_json(obj).map_err(|e| e.to_string())?;
        }
    }
    let cs_path = dir.join("clusterset.yaml");
    std::fs::write(&cs_path, cs).map_err(|e| e.to_string())?;

    let started = Instant::now();
    let mut child = spawn_controller(o, &cs_path)?;
    let pid = child.id().unwrap_or(0);

    // Initial convergence: every member holds every import, with its status.
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if count_imports(&sims) >= o.services {
            break;
        }
        if started.elapsed() > o.converge_limit {
            let _ = child.kill().await;
            return Err(format!(
                "{m} members: no convergence within {:?}",
                o.converge_limit
            ));
        }
    }
    let converge = started.elapsed();
    let (rss_conv, _) = rss_kib(pid);

    // Latency probes: one new export at a time.
    let mut lat = Vec::new();
    for p in 0..o.probes {
        let k = o.services + p;
        let member = k % m;
        let name = format!("probe-{p}");
        let [svc, slice, export] = service_objects(&name, member, k);
        sims[member].apply_json(svc).map_err(|e| e.to_string())?;
        sims[member].apply_json(slice).map_err(|e| e.to_string())?;
        // Let the Service and slice settle so only the export is measured.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t0 = Instant::now();
        sims[member].apply_json(export).map_err(|e| e.to_string())?;
        loop {
            if imports_everywhere(&sims, &name) {
                lat.push(t0.elapsed());
                eprintln!(
                    "{m} members: probe {p}: {:.0} ms",
                    t0.elapsed().as_secs_f64() * 1000.0
                );
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill().await;
                return Err(format!(
                    "{m} members: probe {p} not imported everywhere within 60 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let (rss_end, hwm) = rss_kib(pid);
    let restarted = if o.restart {
        Some(restart(o, m, &sims, &cs_path, child).await?)
    } else {
        let _ = child.kill().await;
        None
    };
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let line = format!(
        "| {m} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {:.0} |",
        o.services,
        converge.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
        lat.len(),
        rss_conv as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    Ok((line, restarted))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    println!(
        "| members | services | initial convergence (s) | export->import p50 (ms) | p99 (ms) | max (ms) | samples | RSS after convergence (MiB) | RSS at end (MiB) | peak RSS (MiB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut restarts = Vec::new();
    for &m in &o.members {
        let dir = std::env::temp_dir().join(format!("isthmus-bench-{}-{m}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("error: {}: {e}", dir.display());
            return std::process::ExitCode::FAILURE;
        }
        let r = run_size(&o, m, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        match r {
            Ok((line, restarted)) => {
                println!("{line}");
                restarts.extend(restarted);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if o.restart {
        println!();
        println!(
            "| members | services | writes after the restart (other) | writes for the export made while down | restart to converged (s) |"
        );
        println!("|---|---|---|---|---|");
        for line in restarts {
            println!("{line}");
        }
    }
    std::process::ExitCode::SUCCESS
}
