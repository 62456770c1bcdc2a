//! End-to-end tests of `isthmus place`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use isthmus_testing::paths::testdata;
use serde_json::{Value, json};

fn example(name: &str) -> PathBuf {
    testdata("placement").join("examples").join(name)
}

fn place(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .arg("place")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn base_args() -> Vec<String> {
    vec![
        "--clusters".into(),
        example("clusters.yaml").display().to_string(),
        "--policies".into(),
        example("policies.yaml").display().to_string(),
        "--resource".into(),
        example("deployment.yaml").display().to_string(),
    ]
}

fn run_json(extra: &[&str]) -> (i32, Value) {
    let mut args = base_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-o".to_string(), "json".to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = place(&refs);
    (
        code,
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}")),
    )
}

#[test]
fn decision_in_json() {
    let (code, out) = run_json(&[]);
    assert_eq!(code, 0);
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "policy",
            "placements",
            "observedAffinity",
            "manifests",
            "error"
        ]
    );
    assert_eq!(
        out["policy"],
        json!({"kind": "PropagationPolicy", "namespace": "default", "name": "nginx"})
    );
    // member3 is not env=prod; member2's NoSchedule taint is tolerated; 7 by 2:1
    assert_eq!(out["placements"], json!({"member1": 5, "member2": 2}));
    assert_eq!(out["observedAffinity"], Value::Null);
    assert_eq!(out["error"], Value::Null);
    let m1 = &out["manifests"]["member1"];
    assert_eq!(m1["spec"]["replicas"], 5);
    assert_eq!(m1["metadata"]["labels"]["placed-in"], "member1");
    assert_eq!(
        m1["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "250m"
    );
    let m2 = &out["manifests"]["member2"];
    assert_eq!(m2["spec"]["replicas"], 2);
    assert_eq!(
        m2["spec"]["template"]["spec"]["containers"][0]["image"],
        "mirror.gcr.example/library/nginx:1.27"
    );
}

#[test]
fn yaml_and_table_outputs() {
    let mut args = base_args();
    args.extend(["-o".to_string(), "yaml".to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, _) = place(&refs);
    assert_eq!(code, 0);
    let v: Value = serde_saphyr::from_str(&stdout).unwrap();
    assert_eq!(v["placements"], json!({"member1": 5, "member2": 2}));
    let args = base_args();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, _) = place(&refs);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("POLICY:   PropagationPolicy default/nginx"),
        "{stdout}"
    );
    assert!(stdout.contains("member1  5"), "{stdout}");
    assert!(stdout.contains("# manifest for member2"), "{stdout}");
}

