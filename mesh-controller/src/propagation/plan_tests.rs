#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use pretty_assertions::assert_eq;

fn deployment(name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": "u1", "resourceVersion": "7",
            "labels": {"app": name},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "containers": [{"name": "web", "image": "registry.example.com/web:1.0",
                    "envFrom": [{"configMapRef": {"name": "web-config"}}]}]}}},
        "status": {"readyReplicas": 3}
    })
}

fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "ports": [{"port": 80}],
            "selector": {"app": name}}})
}

fn policy(name: &str, spec: Value) -> PolicyDoc {
    read_propagation_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": "shop", "generation": 3},
        "spec": spec
    }))
    .unwrap()
}

fn override_policy(spec: Value) -> OverridePolicy {
    read_override_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "OverridePolicy",
        "metadata": {"name": "ov", "namespace": "shop"},
        "spec": spec
    }))
    .unwrap()
}

fn clusters() -> Vec<ClusterInfo> {
    vec![
        ClusterInfo::new("east").with_label("tier", "primary"),
        ClusterInfo::new("west").with_label("tier", "primary"),
        ClusterInfo::new("south").with_label("tier", "backup"),
    ]
}

struct Run {
    clusters: Vec<ClusterInfo>,
    policies: Vec<PolicyDoc>,
    overrides: Vec<OverridePolicy>,
    templates: Vec<Value>,
    deps: BTreeMap<ObjKey, Value>,
}

impl Run {
    fn new(policies: Vec<PolicyDoc>, templates: Vec<Value>) -> Self {
        Self {
            clusters: clusters(),
            policies,
            overrides: Vec::new(),
            templates,
            deps: BTreeMap::new(),
        }
    }

    fn plan(&self, previous: &BTreeMap<ObjKey, Binding>, now: Instant) -> Plan {
        plan(PlanInput {
            clusters: &self.clusters,
            policies: &self.policies,
            overrides: &self.overrides,
            templates: &self.templates,
            dependencies: &self.deps,
            previous,
            now,
        })
    }
}

fn dkey(name: &str) -> ObjKey {
    ObjKey {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: "shop".into(),
        name: name.into(),
    }
}

fn replicas(p: &Plan, cluster: &str, name: &str) -> Option<i64> {
    p.desired
        .get(cluster)?
        .get(&dkey(name))?
        .pointer("/spec/replicas")?
        .as_i64()
}

const SELECT_WEB: &str = r#"[{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]"#;

fn selectors() -> Value {
    serde_json::from_str(SELECT_WEB).unwrap()
}

#[test]
fn duplicated_copies_every_replica_to_every_cluster_and_cleans_metadata() {
    let r = Run::new(
        vec![policy(
            "dup",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"clusterNames": ["east", "west"]},
                    "replicaScheduling": {"replicaSchedulingType": "Duplicated"}}}),
        )],
        vec![deployment("web", 3)],
    );
    let p = r.plan(&BTreeMap::new(), Instant::now());
    assert_eq!(replicas(&p, "east", "web"), Some(3));
    assert_eq!(replicas(&p, "west", "web"), Some(3));
    assert!(!p.desired.contains_key("south"));
    let copy = &p.desired["east"][&dkey("web")];
    assert!(copy.get("status").is_none());
    assert!(copy.pointer("/metadata/uid").is_none());
    assert!(copy.pointer("/metadata/resourceVersion").is_none());
    assert_eq!(copy["metadata"]["labels"][MANAGED_BY], MANAGED_BY_VALUE);
    assert_eq!(
        copy["metadata"]["labels"][TEMPLATE_LABEL],
        "deployment.shop.web"
    );
    assert_eq!(copy["metadata"]["labels"]["app"], "web");
    assert_eq!(
        copy["metadata"]["annotations"][TEMPLATE_ANNOTATION],
        "apps/v1 Deployment shop/web"
    );
    assert_eq!(
        copy["metadata"]["annotations"][POLICY_ANNOTATION],
        "PropagationPolicy shop/dup"
    );
    assert!(
        copy.pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
            .is_none()
    );
    let st = &p.statuses[&PolicyRef::of(&r.policies[0].policy)];
    assert_eq!(st.observed_generation, Some(3));
    assert_eq!(st.placed, 1);
    assert_eq!(
        st.resources[0].clusters,
        vec![
            TargetCluster {
                name: "east".into(),
                replicas: 3
            },
            TargetCluster {
                name: "west".into(),
                replicas: 3
            }
        ]
    );
}

