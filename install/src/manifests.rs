//! The hub and member manifests, as JSON values in a stable order.
//!
//! Nothing here carries the controller's ownership label
//! ([`isthmus_api::labels::MANAGED_BY`]`=`[`isthmus_api::labels::MANAGED_BY_VALUE`]): the
//! controller prunes objects with that label, and what the user installs must never be pruned.

use isthmus_api::labels::ISTIO_NETWORK;
use serde_json::{Value, json};

use super::rbac::{self, Grants};
use super::{DnsMode, InstallOptions};

/// The controller's ServiceAccount, ClusterRole and Deployment name in the hub.
pub const CONTROLLER_NAME: &str = "isthmus-mesh-controller";
/// The member-side ServiceAccount whose token the hub's kubeconfig for the member uses.
pub const MEMBER_SA: &str = "isthmus-member";
/// The ClusterRole (and binding) giving [`MEMBER_SA`] what propagation writes
/// (`install --role member --propagation`).
pub const MEMBER_PROPAGATION_ROLE: &str = "isthmus-member-propagation";
/// The long-lived token Secret of [`MEMBER_SA`].
pub const MEMBER_TOKEN_SECRET: &str = "isthmus-member-token";
/// The DNS proxy's ServiceAccount, workload and Service name.
pub const DNS_PROXY_NAME: &str = "isthmus-dns-proxy";
/// Port of the controller's `/healthz`, `/readyz` and `/metrics`.
pub const CONTROLLER_HTTP_PORT: u16 = 9090;
/// Port the DNS proxy listens on inside its pod (UDP and TCP).
pub const DNS_PROXY_PORT: u16 = 5353;
/// Port of the DNS proxy's `/healthz`, `/readyz` and `/metrics`.
pub const DNS_PROXY_HTTP_PORT: u16 = 9153;
/// The Secret the user creates in the hub with `clusterset.yaml` and the member kubeconfigs
/// it names (paths relative to the file, so plain key names).
pub const CLUSTERSET_SECRET: &str = "isthmus-clusterset";
/// Key of the clusterset file in [`CLUSTERSET_SECRET`].
pub const CLUSTERSET_KEY: &str = "clusterset.yaml";
/// Where [`CLUSTERSET_SECRET`] is mounted in the controller's pods.
pub const CLUSTERSET_DIR: &str = "/etc/isthmus/clusterset";
/// The ConfigMap holding the in-cluster kubeconfig the controller uses for its Lease.
pub const HUB_KUBECONFIG_CONFIGMAP: &str = "isthmus-hub-kubeconfig";
/// Where [`HUB_KUBECONFIG_CONFIGMAP`] is mounted.
pub const HUB_KUBECONFIG_DIR: &str = "/etc/isthmus/hub";
/// The in-cluster ServiceAccount credentials every pod gets.
pub const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Label carrying the member's cluster ID on member-side objects.
pub const CLUSTER_LABEL: &str = "isthmus.io/cluster";
/// The hub Service in front of the controllers' discovery gRPC API.
pub const DISCOVERY_SERVICE: &str = "isthmus-discovery";
/// Port of the discovery API, in the pod and on [`DISCOVERY_SERVICE`] (the port of
/// [`crate::discovery::DEFAULT_LISTEN`]).
pub const DISCOVERY_PORT: u16 = 8443;
/// The `kubernetes.io/tls` Secret (with `ca.crt`) holding the controller's server certificate,
/// as `isthmus ca leaf --server-dns ... --format secret` names it.
pub const DISCOVERY_TLS_SECRET: &str = "isthmus-discovery-tls";
/// Secret holding the clusterset root (`root-cert.pem`, `root-key.pem`) with `--clusterset-ca`.
pub const CA_ROOT_SECRET: &str = "isthmus-ca-root";
/// Where [`CA_ROOT_SECRET`] is mounted in the controller's pods.
pub const CA_ROOT_DIR: &str = "/etc/isthmus/ca-root";
/// Where [`DISCOVERY_TLS_SECRET`] is mounted in the controller's pods.
pub const DISCOVERY_TLS_DIR: &str = "/etc/isthmus/discovery-tls";
/// The `kubernetes.io/tls` Secret (with `ca.crt`) holding a DNS proxy's client certificate, as
/// `isthmus ca leaf --dns-proxy-cluster ... --format secret` names it.
pub const DNS_PROXY_TLS_SECRET: &str = "isthmus-dns-proxy-tls";
/// Where [`DNS_PROXY_TLS_SECRET`] is mounted in the DNS proxy's pods.
pub const DNS_PROXY_TLS_DIR: &str = "/etc/isthmus/dns-proxy-tls";
/// User and group the containers run as (the distroless `nonroot` user).
pub const RUN_AS: i64 = 65532;

