//! The install path a user follows, with the real `kubectl` against a simulated API server:
//! `install | kubectl apply -f -` for a member and a hub, minting the member kubeconfig with
//! `deploy/scripts/mint-member-kubeconfig.sh`, and delegating `clusterset.local` in CoreDNS with
//! `deploy/scripts/coredns-delegate.sh`. The tests need kubectl (and bash for the scripts):
//! they are `#[ignore]`d and fail, naming the tool, when run without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod controller;

use std::path::PathBuf;
use std::time::Duration;

use isthmus_testing::mcs::seed_demo_export;
use isthmus_testing::paths::repo_root;
use kube_sim::{SimCluster, SimOptions};
use serde_json::{Value, json};

const TOKEN: &str = "install-test-token";

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

struct Env {
    sim: SimCluster,
    kubeconfig: PathBuf,
    home: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimCluster::start(SimOptions {
            name: name.into(),
            tls: true,
            token: Some(TOKEN.into()),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let env = Self {
            sim,
            kubeconfig,
            home,
            _dir: dir,
        };
        let (ok, _, err) = env.run("kubectl", &["version", "--client"], None).await;
        assert!(ok, "the kubectl on PATH does not run: {err}");
        env
    }

    /// Runs the installed `program` with KUBECONFIG and HOME pointing at the test's files,
    /// bounded in time; fails, naming it, when the program is not installed.
    async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(isthmus_testing::require(program))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
            .await
            .expect("command did not finish within 90 s")
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, program: &str, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.run(program, args, stdin).await;
        assert!(
            ok,
            "{program} {args:?} failed:\nstdout: {out}\nstderr: {err}"
        );
        out
    }

    /// Istio's namespace, as an Istio install leaves it (seeded: `kubectl create namespace`
    /// sends protobuf, which the simulator does not read).
    fn istio_system(&self) {
        self.sim
            .apply_json(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "istio-system" } }))
            .unwrap();
    }

    async fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok("kubectl", &a, None).await).unwrap()
    }
}

/// `isthmus install <args>` through the same parser and code the CLI runs.
fn install(args: &[&str]) -> String {
    isthmus_install::execute_flags(args).unwrap_or_else(|(_, e)| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl and bash"]
async fn member_install_applies_and_mints_a_working_kubeconfig() {
    let env = Env::start("east").await;
    env.istio_system();
    let manifests = install(&[
        "--role",
        "member",
        "--cluster",
        "east",
        "--network",
        "net-east",
    ]);
    env.ok("kubectl", &["apply", "-f", "-"], Some(&manifests))
        .await;
    // Everything printed is now in the cluster.
    for (kind, ns, name) in [
        (
            "customresourcedefinition",
            "",
            "serviceimports.multicluster.x-k8s.io",
        ),
        (
            "customresourcedefinition",
            "",
            "clusterproperties.about.k8s.io",
        ),
        ("clusterrole", "", "isthmus-member"),
        ("role", "istio-system", "isthmus-member"),
        ("deployment", "isthmus-system", "isthmus-dns-proxy"),
        ("poddisruptionbudget", "isthmus-system", "isthmus-dns-proxy"),
        ("service", "isthmus-system", "isthmus-dns-proxy"),
    ] {
        let mut args = vec!["get", kind, name];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        let obj = env.kubectl_json(&args).await;
        assert_eq!(obj["metadata"]["name"], name);
    }
    // Applying again changes nothing and succeeds (upgrade path).
    env.ok("kubectl", &["apply", "-f", "-"], Some(&manifests))
        .await;

    // The simulator has no token controller: fill the token Secret as Kubernetes would.
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut secret = env
        .kubectl_json(&[
            "get",
            "secret",
            "isthmus-member-token",
            "-n",
            "isthmus-system",
        ])
        .await;
    secret["data"] = json!({ "token": b64(TOKEN), "ca.crt": b64(env.sim.ca_pem().unwrap()) });
    env.sim.apply_json(secret).unwrap();

    let script = deploy_dir().join("scripts/mint-member-kubeconfig.sh");
    let minted = env
        .ok(
            "bash",
            &[script.to_str().unwrap(), "east", &env.sim.url()],
            None,
        )
        .await;
    let kc = kube::config::Kubeconfig::from_yaml(&minted).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("east"));
    let path = env.home.join("east.kubeconfig");
    std::fs::write(&path, &minted).unwrap();
    // The minted kubeconfig authenticates against the member.
    let out = env
        .ok(
            "kubectl",
            &[
                "--kubeconfig",
                path.to_str().unwrap(),
                "get",
                "namespace",
                "isthmus-system",
                "-o",
                "name",
            ],
            None,
        )
        .await;
    assert_eq!(out.trim(), "namespace/isthmus-system");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl and bash"]
async fn coredns_delegation_adds_one_block_with_the_proxy_ip() {
    let env = Env::start("central").await;
    let manifests = install(&[
        "--role",
        "member",
        "--cluster",
        "central",
        "--network",
        "net-east",
    ]);
    env.istio_system();
    env.ok("kubectl", &["apply", "-f", "-"], Some(&manifests))
        .await;
    let original = ".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n}\n";
    env.sim
        .apply_json(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "coredns", "namespace": "kube-system" },
            "data": { "Corefile": original },
        }))
        .unwrap();
    let svc = env
        .kubectl_json(&[
            "get",
            "service",
            "isthmus-dns-proxy",
            "-n",
            "isthmus-system",
        ])
        .await;
    let ip = match svc["spec"]["clusterIP"].as_str() {
        Some(ip) if !ip.is_empty() => ip.to_owned(),
        _ => {
            // The simulator allocates no ClusterIPs; give one as the API server would.
            let mut svc = svc.clone();
            svc["spec"]["clusterIP"] = json!("10.96.0.53");
            env.sim.apply_json(svc).unwrap();
            "10.96.0.53".to_owned()
        }
    };
    let script = deploy_dir().join("scripts/coredns-delegate.sh");
    for _ in 0..2 {
        env.ok("bash", &[script.to_str().unwrap()], None).await;
    }
    let cm = env
        .kubectl_json(&["get", "configmap", "coredns", "-n", "kube-system"])
        .await;
    let corefile = cm["data"]["Corefile"].as_str().unwrap();
    assert!(corefile.starts_with(original.trim_end()), "{corefile}");
    assert_eq!(
        corefile.matches("clusterset.local:53 {").count(),
        1,
        "{corefile}"
    );
    assert!(
        corefile.contains(&format!("forward . {ip}\n")),
        "{corefile}"
    );
    assert!(corefile.contains("    cache 5\n"), "{corefile}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn hub_install_applies() {
    let env = Env::start("hub").await;
    let manifests = install(&["--role", "hub"]);
    env.ok("kubectl", &["apply", "-f", "-"], Some(&manifests))
        .await;
    let d = env
        .kubectl_json(&[
            "get",
            "deployment",
            "isthmus-mesh-controller",
            "-n",
            "isthmus-system",
        ])
        .await;
    assert_eq!(d["spec"]["replicas"], 2);
    let cm = env
        .kubectl_json(&[
            "get",
            "configmap",
            "isthmus-hub-kubeconfig",
            "-n",
            "isthmus-system",
        ])
        .await;
    assert!(
        cm["data"]["kubeconfig"]
            .as_str()
            .unwrap()
            .contains("tokenFile:")
    );
    // Uninstall as documented: delete what install printed.
    env.ok(
        "kubectl",
        &["delete", "--ignore-not-found", "-f", "-"],
        Some(&manifests),
    )
    .await;
    let (ok, _, err) = env
        .run(
            "kubectl",
            &[
                "get",
                "deployment",
                "isthmus-mesh-controller",
                "-n",
                "isthmus-system",
            ],
            None,
        )
        .await;
    assert!(!ok && err.contains("NotFound"), "{err}");
}

