//! Every manifest `install` prints parses into its k8s-openapi type with no field left over,
//! runs non-root with a read-only root filesystem, and grants exactly the RBAC the components'
//! request lists need.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_install::manifests::{CONTROLLER_NAME, DNS_PROXY_NAME, MEMBER_SA};
use isthmus_install::rbac::{self, ApiRequest, Scope, rbac_allows_named};
use isthmus_install::{DnsMode, InstallOptions, Role as InstallRole, render, render_objects};
use isthmus_testing::manifests::typed;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PodTemplateSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// Parses `v` as its kind's k8s-openapi type; fails on unknown kinds and unknown fields.
fn check_typed(v: &Value) {
    let kind = v["kind"].as_str().unwrap();
    match (v["apiVersion"].as_str().unwrap(), kind) {
        ("v1", "Namespace") => drop(typed::<Namespace>(v)),
        ("v1", "ServiceAccount") => drop(typed::<ServiceAccount>(v)),
        ("v1", "Secret") => drop(typed::<Secret>(v)),
        ("v1", "ConfigMap") => drop(typed::<ConfigMap>(v)),
        ("v1", "Service") => drop(typed::<Service>(v)),
        ("apps/v1", "Deployment") => drop(typed::<Deployment>(v)),
        ("apps/v1", "DaemonSet") => drop(typed::<DaemonSet>(v)),
        ("policy/v1", "PodDisruptionBudget") => drop(typed::<PodDisruptionBudget>(v)),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => drop(typed::<ClusterRole>(v)),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            drop(typed::<ClusterRoleBinding>(v))
        }
        ("rbac.authorization.k8s.io/v1", "Role") => drop(typed::<Role>(v)),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => drop(typed::<RoleBinding>(v)),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            drop(typed::<CustomResourceDefinition>(v))
        }
        (av, k) => panic!("unexpected object {av} {k}"),
    }
}

fn all_variants() -> Vec<InstallOptions> {
    let mut out = vec![
        InstallOptions::defaults(InstallRole::Hub, None, None),
        InstallOptions::defaults(InstallRole::Member, None, None),
        InstallOptions::defaults(InstallRole::Member, Some("east"), Some("network-1")),
    ];
    let mut ds = InstallOptions::defaults(InstallRole::Member, Some("west"), Some("network-2"));
    ds.dns_mode = DnsMode::Daemonset;
    ds.namespace = "mesh-ops".into();
    out.push(ds);
    let mut hub = InstallOptions::defaults(InstallRole::Hub, None, None);
    hub.namespace = "mesh-ops".into();
    hub.image = "example/mesh-controller:dev".into();
    out.push(hub);
    let mut off = InstallOptions::defaults(InstallRole::Hub, None, None);
    off.discovery = false;
    out.push(off);
    for mode in [DnsMode::Deployment, DnsMode::Daemonset] {
        let mut grpc = InstallOptions::defaults(InstallRole::Member, Some("east"), Some("n1"))
            .with_dns_grpc("https://discovery.example:8443");
        grpc.dns_mode = mode;
        out.push(grpc);
    }
    out
}

#[test]
fn every_object_parses_into_its_kubernetes_type() {
    for opts in all_variants() {
        let objs = render_objects(&opts).unwrap();
        assert!(!objs.is_empty());
        for o in &objs {
            check_typed(o);
        }
        // The printed YAML parses back into the same objects.
        let text = render(&opts).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert_eq!(docs, objs);
    }
}

#[test]
fn output_is_stable_and_namespaced() {
    for opts in all_variants() {
        assert_eq!(render(&opts).unwrap(), render(&opts).unwrap());
        for o in render_objects(&opts).unwrap() {
            let kind = o["kind"].as_str().unwrap();
            let name = o.pointer("/metadata/name").and_then(Value::as_str);
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
            // Istio's reader identity lives where Istio's charts put it.
            let reader = name.is_some_and(|n| n.starts_with("istio-reader"));
            match kind {
                "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" => {
                    assert_eq!(ns, None, "{o}")
                }
                "Role" | "RoleBinding" => assert!(
                    ns == Some(&opts.namespace) || ns == Some("istio-system"),
                    "{o}"
                ),
                _ if reader => assert_eq!(ns, Some("istio-system"), "{o}"),
                _ => assert_eq!(ns, Some(opts.namespace.as_str()), "{kind}"),
            }
            // Binding subjects point at the install namespace, the reader's at istio-system.
            let subject_ns = if reader {
                "istio-system"
            } else {
                opts.namespace.as_str()
            };
            for s in o["subjects"].as_array().into_iter().flatten() {
                assert_eq!(s["namespace"], subject_ns, "{o}");
            }
        }
    }
}