/// One file of `deploy/<role>/`: its name and its objects.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestFile {
    /// File name, e.g. `rbac.yaml`.
    pub file: &'static str,
    /// The objects, in apply order.
    pub objects: Vec<Value>,
}

fn labels(name: &str, component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "isthmus",
        "app.kubernetes.io/version": super::VERSION,
    })
}

fn selector(name: &str) -> Value {
    json!({ "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "isthmus" })
}

fn with_member_labels(mut labels: Value, opts: &InstallOptions) -> Value {
    if let Some(obj) = labels.as_object_mut() {
        if let Some(c) = &opts.cluster {
            obj.insert(CLUSTER_LABEL.into(), json!(c));
        }
        if let Some(n) = &opts.network {
            obj.insert(ISTIO_NETWORK.into(), json!(n));
        }
    }
    labels
}

/// The install namespace.
pub fn namespace(opts: &InstallOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": opts.namespace, "labels": { "app.kubernetes.io/part-of": "isthmus" } },
    })
}

fn service_account(name: &str, labels_v: Value, opts: &InstallOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": name, "namespace": opts.namespace, "labels": labels_v },
    })
}

/// ClusterRole + ClusterRoleBinding for the cluster-wide rules, then a Role + RoleBinding per
/// namespace of namespaced rules.
fn rbac_objects(name: &str, component: &str, grants: &Grants, opts: &InstallOptions) -> Vec<Value> {
    let subject = json!([{ "kind": "ServiceAccount", "name": name, "namespace": opts.namespace }]);
    let mut out = Vec::new();
    if !grants.cluster.is_empty() {
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": { "name": name, "labels": labels(name, component) },
            "rules": grants.cluster,
        }));
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": { "name": name, "labels": labels(name, component) },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name },
            "subjects": subject,
        }));
    }
    for (ns, rules) in &grants.namespaced {
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": { "name": name, "namespace": ns, "labels": labels(name, component) },
            "rules": rules,
        }));
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": { "name": name, "namespace": ns, "labels": labels(name, component) },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
            "subjects": subject,
        }));
    }
    out
}

fn pod_security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        // Secret volumes are owned by this group, so their 0440 files are readable.
        "fsGroup": RUN_AS,
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

fn container_security_context() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

fn http_probe(path: &str, initial_delay: i32, period: i32) -> Value {
    json!({
        "httpGet": { "path": path, "port": "http" },
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    })
}

fn spread(name: &str) -> Value {
    json!({
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": { "matchLabels": selector(name) },
                },
            }],
        },
    })
}

fn pdb(name: &str, component: &str, opts: &InstallOptions) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": { "name": name, "namespace": opts.namespace, "labels": labels(name, component) },
        "spec": { "minAvailable": 1, "selector": { "matchLabels": selector(name) } },
    })
}

/// The arguments the controller Deployment passes to `mesh-controller`.
pub fn controller_args(opts: &InstallOptions) -> Vec<String> {
    // With propagation the controller runs in hub mode: members come from MemberClusters.
    let members = if opts.propagation {
        [
            "--hub-kubeconfig".into(),
            format!("{HUB_KUBECONFIG_DIR}/kubeconfig"),
        ]
    } else {
        [
            "--clusterset".into(),
            format!("{CLUSTERSET_DIR}/{CLUSTERSET_KEY}"),
        ]
    };
    let [flag, path] = members;
    let mut args = vec![
        "run".into(),
        flag,
        path,
        "--metrics-listen".into(),
        format!("0.0.0.0:{CONTROLLER_HTTP_PORT}"),
        "--leader-elect".into(),
        "--lease-kubeconfig".into(),
        format!("{HUB_KUBECONFIG_DIR}/kubeconfig"),
        "--lease-namespace".into(),
        opts.namespace.clone(),
    ];
    if opts.discovery {
        args.extend([
            "--discovery-listen".into(),
            format!("0.0.0.0:{DISCOVERY_PORT}"),
            "--discovery-tls-cert".into(),
            format!("{DISCOVERY_TLS_DIR}/tls.crt"),
            "--discovery-tls-key".into(),
            format!("{DISCOVERY_TLS_DIR}/tls.key"),
            "--discovery-client-ca".into(),
            format!("{DISCOVERY_TLS_DIR}/ca.crt"),
            "--trust-domain".into(),
            opts.trust_domain.clone(),
        ]);
    } else {
        args.extend(["--discovery-listen".into(), "none".into()]);
    }
    if opts.istio_wiring {
        args.push("--istio-wiring".into());
    }
    if opts.clusterset_ca {
        args.extend(["--ca-root".into(), CA_ROOT_DIR.into()]);
    }
    if opts.restart_istiod {
        args.push("--restart-istiod".into());
    }
    args
}