#[test]
fn divided_static_weights_split_the_replicas() {
    let r = Run::new(
        vec![policy(
            "div",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"clusterNames": ["east", "west"]},
                    "replicaScheduling": {"replicaSchedulingType": "Divided",
                        "replicaDivisionPreference": "Weighted",
                        "weightPreference": {"staticWeightList": [
                            {"targetCluster": {"clusterNames": ["east"]}, "weight": 2},
                            {"targetCluster": {"clusterNames": ["west"]}, "weight": 1}]}}}}),
        )],
        vec![deployment("web", 6)],
    );
    let p = r.plan(&BTreeMap::new(), Instant::now());
    assert_eq!(replicas(&p, "east", "web"), Some(4));
    assert_eq!(replicas(&p, "west", "web"), Some(2));
    assert_eq!(p.bindings[&dkey("web")].placements["east"], 4);
}

#[test]
fn equal_weights_break_ties_by_the_template_uid() {
    // Karmada's dispenser (pkg/util/helper/binding_test.go Test_dispenser_AllocateByWeight,
    // "brand new assign 5 replicas with odd/even uuid"): the hub template's metadata.uid
    // decides which of two equal clusters gets the odd replica.
    let policies = || {
        vec![policy(
            "div",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"clusterNames": ["east", "west"]},
                    "replicaScheduling": {"replicaSchedulingType": "Divided"}}}),
        )]
    };
    for (uid, east, west) in [
        ("d43fdeeb-d750-4e2b-bee3-64eb94534f4c", 2, 3),
        ("4858ca61-3ff8-4095-8267-f3d059d8074c", 3, 2),
    ] {
        let mut web = deployment("web", 5);
        web["metadata"]["uid"] = uid.into();
        let p = Run::new(policies(), vec![web]).plan(&BTreeMap::new(), Instant::now());
        assert_eq!(replicas(&p, "east", "web"), Some(east), "{uid}");
        assert_eq!(replicas(&p, "west", "web"), Some(west), "{uid}");
    }
}

#[test]
fn overrides_change_the_copy_of_the_targeted_cluster_only() {
    let mut r = Run::new(
        vec![policy(
            "dup",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"clusterNames": ["east", "west"]}}}),
        )],
        vec![deployment("web", 2)],
    );
    r.overrides = vec![override_policy(json!({
        "resourceSelectors": selectors(),
        "overrideRules": [{"targetCluster": {"clusterNames": ["west"]}, "overriders": {
            "imageOverrider": [{"component": "Registry", "operator": "replace", "value": "mirror.west.example.com"}],
            "labelsOverrider": [{"operator": "add", "value": {"region": "west"}}]}}]
    }))];
    let p = r.plan(&BTreeMap::new(), Instant::now());
    let west = &p.desired["west"][&dkey("web")];
    assert_eq!(
        west.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "mirror.west.example.com/web:1.0"
    );
    assert_eq!(west["metadata"]["labels"]["region"], "west");
    assert_eq!(west["metadata"]["labels"][MANAGED_BY], MANAGED_BY_VALUE);
    let east = &p.desired["east"][&dkey("web")];
    assert_eq!(
        east.pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "registry.example.com/web:1.0"
    );
}

