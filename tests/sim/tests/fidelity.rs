//! Fidelity of the simulated API server, checked with the real kube-rs client: one test per
//! behaviour of the Kubernetes API that the project relies on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config, Error};
use kube_sim::{InjectedError, SimCluster, SimOptions, mcs_crds};
use serde_json::{Value, json};

async fn client_for(sim: &SimCluster) -> Client {
    let kc = Kubeconfig::from_yaml(&sim.kubeconfig_yaml()).unwrap();
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    cfg.read_timeout = Some(Duration::from_secs(30));
    Client::try_from(cfg).unwrap()
}

async fn sim_with(opts: SimOptions) -> (SimCluster, Client) {
    let sim = SimCluster::start(opts).await.unwrap();
    let client = client_for(&sim).await;
    (sim, client)
}

async fn sim() -> (SimCluster, Client) {
    sim_with(SimOptions {
        crds: mcs_crds(),
        ..SimOptions::default()
    })
    .await
}

fn api_err(e: Error) -> Box<kube::core::Status> {
    match e {
        Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": image}]}}
        }
    }))
    .unwrap()
}

fn export_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("multicluster.x-k8s.io", version, "ServiceExport"),
        "serviceexports",
    )
}

/// Raw request through the kube client (for shapes the typed API does not produce).
async fn raw(
    client: &Client,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> Result<String, Error> {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap();
    client.request_text(req).await
}

#[tokio::test]
async fn discovery_serves_builtins_and_crds() {
    let (_sim, client) = sim().await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    for (g, v, k) in [
        ("", "v1", "Service"),
        ("", "v1", "Namespace"),
        ("apps", "v1", "Deployment"),
        ("discovery.k8s.io", "v1", "EndpointSlice"),
        ("coordination.k8s.io", "v1", "Lease"),
        ("events.k8s.io", "v1", "Event"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
        ("policy", "v1", "PodDisruptionBudget"),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        ("multicluster.x-k8s.io", "v1alpha1", "ServiceExport"),
        ("multicluster.x-k8s.io", "v1beta1", "ServiceImport"),
        ("about.k8s.io", "v1alpha1", "ClusterProperty"),
    ] {
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(g, v, k))
            .unwrap_or_else(|| panic!("{g}/{v} {k} not discovered"));
        assert!(!ar.plural.is_empty());
        if k == "ClusterProperty" || k == "Namespace" {
            assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
        }
    }
    let mcs = discovery.get("multicluster.x-k8s.io").unwrap();
    assert_eq!(mcs.preferred_version_or_latest(), "v1beta1");
    let v1: Value =
        serde_json::from_str(&raw(&client, "GET", "/api/v1", "", "").await.unwrap()).unwrap();
    let names: Vec<&str> = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"services/status"));
    let svc = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "services")
        .unwrap();
    assert_eq!(svc["shortNames"], json!(["svc"]));
    assert_eq!(svc["singularName"], "service");
}

#[tokio::test]
async fn tls_and_bearer_token_are_enforced() {
    let (sim, client) = sim_with(SimOptions {
        tls: true,
        token: Some("s3cret".into()),
        ..SimOptions::default()
    })
    .await;
    assert!(sim.url().starts_with("https://127.0.0.1:"));
    let ns: Api<Namespace> = Api::all(client);
    assert_eq!(
        ns.list(&ListParams::default()).await.unwrap().items.len(),
        4
    );
    let wrong = sim
        .kubeconfig_yaml()
        .replace("token: s3cret", "token: wrong");
    let kc = Kubeconfig::from_yaml(&wrong).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let bad: Api<Namespace> = Api::all(Client::try_from(cfg).unwrap());
    let e = api_err(bad.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));
}

