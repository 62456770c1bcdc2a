//! Cost of publishing discovery tables after a reconcile pass: `--members` members each get the
//! same `--services` ServiceImports (ClusterSetIP) and the imported EndpointSlices of 2
//! exporting clusters with `--endpoints` endpoints each, as shared desired objects (one `Arc`
//! per object, as the reconcile builds them). Times, over `--runs` runs:
//! - `first`: building every member's table and publishing it into an empty publisher;
//! - `unchanged`: the next pass with the same objects (no delta);
//! - `one change`: a pass where one service's slice changed (one delta per member).
//!
//! The passes go through [`TableBuilder::publish`], as the controller's do.
//!
//! Bounded by its arguments.
//!
//! `cargo run --release -p mesh-controller --example discovery_bench -- --members 10 --services 1000 --endpoints 10 --runs 5`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh_controller::discovery::TableBuilder;
use mesh_controller::model::DesiredObject;
use mesh_controller::plan::ClusterPlan;
use mesh_proto::publisher::{Publisher, PublisherConfig};
use serde_json::{Value, json};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn import(i: usize) -> Value {
    json!({
        "apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": format!("svc-{i}"), "namespace": "bench",
                     "labels": {"app.kubernetes.io/managed-by": "isthmus"}},
        "spec": {"type": "ClusterSetIP", "ips": [format!("242.0.{}.{}", i / 250, i % 250 + 1)],
                 "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
                 "sessionAffinity": "None"},
        "status": {"clusters": [{"cluster": "member-0"}, {"cluster": "member-1"}]},
    })
}

fn slice(i: usize, cluster: usize, endpoints: usize, generation: usize) -> Value {
    let eps: Vec<Value> = (0..endpoints)
        .map(|e| {
            json!({"addresses": [format!("10.{cluster}.{}.{}", (i * endpoints + e) / 250 % 250, (i * endpoints + e) % 250 + 1)],
                   "conditions": {"ready": !(e + generation).is_multiple_of(5), "serving": true, "terminating": false},
                   "zone": "z1"})
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("svc-{i}-member-{cluster}-abcdef0123"), "namespace": "bench",
            "labels": {"multicluster.kubernetes.io/service-name": format!("svc-{i}"),
                       "multicluster.kubernetes.io/source-cluster": format!("member-{cluster}"),
                       "endpointslice.kubernetes.io/managed-by": "mesh-controller.isthmus.io",
                       "app.kubernetes.io/managed-by": "isthmus"}},
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    })
}

fn shared(v: Value) -> Arc<DesiredObject> {
    Arc::new(DesiredObject::new(v).unwrap())
}

fn plans(members: &[String], objects: &[Arc<DesiredObject>]) -> BTreeMap<String, ClusterPlan> {
    members
        .iter()
        .map(|m| {
            (
                m.clone(),
                ClusterPlan {
                    shared: objects.to_vec(),
                    ..ClusterPlan::default()
                },
            )
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n_members = arg("--members", 10);
    let n_services = arg("--services", 1000);
    let endpoints = arg("--endpoints", 10);
    let runs = arg("--runs", 5).max(1);
    let members: Vec<String> = (0..n_members).map(|m| format!("member-{m}")).collect();
    let mut objects = Vec::new();
    for i in 0..n_services {
        objects.push(shared(import(i)));
        for c in 0..2 {
            objects.push(shared(slice(i, c, endpoints, 0)));
        }
    }
    let records = n_members * n_services;
    println!(
        "members {n_members}, services {n_services}, endpoints/slice {endpoints}: {records} records, {} shared objects",
        objects.len()
    );
    let (mut first, mut same, mut change) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let publisher = Publisher::new(PublisherConfig::default());
        let mut builder = TableBuilder::default();
        let p = plans(&members, &objects);
        let t = Instant::now();
        let (changed, _) = builder.publish(&publisher, &members, &p);
        first.push(ms(t.elapsed()));
        assert_eq!(changed.len(), n_members);

        let t = Instant::now();
        let (changed, _) = builder.publish(&publisher, &members, &p);
        same.push(ms(t.elapsed()));
        assert!(changed.is_empty());

        let mut next = objects.clone();
        // Generations 1..=4 differ from 0 in which endpoints are ready.
        next[1] = shared(slice(0, 0, endpoints, run % 4 + 1));
        let p = plans(&members, &next);
        let t = Instant::now();
        let (changed, _) = builder.publish(&publisher, &members, &p);
        change.push(ms(t.elapsed()));
        assert_eq!(changed.len(), n_members);
    }
    println!(
        "first publish: median {:.1} ms   unchanged pass: median {:.1} ms   one change: median {:.1} ms",
        median(first),
        median(same),
        median(change)
    );
}
