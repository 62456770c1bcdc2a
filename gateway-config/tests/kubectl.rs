//! The kubeconfig inside generated remote secrets, read by the real Kubernetes client
//! (`kubectl config view`, which needs no cluster). The test needs kubectl installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use gateway_config::remote_secret::{self, RemoteSecretOptions};
use isthmus_testing::paths::crate_dir;
use serde_json::{Value, json};

/// `kubectl config view --minify --raw -o json` of a kubeconfig file.
fn kubectl_view(kubectl: &Path, path: &Path) -> Value {
    let out = Command::new(kubectl)
        .args([
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(path)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl config view: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_reads_the_secret_kubeconfig_without_losing_a_field() {
    let kubectl = isthmus_testing::require("kubectl");
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("east", "kubeconfigs/east.yaml", None),
        ("west", "kubeconfigs/west.yaml", Some("west-reader")),
    ];
    for (name, file, context) in cases {
        let path = crate_dir("gateway-config")
            .join("tests/testdata")
            .join(file);
        let opts = RemoteSecretOptions {
            context: context.map(str::to_owned),
            base_dir: path.parent().map(Path::to_path_buf),
            origin: file.to_owned(),
            ..RemoteSecretOptions::default()
        };
        let rs = remote_secret::remote_secret(name, &std::fs::read(&path).unwrap(), &opts).unwrap();
        let text = rs.secret.string_data.as_ref().unwrap()[name].clone();
        let kc_path = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(&kc_path, &text).unwrap();

        let mut ours: Value = serde_saphyr::from_str(&text).unwrap();
        let theirs = kubectl_view(&kubectl, &kc_path);
        // kubectl adds an empty `preferences`; everything else must be what we wrote.
        ours["preferences"] = json!({});
        assert_eq!(theirs, ours, "{name}: kubectl read a different kubeconfig");
        assert_eq!(theirs["current-context"], name);
        assert_eq!(
            theirs["contexts"][0]["context"],
            json!({"cluster": name, "user": name})
        );
    }
}
