//! Every generated object is checked against the schema of its kind:
//! - Istio CRD objects against the CRD's `openAPIV3Schema` (Istio 1.30.3), made strict;
//! - `istio/gateway` Helm values against the chart's `values.schema.json`;
//! - Kubernetes core objects by a strict round trip through their k8s-openapi type;
//! - `IstioOperator` and the istiod, ztunnel and CNI Helm values against the structures
//!   istioctl and the charts read them with (`tests/support/istio_install.rs`, vendored
//!   copies in `tests/schemas/istio/`; `install_structures.rs` has the details);
//! - the Gateway API Gateway against strict serde structs written from the Gateway API.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The strict structs below exist to reject unknown fields; not every field is read.
#![allow(dead_code)]

#[path = "support/istio_install.rs"]
mod istio_install;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use gateway_config::clusterset::{ClusterSet, GatewayExposure};
use gateway_config::istio::{self, EastWestParams, ExposeHosts, IstiodSettings};
use gateway_config::remote_secret;
use gateway_config::render;
use isthmus_testing::manifests::yaml_documents;
use isthmus_testing::paths::crate_dir;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The test clusterset: 3 clusters, 2 networks, every gateway exposure, kubeconfigs for two
/// members.
fn golden_clusterset() -> ClusterSet {
    ClusterSet::load(&crate_dir("gateway-config").join("tests/testdata/clusterset.yaml")).unwrap()
}

fn crds() -> &'static Vec<Value> {
    static CRDS: OnceLock<Vec<Value>> = OnceLock::new();
    CRDS.get_or_init(|| {
        let path = crate_dir("gateway-config").join("testdata/schemas/crd-all.gen.1.30.3.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        yaml_documents(&text, &path)
    })
}

/// Adds `additionalProperties: false` to every object schema that lists properties and
/// does not preserve unknown fields.
fn strictify(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let preserves =
                map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserves
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in map.values_mut() {
                strictify(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strictify),
        _ => {}
    }
}

/// The strict schema of `spec` for `apiVersion`/`kind`, from the Istio CRDs.
fn crd_spec_schema(api_version: &str, kind: &str) -> Value {
    let (group, version) = api_version.split_once('/').unwrap();
    let crd = crds()
        .iter()
        .find(|c| c["spec"]["group"] == group && c["spec"]["names"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no CRD for {group} {kind}"));
    let v = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap_or_else(|| panic!("CRD {group} {kind} has no version {version}"));
    assert_eq!(v["served"], true, "{api_version} {kind} is not served");
    let mut schema = v["schema"]["openAPIV3Schema"]["properties"]["spec"].clone();
    assert!(schema.is_object(), "{api_version} {kind}: no spec schema");
    strictify(&mut schema);
    schema
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} fails its schema:\n{}\n{}",
        errors.join("\n"),
        instance
    );
}

/// Checks an Istio CRD object: known kind and version, strict spec schema, strict metadata.
fn check_istio_crd_object(obj: &Value, what: &str) {
    let api_version = obj["apiVersion"].as_str().unwrap();
    let kind = obj["kind"].as_str().unwrap();
    let schema = crd_spec_schema(api_version, kind);
    assert_valid(&schema, &obj["spec"], what);
    strict_round_trip::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(
        &obj["metadata"],
        what,
    );
    let keys: Vec<&String> = obj.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec"], "{what}");
}

/// Deserializes into `T`, serializes back, and requires the same JSON: no unknown or
/// misspelled field survives.
fn strict_round_trip<T: DeserializeOwned + serde::Serialize>(value: &Value, what: &str) {
    let typed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{what}: {e}\n{value}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, value,
        "{what}: fields lost in a round trip through its Kubernetes type"
    );
}

fn check_core_object(obj: &Value, what: &str) {
    use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    match (
        obj["apiVersion"].as_str().unwrap(),
        obj["kind"].as_str().unwrap(),
    ) {
        ("v1", "Namespace") => strict_round_trip::<Namespace>(obj, what),
        ("v1", "Secret") => strict_round_trip::<Secret>(obj, what),
        ("v1", "ServiceAccount") => strict_round_trip::<ServiceAccount>(obj, what),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            strict_round_trip::<ClusterRole>(obj, what)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            strict_round_trip::<ClusterRoleBinding>(obj, what)
        }
        (a, k) => panic!("{what}: unexpected core object {a} {k}"),
    }
}

// ---- IstioOperator and istiod/ztunnel/CNI Helm values: tests/support/istio_install.rs ----

fn check_istio_operator(obj: &Value, what: &str) {
    istio_install::check_istio_operator(obj).unwrap_or_else(|e| panic!("{what}: {e}\n{obj}"));
}

fn check_istiod_helm_values(values: &Value, what: &str) {
    istio_install::check_istiod_helm_values(values)
        .unwrap_or_else(|e| panic!("{what}: {e}\n{values}"));
}

