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
