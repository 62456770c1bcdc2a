//! Discovery consistency: three member clusters, the real controller serving ClusterSet
//! discovery, and per member two DNS proxies: one fed over gRPC by the controller, one fed from
//! a YAML file of the ServiceImports and imported EndpointSlices read back from the member.
//!
//! A bounded, seeded random sequence of exports, unexports, endpoint changes and namespace
//! changes is applied. After each batch converges:
//! - the controller's published table of each member equals the table of the objects it wrote
//!   into that member;
//! - the gRPC-fed proxy holds exactly the names of the controller's table (and so does the
//!   file-fed one);
//! - both proxies give the same answers (rcode, answer and additional records) for every name
//!   the scenario can create, and for a name that does not exist.
//!
//! Then the controller restarts on the same address while a change is pending: the proxies
//! keep answering from their last table, reconnect, take a snapshot of the new epoch and
//! converge again.
//!
//! The seed is `ISTHMUS_SEED` (default below); a failure prints it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use isthmus_testing::dns;
use isthmus_testing::k8s::{apply, delete};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use mesh_controller::discovery::DiscoveryConfig;
use mesh_controller::members::{MemberSpec, client_for};
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{MemberInfo, ReconcileConfig};
use mesh_controller::resource::api_resource;
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::{self, ControllerHandle, RunConfig};
use mesh_proto::mcs::cluster_table;
use mesh_proto::table::NameTable;
use serde_json::{Value, json};

const MCS: &str = "multicluster.x-k8s.io/v1beta1";
const LIMIT: Duration = Duration::from_secs(30);
const DEFAULT_SEED: u64 = 0x15_7e_a5_d1_5c_0e;
/// Random operations in the whole run, applied in batches.
const OPERATIONS: usize = 24;
const BATCH: usize = 6;
/// Services the scenario may export, and whether each is headless.
const SERVICES: [(&str, bool); 3] = [("web", false), ("api", false), ("db", true)];

/// A small deterministic generator (SplitMix64): the sequence depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The objects of a kind in every namespace, with `apiVersion` and `kind` set.
async fn list(client: &Client, av: &str, kind: &str, labels: &str) -> Vec<Value> {
    let ar = api_resource(av, kind);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let lp = if labels.is_empty() {
        ListParams::default()
    } else {
        ListParams::default().labels(labels)
    };
    api.list(&lp)
        .await
        .unwrap_or_else(|e| panic!("list {kind}: {e}"))
        .items
        .into_iter()
        .map(|o| {
            let mut v = serde_json::to_value(o).unwrap();
            v["apiVersion"] = json!(av);
            v["kind"] = json!(kind);
            v
        })
        .collect()
}

/// What the controller wrote into a member: its ServiceImports and imported EndpointSlices.
async fn written_objects(client: &Client) -> Vec<Value> {
    let mut out = list(client, MCS, "ServiceImport", "").await;
    out.extend(
        list(
            client,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "multicluster.kubernetes.io/service-name",
        )
        .await,
    );
    out
}

/// Writes `objects` as multi-document YAML (JSON documents are YAML), replacing the file at
/// once so the file source never reads half of it.
fn write_yaml(path: &Path, objects: &[Value]) {
    let text: Vec<String> = objects
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text.join("\n---\n") + "\n").unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A DNS proxy with its source task.
struct Proxy {
    handle: Arc<dns_proxy::handle::TableHandle>,
    server: dns_proxy::server::Server,
    source: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(
        source: impl FnOnce(Arc<dns_proxy::handle::TableHandle>) -> tokio::task::JoinHandle<()>,
    ) -> Proxy {
        let handle = Arc::new(
            dns_proxy::handle::TableHandle::new(
                dns_proxy::table::ZoneConfig::default(),
                Arc::new(dns_proxy::metrics::Metrics::default()),
            )
            .unwrap(),
        );
        let source = source(handle.clone());
        let server =
            dns_proxy::server::start(dns_proxy::server::ServerOptions::local(), handle.clone())
                .await
                .unwrap();
        Proxy {
            handle,
            server,
            source,
        }
    }

