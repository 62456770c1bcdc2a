//! The built `isthmus gateway` commands: output of each command, exit codes, and that bad input writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use isthmus_testing::golden::{assert_golden, list_files};
use isthmus_testing::manifests::yaml_documents;
use isthmus_testing::paths::crate_dir;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isthmus"))
        .arg("gateway")
        .args(args)
        .output()
        .unwrap()
}

fn stdout_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stderr_of_bad_input(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout on error");
    String::from_utf8(out.stderr).unwrap()
}

/// gateway-config's test data (the test clusterset and its kubeconfigs), as an argument.
fn testdata(name: &str) -> String {
    crate_dir("gateway-config")
        .join("tests/testdata")
        .join(name)
        .display()
        .to_string()
}

/// The golden file `rel` among gateway-config's (the commands' output is the library's).
fn golden(rel: impl AsRef<Path>) -> PathBuf {
    crate_dir("gateway-config").join("tests/golden").join(rel)
}

#[test]
fn single_object_commands_match_golden_files() {
    let cases: &[(&str, &[&str])] = &[
        (
            "eastwest.istio-operator.yaml",
            &[
                "eastwest",
                "--cluster",
                "cluster1",
                "--network",
                "network1",
                "--mesh",
                "mesh1",
            ],
        ),
        (
            "eastwest.istio-operator.revision.yaml",
            &[
                "eastwest",
                "--cluster",
                "cluster1",
                "--network",
                "network1",
                "--revision",
                "canary",
            ],
        ),
        (
            "eastwest.helm-values.yaml",
            &[
                "eastwest",
                "--cluster",
                "cluster1",
                "--network",
                "network1",
                "--form",
                "helm-values",
            ],
        ),
        (
            "eastwest.gateway-api.yaml",
            &[
                "eastwest",
                "--cluster",
                "cluster1",
                "--network",
                "network1",
                "--form",
                "gateway-api",
            ],
        ),
        (
            "eastwest.gateway-api.yaml",
            &["eastwest", "--network", "network1", "--ambient"],
        ),
        (
            "eastwest.istio-operator.single-cluster.yaml",
            &["eastwest", "--single-cluster", "--network", "ignored"],
        ),
        (
            "eastwest.istio-operator.network-only.yaml",
            &["eastwest", "--network", "network1"],
        ),
        (
            "eastwest.istio-operator.single-cluster.yaml",
            &["eastwest", "--single-cluster"],
        ),
        (
            "eastwest.istio-operator.single-cluster.revision.yaml",
            &["eastwest", "--single-cluster", "--revision", "canary"],
        ),
        (
            "eastwest.helm-values.single-cluster.yaml",
            &["eastwest", "--single-cluster", "--form", "helm-values"],
        ),
        ("expose-services.yaml", &["expose-services"]),
        (
            "expose-services.clusterset.yaml",
            &["expose-services", "--hosts", "clusterset"],
        ),
        (
            "expose-services.list.yaml",
            &[
                "expose-services",
                "--hosts",
                "reviews.bookinfo.svc.cluster.local,ratings.bookinfo.svc.clusterset.local",
            ],
        ),
        ("expose-istiod.yaml", &["expose-istiod"]),
        (
            "expose-istiod.revision.yaml",
            &["expose-istiod", "--revision", "canary"],
        ),
        ("reader-rbac.yaml", &["remote-secret", "--print-rbac"]),
    ];
    for (golden_file, args) in cases {
        let out = stdout_ok(args);
        assert_golden(&golden(Path::new("cli").join(golden_file)), &out);
        assert!(!yaml_documents(&out, Path::new(golden_file)).is_empty());
    }
}