/// The arguments the DNS proxy workload passes to `dns-proxy`: `--source kube`, or with
/// [`InstallOptions::dns_grpc`] the controller's discovery stream with the client certificate
/// of [`DNS_PROXY_TLS_SECRET`].
pub fn dns_proxy_args(opts: &InstallOptions) -> Vec<String> {
    let mut args = vec!["--listen".into(), format!("0.0.0.0:{DNS_PROXY_PORT}")];
    match &opts.dns_grpc {
        None => args.extend(["--source".into(), "kube".into()]),
        Some(g) => {
            args.extend(["--source".into(), format!("grpc:{}", g.url)]);
            if let Some(c) = &opts.cluster {
                args.extend(["--cluster".into(), c.clone()]);
            }
            args.extend([
                "--grpc-ca".into(),
                format!("{DNS_PROXY_TLS_DIR}/ca.crt"),
                "--grpc-cert".into(),
                format!("{DNS_PROXY_TLS_DIR}/tls.crt"),
                "--grpc-key".into(),
                format!("{DNS_PROXY_TLS_DIR}/tls.key"),
            ]);
            if let Some(n) = &g.server_name {
                args.extend(["--grpc-server-name".into(), n.clone()]);
            }
        }
    }
    args.extend([
        "--metrics-listen".into(),
        format!("0.0.0.0:{DNS_PROXY_HTTP_PORT}"),
    ]);
    args
}

fn controller_deployment(opts: &InstallOptions) -> Value {
    let name = CONTROLLER_NAME;
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": opts.namespace, "labels": labels(name, "controller") },
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": { "matchLabels": selector(name) },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1, "maxSurge": 1 } },
            "template": {
                "metadata": { "labels": labels(name, "controller") },
                "spec": {
                    "serviceAccountName": name,
                    "securityContext": pod_security_context(),
                    "affinity": spread(name),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{
                        "name": "mesh-controller",
                        "image": opts.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": controller_args(opts),
                        "env": [
                            { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                            { "name": "POD_NAMESPACE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } },
                            { "name": "RUST_LOG", "value": "info" },
                        ],
                        "ports": [{ "name": "http", "containerPort": CONTROLLER_HTTP_PORT, "protocol": "TCP" }],
                        "livenessProbe": http_probe("/healthz", 5, 10),
                        "readinessProbe": http_probe("/readyz", 2, 5),
                        "resources": {
                            "requests": { "cpu": "100m", "memory": "128Mi" },
                            "limits": { "cpu": "1", "memory": "512Mi" },
                        },
                        "securityContext": container_security_context(),
                        "volumeMounts": [
                            { "name": "clusterset", "mountPath": CLUSTERSET_DIR, "readOnly": true },
                            { "name": "hub-kubeconfig", "mountPath": HUB_KUBECONFIG_DIR, "readOnly": true },
                        ],
                    }],
                    "volumes": [
                        { "name": "clusterset", "secret": { "secretName": CLUSTERSET_SECRET, "defaultMode": 0o440 } },
                        { "name": "hub-kubeconfig", "configMap": { "name": HUB_KUBECONFIG_CONFIGMAP } },
                    ],
                },
            },
        },
    });
    if opts.discovery {
        add_secret_volume(
            &mut d,
            "discovery-tls",
            DISCOVERY_TLS_SECRET,
            DISCOVERY_TLS_DIR,
        );
        if let Some(ports) = d
            .pointer_mut("/spec/template/spec/containers/0/ports")
            .and_then(Value::as_array_mut)
        {
            ports.push(
                json!({ "name": "grpc", "containerPort": DISCOVERY_PORT, "protocol": "TCP" }),
            );
        }
    }
    if opts.clusterset_ca {
        add_secret_volume(&mut d, "ca-root", CA_ROOT_SECRET, CA_ROOT_DIR);
    }
    if opts.propagation {
        // hub mode reads no clusterset file
        let spec = d.pointer_mut("/spec/template/spec");
        if let Some(spec) = spec.and_then(Value::as_object_mut) {
            if let Some(v) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
                v.retain(|e| e["name"] != "clusterset");
            }
            if let Some(mounts) = spec
                .get_mut("containers")
                .and_then(|c| c.get_mut(0))
                .and_then(|c| c.get_mut("volumeMounts"))
                .and_then(Value::as_array_mut)
            {
                mounts.retain(|m| m["name"] != "clusterset");
            }
        }
    }
    d
}

