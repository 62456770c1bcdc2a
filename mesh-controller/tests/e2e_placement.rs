//! Propagation end to end: a simulated hub holds MemberClusters, resource templates and
//! `placement.isthmus.io` policies; the controller in hub mode places the templates into
//! simulated members, reacts to taints and unreachable members, writes the policies' status,
//! creates ServiceExports on request and prunes what is no longer placed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use isthmus_api::crd::{
    ClusterOverridePolicy, ClusterPropagationPolicy, MemberCluster, OverridePolicy,
    PropagationPolicy,
};
use isthmus_install::rbac;
use isthmus_testing::env::network;
use isthmus_testing::k8s::{apply, get};
use isthmus_testing::mcs::MCS;
use isthmus_testing::requests::denied;
use isthmus_testing::{Env, eventually};
use kube::CustomResourceExt;
use kube_sim::{SimCluster, SimOptions};
use mesh_controller::members::client_for;
use mesh_controller::model::ReconcileConfig;
use mesh_controller::ownership::TEMPLATE_LABEL;
use mesh_controller::propagation::PropagationConfig;
use mesh_controller::runtime::RunConfig;
use mesh_controller::runtime::hub::{HubConfig, run_with_propagation};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(40);
const PP: &str = "placement.isthmus.io/v1alpha1";

struct Hub {
    sim: SimCluster,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), mesh_controller::runtime::hub::HubError>>>,
    _dir: tempfile::TempDir,
}

impl Hub {
    /// A hub whose MemberClusters name every member of `env` (with `labels` per member), and
    /// the controller running against it.
    async fn start(env: &Env) -> Hub {
        let crds = vec![
            serde_json::to_value(MemberCluster::crd()).unwrap(),
            serde_json::to_value(PropagationPolicy::crd()).unwrap(),
            serde_json::to_value(ClusterPropagationPolicy::crd()).unwrap(),
            serde_json::to_value(OverridePolicy::crd()).unwrap(),
            serde_json::to_value(ClusterOverridePolicy::crd()).unwrap(),
        ];
        let sim = SimCluster::start(SimOptions {
            name: "hub".into(),
            tls: true,
            crds,
            ..SimOptions::default()
        })
        .await
        .unwrap();
        for (i, c) in env.clusters.clusters.iter().enumerate() {
            let text = std::fs::read(&c.kubeconfig).unwrap();
            sim.apply_json(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("{}-kubeconfig", c.name), "namespace": "isthmus-system"},
                "data": {"kubeconfig": base64::engine::general_purpose::STANDARD.encode(text)}
            }))
            .unwrap();
            sim.apply_json(member_cluster(env, i, &[])).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("hub.yaml");
        sim.write_kubeconfig(&kc).unwrap();
        let mut hub = Hub {
            sim,
            stop: None,
            task: None,
            _dir: dir,
        };
        hub.spawn_controller(&kc).await;
        hub
    }

    /// Starts the controller (hub mode, propagation every 300 ms) against the hub.
    async fn spawn_controller(&mut self, kc: &std::path::Path) {
        let client = client_for("hub", kc, None).await.unwrap();
        let mut run_cfg = RunConfig::new("ignored", Vec::new());
        run_cfg.probe_period = Duration::from_millis(300);
        run_cfg.unreachable_after = Duration::from_secs(1);
        let cfg = HubConfig {
            clusterset: "placement".into(),
            run: run_cfg,
            reconcile: ReconcileConfig::default(),
            refresh: Duration::from_millis(500),
        };
        let prop = PropagationConfig {
            period: Duration::from_millis(300),
            pass_timeout: Duration::from_secs(10),
            // no periodic full pass during a test: prunes come from the write cache, or from
            // the listing done when a member returns
            full_every: 1000,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        self.task = Some(tokio::spawn(run_with_propagation(
            client,
            cfg,
            Some(prop),
            async move {
                let _ = stop_rx.await;
            },
        )));
        self.stop = Some(stop_tx);
    }

    /// Stops the controller and starts a new one (state only from the hub).
    async fn restart(&mut self) {
        self.stop().await;
        let kc = self._dir.path().join("hub.yaml");
        self.spawn_controller(&kc).await;
    }

    async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    fn policy_status(&self, kind: &str, ns: Option<&str>, name: &str) -> Value {
        self.sim
            .get_json(PP, kind, ns, name)
            .and_then(|p| p.get("status").cloned())
            .unwrap_or(Value::Null)
    }
}