// ---- Gateway API Gateway (gateway.networking.k8s.io/v1), the fields we write ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GatewayApiGateway {
    api_version: String,
    kind: String,
    metadata: Value,
    spec: GatewayApiSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GatewayApiSpec {
    gateway_class_name: String,
    listeners: Vec<Listener>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listener {
    name: String,
    port: u16,
    protocol: String,
    tls: Option<ListenerTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenerTls {
    mode: String,
    options: Option<BTreeMap<String, String>>,
}

fn check_gateway_api(obj: &Value, what: &str) {
    let gw: GatewayApiGateway =
        serde_json::from_value(obj.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(gw.api_version, "gateway.networking.k8s.io/v1");
    assert_eq!(gw.kind, "Gateway");
    strict_round_trip::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(
        &gw.metadata,
        what,
    );
    assert!(!gw.spec.gateway_class_name.is_empty());
    for l in &gw.spec.listeners {
        assert!(l.name.len() <= 253 && l.port > 0, "{what}");
        assert!(
            ["HTTP", "HTTPS", "TLS", "TCP", "UDP", "HBONE"].contains(&l.protocol.as_str()),
            "{what}"
        );
        if let Some(tls) = &l.tls {
            assert!(
                ["Terminate", "Passthrough"].contains(&tls.mode.as_str()),
                "{what}"
            );
            let _ = &tls.options;
        }
    }
}

fn gateway_chart_schema() -> Value {
    let path =
        crate_dir("gateway-config").join("testdata/schemas/gateway-chart.values.schema.json");
    let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The chart declares the unversioned draft URI; validate with draft 7 semantics.
    schema["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    schema
}

fn check_gateway_helm_values(values: &Value, what: &str) {
    assert_valid(&gateway_chart_schema(), values, what);
    if let Some(ports) = values.pointer("/service/ports") {
        strict_round_trip::<Vec<k8s_openapi::api::core::v1::ServicePort>>(ports, what);
    }
}

/// Checks one object by its apiVersion/kind.
fn check_object(obj: &Value, what: &str) -> String {
    let api_version = obj["apiVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no apiVersion"));
    let kind = obj["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no kind"));
    match api_version {
        "networking.istio.io/v1"
        | "networking.istio.io/v1beta1"
        | "networking.istio.io/v1alpha3" => check_istio_crd_object(obj, what),
        "install.istio.io/v1alpha1" => check_istio_operator(obj, what),
        "gateway.networking.k8s.io/v1" => check_gateway_api(obj, what),
        "v1" | "rbac.authorization.k8s.io/v1" => check_core_object(obj, what),
        other => panic!("{what}: unexpected apiVersion {other}"),
    }
    format!("{api_version} {kind}")
}

fn check_rendered(cs: &ClusterSet) -> BTreeMap<String, usize> {
    let rendered = render::render(cs).unwrap();
    let mut seen = BTreeMap::new();
    for f in &rendered.files {
        let what = f.path.display().to_string();
        let docs = yaml_documents(&f.contents, &f.path);
        assert!(!docs.is_empty(), "{what} is empty");
        let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
        for doc in &docs {
            let key = match name.as_str() {
                "eastwest-gateway.helm-values.yaml" => {
                    check_gateway_helm_values(doc, &what);
                    "helm istio/gateway values".to_owned()
                }
                "istiod.helm-values.yaml" | "istiod.ambient.helm-values.yaml" => {
                    check_istiod_helm_values(doc, &what);
                    "helm istio/istiod values".to_owned()
                }
                "ztunnel.ambient.helm-values.yaml" => {
                    istio_install::check_ztunnel_helm_values(doc)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    "helm istio/ztunnel values".to_owned()
                }
                "istio-cni.ambient.helm-values.yaml" => {
                    istio_install::check_cni_helm_values(doc)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    "helm istio/cni values".to_owned()
                }
                _ => check_object(doc, &what),
            };
            *seen.entry(key).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn rendered_golden_clusterset_objects_match_their_schemas() {
    let seen = check_rendered(&golden_clusterset());
    for kind in [
        "networking.istio.io/v1 Gateway",
        "install.istio.io/v1alpha1 IstioOperator",
        "gateway.networking.k8s.io/v1 Gateway",
        "v1 Namespace",
        "v1 Secret",
        "helm istio/gateway values",
        "helm istio/istiod values",
        "helm istio/ztunnel values",
        "helm istio/cni values",
    ] {
        assert!(seen.contains_key(kind), "no {kind} was checked: {seen:?}");
    }
    // east and west have kubeconfigs: each of the 3 members gets the other two's or one's secrets.
    assert_eq!(seen["v1 Secret"], 4, "{seen:?}");
}

#[test]
fn rendered_example_objects_match_their_schemas() {
    let cs = ClusterSet::from_yaml(render::EXAMPLE_CLUSTERSET, Path::new("example")).unwrap();
    let seen = check_rendered(&cs);
    assert_eq!(seen["v1 Namespace"], 3);
}

#[test]
fn expose_objects_match_istio_crds() {
    for hosts in [
        ExposeHosts::All,
        ExposeHosts::Clusterset,
        ExposeHosts::parse("reviews.default.svc.clusterset.local,*.bookinfo.svc.cluster.local")
            .unwrap(),
    ] {
        check_object(
            &istio::expose_services(&hosts),
            &format!("expose-services {hosts:?}"),
        );
    }
    for rev in [None, Some("canary")] {
        let objs = istio::expose_istiod(rev);
        assert_eq!(objs.len(), 2);
        let kinds: Vec<String> = objs
            .iter()
            .map(|o| check_object(o, &format!("expose-istiod {rev:?}")))
            .collect();
        assert_eq!(
            kinds,
            [
                "networking.istio.io/v1 Gateway",
                "networking.istio.io/v1 VirtualService"
            ]
        );
    }
}

#[test]
fn every_eastwest_variant_matches_its_schema() {
    let exposures = [
        GatewayExposure::LoadBalancer,
        GatewayExposure::NodePort {
            node_selector: BTreeMap::from([("a".into(), "b".into())]),
            node_port: None,
        },
        GatewayExposure::NodePort {
            node_selector: BTreeMap::from([("a".into(), "b".into())]),
            node_port: Some(30443),
        },
        GatewayExposure::Static {
            addresses: vec!["192.0.2.1".into()],
            port: Some(443),
        },
    ];
    for (i, exposure) in exposures.into_iter().enumerate() {
        for (mesh, rev) in [(None, None), (Some("mesh1"), Some("canary"))] {
            let mut p = EastWestParams::new(Some("cluster1"), "network1", mesh, rev).unwrap();
            p.exposure = exposure.clone();
            let what = format!("eastwest #{i} {mesh:?} {rev:?}");
            check_object(&istio::eastwest_istio_operator(&p), &what);
            check_object(&istio::eastwest_gateway_api(&p), &what);
            check_gateway_helm_values(&istio::eastwest_helm_values(&p), &what);
        }
    }
    for rev in [None, Some("canary")] {
        let p = EastWestParams::single_cluster(rev).unwrap();
        let what = format!("eastwest --single-cluster {rev:?}");
        check_object(&istio::eastwest_istio_operator(&p), &what);
        check_gateway_helm_values(&istio::eastwest_helm_values(&p), &what);
    }
}

#[test]
fn reader_rbac_and_istiod_settings_match_their_types() {
    for rev in [None, Some("canary")] {
        let rbac = remote_secret::reader_rbac(rev);
        check_object(
            &serde_json::to_value(&rbac.service_account).unwrap(),
            "reader sa",
        );
        check_object(
            &serde_json::to_value(&rbac.cluster_role).unwrap(),
            "reader role",
        );
        check_object(
            &serde_json::to_value(&rbac.cluster_role_binding).unwrap(),
            "reader binding",
        );
    }
    let cs = golden_clusterset();
    for m in &cs.members {
        let s = IstiodSettings::for_member(&cs, m);
        check_object(&s.istio_operator(), "istiod iop");
        check_istiod_helm_values(&s.helm_values(), "istiod helm");
    }
}

#[test]
fn schema_checks_catch_mistakes() {
    // A misspelled field in a Gateway spec fails the strict CRD schema.
    let schema = crd_spec_schema("networking.istio.io/v1", "Gateway");
    let mut bad = istio::expose_services(&ExposeHosts::All);
    bad["spec"]["servers"][0]["tls"]["mod"] = json!("AUTO_PASSTHROUGH");
    assert!(
        !jsonschema::validator_for(&schema)
            .unwrap()
            .is_valid(&bad["spec"])
    );
    let mut bad = istio::expose_services(&ExposeHosts::All);
    bad["spec"]["servers"][0]["tls"]["mode"] = json!("PASSTHRU");
    assert!(
        !jsonschema::validator_for(&schema)
            .unwrap()
            .is_valid(&bad["spec"])
    );
    // An unknown IstioOperator field fails the operator structure.
    let mut iop =
        istio::eastwest_istio_operator(&EastWestParams::new(Some("c"), "n", None, None).unwrap());
    iop["spec"]["values"]["global"]["routerMode"] = json!("sni-dnat");
    assert!(istio_install::check_istio_operator(&iop).is_err());
    // A Helm value the chart does not know fails the chart schema.
    let mut values =
        istio::eastwest_helm_values(&EastWestParams::new(Some("c"), "n", None, None).unwrap());
    values["networkGatway"] = json!("n");
    assert!(
        !jsonschema::validator_for(&gateway_chart_schema())
            .unwrap()
            .is_valid(&values)
    );
    // A misspelled Namespace field does not survive the round trip.
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {"a": "b"}}});
    let typed: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(ns.clone()).unwrap();
    assert_ne!(serde_json::to_value(typed).unwrap(), ns);
}
