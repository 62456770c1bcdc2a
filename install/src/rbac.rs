//! The Kubernetes API requests each Isthmus component makes, and the RBAC rules derived from
//! them.
//!
//! [`hub_requests`], [`member_requests`] and [`dns_proxy_requests`] are the single source of
//! truth: the ClusterRoles and Roles that `install` prints are computed from these lists by
//! [`grants_for`], so a rule exists only because some request needs it. [`rbac_allows`] answers
//! whether a set of rules allows one request, the way the Kubernetes RBAC authorizer does; tests
//! use it to check every request recorded against a cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::PolicyRule;

/// Where a request is made.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Across all namespaces, or on a cluster-scoped resource: granted by a ClusterRole bound
    /// with a ClusterRoleBinding.
    Cluster,
    /// In one namespace: granted by a Role in that namespace. The namespace is either fixed
    /// (`istio-system`) or the install namespace, written [`INSTALL_NAMESPACE`].
    Namespace(String),
}

/// Placeholder for the namespace Isthmus is installed into (`--namespace`).
pub const INSTALL_NAMESPACE: &str = "$INSTALL_NAMESPACE";

/// One kind of request: verb on a resource (and subresource), in a scope, optionally limited
/// to named objects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiRequest {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// Resource (plural).
    pub resource: &'static str,
    /// Subresource (`status`), `""` for none.
    pub subresource: &'static str,
    /// Verb: get, list, watch, create, update, patch, delete.
    pub verb: &'static str,
    /// Where the request is made.
    pub scope: Scope,
    /// Object names the request is limited to; empty for any object.
    pub names: Vec<&'static str>,
    /// Why the component makes the request (printed nowhere; for readers and test messages).
    pub why: &'static str,
}

impl ApiRequest {
    fn new(
        group: &'static str,
        resource: &'static str,
        verb: &'static str,
        why: &'static str,
    ) -> Self {
        Self {
            group,
            resource,
            subresource: "",
            verb,
            scope: Scope::Cluster,
            names: Vec::new(),
            why,
        }
    }

    fn sub(mut self, subresource: &'static str) -> Self {
        self.subresource = subresource;
        self
    }

    fn in_ns(mut self, namespace: &str) -> Self {
        self.scope = Scope::Namespace(namespace.to_owned());
        self
    }

