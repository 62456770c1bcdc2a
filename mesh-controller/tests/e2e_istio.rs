//! The Istio wiring end to end on simulated members: remote secrets built from each member's
//! reader token (never the controller's credential), the mesh networks ConfigMap of Static
//! gateways, and the root of trust of every member's istiod (MemberCluster condition, metric)
//! with the optional istiod restart. Also checks that the requests the controller makes for
//! these are namespaced to `istio-system`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gateway_config::ca::RootCa;
use gateway_config::clusterset::GatewayExposure;
use gateway_config::remote_secret::READER_TOKEN_SECRET;
use isthmus_api::crd::MemberCluster;
use isthmus_install::rbac;
use isthmus_testing::env::network;
use isthmus_testing::requests::denied;
use isthmus_testing::{Env, eventually, http};
use kube::CustomResourceExt;
use kube_sim::{SimCluster, SimOptions};
use mesh_controller::members::client_for;
use mesh_controller::metrics::Metrics;
use mesh_controller::model::{IstioWiring, MemberInfo, ReconcileConfig};
use mesh_controller::root_of_trust::fingerprint;
use mesh_controller::runtime::engine::IndexEngine;
use mesh_controller::runtime::hub::{HubConfig, run_with_propagation};
use mesh_controller::runtime::{self, ControllerHandle, IstioReads, RunConfig};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);
const ISTIO_SYSTEM: &str = "istio-system";
const MESH_NETWORKS: &str = "isthmus-mesh-networks";
const ANNOTATION: &str = "isthmus.io/root-fingerprint";

/// Istio's Gateway CRD, structure only (the controller writes the `cross-network-gateway`).
fn istio_gateway_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.networking.istio.io"},
        "spec": {"group": "networking.istio.io", "scope": "Namespaced",
            "names": {"kind": "Gateway", "listKind": "GatewayList", "plural": "gateways", "singular": "gateway"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })
}

/// The reader token Secret as `isthmus install --role member` creates it, with `data` filled
/// in as the service-account token controller does.
/// Istio's reader ServiceAccount: the token Secret belongs to it (the simulator's token
/// controller deletes a token Secret whose ServiceAccount does not exist, as Kubernetes does).
fn reader_service_account() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "istio-reader-service-account", "namespace": ISTIO_SYSTEM}
    })
}

fn reader_token_secret(token: &str, ca: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": READER_TOKEN_SECRET, "namespace": ISTIO_SYSTEM,
            "annotations": {"kubernetes.io/service-account.name": "istio-reader-service-account"}},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": B64.encode(token), "ca.crt": B64.encode(ca), "namespace": B64.encode(ISTIO_SYSTEM)}
    })
}

fn ca_root_configmap(pem: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "istio-ca-root-cert", "namespace": ISTIO_SYSTEM},
        "data": {"root-cert.pem": pem}
    })
}

fn istiod(name: &str, rev: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ISTIO_SYSTEM, "labels": {"app": "istiod", "istio.io/rev": rev}},
        "spec": {"selector": {"matchLabels": {"app": "istiod", "istio.io/rev": rev}},
            "template": {"metadata": {"labels": {"app": "istiod", "istio.io/rev": rev}},
                "spec": {"containers": [{"name": "discovery", "image": "istio/pilot"}]}}}
    })
}

fn wiring(root: Option<Arc<RootCa>>, restart_istiod: bool) -> IstioWiring {
    IstioWiring {
        mesh_id: "e2e".into(),
        trust_domain: "cluster.local".into(),
        expose_hosts: gateway_config::istio::ExposeHosts::All,
        root,
        renewal: gateway_config::ca::RenewalPolicy::default(),
        restart_istiod,
        mesh_networks: true,
    }
}

fn fast_reads() -> Option<IstioReads> {
    Some(IstioReads {
        refresh: Duration::from_millis(200),
    })
}

