//! Field-by-field parity with Istio's own multicluster artifacts.
//!
//! Each expected document below is what Istio prints or ships for the same input:
//! `samples/multicluster/gen-eastwest-gateway.sh` for each flag combination,
//! `expose-services.yaml`, `expose-istiod.yaml`, `expose-istiod-rev.yaml.tmpl`, and the
//! values the multi-network guide passes to the `istio/gateway` chart. The comparison is
//! of whole parsed documents, so an extra, missing or renamed field fails. The only fields
//! allowed to differ are the deliberate differences listed in docs/gateway-config.md
//! ("Differences from the upstream artifacts"); each is named and checked here too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway_config::istio::{self, EastWestParams, ExposeHosts};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// Removes the object field at `path` from `v`, returning what was there.
fn take(v: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = v;
    for p in parents {
        cur = cur.get_mut(*p)?;
    }
    cur.as_object_mut()?.remove(*last)
}

/// The IstioOperator `gen-eastwest-gateway.sh` prints; `network` is `None` for
/// `--single-cluster`.
fn upstream_operator(network: Option<&str>, revision: &str) -> Value {
    let ports = json!([
        {"name": "status-port", "port": 15021, "targetPort": 15021},
        {"name": "tls", "port": 15443, "targetPort": 15443},
        {"name": "tls-istiod", "port": 15012, "targetPort": 15012},
        {"name": "tls-webhook", "port": 15017, "targetPort": 15017},
    ]);
    let mut gateway = json!({
        "name": "istio-eastwestgateway",
        "label": {"istio": "eastwestgateway", "app": "istio-eastwestgateway"},
        "enabled": true,
        "k8s": {"service": {"ports": ports}},
    });
    let mut values = json!({
        "gateways": {"istio-ingressgateway": {"injectionTemplate": "gateway"}},
    });
    if let Some(n) = network {
        gateway["label"]["topology.istio.io/network"] = json!(n);
        gateway["k8s"]["env"] = json!([{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": n}]);
        values["global"] = json!({"network": n});
    }
    json!({
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": "eastwest"},
        "spec": {
            "revision": revision,
            "profile": "empty",
            "components": {"ingressGateways": [gateway]},
            "values": values,
        },
    })
}

#[test]
fn eastwest_operator_equals_the_script_for_every_flag_combination() {
    // --network network1
    let p = EastWestParams::new(None, "network1", None, None).unwrap();
    assert_eq!(
        istio::eastwest_istio_operator(&p),
        upstream_operator(Some("network1"), "")
    );
    // --network network1 --cluster cluster1 --mesh mesh1: the script ignores the last two.
    let p = EastWestParams::new(Some("cluster1"), "network1", Some("mesh1"), None).unwrap();
    assert_eq!(
        istio::eastwest_istio_operator(&p),
        upstream_operator(Some("network1"), "")
    );
    // --network network2 --revision canary
    let p = EastWestParams::new(None, "network2", None, Some("canary")).unwrap();
    assert_eq!(
        istio::eastwest_istio_operator(&p),
        upstream_operator(Some("network2"), "canary")
    );
    // --single-cluster [--revision canary]
    let p = EastWestParams::single_cluster(None).unwrap();
    assert_eq!(
        istio::eastwest_istio_operator(&p),
        upstream_operator(None, "")
    );
    let p = EastWestParams::single_cluster(Some("canary")).unwrap();
    assert_eq!(
        istio::eastwest_istio_operator(&p),
        upstream_operator(None, "canary")
    );
}

#[test]
fn eastwest_helm_values_equal_the_guide() {
    let p = EastWestParams::new(Some("cluster1"), "network1", Some("mesh1"), None).unwrap();
    assert_eq!(
        istio::eastwest_helm_values(&p),
        json!({"name": "istio-eastwestgateway", "networkGateway": "network1"})
    );
}

#[test]
fn eastwest_gateway_api_equals_the_ambient_script_but_for_the_api_version() {
    let p = EastWestParams::new(None, "network1", None, None).unwrap();
    let mut ours = istio::eastwest_gateway_api(&p);
    // Deliberate: the GA version of the same schema instead of the script's v1beta1.
    assert_eq!(
        take(&mut ours, &["apiVersion"]),
        Some(json!("gateway.networking.k8s.io/v1"))
    );
    assert_eq!(
        ours,
        json!({
            "kind": "Gateway",
            "metadata": {
                "name": "istio-eastwestgateway",
                "namespace": "istio-system",
                "labels": {"topology.istio.io/network": "network1"},
            },
            "spec": {
                "gatewayClassName": "istio-east-west",
                "listeners": [{
                    "name": "mesh",
                    "port": 15008,
                    "protocol": "HBONE",
                    "tls": {
                        "mode": "Terminate",
                        "options": {"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"},
                    },
                }],
            },
        })
    );
}

#[test]
fn expose_services_equals_the_sample_but_for_the_namespace() {
    let mut ours = istio::expose_services(&ExposeHosts::All);
    // Deliberate: the sample is applied with `-n istio-system`; ours names it.
    assert_eq!(
        take(&mut ours, &["metadata", "namespace"]),
        Some(json!("istio-system"))
    );
    assert_eq!(
        ours,
        json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "cross-network-gateway"},
            "spec": {
                "selector": {"istio": "eastwestgateway"},
                "servers": [{
                    "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                    "tls": {"mode": "AUTO_PASSTHROUGH"},
                    "hosts": ["*.local"],
                }],
            },
        })
    );
}

