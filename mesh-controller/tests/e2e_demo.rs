//! `mesh-controller demo --once` converges, prints the table and leaves usable kubeconfigs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn demo_once_converges_and_writes_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args(["demo", "--once", "--timeout", "60s", "--kubeconfig-dir"])
        .arg(dir.path())
        .output()
        .expect("run mesh-controller demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Converged in"), "{stdout}");
    for c in ["cluster-1", "cluster-2", "cluster-3"] {
        assert!(stdout.contains(c), "{stdout}");
        let kc = std::fs::read_to_string(dir.path().join(format!("{c}.kubeconfig"))).unwrap();
        assert!(kc.contains("certificate-authority-data"), "{kc}");
    }
    assert!(
        stdout.contains("exports: 3   imports: 6   conflicts: 0"),
        "{stdout}"
    );
    let cs =
        gateway_config::clusterset::ClusterSet::load(&dir.path().join("clusterset.yaml")).unwrap();
    assert_eq!(cs.members.len(), 3);
}

#[test]
fn demo_rejects_an_out_of_range_cluster_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args(["demo", "--once", "--clusters", "0", "--kubeconfig-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--clusters: 0 is out of range"));
}

#[test]
fn kubectl_sees_the_demo_imports() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("SKIP: kubectl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args(["demo", "--timeout", "60s", "--kubeconfig-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The demo prints "Converged in ..." once the clusterset converged (or exits on timeout).
    // The output is drained to the end so the demo never writes into a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("Converged in") {
                let _ = tx.send(());
            }
        }
    });
    let converged = rx.recv_timeout(std::time::Duration::from_secs(90)).is_ok();
    let result = converged.then(|| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(dir.path().join("cluster-2.kubeconfig"))
            .args([
                "get",
                "serviceimports.multicluster.x-k8s.io",
                "-n",
                "shop",
                "-o",
                "json",
            ])
            .output()
            .unwrap()
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    assert!(converged, "the demo did not converge");
    let out = result.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, vec!["cart", "db"]);
}