/// A client of `sim` authenticating with `token` instead of the cluster's own.
async fn client_with_token(sim: &SimCluster, own: &str, token: &str) -> Client {
    let text = sim
        .kubeconfig_yaml()
        .replace(&format!("token: {own}"), &format!("token: {token}"));
    let kc = Kubeconfig::from_yaml(&text).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

#[tokio::test]
async fn token_controller_fills_service_account_token_secrets() {
    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    let (sim, client) = sim_with(SimOptions {
        tls: true,
        token: Some("s3cret".into()),
        ..SimOptions::default()
    })
    .await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "istio-system"}})).unwrap(),
    )
    .await
    .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "istio-system");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "istio-system");
    let token_secret = |name: &str, sa: &str| -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": sa}},
            "type": "kubernetes.io/service-account-token",
        }))
        .unwrap()
    };

    // Created before its ServiceAccount: the controller deletes it.
    secrets
        .create(&PostParams::default(), &token_secret("early", "reader"))
        .await
        .unwrap();
    assert_eq!(api_err(secrets.get("early").await.unwrap_err()).code, 404);

    // Created after it: filled in with a token, the namespace, the cluster CA and the uid.
    let sa = sas
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "reader"}})).unwrap(),
        )
        .await
        .unwrap();
    let created = secrets
        .create(
            &PostParams::default(),
            &token_secret("reader-token", "reader"),
        )
        .await
        .unwrap();
    assert!(
        created.data.is_none(),
        "the create answer precedes the controller"
    );
    let filled = secrets.get("reader-token").await.unwrap();
    let data = filled.data.clone().unwrap();
    let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(text("namespace"), "istio-system");
    assert_eq!(text("ca.crt"), sim.ca_pem().unwrap());
    let token = text("token");
    assert!(!token.is_empty() && token != "s3cret");
    assert_eq!(
        filled.metadata.annotations.unwrap()["kubernetes.io/service-account.uid"],
        sa.metadata.uid.unwrap()
    );
    // Another Secret of the same account gets another token.
    secrets
        .create(&PostParams::default(), &token_secret("second", "reader"))
        .await
        .unwrap();
    let second = secrets.get("second").await.unwrap().data.unwrap();
    assert_ne!(second["token"].0, token.as_bytes());

    // The token authenticates as the service account.
    sim.clear_request_log();
    let as_reader = client_with_token(&sim, "s3cret", &token).await;
    let listed = Api::<Namespace>::all(as_reader.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(!listed.items.is_empty());
    let users: Vec<String> = sim
        .request_log()
        .iter()
        .filter(|r| r.resource == "namespaces")
        .map(|r| r.user.clone())
        .collect();
    assert_eq!(users, vec!["system:serviceaccount:istio-system:reader"]);
    // The cluster's own token is no service account.
    nss.get("istio-system").await.unwrap();
    assert_eq!(sim.request_log().last().map(|r| r.user.as_str()), Some(""));

    // Deleting the account deletes its tokens, and the token stops working.
    sas.delete("reader", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_err(secrets.get("reader-token").await.unwrap_err()).code,
        404
    );
    assert_eq!(api_err(secrets.get("second").await.unwrap_err()).code, 404);
    let e = api_err(
        Api::<Namespace>::all(as_reader)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));

    // A token Secret must name its account.
    let mut nameless = token_secret("nameless", "reader");
    nameless.metadata.annotations = None;
    let e = api_err(
        secrets
            .create(&PostParams::default(), &nameless)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn token_secrets_get_no_ca_without_tls() {
    use k8s_openapi::api::core::v1::Secret;
    let (sim, client) = sim().await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "default"}}))
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "t", "annotations": {"kubernetes.io/service-account.name": "sa"}},
                "type": "kubernetes.io/service-account-token",
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let data = secrets.get("t").await.unwrap().data.unwrap();
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    assert_eq!(keys, ["namespace", "token"]);
}

