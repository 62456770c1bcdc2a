//! End-to-end MCS scenarios on three clusters (simulated unless `ISTHMUS_E2E_KUBECONFIGS`
//! names real ones), with the controller running in-process over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::time::Duration;

use isthmus_testing::http;
use isthmus_testing::k8s::{apply, delete, get, list};
use isthmus_testing::mcs::{
    MCS, await_condition, await_import, await_no_import, await_sources, condition, export,
    export_service, import, imported_slices, service, slice,
};
use isthmus_testing::{Env, eventually};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(300);
const AFTER: Duration = Duration::from_secs(10);

#[tokio::test]
async fn import_appears_where_the_namespace_exists() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    await_import(
        &env,
        [0, 1],
        "web",
        "import in a member with the namespace",
        |_| Ok(()),
    )
    .await;
    assert!(
        import(&env, 2, "web").await.is_err(),
        "no import where the namespace is missing"
    );
    env.namespace_in(&[2]).await;
    await_import(&env, [2], "web", "import once the namespace exists", |_| {
        Ok(())
    })
    .await;
    ctl.shutdown().await;
}

#[tokio::test]
async fn ports_and_type_are_carried_and_a_vip_is_allocated() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    let c = &env.clients[0];
    apply(
        c,
        service(
            &env.ns,
            "api",
            "ClusterIP",
            json!([
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"}
            ]),
        ),
    )
    .await;
    apply(c, slice(&env.ns, "api", "a", &["10.1.0.5"], 80, false)).await;
    apply(c, export(&env.ns, "api")).await;
    let mut vips = Vec::new();
    let imports = await_import(&env, 0..3, "api", "import with ports", |imp| {
        let n = imp
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n == 2 {
            Ok(())
        } else {
            Err("ports not yet carried".to_owned())
        }
    })
    .await;
    for imp in imports {
        assert_eq!(imp["spec"]["type"], "ClusterSetIP");
        let mut ports: Vec<(i64, String)> = imp["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["port"].as_i64().unwrap(),
                    p["protocol"].as_str().unwrap_or("TCP").to_owned(),
                )
            })
            .collect();
        ports.sort();
        assert_eq!(ports, vec![(53, "UDP".to_owned()), (80, "TCP".to_owned())]);
        let ip = imp["spec"]["ips"][0]
            .as_str()
            .expect("a clusterset VIP")
            .to_owned();
        assert!(ip.starts_with("242.0."), "VIP {ip} from the default range");
        vips.push(ip);
    }
    vips.dedup();
    assert_eq!(vips.len(), 1, "one VIP clusterset-wide");

    // The operations endpoints report the same state.
    let addr = ctl.metrics_addr.expect("metrics served");
    assert_eq!(http::get(addr, "/healthz").await.0, 200);
    assert_eq!(http::get(addr, "/readyz").await.0, 200);
    let (code, text) = http::get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        text.contains(r#"isthmus_members{state="Reachable"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"isthmus_member_mcs_version{{cluster="{}",version="v1beta1"}} 1"#,
            env.names[0]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"isthmus_applies_total{{cluster="{}",kind="ServiceImport"}}"#,
            env.names[2]
        )),
        "{text}"
    );
    assert!(
        !text.contains("api\""),
        "object names never appear in labels"
    );
    ctl.shutdown().await;
}

#[tokio::test]
async fn headless_service_gets_no_ip() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 2, "db", "Headless", 5432).await;
    for imp in await_import(&env, 0..3, "db", "headless import", |_| Ok(())).await {
        assert_eq!(imp["spec"]["type"], "Headless");
        assert!(
            imp["spec"]
                .get("ips")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        );
    }
    ctl.shutdown().await;
}

#[tokio::test]
async fn conflicting_exports_both_report_the_conflict() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    export_service(&env, 1, "web", "ClusterIP", 81).await;
    await_condition(&env, [0, 1], "web", "Conflict", "True", "").await;
    // An Event on the export records the conflict.
    eventually("conflict event", LIMIT, || async {
        let evs = list(&env.clients[1], "v1", "Event", &env.ns, "").await;
        evs.iter()
            .find(|e| {
                e.pointer("/involvedObject/kind") == Some(&json!("ServiceExport"))
                    && e["type"] == "Warning"
            })
            .map(|_| ())
            .ok_or_else(|| format!("no Warning event on the export yet ({} events)", evs.len()))
    })
    .await;
    assert_eq!(ctl.summary().conflicts, 1);
    ctl.shutdown().await;
}

#[tokio::test]
async fn unexport_removes_imports_and_slices() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    await_sources(&env, 0..3, "web", &[0], "imported slices").await;
    delete(&env.clients[0], MCS, "ServiceExport", &env.ns, "web").await;
    await_no_import(&env, 0..3, "web", "import removed").await;
    await_sources(&env, 0..3, "web", &[], "slices removed").await;
    ctl.shutdown().await;
}

