//! How fast the gRPC source turns the controller's stream into answers, in one process over
//! loopback: a `mesh_proto` discovery server, and the proxy's gRPC source publishing into a
//! `TableHandle`.
//!
//! For each table size N (ClusterSetIP services, one IP and one port each, plus N/10 headless
//! services with 4 endpoints in 2 clusters): the time from starting the source to the first
//! table being served (snapshot transfer, conversion, table build), then ROUNDS single-record
//! changes, each timed from `Publisher::publish` to the new table being swapped in (delta
//! encode/transfer/apply, conversion, full table rebuild).
//!
//! `cargo run --release -p dns-proxy --example grpc_update_bench -- [ROUNDS] [N]...`
//! (default: 30 rounds, N = 1000 10000). Every wait is bounded (60 s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dns_proxy::handle::TableHandle;
use dns_proxy::metrics::Metrics;
use dns_proxy::source::grpc::{self, GrpcSource};
use dns_proxy::table::ZoneConfig;
use mesh_proto::publisher::{Publisher, PublisherConfig};
use mesh_proto::table::NameTable;
use mesh_proto::v1;

const LIMIT: Duration = Duration::from_secs(60);

fn clusterset_ip(i: usize, round: usize) -> v1::ServiceRecord {
    v1::ServiceRecord {
        key: Some(v1::ServiceKey {
            namespace: "bench".into(),
            name: format!("svc-{i}"),
        }),
        r#type: v1::ServiceType::ClusterSetIp as i32,
        ips: vec![format!(
            "242.{}.{}.{}",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            (i + round) & 0xff
        )],
        ports: vec![v1::Port {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
        }],
        clusters: vec![],
    }
}

fn headless(i: usize) -> v1::ServiceRecord {
    let cluster = |c: &str, base: usize| v1::ClusterEndpoints {
        cluster: c.into(),
        endpoints: (0..2)
            .map(|e| v1::Endpoint {
                addresses: vec![format!(
                    "10.{}.{}.{}",
                    base,
                    (i >> 8) & 0xff,
                    (i * 2 + e) & 0xff
                )],
                hostname: format!("pod-{e}"),
                ready: true,
            })
            .collect(),
        ports: vec![],
    };
    v1::ServiceRecord {
        key: Some(v1::ServiceKey {
            namespace: "bench".into(),
            name: format!("db-{i}"),
        }),
        r#type: v1::ServiceType::Headless as i32,
        ips: vec![],
        ports: vec![v1::Port {
            name: "pg".into(),
            protocol: "TCP".into(),
            port: 5432,
        }],
        clusters: vec![cluster("east", 1), cluster("west", 2)],
    }
}

/// The table of size `n`; `round` changes the address of service 0 only.
fn table(n: usize, round: usize) -> anyhow::Result<NameTable> {
    let records = (0..n)
        .map(|i| clusterset_ip(i, if i == 0 { round } else { 0 }))
        .chain((0..n / 10).map(headless));
    Ok(NameTable::from_records(records)?)
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + LIMIT;
    while !ok() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn one_size(n: usize, rounds: usize) -> anyhow::Result<()> {
    let publisher = Arc::new(Publisher::new(PublisherConfig::default()));
    publisher.publish("east", table(n, 0)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mesh_proto::service::serve(
        publisher.clone(),
        listener,
        None,
        Duration::from_secs(15),
        async {
            let _ = stopped.await;
        },
    ));

    let handle = Arc::new(TableHandle::new(
        ZoneConfig::default(),
        Arc::new(Metrics::default()),
    )?);
    let start = Instant::now();
    let source = tokio::spawn(grpc::run(
        GrpcSource::new(format!("http://{addr}"), "east"),
        handle.clone(),
    ));
    wait_for("the first table", || handle.is_ready()).await?;
    let first = start.elapsed();
    let services = handle.load().service_count();

    let mut lat = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let next = table(n, round)?;
        let before = handle.load();
        let t = Instant::now();
        publisher.publish("east", next);
        wait_for("a delta", || !Arc::ptr_eq(&handle.load(), &before)).await?;
        lat.push(t.elapsed());
    }
    source.abort();
    let _ = stop.send(());
    server.await?.context("discovery server")?;

    // Where the time goes: the same steps run alone on the last table.
    let last = Arc::new(table(n, rounds + 1)?);
    let t = Instant::now();
    let _ = NameTable::clone(&last);
    let clone = t.elapsed();
    let mut conv = grpc::Converter::default();
    let t = Instant::now();
    let set = conv.convert(&last);
    let convert_full = t.elapsed();
    let changed = Arc::new(table(n, rounds + 2)?);
    let t = Instant::now();
    let _ = conv.convert(&changed);
    let convert_delta = t.elapsed();
    let t = Instant::now();
    handle.publish(&set)?;
    let build = t.elapsed();
    let t = Instant::now();
    let _ = last.diff(&changed);
    let diff = t.elapsed();

    lat.sort();
    let pick = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "records {:>6} (services served {services:>6}): first table {:>8.1} ms; delta to answer p50 {:>7.1} ms, p90 {:>7.1} ms, max {:>7.1} ms ({rounds} rounds)",
        n + n / 10,
        ms(first),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(pick(1.0)),
    );
    println!(
        "    alone: table clone {:.1} ms, full convert {:.1} ms, convert after a one-record change {:.1} ms, answer table build+swap {:.1} ms, server diff {:.1} ms",
        ms(clone),
        ms(convert_full),
        ms(convert_delta),
        ms(build),
        ms(diff),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = match args.next() {
        Some(r) => r.parse().context("ROUNDS must be a number")?,
        None => 30,
    };
    let mut sizes: Vec<usize> = args
        .map(|a| a.parse().context("N must be a number"))
        .collect::<anyhow::Result<_>>()?;
    if sizes.is_empty() {
        sizes = vec![1000, 10_000];
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        for n in sizes {
            one_size(n, rounds.clamp(1, 1000)).await?;
        }
        Ok(())
    })
}
