//! Hub mode end to end: members come from MemberCluster objects in a simulated hub, their
//! kubeconfigs from Secrets; the controller imports across them and writes MemberCluster status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use isthmus_api::crd::MemberCluster;
use isthmus_testing::env::network;
use isthmus_testing::k8s::get;
use isthmus_testing::mcs::{MCS, export_service};
use isthmus_testing::{Env, eventually};
use kube::CustomResourceExt;
use kube_sim::{SimCluster, SimOptions};
use mesh_controller::members::client_for;
use mesh_controller::model::ReconcileConfig;
use mesh_controller::runtime::RunConfig;
use mesh_controller::runtime::hub::{HubConfig, run};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn members_from_the_hub_are_wired_and_get_status() {
    // Members registered in a simulated hub: simulated members too.
    let env = Env::simulated(2).await;
    env.namespace_in(&[0, 1]).await;
    let crd = serde_json::to_value(MemberCluster::crd()).unwrap();
    let hub = SimCluster::start(SimOptions {
        name: "hub".into(),
        tls: true,
        crds: vec![crd],
        ..SimOptions::default()
    })
    .await
    .unwrap();
    for (i, c) in env.clusters.clusters.iter().enumerate() {
        let text = std::fs::read(&c.kubeconfig).unwrap();
        hub.apply_json(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{}-kubeconfig", c.name), "namespace": "isthmus-system"},
            "data": {"kubeconfig": base64::engine::general_purpose::STANDARD.encode(text)}
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
    // A MemberCluster without a kubeconfig Secret is skipped, not fatal.
    hub.apply_json(json!({
        "apiVersion": "isthmus.io/v1alpha1", "kind": "MemberCluster",
        "metadata": {"name": "ghost"},
        "spec": {"network": "n9", "kubeconfigSecretRef": {"namespace": "isthmus-system", "name": "missing"}}
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_kc = dir.path().join("hub.yaml");
    hub.write_kubeconfig(&hub_kc).unwrap();
    let hub_client = client_for("hub", &hub_kc, None).await.unwrap();
    let mut run_cfg = RunConfig::new("ignored", Vec::new());
    run_cfg.probe_period = Duration::from_millis(300);
    let cfg = HubConfig {
        clusterset: "hubset".into(),
        run: run_cfg,
        reconcile: ReconcileConfig::default(),
        refresh: Duration::from_millis(500),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(hub_client, cfg, async move {
        let _ = stop_rx.await;
    }));

    export_service(&env, 0, "web", "ClusterIP", 80).await;
    eventually("import from a hub-registered member", LIMIT, || async {
        get(&env.clients[1], MCS, "ServiceImport", &env.ns, "web")
            .await
            .map(|_| ())
            .ok_or_else(|| "no import".to_owned())
    })
    .await;
    let prop = get(
        &env.clients[1],
        "about.k8s.io/v1alpha1",
        "ClusterProperty",
        "",
        "clusterset.k8s.io",
    )
    .await
    .unwrap();
    assert_eq!(prop["spec"]["value"], "hubset");
    eventually("MemberCluster status written", LIMIT, || async {
        let mc = hub
            .get_json("isthmus.io/v1alpha1", "MemberCluster", None, &env.names[0])
            .ok_or("no MemberCluster")?;
        let st = &mc["status"];
        if st["reachable"] == true && st["exports"] == 1 {
            Ok(())
        } else {
            Err(format!("status {st}"))
        }
    })
    .await;
    assert!(
        hub.get_json("isthmus.io/v1alpha1", "MemberCluster", None, "ghost")
            .unwrap()
            .get("status")
            .is_none()
    );
    let _ = stop_tx.send(());
    task.await.unwrap().unwrap();
}
