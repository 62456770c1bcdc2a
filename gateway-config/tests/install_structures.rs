//! The istiod install settings (and the east-west IstioOperator) checked key by key against
//! the structures Istio 1.30.3 reads them with, vendored in `tests/schemas/istio/` (sources in
//! its README):
//!
//! - IstioOperator documents against `operator/pkg/apis/types.go` (`IstioOperator`,
//!   `IstioOperatorSpec`, components, `k8s`), their `spec.values` against message `Values` of
//!   `operator/pkg/apis/values_types.proto` (what istioctl unmarshals values into,
//!   `operator/pkg/apis/validation/validation.go`), `meshConfig` against `MeshConfig` of
//!   istio/api `mesh/v1alpha1/config.proto`, `global.meshNetworks` against `MeshNetworks`
//!   of istio/api `mesh/v1alpha1/network.proto`;
//! - `istio/istiod` Helm values in the chart's flattened layout: a top-level key is a field
//!   of `PilotConfig` (the chart copies `pilot.*` to the top level,
//!   `templates/zzy_descope_legacy.yaml`) or of `Values`, and is a key of the chart's
//!   `values.yaml` (or `profile`, which `templates/zzz_profile.yaml` reads);
//! - `istio/ztunnel` and `istio/cni` Helm values against those charts' `values.yaml` key
//!   trees (ztunnel copies `global.*` to the top level, `templates/zzz_profile.yaml`).
//!
//! An unknown key or a value of the wrong type is a failure; the last test proves each check
//! catches one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/istio_install.rs"]
mod istio_install;

use std::collections::BTreeMap;
use std::path::Path;

use gateway_config::clusterset::{ClusterSet, GatewayExposure};
use gateway_config::istio::{self, EastWestParams, IstiodSettings};
use gateway_config::render;
use isthmus_testing::paths::crate_dir;
use serde_json::{Value, json};

use istio_install::*;

// ---- the tests ----

fn clustersets() -> Vec<ClusterSet> {
    vec![
        ClusterSet::load(&crate_dir("gateway-config").join("tests/testdata/clusterset.yaml"))
            .unwrap(),
        ClusterSet::from_yaml(render::EXAMPLE_CLUSTERSET, Path::new("example")).unwrap(),
    ]
}

/// Every form of every member: sidecar and ambient, with and without `ENABLE_MCS_CLUSTER_LOCAL`.
fn all_settings() -> Vec<IstiodSettings> {
    let mut out = Vec::new();
    for cs in clustersets() {
        for m in &cs.members {
            for ambient in [false, true] {
                for local in [false, true] {
                    let mut s = IstiodSettings::for_member(&cs, m);
                    s.ambient = ambient;
                    s.mcs_cluster_local = local;
                    out.push(s);
                }
            }
        }
    }
    out
}

#[test]
fn vendored_structures_are_read_completely() {
    let p = protos();
    for (msg, field, ty) in [
        ("Values", "global", "GlobalConfig"),
        ("Values", "pilot", "PilotConfig"),
        ("Values", "profile", "string"),
        ("Values", "meshConfig", "google.protobuf.Value"),
        ("GlobalConfig", "meshID", "string"),
        ("GlobalConfig", "multiCluster", "MultiClusterConfig"),
        ("GlobalConfig", "network", "string"),
        ("GlobalConfig", "meshNetworks", "google.protobuf.Struct"),
        ("GlobalConfig", "proxy_init", "ProxyInitConfig"),
        ("MultiClusterConfig", "clusterName", "string"),
        ("PilotConfig", "env", "google.protobuf.Struct"),
        (
            "GatewaysConfig",
            "istio-ingressgateway",
            "IngressGatewayConfig",
        ),
        ("MeshNetworks", "networks", "map"),
        ("Network", "endpoints", "Network.NetworkEndpoints"),
        ("Network.NetworkEndpoints", "fromRegistry", "string"),
        (
            "Network.IstioNetworkGateway",
            "registryServiceName",
            "string",
        ),
        ("Network.IstioNetworkGateway", "port", "uint32"),
        ("MeshConfig", "trustDomain", "string"),
    ] {
        let f = p
            .field(msg, field)
            .unwrap_or_else(|| panic!("{msg}.{field} missing"));
        assert_eq!(f.ty, ty, "{msg}.{field}");
    }
    assert_eq!(
        p.field("MeshNetworks", "networks")
            .unwrap()
            .map_value
            .as_deref(),
        Some("Network")
    );
    assert!(
        p.field("Network.NetworkEndpoints", "fromCidr")
            .unwrap()
            .oneof
            .is_some()
    );
    let s = go_structs();
    let spec: Vec<String> = go_fields("IstioOperatorSpec")
        .into_iter()
        .filter_map(|f| f.json)
        .collect();
    for k in ["profile", "revision", "meshConfig", "components", "values"] {
        assert!(
            spec.iter().any(|f| f == k),
            "IstioOperatorSpec.{k}: {spec:?}"
        );
    }
    // GatewayComponentSpec inlines ComponentSpec.
    let gw: Vec<String> = go_fields("GatewayComponentSpec")
        .into_iter()
        .filter_map(|f| f.json)
        .collect();
    assert_eq!(
        gw,
        ["enabled", "namespace", "hub", "tag", "k8s", "name", "label"]
    );
    assert!(s.contains_key("KubernetesResources"));
    for key in ["env", "global", "meshConfig", "revision"] {
        assert!(istiod_chart().get(key).is_some(), "istiod chart: {key}");
    }
}