/// Starts the controller in-process on `env`'s clusters (clusterset-file style: kubeconfig
/// files, no reader kubeconfigs) with Istio wiring.
async fn start(
    env: &Env,
    wiring: IstioWiring,
    adjust: impl Fn(&mut MemberInfo),
) -> (ControllerHandle, Arc<IndexEngine>) {
    let members = controller::members(env);
    let infos = members
        .iter()
        .map(|m| {
            let mut info = MemberInfo::new(m.name.clone(), m.network.clone());
            adjust(&mut info);
            info
        })
        .collect();
    let rcfg = ReconcileConfig {
        istio: Some(wiring),
        ..ReconcileConfig::default()
    };
    let metrics = Arc::new(Metrics::new());
    let engine = Arc::new(IndexEngine::new(infos, rcfg).with_metrics(metrics.clone()));
    let mut cfg = RunConfig::new("e2e", members);
    cfg.probe_period = Duration::from_millis(300);
    cfg.istio = fast_reads();
    let handle = runtime::start(cfg, engine.clone(), metrics).await.unwrap();
    (handle, engine)
}

/// The kubeconfig inside the remote secret `cluster` holds for `other`.
fn remote_kubeconfig(sim: &SimCluster, other: &str) -> Result<(String, Value), String> {
    let name = format!("istio-remote-secret-{other}");
    let s = sim
        .get_json("v1", "Secret", Some(ISTIO_SYSTEM), &name)
        .ok_or(format!("no {name}"))?;
    let text = match (
        s.pointer(&format!("/data/{other}")).and_then(Value::as_str),
        s.pointer(&format!("/stringData/{other}"))
            .and_then(Value::as_str),
    ) {
        (Some(b64), _) => String::from_utf8(B64.decode(b64).unwrap()).unwrap(),
        (None, Some(text)) => text.to_owned(),
        _ => return Err(format!("{name} holds no kubeconfig for {other}")),
    };
    let kc: Value = serde_saphyr::from_str(&text).unwrap();
    Ok((text, kc))
}

/// The controller's own bearer token for a cluster (from its kubeconfig file).
fn controller_token(env: &Env, i: usize) -> String {
    let text = std::fs::read_to_string(env.kubeconfig(i)).unwrap();
    let kc: Value = serde_saphyr::from_str(&text).unwrap();
    kc["users"][0]["user"]["token"].as_str().unwrap().to_owned()
}

/// Every resource request on `resource` a cluster served, as `verb namespace/name`.
fn requests(sim: &SimCluster, resource: &str) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.resource == resource)
        .map(|r| format!("{} {}/{}", r.verb, r.namespace, r.name))
        .collect()
}

