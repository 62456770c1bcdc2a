//! Istio multi-network wiring per member, built with gateway-config's generators: the network
//! label on `istio-system`, the `cross-network-gateway`, remote secrets for every other member
//! (from its reader identity), the plug-in `cacerts`, and the `isthmus-mesh-networks`
//! ConfigMap when some gateway has no load-balancer address; plus the address other networks
//! reach the member's gateway at, and whether its istiod publishes the clusterset root.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gateway_config::ca::desired_cacerts;
use gateway_config::clusterset::GatewayExposure;
use gateway_config::istio::{
    ISTIO_SYSTEM, MESH_NETWORKS_CONFIGMAP, MESH_NETWORKS_KEY, NetworkMember, TLS_PORT,
    expose_services, istiod_name, mesh_networks_of, mesh_networks_yaml, network_namespace,
    validate_mesh_networks,
};
use gateway_config::remote_secret::{READER_TOKEN_SECRET, RemoteSecretOptions, remote_secret};
use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::model::{
    IstioWiring, IstiodRestart, IstiodState, MemberState, MemberStatus, Observed,
    ROOT_FINGERPRINT_ANNOTATION, ReaderAccess, Snapshot,
};
use crate::root_of_trust::{self, CA_ROOT_CONFIGMAP, Trust};

fn owned(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert(MANAGED_BY.to_owned(), json!(MANAGED_BY_VALUE));
        }
    }
    v
}

fn to_value<T: serde::Serialize>(obj: &T, what: &str, status: &mut MemberStatus) -> Option<Value> {
    match serde_json::to_value(obj) {
        Ok(v) => Some(owned(v)),
        Err(e) => {
            status.notes.push(format!("{what}: cannot serialize: {e}"));
            None
        }
    }
}

/// Where other networks reach `member`'s east-west gateway, or a note why it is unknown.
pub fn gateway_address(member: &MemberState, status: &mut MemberStatus) {
    let tls = i32::from(TLS_PORT);
    match &member.info.exposure {
        GatewayExposure::Static { addresses, port } => {
            status.gateway_addresses = addresses.clone();
            status.gateway_port = Some(port.map_or(tls, i32::from));
        }
        GatewayExposure::LoadBalancer => match &member.gateway {
            Some(g) if !g.lb_addresses.is_empty() || !g.external_ips.is_empty() => {
                let mut a = g.lb_addresses.clone();
                a.extend(g.external_ips.iter().cloned());
                status.gateway_addresses = a;
                status.gateway_port = Some(tls);
            }
            Some(_) => status
                .notes
                .push("east-west gateway Service has no load-balancer address yet".to_owned()),
            None => status
                .notes
                .push("east-west gateway Service not found in istio-system".to_owned()),
        },
        GatewayExposure::NodePort { node_port, .. } => {
            let port = member
                .gateway
                .as_ref()
                .and_then(|g| g.tls_node_port)
                .or(node_port.map(i32::from));
            if member.node_addresses.is_empty() {
                status
                    .notes
                    .push("no node addresses for the NodePort east-west gateway".to_owned());
            } else {
                status.gateway_addresses = member.node_addresses.clone();
            }
            match port {
                Some(p) => status.gateway_port = Some(p),
                None => status
                    .notes
                    .push("east-west gateway tls node port not known yet".to_owned()),
            }
        }
    }
}

/// The `isthmus-mesh-networks` ConfigMap every member gets when some member's gateway is
/// Static or NodePort: under [`MESH_NETWORKS_KEY`], the YAML document istiod parses as
/// `MeshNetworks` (`pkg/config/mesh/mesh.go` `ParseMeshNetworks`), `networks:` mapping each
/// such network to its endpoints (`fromRegistry` of each member) and gateways. `None` when
/// every gateway is a LoadBalancer (istiod finds those from the labelled Service).
pub fn mesh_networks_configmap(snap: &Snapshot) -> Result<Option<Value>, String> {
    let networks = mesh_networks_of(snap.members.values().map(|m| NetworkMember {
        name: &m.info.name,
        network: &m.info.network,
        exposure: &m.info.exposure,
    }));
    let Some(networks) = networks else {
        return Ok(None);
    };
    // istiod replaces invalid mesh networks with its last valid ones (empty at start), so an
    // invalid document is never written.
    validate_mesh_networks(&networks)
        .map_err(|e| format!("{MESH_NETWORKS_CONFIGMAP}: not written: {e}"))?;
    let doc = mesh_networks_yaml(&networks);
    Ok(Some(owned(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": MESH_NETWORKS_CONFIGMAP, "namespace": ISTIO_SYSTEM},
        "data": { MESH_NETWORKS_KEY: doc },
    }))))
}