#[test]
fn no_execute_taint_evicts_after_the_toleration_and_reschedules() {
    let mut r = Run::new(
        vec![policy(
            "p",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"labelSelector": {"matchLabels": {"tier": "primary"}}},
                    "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 1, "minGroups": 1}],
                    "clusterTolerations": [{"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]}}),
        )],
        vec![deployment("web", 2)],
    );
    let t0 = Instant::now();
    let p0 = r.plan(&BTreeMap::new(), t0);
    let first: Vec<String> = p0.bindings[&dkey("web")]
        .placements
        .keys()
        .cloned()
        .collect();
    assert_eq!(first.len(), 1);
    let (placed, other) = if first[0] == "east" {
        ("east", "west")
    } else {
        ("west", "east")
    };
    for c in &mut r.clusters {
        if c.name == placed {
            *c = c.clone().with_taint("maintenance", "", "NoExecute");
        }
    }
    // tolerated for 60 s: stays, with a pending eviction in status
    let p1 = r.plan(&p0.bindings, t0 + Duration::from_secs(1));
    assert!(p1.desired.contains_key(placed));
    let st = &p1.statuses.values().next().unwrap().resources[0];
    assert_eq!(st.pending_evictions.len(), 1);
    assert_eq!(st.pending_evictions[0].cluster, placed);
    // first seen in this pass: the whole toleration is left
    assert_eq!(p1.next_eviction, Some(Duration::from_secs(60)));
    // toleration ran out: moved to the other primary cluster
    let p2 = r.plan(&p1.bindings, t0 + Duration::from_secs(62));
    assert!(!p2.desired.contains_key(placed), "{:?}", p2.desired.keys());
    assert_eq!(replicas(&p2, other, "web"), Some(2));
}

#[test]
fn unreachable_cluster_fails_over_to_the_next_affinity_group() {
    let mut r = Run::new(
        vec![policy(
            "p",
            json!({"resourceSelectors": selectors(),
                "placement": {
                    "clusterAffinities": [
                        {"affinityName": "primary", "clusterNames": ["east"]},
                        {"affinityName": "backup", "clusterNames": ["south"]}],
                    "clusterTolerations": [{"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}]}}),
        )],
        vec![deployment("web", 2)],
    );
    let t0 = Instant::now();
    let p0 = r.plan(&BTreeMap::new(), t0);
    assert_eq!(
        p0.bindings[&dkey("web")].observed_affinity.as_deref(),
        Some("primary")
    );
    assert!(p0.desired.contains_key("east"));
    r.clusters = with_reachability(&r.clusters, &BTreeSet::from(["east".to_owned()]));
    let p1 = r.plan(&p0.bindings, t0 + Duration::from_secs(1));
    assert_eq!(
        p1.bindings[&dkey("web")].observed_affinity.as_deref(),
        Some("backup")
    );
    assert!(p1.desired.contains_key("south"));
    assert!(!p1.desired.contains_key("east"));
    let st = &p1.statuses.values().next().unwrap().resources[0];
    assert_eq!(st.observed_affinity.as_deref(), Some("backup"));
    // the cluster comes back: the workload stays on the group it failed over to
    r.clusters = clusters();
    let p2 = r.plan(&p1.bindings, t0 + Duration::from_secs(2));
    assert_eq!(
        p2.bindings[&dkey("web")].observed_affinity.as_deref(),
        Some("backup")
    );
}

#[test]
fn dependencies_follow_the_workload_and_missing_ones_are_reported() {
    let mut spec = json!({"resourceSelectors": selectors(),
        "placement": {"clusterAffinity": {"clusterNames": ["west"]}}});
    spec[isthmus_api::crd::PROPAGATE_DEPENDENCIES_FIELD] = json!(true);
    let mut r = Run::new(vec![policy("p", spec)], vec![deployment("web", 1)]);
    let wanted = wanted_dependencies(&r.templates, &r.policies, &BTreeMap::new());
    let cm = ObjKey {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: "shop".into(),
        name: "web-config".into(),
    };
    assert_eq!(wanted, BTreeSet::from([cm.clone()]));
    let p = r.plan(&BTreeMap::new(), Instant::now());
    let st = &p.statuses.values().next().unwrap().resources[0];
    assert_eq!(
        st.dependencies,
        vec!["ConfigMap shop/web-config (not found on the hub)"]
    );
    r.deps.insert(
        cm.clone(),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": "shop", "uid": "x"}, "data": {"k": "v"}}),
    );
    let p = r.plan(&BTreeMap::new(), Instant::now());
    let copy = &p.desired["west"][&cm];
    assert_eq!(copy["data"]["k"], "v");
    assert_eq!(
        copy["metadata"]["labels"][TEMPLATE_LABEL],
        "configmap.shop.web-config"
    );
    assert!(copy.pointer("/metadata/uid").is_none());
    assert!(!p.desired.contains_key("east"));
}

#[test]
fn services_get_a_service_export_when_the_policy_asks() {
    let sel = json!([{"apiVersion": "v1", "kind": "Service", "name": "web"}]);
    let field = policy(
        "field",
        json!({"resourceSelectors": sel, "exportServices": true,
            "placement": {"clusterAffinity": {"clusterNames": ["east"]}}}),
    );
    let r = Run::new(vec![field], vec![service("web")]);
    let p = r.plan(&BTreeMap::new(), Instant::now());
    let se_key = ObjKey {
        api_version: SERVICE_EXPORT_API_VERSION.into(),
        kind: "ServiceExport".into(),
        namespace: "shop".into(),
        name: "web".into(),
    };
    let se = &p.desired["east"][&se_key];
    assert_eq!(se["metadata"]["labels"][TEMPLATE_LABEL], "service.shop.web");
    let svc = &p.desired["east"][&ObjKey {
        api_version: "v1".into(),
        kind: "Service".into(),
        namespace: "shop".into(),
        name: "web".into(),
    }];
    assert!(svc.pointer("/spec/clusterIP").is_none());
    assert!(svc.pointer("/spec/clusterIPs").is_none());
    assert!(p.statuses.values().next().unwrap().resources[0].service_export);

    // Karmada-shaped document: the annotation asks for it
    let doc = read_propagation_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "ann", "namespace": "shop",
            "annotations": {EXPORT_SERVICES_ANNOTATION: "true"}},
        "spec": {"resourceSelectors": [{"apiVersion": "v1", "kind": "Service", "name": "web"}]}
    }))
    .unwrap();
    assert!(doc.export_services);
    let r = Run::new(vec![doc], vec![service("web")]);
    let p = r.plan(&BTreeMap::new(), Instant::now());
    assert_eq!(p.desired.len(), 3);
    assert!(p.desired.values().all(|d| d.contains_key(&se_key)));
}

#[test]
fn invalid_policies_name_the_field() {
    let e = read_propagation_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "bad", "namespace": "shop"},
        "spec": {"resourceSelectors": selectors(), "placement": {"clusterAffinty": {}}}
    }))
    .unwrap_err();
    assert!(e.to_string().contains("clusterAffinty"), "{e}");
    assert!(e.to_string().contains("shop/bad"), "{e}");
    let e = read_propagation_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "bad", "namespace": "shop"},
        "spec": {"resourceSelectors": selectors(), "exportServices": "yes"}
    }))
    .unwrap_err();
    assert!(e.to_string().contains("spec.exportServices"), "{e}");
    let e = read_propagation_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "bad", "namespace": "shop", "annotations": {EXPORT_SERVICES_ANNOTATION: "yes"}},
        "spec": {"resourceSelectors": selectors()}
    }))
    .unwrap_err();
    assert!(e.to_string().contains(EXPORT_SERVICES_ANNOTATION), "{e}");
}