/// Checks that every request `sim` served is allowed by the member RBAC of today's install, or
/// is one the Istio wiring adds, all namespaced to `istio-system`: ConfigMaps
/// (`get`/`list`/`watch`/`create`/`patch`/`delete`) and, with `--restart-istiod`, Deployments
/// (`list`/`patch`).
fn assert_only_istio_additions(sim: &SimCluster, restart: bool) {
    let grants = rbac::grants_for(&rbac::member_requests(), "isthmus-system");
    let beyond: Vec<String> = denied(sim, "controller", &grants)
        .into_iter()
        .filter(|line| {
            let mut parts = line.split(' ').skip(1);
            let (verb, resource, object) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let configmap = resource == "/configmaps/"
                && ["get", "list", "watch", "create", "patch", "delete"].contains(&verb);
            let deployment =
                restart && resource == "apps/deployments/" && ["list", "patch"].contains(&verb);
            !((configmap || deployment) && object.starts_with("istio-system/"))
        })
        .collect();
    assert!(
        beyond.is_empty(),
        "requests outside the member RBAC and the Istio additions:\n{}",
        beyond.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_secrets_carry_each_members_reader_token() {
    let env = Env::simulated(2).await;
    for i in 0..2 {
        let sim = env.sim(i);
        sim.apply_json(istio_gateway_crd()).unwrap();
        sim.apply_json(reader_service_account()).unwrap();
        let ca = sim.ca_pem().unwrap();
        sim.apply_json(reader_token_secret(
            &format!("reader-of-{}", env.names[i]),
            ca,
        ))
        .unwrap();
    }
    let (handle, _engine) = start(&env, wiring(None, false), |_| {}).await;
    let (a, b) = (env.sim(0), env.sim(1));
    let b_name = env.names[1].clone();

    let (text, kc) = eventually(
        "cluster-1 holds the remote secret of cluster-2",
        LIMIT,
        || async { remote_kubeconfig(a, &b_name) },
    )
    .await;
    assert_eq!(kc["users"][0]["user"]["token"], "reader-of-cluster-2");
    assert_eq!(kc["clusters"][0]["cluster"]["server"], b.url());
    assert_eq!(
        kc["clusters"][0]["cluster"]["certificate-authority-data"],
        B64.encode(b.ca_pem().unwrap())
    );
    assert!(
        !text.contains(&controller_token(&env, 1)),
        "the remote secret carries the controller's credential for cluster-2:\n{text}"
    );
    let (_, back) = remote_kubeconfig(b, &env.names[0]).unwrap();
    assert_eq!(back["users"][0]["user"]["token"], "reader-of-cluster-1");

    // A rotated token reaches the remote secret.
    b.apply_json(reader_token_secret("rotated", b.ca_pem().unwrap()))
        .unwrap();
    eventually("the rotated token reaches cluster-1", LIMIT, || async {
        let (_, kc) = remote_kubeconfig(a, &b_name)?;
        match kc["users"][0]["user"]["token"].as_str() {
            Some("rotated") => Ok(()),
            other => Err(format!("token {other:?}")),
        }
    })
    .await;
    handle.shutdown().await;

    // The reader token Secret is read by name only; ConfigMaps only in istio-system; no
    // Deployment is touched without --restart-istiod.
    for sim in [a, b] {
        let token_reads: BTreeSet<String> = requests(sim, "secrets")
            .into_iter()
            .filter(|r| r.ends_with(READER_TOKEN_SECRET))
            .collect();
        assert_eq!(
            token_reads,
            BTreeSet::from([format!("get {ISTIO_SYSTEM}/{READER_TOKEN_SECRET}")])
        );
        for r in requests(sim, "configmaps") {
            assert!(r.contains(" istio-system/"), "{r}");
            let verb = r.split(' ').next().unwrap();
            assert!(
                ["get", "list", "watch", "create", "patch", "delete"].contains(&verb),
                "{r}"
            );
        }
        assert_eq!(requests(sim, "deployments"), Vec::<String>::new());
        assert_only_istio_additions(sim, false);
    }
}

/// The `meshNetworks` document of `cluster`'s mesh networks ConfigMap.
fn mesh_networks(sim: &SimCluster) -> Result<(String, Value), String> {
    let cm = sim
        .get_json("v1", "ConfigMap", Some(ISTIO_SYSTEM), MESH_NETWORKS)
        .ok_or("no mesh networks ConfigMap")?;
    if cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "isthmus" {
        return Err(format!("not owned: {cm}"));
    }
    let text = cm["data"]["meshNetworks"]
        .as_str()
        .ok_or("no meshNetworks key")?
        .to_owned();
    let doc = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    Ok((text, doc))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_gateway_gives_every_member_the_mesh_networks() {
    let env = Env::simulated(2).await;
    for i in 0..2 {
        env.sim(i).apply_json(istio_gateway_crd()).unwrap();
    }
    let static_member = env.names[1].clone();
    let exposure = GatewayExposure::Static {
        addresses: vec!["192.0.2.50".into()],
        port: None,
    };
    let (handle, _) = start(&env, wiring(None, false), |info| {
        if info.name == static_member {
            info.exposure = exposure.clone();
        }
    })
    .await;
    for i in 0..2 {
        let (text, doc) = eventually("the mesh networks ConfigMap", LIMIT, || async {
            mesh_networks(env.sim(i))
        })
        .await;
        assert_eq!(
            doc,
            json!({"networks": {network(1): {
                "endpoints": [{"fromRegistry": static_member}],
                "gateways": [{"address": "192.0.2.50", "port": 15443}]
            }}}),
            "{text}"
        );
        assert_eq!(text.matches("192.0.2.50").count(), 1, "{text}");
    }
    handle.shutdown().await;

    // Every gateway a LoadBalancer: the ConfigMaps are pruned (found by the listing of a
    // restarted controller, in istio-system only).
    let (handle, _) = start(&env, wiring(None, false), |_| {}).await;
    for i in 0..2 {
        eventually("the mesh networks ConfigMap is pruned", LIMIT, || async {
            match mesh_networks(env.sim(i)) {
                Err(e) if e.contains("no mesh networks") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        for r in requests(env.sim(i), "configmaps") {
            assert!(r.contains(" istio-system/"), "{r}");
        }
        assert_only_istio_additions(env.sim(i), false);
    }
    handle.shutdown().await;
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The `IstioRootOfTrust` condition of a MemberCluster, as (status, reason, message).
fn condition(hub: &SimCluster, name: &str) -> Result<(String, String, String), String> {
    let mc = hub
        .get_json("isthmus.io/v1alpha1", "MemberCluster", None, name)
        .ok_or("no MemberCluster")?;
    let c = mc["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "IstioRootOfTrust"))
        .ok_or(format!("no IstioRootOfTrust condition in {}", mc["status"]))?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    Ok((s("status"), s("reason"), s("message")))
}

fn notes(hub: &SimCluster, name: &str) -> String {
    hub.get_json("isthmus.io/v1alpha1", "MemberCluster", None, name)
        .map(|mc| mc["status"]["notes"].to_string())
        .unwrap_or_default()
}

async fn metric(addr: SocketAddr, series: &str) -> Result<String, String> {
    let (code, body) = http::get(addr, "/metrics").await;
    if code != 200 {
        return Err(format!("/metrics: {code} {body}"));
    }
    body.lines()
        .find_map(|l| l.strip_prefix(series).map(|v| v.trim().to_owned()))
        .ok_or(format!("no {series}"))
}

fn template_annotation(sim: &SimCluster, name: &str) -> Option<String> {
    sim.get_json("apps/v1", "Deployment", Some(ISTIO_SYSTEM), name)
        .and_then(|d| {
            d.pointer("/spec/template/metadata/annotations")
                .and_then(|a| a.get(ANNOTATION))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

fn patches(sim: &SimCluster) -> Vec<String> {
    requests(sim, "deployments")
        .into_iter()
        .filter(|r| r.starts_with("patch"))
        .collect()
}

/// Runs hub mode in the background until the returned sender fires.
fn run_hub(
    hub: kube::Client,
    reconcile: ReconcileConfig,
    metrics: SocketAddr,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), mesh_controller::runtime::hub::HubError>>,
) {
    let mut run = RunConfig::new("ignored", Vec::new());
    run.probe_period = Duration::from_millis(300);
    run.istio = fast_reads();
    run.metrics_listen = Some(metrics);
    let cfg = HubConfig {
        clusterset: "hubset".into(),
        run,
        reconcile,
        refresh: Duration::from_millis(300),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_with_propagation(hub, cfg, None, async move {
        let _ = stop_rx.await;
    }));
    (stop_tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_root_is_reported_and_istiod_restarted_once() {
    let env = Env::simulated(2).await;
    let now = jiff::Timestamp::now();
    let root = Arc::new(RootCa::generate(&Default::default(), now).unwrap());
    let foreign = RootCa::generate(&Default::default(), now).unwrap();
    let (ours, theirs) = (
        fingerprint(root.cert().cert_der()),
        fingerprint(foreign.cert().cert_der()),
    );
    let (m1, m2) = (env.sim(0), env.sim(1));
    for sim in [m1, m2] {
        sim.apply_json(istio_gateway_crd()).unwrap();
    }
    // cluster-1's istiod started before cacerts were plugged; cluster-2's after.
    m1.apply_json(ca_root_configmap(&foreign.cert_pem()))
        .unwrap();
    m1.apply_json(istiod("istiod", "default")).unwrap();
    m1.apply_json(istiod("istiod-canary", "canary")).unwrap();
    m2.apply_json(ca_root_configmap(&root.cert_pem())).unwrap();

    let hub = SimCluster::start(SimOptions {
        name: "hub".into(),
        tls: true,
        crds: vec![serde_json::to_value(MemberCluster::crd()).unwrap()],
        ..SimOptions::default()
    })
    .await
    .unwrap();
    for (i, c) in env.clusters.clusters.iter().enumerate() {
        let text = std::fs::read(&c.kubeconfig).unwrap();
        hub.apply_json(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{}-kubeconfig", c.name), "namespace": "isthmus-system"},
            "data": {"kubeconfig": B64.encode(text)}
        }))
        .unwrap();
        hub.apply_json(json!({
            "apiVersion": "isthmus.io/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": c.name},
            "spec": {"network": network(i),
                "kubeconfigSecretRef": {"namespace": "isthmus-system", "name": format!("{}-kubeconfig", c.name)}}
        }))
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let hub_kc = dir.path().join("hub.yaml");
    hub.write_kubeconfig(&hub_kc).unwrap();
    let hub_client = client_for("hub", &hub_kc, None).await.unwrap();
    let reconcile = ReconcileConfig {
        istio: Some(wiring(Some(root.clone()), true)),
        ..ReconcileConfig::default()
    };
    let addr = free_addr();
    let (stop, task) = run_hub(hub_client.clone(), reconcile.clone(), addr);
    let (c1, c2) = (env.names[0].clone(), env.names[1].clone());

    // Reported: condition, metric.
    let (_, _, message) = eventually("cluster-1 reports a foreign root", LIMIT, || async {
        match condition(&hub, &c1)? {
            c if c.0 == "False" && c.1 == "ForeignRoot" => Ok(c),
            c => Err(format!("{c:?}")),
        }
    })
    .await;
    assert!(
        message.contains(&ours) && message.contains(&theirs),
        "{message}"
    );
    eventually("cluster-2 trusts the clusterset root", LIMIT, || async {
        match condition(&hub, &c2)? {
            c if c.0 == "True" && c.1 == "ClustersetRoot" => Ok(()),
            c => Err(format!("{c:?}")),
        }
    })
    .await;
    let series = |c: &str| format!("isthmus_member_istio_foreign_root{{cluster=\"{c}\"}}");
    eventually("the foreign-root metric", LIMIT, || async {
        let (a, b) = (
            metric(addr, &series(&c1)).await?,
            metric(addr, &series(&c2)).await?,
        );
        if (a.as_str(), b.as_str()) == ("1", "0") {
            Ok(())
        } else {
            Err(format!("cluster-1 {a}, cluster-2 {b}"))
        }
    })
    .await;

    // Once cacerts are plugged, istiod (the default revision's only) is restarted.
    let annotated = eventually("istiod's pod template names the root", LIMIT, || async {
        template_annotation(m1, "istiod").ok_or_else(|| "not annotated".to_owned())
    })
    .await;
    assert_eq!(annotated, ours);
    let cacerts = m1
        .get_json("v1", "Secret", Some(ISTIO_SYSTEM), "cacerts")
        .unwrap();
    assert_eq!(
        cacerts["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "isthmus"
    );
    // Later passes know about the restart, and report the root istiod still publishes.
    eventually("the restart is reported", LIMIT, || async {
        let n = notes(&hub, &c1);
        if n.contains("was restarted for the clusterset root") {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await;
    assert_eq!(
        patches(m1),
        vec![format!("patch {ISTIO_SYSTEM}/istiod")],
        "exactly one restart"
    );
    assert_eq!(template_annotation(m1, "istiod-canary"), None);
    assert!(patches(m2).is_empty());
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // A restarted controller looks again and leaves the annotated istiod alone.
    let lists_before = requests(m1, "deployments")
        .iter()
        .filter(|r| r.starts_with("list"))
        .count();
    let addr = free_addr();
    let (stop, task) = run_hub(hub_client, reconcile, addr);
    eventually("the restarted controller checks istiod", LIMIT, || async {
        let lists = requests(m1, "deployments")
            .iter()
            .filter(|r| r.starts_with("list"))
            .count();
        if lists > lists_before {
            Ok(())
        } else {
            Err(format!("{lists} listings"))
        }
    })
    .await;

    // istiod now publishes the clusterset root (the restart took): True, metric 0. Reported by
    // passes after the one that checked istiod, so that check is over.
    m1.apply_json(ca_root_configmap(&format!(
        "{}{}",
        foreign.cert_pem(),
        root.cert_pem()
    )))
    .unwrap();
    eventually("cluster-1 trusts the clusterset root", LIMIT, || async {
        match condition(&hub, &c1)? {
            c if c.0 == "True" && c.1 == "ClustersetRoot" => Ok(()),
            c => Err(format!("{c:?}")),
        }
    })
    .await;
    eventually("the metric drops to 0", LIMIT, || async {
        match metric(addr, &series(&c1)).await?.as_str() {
            "0" => Ok(()),
            v => Err(v.to_owned()),
        }
    })
    .await;
    assert_eq!(
        patches(m1),
        vec![format!("patch {ISTIO_SYSTEM}/istiod")],
        "no second restart"
    );
    // Only what the restart needs: list and patch, in istio-system.
    for r in requests(m1, "deployments") {
        assert!(
            r == "list istio-system/" || r == "patch istio-system/istiod",
            "{r}"
        );
    }
    assert_only_istio_additions(m1, true);
    assert_only_istio_additions(m2, true);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_restart_istiod_nothing_is_patched() {
    let env = Env::simulated(1).await;
    let now = jiff::Timestamp::now();
    let root = Arc::new(RootCa::generate(&Default::default(), now).unwrap());
    let foreign = RootCa::generate(&Default::default(), now).unwrap();
    let m = env.sim(0);
    m.apply_json(istio_gateway_crd()).unwrap();
    m.apply_json(ca_root_configmap(&foreign.cert_pem()))
        .unwrap();
    m.apply_json(istiod("istiod", "default")).unwrap();
    let (handle, engine) = start(&env, wiring(Some(root.clone()), false), |_| {}).await;
    let name = env.names[0].clone();
    let series = format!("isthmus_member_istio_foreign_root{{cluster=\"{name}\"}} 1");
    // Plugged, still foreign: the status says how to restart; the metric says foreign.
    eventually("the member is told to restart istiod", LIMIT, || async {
        let d = engine.last_desired().ok_or("no pass yet")?;
        let st = d.member_status.get(&name).ok_or("no status")?;
        let n = st.notes.join("\n");
        if n.contains("--restart-istiod") {
            Ok(())
        } else {
            Err(n)
        }
    })
    .await;
    assert!(handle.metrics.encode().contains(&series));
    assert!(requests(m, "deployments").is_empty());
    assert_eq!(template_annotation(m, "istiod"), None);
    // The clusterset root published: True, metric 0.
    m.apply_json(ca_root_configmap(&root.cert_pem())).unwrap();
    eventually("the member trusts the clusterset root", LIMIT, || async {
        let d = engine.last_desired().ok_or("no pass yet")?;
        let r = d.member_status[&name]
            .root_of_trust
            .clone()
            .ok_or("no verdict")?;
        if r.trust.reason() == "ClustersetRoot"
            && handle.metrics.encode().contains(&format!(
                "isthmus_member_istio_foreign_root{{cluster=\"{name}\"}} 0"
            ))
        {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    assert!(requests(m, "deployments").is_empty());
    assert_only_istio_additions(m, false);
    handle.shutdown().await;
}