#[test]
fn nothing_installed_carries_the_controllers_ownership_label() {
    // The controller prunes objects labelled as its own; installed objects must never qualify.
    for opts in all_variants() {
        for o in render_objects(&opts).unwrap() {
            let owned = o
                .pointer("/metadata/labels")
                .and_then(|l| l.get(isthmus_api::labels::MANAGED_BY))
                .and_then(Value::as_str);
            assert_ne!(owned, Some(isthmus_api::labels::MANAGED_BY_VALUE), "{o}");
        }
    }
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn check_pod(template: &PodTemplateSpec, image: &str, sa: &str) {
    let spec = template.spec.as_ref().unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some(sa));
    let psc = spec.security_context.as_ref().unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, Some(65532));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(spec.containers.len(), 1);
    let c = &spec.containers[0];
    assert_eq!(c.image.as_deref(), Some(image));
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    let live = c
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .unwrap();
    let ready = c
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .unwrap();
    assert_eq!(live.path.as_deref(), Some("/healthz"));
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    let res = c.resources.as_ref().unwrap();
    for key in ["cpu", "memory"] {
        assert!(res.requests.as_ref().unwrap().contains_key(key));
        assert!(res.limits.as_ref().unwrap().contains_key(key));
    }
    // Probes name a declared port.
    let ports: Vec<_> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.name.clone())
        .collect();
    for p in [&live.port, &ready.port] {
        match p {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => {
                assert!(ports.contains(s))
            }
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(_) => {
                panic!("probe by number")
            }
        }
    }
}

#[test]
fn hub_controller_is_ha_leader_elected_and_locked_down() {
    for opts in all_variants()
        .into_iter()
        .filter(|o| o.role == InstallRole::Hub)
    {
        let objs = render_objects(&opts).unwrap();
        let d: Deployment = typed(find(&objs, "Deployment", CONTROLLER_NAME));
        let spec = d.spec.unwrap();
        assert_eq!(spec.replicas, Some(2));
        let args = spec.template.spec.as_ref().unwrap().containers[0]
            .args
            .clone()
            .unwrap();
        assert!(args.contains(&"--leader-elect".to_owned()), "{args:?}");
        check_pod(&spec.template, &opts.image, CONTROLLER_NAME);
        let pdb: PodDisruptionBudget = typed(find(&objs, "PodDisruptionBudget", CONTROLLER_NAME));
        let pdb = pdb.spec.unwrap();
        assert_eq!(
            pdb.min_available,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
        );
        assert_eq!(
            pdb.selector.unwrap().match_labels,
            spec.selector.match_labels
        );
        let svc: Service = typed(find(
            &objs,
            "Service",
            &format!("{CONTROLLER_NAME}-metrics"),
        ));
        assert_eq!(
            svc.spec.unwrap().selector,
            spec.selector.match_labels.clone()
        );
    }
}