    fn named(mut self, names: &[&'static str]) -> Self {
        self.names = names.to_vec();
        self
    }

    /// `resource` or `resource/subresource`, as written in a PolicyRule.
    pub fn rule_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

fn many(
    group: &'static str,
    resource: &'static str,
    verbs: &[&'static str],
    why: &'static str,
) -> impl Iterator<Item = ApiRequest> {
    verbs
        .iter()
        .map(move |v| ApiRequest::new(group, resource, v, why))
}

/// Verbs of a kind the controller writes with server-side apply and prunes: `get` (prune reads
/// the live object to check ownership), `list` (prune lists by the ownership label), `patch`
/// (server-side apply), `create` (server-side apply of an object that does not exist yet is
/// authorized as a create as well), `delete` (prune, with a resourceVersion precondition).
pub const APPLY_VERBS: [&str; 5] = ["get", "list", "patch", "create", "delete"];

/// The namespace Istio runs in; remote secrets, `cacerts` and the east-west Gateway live there.
pub const ISTIO_NAMESPACE: &str = "istio-system";

/// The kinds the controller writes into a member cluster, as (`apiVersion`, `kind`). The
/// applier maps them to resources with [`crate::resource::api_resource`]; a test checks that
/// [`member_requests`] grants exactly those resources.
pub const MEMBER_APPLIED_KINDS: [(&str, &str); 4] = [
    ("multicluster.x-k8s.io/v1beta1", "ServiceImport"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("about.k8s.io/v1alpha1", "ClusterProperty"),
    ("v1", "Namespace"),
];

/// What the controller does in a member cluster, with the credentials of the member-side
/// ServiceAccount (`isthmus-member`).
pub fn member_requests() -> Vec<ApiRequest> {
    let mut r = Vec::new();
    // Watches feeding the index.
    r.extend(many(
        "",
        "services",
        &["list", "watch"],
        "watch Services of exported services and the east-west gateway Service",
    ));
    r.extend(many(
        "",
        "namespaces",
        &["list", "watch"],
        "watch which namespaces exist (imports go only where the namespace exists)",
    ));
    r.extend(many(
        "multicluster.x-k8s.io",
        "serviceexports",
        &["list", "watch"],
        "watch ServiceExports",
    ));
    r.push(
        ApiRequest::new(
            "multicluster.x-k8s.io",
            "serviceexports",
            "patch",
            "write ServiceExport conditions (server-side apply)",
        )
        .sub("status"),
    );
    // ServiceImports and imported EndpointSlices: watched (adoption of VIPs, prune) and written.
    r.extend(many(
        "multicluster.x-k8s.io",
        "serviceimports",
        &["watch"],
        "watch existing imports (VIP adoption on restart)",
    ));
    r.extend(many(
        "multicluster.x-k8s.io",
        "serviceimports",
        &APPLY_VERBS,
        "write ServiceImports and prune owned ones",
    ));
    r.push(
        ApiRequest::new(
            "multicluster.x-k8s.io",
            "serviceimports",
            "patch",
            "write ServiceImport status (the exporting clusters)",
        )
        .sub("status"),
    );
    r.extend(many(
        "discovery.k8s.io",
        "endpointslices",
        &["watch"],
        "watch EndpointSlices of exported services and owned imported slices",
    ));
    r.extend(many(
        "discovery.k8s.io",
        "endpointslices",
        &APPLY_VERBS,
        "write imported EndpointSlices and prune owned ones",
    ));
    // About API: the cluster ID and clusterset ClusterProperties.
    r.extend(many(
        "about.k8s.io",
        "clusterproperties",
        &APPLY_VERBS,
        "write the cluster.clusterset.k8s.io and clusterset.k8s.io ClusterProperties",
    ));
    // Istio multi-network wiring, all in istio-system.
    for v in ["get", "patch", "create", "delete"] {
        r.push(
            ApiRequest::new(
                "networking.istio.io",
                "gateways",
                v,
                "write the east-west Gateway",
            )
            .in_ns(ISTIO_NAMESPACE),
        );
    }
    for v in ["get", "patch", "create", "delete"] {
        r.push(
            ApiRequest::new(
                "",
                "secrets",
                v,
                "write remote secrets and cacerts (prune reads before deleting)",
            )
            .in_ns(ISTIO_NAMESPACE),
        );
    }
    // Remote secrets carry the token of Istio's reader identity, read from its token Secret
    // (the rule above: get on Secrets in istio-system).
    r.push(
        ApiRequest::new(
            "",
            "secrets",
            "get",
            "read the reader token Secret istio-reader-service-account-istio-remote-secret-token",
        )
        .in_ns(ISTIO_NAMESPACE),
    );
    // ConfigMaps, only in istio-system: istiod's root certificate is watched, the mesh
    // networks ConfigMap is written (server-side apply) and pruned by label there.
    for v in ["list", "watch", "get"] {
        r.push(
            ApiRequest::new(
                "",
                "configmaps",
                v,
                "watch istiod's istio-ca-root-cert ConfigMap",
            )
            .in_ns(ISTIO_NAMESPACE),
        );
    }
    for v in APPLY_VERBS {
        r.push(
            ApiRequest::new(
                "",
                "configmaps",
                v,
                "write the isthmus-mesh-networks ConfigMap and prune it (listed by label in istio-system)",
            )
            .in_ns(ISTIO_NAMESPACE),
        );
    }
    // Prune lists owned Gateways and Secrets by the ownership label, only in istio-system
    // (the only namespace the controller writes them to): no cluster-wide Secret access.
    r.push(
        ApiRequest::new(
            "networking.istio.io",
            "gateways",
            "list",
            "prune: list owned Gateways by label in istio-system",
        )
        .in_ns(ISTIO_NAMESPACE),
    );
    r.push(
        ApiRequest::new(
            "",
            "secrets",
            "list",
            "prune: list owned Secrets by label in istio-system",
        )
        .in_ns(ISTIO_NAMESPACE),
    );
    // The network label on istio-system (server-side apply of its metadata only). Never delete.
    r.push(
        ApiRequest::new("", "namespaces", "get", "read the istio-system Namespace")
            .named(&[ISTIO_NAMESPACE]),
    );
    r.push(
        ApiRequest::new(
            "",
            "namespaces",
            "patch",
            "label istio-system with topology.istio.io/network",
        )
        .named(&[ISTIO_NAMESPACE]),
    );
    // Events on ServiceExports entering or leaving conflict.
    r.push(ApiRequest::new(
        "",
        "events",
        "create",
        "record conflict Events on ServiceExports",
    ));
    r
}

/// Kinds the controller writes into a member only in istio-system, as (`apiVersion`, `kind`):
/// unlike [`MEMBER_APPLIED_KINDS`], their prune lists them in istio-system alone, so
/// [`member_requests`] grants them in a Role there and nowhere else.
pub const MEMBER_ISTIO_SYSTEM_APPLIED_KINDS: [(&str, &str); 3] = [
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.istio.io/v1", "Gateway"),
];

/// What the controller additionally does in a member when it restarts istiod
/// (`install --role member --restart-istiod`, with the controller's `--restart-istiod`): it
/// finds istiod's Deployment and patches its pod template annotation, all in istio-system.
pub fn restart_istiod_member_requests() -> Vec<ApiRequest> {
    ["list", "patch"]
        .iter()
        .map(|v| {
            ApiRequest::new(
                "apps",
                "deployments",
                v,
                "restart istiod: list its Deployments by label and patch their pod template annotation",
            )
            .in_ns(ISTIO_NAMESPACE)
        })
        .collect()
}

/// What the controller does in the hub cluster, with its own ServiceAccount
/// (`isthmus-mesh-controller`) through the in-cluster kubeconfig given as `--lease-kubeconfig`:
/// leader election. Member clusters are reached with the kubeconfigs of the clusterset Secret,
/// each bound to the member's `isthmus-member` ServiceAccount.
pub fn hub_requests() -> Vec<ApiRequest> {
    ["get", "create", "update"]
        .iter()
        .map(|v| {
            ApiRequest::new("coordination.k8s.io", "leases", v, "leader election")
                .in_ns(INSTALL_NAMESPACE)
        })
        .collect()
}

/// Resources (`group`, plural) propagation reads from the hub and writes into members when
/// installed with `--propagation`: the kinds of the common templates and their dependencies.
/// Templates of other kinds need the same verbs granted by hand.
pub const PROPAGATED_RESOURCES: [(&str, &str); 9] = [
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "serviceaccounts"),
    ("", "persistentvolumeclaims"),
];

/// What propagation does in a member (`install --role member --propagation`), with the
/// member-side ServiceAccount: server-side apply and prune of the propagated kinds and of
/// ServiceExports, and creating missing namespaces.
pub fn propagation_member_requests() -> Vec<ApiRequest> {
    let mut r = Vec::new();
    for (group, resource) in PROPAGATED_RESOURCES {
        r.extend(many(
            group,
            resource,
            &APPLY_VERBS,
            "propagation: write copies of hub templates and prune owned ones",
        ));
    }
    r.extend(many(
        "multicluster.x-k8s.io",
        "serviceexports",
        &APPLY_VERBS,
        "propagation: ServiceExports of propagated Services (exportServices)",
    ));
    r.extend(many(
        "",
        "namespaces",
        &["get", "create"],
        "propagation: create the namespace of a propagated object when missing",
    ));
    r
}

/// What the controller does in the hub in hub mode with propagation (`install --role hub
/// --propagation`), besides [`hub_requests`]: read the members and their kubeconfig Secrets,
/// write MemberCluster status, read the policies and write their status, read templates.
pub fn propagation_hub_requests() -> Vec<ApiRequest> {
    let mut r = Vec::new();
    r.push(ApiRequest::new(
        "isthmus.io",
        "memberclusters",
        "list",
        "hub mode: the members",
    ));
    r.push(
        ApiRequest::new(
            "isthmus.io",
            "memberclusters",
            "patch",
            "hub mode: write MemberCluster status",
        )
        .sub("status"),
    );
    r.push(
        ApiRequest::new(
            "",
            "secrets",
            "get",
            "hub mode: the members' kubeconfig Secrets",
        )
        .in_ns(INSTALL_NAMESPACE),
    );
    for resource in [
        "propagationpolicies",
        "clusterpropagationpolicies",
        "overridepolicies",
        "clusteroverridepolicies",
    ] {
        r.push(ApiRequest::new(
            "placement.isthmus.io",
            resource,
            "list",
            "propagation: read the policies",
        ));
    }
    for resource in ["propagationpolicies", "clusterpropagationpolicies"] {
        r.push(
            ApiRequest::new(
                "placement.isthmus.io",
                resource,
                "patch",
                "propagation: write the decision into the policy status",
            )
            .sub("status"),
        );
    }
    for (group, resource) in PROPAGATED_RESOURCES {
        r.extend(many(
            group,
            resource,
            &["get", "list"],
            "propagation: read templates and their dependencies",
        ));
    }
    r
}

/// What the DNS proxy does with `--source kube` in its own cluster.
pub fn dns_proxy_requests() -> Vec<ApiRequest> {
    let mut r = Vec::new();
    // Both served versions of ServiceImport are the same resource for RBAC.
    r.extend(many(
        "multicluster.x-k8s.io",
        "serviceimports",
        &["get", "list", "watch"],
        "watch ServiceImports (v1beta1, or v1alpha1)",
    ));
    r.extend(many(
        "discovery.k8s.io",
        "endpointslices",
        &["get", "list", "watch"],
        "watch MCS EndpointSlices",
    ));
    r
}

/// RBAC rules, cluster-wide and per namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grants {
    /// Rules of the ClusterRole.
    pub cluster: Vec<PolicyRule>,
    /// Rules of the Role in each namespace (namespace already resolved).
    pub namespaced: BTreeMap<String, Vec<PolicyRule>>,
}

impl Grants {
    /// Whether a request in `namespace` (`""` for cluster scope) is allowed by the ClusterRole
    /// or by the Role of that namespace.
    pub fn allows(
        &self,
        namespace: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        verb: &str,
        name: &str,
    ) -> bool {
        rbac_allows_named(&self.cluster, group, resource, verb, subresource, name)
            || (!namespace.is_empty()
                && self.namespaced.get(namespace).is_some_and(|rules| {
                    rbac_allows_named(rules, group, resource, verb, subresource, name)
                }))
    }
}

/// Builds the rules for `requests`, resolving [`INSTALL_NAMESPACE`] to `install_namespace`.
/// Requests sharing group, resource and names are merged into one rule; rules come out sorted,
/// so the output is stable.
pub fn grants_for(requests: &[ApiRequest], install_namespace: &str) -> Grants {
    type Key = (&'static str, String, Vec<&'static str>);
    let mut cluster: BTreeMap<Key, Vec<&'static str>> = BTreeMap::new();
    let mut namespaced: BTreeMap<String, BTreeMap<Key, Vec<&'static str>>> = BTreeMap::new();
    for req in requests {
        let key = (req.group, req.rule_resource(), req.names.clone());
        let verbs = match &req.scope {
            Scope::Cluster => cluster.entry(key).or_default(),
            Scope::Namespace(ns) => {
                let ns = if ns == INSTALL_NAMESPACE {
                    install_namespace
                } else {
                    ns
                };
                namespaced
                    .entry(ns.to_owned())
                    .or_default()
                    .entry(key)
                    .or_default()
            }
        };
        if !verbs.contains(&req.verb) {
            verbs.push(req.verb);
        }
    }
    Grants {
        cluster: to_rules(cluster),
        namespaced: namespaced
            .into_iter()
            .map(|(ns, m)| (ns, to_rules(m)))
            .collect(),
    }
}

fn verb_rank(v: &str) -> usize {
    const ORDER: [&str; 8] = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    ORDER.iter().position(|o| *o == v).unwrap_or(ORDER.len())
}

fn to_rules(
    m: BTreeMap<(&'static str, String, Vec<&'static str>), Vec<&'static str>>,
) -> Vec<PolicyRule> {
    m.into_iter()
        .map(|((group, resource, names), mut verbs)| {
            verbs.sort_by_key(|v| (verb_rank(v), *v));
            PolicyRule {
                api_groups: Some(vec![group.to_owned()]),
                resources: Some(vec![resource]),
                resource_names: (!names.is_empty())
                    .then(|| names.iter().map(|n| (*n).to_owned()).collect()),
                verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
                non_resource_urls: None,
            }
        })
        .collect()
}

fn matches(list: Option<&Vec<String>>, value: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|x| x == "*" || x == value))
}