    fn grpc(
        discovery: SocketAddr,
        cluster: &str,
    ) -> impl FnOnce(Arc<dns_proxy::handle::TableHandle>) -> tokio::task::JoinHandle<()> {
        let mut src =
            dns_proxy::source::grpc::GrpcSource::new(format!("http://{discovery}"), cluster);
        src.backoff_initial = Duration::from_millis(50);
        src.backoff_max = Duration::from_millis(500);
        move |h| tokio::spawn(dns_proxy::source::grpc::run(src, h))
    }

    fn file(
        path: PathBuf,
    ) -> impl FnOnce(Arc<dns_proxy::handle::TableHandle>) -> tokio::task::JoinHandle<()> {
        move |h| {
            tokio::spawn(dns_proxy::source::file::run(
                path,
                Duration::from_millis(50),
                h,
            ))
        }
    }

    /// The current table's content (`None` before the first table).
    fn content(&self) -> Option<Content> {
        self.handle.is_ready().then(|| content(&self.handle.load()))
    }

    fn metrics(&self) -> String {
        self.handle.metrics().render()
    }

    fn stop(self) {
        self.source.abort();
        self.server.shutdown();
    }
}

/// Every RRset of a table: owner, type, and the sorted record data and additional records
/// (sources may list endpoints in different orders; DNS clients get no order guarantee).
type Content = Vec<(String, u16, Vec<String>, Vec<String>)>;

fn content(table: &dns_proxy::table::Table) -> Content {
    let mut out = Vec::new();
    for (name, types) in table.dump() {
        let wire = dns_proxy::table::name_to_wire(&name.to_ascii_lowercase()).unwrap();
        // The SOA serial is per proxy; everything else must match.
        for t in types.into_iter().filter(|t| *t != 6) {
            if let dns_proxy::table::Lookup::Answer(set) = table.lookup(&wire, t) {
                let mut rdata: Vec<String> = set.rdata.iter().map(|r| format!("{r:?}")).collect();
                rdata.sort();
                let mut extra: Vec<String> =
                    set.additional.iter().map(|a| format!("{a:?}")).collect();
                extra.sort();
                out.push((name.clone(), t, rdata, extra));
            }
        }
    }
    out
}

/// What a proxy serves for `table`.
fn expected_content(table: &NameTable) -> Content {
    let (set, errors) = dns_proxy::source::grpc::to_service_set(table);
    assert!(errors.is_empty(), "{errors:?}");
    content(
        &dns_proxy::table::Table::build(&dns_proxy::table::ZoneConfig::default(), &set, 1).unwrap(),
    )
}

/// A comparable form of the answer: rcode, sorted answer and additional records, and the types
/// of the authority records (the SOA serial differs between proxies).
async fn ask(addr: SocketAddr, name: &str, qtype: u16) -> String {
    let q = dns::query(name, RecordType::from(qtype), None);
    let m = dns::ask(addr, &q, Duration::from_secs(2))
        .await
        .expect("DNS answer within 2 s");
    let sorted = |rs: &[hickory_proto::rr::Record]| {
        let mut v: Vec<String> = rs.iter().map(ToString::to_string).collect();
        v.sort();
        v
    };
    let authority: Vec<String> = m
        .authorities
        .iter()
        .map(|r| r.record_type().to_string())
        .collect();
    format!(
        "{:?} answers={:?} additionals={:?} authority={authority:?}",
        m.metadata.response_code,
        sorted(&m.answers),
        sorted(&m.additionals)
    )
}

/// The scenario's state: what the test has created, to pick the next operation from.
struct World {
    clients: Vec<Client>,
    names: Vec<String>,
    /// Namespaces of the test: `ns[0]` exists everywhere; `ns[1]` toggles in the last member.
    ns: [String; 2],
    /// (member, namespace index, service) exported now.
    exported: BTreeSet<(usize, usize, usize)>,
    /// Whether `ns[1]` exists in the last member.
    second_ns_in_last: bool,
    /// A counter for endpoint addresses.
    next_ip: u32,
}