#[test]
fn scheduling_failure_keeps_the_previous_placement_and_reports_it() {
    let mut r = Run::new(
        vec![policy(
            "p",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"clusterNames": ["east"]}}}),
        )],
        vec![deployment("web", 1)],
    );
    let t0 = Instant::now();
    let p0 = r.plan(&BTreeMap::new(), t0);
    r.clusters.retain(|c| c.name != "east");
    let p1 = r.plan(&p0.bindings, t0);
    let st = &p1.statuses.values().next().unwrap();
    assert_eq!(st.failed, 1);
    assert_eq!(
        st.resources[0].error.as_ref().unwrap().reason,
        "NoClusterFit"
    );
}

#[test]
fn copies_and_deleting_templates_are_not_propagated() {
    let mut copy = deployment("web", 1);
    copy["metadata"]["labels"][TEMPLATE_LABEL] = json!("deployment.shop.web");
    let mut deleting = deployment("web", 1);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    for t in [copy, deleting] {
        let r = Run::new(
            vec![policy("p", json!({"resourceSelectors": selectors()}))],
            vec![t],
        );
        let p = r.plan(&BTreeMap::new(), Instant::now());
        assert!(p.desired.is_empty());
        assert!(p.bindings.is_empty());
    }
}

#[test]
fn long_template_names_get_a_hashed_label_value() {
    let k = ObjKey {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: "a-namespace-with-a-rather-long-name".into(),
        name: "and-a-deployment-with-an-even-longer-name".into(),
    };
    let v = template_label_value(&k);
    assert!(v.len() <= 63, "{v}");
    assert!(v.starts_with("deployment.a-namespace"), "{v}");
    let mut k2 = k.clone();
    k2.name.push('x');
    assert_ne!(template_label_value(&k2), v);
}

#[test]
fn system_and_controller_namespaces_are_never_sources() {
    let sel = json!([{"apiVersion": "v1", "kind": "Secret"}]);
    let doc = read_propagation_policy(&json!({
        "apiVersion": "placement.isthmus.io/v1alpha1", "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "all-secrets"},
        "spec": {"resourceSelectors": sel}
    }))
    .unwrap();
    let secret = |ns: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": ns}});
    let r = Run::new(
        vec![doc],
        vec![
            secret("kube-system"),
            secret("isthmus-system"),
            secret("shop"),
        ],
    );
    let p = r.plan(&BTreeMap::new(), Instant::now());
    let namespaces: BTreeSet<&str> = p.bindings.keys().map(|k| k.namespace.as_str()).collect();
    assert_eq!(namespaces, BTreeSet::from(["shop"]));
}

#[test]
fn an_invalid_policy_keeps_what_it_placed() {
    let r = Run::new(
        vec![policy(
            "p",
            json!({"resourceSelectors": selectors(),
                "placement": {"clusterAffinity": {"clusterNames": ["east"]}}}),
        )],
        vec![deployment("web", 1)],
    );
    let p0 = r.plan(&BTreeMap::new(), Instant::now());
    let pref = PolicyRef::of(&r.policies[0].policy);
    // the policy became invalid: no policies are read any more
    let broken = Run::new(Vec::new(), vec![deployment("web", 1)]);
    let mut p1 = broken.plan(&p0.bindings, Instant::now());
    assert!(p1.bindings.is_empty());
    hold_for_invalid_policies(&mut p1, &p0.bindings, &BTreeSet::from([pref.clone()]));
    assert!(p1.keep["east"].contains(&dkey("web")));
    assert_eq!(p1.bindings[&dkey("web")].policy, pref);
    // a deleted (not invalid) policy keeps nothing
    let mut p2 = broken.plan(&p0.bindings, Instant::now());
    hold_for_invalid_policies(&mut p2, &p0.bindings, &BTreeSet::new());
    assert!(p2.keep.is_empty());
}
