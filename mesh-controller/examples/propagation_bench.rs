//! Propagation benchmark.
//!
//! 1. The pure planner: `propagation::plan::plan` for T Deployment templates over C clusters
//!    (a third Duplicated, a third Divided by static weights, a third with two affinity
//!    groups; an image + label override on every template), R runs.
//! 2. Live passes: a kube-sim hub and M kube-sim members (plain HTTP on 127.0.0.1, in this
//!    process) and the real `Propagator`: the first pass (everything applied), a steady pass
//!    (nothing changed), and a pass after every template was scaled.
//!
//! ```text
//! cargo run --release -p mesh-controller --example propagation_bench -- \
//!     --clusters 10 --templates 1000 --runs 5 --members 3 --live-templates 200
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use isthmus_api::crd::{
    ClusterOverridePolicy, ClusterPropagationPolicy, MemberCluster, OverridePolicy,
    PropagationPolicy,
};
use isthmus_placement::ClusterInfo;
use kube::CustomResourceExt;
use kube_sim::{SimCluster, SimOptions, mcs_crds};
use mesh_controller::members::client_for;
use mesh_controller::propagation::plan::{
    PlanInput, PolicyDoc, plan, read_override_policy, read_propagation_policy,
};
use mesh_controller::propagation::{PropagationConfig, Propagator};
use serde_json::{Value, json};

struct Opts {
    clusters: usize,
    templates: usize,
    runs: usize,
    members: usize,
    live_templates: usize,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        clusters: 10,
        templates: 1000,
        runs: 5,
        members: 3,
        live_templates: 200,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--clusters" => o.clusters = num("--clusters")?.min(1000),
            "--templates" => o.templates = num("--templates")?.min(100_000),
            "--runs" => o.runs = num("--runs")?.min(100),
            "--members" => o.members = num("--members")?.min(20),
            "--live-templates" => o.live_templates = num("--live-templates")?.min(5000),
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(o)
}

const NS_COUNT: usize = 10;

fn deployment(i: usize, replicas: i32) -> Value {
    let mode = ["dup", "div", "failover"][i % 3];
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{i}"), "namespace": format!("team-{}", i % NS_COUNT),
            "labels": {"app": format!("app-{i}"), "mode": mode}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": format!("app-{i}")}},
            "template": {"metadata": {"labels": {"app": format!("app-{i}")}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/team/app:1.0",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}
    })
}

fn policy_docs(clusters: &[String]) -> (Vec<Value>, Vec<Value>) {
    let sel = |mode: &str| {
        json!([{"apiVersion": "apps/v1", "kind": "Deployment",
        "labelSelector": {"matchLabels": {"mode": mode}}}])
    };
    let weights: Vec<Value> = clusters
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"targetCluster": {"clusterNames": [c]}, "weight": i % 3 + 1}))
        .collect();
    let half = clusters.len().div_ceil(2);
    let pp = |name: &str, spec: Value| {
        json!({"apiVersion": "placement.isthmus.io/v1alpha1", "kind": "ClusterPropagationPolicy",
            "metadata": {"name": name}, "spec": spec})
    };
    let props = vec![
        pp(
            "dup",
            json!({"resourceSelectors": sel("dup"),
            "placement": {"replicaScheduling": {"replicaSchedulingType": "Duplicated"}}}),
        ),
        pp(
            "div",
            json!({"resourceSelectors": sel("div"),
            "placement": {"replicaScheduling": {"replicaSchedulingType": "Divided",
                "replicaDivisionPreference": "Weighted",
                "weightPreference": {"staticWeightList": weights}}}}),
        ),
        pp(
            "failover",
            json!({"resourceSelectors": sel("failover"),
            "placement": {"clusterAffinities": [
                {"affinityName": "first", "clusterNames": clusters[..half].to_vec()},
                {"affinityName": "second", "clusterNames": clusters[half..].to_vec()}]}}),
        ),
    ];
    let ops = vec![
        json!({"apiVersion": "placement.isthmus.io/v1alpha1", "kind": "ClusterOverridePolicy",
        "metadata": {"name": "mirror"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "overrideRules": [{"targetCluster": {"clusterNames": [clusters[0]]}, "overriders": {
                "imageOverrider": [{"component": "Registry", "operator": "replace", "value": "mirror.example.net"}],
                "labelsOverrider": [{"operator": "add", "value": {"mirrored": "yes"}}]}}]}}),
    ];
    (props, ops)
}

