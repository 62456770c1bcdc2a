//! Scale benchmark of the pure reconcile: fills an index with `--clusters` members, each
//! exporting its share of `--services` services (every service exported from `--exporters`
//! clusters, one EndpointSlice of `--endpoints` endpoints per exporter), then times
//! `snapshot()` and `reconcile()` over `--runs` runs. Bounded by its arguments.
//!
//! `cargo run --release -p mesh-controller --example reconcile_bench -- --clusters 10 --services 1000`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use isthmus_api::labels::ENDPOINTSLICE_SERVICE_NAME;
use isthmus_api::mcs::ServiceExportSpec;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use mesh_controller::index::{Dirty, Index};
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::reconcile::Reconciler;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        ..ObjectMeta::default()
    }
}

fn main() {
    let clusters = arg("--clusters", 10).max(1);
    let services = arg("--services", 1000);
    let exporters = arg("--exporters", 2).clamp(1, clusters);
    let endpoints = arg("--endpoints", 10);
    let runs = arg("--runs", 5).max(1);
    let names: Vec<String> = (0..clusters).map(|i| format!("c{i:03}")).collect();
    let rss0 = rss_mib();

    let t = Instant::now();
    let mut index = Index::new();
    for (i, n) in names.iter().enumerate() {
        index.upsert_member(MemberInfo::new(n.clone(), format!("net{}", i % 3)));
        for ns in ["team-a", "team-b"] {
            index
                .apply_namespace(
                    n,
                    &Namespace {
                        metadata: ObjectMeta {
                            name: Some(ns.into()),
                            ..ObjectMeta::default()
                        },
                        ..Namespace::default()
                    },
                )
                .unwrap();
        }
    }
    for s in 0..services {
        let ns = if s % 2 == 0 { "team-a" } else { "team-b" };
        let name = format!("svc-{s}");
        for e in 0..exporters {
            let cluster = &names[(s + e) % clusters];
            let svc = Service {
                metadata: meta(ns, &name),
                spec: Some(ServiceSpec {
                    cluster_ip: Some("10.96.0.1".into()),
                    ip_families: Some(vec!["IPv4".into()]),
                    ports: Some(vec![ServicePort {
                        name: Some("http".into()),
                        port: 80,
                        protocol: Some("TCP".into()),
                        ..ServicePort::default()
                    }]),
                    ..ServiceSpec::default()
                }),
                ..Service::default()
            };
            index.apply_service(cluster, &svc).unwrap();
            let mut m = meta(ns, &name);
            m.creation_timestamp = Some(Time(
                Timestamp::from_second(1_700_000_000 + i64::try_from(e).unwrap()).unwrap(),
            ));
            m.generation = Some(1);
            index
                .apply_export_parts(cluster, &m, &ServiceExportSpec::default(), None)
                .unwrap();
            let mut sm = meta(ns, &format!("{name}-{e}"));
            sm.labels = Some(BTreeMap::from([(
                ENDPOINTSLICE_SERVICE_NAME.to_owned(),
                name.clone(),
            )]));
            let slice = EndpointSlice {
                metadata: sm,
                address_type: "IPv4".into(),
                endpoints: (0..endpoints)
                    .map(|k| Endpoint {
                        addresses: vec![format!("10.{}.{}.{}", e % 250, (s / 250) % 250, k % 250)],
                        conditions: Some(EndpointConditions {
                            ready: Some(true),
                            serving: Some(true),
                            terminating: Some(false),
                        }),
                        ..Endpoint::default()
                    })
                    .collect(),
                ports: None,
            };
            index.apply_slice(cluster, &slice).unwrap();
        }
    }
    let fill = t.elapsed();
    let rss_index = rss_mib();

    let cfg = ReconcileConfig::default();
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let _ = index.take_dirty();
    let mut snaps = Vec::new();
    let mut recs = Vec::new();
    let mut shared_full = Vec::new();
    let mut incr = Vec::new();
    let mut objects = 0;
    let mut reconciler = Reconciler::new();
    let first = reconciler.pass(&index.snapshot(), Dirty::all(), &cfg, now);
    drop(first);
    let ns = "team-a";
    for run in 0..runs {
        let t = Instant::now();
        let snap = index.snapshot();
        snaps.push(t.elapsed());
        // The render path: everything, as JSON per member.
        let t = Instant::now();
        let d = mesh_controller::reconcile::reconcile(&snap, &cfg, now);
        recs.push(t.elapsed());
        objects = d.summary.objects;
        assert_eq!(d.summary.services, services + run);
        drop(d);
        // The controller's first pass: everything, objects shared between members.
        let t = Instant::now();
        let full = Reconciler::new().pass(&snap, Dirty::all(), &cfg, now);
        let per_member = full.objects_by_member();
        shared_full.push(t.elapsed());
        drop((full, per_member));
        // The controller's pass after one new export: one dirty service, then the per-member
        // object lists the writer compares.
        let name = format!("new-{run}");
        let cluster = names[run % clusters].clone();
        let mut svc = Service {
            metadata: meta(ns, &name),
            ..Service::default()
        };
        svc.spec = Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        });
        index.apply_service(&cluster, &svc).unwrap();
        let mut m = meta(ns, &name);
        m.creation_timestamp = Some(Time(now));
        index
            .apply_export_parts(&cluster, &m, &ServiceExportSpec::default(), None)
            .unwrap();
        let t = Instant::now();
        let snap = index.snapshot();
        let dirty = index.take_dirty();
        let pass = reconciler.pass(&snap, dirty, &cfg, now);
        let per_member = pass.objects_by_member();
        incr.push(t.elapsed());
        assert_eq!(pass.stats.recomputed, 1);
        drop((pass, per_member));
    }
    snaps.sort();
    recs.sort();
    shared_full.sort();
    incr.sort();
    println!(
        "clusters={clusters} services={services} exporters={exporters} endpoints={endpoints} runs={runs}"
    );
    println!(
        "index fill: {:.1} ms ({} exports), RSS {:.0} MiB -> {:.0} MiB",
        fill.as_secs_f64() * 1e3,
        services * exporters,
        rss0,
        rss_index
    );
    println!(
        "snapshot: median {:.3} ms",
        snaps[runs / 2].as_secs_f64() * 1e3
    );
    let ms = |v: &[std::time::Duration]| {
        format!(
            "min {:.1} ms, median {:.1} ms, max {:.1} ms",
            v[0].as_secs_f64() * 1e3,
            v[runs / 2].as_secs_f64() * 1e3,
            v[runs - 1].as_secs_f64() * 1e3
        )
    };
    println!(
        "full reconcile to JSON (render): {}; {objects} desired objects",
        ms(&recs)
    );
    println!(
        "full pass, shared objects (controller start): {}",
        ms(&shared_full)
    );
    println!("incremental pass after one new export: {}", ms(&incr));
    println!("RSS after {:.0} MiB", rss_mib());
}
