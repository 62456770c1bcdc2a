//! Leadership and restarts on simulated clusters: a leader cut off from its Lease stops
//! writing before another replica takes over (judged from the members' request logs), and a
//! controller restarted with nothing changed writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::time::Duration;

use base64::Engine as _;
use isthmus_testing::k8s::{apply, get};
use isthmus_testing::mcs::{export, export_service, import, ips, service, slice};
use isthmus_testing::{Env, eventually};
use kube_sim::{RequestRecord, SimCluster, SimOptions};
use mesh_controller::leader::LeaseConfig;
use mesh_controller::members::{KubeconfigText, MemberSpec};
use mesh_controller::runtime::{ControllerHandle, LeaderMode};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(60);

fn is_write(r: &RequestRecord) -> bool {
    matches!(r.method.as_str(), "PATCH" | "POST" | "PUT" | "DELETE") && !r.resource.is_empty()
}

fn writes(sim: &SimCluster) -> Vec<RequestRecord> {
    sim.request_log().into_iter().filter(is_write).collect()
}

async fn vip(env: &Env, i: usize, name: &str) -> Result<String, String> {
    let imp = import(env, i, name).await?;
    ips(&imp)
        .into_iter()
        .next()
        .ok_or_else(|| "no VIP yet".to_owned())
}

