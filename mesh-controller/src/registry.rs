//! The member list, from a clusterset file or from MemberCluster objects. Pure: kubeconfig
//! Secrets are resolved by the caller.

use std::collections::BTreeMap;
use std::sync::Arc;

use gateway_config::clusterset::{ClusterSet, GatewayExposure};
use isthmus_api::names;

use crate::model::{IstioWiring, MemberInfo, MemberStatus};
use crate::root_of_trust;
use isthmus_api::crd::{
    EastWestGatewaySpec, MemberCluster, MemberClusterCondition, MemberClusterStatus,
};
use jiff::Timestamp;

/// Errors reading a MemberCluster.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// A field is missing or invalid.
    #[error("MemberCluster {name}: {field}: {problem}")]
    Invalid {
        /// Object name.
        name: String,
        /// Field path.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The members of a (validated) clusterset file, in file order. Reader kubeconfigs are not
/// part of the file: remote secrets come from each member's reader token Secret.
pub fn from_clusterset(cs: &ClusterSet) -> Vec<MemberInfo> {
    cs.members
        .iter()
        .map(|m| MemberInfo {
            name: m.name.clone(),
            network: m.network.clone(),
            region: m.region.clone(),
            zone: m.zone.clone(),
            revision: m.revision.clone(),
            labels: m.labels.clone(),
            exposure: m.east_west_gateway.clone(),
            reader_kubeconfig: None,
        })
        .collect()
}

/// The Istio wiring settings of a clusterset: the mesh networks ConfigMap, no root CA
/// (`cacerts` unmanaged) and no istiod restarts; the live controller turns on what its flags
/// ask for.
pub fn istio_wiring(cs: &ClusterSet) -> IstioWiring {
    IstioWiring {
        mesh_id: cs.mesh_id.clone(),
        trust_domain: cs.trust_domain.clone(),
        expose_hosts: gateway_config::istio::ExposeHosts::All,
        root: None,
        renewal: gateway_config::ca::RenewalPolicy::default(),
        restart_istiod: false,
        mesh_networks: true,
    }
}

fn exposure(name: &str, g: Option<&EastWestGatewaySpec>) -> Result<GatewayExposure, RegistryError> {
    let invalid = |field, problem: String| RegistryError::Invalid {
        name: name.to_owned(),
        field,
        problem,
    };
    let Some(g) = g else {
        return Ok(GatewayExposure::LoadBalancer);
    };
    match g.type_.as_deref().unwrap_or("LoadBalancer") {
        "LoadBalancer" => Ok(GatewayExposure::LoadBalancer),
        "NodePort" => {
            if g.node_selector.is_empty() {
                return Err(invalid(
                    "spec.eastWestGateway.nodeSelector",
                    "must not be empty for NodePort".to_owned(),
                ));
            }
            Ok(GatewayExposure::NodePort {
                node_selector: g.node_selector.clone(),
                node_port: g.node_port,
            })
        }
        "Static" => {
            if g.addresses.is_empty() {
                return Err(invalid(
                    "spec.eastWestGateway.addresses",
                    "must not be empty for Static".to_owned(),
                ));
            }
            Ok(GatewayExposure::Static {
                addresses: g.addresses.clone(),
                port: g.port,
            })
        }
        other => Err(invalid(
            "spec.eastWestGateway.type",
            format!("{other:?} is not LoadBalancer, NodePort or Static"),
        )),
    }
}

/// A member from a MemberCluster object; `reader_kubeconfig` is the content of its
/// `readerKubeconfigSecretRef`, when the caller resolved it.
pub fn from_member_cluster(
    mc: &MemberCluster,
    reader_kubeconfig: Option<Vec<u8>>,
) -> Result<MemberInfo, RegistryError> {
    let name = mc.metadata.name.clone().unwrap_or_default();
    let invalid = |field, problem: String| RegistryError::Invalid {
        name: if name.is_empty() {
            "<unnamed>".to_owned()
        } else {
            name.clone()
        },
        field,
        problem,
    };
    names::rfc1123_label(&name).map_err(|p| invalid("metadata.name", p.to_string()))?;
    names::label_value_nonempty(&mc.spec.network)
        .map_err(|p| invalid("spec.network", p.to_string()))?;
    Ok(MemberInfo {
        name: name.clone(),
        network: mc.spec.network.clone(),
        region: mc.spec.region.clone(),
        zone: mc.spec.zone.clone(),
        revision: mc.spec.revision.clone(),
        labels: mc.metadata.labels.clone().unwrap_or_default(),
        exposure: exposure(&name, mc.spec.east_west_gateway.as_ref())?,
        reader_kubeconfig: reader_kubeconfig.map(Arc::new),
    })
}

/// Members named by folder only (offline render without a clusterset): all on one network.
pub fn single_network(names: &[String], network: &str) -> Vec<MemberInfo> {
    names
        .iter()
        .map(|n| MemberInfo {
            name: n.clone(),
            network: network.to_owned(),
            labels: BTreeMap::new(),
            ..MemberInfo::default()
        })
        .collect()
}

/// A MemberCluster's status from the controller's view of the member at `now`. A condition
/// keeps the `lastTransitionTime` it has in `previous` (the stored status) while its status
/// stays the same.
pub fn member_cluster_status(
    s: &MemberStatus,
    previous: Option<&MemberClusterStatus>,
    now: Timestamp,
) -> MemberClusterStatus {
    let mut conditions = Vec::new();
    if let Some(r) = &s.root_of_trust {
        let status = r.trust.condition_status();
        let since = previous
            .and_then(|p| {
                p.conditions
                    .iter()
                    .find(|c| c.type_ == root_of_trust::CONDITION_TYPE && c.status == status)
            })
            .map_or_else(|| now.to_string(), |c| c.last_transition_time.clone());
        conditions.push(MemberClusterCondition {
            type_: root_of_trust::CONDITION_TYPE.to_owned(),
            status: status.to_owned(),
            reason: r.trust.reason().to_owned(),
            message: r.message.clone(),
            last_transition_time: since,
        });
    }
    MemberClusterStatus {
        reachable: s.reachable,
        withdrawn: s.withdrawn,
        gateway_addresses: s.gateway_addresses.clone(),
        gateway_port: s.gateway_port,
        exports: u32::try_from(s.exports).unwrap_or(u32::MAX),
        imports: u32::try_from(s.imports).unwrap_or(u32::MAX),
        notes: s.notes.clone(),
        conditions,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use isthmus_api::crd::MemberClusterSpec;

    fn mc(name: &str, spec: MemberClusterSpec) -> MemberCluster {
        MemberCluster::new(name, spec)
    }

    #[test]
    fn member_cluster_maps_to_member_info() {
        let m = mc(
            "east",
            MemberClusterSpec {
                network: "net1".into(),
                east_west_gateway: Some(EastWestGatewaySpec {
                    type_: Some("Static".into()),
                    addresses: vec!["gw.example.com".into()],
                    port: Some(443),
                    ..EastWestGatewaySpec::default()
                }),
                ..MemberClusterSpec::default()
            },
        );
        let info = from_member_cluster(&m, Some(b"kc".to_vec())).unwrap();
        assert_eq!(info.network, "net1");
        assert_eq!(
            info.exposure,
            GatewayExposure::Static {
                addresses: vec!["gw.example.com".into()],
                port: Some(443)
            }
        );
        assert!(info.reader_kubeconfig.is_some());
    }

    #[test]
    fn invalid_member_cluster_names_the_field() {
        let m = mc(
            "east",
            MemberClusterSpec {
                network: "net1".into(),
                east_west_gateway: Some(EastWestGatewaySpec {
                    type_: Some("NodePort".into()),
                    ..EastWestGatewaySpec::default()
                }),
                ..MemberClusterSpec::default()
            },
        );
        let err = from_member_cluster(&m, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("spec.eastWestGateway.nodeSelector"),
            "{err}"
        );
        let m = mc(
            "Bad_Name",
            MemberClusterSpec {
                network: "n".into(),
                ..Default::default()
            },
        );
        assert!(
            from_member_cluster(&m, None)
                .unwrap_err()
                .to_string()
                .contains("metadata.name")
        );
        let m = mc("ok", MemberClusterSpec::default());
        assert!(
            from_member_cluster(&m, None)
                .unwrap_err()
                .to_string()
                .contains("spec.network")
        );
    }

    #[test]
    fn the_root_of_trust_condition_keeps_its_transition_time_while_unchanged() {
        use crate::root_of_trust::{RootOfTrust, Trust};
        let t1 = Timestamp::from_second(1_800_000_000).unwrap();
        let t2 = Timestamp::from_second(1_800_000_600).unwrap();
        let verdict = |trust| RootOfTrust {
            trust,
            clusterset: "ab".into(),
            published: vec!["cd".into()],
            message: "m".into(),
        };
        let mut st = MemberStatus {
            reachable: true,
            root_of_trust: Some(verdict(Trust::ForeignRoot)),
            ..MemberStatus::default()
        };
        let first = member_cluster_status(&st, None, t1);
        let c = &first.conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("IstioRootOfTrust", "False", "ForeignRoot")
        );
        assert_eq!(c.last_transition_time, t1.to_string());
        let same = member_cluster_status(&st, Some(&first), t2);
        assert_eq!(same.conditions[0].last_transition_time, t1.to_string());
        st.root_of_trust = Some(verdict(Trust::ClustersetRoot));
        let flipped = member_cluster_status(&st, Some(&same), t2);
        assert_eq!(
            (
                flipped.conditions[0].status.as_str(),
                flipped.conditions[0].last_transition_time.clone()
            ),
            ("True", t2.to_string())
        );
        // Without the clusterset CA: no condition.
        st.root_of_trust = None;
        assert!(
            member_cluster_status(&st, Some(&flipped), t2)
                .conditions
                .is_empty()
        );
    }

    #[test]
    fn clusterset_members_keep_file_order() {
        let cs = ClusterSet::from_yaml(
            "meshID: m\nmembers:\n- name: b\n  network: n1\n- name: a\n  network: n2\n",
            std::path::Path::new("cs.yaml"),
        )
        .unwrap();
        let infos = from_clusterset(&cs);
        assert_eq!(infos[0].name, "b");
        assert_eq!(infos[1].network, "n2");
        assert_eq!(istio_wiring(&cs).mesh_id, "m");
    }
}