#[tokio::test]
async fn create_get_update_delete_with_conflicts() {
    let (_sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some());
    let ts = meta.creation_timestamp.as_ref().unwrap().0.to_string();
    assert!(ts.ends_with('Z') && !ts.contains('.'), "{ts}");
    let e = api_err(
        api.create(&PostParams::default(), &cm("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"a\" already exists");

    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = api
        .replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    stale.data = Some([("k".to_string(), "x".to_string())].into());
    let e = api_err(
        api.replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    stale.metadata.resource_version = None;
    let forced = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["k"], "x");

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let e = api_err(api.get("a").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "configmaps \"a\" not found");
    assert!(api.get_opt("a").await.unwrap().is_none());
}

#[tokio::test]
async fn namespaces_must_exist_and_generate_name_works() {
    let (_sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let e = api_err(
        api.create(&PostParams::default(), &cm("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "namespaces \"nowhere\" not found");
    let ns: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = ns
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );

    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut obj = cm("");
    obj.metadata.name = None;
    obj.metadata.generate_name = Some("gen-".into());
    let made = api.create(&PostParams::default(), &obj).await.unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    obj.metadata.generate_name = None;
    let e = api_err(api.create(&PostParams::default(), &obj).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let (_sim, client) = sim().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    let d = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    // Kinds without a spec controller (ConfigMap, Service, ...) have no generation.
    let cms: Api<ConfigMap> = Api::namespaced(api.into_client(), "default");
    let c = cms.create(&PostParams::default(), &cm("g")).await.unwrap();
    assert_eq!(c.metadata.generation, None);
}

#[tokio::test]
async fn label_and_field_selectors() {
    let (sim, client) = sim().await;
    for (ns, name, labels) in [
        ("default", "a", json!({"app": "web", "tier": "front"})),
        ("default", "b", json!({"app": "db"})),
        ("other", "c", json!({"app": "web"})),
        ("other", "d", json!({})),
    ] {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels}}))
            .unwrap();
    }
    let all: Api<ConfigMap> = Api::all(client.clone());
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect::<Vec<_>>()
    };
    for (sel, want) in [
        ("app=web", vec!["a", "c"]),
        ("app==web", vec!["a", "c"]),
        ("app!=web", vec!["b", "d"]),
        ("app in (web,db)", vec!["a", "b", "c"]),
        ("app notin (web)", vec!["b", "d"]),
        ("tier", vec!["a"]),
        ("!app", vec!["d"]),
        ("app=web,tier=front", vec!["a"]),
    ] {
        assert_eq!(
            names(all.list(&ListParams::default().labels(sel)).await.unwrap()),
            want,
            "{sel}"
        );
    }
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.name=c"))
                .await
                .unwrap()
        ),
        vec!["c"]
    );
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.namespace!=default"))
                .await
                .unwrap()
        ),
        vec!["c", "d"]
    );
    let e = api_err(
        all.list(&ListParams::default().fields("spec.nothing=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    let e = api_err(
        all.list(&ListParams::default().labels("app in web"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    let ns: Api<ConfigMap> = Api::namespaced(client, "other");
    assert_eq!(
        names(ns.list(&ListParams::default()).await.unwrap()),
        vec!["c", "d"]
    );
}

#[tokio::test]
async fn list_pagination_with_continue_tokens() {
    let (sim, client) = sim().await;
    for i in 0..7 {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "default"}}))
            .unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = api.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.metadata.remaining_item_count, Some(4));
    let mut seen: Vec<String> = first
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let mut token = first.metadata.continue_.clone();
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = api
            .list(&ListParams::default().limit(3).continue_token(&t))
            .await
            .unwrap();
        seen.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        token = page.metadata.continue_;
    }
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    // Pages report the first page's resourceVersion, so a watch from it replays what changed.
    let first = api.list(&ListParams::default().limit(3)).await.unwrap();
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-0", "namespace": "default", "labels": {"x": "y"}}}))
        .unwrap();
    let second = api
        .list(
            &ListParams::default()
                .limit(3)
                .continue_token(first.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    // A continue token older than a compaction is 410 Expired.
    let first = api.list(&ListParams::default().limit(3)).await.unwrap();
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "default"}})).unwrap();
    sim.faults().compact();
    let e = api_err(
        api.list(
            &ListParams::default()
                .limit(3)
                .continue_token(first.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let (_sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut obj = cm("held");
    obj.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &obj).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let got = api.get("held").await.unwrap();
    assert!(got.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
}

#[tokio::test]
async fn cascading_and_orphan_deletion() {
    let (_sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (owner, child) in [("owner1", "child1"), ("owner2", "child2")] {
        let o = api
            .create(&PostParams::default(), &cm(owner))
            .await
            .unwrap();
        let mut c = cm(child);
        c.metadata.owner_references = Some(vec![serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": o.metadata.uid.unwrap()
        }))
        .unwrap()]);
        api.create(&PostParams::default(), &c).await.unwrap();
    }
    api.delete("owner1", &DeleteParams::background())
        .await
        .unwrap();
    assert!(api.get_opt("child1").await.unwrap().is_none());
    api.delete(
        "owner2",
        &DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let orphan = api.get("child2").await.unwrap();
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn namespace_deletion_removes_contents() {
    let (sim, client) = sim().await;
    let ns: Api<Namespace> = Api::all(client.clone());
    let created = ns
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let cms: Api<ConfigMap> = Api::namespaced(client, "team");
    cms.create(&PostParams::default(), &cm("x")).await.unwrap();
    ns.delete("team", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("x").await.unwrap().is_none());
    assert!(ns.get_opt("team").await.unwrap().is_none());
    assert!(sim.get_json("v1", "Namespace", None, "team").is_none());
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let (_sim, client) = sim().await;
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
    let lb = json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}});
    let mut with_status = api.get("s").await.unwrap();
    with_status.status = Some(serde_json::from_value(lb.clone()).unwrap());
    let after = api
        .replace("s", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert!(
        after
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .is_none()
    );
    let mut st = api.get("s").await.unwrap();
    st.status = Some(serde_json::from_value(lb).unwrap());
    st.spec.as_mut().unwrap().ports =
        Some(vec![serde_json::from_value(json!({"port": 81})).unwrap()]);
    let after = api
        .replace_status("s", &PostParams::default(), &st)
        .await
        .unwrap();
    assert_eq!(after.spec.unwrap().ports.unwrap()[0].port, 80);
    assert_eq!(
        after
            .status
            .unwrap()
            .load_balancer
            .unwrap()
            .ingress
            .unwrap()[0]
            .ip
            .as_deref(),
        Some("10.0.0.1")
    );

    let exports: Api<DynamicObject> =
        Api::namespaced_with(client, "default", &export_resource("v1beta1"));
    let mut obj = DynamicObject::new("s", &export_resource("v1beta1"));
    obj.data = json!({"status": {"conditions": [{"type": "Valid", "status": "True"}]}});
    let created = exports.create(&PostParams::default(), &obj).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );
    let patched = exports
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{"type": "Valid", "status": "True"}]}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["conditions"][0]["type"], "Valid");
}

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let (_sim, client) = sim().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .unwrap();
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy:1"}]}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let names: Vec<String> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["main", "sidecar"]);
    let merge =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}});
    let d = api
        .patch("web", &PatchParams::default(), &Patch::Merge(merge))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().template.spec.unwrap().containers.len(), 1);
    let jp = r#"[{"op":"replace","path":"/spec/replicas","value":5},{"op":"add","path":"/metadata/labels/extra","value":"1"}]"#;
    let out = raw(
        &client,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        "application/json-patch+json",
        jp,
    )
    .await
    .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spec"]["replicas"], 5);
    assert_eq!(v["metadata"]["labels"]["extra"], "1");
    let bad = r#"[{"op":"test","path":"/spec/replicas","value":9}]"#;
    let e = api_err(
        raw(
            &client,
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web",
            "application/json-patch+json",
            bad,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    let e = api_err(
        raw(
            &client,
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web",
            "text/plain",
            "{}",
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
}

#[tokio::test]
async fn server_side_apply_tracks_owners() {
    let (_sim, client) = sim().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut d = serde_json::to_value(deployment("web", "nginx:1")).unwrap();
    d["apiVersion"] = json!("apps/v1");
    d["kind"] = json!("Deployment");
    let created = api
        .patch("web", &PatchParams::apply("alpha"), &Patch::Apply(&d))
        .await
        .unwrap();
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("alpha"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // Another manager sets a different replica count: conflict, unless forced.
    let beta = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 4}});
    let e = api_err(
        api.patch("web", &PatchParams::apply("beta"), &Patch::Apply(&beta))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains(".spec.replicas") && e.message.contains("alpha"),
        "{}",
        e.message
    );
    let forced = api
        .patch(
            "web",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(&beta),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(4));

    // Granular ownership of keyed lists: beta adds a container, alpha's stays.
    let side = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "side", "image": "envoy"}]}}}});
    let both = api
        .patch("web", &PatchParams::apply("beta"), &Patch::Apply(&side))
        .await
        .unwrap();
    let names: Vec<String> = both
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["main", "side"]);

    // alpha stops applying its labels: removed, since nobody else owns them.
    let mut d2 = d.clone();
    d2["metadata"]["labels"] = json!({});
    d2["spec"].as_object_mut().unwrap().remove("replicas");
    let after = api
        .patch("web", &PatchParams::apply("alpha"), &Patch::Apply(&d2))
        .await
        .unwrap();
    assert!(after.metadata.labels.unwrap_or_default().is_empty());
    assert_eq!(
        after.spec.as_ref().unwrap().replicas,
        Some(4),
        "beta still owns replicas"
    );

    // dryRun returns the result without storing it.
    let dry = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 9}});
    let out = api
        .patch(
            "web",
            &PatchParams::apply("beta").dry_run(),
            &Patch::Apply(&dry),
        )
        .await
        .unwrap();
    assert_eq!(out.spec.unwrap().replicas, Some(9));
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(4)
    );
}

