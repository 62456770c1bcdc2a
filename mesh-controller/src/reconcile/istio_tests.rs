//! The Istio wiring of the reconcile: remote secrets from each member's reader identity, the
//! mesh networks ConfigMap, and the root of trust with its istiod restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gateway_config::ca::{CaCerts, IntermediateOptions, RootCa, issue_intermediate};
use gateway_config::clusterset::GatewayExposure;
use gateway_config::istio::{
    MESH_NETWORKS_CONFIGMAP, MESH_NETWORKS_KEY, NetworkMember, mesh_networks_of,
};
use gateway_config::remote_secret::READER_TOKEN_SECRET;
use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use serde_json::{Value, json};

use super::fixtures::*;
use super::istio::reader_kubeconfig;
use super::tests::{KUBECONFIG, wiring};
use crate::model::*;
use crate::root_of_trust::{Trust, fingerprint};

const CA_OF_SECRET: &str = "-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----\n";
const CA_OF_CONTROLLER: &str =
    "-----BEGIN CERTIFICATE-----\nY29udHJvbGxlcg==\n-----END CERTIFICATE-----\n";

fn access(token: &str, ca_crt: Option<&str>) -> ReaderAccess {
    ReaderAccess {
        endpoint: ApiEndpoint {
            server: "https://203.0.113.20:6443".into(),
            ca_pem: Some(CA_OF_CONTROLLER.into()),
            tls_server_name: None,
            insecure: false,
        },
        token: token.into(),
        ca_crt: ca_crt.map(str::to_owned),
    }
}

fn reader(w: &mut World, cluster: &str, o: Observed<ReaderAccess>) {
    w.index.apply_istio(cluster, IstioFact::Reader(o)).unwrap();
}

/// The kubeconfig in `cluster`'s remote secret for `other`, parsed.
fn remote_kubeconfig(d: &Desired, cluster: &str, other: &str) -> Option<Value> {
    let name = format!("istio-remote-secret-{other}");
    let s = find(d, cluster, "Secret", "istio-system", &name)?;
    let text = s["stringData"][other].as_str()?;
    Some(serde_saphyr::from_str(text).unwrap())
}