impl World {
    fn service(&self, ns: usize, svc: usize) -> Value {
        let (name, headless) = SERVICES[svc];
        let mut spec = json!({"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
        if headless {
            spec["clusterIP"] = json!("None");
        }
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": self.ns[ns]}, "spec": spec})
    }

    fn slice(&mut self, member: usize, ns: usize, svc: usize, rng: &mut Rng) -> Value {
        let (name, headless) = SERVICES[svc];
        let n = rng.below(4);
        let endpoints: Vec<Value> = (0..n)
            .map(|k| {
                self.next_ip += 1;
                let ip = format!(
                    "10.{}.{}.{}",
                    member + 1,
                    self.next_ip / 250 % 250,
                    self.next_ip % 250 + 1
                );
                let mut e = json!({"addresses": [ip], "conditions": {"ready": rng.below(4) != 0}});
                if headless {
                    e["hostname"] = json!(format!("{name}-{k}"));
                }
                e
            })
            .collect();
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{name}-src"), "namespace": self.ns[ns],
                "labels": {"kubernetes.io/service-name": name,
                           "endpointslice.kubernetes.io/managed-by": "consistency.isthmus.io"}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        })
    }

    /// One random operation; returns a description for failure messages.
    async fn step(&mut self, rng: &mut Rng) -> String {
        let member = rng.below(self.clients.len());
        // The second namespace only ever exports from the first two members.
        let ns = if member + 1 < self.clients.len() {
            rng.below(2)
        } else {
            0
        };
        let svc = rng.below(SERVICES.len());
        let c = self.clients[member].clone();
        match rng.below(4) {
            0 | 1 => {
                apply(&c, self.service(ns, svc)).await;
                let slice = self.slice(member, ns, svc, rng);
                apply(&c, slice).await;
                apply(
                    &c,
                    json!({"apiVersion": MCS, "kind": "ServiceExport",
                           "metadata": {"name": SERVICES[svc].0, "namespace": self.ns[ns]}}),
                )
                .await;
                self.exported.insert((member, ns, svc));
                format!(
                    "export {}/{} from {}",
                    self.ns[ns], SERVICES[svc].0, self.names[member]
                )
            }
            2 => {
                // Endpoints of a random exported service change; unexport when there is none.
                let pick: Vec<_> = self.exported.iter().copied().collect();
                if pick.is_empty() {
                    return "nothing exported: no endpoint change".into();
                }
                let (m, ns, svc) = pick[rng.below(pick.len())];
                if rng.below(3) == 0 {
                    let name = SERVICES[svc].0;
                    delete(&self.clients[m], MCS, "ServiceExport", &self.ns[ns], name).await;
                    self.exported.remove(&(m, ns, svc));
                    return format!("unexport {}/{name} from {}", self.ns[ns], self.names[m]);
                }
                let slice = self.slice(m, ns, svc, rng);
                apply(&self.clients[m].clone(), slice).await;
                format!(
                    "endpoints of {}/{} in {}",
                    self.ns[ns], SERVICES[svc].0, self.names[m]
                )
            }
            _ => {
                let last = self.clients.len() - 1;
                let c = &self.clients[last];
                if self.second_ns_in_last {
                    delete(c, "v1", "Namespace", "", &self.ns[1]).await;
                } else {
                    apply(
                        c,
                        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns[1]}}),
                    )
                    .await;
                }
                self.second_ns_in_last = !self.second_ns_in_last;
                format!(
                    "namespace {} {} in {}",
                    self.ns[1],
                    if self.second_ns_in_last {
                        "created"
                    } else {
                        "deleted"
                    },
                    self.names[last]
                )
            }
        }
    }

    /// Every name the scenario can create, with its query type.
    fn names_to_ask(&self) -> Vec<(String, u16)> {
        let mut out = Vec::new();
        for ns in &self.ns {
            for (svc, headless) in SERVICES {
                let base = format!("{svc}.{ns}.svc.clusterset.local");
                out.push((base.clone(), 1));
                out.push((format!("_http._tcp.{base}"), 33));
                if headless {
                    for c in &self.names {
                        for k in 0..3 {
                            out.push((format!("{svc}-{k}.{c}.{base}"), 1));
                        }
                    }
                }
            }
            out.push((format!("missing.{ns}.svc.clusterset.local"), 1));
        }
        out
    }
}

struct Controller {
    handle: ControllerHandle,
}