fn member_cluster(env: &Env, i: usize, taints: &[Value]) -> Value {
    let c = &env.clusters.clusters[i];
    json!({
        "apiVersion": "isthmus.io/v1alpha1", "kind": "MemberCluster",
        "metadata": {"name": c.name, "labels": {"index": i.to_string()}},
        "spec": {"network": network(i), "region": format!("region-{i}"), "taints": taints,
            "kubeconfigSecretRef": {"namespace": "isthmus-system", "name": format!("{}-kubeconfig", c.name)}}
    })
}

fn deployment(ns: &str, name: &str, replicas: i32, config: Option<&str>) -> Value {
    let mut container = json!({"name": "app", "image": "registry.example.com/team/app:1.0"});
    if let Some(c) = config {
        container["envFrom"] = json!([{"configMapRef": {"name": c}}]);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}
    })
}

fn policy(ns: &str, name: &str, selects: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["resourceSelectors"] =
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": selects}]);
    json!({"apiVersion": PP, "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// `spec.replicas` of Deployment `name` in member `i`, or `None` when it is not there.
async fn replicas_in(env: &Env, i: usize, name: &str) -> Option<i64> {
    get(&env.clients[i], "apps/v1", "Deployment", &env.ns, name)
        .await
        .and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_i64))
}

async fn placement_of(env: &Env, name: &str) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for i in 0..env.clients.len() {
        out.push(replicas_in(env, i, name).await);
    }
    out
}

async fn wait_placement(env: &Env, what: &str, name: &str, want: &[Option<i64>]) {
    eventually(what, LIMIT, || async {
        let got = placement_of(env, name).await;
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "{name}: replicas per member {got:?}, want {want:?}"
            ))
        }
    })
    .await;
}

