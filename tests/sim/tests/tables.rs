//! Server-side printing over the wire: `Table` answers to gets, lists and watches that ask for
//! them in `Accept`, with the list metadata, `includeObject`, the watch's column definitions
//! on the first event only, and the negotiation fallbacks. What the rows hold is checked with
//! kubectl in `kubectl_tables.rs` and per printer in the unit tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Error};
use kube_sim::{SimCluster, SimOptions, mcs_crds};
use serde_json::{Value, json};

/// The Accept header of `kubectl get` (v1 Table, v1beta1 Table, then plain JSON).
const KUBECTL_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn sim() -> (SimCluster, Client) {
    let sim = SimCluster::start(SimOptions {
        crds: mcs_crds(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let kc = Kubeconfig::from_yaml(&sim.kubeconfig_yaml()).unwrap();
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    cfg.read_timeout = Some(Duration::from_secs(30));
    (sim, Client::try_from(cfg).unwrap())
}

async fn get(client: &Client, uri: &str, accept: &str) -> Result<Value, Error> {
    let req = http::Request::builder()
        .uri(uri)
        .header("Accept", accept)
        .body(Vec::new())
        .unwrap();
    let text = client.request_text(req).await?;
    Ok(serde_json::from_str(&text).unwrap())
}

fn column_names(t: &Value) -> Vec<&str> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn row_names(t: &Value) -> Vec<&str> {
    t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"][0].as_str().unwrap())
        .collect()
}

fn seed_config_maps(sim: &SimCluster) {
    sim.apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t"}}))
        .unwrap();
    for (name, keys) in [("a", 1), ("b", 2), ("c", 3)] {
        let data: serde_json::Map<String, Value> =
            (0..keys).map(|i| (format!("k{i}"), json!("v"))).collect();
        sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "t", "labels": {"app": "x"}}, "data": data}))
            .unwrap();
    }
}