#[test]
fn eastwest_from_a_clusterset_member() {
    let cs = testdata("clusterset.yaml");
    let out = stdout_ok(&["eastwest", "--clusterset", &cs, "--cluster", "west"]);
    assert_golden(
        &golden("cli/eastwest.west-nodeport.istio-operator.yaml"),
        &out,
    );
    assert!(out.contains("type: NodePort"), "{out}");
    assert!(out.contains("traffic.istio.io/nodeSelector"), "{out}");
    let out = stdout_ok(&[
        "eastwest",
        "--clusterset",
        &cs,
        "--cluster",
        "central",
        "--form",
        "helm-values",
    ]);
    assert!(out.contains("revision: canary"), "{out}");
    // central is Static: a NodePort Service without the node selector annotation, so
    // istiod advertises only the listed addresses.
    assert!(out.contains("type: NodePort"), "{out}");
    assert!(!out.contains("traffic.istio.io/nodeSelector"), "{out}");
    let out = stdout_ok(&["eastwest", "--clusterset", &cs, "--cluster", "central"]);
    assert_golden(
        &golden("cli/eastwest.central-static.istio-operator.yaml"),
        &out,
    );
    assert!(out.contains("type: NodePort"), "{out}");
    assert!(!out.contains("traffic.istio.io/nodeSelector"), "{out}");
    let err = stderr_of_bad_input(&["eastwest", "--clusterset", &cs, "--cluster", "north"]);
    assert!(err.contains("\"north\" is not a member"), "{err}");
    stderr_of_bad_input(&[
        "eastwest",
        "--clusterset",
        &cs,
        "--cluster",
        "west",
        "--network",
        "n",
    ]);
    stderr_of_bad_input(&[
        "eastwest",
        "--clusterset",
        &cs,
        "--cluster",
        "west",
        "--mesh",
        "m",
    ]);
}

#[test]
fn istiod_command_prints_both_forms() {
    let cs = testdata("clusterset.yaml");
    let iop = stdout_ok(&["istiod", "--clusterset", &cs, "--cluster", "west"]);
    assert_golden(&golden("cli/istiod.west.istio-operator.yaml"), &iop);
    let helm = stdout_ok(&[
        "istiod",
        "--clusterset",
        &cs,
        "--cluster",
        "west",
        "--form",
        "helm-values",
    ]);
    assert_golden(&golden("cli/istiod.west.helm-values.yaml"), &helm);
    // istiod's env: the MCS switches and the shared mesh networks ConfigMap.
    for out in [&iop, &helm] {
        for line in [
            "ENABLE_MCS_SERVICE_DISCOVERY: \"true\"",
            "ENABLE_MCS_HOST: \"true\"",
            "MCS_API_VERSION: v1alpha1",
            "SHARED_MESH_CONFIG: isthmus-mesh-networks",
        ] {
            assert!(out.contains(line), "{line} missing:\n{out}");
        }
        assert!(!out.contains("ENABLE_MCS_CLUSTER_LOCAL"), "{out}");
        assert!(!out.contains("ambient"), "{out}");
    }
    let err = stderr_of_bad_input(&["istiod", "--clusterset", &cs, "--cluster", "north"]);
    assert!(err.contains("\"north\" is not a member"), "{err}");
    let err = stderr_of_bad_input(&[
        "istiod",
        "--clusterset",
        &cs,
        "--cluster",
        "west",
        "--form",
        "ztunnel",
    ]);
    assert!(err.contains("ztunnel"), "{err}");
}