#[tokio::test]
async fn server_side_apply_on_status_and_custom_resources() {
    let (_sim, client) = sim().await;
    let ar = export_resource("v1alpha1");
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let obj = json!({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport", "metadata": {"name": "svc"}});
    api.patch("svc", &PatchParams::apply("user"), &Patch::Apply(&obj))
        .await
        .unwrap();
    let status = json!({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport", "metadata": {"name": "svc"},
        "status": {"conditions": [{"type": "Valid", "status": "True", "reason": "OK", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    let out = api
        .patch_status(
            "svc",
            &PatchParams::apply("controller"),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(out.data["status"]["conditions"][0]["status"], "True");
    let managers: Vec<(String, String)> = out
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.subresource.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("controller".into(), "status".into())),
        "{managers:?}"
    );
}

#[tokio::test]
async fn dry_run_create_stores_nothing() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let out = api.create(&pp, &cm("dry")).await.unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("dry"));
    assert!(api.get_opt("dry").await.unwrap().is_none());
    assert!(
        sim.get_json("v1", "ConfigMap", Some("default"), "dry")
            .is_none()
    );
    let real = api
        .create(&PostParams::default(), &cm("kept"))
        .await
        .unwrap();
    let mut changed = real.clone();
    changed.data = Some([("k".to_string(), "changed".to_string())].into());
    let out = api.replace("kept", &pp, &changed).await.unwrap();
    assert_eq!(out.data.unwrap()["k"], "changed");
    let pp_patch = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    api.patch(
        "kept",
        &pp_patch,
        &Patch::Merge(json!({"data": {"k": "patched"}})),
    )
    .await
    .unwrap();
    api.delete(
        "kept",
        &DeleteParams {
            dry_run: true,
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let stored = api.get("kept").await.unwrap();
    assert_eq!(stored.data.unwrap()["k"], "v");
    assert_eq!(
        stored.metadata.resource_version,
        real.metadata.resource_version
    );
}

#[tokio::test]
async fn watch_delivers_events_with_selector_transitions() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=web").timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    for _ in 0..500 {
        if sim.open_watches(Some("configmaps")) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.open_watches(Some("configmaps")), 1);
    assert_eq!(sim.open_watches(Some("services")), 0);
    let put = |labels: Value| {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "namespace": "default", "labels": labels}}))
            .unwrap()
    };
    put(json!({"app": "other"}));
    put(json!({"app": "web"}));
    put(json!({"app": "web", "x": "1"}));
    put(json!({"app": "other"}));
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "z", "namespace": "default", "labels": {"app": "web"}}})).unwrap();
    api.delete("z", &DeleteParams::default()).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 5 {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        kinds.push(match ev {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.unwrap()),
            WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.unwrap()),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.unwrap()),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("{e:?}"),
        });
    }
    assert_eq!(
        kinds,
        vec!["ADDED w", "MODIFIED w", "DELETED w", "ADDED z", "DELETED z"]
    );
}