#[tokio::test]
async fn lists_are_tables_with_list_metadata() {
    let (sim, client) = sim().await;
    seed_config_maps(&sim);
    let page = get(
        &client,
        "/api/v1/namespaces/t/configmaps?limit=2",
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(page["kind"], "Table");
    assert_eq!(page["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        page["metadata"]["resourceVersion"],
        json!(sim.resource_version().to_string())
    );
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    assert_eq!(column_names(&page), ["Name", "Data", "Age"]);
    let name_col = &page["columnDefinitions"][0];
    assert_eq!(
        (
            &name_col["type"],
            &name_col["format"],
            &name_col["priority"]
        ),
        (&json!("string"), &json!("name"), &json!(0))
    );
    assert_eq!(row_names(&page), ["a", "b"]);
    assert_eq!(page["rows"][1]["cells"][1], 2, "DATA counts the keys");
    let obj = &page["rows"][0]["object"];
    assert_eq!(obj["kind"], "PartialObjectMetadata");
    assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(obj["metadata"]["namespace"], "t");
    assert!(obj.get("data").is_none());

    let rest = get(
        &client,
        &format!("/api/v1/namespaces/t/configmaps?limit=2&continue={token}"),
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(row_names(&rest), ["c"]);
    assert!(rest["metadata"].get("continue").is_none());
    assert_eq!(
        rest["metadata"]["resourceVersion"], page["metadata"]["resourceVersion"],
        "later pages keep the first page's resourceVersion"
    );

    // Label selectors and cluster-wide lists work as for plain lists.
    let all = get(
        &client,
        "/api/v1/configmaps?labelSelector=app%3Dx",
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(row_names(&all), ["a", "b", "c"]);
}

#[tokio::test]
async fn get_and_include_object() {
    let (sim, client) = sim().await;
    seed_config_maps(&sim);
    let uri = "/api/v1/namespaces/t/configmaps/c";
    let one = get(&client, uri, KUBECTL_ACCEPT).await.unwrap();
    assert_eq!(one["kind"], "Table");
    let stored = sim.get_json("v1", "ConfigMap", Some("t"), "c").unwrap();
    assert_eq!(
        one["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    assert_eq!(one["rows"][0]["cells"][0], "c");

    let whole = get(
        &client,
        &format!("{uri}?includeObject=Object"),
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(whole["rows"][0]["object"], stored);
    let none = get(
        &client,
        &format!("{uri}?includeObject=None"),
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(none["rows"][0]["object"], Value::Null);
    let meta = get(
        &client,
        &format!("{uri}?includeObject=Metadata"),
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(meta["rows"][0]["object"]["metadata"], stored["metadata"]);

    let Err(Error::Api(e)) =
        get(&client, &format!("{uri}?includeObject=All"), KUBECTL_ACCEPT).await
    else {
        panic!("an unknown includeObject must fail");
    };
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    assert!(
        e.message
            .contains("includeObject: Unsupported value: \"All\""),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn negotiation_falls_back_through_the_accept_list() {
    let (sim, client) = sim().await;
    seed_config_maps(&sim);
    let uri = "/api/v1/namespaces/t/configmaps/a";
    let beta = get(
        &client,
        uri,
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    )
    .await
    .unwrap();
    assert_eq!(beta["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        beta["rows"][0]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );

    // An unknown Table version or kind is skipped for the next alternative.
    let fallback = get(
        &client,
        uri,
        "application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    .await
    .unwrap();
    assert_eq!(fallback["apiVersion"], "meta.k8s.io/v1");
    let plain = get(
        &client,
        uri,
        "application/json;as=Widget;v=v1;g=meta.k8s.io,application/json",
    )
    .await
    .unwrap();
    assert_eq!(plain["kind"], "ConfigMap");
    let Err(Error::Api(e)) = get(
        &client,
        uri,
        "application/json;as=Widget;v=v1;g=meta.k8s.io",
    )
    .await
    else {
        panic!("nothing acceptable must be 406");
    };
    assert_eq!(e.code, 406);

    // q-values order the alternatives.
    let preferred = get(
        &client,
        uri,
        "application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io",
    )
    .await
    .unwrap();
    assert_eq!(preferred["kind"], "Table");

    // Writes answer with the object even when a Table is acceptable.
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/t/configmaps")
        .header("Accept", KUBECTL_ACCEPT)
        .header("Content-Type", "application/json")
        .body(
            serde_json::to_vec(
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}),
            )
            .unwrap(),
        )
        .unwrap();
    let created: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(created["kind"], "ConfigMap");
}

#[tokio::test]
async fn watch_events_are_one_row_tables_with_headers_once() {
    let (sim, client) = sim().await;
    seed_config_maps(&sim);
    let watch_client = client.clone();
    let watch = tokio::spawn(async move {
        let req = http::Request::builder()
            .uri(
                "/api/v1/namespaces/t/configmaps?watch=true&labelSelector=app%3Dx&timeoutSeconds=3",
            )
            .header("Accept", KUBECTL_ACCEPT)
            .body(Vec::new())
            .unwrap();
        watch_client.request_text(req).await.unwrap()
    });
    isthmus_testing::eventually("the watch is open", Duration::from_secs(10), || async {
        if sim.open_watches(Some("configmaps")) > 0 {
            Ok(())
        } else {
            Err("no watch yet".to_string())
        }
    })
    .await;
    sim.apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "e", "namespace": "t", "labels": {"app": "x"}}, "data": {"k": "v"}}))
        .unwrap();
    sim.delete_json("v1", "ConfigMap", Some("t"), "e").unwrap();
    let text = watch.await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["rows"][0]["cells"][0]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "c"),
        ("ADDED", "e"),
        ("DELETED", "e"),
    ]
    .iter()
    .map(|(t, n)| ((*t).to_string(), (*n).to_string()))
    .collect();
    assert_eq!(summary, expect);
    for (i, e) in events.iter().enumerate() {
        let t = &e["object"];
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["rows"].as_array().unwrap().len(), 1);
        let row_meta = &t["rows"][0]["object"]["metadata"];
        assert_eq!(
            t["metadata"]["resourceVersion"],
            row_meta["resourceVersion"]
        );
        if i == 0 {
            assert_eq!(column_names(t), ["Name", "Data", "Age"]);
        } else {
            assert_eq!(t["columnDefinitions"], Value::Null, "event {i}");
        }
    }
}

#[tokio::test]
async fn custom_resources_print_their_crd_columns() {
    let (sim, client) = sim().await;
    sim.apply_json(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1}]}]}}))
        .unwrap();
    sim.apply_json(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"size": 3, "color": "blue"},
        "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}}))
        .unwrap();
    let t = get(
        &client,
        "/apis/example.com/v1/namespaces/default/widgets",
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(column_names(&t), ["Name", "Size", "Ready", "Color"]);
    assert_eq!(t["columnDefinitions"][3]["priority"], 1);
    assert_eq!(t["rows"][0]["cells"], json!(["w", 3, "True", "blue"]));

    sim.apply_json(json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
        "metadata": {"name": "cart", "namespace": "default"},
        "spec": {"type": "ClusterSetIP", "ips": ["10.42.0.1"], "ports": [{"port": 80, "protocol": "TCP"}]}}))
        .unwrap();
    let si = get(
        &client,
        "/apis/multicluster.x-k8s.io/v1alpha1/namespaces/default/serviceimports",
        KUBECTL_ACCEPT,
    )
    .await
    .unwrap();
    assert_eq!(column_names(&si), ["Name", "Type", "IP", "Age"]);
    assert_eq!(si["rows"][0]["cells"][1], "ClusterSetIP");
    assert_eq!(si["rows"][0]["cells"][2], "[\"10.42.0.1\"]");
}