/// Whether `rules` allow `verb` on `resource` (and `subresource`, `""` for none) in `group`
/// (`""` for core) on any object: a rule limited by `resourceNames` does not count. Wildcards
/// (`*`) in groups, resources and verbs are honoured, as the RBAC authorizer does.
pub fn rbac_allows(
    rules: &[PolicyRule],
    group: &str,
    resource: &str,
    verb: &str,
    subresource: &str,
) -> bool {
    rbac_allows_named(rules, group, resource, verb, subresource, "")
}

/// Like [`rbac_allows`] for the object `name` (`""` when the request names no object, as
/// list, watch and create do): rules limited by `resourceNames` apply only when they list it.
pub fn rbac_allows_named(
    rules: &[PolicyRule],
    group: &str,
    resource: &str,
    verb: &str,
    subresource: &str,
    name: &str,
) -> bool {
    let full = if subresource.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}/{subresource}")
    };
    rules.iter().any(|rule| {
        let names_ok = match &rule.resource_names {
            None => true,
            Some(n) if n.is_empty() => true,
            Some(n) => !name.is_empty() && n.iter().any(|x| x == name),
        };
        matches(rule.api_groups.as_ref(), group)
            && matches(rule.resources.as_ref(), &full)
            && (rule.verbs.iter().any(|v| v == "*" || v == verb))
            && names_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(groups.iter().map(|s| (*s).to_owned()).collect()),
            resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
            verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn allows_matches_group_resource_subresource_and_verb() {
        let rules = vec![
            rule(&[""], &["services"], &["list", "watch"]),
            rule(
                &["multicluster.x-k8s.io"],
                &["serviceexports/status"],
                &["patch"],
            ),
        ];
        assert!(rbac_allows(&rules, "", "services", "list", ""));
        assert!(!rbac_allows(&rules, "", "services", "delete", ""));
        assert!(!rbac_allows(&rules, "apps", "services", "list", ""));
        assert!(rbac_allows(
            &rules,
            "multicluster.x-k8s.io",
            "serviceexports",
            "patch",
            "status"
        ));
        assert!(!rbac_allows(
            &rules,
            "multicluster.x-k8s.io",
            "serviceexports",
            "patch",
            ""
        ));
    }

    #[test]
    fn wildcards_are_honoured() {
        let rules = vec![rule(&["*"], &["*"], &["get"])];
        assert!(rbac_allows(&rules, "apps", "deployments", "get", ""));
        assert!(!rbac_allows(&rules, "apps", "deployments", "list", ""));
    }

    #[test]
    fn resource_names_limit_the_rule() {
        let mut r = rule(&[""], &["namespaces"], &["patch"]);
        r.resource_names = Some(vec!["istio-system".into()]);
        let rules = vec![r];
        assert!(rbac_allows_named(
            &rules,
            "",
            "namespaces",
            "patch",
            "",
            "istio-system"
        ));
        assert!(!rbac_allows_named(
            &rules,
            "",
            "namespaces",
            "patch",
            "",
            "default"
        ));
        assert!(!rbac_allows(&rules, "", "namespaces", "patch", ""));
    }

    #[test]
    fn grants_merge_verbs_and_resolve_the_install_namespace() {
        let g = grants_for(&hub_requests(), "ops");
        let ops = g.namespaced.get("ops").cloned().unwrap_or_default();
        assert!(rbac_allows(
            &ops,
            "coordination.k8s.io",
            "leases",
            "update",
            ""
        ));
        assert!(!rbac_allows(
            &g.cluster,
            "coordination.k8s.io",
            "leases",
            "update",
            ""
        ));
        let lease_rules: Vec<_> = ops
            .iter()
            .filter(|r| r.resources.as_deref() == Some(&["leases".to_owned()][..]))
            .collect();
        assert_eq!(lease_rules.len(), 1);
        assert_eq!(lease_rules[0].verbs, vec!["get", "create", "update"]);
    }

    #[test]
    fn every_request_is_allowed_by_its_grants_and_nothing_more() {
        let mut restarting = member_requests();
        restarting.extend(restart_istiod_member_requests());
        for (what, reqs) in [
            ("hub", hub_requests()),
            ("member", member_requests()),
            ("member --restart-istiod", restarting),
            ("dns-proxy", dns_proxy_requests()),
        ] {
            let g = grants_for(&reqs, "isthmus-system");
            for req in &reqs {
                let ns = match &req.scope {
                    Scope::Cluster => "",
                    Scope::Namespace(ns) if ns == INSTALL_NAMESPACE => "isthmus-system",
                    Scope::Namespace(ns) => ns,
                };
                let name = req.names.first().copied().unwrap_or("");
                assert!(
                    g.allows(ns, req.group, req.resource, req.subresource, req.verb, name),
                    "{what}: {req:?}"
                );
            }
            // Each granted verb comes from a request.
            let all = g.cluster.iter().chain(g.namespaced.values().flatten());
            for rule in all {
                for verb in &rule.verbs {
                    let res = rule
                        .resources
                        .as_ref()
                        .and_then(|r| r.first())
                        .cloned()
                        .unwrap_or_default();
                    assert!(
                        reqs.iter()
                            .any(|q| q.rule_resource() == res && q.verb == verb),
                        "{what}: {verb} {res} granted but never requested"
                    );
                }
            }
        }
    }

    #[test]
    fn secrets_and_gateways_are_granted_in_istio_system_only() {
        // Nothing about Secrets or Gateways cluster-wide: a label selector does not limit what
        // RBAC lets a list return.
        let g = grants_for(&member_requests(), "isthmus-system");
        let roles = |ns: &str| g.namespaced.get(ns).cloned().unwrap_or_default();
        for (group, resource) in [("", "secrets"), ("networking.istio.io", "gateways")] {
            for verb in [
                "get", "list", "watch", "create", "patch", "update", "delete",
            ] {
                assert!(
                    !rbac_allows(&g.cluster, group, resource, verb, ""),
                    "{verb} {resource} cluster-wide"
                );
                assert!(
                    !g.allows("default", group, resource, "", verb, "x"),
                    "{verb} {resource} in default"
                );
            }
            for verb in ["get", "list", "create", "patch", "delete"] {
                assert!(
                    rbac_allows(&roles(ISTIO_NAMESPACE), group, resource, verb, ""),
                    "{verb} {resource} in istio-system"
                );
            }
        }
    }

    #[test]
    fn configmaps_are_granted_in_istio_system_only() {
        let g = grants_for(&member_requests(), "isthmus-system");
        let roles = |ns: &str| g.namespaced.get(ns).cloned().unwrap_or_default();
        for (_, kind) in MEMBER_ISTIO_SYSTEM_APPLIED_KINDS
            .iter()
            .filter(|(_, k)| *k == "ConfigMap")
        {
            let resource = format!("{}s", kind.to_ascii_lowercase());
            for verb in ["get", "list", "watch", "create", "patch", "delete"] {
                assert!(
                    rbac_allows(&roles(ISTIO_NAMESPACE), "", &resource, verb, ""),
                    "{verb} {resource} in istio-system"
                );
                assert!(
                    !rbac_allows(&g.cluster, "", &resource, verb, ""),
                    "{verb} {resource} cluster-wide"
                );
                assert!(
                    !g.allows("default", "", &resource, "", verb, "x"),
                    "{verb} {resource} in default"
                );
            }
            assert!(!rbac_allows(
                &roles(ISTIO_NAMESPACE),
                "",
                &resource,
                "update",
                ""
            ));
        }
        // The reader token Secret is readable by name in istio-system.
        assert!(g.allows(
            ISTIO_NAMESPACE,
            "",
            "secrets",
            "",
            "get",
            "istio-reader-service-account-istio-remote-secret-token"
        ));
    }

    #[test]
    fn restarting_istiod_is_granted_only_when_asked_for() {
        let plain = grants_for(&member_requests(), "isthmus-system");
        let mut reqs = member_requests();
        reqs.extend(restart_istiod_member_requests());
        let restarting = grants_for(&reqs, "isthmus-system");
        for verb in ["list", "patch"] {
            assert!(!plain.allows(ISTIO_NAMESPACE, "apps", "deployments", "", verb, "istiod"));
            assert!(restarting.allows(ISTIO_NAMESPACE, "apps", "deployments", "", verb, "istiod"));
            assert!(!restarting.allows("default", "apps", "deployments", "", verb, "istiod"));
        }
        for verb in ["get", "create", "update", "delete"] {
            assert!(!restarting.allows(ISTIO_NAMESPACE, "apps", "deployments", "", verb, "istiod"));
        }
        // Only the Role in istio-system changes.
        assert_eq!(plain.cluster, restarting.cluster);
        let istio = restarting
            .namespaced
            .get(ISTIO_NAMESPACE)
            .cloned()
            .unwrap_or_default();
        let deployments: Vec<_> = istio
            .iter()
            .filter(|r| r.api_groups.as_deref() == Some(&["apps".to_owned()][..]))
            .collect();
        assert_eq!(deployments.len(), 1);
        assert_eq!(deployments[0].verbs, vec!["list", "patch"]);
    }

    #[test]
    fn the_controller_can_never_delete_namespaces() {
        let g = grants_for(&member_requests(), "isthmus-system");
        for ns in ["", "istio-system", "default"] {
            assert!(!g.allows(ns, "", "namespaces", "", "delete", "istio-system"));
        }
        assert!(g.allows("", "", "namespaces", "", "patch", "istio-system"));
        assert!(!g.allows("", "", "namespaces", "", "patch", "default"));
    }
}