#[tokio::test]
async fn watch_from_zero_sends_current_state_and_bookmarks() {
    let (sim, client) = sim_with(SimOptions {
        bookmark_interval: Duration::from_millis(100),
        ..SimOptions::default()
    })
    .await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pre", "namespace": "default"}})).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = api
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, WatchEvent::Added(ref o) if o.metadata.name.as_deref() == Some("pre")),
        "{first:?}"
    );
    let second = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match second {
        WatchEvent::Bookmark(b) => assert_eq!(
            b.metadata.resource_version,
            sim.resource_version().to_string()
        ),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_timeout_closes_the_stream() {
    let (_sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    let end = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none());
}

#[tokio::test]
async fn watch_from_compacted_version_is_gone() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}})).unwrap();
    sim.faults().compact();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
    {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        Err(Error::Api(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn small_history_expires_old_versions() {
    let (sim, client) = sim_with(SimOptions {
        history_limit: 3,
        ..SimOptions::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = sim.resource_version().to_string();
    for i in 0..5 {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("h{i}"), "namespace": "default"}})).unwrap();
    }
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap();
    assert!(
        matches!(first, Ok(Some(WatchEvent::Error(ref e))) if e.code == 410),
        "{first:?}"
    );
    let recent = (sim.resource_version() - 2).to_string();
    let mut stream = api
        .watch(&WatchParams::default(), &recent)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, WatchEvent::Added(ref o) if o.metadata.name.as_deref() == Some("h3")),
        "{ev:?}"
    );
}

async fn next_names(
    stream: &mut (
             impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin
         ),
    want: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|s| s == want) {
        let ev = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("watcher stalled");
        match ev {
            Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) => {
                seen.push(o.metadata.name.unwrap_or_default())
            }
            Some(Ok(watcher::Event::Init)) => seen.push("<init>".into()),
            Some(Ok(_)) => {}
            Some(Err(e)) => seen.push(format!("<error {e}>")),
            None => panic!("watcher ended"),
        }
    }
    seen
}

#[tokio::test]
async fn runtime_watcher_survives_gone_and_dropped_watches() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let put = |n: &str| {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "default"}})).unwrap();
    };
    put("one");
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    next_names(&mut stream, "one").await;
    put("two");
    next_names(&mut stream, "two").await;
    // Dropped watch: the watcher re-watches from its last version.
    sim.faults().close_watches();
    put("three");
    next_names(&mut stream, "three").await;
    // While partitioned, the cluster changes and compacts: the re-watch after heal gets 410 and
    // the watcher relists.
    sim.faults().partition_refuse();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(sim.addr()).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    put("four");
    sim.faults().compact();
    sim.faults().heal();
    let seen = next_names(&mut stream, "four").await;
    assert!(
        seen.iter().any(|s| s == "<init>"),
        "expected a relist: {seen:?}"
    );
}

#[tokio::test]
async fn runtime_watcher_with_streaming_lists() {
    let (sim, client) = sim_with(SimOptions {
        bookmark_interval: Duration::from_millis(200),
        ..SimOptions::default()
    })
    .await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s1", "namespace": "default"}})).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    let mut init_done = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !init_done {
        match tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap()
        {
            Some(Ok(watcher::Event::InitDone)) => init_done = true,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s2", "namespace": "default"}})).unwrap();
    next_names(&mut stream, "s2").await;
    let log = sim.request_log();
    assert!(
        log.iter().any(|r| r.verb == "watch"),
        "streaming list uses a watch"
    );
}

#[tokio::test]
async fn crd_lifecycle_updates_discovery_and_objects() {
    let (_sim, client) = sim_with(SimOptions::default()).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    let export_crd = mcs_crds().into_iter().next().unwrap();
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(export_crd).unwrap(),
    )
    .await
    .unwrap();
    let crd = crds
        .get("serviceexports.multicluster.x-k8s.io")
        .await
        .unwrap();
    let conds = crd.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let disc = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(
        disc.resolve_gvk(&GroupVersionKind::gvk(
            "multicluster.x-k8s.io",
            "v1alpha1",
            "ServiceExport"
        ))
        .is_some()
    );

    // Written as v1alpha1, read as v1beta1 (same storage).
    let old: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &export_resource("v1alpha1"));
    old.create(
        &PostParams::default(),
        &DynamicObject::new("e", &export_resource("v1alpha1")),
    )
    .await
    .unwrap();
    let new: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &export_resource("v1beta1"));
    let got = new.get("e").await.unwrap();
    assert_eq!(
        got.types.unwrap().api_version,
        "multicluster.x-k8s.io/v1beta1"
    );

    crds.delete(
        "serviceexports.multicluster.x-k8s.io",
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    let disc = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(
        disc.resolve_gvk(&GroupVersionKind::gvk(
            "multicluster.x-k8s.io",
            "v1beta1",
            "ServiceExport"
        ))
        .is_none()
    );
    let e = api_err(new.get("e").await.unwrap_err());
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn error_bodies_have_real_codes_and_reasons() {
    let (_sim, client) = sim().await;
    let e = api_err(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{not json",
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    let e = api_err(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{}}"#,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    let e = api_err(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{"name":"a","namespace":"other"}}"#,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    let e = api_err(
        raw(
            &client,
            "PUT",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{}",
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (405, "MethodNotAllowed"));
    let e = api_err(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/vnd.kubernetes.protobuf",
            "x",
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    let e = api_err(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/cbor",
            "x",
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
    let e = api_err(
        raw(&client, "GET", "/apis/nothing.example/v1/things", "", "")
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    let e = api_err(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"metadata":{"name":"Bad_Name"}}"#,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn legacy_watch_paths_and_content_negotiation() {
    let (sim, client) = sim().await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}})).unwrap();
    let req = http::Request::builder()
        .uri("/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=1")
        .body(Vec::new())
        .unwrap();
    let text = client.request_text(req).await.unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "a");
    let req = http::Request::builder()
        .uri("/api/v1/namespaces/default/configmaps/a")
        .header(
            "Accept",
            "application/vnd.kubernetes.protobuf, application/json",
        )
        .body(Vec::new())
        .unwrap();
    let v: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(v["metadata"]["name"], "a");
    let req = http::Request::builder()
        .uri("/api/v1/namespaces/default/configmaps/a")
        .header("Accept", "application/vnd.kubernetes.protobuf")
        .body(Vec::new())
        .unwrap();
    let e = api_err(client.request_text(req).await.unwrap_err());
    assert_eq!(e.code, 406);
}

#[tokio::test]
async fn delete_collection_with_selector() {
    let (sim, client) = sim().await;
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "default", "labels": {"app": app}}})).unwrap();
    }
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=x"),
    )
    .await
    .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, vec!["c"]);
}