#[test]
fn istiod_settings_match_istioctl_and_chart_structures() {
    let all = all_settings();
    assert_eq!(all.len(), 4 * 6);
    for s in &all {
        let what = format!(
            "{} ambient={} local={}",
            s.cluster_name, s.ambient, s.mcs_cluster_local
        );
        check_istio_operator(&s.istio_operator()).unwrap_or_else(|e| panic!("{what}: IOP {e}"));
        check_istiod_helm_values(&s.helm_values())
            .unwrap_or_else(|e| panic!("{what}: istiod values {e}"));
        check_ztunnel_helm_values(&s.ztunnel_helm_values())
            .unwrap_or_else(|e| panic!("{what}: ztunnel values {e}"));
        check_cni_helm_values(&s.cni_helm_values())
            .unwrap_or_else(|e| panic!("{what}: cni values {e}"));
    }
    // The golden clusterset has mesh networks, a trust domain and a revision: those paths
    // were really checked.
    let golden = &all[0..12];
    assert!(
        golden
            .iter()
            .any(|s| s.mesh_networks.is_some() && s.revision.is_some())
    );
    assert!(golden.iter().all(|s| s.trust_domain != "cluster.local"));
}

#[test]
fn rendered_install_files_match_their_structures() {
    let mut seen = BTreeMap::<&str, usize>::new();
    for cs in clustersets() {
        for f in render::render(&cs).unwrap().files {
            let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
            let docs = isthmus_testing::manifests::yaml_documents(&f.contents, &f.path);
            let check: fn(&Value) -> Check = match name.as_str() {
                "istiod.istio-operator.yaml"
                | "istiod.ambient.istio-operator.yaml"
                | "eastwest-gateway.istio-operator.yaml" => check_istio_operator,
                "istiod.helm-values.yaml" | "istiod.ambient.helm-values.yaml" => {
                    check_istiod_helm_values
                }
                "ztunnel.ambient.helm-values.yaml" => check_ztunnel_helm_values,
                "istio-cni.ambient.helm-values.yaml" => check_cni_helm_values,
                _ => continue,
            };
            for d in &docs {
                check(d).unwrap_or_else(|e| panic!("{}: {e}", f.path.display()));
            }
            let key = match name.as_str() {
                "istiod.istio-operator.yaml" => "istiod iop",
                "istiod.ambient.istio-operator.yaml" => "istiod ambient iop",
                "eastwest-gateway.istio-operator.yaml" => "eastwest iop",
                "istiod.helm-values.yaml" => "istiod values",
                "istiod.ambient.helm-values.yaml" => "istiod ambient values",
                "ztunnel.ambient.helm-values.yaml" => "ztunnel values",
                _ => "cni values",
            };
            *seen.entry(key).or_default() += docs.len();
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(seen.values().all(|n| *n == 6), "{seen:?}");
}

#[test]
fn every_eastwest_operator_matches_the_operator_structure() {
    let selector = std::collections::BTreeMap::from([("a".to_owned(), "b".to_owned())]);
    for exposure in [
        GatewayExposure::LoadBalancer,
        GatewayExposure::NodePort {
            node_selector: selector.clone(),
            node_port: None,
        },
        GatewayExposure::NodePort {
            node_selector: selector,
            node_port: Some(30443),
        },
        GatewayExposure::Static {
            addresses: vec!["192.0.2.1".into()],
            port: Some(443),
        },
    ] {
        for rev in [None, Some("canary")] {
            let mut p = EastWestParams::new(Some("c"), "n", Some("m"), rev).unwrap();
            p.exposure = exposure.clone();
            check_istio_operator(&istio::eastwest_istio_operator(&p))
                .unwrap_or_else(|e| panic!("{exposure:?} {rev:?}: {e}"));
        }
    }
    let p = EastWestParams::single_cluster(Some("canary")).unwrap();
    check_istio_operator(&istio::eastwest_istio_operator(&p)).unwrap();
}

#[test]
fn structure_checks_catch_mistakes() {
    let cs = &clustersets()[0];
    let mut s = IstiodSettings::for_cluster(cs, "central").unwrap();
    s.ambient = true;
    let iop = s.istio_operator();
    let helm = s.helm_values();
    assert!(check_istio_operator(&iop).is_ok());
    assert!(check_istiod_helm_values(&helm).is_ok());

    let iop_with = |pointer: &str, key: &str, v: Value| {
        let mut bad = iop.clone();
        bad.pointer_mut(pointer).unwrap()[key] = v;
        check_istio_operator(&bad)
    };
    for (pointer, key, v) in [
        ("/spec", "profle", json!("ambient")),
        ("/spec/values/global", "meshId", json!("m")),
        ("/spec/values/global/multiCluster", "name", json!("c")),
        ("/spec/values/global", "network", json!(1)),
        ("/spec/values/pilot", "envs", json!({})),
        ("/spec/values", "env", json!({})),
        ("/spec/values/pilot/env", "ENABLE_MCS_HOST", json!(true)),
        ("/spec/meshConfig", "trustDomian", json!("x")),
        ("/spec/components/pilot/k8s", "envs", json!([])),
        ("/spec/components/pilot", "k8", json!({})),
        (
            "/spec/values/global/meshNetworks/net-east/gateways/0",
            "adress",
            json!("x"),
        ),
        (
            "/spec/values/global/meshNetworks/net-east/gateways/0",
            "port",
            json!("443"),
        ),
        (
            "/spec/values/global/meshNetworks/net-east/endpoints/0",
            "fromCidr",
            json!("10.0.0.0/8"),
        ),
    ] {
        assert!(
            iop_with(pointer, key, v.clone()).is_err(),
            "IOP {pointer}/{key} = {v} was accepted"
        );
    }
    let mut bad = iop.clone();
    bad["spec"]["components"]["pilot"]["k8s"]["env"][0]["valu"] = json!("true");
    assert!(check_istio_operator(&bad).is_err());

    let helm_with = |pointer: &str, key: &str, v: Value| {
        let mut bad = helm.clone();
        bad.pointer_mut(pointer).unwrap()[key] = v;
        check_istiod_helm_values(&bad)
    };
    for (pointer, key, v) in [
        ("", "envs", json!({})),
        ("", "pilot", json!({"env": {}})),
        ("", "profile", json!(1)),
        ("/global", "meshId", json!("m")),
        ("/global/multiCluster", "clustername", json!("c")),
        ("/env", "ENABLE_MCS_HOST", json!(true)),
        ("/meshConfig", "trustDomain", json!(1)),
        (
            "/global/meshNetworks/net-west/gateways/0",
            "registryServiceName",
            json!(7),
        ),
        // A PilotConfig field the 1.30 chart no longer has.
        ("", "enabled", json!(true)),
    ] {
        assert!(
            helm_with(pointer, key, v.clone()).is_err(),
            "Helm {pointer}/{key} = {v} was accepted"
        );
    }

    let z = s.ztunnel_helm_values();
    assert!(check_ztunnel_helm_values(&z).is_ok());
    let mut bad = z.clone();
    bad["global"]["clusterName"] = json!("c");
    assert!(check_ztunnel_helm_values(&bad).is_err());
    let mut bad = z.clone();
    bad["multiCluster"]["name"] = json!("c");
    assert!(check_ztunnel_helm_values(&bad).is_err());
    let mut bad = z;
    bad["global"]["network"] = json!(false);
    assert!(check_ztunnel_helm_values(&bad).is_err());
    assert!(check_cni_helm_values(&json!({"profil": "ambient"})).is_err());
    assert!(check_cni_helm_values(&json!({"profile": true})).is_err());
}