#[tokio::test]
async fn imported_slices_carry_mcs_and_ownership_labels() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    export_service(&env, 1, "web", "ClusterIP", 80).await;
    let slices = eventually("slices from both exporters in cluster 3", LIMIT, || async {
        let s = imported_slices(&env, 2, "web").await;
        if s.len() >= 2 {
            Ok(s)
        } else {
            Err(format!("{} slices", s.len()))
        }
    })
    .await;
    let mut sources = Vec::new();
    for s in &slices {
        let labels = &s["metadata"]["labels"];
        assert_eq!(
            labels["endpointslice.kubernetes.io/managed-by"],
            "mesh-controller.isthmus.io"
        );
        assert_eq!(labels["app.kubernetes.io/managed-by"], "isthmus");
        sources.push(
            labels["multicluster.kubernetes.io/source-cluster"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        assert!(!s["endpoints"].as_array().unwrap().is_empty());
    }
    sources.sort();
    sources.dedup();
    assert_eq!(sources, vec![env.names[0].clone(), env.names[1].clone()]);
    ctl.shutdown().await;
}

#[tokio::test]
async fn externalname_export_is_invalid_and_imports_nothing() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "ext", "ExternalName", 0).await;
    eventually("Valid=False InvalidServiceType", LIMIT, || async {
        let e = get(&env.clients[0], MCS, "ServiceExport", &env.ns, "ext")
            .await
            .ok_or("no export")?;
        match condition(&e, "Valid") {
            Some((s, r)) if s == "False" && r == "InvalidServiceType" => Ok(()),
            other => Err(format!("Valid condition {other:?}")),
        }
    })
    .await;
    for i in 0..3 {
        assert!(import(&env, i, "ext").await.is_err());
    }
    ctl.shutdown().await;
}

#[tokio::test]
async fn user_owned_import_is_left_untouched() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let mine = json!({
        "apiVersion": MCS, "kind": "ServiceImport",
        "metadata": {"name": "web", "namespace": env.ns, "labels": {"team": "payments"}},
        "spec": {"type": "ClusterSetIP", "ips": ["10.250.0.9"], "ports": [{"port": 9999, "protocol": "TCP"}]}
    });
    apply(&env.clients[1], mine).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    await_import(&env, [2], "web", "our import in cluster 3", |_| Ok(())).await;
    // Reconciled at least once more after the import appeared in cluster 3.
    let passes = ctl.summary().passes;
    eventually("another pass", LIMIT, || async {
        if ctl.summary().passes > passes {
            Ok(())
        } else {
            Err("no pass".to_owned())
        }
    })
    .await;
    let theirs = import(&env, 1, "web").await.unwrap();
    assert_eq!(theirs["spec"]["ips"], json!(["10.250.0.9"]));
    assert_eq!(theirs["spec"]["ports"][0]["port"], 9999);
    assert!(
        theirs["metadata"]["labels"]
            .get("app.kubernetes.io/managed-by")
            .is_none()
    );
    let managers: Vec<&str> = theirs["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|f| f["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !managers.contains(&"isthmus-mesh-controller"),
        "the controller wrote to a user's object: {managers:?}"
    );
    ctl.shutdown().await;
}

/// `status.clusters` of the import, in order.
fn status_clusters(imp: &Value) -> Vec<String> {
    imp.pointer("/status/clusters")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c["cluster"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn import_status_lists_the_exporting_clusters_through_the_status_subresource() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, GRACE, AFTER).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    export_service(&env, 1, "web", "ClusterIP", 80).await;
    let mut both = vec![env.names[0].clone(), env.names[1].clone()];
    both.sort();
    let imports = await_import(
        &env,
        0..3,
        "web",
        "status.clusters lists both exporters",
        |imp| {
            if status_clusters(imp) == both {
                Ok(())
            } else {
                Err("status not yet written".to_owned())
            }
        },
    )
    .await;
    for imp in imports {
        if env.is_simulated() {
            // Written by our field manager through /status (the CRD declares the status
            // subresource, so a plain apply of `status` would be ignored).
            let by_status = imp
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .is_some_and(|mf| {
                    mf.iter().any(|m| {
                        m["manager"] == "isthmus-mesh-controller" && m["subresource"] == "status"
                    })
                });
            assert!(by_status, "status written through /status: {imp}");
        }
    }
    // Un-exporting from one cluster updates the status everywhere.
    delete(&env.clients[1], MCS, "ServiceExport", &env.ns, "web").await;
    let first = vec![env.names[0].clone()];
    await_import(
        &env,
        0..3,
        "web",
        "status.clusters drops the withdrawn exporter",
        |imp| {
            if status_clusters(imp) == first {
                Ok(())
            } else {
                Err("status.clusters not updated".to_owned())
            }
        },
    )
    .await;
    ctl.shutdown().await;
}
