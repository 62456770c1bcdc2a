//! Drives a simulated cluster with the `kubectl` on PATH: client-side apply, get, server-side
//! apply, delete, discovery commands. The tests need kubectl: they are ignored in a plain run
//! and fail, naming it, when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::setup;
use serde_json::Value;

const MANIFEST: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
  labels:
    app: demo
data:
  key: one
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: nginx:1
        ports:
        - containerPort: 80
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceExport
metadata:
  name: web
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_apply_get_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;

    let out = k.ok(&["apply", "-f", "-"], Some(MANIFEST)).await;
    assert!(out.contains("configmap/demo created"), "{out}");
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(
        out.contains("serviceexport.multicluster.x-k8s.io/web created"),
        "{out}"
    );
    let out = k.ok(&["apply", "-f", "-"], Some(MANIFEST)).await;
    assert!(out.contains("configmap/demo unchanged"), "{out}");

    // Client-side apply of a change: strategic merge patch for built-ins, merge patch for CRs.
    let changed = MANIFEST
        .replace("key: one", "key: two")
        .replace("image: nginx:1", "image: nginx:2");
    let out = k.ok(&["apply", "-f", "-"], Some(&changed)).await;
    assert!(out.contains("configmap/demo configured"), "{out}");
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let cm: Value = serde_json::from_str(
        &k.ok(&["get", "configmap", "demo", "-o", "json"], None)
            .await,
    )
    .unwrap();
    assert_eq!(cm["data"]["key"], "two");
    let deploy = sim
        .get_json("apps/v1", "Deployment", Some("default"), "web")
        .unwrap();
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    assert_eq!(deploy["metadata"]["generation"], 2);

    let list: Value = serde_json::from_str(
        &k.ok(&["get", "deployments,configmaps", "-o", "json"], None)
            .await,
    )
    .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let table = k.ok(&["get", "serviceexports"], None).await;
    assert!(table.contains("web"), "{table}");
    let table = k.ok(&["get", "svcex", "-A"], None).await;
    assert!(table.contains("web"), "{table}");
    let resources = k.ok(&["api-resources"], None).await;
    assert!(
        resources.contains("serviceimports") && resources.contains("deployments"),
        "{resources}"
    );

    // Server-side dry run changes nothing.
    let dry = changed.replace("key: two", "key: dry");
    k.ok(&["apply", "--dry-run=server", "-f", "-"], Some(&dry))
        .await;
    let cm = sim
        .get_json("v1", "ConfigMap", Some("default"), "demo")
        .unwrap();
    assert_eq!(cm["data"]["key"], "two");

    // Server-side apply takes over with the "kubectl" field manager.
    let ssa = changed.replace("key: two", "key: three");
    let out = k
        .ok(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&ssa),
        )
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let cm = sim
        .get_json("v1", "ConfigMap", Some("default"), "demo")
        .unwrap();
    assert_eq!(cm["data"]["key"], "three");
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");

    let out = k.ok(&["delete", "-f", "-"], Some(MANIFEST)).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(
        sim.get_json("v1", "ConfigMap", Some("default"), "demo")
            .is_none()
    );
    assert!(
        sim.get_json("apps/v1", "Deployment", Some("default"), "web")
            .is_none()
    );
    assert!(
        sim.get_json(
            "multicluster.x-k8s.io/v1beta1",
            "ServiceExport",
            Some("default"),
            "web"
        )
        .is_none()
    );
    let (ok, _, err) = k.run(&["get", "configmap", "demo"], None).await;
    assert!(!ok && err.contains("NotFound"), "{err}");
    let log = sim.request_log();
    assert!(
        log.iter().any(|r| r.user_agent.starts_with("kubectl")),
        "the request log keeps User-Agents"
    );
    assert!(
        log.iter()
            .any(|r| r.verb == "patch" && r.resource == "deployments")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_rejects_bad_token() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, k) = setup(dir.path()).await;
    let text = std::fs::read_to_string(&k.kubeconfig)
        .unwrap()
        .replace("kubectl-token", "wrong");
    std::fs::write(&k.kubeconfig, text).unwrap();
    let (ok, _, err) = k.run(&["get", "configmaps"], None).await;
    assert!(!ok, "a wrong token must be rejected");
    assert!(
        err.contains("Unauthorized") || err.contains("credentials"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn kubectl_create_generators_send_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = setup(dir.path()).await;
    for args in [
        vec!["create", "namespace", "team"],
        vec![
            "-n",
            "team",
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=b",
        ],
        vec![
            "-n",
            "team",
            "create",
            "secret",
            "generic",
            "pw",
            "--from-literal=pw=hunter2",
        ],
        vec!["-n", "team", "create", "serviceaccount", "bot"],
        vec![
            "-n",
            "team",
            "create",
            "role",
            "r",
            "--verb=get",
            "--resource=pods",
        ],
        vec![
            "-n",
            "team",
            "create",
            "rolebinding",
            "rb",
            "--role=r",
            "--serviceaccount=team:bot",
        ],
        vec![
            "create",
            "clusterrole",
            "cr",
            "--verb=list",
            "--resource=services",
        ],
        vec![
            "create",
            "clusterrolebinding",
            "crb",
            "--clusterrole=cr",
            "--user=alice",
        ],
        vec!["-n", "team", "label", "configmap", "cfg", "x=y"],
    ] {
        let out = k.ok(&args, None).await;
        assert!(out.contains("created") || out.contains("labeled"), "{out}");
    }
    let cm = sim
        .get_json("v1", "ConfigMap", Some("team"), "cfg")
        .unwrap();
    assert_eq!(cm["data"]["a"], "b");
    assert_eq!(cm["metadata"]["labels"]["x"], "y");
    let secret = sim.get_json("v1", "Secret", Some("team"), "pw").unwrap();
    assert_eq!(secret["data"]["pw"], "aHVudGVyMg==");
    assert_eq!(secret["type"], "Opaque");
    let rb = sim
        .get_json(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some("team"),
            "rb",
        )
        .unwrap();
    assert_eq!(rb["roleRef"]["name"], "r");
    assert_eq!(rb["subjects"][0]["name"], "bot");
    let cr = sim
        .get_json("rbac.authorization.k8s.io/v1", "ClusterRole", None, "cr")
        .unwrap();
    assert_eq!(cr["rules"][0]["verbs"][0], "list");
    assert!(sim.get_json("v1", "Namespace", None, "team").is_some());
    // Kinds this server does not decode from protobuf are refused with a clear message.
    let (ok, _, err) = k
        .run(
            &["-n", "team", "create", "deployment", "web", "--image=nginx"],
            None,
        )
        .await;
    assert!(!ok && err.contains("protobuf"), "{err}");
}