#[tokio::test]
async fn injected_errors_are_deterministic() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sim.faults()
        .fail_every_nth("list", 2, InjectedError::Internal);
    assert!(api.list(&ListParams::default()).await.is_ok());
    let e = api_err(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    assert!(api.get_opt("x").await.is_ok(), "other verbs are unaffected");
    // kube-rs retries 429 answers itself (honouring Retry-After): every second get fails once.
    sim.faults().fail_every_nth(
        "get",
        2,
        InjectedError::TooManyRequests {
            retry_after_secs: 0,
        },
    );
    sim.clear_request_log();
    assert!(api.get_opt("x").await.is_ok());
    assert!(api.get_opt("x").await.is_ok());
    let codes: Vec<u16> = sim
        .request_log()
        .iter()
        .filter(|r| r.verb == "get")
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, vec![404, 429, 404]);
    sim.faults().clear_errors();
    assert!(api.get_opt("x").await.is_ok());
    // Rules can target one resource.
    sim.faults()
        .fail_every_nth("list/configmaps", 1, InjectedError::Internal);
    assert!(api.list(&ListParams::default()).await.is_err());
    let services: Api<Service> = Api::namespaced(api.into_client(), "default");
    assert!(services.list(&ListParams::default()).await.is_ok());
}

#[tokio::test]
async fn retry_after_header_on_429() {
    let (sim, _client) = sim().await;
    sim.faults().fail_every_nth(
        "get",
        1,
        InjectedError::TooManyRequests {
            retry_after_secs: 3,
        },
    );
    let addr = sim.addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /api/v1/namespaces/default/configmaps/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 429"), "{buf}");
    assert!(buf.to_ascii_lowercase().contains("retry-after: 3"), "{buf}");
}

#[tokio::test]
async fn partition_refuse_then_heal_on_same_port() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.list(&ListParams::default()).await.unwrap();
    sim.faults().partition_refuse();
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(sim.addr()).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "connections must be refused during the partition");
    assert!(api.list(&ListParams::default()).await.is_err());
    sim.faults().heal();
    let mut ok = false;
    for _ in 0..100 {
        if api.list(&ListParams::default()).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        ok,
        "the cluster answers again on the same address after heal"
    );
}

#[tokio::test]
async fn partition_hang_never_answers() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    sim.faults().partition_hang();
    let r =
        tokio::time::timeout(Duration::from_millis(500), api.list(&ListParams::default())).await;
    assert!(r.is_err(), "a hung cluster must not answer");
    sim.faults().heal();
    assert!(api.list(&ListParams::default()).await.is_ok());
}