/// Waits for a pass that wrote (every member synced) without errors.
async fn converged(ctl: &ControllerHandle, what: &str) {
    eventually(what, LIMIT, || async {
        let s = ctl.summary();
        if s.wrote && s.errors == 0 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn a_restart_with_nothing_changed_writes_nothing() {
    let env = Env::simulated(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    for i in 0..3 {
        export_service(&env, i, &format!("svc-{i}"), "ClusterIP", 80 + i as i32).await;
    }
    let start = || controller::start(&env, Duration::from_secs(300), Duration::from_secs(10));

    let (ctl, _) = start().await;
    for i in 0..3 {
        for s in 0..3 {
            let name = format!("svc-{s}");
            eventually("imported", LIMIT, || vip(&env, i, &name)).await;
        }
    }
    converged(&ctl, "first run converged").await;
    ctl.shutdown().await;

    // A first restart adopts whatever the first run had still to write; the second has
    // nothing left to do.
    let (ctl, _) = start().await;
    converged(&ctl, "second run converged").await;
    ctl.shutdown().await;
    let before: Vec<Vec<String>> = (0..3)
        .map(|i| {
            writes(env.sim(i))
                .iter()
                .map(|r| format!("{} {}/{}", r.verb, r.resource, r.name))
                .collect()
        })
        .collect();
    assert!(
        before.iter().all(|w| !w.is_empty()),
        "the runs before wrote: {before:?}"
    );
    for i in 0..3 {
        env.sim(i).clear_request_log();
    }

    let (ctl, _) = start().await;
    converged(&ctl, "restarted controller converged").await;
    // It did reconcile: the imports are all there.
    for i in 0..3 {
        for s in 0..3 {
            vip(&env, i, &format!("svc-{s}")).await.unwrap();
        }
    }
    ctl.shutdown().await;
    for i in 0..3 {
        let w: Vec<String> = writes(env.sim(i))
            .iter()
            .map(|r| format!("{} {}/{}/{}", r.verb, r.resource, r.namespace, r.name))
            .collect();
        assert!(
            w.is_empty(),
            "member {i} was written after a restart: {w:?}"
        );
        // ...but it was read.
        assert!(
            env.sim(i)
                .request_log()
                .iter()
                .any(|r| r.verb == "list" && r.resource == "serviceimports"),
            "member {i}: owned objects listed"
        );
    }

    // And a change after the restart is still written.
    let (ctl, _) = start().await;
    converged(&ctl, "third start converged").await;
    export_service(&env, 1, "late", "ClusterIP", 99).await;
    eventually("change after restart imported", LIMIT, || {
        vip(&env, 0, "late")
    })
    .await;
    ctl.shutdown().await;
}

/// A TCP forwarder that can be cut (open connections dropped, new ones refused): one
/// replica's own path to the cluster holding the Lease.
struct Link {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn to(target: std::net::SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, cut_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut stop = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = stop.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Link { addr, cut, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A kubeconfig for `sim` that authenticates as the ServiceAccount `account` of `ns`, so the
/// request log tells the replicas apart.
async fn kubeconfig_as(env: &Env, i: usize, account: &str) -> String {
    let c = &env.clients[i];
    apply(
        c,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": env.ns}}),
    )
    .await;
    apply(
        c,
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": format!("{account}-token"), "namespace": env.ns,
                "annotations": {"kubernetes.io/service-account.name": account}}}),
    )
    .await;
    let token = eventually("token issued", LIMIT, || async {
        let s = get(c, "v1", "Secret", &env.ns, &format!("{account}-token"))
            .await
            .ok_or("no secret")?;
        let t = s["data"]["token"].as_str().ok_or("no token yet")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|e| e.to_string())?;
        String::from_utf8(raw).map_err(|e| e.to_string())
    })
    .await;
    let yaml = env.sim(i).kubeconfig_yaml();
    let mut out = String::new();
    for line in yaml.lines() {
        if line.trim_start().starts_with("token:") {
            out.push_str(&format!("    token: {token}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn lease_kubeconfig(dir: &std::path::Path, name: &str, server: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hub\n  cluster:\n    server: {server}\ncontexts:\n- name: hub\n  context:\n    cluster: hub\n    user: hub\ncurrent-context: hub\nusers:\n- name: hub\n  user:\n    token: unauthenticated\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_leader_cut_off_from_its_lease_stops_writing_before_the_next_one_starts() {
    const SERVICES: usize = 160;
    let env = Env::simulated(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let hub = SimCluster::start(SimOptions {
        name: "hub".into(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    hub.apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.ns}}))
        .unwrap();
    let hub_addr: std::net::SocketAddr = hub.url().trim_start_matches("http://").parse().unwrap();
    let link_a = Link::to(hub_addr).await;
    let dir = tempfile::tempdir().unwrap();
    let hub_a = lease_kubeconfig(dir.path(), "hub-a", &link_a.url());
    let hub_b = lease_kubeconfig(dir.path(), "hub-b", &hub.url());

    let mut kc = Vec::new();
    for account in ["replica-a", "replica-b"] {
        let mut per = Vec::new();
        for i in 0..3 {
            per.push(kubeconfig_as(&env, i, account).await);
        }
        kc.push(per);
    }
    let user = |account: &str| format!("system:serviceaccount:{}:{account}", env.ns);
    let (user_a, user_b) = (user("replica-a"), user("replica-b"));

    let start = |id: &'static str, hub: std::path::PathBuf, kubeconfigs: Vec<String>| {
        let env = &env;
        async move {
            controller::start_with(
                env,
                Duration::from_secs(300),
                Duration::from_secs(10),
                |c| {
                    c.members = controller::members(env)
                        .into_iter()
                        .zip(kubeconfigs)
                        .map(|(m, yaml)| MemberSpec {
                            kubeconfig: None,
                            kubeconfig_yaml: Some(KubeconfigText {
                                origin: format!("{id} {}", m.name),
                                yaml,
                            }),
                            ..m
                        })
                        .collect();
                    c.leader = LeaderMode::Lease {
                        kubeconfig: Some(hub),
                        config: LeaseConfig::new(env.ns.clone(), id)
                            .with_lease_duration(Duration::from_secs(3)),
                    };
                },
            )
            .await
            .0
        }
    };
    let a = start("replica-a", hub_a, kc[0].clone()).await;
    eventually("replica-a leads", LIMIT, || async {
        a.is_leader().then_some(()).ok_or("not yet".to_owned())
    })
    .await;
    let b = start("replica-b", hub_b, kc[1].clone()).await;
    export_service(&env, 0, "warm", "ClusterIP", 80).await;
    eventually("written by replica-a", LIMIT, || vip(&env, 1, "warm")).await;
    assert!(!b.is_leader());

    // Slow members: the next pass takes seconds, longer than the lease (and the members stay
    // slow until the next leader writes, so a deposed leader that kept writing would still be
    // at it then).
    for i in 0..3 {
        env.sim(i).faults().set_latency(Duration::from_millis(300));
    }
    // Seeded straight into the store (no request, so no latency): one pass gets them all.
    for s in 0..SERVICES {
        let name = format!("svc-{s}");
        let port = 100 + s as i32;
        let sim = env.sim(0);
        sim.apply_json(service(
            &env.ns,
            &name,
            "ClusterIP",
            json!([{"name": "http", "port": port, "protocol": "TCP"}]),
        ))
        .unwrap();
        sim.apply_json(slice(&env.ns, &name, "c0", &["10.1.0.10"], port, false))
            .unwrap();
        sim.apply_json(export(&env.ns, &name)).unwrap();
    }
    // In the middle of that pass, replica-a loses its path to the Lease.
    eventually("replica-a is writing the new imports", LIMIT, || async {
        let n = writes(env.sim(1))
            .iter()
            .filter(|r| {
                r.user == user_a && r.resource == "serviceimports" && r.name.starts_with("svc-")
            })
            .count();
        (n > 0).then_some(()).ok_or("no write yet".to_owned())
    })
    .await;
    link_a.cut();
    eventually("replica-b takes over", LIMIT, || async {
        b.is_leader().then_some(()).ok_or("not yet".to_owned())
    })
    .await;
    eventually("replica-b writes", LIMIT, || async {
        let n = writes(env.sim(1))
            .iter()
            .filter(|r| r.user == user_b && r.name.starts_with("svc-"))
            .count();
        (n > 0).then_some(()).ok_or("no write yet".to_owned())
    })
    .await;
    // From here a deposed leader still writing would land after replica-b's first write,
    // slow members or not.
    for i in 0..3 {
        env.sim(i).faults().set_latency(Duration::ZERO);
    }
    for s in 0..SERVICES {
        let name = format!("svc-{s}");
        eventually("every import written", LIMIT, || vip(&env, 2, &name)).await;
        eventually("every import written", LIMIT, || vip(&env, 1, &name)).await;
    }
    converged(&b, "replica-b converged").await;

    let mut a_wrote_in_the_pass = false;
    let mut b_wrote_in_the_pass = false;
    for i in 0..3 {
        let log = writes(env.sim(i));
        let first_b = log.iter().position(|r| r.user == user_b);
        if let Some(first_b) = first_b {
            let late: Vec<String> = log[first_b..]
                .iter()
                .filter(|r| r.user == user_a)
                .map(|r| format!("{} {}/{}", r.verb, r.resource, r.name))
                .collect();
            assert!(
                late.is_empty(),
                "member {i}: replica-a wrote {} times after replica-b's first write, first: {:?}",
                late.len(),
                &late[..late.len().min(10)]
            );
        }
        b_wrote_in_the_pass |= log
            .iter()
            .any(|r| r.user == user_b && r.name.starts_with("svc-"));
        a_wrote_in_the_pass |= log
            .iter()
            .any(|r| r.user == user_a && r.name.starts_with("svc-"));
        // Nothing flapped: nothing was deleted, and no import was written by both replicas
        // with a delete in between.
        let deletes: Vec<String> = log
            .iter()
            .filter(|r| r.verb == "delete" || r.verb == "deletecollection")
            .map(|r| format!("{} {}/{} by {}", r.verb, r.resource, r.name, r.user))
            .collect();
        assert!(deletes.is_empty(), "member {i}: deletions: {deletes:?}");
    }
    assert!(
        a_wrote_in_the_pass,
        "replica-a was cut off in the middle of its pass"
    );
    assert!(b_wrote_in_the_pass, "replica-b wrote what replica-a left");
    assert!(!a.is_leader(), "replica-a stopped leading");
    // The VIPs stayed as the first leader allocated them.
    let warm = vip(&env, 1, "warm").await.unwrap();
    assert_eq!(vip(&env, 2, "warm").await.unwrap(), warm);

    b.shutdown().await;
    a.shutdown().await;
}

/// The simulator cannot skew a process's clock, so the skew is in the Lease: a holder whose
/// clock is far behind wrote a `renewTime` decades old, one whose clock is far ahead wrote one
/// decades from now. Neither is compared with the local clock: the first lease is honoured
/// (not taken at once), the second expires a lease duration after it was seen.
#[tokio::test]
async fn lease_expiry_ignores_the_holders_clock() {
    let env = Env::simulated(2).await;
    env.namespace_in(&[0, 1]).await;
    let hub = SimCluster::start(SimOptions {
        name: "hub".into(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    hub.apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": env.ns}}))
        .unwrap();
    let lease = |renew: &str, secs: i64| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "isthmus-mesh-controller", "namespace": env.ns},
            "spec": {"holderIdentity": "skewed", "leaseDurationSeconds": secs,
                "acquireTime": renew, "renewTime": renew, "leaseTransitions": 0}})
    };
    // Behind: renewed "in 2001", valid for an hour.
    hub.apply_json(lease("2001-01-01T00:00:00.000000Z", 3600))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hub_kc = lease_kubeconfig(dir.path(), "hub", &hub.url());
    let (ctl, _) = controller::start_with(
        &env,
        Duration::from_secs(300),
        Duration::from_secs(10),
        |c| {
            c.leader = LeaderMode::Lease {
                kubeconfig: Some(hub_kc),
                config: LeaseConfig::new(env.ns.clone(), "replica")
                    .with_lease_duration(Duration::from_secs(3)),
            };
        },
    )
    .await;
    let lease_reads = || {
        hub.request_log()
            .iter()
            .filter(|r| r.resource == "leases" && r.verb == "get")
            .count()
    };
    eventually("several election rounds", LIMIT, || async {
        let n = lease_reads();
        (n >= 5).then_some(()).ok_or(format!("{n} reads"))
    })
    .await;
    assert!(
        !ctl.is_leader(),
        "a lease renewed by a clock far behind is still valid"
    );
    let holder = hub
        .get_json(
            "coordination.k8s.io/v1",
            "Lease",
            Some(&env.ns),
            "isthmus-mesh-controller",
        )
        .and_then(|l| l.pointer("/spec/holderIdentity").cloned());
    assert_eq!(holder, Some(json!("skewed")));

    // Ahead: renewed "in 2100", valid for 2 s from when the replica sees it.
    hub.apply_json(lease("2100-01-01T00:00:00.000000Z", 2))
        .unwrap();
    eventually(
        "a lease renewed by a clock far ahead expires",
        LIMIT,
        || async {
            ctl.is_leader()
                .then_some(())
                .ok_or("still following".to_owned())
        },
    )
    .await;
    ctl.shutdown().await;
}