#[test]
fn istiod_command_mcs_cluster_local_and_ambient() {
    let cs = testdata("clusterset.yaml");
    let base = ["istiod", "--clusterset", cs.as_str(), "--cluster", "west"];
    let with = |extra: &[&str]| stdout_ok(&[&base[..], extra].concat());
    for form in ["istio-operator", "helm-values"] {
        let out = with(&["--form", form, "--mcs-cluster-local"]);
        assert!(
            out.contains("ENABLE_MCS_CLUSTER_LOCAL: \"true\""),
            "{form}:\n{out}"
        );
    }
    let cases: &[(&str, &[&str])] = &[
        (
            "cli/istiod.west.ambient.istio-operator.yaml",
            &["--ambient"],
        ),
        (
            "cli/istiod.west.ambient.helm-values.yaml",
            &["--ambient", "--form", "helm-values"],
        ),
        (
            "cli/ztunnel.west.helm-values.yaml",
            &["--form", "ztunnel-helm-values"],
        ),
        (
            "cli/ztunnel.west.helm-values.yaml",
            &["--ambient", "--form", "ztunnel-helm-values"],
        ),
        (
            "cli/istio-cni.helm-values.yaml",
            &["--form", "cni-helm-values"],
        ),
    ];
    for (file, extra) in cases {
        assert_golden(&golden(file), &with(extra));
    }
    let iop = with(&["--ambient"]);
    assert!(iop.contains("profile: ambient"), "{iop}");
    assert!(iop.contains("AMBIENT_ENABLE_MULTI_NETWORK"), "{iop}");
    let helm = with(&["--ambient", "--form", "helm-values"]);
    assert!(
        helm.contains("AMBIENT_ENABLE_MULTI_NETWORK: \"true\""),
        "{helm}"
    );
    // The ambient form is what the rendered istiod.ambient.* files hold.
    let rendered =
        std::fs::read_to_string(golden("clusterset/west/istiod.ambient.helm-values.yaml")).unwrap();
    assert!(rendered.ends_with(&helm), "{rendered}\n---\n{helm}");
    // The test clusterset has NodePort and Static members: ztunnel does not use meshNetworks,
    // and the command says so.
    let out = run(&[&base[..], &["--ambient"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("note: ambient multi-network"), "{err}");
    let out = run(&base);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn remote_secret_matches_istioctl_format() {
    let kc = testdata("kubeconfigs/east.yaml");
    let out = stdout_ok(&["remote-secret", "--name", "east", "--kubeconfig", &kc]);
    assert_golden(&golden("cli/remote-secret.east.yaml"), &out);
    assert!(
        out.starts_with(
            "# This file is autogenerated, do not edit.\napiVersion: v1\nkind: Secret\n"
        )
    );
    assert!(out.ends_with("---\n"));

    let kc = testdata("kubeconfigs/west.yaml");
    let out = stdout_ok(&[
        "remote-secret",
        "--name",
        "west",
        "--kubeconfig",
        &kc,
        "--context",
        "west-reader",
        "--server",
        "https://203.0.113.7:6443",
    ]);
    assert!(out.contains("server: https://203.0.113.7:6443\n"), "{out}");
    assert!(out.contains("client-key-data: "), "{out}");

    // The current context of west.yaml uses an exec plugin: refused, naming the field.
    let err = stderr_of_bad_input(&["remote-secret", "--name", "west", "--kubeconfig", &kc]);
    assert!(
        err.contains("west.yaml: users[0].user: uses an exec"),
        "{err}"
    );
    let err = stderr_of_bad_input(&[
        "remote-secret",
        "--name",
        "west",
        "--kubeconfig",
        "/nonexistent/kc.yaml",
    ]);
    assert!(err.contains("/nonexistent/kc.yaml"), "{err}");
    let err = stderr_of_bad_input(&["remote-secret", "--name", "West_1", "--kubeconfig", &kc]);
    assert!(err.contains("RFC 1123"), "{err}");
    stderr_of_bad_input(&["remote-secret", "--name", "west"]);

    // The RBAC alone (two spellings), or followed by the secret.
    let rbac = stdout_ok(&["remote-secret", "--print-rbac"]);
    assert_eq!(stdout_ok(&["remote-secret-rbac"]), rbac);
    let kc = testdata("kubeconfigs/east.yaml");
    let both = stdout_ok(&[
        "remote-secret",
        "--name",
        "east",
        "--kubeconfig",
        &kc,
        "--print-rbac",
    ]);
    let docs = yaml_documents(&both, Path::new("both"));
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Secret"
        ]
    );
}

#[test]
fn bad_flags_exit_2() {
    let err = stderr_of_bad_input(&["eastwest", "--cluster", "Cluster_1", "--network", "n"]);
    assert!(
        err.contains("--cluster: \"Cluster_1\" is not an RFC 1123 label"),
        "{err}"
    );
    // Without --cluster, as the current upstream script: no clusterName.
    let out = stdout_ok(&["eastwest", "--network", "n"]);
    assert!(!out.contains("clusterName"), "{out}");
    stderr_of_bad_input(&["eastwest", "--cluster", "c"]);
    stderr_of_bad_input(&["eastwest", "--clusterset", "cs.yaml"]);
    stderr_of_bad_input(&[
        "eastwest",
        "--cluster",
        "c",
        "--network",
        "n",
        "--form",
        "operator",
    ]);
    // --single-cluster: no gateway-api form (it needs a network), names still checked.
    let err = stderr_of_bad_input(&["eastwest", "--single-cluster", "--form", "gateway-api"]);
    assert!(err.contains("needs --network"), "{err}");
    stderr_of_bad_input(&["eastwest", "--single-cluster", "--ambient"]);
    stderr_of_bad_input(&[
        "eastwest",
        "--network",
        "n",
        "--ambient",
        "--form",
        "helm-values",
    ]);
    let err = stderr_of_bad_input(&["eastwest", "--single-cluster", "--cluster", "Bad_C"]);
    assert!(err.contains("--cluster: \"Bad_C\""), "{err}");
    let err = stderr_of_bad_input(&["eastwest", "--single-cluster", "--revision", "Bad"]);
    assert!(err.contains("--revision"), "{err}");
    let err = stderr_of_bad_input(&["expose-services", "--hosts", "reviews"]);
    assert!(err.contains("--hosts"), "{err}");
    stderr_of_bad_input(&["expose-istiod", "--revision", "Bad Rev"]);
    stderr_of_bad_input(&["no-such-command"]);
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "eastwest",
        "expose-services",
        "expose-istiod",
        "istiod",
        "remote-secret",
        "render",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
}

fn render_to(args: &[&str]) -> Output {
    run(&[&["render"], args].concat())
}

#[test]
fn render_without_remote_secrets_reads_no_kubeconfig() {
    // A clusterset naming kubeconfigs that do not exist: with --no-remote-secrets they are
    // never read, and no member gets a remote-secrets.yaml.
    let tmp = tempfile::tempdir().unwrap();
    let cs = tmp.path().join("clusterset.yaml");
    std::fs::write(
        &cs,
        "meshID: m\nmembers:\n- {name: a, network: n1, kubeconfig: missing-a.kubeconfig}\n- {name: b, network: n2, kubeconfig: missing-b.kubeconfig}\n",
    )
    .unwrap();
    let cs = cs.display().to_string();
    let out_dir = tmp.path().join("out");
    let out_str = out_dir.display().to_string();
    let failed = render_to(&["--clusterset", &cs, "--output", &out_str]);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("missing-a.kubeconfig"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let out = render_to(&[
        "--clusterset",
        &cs,
        "--output",
        &out_str,
        "--no-remote-secrets",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = list_files(&out_dir);
    assert!(
        files.contains(&PathBuf::from("a/istiod.helm-values.yaml")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.ends_with("remote-secrets.yaml")),
        "{files:?}"
    );
}

#[test]
fn render_writes_the_golden_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out_str = out_dir.display().to_string();
    let cs = testdata("clusterset.yaml");
    let out = render_to(&["--clusterset", &cs, "--output", &out_str]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no kubeconfig for \"central\""), "{stderr}");
    let mut files = list_files(&out_dir);
    files.retain(|f| f != Path::new(gateway_config::render::MARKER_FILE));
    let golden_dir = golden("clusterset");
    assert_eq!(files, list_files(&golden_dir));
    for f in &files {
        let got = std::fs::read_to_string(out_dir.join(f)).unwrap();
        let want = std::fs::read_to_string(golden_dir.join(f)).unwrap();
        assert_eq!(got, want, "{}", f.display());
    }
    // Rendering again replaces the previous output.
    let out = render_to(&["--clusterset", &cs, "--output", &out_str]);
    assert!(out.status.success());

    // The built-in example.
    let ex = tmp.path().join("example");
    let out = render_to(&["--example", "--output", &ex.display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        ex.join("west/eastwest-gateway.istio-operator.yaml")
            .is_file()
    );
}

/// Writes a clusterset (and optional extra files) into a fresh directory.
fn scratch_clusterset(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("clusterset.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn render_bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "meshID: m\nmembers:\n- {name: a, network: n, colour: red}\n",
            "members[0].colour: unknown field",
        ),
        (
            "meshID: m\nmembers:\n- {name: East_1, network: n}\n",
            "members[0].name: \"East_1\" is not an RFC 1123 label",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n}\n- {name: a, network: m}\n",
            "members[1].name: duplicate cluster \"a\"",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n, eastWestGateway: {exposure: Static}}\n",
            "members[0].eastWestGateway.addresses: network \"n\" has no way to reach its gateway",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n, eastWestGateway: {exposure: NodePort}}\n",
            "members[0].eastWestGateway.nodeSelector: network \"n\" has no way to reach its gateway",
        ),
        (
            "meshID: m\nmembers: []\n",
            "members: a clusterset needs at least one member",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n, kubeconfig: nope.yaml}\n",
            "nope.yaml: cannot read",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n, kubeconfig: nope.yaml}\n",
            "clusterset.yaml: members[0].kubeconfig (cluster \"a\"): ",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n, kubeconfig: bad-kubeconfig.yaml}\n",
            "bad-kubeconfig.yaml: contexts: no context named \"missing\"",
        ),
        (
            "meshID: m\nmembers:\n- {name: a, network: n, kubeconfig: bad-kubeconfig.yaml}\n",
            "clusterset.yaml: members[0].kubeconfig (cluster \"a\"): ",
        ),
    ];
    std::fs::write(
        tmp.path().join("bad-kubeconfig.yaml"),
        "current-context: missing\ncontexts: []\n",
    )
    .unwrap();
    for (i, (text, want)) in cases.iter().enumerate() {
        let cs = scratch_clusterset(tmp.path(), text);
        let out_dir = tmp.path().join(format!("out{i}"));
        let err = stderr_of_bad_input(&[
            "render",
            "--clusterset",
            &cs.display().to_string(),
            "--output",
            &out_dir.display().to_string(),
        ]);
        assert!(
            err.contains(want),
            "case {i}: {err:?} does not contain {want:?}"
        );
        assert!(
            err.contains("clusterset.yaml") || err.contains(".yaml"),
            "case {i}: {err} names no file"
        );
        assert!(
            !out_dir.exists(),
            "case {i}: output written despite bad input"
        );
    }
    // Nothing but the inputs is left behind (no temporary directories).
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["bad-kubeconfig.yaml", "clusterset.yaml"]);
}

#[test]
fn render_refuses_to_replace_a_foreign_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("mine");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(out_dir.join("notes.txt"), "keep me").unwrap();
    let err = stderr_of_bad_input(&[
        "render",
        "--example",
        "--output",
        &out_dir.display().to_string(),
    ]);
    assert!(err.contains("refusing to replace"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("notes.txt")).unwrap(),
        "keep me"
    );
    stderr_of_bad_input(&["render", "--output", &out_dir.display().to_string()]);
    stderr_of_bad_input(&[
        "render",
        "--example",
        "--clusterset",
        "x.yaml",
        "--output",
        "o",
    ]);
}