#[tokio::test]
async fn latency_and_request_log() {
    let (sim, client) = sim().await;
    sim.faults().set_latency(Duration::from_millis(20));
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    api.get("a").await.unwrap();
    let log = sim.request_log();
    let verbs: Vec<(&str, &str, &str)> = log
        .iter()
        .filter(|r| r.resource == "configmaps")
        .map(|r| (r.verb.as_str(), r.namespace.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        verbs,
        vec![
            ("create", "default", ""),
            ("patch", "default", "a"),
            ("get", "default", "a")
        ]
    );
    assert!(log.iter().all(|r| r.code < 300));
}

#[tokio::test]
async fn seeding_helpers_round_trip() {
    let sim = SimCluster::start(SimOptions {
        crds: mcs_crds(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let out = sim
        .apply_json(json!({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport", "metadata": {"name": "i", "namespace": "fresh"},
            "spec": {"type": "ClusterSetIP", "ports": [{"port": 80, "protocol": "TCP"}]}, "status": {"clusters": [{"cluster": "c1"}]}}))
        .unwrap();
    assert_eq!(out["metadata"]["generation"], 1);
    assert!(
        sim.get_json("v1", "Namespace", None, "fresh").is_some(),
        "seeding creates the namespace"
    );
    let got = sim
        .get_json(
            "multicluster.x-k8s.io/v1beta1",
            "ServiceImport",
            Some("fresh"),
            "i",
        )
        .unwrap();
    assert_eq!(got["apiVersion"], "multicluster.x-k8s.io/v1beta1");
    assert_eq!(got["status"]["clusters"][0]["cluster"], "c1");
    assert_eq!(
        sim.list_json("multicluster.x-k8s.io/v1alpha1", "ServiceImport", None)
            .len(),
        1
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kc.yaml");
    sim.write_kubeconfig(&path).unwrap();
    let kc = Kubeconfig::read_from(&path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("sim"));
    sim.shutdown().await;
}

#[tokio::test]
async fn metadata_only_get_list_and_watch() {
    let (sim, client) = sim().await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "m", "namespace": "default", "labels": {"a": "b"}},
        "spec": {"ports": [{"port": 80}]}}))
        .unwrap();
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let meta = api.get_metadata("m").await.unwrap();
    assert_eq!(meta.types.as_ref().unwrap().kind, "PartialObjectMetadata");
    assert_eq!(meta.metadata.labels.unwrap()["a"], "b");
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let metas: Api<kube::core::PartialObjectMeta<Service>> = Api::namespaced(client, "default");
    let mut stream = watcher(metas, watcher::Config::default()).boxed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap()
        {
            Some(Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o))) => {
                assert_eq!(o.metadata.name.as_deref(), Some("m"));
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn clusters_for_tests_gives_simulated_clusters() {
    // What clusters_for_tests gives while ISTHMUS_E2E_KUBECONFIGS is unset (the unit test
    // `real_clusters_come_from_kubeconfig_files` covers the other case), checked whatever the
    // variable says.
    let set = kube_sim::testing::simulated_clusters(2).await.unwrap();
    assert!(set.is_simulated());
    assert_eq!(set.clusters.len(), 2);
    for c in &set.clusters {
        let kc = Kubeconfig::read_from(&c.kubeconfig).unwrap();
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        let client = Client::try_from(cfg).unwrap();
        let exports: Api<DynamicObject> = Api::all_with(client, &export_resource("v1beta1"));
        assert!(
            exports
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "{}",
            c.name
        );
    }
    let dir = set.clusters[0].kubeconfig.parent().unwrap().to_path_buf();
    drop(set);
    assert!(!dir.exists(), "kubeconfigs are removed with the clusters");
}

#[tokio::test]
async fn ordinary_writes_take_field_ownership() {
    let (_sim, client) = sim().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let mut d = serde_json::to_value(deployment("web", "nginx:1")).unwrap();
    d["apiVersion"] = json!("apps/v1");
    d["kind"] = json!("Deployment");
    api.patch("web", &PatchParams::apply("applier"), &Patch::Apply(&d))
        .await
        .unwrap();
    // An ordinary patch by another manager changes replicas and so owns the field.
    let pp = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    let edited = api
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
    let managers: Vec<(String, String)> = edited
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("editor".into(), "Update".into())),
        "{managers:?}"
    );
    // Re-applying the old value now conflicts with the editor.
    let e = api_err(
        api.patch("web", &PatchParams::apply("applier"), &Patch::Apply(&d))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    assert!(e.message.contains("editor"), "{}", e.message);
}

#[tokio::test]
async fn openapi_and_aggregated_discovery_fallback() {
    let (sim, _client) = sim().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = |path: &'static str, accept: &'static str| {
        let addr = sim.addr();
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            (
                String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase(),
                buf[split + 4..].to_vec(),
            )
        }
    };
    // kubectl 1.20 asks for the protobuf OpenAPI v2 document.
    let (head, body) = fetch(
        "/openapi/v2",
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    )
    .await;
    assert!(
        head.starts_with("http/1.1 200") && head.contains("protobuf"),
        "{head}"
    );
    assert_eq!(&body[..5], b"\x0a\x032.0", "field 1 (swagger) = \"2.0\"");
    let (_, body) = fetch("/openapi/v2", "application/json").await;
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["swagger"], "2.0");
    // Newer clients ask for aggregated discovery first and accept the legacy document.
    let (head, body) = fetch(
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
    )
    .await;
    assert!(
        head.contains("content-type: application/json\r\n"),
        "{head}"
    );
    let groups: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(groups["kind"], "APIGroupList");
}

