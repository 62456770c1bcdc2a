//! The member install's Istio reader identity (`--istio-version`, `--istio-revision`) and the
//! `--restart-istiod` flag, through the same flag parser as `isthmus install`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway_config::remote_secret::{IstioVersion, reader_rbac_for};
use isthmus_install::execute_flags;
use serde_json::{Value, json};

const MEMBER: [&str; 7] = [
    "--role",
    "member",
    "--cluster",
    "east",
    "--network",
    "n1",
    "--skip-crds",
];

fn objects(extra: &[&str], base: &[&str]) -> Vec<Value> {
    let flags: Vec<&str> = base.iter().chain(extra).copied().collect();
    let text = execute_flags(&flags).unwrap();
    serde_saphyr::from_multiple(&text).unwrap()
}

fn member(extra: &[&str]) -> Vec<Value> {
    objects(extra, &MEMBER)
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> Option<(usize, &'a Value)> {
    objs.iter()
        .enumerate()
        .find(|(_, o)| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn get<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(objs, kind, name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .1
}

fn reader_rules(version: IstioVersion) -> Value {
    serde_json::to_value(reader_rbac_for(version, None).cluster_role.rules).unwrap()
}

#[test]
fn member_install_creates_istios_reader_identity_in_istio_system() {
    let objs = member(&[]);
    let sa = get(&objs, "ServiceAccount", "istio-reader-service-account");
    assert_eq!(sa["metadata"]["namespace"], "istio-system");
    let role = get(
        &objs,
        "ClusterRole",
        "istio-reader-clusterrole-istio-system",
    );
    assert_eq!(role["rules"], reader_rules(IstioVersion::V1_30));
    let binding = get(
        &objs,
        "ClusterRoleBinding",
        "istio-reader-clusterrole-istio-system",
    );
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "istio-reader-clusterrole-istio-system"})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "istio-reader-service-account", "namespace": "istio-system"}])
    );
    let secret = get(
        &objs,
        "Secret",
        "istio-reader-service-account-istio-remote-secret-token",
    );
    assert_eq!(secret["metadata"]["namespace"], "istio-system");
    assert_eq!(secret["type"], "kubernetes.io/service-account-token");
    assert_eq!(
        secret["metadata"]["annotations"],
        json!({"kubernetes.io/service-account.name": "istio-reader-service-account"})
    );
    // Kubernetes' token controller deletes a token Secret whose ServiceAccount does not exist
    // yet, so the ServiceAccount is applied first.
    let sa_at = find(&objs, "ServiceAccount", "istio-reader-service-account").unwrap();
    let secret_at = find(
        &objs,
        "Secret",
        "istio-reader-service-account-istio-remote-secret-token",
    )
    .unwrap();
    assert!(sa_at.0 < secret_at.0);
    // Istio's labels only, so applying over Istio's own objects changes nothing.
    for o in [sa, role, binding] {
        assert_eq!(
            o["metadata"]["labels"],
            json!({"app": "istio-reader", "app.kubernetes.io/name": "istio-reader"}),
            "{o}"
        );
    }
}

#[test]
fn istio_version_chooses_the_reader_rules() {
    let core_resources = |objs: &[Value]| {
        get(objs, "ClusterRole", "istio-reader-clusterrole-istio-system")["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["apiGroups"] == json!([""]))
            .unwrap()["resources"]
            .clone()
    };
    let old = member(&["--istio-version", "1.28"]);
    assert!(
        !core_resources(&old)
            .as_array()
            .unwrap()
            .contains(&json!("configmaps"))
    );
    for (flag, version) in [
        ("1.28", IstioVersion::V1_28),
        ("1.29.3", IstioVersion::V1_29),
        ("1.30", IstioVersion::V1_30),
    ] {
        let objs = member(&["--istio-version", flag]);
        assert_eq!(
            get(
                &objs,
                "ClusterRole",
                "istio-reader-clusterrole-istio-system"
            )["rules"],
            reader_rules(version),
            "{flag}"
        );
    }
    let (code, message) = execute_flags(&[&MEMBER[..], &["--istio-version", "1.27"]].concat())
        .err()
        .unwrap();
    assert_eq!(code, 2);
    assert!(
        message.contains("--istio-version") && message.contains("1.28, 1.29, 1.30"),
        "{message}"
    );
}

#[test]
fn istio_revision_names_the_reader_role() {
    let objs = member(&["--istio-revision", "canary"]);
    let name = "istio-reader-clusterrole-canary-istio-system";
    get(&objs, "ClusterRole", name);
    assert_eq!(
        get(&objs, "ClusterRoleBinding", name)["roleRef"]["name"],
        name
    );
    assert!(
        find(
            &objs,
            "ClusterRole",
            "istio-reader-clusterrole-istio-system"
        )
        .is_none()
    );
    let (code, message) = execute_flags(&[&MEMBER[..], &["--istio-revision", "Canary"]].concat())
        .err()
        .unwrap();
    assert_eq!(code, 2);
    assert!(message.contains("--istio-revision"), "{message}");
}

#[test]
fn istio_flags_are_member_only() {
    for flags in [
        ["--role", "hub", "--istio-version", "1.29"],
        ["--role", "hub", "--istio-revision", "canary"],
    ] {
        let (code, message) = execute_flags(&flags).err().unwrap();
        assert_eq!(code, 2);
        assert!(
            message.contains("only used with --role member"),
            "{message}"
        );
    }
    let hub = objects(&[], &["--role", "hub", "--skip-crds"]);
    assert!(find(&hub, "ServiceAccount", "istio-reader-service-account").is_none());
}

fn controller_args(objs: &[Value]) -> Vec<String> {
    let d = get(objs, "Deployment", "isthmus-mesh-controller");
    serde_json::from_value(d["spec"]["template"]["spec"]["containers"][0]["args"].clone()).unwrap()
}

fn istio_system_role(objs: &[Value]) -> Value {
    objs.iter()
        .find(|o| {
            o["kind"] == "Role"
                && o["metadata"]["name"] == "isthmus-member"
                && o["metadata"]["namespace"] == "istio-system"
        })
        .unwrap()["rules"]
        .clone()
}

#[test]
fn restart_istiod_adds_the_controller_flag_and_the_member_rbac() {
    let hub = objects(&[], &["--role", "hub", "--skip-crds"]);
    assert!(!controller_args(&hub).contains(&"--restart-istiod".to_owned()));
    let hub = objects(
        &["--restart-istiod", "--clusterset-ca"],
        &["--role", "hub", "--skip-crds"],
    );
    assert_eq!(
        controller_args(&hub)
            .iter()
            .filter(|a| *a == "--restart-istiod")
            .count(),
        1
    );

    let deployments =
        json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list", "patch"]});
    let plain = istio_system_role(&member(&[]));
    assert!(!plain.as_array().unwrap().contains(&deployments), "{plain}");
    let restarting = istio_system_role(&member(&["--restart-istiod"]));
    assert!(
        restarting.as_array().unwrap().contains(&deployments),
        "{restarting}"
    );
    // Nothing cluster-wide about Deployments.
    let objs = member(&["--restart-istiod"]);
    let cluster = get(&objs, "ClusterRole", "isthmus-member");
    assert!(
        !cluster["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"] == json!(["deployments"])),
        "{cluster}"
    );
}

#[test]
fn member_role_in_istio_system_covers_configmaps() {
    let rules = istio_system_role(&member(&[]));
    assert!(
        rules.as_array().unwrap().contains(&json!({
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "watch", "create", "patch", "delete"],
        })),
        "{rules}"
    );
}