/// Fills the member's token Secret as the token controller would, with the simulator's token.
async fn fill_member_token(env: &Env) {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut secret = env
        .kubectl_json(&[
            "get",
            "secret",
            "isthmus-member-token",
            "-n",
            "isthmus-system",
        ])
        .await;
    secret["data"] = json!({ "token": b64(TOKEN), "ca.crt": b64(env.sim.ca_pem().unwrap()) });
    env.sim.apply_json(secret).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl and bash"]
async fn documented_install_brings_up_a_working_clusterset() {
    // docs/install.md step by step on simulated clusters: member installs, minted kubeconfigs,
    // hub install, the clusterset Secret's files, then the controller the Deployment would run
    // (the binary, with the Deployment's flags) imports an export across members.
    let east = Env::start("east").await;
    let west = Env::start("west").await;
    let hub = Env::start("hub").await;
    let secret_dir = tempfile::tempdir().unwrap();
    let script = deploy_dir().join("scripts/mint-member-kubeconfig.sh");
    for (env, name, net) in [(&east, "east", "net-east"), (&west, "west", "net-west")] {
        env.istio_system();
        let manifests = install(&["--role", "member", "--cluster", name, "--network", net]);
        env.ok("kubectl", &["apply", "-f", "-"], Some(&manifests))
            .await;
        fill_member_token(env).await;
        let minted = env
            .ok(
                "bash",
                &[script.to_str().unwrap(), name, &env.sim.url()],
                None,
            )
            .await;
        std::fs::write(secret_dir.path().join(format!("{name}.kubeconfig")), minted).unwrap();
    }
    hub.ok(
        "kubectl",
        &["apply", "-f", "-"],
        Some(&install(&["--role", "hub"])),
    )
    .await;
    let clusterset = secret_dir.path().join("clusterset.yaml");
    std::fs::write(
        &clusterset,
        "apiVersion: isthmus.io/v1alpha1\nkind: ClusterSet\nname: prod\nmeshID: mesh1\ntrustDomain: cluster.local\n\
         members:\n  - name: east\n    network: net-east\n    kubeconfig: east.kubeconfig\n\
         \x20 - name: west\n    network: net-west\n    kubeconfig: west.kubeconfig\n",
    )
    .unwrap();
    // The CRDs came from `install`; the workloads exist but nothing runs them in a simulator.
    seed_demo_export(&east.sim);
    west.sim
        .apply_json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}))
        .unwrap();
    let done = || {
        !west
            .sim
            .list_json(
                "multicluster.x-k8s.io/v1beta1",
                "ServiceImport",
                Some("demo"),
            )
            .is_empty()
            && !east
                .sim
                .list_json(
                    "multicluster.x-k8s.io/v1beta1",
                    "ServiceImport",
                    Some("demo"),
                )
                .is_empty()
    };
    controller::run_binary_until(&clusterset, &hub.kubeconfig, "isthmus-system", done)
        .await
        .unwrap();
    let imports = west
        .kubectl_json(&["get", "serviceimports.multicluster.x-k8s.io", "-n", "demo"])
        .await;
    assert_eq!(imports["items"][0]["metadata"]["name"], "web", "{imports}");
    let lease = hub
        .kubectl_json(&[
            "get",
            "lease",
            "isthmus-mesh-controller",
            "-n",
            "isthmus-system",
        ])
        .await;
    assert_eq!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .map(|h| h.starts_with("install-test")),
        Some(true),
        "{lease}"
    );
}