async fn start_controller(members: &[MemberSpec], discovery: SocketAddr) -> Controller {
    let infos = members
        .iter()
        .map(|m| MemberInfo::new(m.name.clone(), m.network.clone()))
        .collect();
    let metrics = Arc::new(Metrics::new());
    let engine =
        Arc::new(IndexEngine::new(infos, ReconcileConfig::default()).with_metrics(metrics.clone()));
    let mut cfg = RunConfig::new("consistency", members.to_vec());
    cfg.probe_period = Duration::from_millis(300);
    cfg.discovery = Some(DiscoveryConfig::insecure(discovery));
    let handle = runtime::start(cfg, engine, metrics).await.unwrap();
    Controller { handle }
}

/// Waits until, for every member, the published table equals the written objects' table, the
/// file is refreshed from those objects, and both proxies serve exactly the controller's names.
async fn converge(
    world: &World,
    ctl: &Controller,
    grpc: &[Proxy],
    file: &[Proxy],
    files: &[PathBuf],
    what: &str,
) {
    let publisher = ctl.handle.publisher.clone().unwrap();
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut last_written: Vec<Option<Vec<Value>>> = vec![None; world.clients.len()];
    loop {
        let mut problem = None;
        for (i, c) in world.clients.iter().enumerate() {
            let objects = written_objects(c).await;
            if last_written[i].as_ref() != Some(&objects) {
                write_yaml(&files[i], &objects);
                last_written[i] = Some(objects.clone());
            }
            let (written, errors) = cluster_table(&objects);
            assert!(errors.is_empty(), "{errors:?}");
            let Some(published) = publisher.table(&world.names[i]) else {
                problem = Some(format!("{}: nothing published", world.names[i]));
                break;
            };
            if *published != written {
                problem = Some(format!(
                    "{}: published {published:?} != written {written:?}",
                    world.names[i]
                ));
                break;
            }
            let want = expected_content(&published);
            let got = grpc[i].content();
            if got.as_ref() != Some(&want) {
                let diff: Vec<_> = match &got {
                    Some(g) => g
                        .iter()
                        .filter(|x| !want.contains(x))
                        .chain(want.iter().filter(|x| !g.contains(x)))
                        .collect(),
                    None => Vec::new(),
                };
                problem = Some(format!(
                    "{}: the gRPC-fed proxy is behind: {diff:?}",
                    world.names[i]
                ));
                break;
            }
            if file[i].content().as_ref() != Some(&want) {
                problem = Some(format!("{}: the file-fed proxy is behind", world.names[i]));
                break;
            }
        }
        match problem {
            None => return,
            Some(p) => assert!(
                tokio::time::Instant::now() < deadline,
                "not converged after {what}: {p}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Both proxies of every member answer every scenario name the same way; the number of
/// non-empty answers, or the first difference.
async fn same_answers(world: &World, grpc: &[Proxy], file: &[Proxy]) -> Result<usize, String> {
    let mut positive = 0;
    for (i, name) in world.names.iter().enumerate() {
        for (q, t) in world.names_to_ask() {
            let a = ask(grpc[i].server.udp_addr, &q, t).await;
            let b = ask(file[i].server.udp_addr, &q, t).await;
            if a != b {
                return Err(format!(
                    "{name}: {q} type {t}: via gRPC {a} != via file {b}"
                ));
            }
            if !a.contains("answers=[]") {
                positive += 1;
            }
        }
    }
    Ok(positive)
}

/// Converges, then compares the answers. The controller may still be taking in the last
/// changes when the tables first agree (an event not yet indexed), so a difference is retried
/// after converging again; only one that persists past the limit fails.
async fn settle(
    world: &World,
    ctl: &Controller,
    grpc: &[Proxy],
    file: &[Proxy],
    files: &[PathBuf],
    what: &str,
) -> usize {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        converge(world, ctl, grpc, file, files, what).await;
        match same_answers(world, grpc, file).await {
            Ok(n) => return n,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "answers differ after {what}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_fed_proxies_answer_as_the_written_objects_through_changes_and_a_restart() {
    let seed = std::env::var("ISTHMUS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("discovery consistency: seed {seed} (set ISTHMUS_SEED to replay)");
    let mut rng = Rng(seed);
    let clusters = kube_sim::clusters_for_tests(3).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut clients = Vec::new();
    let mut members = Vec::new();
    for (i, c) in clusters.clusters.iter().enumerate() {
        clients.push(client_for(&c.name, &c.kubeconfig, None).await.unwrap());
        members.push(MemberSpec {
            name: c.name.clone(),
            network: format!("network-{}", i % 2 + 1),
            kubeconfig: Some(c.kubeconfig.clone()),
            kubeconfig_yaml: None,
            context: None,
        });
    }
    let tag = format!("{:x}", seed & 0xffff_ffff ^ std::process::id() as u64);
    let mut world = World {
        clients: clients.clone(),
        names: members.iter().map(|m| m.name.clone()).collect(),
        ns: [format!("dc-{tag}-a"), format!("dc-{tag}-b")],
        exported: BTreeSet::new(),
        second_ns_in_last: false,
        next_ip: 0,
    };
    for (i, c) in clients.iter().enumerate() {
        let mut nss = vec![world.ns[0].clone()];
        if i + 1 < clients.len() {
            nss.push(world.ns[1].clone());
        }
        for ns in nss {
            apply(
                c,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
        }
    }

    // Bind a free port once; the restarted controller listens on the same one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ctl = start_controller(&members, port).await;
    let addr = ctl.handle.discovery_addr.unwrap();
    assert_eq!(addr, port);

    let mut grpc = Vec::new();
    let mut file = Vec::new();
    let mut files = Vec::new();
    for name in &world.names {
        grpc.push(Proxy::start(Proxy::grpc(addr, name)).await);
        let path = dir.path().join(format!("{name}.yaml"));
        files.push(path.clone());
        file.push(Proxy::start(Proxy::file(path)).await);
    }

    let mut history = Vec::new();
    let mut positive = 0;
    for batch in 0..OPERATIONS / BATCH {
        for _ in 0..BATCH {
            history.push(world.step(&mut rng).await);
        }
        let what = format!("batch {batch} (seed {seed}): {history:?}");
        positive += settle(&world, &ctl, &grpc, &file, &files, &what).await;
    }
    // The scenario must have produced names, not only NXDOMAINs.
    assert!(
        positive > 0,
        "no positive answers (seed {seed}): {history:?}"
    );

    // Restart: the proxies keep their tables while the controller is down, then take a
    // snapshot of the new epoch (the old versions mean nothing to the new process).
    let before: Vec<Option<Content>> = grpc.iter().map(Proxy::content).collect();
    ctl.handle.shutdown().await;
    history.push(world.step(&mut rng).await);
    apply(&clients[0], world.service(0, 0)).await;
    let slice = world.slice(0, 0, 0, &mut rng);
    apply(&clients[0], slice).await;
    apply(
        &clients[0],
        json!({"apiVersion": MCS, "kind": "ServiceExport",
               "metadata": {"name": SERVICES[0].0, "namespace": world.ns[0]}}),
    )
    .await;
    world.exported.insert((0, 0, 0));
    let during: Vec<Option<Content>> = grpc.iter().map(Proxy::content).collect();
    assert_eq!(
        before, during,
        "proxies keep serving their last table while the controller is down"
    );
    let ctl = start_controller(&members, addr).await;
    let what = format!("the controller restart (seed {seed}): {history:?}");
    settle(&world, &ctl, &grpc, &file, &files, &what).await;
    // A proxy whose view did not change across the restart matches before it has reconnected:
    // wait (bounded) for each to take the new epoch's snapshot.
    for (i, p) in grpc.iter().enumerate() {
        let snapshots = |text: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix("dns_proxy_grpc_snapshots_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = p.metrics();
            let n = snapshots(&text);
            if n >= 2 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: {n} snapshots; a restart must bring a new one\n{text}",
                world.names[i]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ctl
        .handle
        .publisher
        .clone()
        .unwrap()
        .stats()
        .connected()
        .len()
        < world.names.len()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = ctl.handle.publisher.clone().unwrap().stats();
    let connected: BTreeMap<String, u64> = stats.connected();
    for name in &world.names {
        assert_eq!(connected.get(name), Some(&1), "{connected:?}");
    }

    for p in grpc.into_iter().chain(file) {
        p.stop();
    }
    ctl.handle.shutdown().await;
}