#[tokio::test]
async fn duplicated_divided_overrides_dependencies_status_and_prune() {
    let env = Env::simulated(3).await;
    let mut hub = Hub::start(&env).await;
    let ns = env.ns.clone();
    let [m0, m1] = [&env.names[0], &env.names[1]];
    hub.sim
        .apply_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": ns}, "data": {"mode": "fast"}}))
        .unwrap();
    hub.sim
        .apply_json(deployment(&ns, "web", 6, Some("web-config")))
        .unwrap();
    hub.sim.apply_json(deployment(&ns, "api", 2, None)).unwrap();
    // web: divided 2:1 over the first two members, with its ConfigMap
    hub.sim
        .apply_json(policy(
            &ns,
            "web",
            "web",
            json!({"propagateDependencies": true, "placement": {
                "clusterAffinity": {"clusterNames": [m0, m1]},
                "replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
                    "weightPreference": {"staticWeightList": [
                        {"targetCluster": {"clusterNames": [m0]}, "weight": 2},
                        {"targetCluster": {"clusterNames": [m1]}, "weight": 1}]}}}}),
        ))
        .unwrap();
    // api: duplicated everywhere, overridden in the third member
    hub.sim
        .apply_json(policy(
            &ns,
            "api",
            "api",
            json!({"placement": {"replicaScheduling": {"replicaSchedulingType": "Duplicated"}}}),
        ))
        .unwrap();
    hub.sim
        .apply_json(json!({"apiVersion": PP, "kind": "OverridePolicy",
            "metadata": {"name": "third", "namespace": ns},
            "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}],
                "overrideRules": [{"targetCluster": {"labelSelector": {"matchLabels": {"index": "2"}}},
                    "overriders": {
                        "imageOverrider": [{"component": "Registry", "operator": "replace", "value": "mirror.example.net"}],
                        "labelsOverrider": [{"operator": "add", "value": {"site": "third"}}]}}]}}))
        .unwrap();

    wait_placement(&env, "divided web", "web", &[Some(4), Some(2), None]).await;
    wait_placement(&env, "duplicated api", "api", &[Some(2), Some(2), Some(2)]).await;

    // the override is visible in the third member only
    let api2 = get(&env.clients[2], "apps/v1", "Deployment", &ns, "api")
        .await
        .unwrap();
    assert_eq!(
        api2.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "mirror.example.net/team/app:1.0"
    );
    assert_eq!(api2["metadata"]["labels"]["site"], "third");
    assert_eq!(
        api2["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "isthmus"
    );
    assert_eq!(
        api2["metadata"]["labels"][TEMPLATE_LABEL],
        format!("deployment.{ns}.api")
    );
    let api0 = get(&env.clients[0], "apps/v1", "Deployment", &ns, "api")
        .await
        .unwrap();
    assert_eq!(
        api0.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "registry.example.com/team/app:1.0"
    );
    assert!(api0["metadata"]["labels"].get("site").is_none());
    let managers: Vec<&str> = api0["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|f| f["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        managers.contains(&"isthmus-mesh-controller"),
        "{managers:?}"
    );

    // the dependency follows web (first two members), not api
    for (i, want) in [(0, true), (1, true), (2, false)] {
        let cm = get(&env.clients[i], "v1", "ConfigMap", &ns, "web-config").await;
        assert_eq!(cm.is_some(), want, "ConfigMap in member {i}");
        if let Some(cm) = cm {
            assert_eq!(cm["data"]["mode"], "fast");
        }
    }

    // status on the policy
    let st = eventually("web policy status", LIMIT, || async {
        let st = hub.policy_status("PropagationPolicy", Some(&ns), "web");
        if st["placed"] == 1 {
            Ok(st)
        } else {
            Err(format!("status {st}"))
        }
    })
    .await;
    let r = &st["resources"][0];
    assert_eq!(r["kind"], "Deployment");
    assert_eq!(r["name"], "web");
    assert_eq!(
        r["clusters"],
        json!([{"name": m0, "replicas": 4}, {"name": m1, "replicas": 2}])
    );
    assert_eq!(
        r["dependencies"],
        json!([format!("ConfigMap {ns}/web-config")])
    );
    assert!(r.get("error").is_none(), "{r}");

    // scaling the template re-divides
    hub.sim
        .apply_json(deployment(&ns, "web", 9, Some("web-config")))
        .unwrap();
    wait_placement(&env, "re-divided web", "web", &[Some(6), Some(3), None]).await;

    // deleting the policy prunes its copies, and only them
    let user_owned = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "mine", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "mine"}},
            "template": {"metadata": {"labels": {"app": "mine"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    apply(&env.clients[1], user_owned).await;
    hub.sim
        .delete_json(PP, "PropagationPolicy", Some(&ns), "api")
        .unwrap();
    wait_placement(&env, "api pruned", "api", &[None, None, None]).await;
    assert_eq!(replicas_in(&env, 0, "web").await, Some(6));
    assert!(
        get(&env.clients[1], "apps/v1", "Deployment", &ns, "mine")
            .await
            .is_some()
    );
    hub.sim
        .delete_json(PP, "PropagationPolicy", Some(&ns), "web")
        .unwrap();
    wait_placement(&env, "web pruned", "web", &[None, None, None]).await;
    eventually("dependency pruned", LIMIT, || async {
        match get(&env.clients[0], "v1", "ConfigMap", &ns, "web-config").await {
            None => Ok(()),
            Some(_) => Err("ConfigMap still in member 0".to_owned()),
        }
    })
    .await;
    hub.stop().await;

    // Everything the controller asked of the hub and the members (and the test's own reads
    // and its one Deployment apply) is allowed by what `install --propagation` grants.
    let ns_install = "isthmus-system";
    let mut hub_requests = rbac::hub_requests();
    hub_requests.extend(rbac::propagation_hub_requests());
    let mut member_requests = rbac::member_requests();
    member_requests.extend(rbac::propagation_member_requests());
    let hub_grants = rbac::grants_for(&hub_requests, ns_install);
    let member_grants = rbac::grants_for(&member_requests, ns_install);
    let mut problems = denied(&hub.sim, "hub", &hub_grants);
    for (i, c) in env.clusters.clusters.iter().enumerate() {
        problems.extend(denied(
            c.sim.as_ref().unwrap(),
            &format!("member {i}"),
            &member_grants,
        ));
    }
    assert!(
        problems.is_empty(),
        "requests the installed RBAC would deny:\n{}",
        problems.join("\n")
    );
    assert!(
        hub.sim
            .request_log()
            .iter()
            .any(|r| r.resource == "propagationpolicies" && r.subresource == "status"),
        "no policy status write recorded"
    );
    let member0 = env.sim(0).request_log();
    for (resource, verb) in [
        ("deployments", "patch"),
        ("deployments", "delete"),
        ("configmaps", "patch"),
    ] {
        assert!(
            member0
                .iter()
                .any(|r| r.resource == resource && r.verb == verb),
            "no {verb} {resource} recorded in member 0"
        );
    }
}

#[tokio::test]
async fn no_execute_taint_evicts_and_unreachable_member_fails_over() {
    let env = Env::simulated(3).await;
    let mut hub = Hub::start(&env).await;
    let ns = env.ns.clone();
    let [m0, m1, m2] = [&env.names[0], &env.names[1], &env.names[2]];
    hub.sim
        .apply_json(deployment(&ns, "mover", 3, None))
        .unwrap();
    hub.sim
        .apply_json(deployment(&ns, "critical", 2, None))
        .unwrap();
    // mover: one of the last two members
    hub.sim
        .apply_json(policy(
            &ns,
            "mover",
            "mover",
            json!({"placement": {
                "clusterAffinity": {"clusterNames": [m1, m2]},
                "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 1, "minGroups": 1}],
                "replicaScheduling": {"replicaSchedulingType": "Duplicated"}}}),
        ))
        .unwrap();
    // critical: the first member, failing over to the second when it is unreachable
    hub.sim
        .apply_json(policy(
            &ns,
            "critical",
            "critical",
            json!({"placement": {
                "clusterAffinities": [
                    {"affinityName": "primary", "clusterNames": [m0]},
                    {"affinityName": "backup", "clusterNames": [m1]}],
                "clusterTolerations": [{"key": "cluster.karmada.io/unreachable", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": 1}]}}),
        ))
        .unwrap();
    wait_placement(
        &env,
        "critical on primary",
        "critical",
        &[Some(2), None, None],
    )
    .await;
    let placed = eventually("mover placed once", LIMIT, || async {
        let got = placement_of(&env, "mover").await;
        match got.as_slice() {
            [None, Some(3), None] => Ok(1),
            [None, None, Some(3)] => Ok(2),
            _ => Err(format!("mover per member {got:?}")),
        }
    })
    .await;
    let other = 3 - placed;
    eventually("critical status names the primary group", LIMIT, || async {
        let st = hub.policy_status("PropagationPolicy", Some(&ns), "critical");
        if st["resources"][0]["observedAffinity"] == "primary" {
            Ok(())
        } else {
            Err(format!("status {st}"))
        }
    })
    .await;

    // NoExecute taint without toleration: evicted and rescheduled on the other member
    hub.sim
        .apply_json(member_cluster(
            &env,
            placed,
            &[json!({"key": "maintenance", "effect": "NoExecute"})],
        ))
        .unwrap();
    let mut want = vec![None, None, None];
    want[other] = Some(3);
    wait_placement(&env, "mover evicted and moved", "mover", &want).await;
    // the taint goes away: the mover stays where it is now
    hub.sim
        .apply_json(member_cluster(&env, placed, &[]))
        .unwrap();

    // the first member becomes unreachable: critical fails over to the backup group
    let f = env.sim(0).faults();
    f.partition_refuse();
    eventually("critical failed over", LIMIT, || async {
        let r = replicas_in(&env, 1, "critical").await;
        let st = hub.policy_status("PropagationPolicy", Some(&ns), "critical");
        let r0 = &st["resources"][0];
        if r == Some(2) && r0["observedAffinity"] == "backup" && r0["clusters"][0]["name"] == *m1 {
            Ok(())
        } else {
            Err(format!("member 1 replicas {r:?}, status {st}"))
        }
    })
    .await;
    // back again: the stale copy left in the first member is pruned, the backup stays
    f.heal();
    wait_placement(
        &env,
        "stale copy pruned",
        "critical",
        &[None, Some(2), None],
    )
    .await;

    // a restarted controller takes the decision from the policy status: no fail-back
    hub.restart().await;
    hub.sim.clear_request_log();
    eventually("a pass of the new controller", LIMIT, || async {
        let wrote = hub.sim.request_log().iter().any(|r| {
            r.resource == "propagationpolicies" && r.subresource == "status" && r.verb == "patch"
        });
        if wrote {
            Ok(())
        } else {
            Err("no status written yet".to_owned())
        }
    })
    .await;
    let st = hub.policy_status("PropagationPolicy", Some(&ns), "critical");
    assert_eq!(st["resources"][0]["observedAffinity"], "backup", "{st}");
    assert_eq!(
        placement_of(&env, "critical").await,
        vec![None, Some(2), None]
    );
    hub.stop().await;
}

#[tokio::test]
async fn exported_service_is_imported_by_the_other_members() {
    let env = Env::simulated(3).await;
    env.namespace_in(&[1, 2]).await;
    let mut hub = Hub::start(&env).await;
    let ns = env.ns.clone();
    let m0 = &env.names[0];
    hub.sim
        .apply_json(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {"clusterIP": "10.96.0.77", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}))
        .unwrap();
    hub.sim
        .apply_json(json!({"apiVersion": PP, "kind": "PropagationPolicy",
            "metadata": {"name": "shop", "namespace": ns},
            "spec": {"exportServices": true,
                "resourceSelectors": [{"apiVersion": "v1", "kind": "Service", "name": "shop"}],
                "placement": {"clusterAffinity": {"clusterNames": [m0]}}}}))
        .unwrap();
    let export = eventually("ServiceExport created", LIMIT, || async {
        get(&env.clients[0], MCS, "ServiceExport", &ns, "shop")
            .await
            .ok_or_else(|| "no ServiceExport".to_owned())
    })
    .await;
    assert_eq!(
        export["metadata"]["labels"][TEMPLATE_LABEL],
        format!("service.{ns}.shop")
    );
    let svc = get(&env.clients[0], "v1", "Service", &ns, "shop")
        .await
        .unwrap();
    assert_ne!(svc.pointer("/spec/clusterIP"), Some(&json!("10.96.0.77")));
    for i in [1, 2] {
        eventually("ServiceImport in another member", LIMIT, || async {
            get(&env.clients[i], MCS, "ServiceImport", &ns, "shop")
                .await
                .map(|_| ())
                .ok_or_else(|| format!("no ServiceImport in member {i}"))
        })
        .await;
    }
    eventually("status names the export", LIMIT, || async {
        let st = hub.policy_status("PropagationPolicy", Some(&ns), "shop");
        if st["resources"][0]["serviceExport"] == true {
            Ok(())
        } else {
            Err(format!("status {st}"))
        }
    })
    .await;
    // the export goes away with the policy
    hub.sim
        .delete_json(PP, "PropagationPolicy", Some(&ns), "shop")
        .unwrap();
    eventually("ServiceExport pruned", LIMIT, || async {
        match get(&env.clients[0], MCS, "ServiceExport", &ns, "shop").await {
            None => Ok(()),
            Some(_) => Err("ServiceExport still there".to_owned()),
        }
    })
    .await;
    hub.stop().await;
}
