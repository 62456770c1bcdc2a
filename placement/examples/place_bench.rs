//! Placement benchmark: schedules a synthetic fleet of workloads over a synthetic fleet of
//! clusters on one thread and reports throughput and latency percentiles.
//!
//! `cargo run --release -p isthmus-placement --example place_bench -- [--clusters N]
//! [--workloads M] [--seconds S]` (defaults 1000, 10000, 60; the run stops after M decisions
//! or S seconds, whichever comes first). `placement/bench.sh` runs it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use isthmus_placement::load;
use isthmus_placement::{ClusterInfo, Resource, match_policy, schedule};
use serde_json::json;

const PROVIDERS: [&str; 3] = ["aws", "gcp", "azure"];

fn clusters(n: usize) -> Vec<ClusterInfo> {
    (0..n)
        .map(|i| {
            let provider = PROVIDERS[i % 3];
            let region = format!("{provider}-region-{}", (i / 3) % 10);
            let zone = format!("{region}-{}", ["a", "b", "c"][i % 3]);
            let mut c = ClusterInfo::new(format!("member-{i:04}"))
                .with_location(provider, &region, &zone)
                .with_label("env", if i % 4 == 0 { "staging" } else { "prod" })
                .with_label("tier", ["gold", "silver", "bronze"][i % 3])
                .with_label("team", &format!("team-{}", i % 20))
                .with_allocatable(&[
                    ("pods", 110),
                    ("cpu", 16 + (i as i64 % 5) * 8),
                    ("memory", 64 << 30),
                ]);
            if i % 10 == 0 {
                c = c.with_taint("dedicated", "batch", "NoSchedule");
            }
            c
        })
        .collect()
}

const POLICIES: &str = r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-static, namespace: web}
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      labelSelector: {matchLabels: {strategy: static}}
  placement:
    clusterAffinity:
      labelSelector: {matchLabels: {env: prod, tier: gold}}
      fieldSelector:
        matchExpressions:
          - {key: provider, operator: In, values: [aws]}
    replicaScheduling:
      replicaSchedulingType: Divided
      weightPreference:
        staticWeightList:
          - targetCluster: {fieldSelector: {matchExpressions: [{key: region, operator: In, values: [aws-region-0, aws-region-1]}]}}
            weight: 3
          - targetCluster: {labelSelector: {matchLabels: {env: prod}}}
            weight: 1
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-dynamic, namespace: web}
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      labelSelector: {matchLabels: {strategy: dynamic}}
  placement:
    clusterAffinity:
      labelSelector: {matchLabels: {team: team-3}}
    replicaScheduling:
      replicaSchedulingType: Divided
      weightPreference: {dynamicWeight: AvailableReplicas}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-aggregated, namespace: web}
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      labelSelector: {matchLabels: {strategy: aggregated}}
  placement:
    clusterAffinity:
      fieldSelector:
        matchExpressions:
          - {key: region, operator: In, values: [gcp-region-2, gcp-region-3]}
    replicaScheduling:
      replicaSchedulingType: Divided
      replicaDivisionPreference: Aggregated
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-spread, namespace: web}
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      labelSelector: {matchLabels: {strategy: spread}}
  placement:
    clusterAffinity:
      labelSelector: {matchLabels: {env: prod}}
    spreadConstraints:
      - {spreadByField: region, minGroups: 2, maxGroups: 3}
      - {spreadByField: cluster, minGroups: 3, maxGroups: 6}
    replicaScheduling:
      replicaSchedulingType: Divided
      weightPreference: {dynamicWeight: AvailableReplicas}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-failover, namespace: web}
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
      labelSelector: {matchLabels: {strategy: failover}}
  placement:
    clusterAffinities:
      - affinityName: primary
        clusterNames: [member-9999]
      - affinityName: backup
        labelSelector: {matchLabels: {team: team-7}}
    replicaScheduling:
      replicaSchedulingType: Divided
---
apiVersion: policy.karmada.io/v1alpha1
kind: ClusterPropagationPolicy
metadata: {name: everywhere}
spec:
  resourceSelectors:
    - apiVersion: apps/v1
      kind: Deployment
  placement:
    replicaScheduling:
      replicaSchedulingType: Duplicated
"#;

const STRATEGIES: [&str; 6] = [
    "static",
    "dynamic",
    "aggregated",
    "spread",
    "failover",
    "everywhere",
];

fn workload(i: usize) -> Resource {
    let strategy = STRATEGIES[i % STRATEGIES.len()];
    let replicas = 1 + (i % 40) as i64;
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": format!("app-{i}"), "namespace": "web", "labels": {"strategy": strategy}},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [
            {"name": "app", "image": "example/app:1", "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}
        ]}}}
    });
    match Resource::from_value(obj) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench workload is invalid: {e}");
            std::process::exit(2)
        }
    }
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// CPU time (user + system) of this process from /proc, when available (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // after the command name: state is field 3, utime 14, stime 15 (1-based in proc(5))
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every mainstream Linux build
    Some((utime + stime) / 100.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n_clusters = arg(&args, "--clusters", 1000) as usize;
    let n_workloads = arg(&args, "--workloads", 10_000) as usize;
    let budget = Duration::from_secs(arg(&args, "--seconds", 60));
    let fleet = clusters(n_clusters);
    let policies = match load::policies_from_yaml("bench-policies", POLICIES) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench policies are invalid: {e}");
            std::process::exit(2)
        }
    };
    let workloads: Vec<Resource> = (0..n_workloads).map(workload).collect();
    let empty = BTreeMap::new();
    let mut latencies = Vec::with_capacity(n_workloads);
    let mut by_strategy: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut failures = 0usize;
    let mut placed_replicas = 0i64;
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    for (i, w) in workloads.iter().enumerate() {
        if started.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        let result = match_policy(w, &policies.propagation, None)
            .map(|p| schedule(&p.spec.placement, w, &fleet, &empty, None));
        let took = t.elapsed();
        latencies.push(took);
        by_strategy
            .entry(STRATEGIES[i % STRATEGIES.len()])
            .or_default()
            .push(took);
        match result {
            Some(Ok(d)) => {
                placed_replicas += d.placements.values().map(|r| i64::from(*r)).sum::<i64>()
            }
            _ => failures += 1,
        }
    }
    let total = started.elapsed();
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(b - a),
        _ => None,
    };
    latencies.sort();
    let done = latencies.len();
    println!("clusters: {n_clusters}");
    println!("decisions: {done} ({failures} failed)");
    println!("replicas placed: {placed_replicas}");
    println!("wall time: {:.3} s", total.as_secs_f64());
    println!(
        "throughput: {:.0} decisions/s (one thread, wall clock)",
        done as f64 / total.as_secs_f64()
    );
    if let Some(cpu) = cpu {
        println!(
            "cpu time: {cpu:.2} s ({:.0} decisions per CPU-second)",
            done as f64 / cpu
        );
    }
    for (label, p) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "latency {label}: {:.1} us",
            pct(&latencies, p).as_secs_f64() * 1e6
        );
    }
    for (strategy, mut l) in by_strategy {
        l.sort();
        println!(
            "  {strategy:<10} n={:<5} p50 {:.1} us  p99 {:.1} us",
            l.len(),
            pct(&l, 0.5).as_secs_f64() * 1e6,
            pct(&l, 0.99).as_secs_f64() * 1e6
        );
    }
}