#[test]
fn previous_and_observed_affinity() {
    let dir = tempfile::tempdir().unwrap();
    let policies = write(
        dir.path(),
        "p.yaml",
        "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {name: nginx, namespace: default}\nspec:\n  resourceSelectors:\n    - {apiVersion: apps/v1, kind: Deployment}\n  placement:\n    clusterAffinities:\n      - affinityName: gcp\n        fieldSelector:\n          matchExpressions:\n            - {key: provider, operator: In, values: [gcp]}\n      - affinityName: aws\n        fieldSelector:\n          matchExpressions:\n            - {key: provider, operator: In, values: [aws]}\n    replicaScheduling:\n      replicaSchedulingType: Divided\n      weightPreference:\n        dynamicWeight: AvailableReplicas\n",
    );
    let previous = write(dir.path(), "prev.yaml", "member1: 4\nmember3: 1\n");
    let clusters = example("clusters.yaml").display().to_string();
    let resource = example("deployment.yaml").display().to_string();
    // gcp (member2) is tainted NoSchedule and not tolerated: fails over to aws
    let (code, stdout, _) = place(&[
        "--clusters",
        &clusters,
        "--policies",
        &policies,
        "--resource",
        &resource,
        "-o",
        "json",
    ]);
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(out["observedAffinity"], "aws");
    // member1 (cpu 6, 500m each -> 12) and member3 (cpu 3, pods 20 -> 6): 7 by 12:6 = 5:2
    assert_eq!(out["placements"], json!({"member1": 5, "member3": 2}));
    // scale 5 -> 7 keeps the previous 4 + 1 and adds 2 by 12:6
    let (code, stdout, _) = place(&[
        "--clusters",
        &clusters,
        "--policies",
        &policies,
        "--resource",
        &resource,
        "--previous",
        &previous,
        "--observed-affinity",
        "aws",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["placements"], json!({"member1": 5, "member3": 2}));
}

#[test]
fn scheduling_failure_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let policies = write(
        dir.path(),
        "p.yaml",
        "apiVersion: policy.karmada.io/v1alpha1\nkind: ClusterPropagationPolicy\nmetadata: {name: strict}\nspec:\n  resourceSelectors:\n    - {apiVersion: apps/v1, kind: Deployment}\n  placement:\n    clusterAffinity:\n      clusterNames: [member2]\n",
    );
    let clusters = example("clusters.yaml").display().to_string();
    let resource = example("deployment.yaml").display().to_string();
    let (code, stdout, _) = place(&[
        "--clusters",
        &clusters,
        "--policies",
        &policies,
        "--resource",
        &resource,
        "-o",
        "json",
    ]);
    assert_eq!(code, 1);
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        out["policy"],
        json!({"kind": "ClusterPropagationPolicy", "namespace": null, "name": "strict"})
    );
    assert_eq!(out["placements"], Value::Null);
    assert_eq!(out["manifests"], Value::Null);
    assert_eq!(out["error"]["reason"], "NoClusterFit");
    let msg = out["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("member2: cluster(s) had untolerated taint {maintenance=true:NoSchedule}"),
        "{msg}"
    );
    assert!(
        msg.contains("member1: cluster(s) did not match the placement cluster affinity constraint"),
        "{msg}"
    );
    // no policy claims the resource
    let none = write(
        dir.path(),
        "none.yaml",
        "apiVersion: policy.karmada.io/v1alpha1\nkind: ClusterPropagationPolicy\nmetadata: {name: cms}\nspec:\n  resourceSelectors:\n    - {apiVersion: v1, kind: ConfigMap}\n",
    );
    let (code, stdout, _) = place(&[
        "--clusters",
        &clusters,
        "--policies",
        &none,
        "--resource",
        &resource,
        "-o",
        "json",
    ]);
    assert_eq!(code, 1);
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["error"]["reason"], "NoMatchingPolicy");
    assert_eq!(out["policy"], Value::Null);
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let clusters = example("clusters.yaml").display().to_string();
    let resource = example("deployment.yaml").display().to_string();
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: policy.karmada.io/v1alpha1\nkind: PropagationPolicy\nmetadata: {name: p}\nspec:\n  resourceSelectors:\n    - {apiVersion: apps/v1, kind: Deployment}\n  placement:\n    clusterAffinty: {}\n",
    );
    let (code, _, stderr) = place(&[
        "--clusters",
        &clusters,
        "--policies",
        &bad,
        "--resource",
        &resource,
        "-o",
        "json",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.yaml: PropagationPolicy \"p\": spec.placement.clusterAffinty: unknown field `clusterAffinty`"), "{stderr}");
    let (code, _, stderr) = place(&[
        "--clusters",
        "/nonexistent/clusters.yaml",
        "--policies",
        &bad,
        "--resource",
        &resource,
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/clusters.yaml"), "{stderr}");
    let notyaml = write(dir.path(), "r.yaml", "kind: [unclosed\n");
    let policies = example("policies.yaml").display().to_string();
    let (code, _, stderr) = place(&[
        "--clusters",
        &clusters,
        "--policies",
        &policies,
        "--resource",
        &notyaml,
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("r.yaml: invalid YAML"), "{stderr}");
    let (code, _, _) = place(&["--clusters", &clusters]);
    assert_eq!(code, 2, "clap usage errors exit 2 too");
}

#[test]
fn empty_or_unusable_input_exits_2_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let clusters = example("clusters.yaml").display().to_string();
    let policies = example("policies.yaml").display().to_string();
    let resource = example("deployment.yaml").display().to_string();
    let empty = write(dir.path(), "empty.yaml", "");
    let separators = write(dir.path(), "separators.yaml", "---\n---\n");
    let bad = write(dir.path(), "bad.yaml", "kind: [unclosed\n");
    let cases: Vec<([&str; 3], &str)> = vec![
        (
            [&empty, &policies, &resource],
            "empty.yaml: holds no MemberCluster",
        ),
        (
            [&separators, &policies, &resource],
            "separators.yaml: holds no MemberCluster",
        ),
        (
            [&clusters, &empty, &resource],
            "empty.yaml: holds no PropagationPolicy",
        ),
        ([&clusters, &policies, &empty], "empty.yaml"),
        ([&clusters, &bad, &resource], "bad.yaml: invalid YAML"),
        (
            [&clusters, &policies, "/nonexistent/r.yaml"],
            "/nonexistent/r.yaml",
        ),
    ];
    for ([c, p, r], needle) in cases {
        for output in ["table", "json"] {
            let (code, stdout, stderr) = place(&[
                "--clusters",
                c,
                "--policies",
                p,
                "--resource",
                r,
                "-o",
                output,
            ]);
            assert_eq!(code, 2, "{c} {p} {r} -o {output}: {stdout} {stderr}");
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{c} {p} {r} -o {output}: {stderr}");
            assert!(
                lines[0].starts_with("error: ") && lines[0].contains(needle),
                "{c} {p} {r}: {stderr}"
            );
            if output == "json" {
                let out: Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(out["error"]["reason"], "InvalidInput");
                assert_eq!(out["placements"], Value::Null);
            } else {
                assert!(stdout.is_empty(), "{stdout}");
            }
        }
    }
}