fn notes(d: &Desired, cluster: &str) -> String {
    d.member_status[cluster].notes.join("\n")
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn remote_secrets_carry_the_reader_token() {
    let mut w = world(&["c1", "c2", "c3"]);
    w.cfg.istio = Some(wiring(None));
    reader(
        &mut w,
        "c2",
        Observed::Present(access("reader-c2", Some(CA_OF_SECRET))),
    );
    // An explicit reader kubeconfig wins over the token Secret.
    reader(&mut w, "c3", Observed::Present(access("reader-c3", None)));
    let mut info = w.index.member("c3").unwrap().info.clone();
    info.reader_kubeconfig = Some(Arc::new(KUBECONFIG.as_bytes().to_vec()));
    w.index.upsert_member(info);
    let d = w.run();

    let kc = remote_kubeconfig(&d, "c1", "c2").unwrap();
    assert_eq!(kc["users"][0]["user"], json!({"token": "reader-c2"}));
    let cluster = &kc["clusters"][0]["cluster"];
    assert_eq!(cluster["server"], "https://203.0.113.20:6443");
    // The token Secret's ca.crt is preferred over the controller's CA.
    assert_eq!(cluster["certificate-authority-data"], b64(CA_OF_SECRET));
    assert_eq!(kc["current-context"], "c2");
    assert_eq!(
        remote_kubeconfig(&d, "c3", "c2").unwrap()["users"][0]["user"]["token"],
        "reader-c2"
    );
    assert_eq!(
        remote_kubeconfig(&d, "c1", "c3").unwrap()["users"][0]["user"]["token"],
        "abc"
    );
    // c1's reader token was not read yet.
    assert!(remote_kubeconfig(&d, "c2", "c1").is_none());
    assert!(notes(&d, "c2").contains("no remote secret for cluster c1 yet"));

    // Without ca.crt, the CA the controller verifies the member with.
    reader(&mut w, "c2", Observed::Present(access("reader-c2", None)));
    let kc = remote_kubeconfig(&w.run(), "c1", "c2").unwrap();
    assert_eq!(
        kc["clusters"][0]["cluster"]["certificate-authority-data"],
        b64(CA_OF_CONTROLLER)
    );
}

#[test]
fn a_rotated_token_changes_the_remote_secret_and_a_failed_read_keeps_it() {
    let mut w = world(&["c1", "c2"]);
    w.cfg.istio = Some(wiring(None));
    reader(&mut w, "c2", Observed::Present(access("first", None)));
    let token = |w: &World| {
        remote_kubeconfig(&w.run(), "c1", "c2").map(|kc| kc["users"][0]["user"]["token"].clone())
    };
    assert_eq!(token(&w), Some(json!("first")));
    reader(&mut w, "c2", Observed::Present(access("second", None)));
    assert_eq!(token(&w), Some(json!("second")));
    // A member that stops answering keeps its remote secrets.
    reader(
        &mut w,
        "c2",
        Observed::Unreadable("connection refused".into()),
    );
    assert_eq!(token(&w), Some(json!("second")));
    // A deleted token Secret withdraws them.
    reader(&mut w, "c2", Observed::Absent);
    assert_eq!(token(&w), None);
}

#[test]
fn members_without_a_reader_identity_say_what_to_do() {
    let mut w = world(&["c1", "c2"]);
    w.cfg.istio = Some(wiring(None));
    reader(&mut w, "c2", Observed::Absent);
    let n = notes(&w.run(), "c1");
    assert!(
        n.contains("isthmus install --role member") && n.contains(READER_TOKEN_SECRET),
        "{n}"
    );
    assert!(n.contains("spec.readerKubeconfigSecretRef"), "{n}");
    reader(
        &mut w,
        "c2",
        Observed::Invalid("data.token: is missing or empty".into()),
    );
    let n = notes(&w.run(), "c1");
    assert!(n.contains("data.token: is missing or empty"), "{n}");
    // A failed first read.
    let mut w = world(&["c1", "c2"]);
    w.cfg.istio = Some(wiring(None));
    reader(&mut w, "c2", Observed::Unreadable("403 forbidden".into()));
    let n = notes(&w.run(), "c1");
    assert!(n.contains("403 forbidden") && n.contains("grants"), "{n}");
}

#[test]
fn reader_kubeconfig_uses_the_token_and_never_other_credentials() {
    let mut a = access("tok", None);
    a.endpoint.ca_pem = None;
    a.endpoint.insecure = true;
    a.endpoint.tls_server_name = Some("api.internal".into());
    let text = String::from_utf8(reader_kubeconfig("east", &a).unwrap()).unwrap();
    let kc: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(kc["users"][0]["user"], json!({"token": "tok"}));
    assert_eq!(
        kc["clusters"][0]["cluster"]["insecure-skip-tls-verify"],
        true
    );
    assert_eq!(
        kc["clusters"][0]["cluster"]["tls-server-name"],
        "api.internal"
    );
    assert_eq!(
        kc["contexts"][0]["context"],
        json!({"cluster": "east", "user": "east"})
    );
}

fn with_exposure(w: &mut World, name: &str, exposure: GatewayExposure) {
    let mut info = w.index.member(name).unwrap().info.clone();
    info.exposure = exposure;
    w.index.upsert_member(info);
}

#[test]
fn static_gateways_give_every_member_the_mesh_networks_configmap() {
    let mut w = world(&["lb", "st", "np"]);
    w.cfg.istio = Some(wiring(None));
    // Only LoadBalancer gateways: istiod finds them itself.
    let d = w.run();
    for c in ["lb", "st", "np"] {
        assert!(find(&d, c, "ConfigMap", "istio-system", MESH_NETWORKS_CONFIGMAP).is_none());
    }
    let st = GatewayExposure::Static {
        addresses: vec!["gw.example.com".into()],
        port: Some(443),
    };
    let np = GatewayExposure::NodePort {
        node_selector: [("role".to_owned(), "gw".to_owned())].into(),
        node_port: None,
    };
    with_exposure(&mut w, "st", st.clone());
    with_exposure(&mut w, "np", np.clone());
    let d = w.run();
    let lb = GatewayExposure::LoadBalancer;
    let expected = json!({"networks": mesh_networks_of([
        NetworkMember { name: "lb", network: "net-lb", exposure: &lb },
        NetworkMember { name: "np", network: "net-np", exposure: &np },
        NetworkMember { name: "st", network: "net-st", exposure: &st },
    ]).unwrap()});
    for c in ["lb", "st", "np"] {
        let cm = find(&d, c, "ConfigMap", "istio-system", MESH_NETWORKS_CONFIGMAP).unwrap();
        assert_eq!(cm["metadata"]["labels"][MANAGED_BY], MANAGED_BY_VALUE);
        let text = cm["data"][MESH_NETWORKS_KEY].as_str().unwrap();
        let doc: Value = serde_saphyr::from_str(text).unwrap();
        assert_eq!(doc, expected, "{c}: {text}");
        assert_eq!(text.matches("gw.example.com").count(), 1, "{text}");
        assert_eq!(
            doc["networks"]["net-st"],
            json!({"endpoints": [{"fromRegistry": "st"}], "gateways": [{"address": "gw.example.com", "port": 443}]})
        );
    }
    // Not written unless the wiring asks for it.
    let mut off = wiring(None);
    off.mesh_networks = false;
    w.cfg.istio = Some(off);
    assert!(
        find(
            &w.run(),
            "st",
            "ConfigMap",
            "istio-system",
            MESH_NETWORKS_CONFIGMAP
        )
        .is_none()
    );
}

fn generated_root() -> RootCa {
    RootCa::generate(&Default::default(), now()).unwrap()
}

fn ca_root(w: &mut World, cluster: &str, o: Observed<String>) {
    w.index.apply_istio(cluster, IstioFact::CaRoot(o)).unwrap();
}

fn cacerts(w: &mut World, cluster: &str, owned: bool, bundle: CaCerts) {
    w.index
        .apply_istio(
            cluster,
            IstioFact::CaCerts(Observed::Present(ObservedCaCerts { owned, bundle })),
        )
        .unwrap();
}

#[test]
fn the_root_of_trust_of_every_member() {
    let root = generated_root();
    let foreign = generated_root();
    let mut w = world(&["c1", "c2", "c3", "c4"]);
    ca_root(&mut w, "c1", Observed::Present(foreign.cert_pem()));
    ca_root(&mut w, "c2", Observed::Present(root.cert_pem()));
    ca_root(&mut w, "c4", Observed::Absent);
    // Without the clusterset CA, and no cacerts to compare with, nothing is said.
    w.cfg.istio = Some(wiring(None));
    assert!(w.run().member_status["c1"].root_of_trust.is_none());
    w.cfg.istio = Some(wiring(Some(Arc::new(root))));
    let d = w.run();
    let verdict = |c: &str| d.member_status[c].root_of_trust.clone().unwrap();
    assert_eq!(verdict("c1").trust, Trust::ForeignRoot);
    assert_eq!(
        verdict("c1").published,
        vec![fingerprint(foreign.cert().cert_der())]
    );
    assert_eq!(verdict("c2").trust, Trust::ClustersetRoot);
    assert_eq!(verdict("c3").trust, Trust::NotPublished);
    assert!(verdict("c3").message.contains("not been read"));
    assert_eq!(verdict("c4").trust, Trust::NotPublished);
    assert!(verdict("c4").message.contains("has not published"));
    // Foreign, but cacerts not plugged yet: no restart, and a note.
    assert!(d.member_status["c1"].restart_istiod.is_none());
    assert!(notes(&d, "c1").contains("istiod publishes a foreign root"));
    let plan = super::plan::to_plan(
        &super::Reconciler::new().pass(&w.snap(), crate::index::Dirty::all(), &w.cfg, now()),
        &w.snap(),
    );
    assert_eq!(plan.clusters["c1"].foreign_root, Some(true));
    assert_eq!(plan.clusters["c2"].foreign_root, Some(false));
    assert_eq!(plan.clusters["c3"].foreign_root, Some(false));
}

#[test]
fn without_the_clusterset_ca_the_root_of_cacerts_is_the_reference() {
    // cacerts plugged by hand (`isthmus ca issue`), no CA in the controller: an istiod that
    // publishes another root started before cacerts existed.
    let root = generated_root();
    let own = generated_root();
    let bundle = issue_intermediate(&root, "c1", &IntermediateOptions::default(), now()).unwrap();
    let mut w = world(&["c1", "c2", "c3"]);
    w.cfg.istio = Some(wiring(None));
    for c in ["c1", "c2"] {
        cacerts(&mut w, c, false, bundle.clone());
    }
    ca_root(&mut w, "c1", Observed::Present(own.cert_pem()));
    ca_root(&mut w, "c2", Observed::Present(root.cert_pem()));
    ca_root(&mut w, "c3", Observed::Present(own.cert_pem()));
    let d = w.run();
    let c1 = d.member_status["c1"].root_of_trust.clone().unwrap();
    assert_eq!(c1.trust, Trust::ForeignRoot);
    assert_eq!(c1.clusterset, fingerprint(root.cert().cert_der()));
    assert!(
        c1.message.contains("istio-system/cacerts"),
        "{}",
        c1.message
    );
    assert!(notes(&d, "c1").contains("rollout restart deployment/istiod"));
    // Nothing is restarted without the clusterset CA.
    assert!(d.member_status["c1"].restart_istiod.is_none());
    let c2 = d.member_status["c2"].root_of_trust.clone().unwrap();
    assert_eq!(c2.trust, Trust::ClustersetRoot);
    // No cacerts at all: nothing to compare with.
    assert!(d.member_status["c3"].root_of_trust.is_none());
}

#[test]
fn istiod_is_restarted_only_once_plugged_when_asked_and_once_per_root() {
    let root = Arc::new(generated_root());
    let foreign = generated_root();
    let fp = fingerprint(root.cert().cert_der());
    let ours = issue_intermediate(&root, "c1", &IntermediateOptions::default(), now()).unwrap();
    let theirs =
        issue_intermediate(&foreign, "c1", &IntermediateOptions::default(), now()).unwrap();
    let mut w = world(&["c1"]);
    ca_root(&mut w, "c1", Observed::Present(foreign.cert_pem()));
    let mut on = wiring(Some(root.clone()));
    on.restart_istiod = true;
    w.cfg.istio = Some(on);
    let restart = |w: &World| w.run().member_status["c1"].restart_istiod.clone();

    // cacerts not written by the controller, or of another root: not plugged.
    cacerts(&mut w, "c1", false, ours.clone());
    assert_eq!(restart(&w), None);
    cacerts(&mut w, "c1", true, theirs);
    assert_eq!(restart(&w), None);
    // Plugged: restart the default revision's istiod.
    cacerts(&mut w, "c1", true, ours);
    let want = IstiodRestart {
        fingerprint: fp.clone(),
        revision: None,
    };
    assert_eq!(restart(&w), Some(want.clone()));
    // Nothing found: asked again, and said.
    w.index
        .apply_istio("c1", IstioFact::Istiod(IstiodState::NotFound))
        .unwrap();
    assert_eq!(restart(&w), Some(want));
    assert!(notes(&w.run(), "c1").contains("no istiod Deployment"));
    // Done for this root: never again, and the persisting foreign root is reported.
    w.index
        .apply_istio("c1", IstioFact::Istiod(IstiodState::Annotated(fp.clone())))
        .unwrap();
    assert_eq!(restart(&w), None);
    assert!(notes(&w.run(), "c1").contains("was restarted for the clusterset root"));
    // Done for another root (a rotation): once more.
    w.index
        .apply_istio(
            "c1",
            IstioFact::Istiod(IstiodState::Annotated("0".repeat(64))),
        )
        .unwrap();
    assert!(restart(&w).is_some());
    // The member's revision selects its istiod.
    let mut info = w.index.member("c1").unwrap().info.clone();
    info.revision = Some("canary".into());
    w.index.upsert_member(info);
    assert_eq!(restart(&w).unwrap().revision.as_deref(), Some("canary"));
    // Without --restart-istiod: the note says how, nothing is restarted.
    w.cfg.istio = Some(wiring(Some(root.clone())));
    let d = w.run();
    assert_eq!(d.member_status["c1"].restart_istiod, None);
    let n = notes(&d, "c1");
    assert!(
        n.contains("deployment/istiod-canary") && n.contains("--restart-istiod"),
        "{n}"
    );
    // The clusterset root published: nothing to restart.
    let mut on = wiring(Some(root.clone()));
    on.restart_istiod = true;
    w.cfg.istio = Some(on);
    ca_root(&mut w, "c1", Observed::Present(root.cert_pem()));
    assert_eq!(restart(&w), None);
}

#[test]
fn cacerts_read_from_the_member_are_reused() {
    let root = Arc::new(generated_root());
    let mut w = world(&["c1"]);
    w.cfg.istio = Some(wiring(Some(root.clone())));
    let existing = issue_intermediate(&root, "c1", &IntermediateOptions::default(), now()).unwrap();
    cacerts(&mut w, "c1", true, existing.clone());
    let d = w.run();
    let secret = find(&d, "c1", "Secret", "istio-system", "cacerts").unwrap();
    assert_eq!(secret["data"]["ca-cert.pem"], b64(&existing.ca_cert));
}