/// Mounts Secret `secret` read-only at `dir` in the first container of workload `w`.
fn add_secret_volume(w: &mut Value, volume: &str, secret: &str, dir: &str) {
    let path = if w.pointer("/spec/template/spec").is_some() {
        "/spec/template/spec"
    } else {
        "/spec"
    };
    if let Some(spec) = w.pointer_mut(path).and_then(Value::as_object_mut) {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(v) = volumes.as_array_mut() {
            v.push(
                json!({ "name": volume, "secret": { "secretName": secret, "defaultMode": 0o440 } }),
            );
        }
        if let Some(c) = spec
            .get_mut("containers")
            .and_then(|c| c.get_mut(0))
            .and_then(Value::as_object_mut)
        {
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(m) = mounts.as_array_mut() {
                m.push(json!({ "name": volume, "mountPath": dir, "readOnly": true }));
            }
        }
    }
}

fn discovery_service(opts: &InstallOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": DISCOVERY_SERVICE, "namespace": opts.namespace, "labels": labels(CONTROLLER_NAME, "controller") },
        "spec": {
            "type": "ClusterIP",
            "selector": selector(CONTROLLER_NAME),
            "ports": [{ "name": "grpc", "port": DISCOVERY_PORT, "targetPort": "grpc", "protocol": "TCP" }],
        },
    })
}

/// A kubeconfig for the hub's own API server with the pod's ServiceAccount credentials (the
/// token file is re-read as the kubelet rotates it).
pub fn in_cluster_kubeconfig(namespace: &str) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: hub\n  cluster:\n    server: https://kubernetes.default.svc\n    certificate-authority: {SA_DIR}/ca.crt\n\
         users:\n\
         - name: {CONTROLLER_NAME}\n  user:\n    tokenFile: {SA_DIR}/token\n\
         contexts:\n\
         - name: hub\n  context:\n    cluster: hub\n    user: {CONTROLLER_NAME}\n    namespace: {namespace}\n\
         current-context: hub\n"
    )
}

fn hub_kubeconfig_configmap(opts: &InstallOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": HUB_KUBECONFIG_CONFIGMAP, "namespace": opts.namespace, "labels": labels(CONTROLLER_NAME, "controller") },
        "data": { "kubeconfig": in_cluster_kubeconfig(&opts.namespace) },
    })
}

fn controller_metrics_service(opts: &InstallOptions) -> Value {
    let name = format!("{CONTROLLER_NAME}-metrics");
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "namespace": opts.namespace, "labels": labels(CONTROLLER_NAME, "controller") },
        "spec": {
            "type": "ClusterIP",
            "selector": selector(CONTROLLER_NAME),
            "ports": [{ "name": "http-metrics", "port": CONTROLLER_HTTP_PORT, "targetPort": "http", "protocol": "TCP" }],
        },
    })
}