#[test]
fn member_dns_proxy_serves_port_53_from_5353() {
    for opts in all_variants()
        .into_iter()
        .filter(|o| o.role == InstallRole::Member)
    {
        let objs = render_objects(&opts).unwrap();
        let (template, selector) = match opts.dns_mode {
            DnsMode::Deployment => {
                let d: Deployment = typed(find(&objs, "Deployment", DNS_PROXY_NAME));
                let s = d.spec.unwrap();
                assert_eq!(s.replicas, Some(2));
                let _pdb: PodDisruptionBudget =
                    typed(find(&objs, "PodDisruptionBudget", DNS_PROXY_NAME));
                (s.template, s.selector)
            }
            DnsMode::Daemonset => {
                let d: DaemonSet = typed(find(&objs, "DaemonSet", DNS_PROXY_NAME));
                assert!(!objs.iter().any(|o| o["kind"] == "Deployment"));
                let s = d.spec.unwrap();
                (s.template, s.selector)
            }
        };
        check_pod(&template, &opts.dns_proxy_image, DNS_PROXY_NAME);
        let c = &template.spec.as_ref().unwrap().containers[0];
        let args = c.args.clone().unwrap().join(" ");
        match &opts.dns_grpc {
            None => assert!(args.contains("--source kube"), "{args}"),
            Some(g) => assert!(args.contains(&format!("--source grpc:{}", g.url)), "{args}"),
        }
        assert!(args.contains("--listen 0.0.0.0:5353"), "{args}");
        let svc: Service = typed(find(&objs, "Service", DNS_PROXY_NAME));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.selector, selector.match_labels);
        let mut dns: Vec<(String, i32)> = Vec::new();
        for p in spec.ports.unwrap() {
            if p.port == 53 {
                let target = match p.target_port.unwrap() {
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s,
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => {
                        i.to_string()
                    }
                };
                let cp = c
                    .ports
                    .iter()
                    .flatten()
                    .find(|cp| cp.name.as_deref() == Some(&target))
                    .unwrap();
                assert_eq!(cp.container_port, 5353);
                assert_eq!(cp.protocol, p.protocol);
                dns.push((p.protocol.unwrap(), cp.container_port));
            }
        }
        dns.sort();
        assert_eq!(
            dns,
            vec![("TCP".to_owned(), 5353), ("UDP".to_owned(), 5353)]
        );
        if let (Some(c), Some(n)) = (&opts.cluster, &opts.network) {
            let labels = template.metadata.unwrap().labels.unwrap();
            assert_eq!(labels.get("isthmus.io/cluster"), Some(c));
            assert_eq!(labels.get("topology.istio.io/network"), Some(n));
        }
    }
}

#[test]
fn member_token_secret_belongs_to_the_member_service_account() {
    let opts = InstallOptions::defaults(InstallRole::Member, Some("east"), Some("n1"));
    let objs = render_objects(&opts).unwrap();
    let s: Secret = typed(find(&objs, "Secret", "isthmus-member-token"));
    assert_eq!(
        s.type_.as_deref(),
        Some("kubernetes.io/service-account-token")
    );
    assert_eq!(
        s.metadata
            .annotations
            .unwrap()
            .get("kubernetes.io/service-account.name")
            .map(String::as_str),
        Some(MEMBER_SA)
    );
    let _sa: ServiceAccount = typed(find(&objs, "ServiceAccount", MEMBER_SA));
}

/// The rules of the ClusterRole named `name`, and of each Role named `name`, with the binding
/// checked to point at the ServiceAccount `name`.
fn installed_rules(
    objs: &[Value],
    name: &str,
    install_ns: &str,
) -> (Vec<PolicyRule>, Vec<(String, Vec<PolicyRule>)>) {
    let mut cluster_rules = Vec::new();
    if let Some(cr) = objs
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == name)
    {
        let cr: ClusterRole = typed(cr);
        let crb: ClusterRoleBinding = typed(find(objs, "ClusterRoleBinding", name));
        assert_eq!(crb.role_ref.name, name);
        let subj = crb.subjects.unwrap();
        assert_eq!(
            (subj[0].kind.as_str(), subj[0].name.as_str()),
            ("ServiceAccount", name)
        );
        assert_eq!(subj[0].namespace.as_deref(), Some(install_ns));
        cluster_rules = cr.rules.unwrap_or_default();
    }
    let mut roles = Vec::new();
    for o in objs
        .iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["name"] == name)
    {
        let r: Role = typed(o);
        let ns = r.metadata.namespace.clone().unwrap();
        let rb = objs
            .iter()
            .find(|b| {
                b["kind"] == "RoleBinding"
                    && b["metadata"]["name"] == name
                    && b["metadata"]["namespace"] == ns.as_str()
            })
            .unwrap();
        let rb: RoleBinding = typed(rb);
        assert_eq!(rb.role_ref.kind, "Role");
        assert_eq!(
            rb.subjects.unwrap()[0].namespace.as_deref(),
            Some(install_ns)
        );
        roles.push((ns, r.rules.unwrap_or_default()));
    }
    (cluster_rules, roles)
}