fn pure(o: &Opts) -> Result<(), String> {
    let names: Vec<String> = (0..o.clusters).map(|i| format!("c{i}")).collect();
    let clusters: Vec<ClusterInfo> = names.iter().map(|n| ClusterInfo::new(n.clone())).collect();
    let (props, ops) = policy_docs(&names);
    let policies: Vec<PolicyDoc> = props
        .iter()
        .map(read_propagation_policy)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let overrides = ops
        .iter()
        .map(read_override_policy)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let templates: Vec<Value> = (0..o.templates).map(|i| deployment(i, 12)).collect();
    let deps = BTreeMap::new();
    let mut previous = BTreeMap::new();
    let mut times = Vec::new();
    let mut objects = 0;
    for _ in 0..o.runs {
        let t = Instant::now();
        let out = plan(PlanInput {
            clusters: &clusters,
            policies: &policies,
            overrides: &overrides,
            templates: &templates,
            dependencies: &deps,
            previous: &previous,
            now: Instant::now(),
        });
        times.push(t.elapsed());
        objects = out.desired.values().map(BTreeMap::len).sum::<usize>();
        previous = out.bindings;
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "plan: clusters={} templates={} member_objects={} runs={} min_ms={:.1} median_ms={:.1} per_template_us={:.1}",
        o.clusters,
        o.templates,
        objects,
        o.runs,
        times[0].as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6 / o.templates as f64
    );
    Ok(())
}

async fn live(o: &Opts) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let hub_crds = vec![
        serde_json::to_value(MemberCluster::crd()).map_err(|e| err(&e))?,
        serde_json::to_value(PropagationPolicy::crd()).map_err(|e| err(&e))?,
        serde_json::to_value(ClusterPropagationPolicy::crd()).map_err(|e| err(&e))?,
        serde_json::to_value(OverridePolicy::crd()).map_err(|e| err(&e))?,
        serde_json::to_value(ClusterOverridePolicy::crd()).map_err(|e| err(&e))?,
    ];
    let hub = SimCluster::start(SimOptions {
        name: "hub".into(),
        crds: hub_crds,
        ..SimOptions::default()
    })
    .await
    .map_err(|e| err(&e))?;
    let dir = tempfile::tempdir().map_err(|e| err(&e))?;
    let mut sims = Vec::new();
    let mut clients = BTreeMap::new();
    let mut names = Vec::new();
    for i in 0..o.members {
        let name = format!("member-{i}");
        let sim = SimCluster::start(SimOptions {
            name: name.clone(),
            crds: mcs_crds(),
            ..SimOptions::default()
        })
        .await
        .map_err(|e| err(&e))?;
        let kc = dir.path().join(format!("{name}.yaml"));
        sim.write_kubeconfig(&kc).map_err(|e| err(&e))?;
        clients.insert(
            name.clone(),
            client_for(&name, &kc, None).await.map_err(|e| err(&e))?,
        );
        hub.apply_json(
            json!({"apiVersion": "isthmus.io/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": name}, "spec": {"network": "n1"}}),
        )
        .map_err(|e| err(&e))?;
        names.push(name);
        sims.push(sim);
    }
    let kc = dir.path().join("hub.yaml");
    hub.write_kubeconfig(&kc).map_err(|e| err(&e))?;
    let hub_client = client_for("hub", &kc, None).await.map_err(|e| err(&e))?;
    let (props, ops) = policy_docs(&names);
    for d in props.into_iter().chain(ops) {
        hub.apply_json(d).map_err(|e| err(&e))?;
    }
    for i in 0..o.live_templates {
        hub.apply_json(deployment(i, 12)).map_err(|e| err(&e))?;
    }
    let mut p = Propagator::new(PropagationConfig::default());
    p.set_members(clients);
    let none = BTreeSet::new();
    let limit = Duration::from_secs(300);
    for (label, scale) in [("first", None), ("steady", None), ("scaled", Some(15))] {
        if let Some(r) = scale {
            for i in 0..o.live_templates {
                hub.apply_json(deployment(i, r)).map_err(|e| err(&e))?;
            }
        }
        let t = Instant::now();
        let report = tokio::time::timeout(limit, p.pass(&hub_client, &none))
            .await
            .map_err(|_| format!("{label} pass exceeded {limit:?}"))?;
        println!(
            "live pass={label} members={} templates={} applied={} pruned={} statuses={} errors={} ms={:.0}",
            o.members,
            o.live_templates,
            report.applied,
            report.pruned,
            report.statuses,
            report.errors,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    drop(sims);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Err(e) = pure(&o) {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    if let Err(e) = live(&o).await {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