/// A bearer-token kubeconfig for `cluster` from its reader identity: the server (and
/// `tls-server-name`) the controller reaches it at, the CA of the token Secret's `ca.crt` or
/// else the controller's, and the reader token; never the controller's own credential.
pub fn reader_kubeconfig(cluster: &str, access: &ReaderAccess) -> Result<Vec<u8>, String> {
    let mut c = Map::new();
    c.insert("server".into(), json!(access.endpoint.server));
    match access.ca_crt.as_ref().or(access.endpoint.ca_pem.as_ref()) {
        Some(ca) => {
            c.insert(
                "certificate-authority-data".into(),
                json!(B64.encode(ca.as_bytes())),
            );
        }
        None if access.endpoint.insecure => {
            c.insert("insecure-skip-tls-verify".into(), json!(true));
        }
        None => {}
    }
    if let Some(name) = &access.endpoint.tls_server_name {
        c.insert("tls-server-name".into(), json!(name));
    }
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": Value::Object(c)}],
        "users": [{"name": cluster, "user": {"token": access.token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
        "current-context": cluster,
    });
    isthmus_api::yaml::to_string(&kubeconfig)
        .map(String::into_bytes)
        .map_err(|e| format!("cannot write the reader kubeconfig: {e}"))
}

/// The kubeconfig the remote secret for `other` is built from, and where it came from; or a
/// note saying why there is none and what to do.
fn reader_source(other: &MemberState) -> Result<(Vec<u8>, String), String> {
    let name = &other.info.name;
    if let Some(kc) = &other.info.reader_kubeconfig {
        return Ok((
            kc.as_ref().clone(),
            format!("reader kubeconfig of cluster {name} (spec.readerKubeconfigSecretRef)"),
        ));
    }
    let secret = format!("{ISTIO_SYSTEM}/{READER_TOKEN_SECRET}");
    match &other.istio.reader {
        Observed::Present(access) => reader_kubeconfig(name, access)
            .map(|kc| {
                (
                    kc,
                    format!("reader token Secret {secret} of cluster {name}"),
                )
            })
            .map_err(|e| format!("no remote secret for cluster {name}: {e}")),
        Observed::Unknown => Err(format!(
            "no remote secret for cluster {name} yet: its reader token Secret {secret} has not been read"
        )),
        Observed::Absent => Err(format!(
            "no remote secret for cluster {name}: Secret {secret} not found there; `isthmus install --role member` creates it (or set spec.readerKubeconfigSecretRef to a kubeconfig of a reader identity)"
        )),
        Observed::Invalid(why) => Err(format!(
            "no remote secret for cluster {name}: its reader token Secret {secret} cannot be used: {why}"
        )),
        Observed::Unreadable(why) => Err(format!(
            "no remote secret for cluster {name}: cannot read Secret {secret} there: {why}; `isthmus install --role member` grants reading it"
        )),
    }
}

/// Whether `member`'s istiod publishes the clusterset root (`None` without a clusterset root),
/// with notes, and whether its istiod is to be restarted.
pub fn root_of_trust(member: &MemberState, wiring: &IstioWiring, status: &mut MemberStatus) {
    let Some(root) = &wiring.root else {
        plugged_root_of_trust(member, status);
        return;
    };
    let der = root.cert().cert_der();
    let ca_root = &member.istio.ca_root;
    let mut verdict = root_of_trust::assess(ca_root.present().map(String::as_str), der);
    match ca_root {
        Observed::Unknown => {
            verdict.message = format!(
                "istio-system/{CA_ROOT_CONFIGMAP} has not been read yet; the clusterset root is sha256:{}",
                verdict.clusterset
            );
        }
        Observed::Invalid(why) | Observed::Unreadable(why) => {
            verdict.message = format!(
                "istio-system/{CA_ROOT_CONFIGMAP} cannot be read: {why}; the clusterset root is sha256:{}",
                verdict.clusterset
            );
        }
        Observed::Absent | Observed::Present(_) => {}
    }
    if verdict.trust == Trust::ForeignRoot {
        let plugged = member
            .istio
            .cacerts
            .present()
            .is_some_and(|c| c.owned && root_of_trust::holds_clusterset_chain(&c.bundle, der));
        let revision = member.info.revision.clone();
        let deployment = istiod_name(revision.as_deref());
        if !plugged {
            status.notes.push(
                "istiod publishes a foreign root; it is to be restarted once istio-system/cacerts holds the clusterset chain written by the controller".to_owned(),
            );
        } else if !wiring.restart_istiod {
            status.notes.push(format!(
                "istiod publishes a foreign root although istio-system/cacerts holds the clusterset chain: restart it (`kubectl -n {ISTIO_SYSTEM} rollout restart deployment/{deployment}`) or run the controller with --restart-istiod"
            ));
        } else {
            match &member.istio.istiod {
                Some(IstiodState::Annotated(fp)) if *fp == verdict.clusterset => {
                    status.notes.push(format!(
                        "istiod was restarted for the clusterset root (pod template annotation {ROOT_FINGERPRINT_ANNOTATION}) and still publishes a foreign root; if this lasts, check istio-system/cacerts and istiod's logs"
                    ));
                }
                other => {
                    if other == &Some(IstiodState::NotFound) {
                        status.notes.push(format!(
                            "no istiod Deployment of revision {} (label app=istiod) in {ISTIO_SYSTEM} to restart",
                            revision.as_deref().unwrap_or("default")
                        ));
                    }
                    status.restart_istiod = Some(IstiodRestart {
                        fingerprint: verdict.clusterset.clone(),
                        revision,
                    });
                }
            }
        }
    }
    status.root_of_trust = Some(verdict);
}

/// Without a clusterset CA in the controller, the reference is the root that the member's own
/// `cacerts` chain ends at (plugged by hand, `isthmus ca issue`): an istiod publishing another
/// root started before `cacerts` existed (`pilot/pkg/bootstrap/istio_ca.go` decides once, at
/// start). Nothing is restarted in this mode; the note says how.
fn plugged_root_of_trust(member: &MemberState, status: &mut MemberStatus) {
    let Some(cacerts) = member.istio.cacerts.present() else {
        return;
    };
    let Some(root) = root_of_trust::chain_root(&cacerts.bundle) else {
        return;
    };
    let published = member.istio.ca_root.present().map(String::as_str);
    let mut verdict = root_of_trust::assess(published, &root);
    let plugged = &verdict.clusterset;
    match verdict.trust {
        Trust::ClustersetRoot => {
            verdict.message =
                format!("istiod publishes sha256:{plugged}, the root of {ISTIO_SYSTEM}/cacerts");
        }
        Trust::ForeignRoot => {
            let listed = verdict
                .published
                .iter()
                .map(|f| format!("sha256:{f}"))
                .collect::<Vec<_>>()
                .join(", ");
            let deployment = istiod_name(member.info.revision.as_deref());
            verdict.message = format!(
                "istiod publishes {listed}, not sha256:{plugged}, the root of {ISTIO_SYSTEM}/cacerts: it started before cacerts existed and signs with a root of its own"
            );
            status.notes.push(format!(
                "istiod publishes a root other than {ISTIO_SYSTEM}/cacerts': restart it (`kubectl -n {ISTIO_SYSTEM} rollout restart deployment/{deployment}`)"
            ));
        }
        Trust::NotPublished => {}
    }
    status.root_of_trust = Some(verdict);
}

/// The Istio objects for `member`; `mesh_networks` is the clusterset's
/// [`mesh_networks_configmap`], the same for every member.
pub fn objects(
    snap: &Snapshot,
    member: &MemberState,
    wiring: &IstioWiring,
    mesh_networks: Option<&Value>,
    now: Timestamp,
    status: &mut MemberStatus,
) -> Vec<Value> {
    let mut out = Vec::new();
    let name = &member.info.name;
    out.extend(to_value(
        &network_namespace(&member.info.network),
        "istio-system Namespace",
        status,
    ));
    out.push(owned(expose_services(&wiring.expose_hosts)));
    for (other_name, other) in &snap.members {
        if other_name == name {
            continue;
        }
        let (kc, origin) = match reader_source(other) {
            Ok(s) => s,
            Err(note) => {
                status.notes.push(note);
                continue;
            }
        };
        let opts = RemoteSecretOptions {
            origin,
            namespace: Some(ISTIO_SYSTEM.to_owned()),
            ..RemoteSecretOptions::default()
        };
        match remote_secret(other_name, &kc, &opts) {
            Ok(rs) => {
                for w in rs.warnings {
                    status
                        .notes
                        .push(format!("remote secret for {other_name}: {w}"));
                }
                out.extend(to_value(
                    &rs.secret,
                    &format!("remote secret for {other_name}"),
                    status,
                ));
            }
            Err(e) => status
                .notes
                .push(format!("no remote secret for cluster {other_name}: {e}")),
        }
    }
    // The member's own cacerts are reused while good, so they are only planned once read
    // (or once reading them failed): planning before would issue a new intermediate.
    if let Some(root) = &wiring.root
        && member.istio.cacerts.is_known()
    {
        match desired_cacerts(root, name, member.cacerts.as_ref(), &wiring.renewal, now) {
            Ok(b) => out.extend(to_value(&b.to_secret(), "cacerts", status)),
            Err(e) => status.notes.push(format!("cacerts: {e}")),
        }
    }
    if let Observed::Unreadable(why) = &member.istio.cacerts {
        status
            .notes
            .push(format!("cannot read istio-system/cacerts: {why}"));
    }
    out.extend(mesh_networks.cloned());
    out
}