/// `deploy/hub/`: the controller in the hub cluster.
pub fn hub_files(opts: &InstallOptions) -> Vec<ManifestFile> {
    let mut requests = rbac::hub_requests();
    if opts.propagation {
        requests.extend(rbac::propagation_hub_requests());
    }
    let grants = rbac::grants_for(&requests, &opts.namespace);
    let mut rbac_objs = vec![service_account(
        CONTROLLER_NAME,
        labels(CONTROLLER_NAME, "controller"),
        opts,
    )];
    rbac_objs.extend(rbac_objects(CONTROLLER_NAME, "controller", &grants, opts));
    let mut controller = vec![
        hub_kubeconfig_configmap(opts),
        controller_deployment(opts),
        pdb(CONTROLLER_NAME, "controller", opts),
        controller_metrics_service(opts),
    ];
    if opts.discovery {
        controller.push(discovery_service(opts));
    }
    vec![
        ManifestFile {
            file: "namespace.yaml",
            objects: vec![namespace(opts)],
        },
        ManifestFile {
            file: "rbac.yaml",
            objects: rbac_objs,
        },
        ManifestFile {
            file: "controller.yaml",
            objects: controller,
        },
    ]
}

fn member_token_secret(opts: &InstallOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": MEMBER_TOKEN_SECRET,
            "namespace": opts.namespace,
            "labels": with_member_labels(labels(MEMBER_SA, "member-access"), opts),
            "annotations": { "kubernetes.io/service-account.name": MEMBER_SA },
        },
    })
}

fn dns_proxy_pod_template(opts: &InstallOptions) -> Value {
    let name = DNS_PROXY_NAME;
    let mut t = json!({
        "metadata": { "labels": with_member_labels(labels(name, "dns-proxy"), opts) },
        "spec": {
            "serviceAccountName": name,
            "securityContext": pod_security_context(),
            "affinity": spread(name),
            "terminationGracePeriodSeconds": 10,
            "containers": [{
                "name": "dns-proxy",
                "image": opts.dns_proxy_image,
                "imagePullPolicy": "IfNotPresent",
                "args": dns_proxy_args(opts),
                "env": [{ "name": "RUST_LOG", "value": "info" }],
                "ports": [
                    { "name": "dns", "containerPort": DNS_PROXY_PORT, "protocol": "UDP" },
                    { "name": "dns-tcp", "containerPort": DNS_PROXY_PORT, "protocol": "TCP" },
                    { "name": "http", "containerPort": DNS_PROXY_HTTP_PORT, "protocol": "TCP" },
                ],
                "livenessProbe": http_probe("/healthz", 5, 10),
                "readinessProbe": http_probe("/readyz", 2, 5),
                "resources": {
                    "requests": { "cpu": "50m", "memory": "64Mi" },
                    "limits": { "cpu": "1", "memory": "256Mi" },
                },
                "securityContext": container_security_context(),
            }],
        },
    });
    if opts.dns_grpc.is_some() {
        // The proxy reads nothing from its own cluster's API: no token in the pod.
        t["spec"]["automountServiceAccountToken"] = json!(false);
        add_secret_volume(
            &mut t,
            "dns-proxy-tls",
            DNS_PROXY_TLS_SECRET,
            DNS_PROXY_TLS_DIR,
        );
    }
    t
}

fn dns_proxy_workload(opts: &InstallOptions) -> Value {
    let name = DNS_PROXY_NAME;
    match opts.dns_mode {
        DnsMode::Deployment => json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": name, "namespace": opts.namespace, "labels": labels(name, "dns-proxy") },
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": 5,
                "selector": { "matchLabels": selector(name) },
                "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1, "maxSurge": 1 } },
                "template": dns_proxy_pod_template(opts),
            },
        }),
        DnsMode::Daemonset => json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": { "name": name, "namespace": opts.namespace, "labels": labels(name, "dns-proxy") },
            "spec": {
                "revisionHistoryLimit": 5,
                "selector": { "matchLabels": selector(name) },
                "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1 } },
                "template": dns_proxy_pod_template(opts),
            },
        }),
    }
}

fn dns_proxy_service(opts: &InstallOptions) -> Value {
    let mut spec = json!({
        "type": "ClusterIP",
        "selector": selector(DNS_PROXY_NAME),
        "ports": [
            { "name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP" },
            { "name": "dns-tcp", "port": 53, "targetPort": "dns-tcp", "protocol": "TCP" },
            { "name": "http-metrics", "port": DNS_PROXY_HTTP_PORT, "targetPort": "http", "protocol": "TCP" },
        ],
    });
    if opts.dns_mode == DnsMode::Daemonset {
        // Every node runs a proxy: answer CoreDNS from the proxy on its own node.
        spec["internalTrafficPolicy"] = json!("Local");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": DNS_PROXY_NAME, "namespace": opts.namespace, "labels": labels(DNS_PROXY_NAME, "dns-proxy") },
        "spec": spec,
    })
}