fn allowed(
    cluster: &[PolicyRule],
    roles: &[(String, Vec<PolicyRule>)],
    req: &ApiRequest,
    install_ns: &str,
) -> bool {
    let name = req.names.first().copied().unwrap_or("");
    match &req.scope {
        Scope::Cluster => rbac_allows_named(
            cluster,
            req.group,
            req.resource,
            req.verb,
            req.subresource,
            name,
        ),
        Scope::Namespace(ns) => {
            let ns = if ns == rbac::INSTALL_NAMESPACE {
                install_ns
            } else {
                ns
            };
            rbac_allows_named(
                cluster,
                req.group,
                req.resource,
                req.verb,
                req.subresource,
                name,
            ) || roles.iter().any(|(rns, rules)| {
                rns == ns
                    && rbac_allows_named(
                        rules,
                        req.group,
                        req.resource,
                        req.verb,
                        req.subresource,
                        name,
                    )
            })
        }
    }
}

fn rule_count(cluster: &[PolicyRule], roles: &[(String, Vec<PolicyRule>)]) -> usize {
    cluster
        .iter()
        .chain(roles.iter().flat_map(|(_, r)| r))
        .map(|r| r.verbs.len())
        .sum()
}

#[test]
fn installed_rbac_allows_every_request_and_grants_nothing_else() {
    for opts in all_variants() {
        let objs = render_objects(&opts).unwrap();
        let ns = opts.namespace.as_str();
        let sets: Vec<(&str, Vec<ApiRequest>)> = match opts.role {
            InstallRole::Hub => vec![(CONTROLLER_NAME, rbac::hub_requests())],
            InstallRole::Member => vec![
                (MEMBER_SA, rbac::member_requests()),
                // `--source grpc:` reads nothing from the member's API: no grants at all.
                (
                    DNS_PROXY_NAME,
                    if opts.dns_grpc.is_some() {
                        Vec::new()
                    } else {
                        rbac::dns_proxy_requests()
                    },
                ),
            ],
        };
        for (name, reqs) in sets {
            let (cluster, roles) = installed_rules(&objs, name, ns);
            for req in &reqs {
                assert!(
                    allowed(&cluster, &roles, req, ns),
                    "{name}: not allowed: {req:?}"
                );
            }
            // One granted verb per distinct (group, resource, names, verb, scope) request.
            let mut distinct: Vec<_> = reqs
                .iter()
                .map(|r| {
                    let scope = match &r.scope {
                        Scope::Namespace(n) if n == rbac::INSTALL_NAMESPACE => {
                            Scope::Namespace(ns.to_owned())
                        }
                        s => s.clone(),
                    };
                    (r.group, r.rule_resource(), r.names.clone(), r.verb, scope)
                })
                .collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(
                rule_count(&cluster, &roles),
                distinct.len(),
                "{name}: extra grants"
            );
            // No wildcards anywhere.
            for r in cluster.iter().chain(roles.iter().flat_map(|(_, r)| r)) {
                assert!(!r.verbs.iter().any(|v| v == "*"), "{name}: {r:?}");
                assert!(
                    !r.resources.iter().flatten().any(|v| v == "*"),
                    "{name}: {r:?}"
                );
                assert!(
                    !r.api_groups.iter().flatten().any(|v| v == "*"),
                    "{name}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn member_rbac_covers_every_kind_the_applier_writes() {
    // The applier maps apiVersion/kind to resources with `apply::api_resource`; every kind the
    // controller writes must be patchable (server-side apply) and prunable where it is written.
    let reqs = rbac::member_requests();
    let opts = InstallOptions::defaults(InstallRole::Member, None, None);
    let objs = render_objects(&opts).unwrap();
    let (cluster, roles) = installed_rules(&objs, MEMBER_SA, &opts.namespace);
    for (api_version, kind) in rbac::MEMBER_APPLIED_KINDS {
        let ar = mesh_controller::resource::api_resource(api_version, kind);
        assert!(
            reqs.iter()
                .any(|r| r.group == ar.group && r.resource == ar.plural && r.verb == "patch"),
            "{kind}: no patch request for {}/{}",
            ar.group,
            ar.plural
        );
        // Prune lists across namespaces by the ownership label.
        let list = rbac_allows_named(&cluster, &ar.group, &ar.plural, "list", "", "");
        assert!(list, "{kind}: cannot list {}", ar.plural);
        let ns = "";
        let named = if kind == "Namespace" {
            "istio-system"
        } else {
            "x"
        };
        for verb in ["get", "patch"] {
            let ok = rbac_allows_named(&cluster, &ar.group, &ar.plural, verb, "", named)
                || roles.iter().any(|(rns, r)| {
                    rns == ns && rbac_allows_named(r, &ar.group, &ar.plural, verb, "", named)
                });
            assert!(ok, "{kind}: cannot {verb}");
        }
    }
    // ServiceExport status goes through the status subresource.
    assert!(rbac_allows_named(
        &cluster,
        "multicluster.x-k8s.io",
        "serviceexports",
        "patch",
        "status",
        ""
    ));
    assert!(!rbac_allows_named(
        &cluster,
        "multicluster.x-k8s.io",
        "serviceexports",
        "patch",
        "",
        ""
    ));
    // Users' Secrets elsewhere stay unreadable by name; only istio-system is writable.
    assert!(!rbac_allows_named(&cluster, "", "secrets", "get", "", "x"));
    assert!(!rbac_allows_named(
        &cluster, "", "secrets", "patch", "", "x"
    ));
}

#[test]
fn dns_proxy_reads_only_imports_and_slices() {
    let opts = InstallOptions::defaults(InstallRole::Member, None, None);
    let objs = render_objects(&opts).unwrap();
    let (cluster, roles) = installed_rules(&objs, DNS_PROXY_NAME, &opts.namespace);
    assert!(roles.is_empty());
    for verb in ["get", "list", "watch"] {
        assert!(rbac_allows_named(
            &cluster,
            "multicluster.x-k8s.io",
            "serviceimports",
            verb,
            "",
            ""
        ));
        assert!(rbac_allows_named(
            &cluster,
            "discovery.k8s.io",
            "endpointslices",
            verb,
            "",
            ""
        ));
    }
    for verb in ["create", "patch", "update", "delete"] {
        assert!(!rbac_allows_named(
            &cluster,
            "multicluster.x-k8s.io",
            "serviceimports",
            verb,
            "",
            ""
        ));
    }
    assert!(!rbac_allows_named(&cluster, "", "secrets", "get", "", ""));
}

#[test]
fn hub_kubeconfig_uses_the_pods_service_account() {
    let opts = InstallOptions::defaults(InstallRole::Hub, None, None);
    let objs = render_objects(&opts).unwrap();
    let cm: ConfigMap = typed(find(&objs, "ConfigMap", "isthmus-hub-kubeconfig"));
    let text = cm.data.unwrap().remove("kubeconfig").unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("hub"));
    let cluster = kc.clusters[0].cluster.clone().unwrap();
    assert_eq!(
        cluster.server.as_deref(),
        Some("https://kubernetes.default.svc")
    );
    assert_eq!(
        cluster.certificate_authority.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    );
    let user = kc.auth_infos[0].auth_info.clone().unwrap();
    assert_eq!(
        user.token_file.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/token")
    );
    // The Deployment hands it to the controller as the Lease cluster, in the install namespace.
    let d: Deployment = typed(find(&objs, "Deployment", CONTROLLER_NAME));
    let args = d.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap()
        .join(" ");
    assert!(
        args.contains("--lease-kubeconfig /etc/isthmus/hub/kubeconfig"),
        "{args}"
    );
    assert!(args.contains("--lease-namespace isthmus-system"), "{args}");
    assert!(
        args.contains("--clusterset /etc/isthmus/clusterset/clusterset.yaml"),
        "{args}"
    );
}