/// Issues a leaf with gateway-config's `ca leaf` code and returns its `--format secret` YAML.
fn leaf_secret_yaml(role: &gateway_config::ca::LeafRole) -> String {
    use gateway_config::ca::{LeafOptions, LeafSigner, RootCa, RootOptions, issue_leaf};
    let now = jiff::Timestamp::now();
    let root = RootCa::generate(&RootOptions::default(), now).unwrap();
    let signer = LeafSigner::from_root(&root).unwrap();
    let leaf = issue_leaf(&signer, role, &LeafOptions::default(), now).unwrap();
    leaf.to_secret_yaml(role.default_secret_name(), "isthmus-system")
        .unwrap()
}

/// `docs/install.md`, "DNS from the controller over gRPC", with kubectl: the certificate
/// Secrets and both installs apply; the workloads mount the Secrets that now exist; a grpc
/// member's proxy has no RBAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kubectl"]
async fn discovery_secrets_and_grpc_member_install_apply_with_kubectl() {
    use gateway_config::ca::LeafRole;
    use isthmus_install::manifests::{DISCOVERY_TLS_SECRET, DNS_PROXY_TLS_SECRET};
    let hub = Env::start("hub").await;
    let east = Env::start("east").await;
    hub.ok(
        "kubectl",
        &["apply", "-f", "-"],
        Some(&install(&["--role", "hub"])),
    )
    .await;
    let server = LeafRole::Server {
        names: vec!["isthmus-discovery.isthmus-system.svc".into()],
    };
    hub.ok(
        "kubectl",
        &["apply", "-f", "-"],
        Some(&leaf_secret_yaml(&server)),
    )
    .await;
    east.istio_system();
    east.ok(
        "kubectl",
        &["apply", "-f", "-"],
        Some(&install(&[
            "--role",
            "member",
            "--cluster",
            "east",
            "--network",
            "net-east",
            "--dns-source",
            "grpc",
            "--discovery-url",
            "https://discovery.hub.example:8443",
        ])),
    )
    .await;
    let client = LeafRole::DnsProxyClient {
        cluster: "east".into(),
        trust_domain: "cluster.local".into(),
    };
    east.ok(
        "kubectl",
        &["apply", "-f", "-"],
        Some(&leaf_secret_yaml(&client)),
    )
    .await;

    for (env, deployment, secret) in [
        (&hub, "isthmus-mesh-controller", DISCOVERY_TLS_SECRET),
        (&east, "isthmus-dns-proxy", DNS_PROXY_TLS_SECRET),
    ] {
        let s = env
            .kubectl_json(&["get", "secret", secret, "-n", "isthmus-system"])
            .await;
        assert_eq!(s["type"], "kubernetes.io/tls", "{s}");
        for key in ["tls.crt", "tls.key", "ca.crt"] {
            assert!(s["data"][key].is_string(), "{secret} has no {key}: {s}");
        }
        let d = env
            .kubectl_json(&["get", "deployment", deployment, "-n", "isthmus-system"])
            .await;
        let volumes = d["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            volumes.iter().any(|v| v["secret"]["secretName"] == secret),
            "{deployment} does not mount {secret}: {volumes:?}"
        );
    }
    let svc = hub
        .kubectl_json(&[
            "get",
            "service",
            "isthmus-discovery",
            "-n",
            "isthmus-system",
        ])
        .await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 8443, "{svc}");
    // The member's own access is there; only the proxy's grants are left out.
    let access = east
        .kubectl_json(&["get", "clusterrole", "isthmus-member"])
        .await;
    assert_eq!(access["metadata"]["name"], "isthmus-member");
    for kind in ["clusterrole", "clusterrolebinding"] {
        let (ok, out, _) = east
            .run(
                "kubectl",
                &["get", kind, "isthmus-dns-proxy", "-o", "name"],
                None,
            )
            .await;
        assert!(!ok, "a grpc member's proxy has a {kind}: {out}");
    }
}