#[tokio::test]
async fn apply_keeps_ports_apart_by_port_and_protocol() {
    let (_sim, client) = sim().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
        "spec": {"ports": [{"name": "dns-udp", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}});
    let out = api
        .patch("dns", &PatchParams::apply("ctl"), &Patch::Apply(&svc))
        .await
        .unwrap();
    let ports = out.spec.unwrap().ports.unwrap();
    assert_eq!(ports.len(), 2);
    let mf = serde_json::to_value(&out.metadata.managed_fields.unwrap()[0]).unwrap();
    let fields = mf["fieldsV1"]["f:spec"]["f:ports"].as_object().unwrap();
    assert!(
        fields.contains_key(r#"k:{"port":53,"protocol":"UDP"}"#),
        "{fields:?}"
    );
    // Re-applying one port drops the other (owned by the same manager, no longer applied).
    let one = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
        "spec": {"ports": [{"name": "dns-tcp", "port": 53}]}});
    let out = api
        .patch("dns", &PatchParams::apply("ctl"), &Patch::Apply(&one))
        .await
        .unwrap();
    let ports = out.spec.unwrap().ports.unwrap();
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
}

#[tokio::test]
async fn malformed_requests_get_errors_not_crashes() {
    let (sim, client) = sim().await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}})).unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=%zz%",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?limit=-1",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?continue=not-a-token",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=x",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/a/b/c/d",
            "",
            "",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/a/status",
            "",
            "",
        ),
        ("GET", "/apis/apps/v1/namespaces/default/nothings", "", ""),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json-patch+json",
            r#"[{"op":"replace","path":"","value":[]}]"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json-patch+json",
            r#"{"op":"x"}"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/strategic-merge-patch+json",
            "[1,2]",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/merge-patch+json",
            r#"{"metadata":{"name":"b"}}"#,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a?fieldManager=m",
            "application/apply-patch+yaml",
            "[]",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/apply-patch+yaml",
            "{}",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a?fieldManager=m",
            "application/apply-patch+yaml",
            "kind: Secret\napiVersion: v1",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            r#"{"kind":"Secret","metadata":{"name":"x"}}"#,
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "[]",
        ),
        (
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            "application/json",
            r#"{"metadata":{"name":"x.y"},"spec":{}}"#,
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json",
            r#"{"metadata":{"name":"zz"}}"#,
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json",
            r#"{"propagationPolicy":"Sideways"}"#,
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json",
            "{nope",
        ),
    ];
    for (method, uri, ct, body) in cases {
        let e = api_err(raw(&client, method, uri, ct, body).await.expect_err(uri));
        assert!((400..500).contains(&e.code), "{method} {uri}: {e:?}");
        assert!(!e.message.is_empty(), "{method} {uri}");
    }
    // Still serving, and the object is intact.
    let cm = sim
        .get_json("v1", "ConfigMap", Some("default"), "a")
        .unwrap();
    assert_eq!(cm["metadata"]["name"], "a");
    let big = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=18446744073709551615&resourceVersion=0",
        "",
        "",
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), big)
            .await
            .is_err(),
        "a huge timeout is just a long watch"
    );
}

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer", "default": 3},
                        "parts": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                            "items": {"type": "object", "properties": {"id": {"type": "string"}, "color": {"type": "string", "default": "red"}}}}
                    }},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }}}
            }]
        }
    })
}

#[tokio::test]
async fn custom_crd_defaults_scope_and_keyed_lists() {
    let (_sim, client) = sim_with(SimOptions {
        crds: vec![widget_crd()],
        ..SimOptions::default()
    })
    .await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let a = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"parts": [{"id": "a"}]}});
    let out = api
        .patch("w", &PatchParams::apply("one"), &Patch::Apply(&a))
        .await
        .unwrap();
    assert_eq!(out.data["spec"]["size"], 3, "schema default");
    assert_eq!(
        out.data["spec"]["parts"][0]["color"], "red",
        "default inside list items"
    );
    assert!(out.metadata.namespace.is_none(), "cluster-scoped");
    // A second manager adds its own part; the first manager's part stays (granular list map).
    let b = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"parts": [{"id": "b", "color": "blue"}]}});
    let out = api
        .patch("w", &PatchParams::apply("two"), &Patch::Apply(&b))
        .await
        .unwrap();
    let ids: Vec<&str> = out.data["spec"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["a", "b"]);
    // Namespaced paths do not exist for a cluster-scoped kind.
    let e = api_err(
        raw(
            &client,
            "GET",
            "/apis/example.com/v1/namespaces/default/widgets",
            "",
            "",
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn foreground_deletion_removes_dependents_first() {
    let (_sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner"))
        .await
        .unwrap();
    let mut child = cm("child");
    child.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.clone().unwrap(), "blockOwnerDeletion": true
    }))
    .unwrap()]);
    child.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &child).await.unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = api
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();

    api.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    // The dependent holds a finalizer: the owner waits with the foregroundDeletion finalizer.
    let waiting = api.get("owner").await.unwrap();
    assert_eq!(
        waiting.metadata.finalizers.unwrap(),
        vec!["foregroundDeletion".to_string()]
    );
    assert!(
        api.get("child")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    // Releasing the dependent lets both go.
    api.patch(
        "child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("child").await.unwrap().is_none());
    assert!(api.get_opt("owner").await.unwrap().is_none());
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let WatchEvent::Deleted(o) = ev {
            deleted.push(o.metadata.name.unwrap());
        }
    }
    assert_eq!(deleted, vec!["child", "owner"]);
}