fn upstream_istiod_gateway(api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "Gateway",
        "metadata": {"name": "istiod-gateway"},
        "spec": {
            "selector": {"istio": "eastwestgateway"},
            "servers": [
                {
                    "port": {"name": "tls-istiod", "number": 15012, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"},
                    "hosts": ["*"],
                },
                {
                    "port": {"name": "tls-istiodwebhook", "number": 15017, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"},
                    "hosts": ["*"],
                },
            ],
        },
    })
}

fn upstream_istiod_vs(api_version: &str, name: &str, host: &str, sni: &[String]) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "hosts": ["*"],
            "gateways": ["istiod-gateway"],
            "tls": [
                {
                    "match": [{"port": 15012, "sniHosts": sni}],
                    "route": [{"destination": {"host": host, "port": {"number": 15012}}}],
                },
                {
                    "match": [{"port": 15017, "sniHosts": sni}],
                    "route": [{"destination": {"host": host, "port": {"number": 443}}}],
                },
            ],
        },
    })
}

/// Drops the deliberate differences of the istiod exposure: the namespace (the samples are
/// applied with `-n istio-system`) and, for the revision template, the API version (ours is
/// `networking.istio.io/v1`, the template's `v1alpha3`; same schema).
fn without_deliberate(mut docs: Vec<Value>, template_version: &str) -> Vec<Value> {
    for d in &mut docs {
        assert_eq!(
            take(d, &["metadata", "namespace"]),
            Some(json!("istio-system"))
        );
        assert_eq!(d["apiVersion"], "networking.istio.io/v1");
        d["apiVersion"] = json!(template_version);
    }
    docs
}

#[test]
fn expose_istiod_equals_the_samples_but_for_namespace_and_version() {
    let v1 = "networking.istio.io/v1";
    assert_eq!(
        without_deliberate(istio::expose_istiod(None), v1),
        [
            upstream_istiod_gateway(v1),
            upstream_istiod_vs(
                v1,
                "istiod-vs",
                "istiod.istio-system.svc.cluster.local",
                &["*".to_owned()]
            ),
        ]
    );
    let v1alpha3 = "networking.istio.io/v1alpha3";
    assert_eq!(
        without_deliberate(istio::expose_istiod(Some("canary")), v1alpha3),
        [
            upstream_istiod_gateway(v1alpha3),
            upstream_istiod_vs(
                v1alpha3,
                "istiod-vs-canary",
                "istiod-canary.istio-system.svc.cluster.local",
                &[
                    "istiod-canary.istio-system.svc".to_owned(),
                    "istiod-canary.istio-system.svc.cluster.local".to_owned(),
                ]
            ),
        ]
    );
}
