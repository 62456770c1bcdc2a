//! End-to-end resilience scenarios: controller restart keeps VIPs (real binary), partition ->
//! grace -> withdrawal -> recovery, dropped watches, leader election.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::process::Stdio;
use std::time::Duration;

use isthmus_testing::k8s::get;
use isthmus_testing::mcs::{await_sources, export_service, import, imported_sources, ips};
use isthmus_testing::{Env, eventually};
use mesh_controller::members::Reachability;

const LIMIT: Duration = Duration::from_secs(30);

async fn vip(env: &Env, i: usize, name: &str) -> Result<String, String> {
    let imp = import(env, i, name).await?;
    ips(&imp)
        .into_iter()
        .next()
        .ok_or_else(|| "no VIP yet".to_owned())
}

struct Binary(tokio::process::Child);

impl Binary {
    fn start(clusterset: &std::path::Path) -> Binary {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
            .args(["run", "--clusterset"])
            .arg(clusterset)
            .args(["--leader-elect=false", "--metrics-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start mesh-controller");
        Binary(child)
    }

    async fn stop(mut self) {
        let _ = self.0.kill().await;
    }
}

#[tokio::test]
async fn restart_of_the_binary_keeps_vips() {
    let env = Env::new(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let dir = tempfile::tempdir().unwrap();
    let cs = env.write_clusterset(dir.path());
    export_service(&env, 0, "a", "ClusterIP", 80).await;
    export_service(&env, 1, "b", "ClusterIP", 81).await;

    let bin = Binary::start(&cs);
    let mut before = Vec::new();
    for i in 0..3 {
        for name in ["a", "b"] {
            before.push(eventually("VIP before restart", LIMIT, || vip(&env, i, name)).await);
        }
    }
    bin.stop().await;

    // While it is down a third service is exported; the restarted controller must import it
    // (proof that it reconciled) and keep the VIPs it allocated before.
    export_service(&env, 2, "c", "ClusterIP", 82).await;
    let bin = Binary::start(&cs);
    for i in 0..3 {
        eventually("new export imported after restart", LIMIT, || {
            vip(&env, i, "c")
        })
        .await;
    }
    let mut after = Vec::new();
    for i in 0..3 {
        for name in ["a", "b"] {
            after.push(vip(&env, i, name).await.unwrap());
        }
    }
    assert_eq!(before, after, "VIPs changed across a restart");
    bin.stop().await;
}

#[tokio::test]
async fn partition_grace_withdrawal_and_recovery() {
    partition_scenario(false).await;
}

#[tokio::test]
async fn hung_member_grace_withdrawal_and_recovery() {
    partition_scenario(true).await;
}

/// Partition (refused connections, or a member that accepts but never answers) -> marked
/// unreachable -> exports kept during the grace period -> withdrawn -> healed -> back.
async fn partition_scenario(hang: bool) {
    // Fault injection: simulated clusters.
    let env = Env::simulated(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let grace = Duration::from_secs(3);
    let (ctl, _) = controller::start_with(&env, grace, Duration::from_secs(1), |c| {
        c.write_timeout = Duration::from_secs(2)
    })
    .await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    export_service(&env, 1, "web", "ClusterIP", 80).await;
    let both = vec![env.names[0].clone(), env.names[1].clone()];
    await_sources(&env, [0, 2], "web", &[0, 1], "slices from both exporters").await;

    let faults = env.sim(1).faults();
    if hang {
        faults.partition_hang();
        // Writes to the hung member must not hold the others' writes: two exports in a row,
        // each needing its own pass, reach cluster-3.
        export_service(&env, 0, "late1", "ClusterIP", 91).await;
        eventually("first export during the hang", LIMIT, || {
            vip(&env, 2, "late1")
        })
        .await;
        export_service(&env, 0, "late2", "ClusterIP", 92).await;
        eventually("second export during the hang", LIMIT, || {
            vip(&env, 2, "late2")
        })
        .await;
    } else {
        faults.partition_refuse();
    }
    eventually("cluster-2 marked unreachable", LIMIT, || async {
        let m = ctl.members();
        match m[1].reachability {
            Reachability::Unreachable { .. } => Ok(()),
            r => Err(format!("{r:?}")),
        }
    })
    .await;
    // Within the grace period its exports are kept...
    assert_eq!(
        imported_sources(&env, 2, "web").await,
        both,
        "exports withdrawn before the grace period ended"
    );
    // ...then withdrawn everywhere.
    await_sources(
        &env,
        [0, 2],
        "web",
        &[0],
        "cluster-2's endpoints withdrawn after the grace period",
    )
    .await;
    // The import itself stays: cluster-1 still exports it.
    assert!(vip(&env, 2, "web").await.is_ok());

    faults.heal();
    eventually("cluster-2 reachable again", LIMIT, || async {
        let m = ctl.members()[1].clone();
        match m.reachability {
            Reachability::Reachable => Ok(()),
            _ => Err(format!("{m:?}")),
        }
    })
    .await;
    await_sources(&env, [0, 2], "web", &[0, 1], "cluster-2's endpoints back").await;
    ctl.shutdown().await;
}

#[tokio::test]
async fn dropped_watches_change_nothing() {
    // Fault injection: simulated clusters.
    let env = Env::simulated(3).await;
    env.namespace_in(&[0, 1, 2]).await;
    let (ctl, _) = controller::start(&env, Duration::from_secs(300), Duration::from_secs(10)).await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    let before = eventually("VIP", LIMIT, || vip(&env, 2, "web")).await;
    for i in 0..3 {
        env.sim(i).faults().close_watches();
    }
    // The watches resume; a change made afterwards is still picked up...
    export_service(&env, 1, "api", "ClusterIP", 90).await;
    eventually("export after dropped watches", LIMIT, || {
        vip(&env, 2, "api")
    })
    .await;
    // ...and nothing was marked unreachable or withdrawn.
    assert!(
        ctl.members()
            .iter()
            .all(|m| m.reachability == Reachability::Reachable)
    );
    assert_eq!(vip(&env, 2, "web").await.unwrap(), before);
    ctl.shutdown().await;
}

#[tokio::test]
async fn only_the_lease_holder_writes_and_a_standby_takes_over() {
    use mesh_controller::leader::LeaseConfig;
    use mesh_controller::runtime::LeaderMode;

    let env = Env::new(2).await;
    env.namespace_in(&[0, 1]).await;
    let lease = |id: &str| {
        let mut c = LeaseConfig::new(env.ns.clone(), id);
        c.lease_duration = Duration::from_secs(3);
        c.retry_period = Duration::from_millis(200);
        LeaderMode::Lease {
            kubeconfig: None,
            config: c,
        }
    };
    let (a, _) = controller::start_with(
        &env,
        Duration::from_secs(300),
        Duration::from_secs(10),
        |c| c.leader = lease("replica-a"),
    )
    .await;
    let (b, _) = controller::start_with(
        &env,
        Duration::from_secs(300),
        Duration::from_secs(10),
        |c| c.leader = lease("replica-b"),
    )
    .await;
    eventually("one leader", LIMIT, || async {
        match (a.is_leader(), b.is_leader()) {
            (true, false) | (false, true) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    export_service(&env, 0, "web", "ClusterIP", 80).await;
    eventually("import written by the leader", LIMIT, || {
        vip(&env, 1, "web")
    })
    .await;
    assert!(a.is_leader() != b.is_leader(), "never two writers");
    let lease_obj = get(
        &env.clients[0],
        "coordination.k8s.io/v1",
        "Lease",
        &env.ns,
        "isthmus-mesh-controller",
    )
    .await
    .expect("the Lease exists in the first member");
    let holder = lease_obj["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or("")
        .to_owned();

    // The leader stops (and releases the lease); the standby takes over and keeps writing.
    let (leader, standby) = if a.is_leader() { (a, b) } else { (b, a) };
    leader.shutdown().await;
    eventually("standby becomes leader", LIMIT, || async {
        if standby.is_leader() {
            Ok(())
        } else {
            Err("still standby".to_owned())
        }
    })
    .await;
    let new_holder = get(
        &env.clients[0],
        "coordination.k8s.io/v1",
        "Lease",
        &env.ns,
        "isthmus-mesh-controller",
    )
    .await
    .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    .unwrap_or_default();
    assert_ne!(holder, new_holder);
    export_service(&env, 1, "api", "ClusterIP", 90).await;
    eventually("import written by the new leader", LIMIT, || {
        vip(&env, 0, "api")
    })
    .await;
    standby.shutdown().await;
}