/// Istio's reader identity in `istio-system`, for the Istio version and revision of `opts`:
/// ServiceAccount `istio-reader-service-account`, ClusterRole and ClusterRoleBinding
/// `istio-reader-clusterrole[-<rev>]-istio-system`, and the token Secret
/// `istio-reader-service-account-istio-remote-secret-token` that `istioctl
/// create-remote-secret` would create. The controller builds remote secrets from that token.
///
/// Istio's charts (base and istiod) create the first three with the same names, rules and
/// labels, and istioctl the Secret, so applying these over an existing Istio install changes
/// nothing (the objects carry Istio's labels, not Isthmus' own, for that reason). Nothing
/// here creates `istio-system`: Istio is installed first.
pub fn istio_reader_objects(opts: &InstallOptions) -> Vec<Value> {
    use gateway_config::remote_secret::{reader_rbac_for, reader_token_secret};
    let rbac = reader_rbac_for(opts.istio_version, opts.istio_revision.as_deref());
    // Serializing these k8s-openapi objects (string-keyed maps only) cannot fail.
    [
        serde_json::to_value(&rbac.service_account),
        serde_json::to_value(&rbac.cluster_role),
        serde_json::to_value(&rbac.cluster_role_binding),
        serde_json::to_value(reader_token_secret()),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect()
}

/// `deploy/member/`: the member-side access for the hub, Istio's reader identity and the DNS
/// proxy.
pub fn member_files(opts: &InstallOptions) -> Vec<ManifestFile> {
    let mut requests = rbac::member_requests();
    if opts.restart_istiod {
        requests.extend(rbac::restart_istiod_member_requests());
    }
    let member_grants = rbac::grants_for(&requests, &opts.namespace);
    let mut access = vec![
        service_account(
            MEMBER_SA,
            with_member_labels(labels(MEMBER_SA, "member-access"), opts),
            opts,
        ),
        member_token_secret(opts),
    ];
    access.extend(rbac_objects(
        MEMBER_SA,
        "member-access",
        &member_grants,
        opts,
    ));
    if opts.propagation {
        let grants = rbac::grants_for(&rbac::propagation_member_requests(), &opts.namespace);
        let labels_v = with_member_labels(labels(MEMBER_PROPAGATION_ROLE, "member-access"), opts);
        access.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": { "name": MEMBER_PROPAGATION_ROLE, "labels": labels_v },
            "rules": grants.cluster,
        }));
        access.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": { "name": MEMBER_PROPAGATION_ROLE, "labels": labels_v },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": MEMBER_PROPAGATION_ROLE },
            "subjects": [{ "kind": "ServiceAccount", "name": MEMBER_SA, "namespace": opts.namespace }],
        }));
    }

    let mut dns = vec![service_account(
        DNS_PROXY_NAME,
        labels(DNS_PROXY_NAME, "dns-proxy"),
        opts,
    )];
    if opts.dns_grpc.is_none() {
        // Only `--source kube` reads the member's API.
        let dns_grants = rbac::grants_for(&rbac::dns_proxy_requests(), &opts.namespace);
        dns.extend(rbac_objects(DNS_PROXY_NAME, "dns-proxy", &dns_grants, opts));
    }
    dns.push(dns_proxy_workload(opts));
    if opts.dns_mode == DnsMode::Deployment {
        dns.push(pdb(DNS_PROXY_NAME, "dns-proxy", opts));
    }
    dns.push(dns_proxy_service(opts));
    vec![
        ManifestFile {
            file: "namespace.yaml",
            objects: vec![namespace(opts)],
        },
        ManifestFile {
            file: "member-access.yaml",
            objects: access,
        },
        ManifestFile {
            file: "istio-reader.yaml",
            objects: istio_reader_objects(opts),
        },
        ManifestFile {
            file: "dns-proxy.yaml",
            objects: dns,
        },
    ]
}

/// The server block to add to the `coredns` ConfigMap's `Corefile` (namespace `kube-system`)
/// so CoreDNS sends `clusterset.local` questions to the DNS proxy Service at `cluster_ip`.
pub fn coredns_stub_domain(cluster_ip: &str) -> String {
    format!("clusterset.local:53 {{\n    errors\n    cache 5\n    forward . {cluster_ip}\n}}\n")
}
