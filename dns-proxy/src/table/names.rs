//! The owner names the MCS DNS specification gives a service, its ports and its endpoints
//! (KEP-1645 DNS specification, sections 2.3 and 2.4), in lower case.

use super::wire::name_to_wire;
use crate::model::Service;

/// `<service>.<ns>.svc.<zone>`, or `None` when the namespace or the name cannot be one DNS
/// label each.
pub(super) fn service_name(svc: &Service, zone: &str) -> Option<String> {
    let svc_name = format!("{}.{}.svc.{zone}", svc.name, svc.namespace).to_ascii_lowercase();
    if name_to_wire(&svc_name).is_none()
        || svc.name.is_empty()
        || svc.namespace.is_empty()
        || svc.name.contains('.')
        || svc.namespace.contains('.')
    {
        return None;
    }
    Some(svc_name)
}

/// `<ns>.svc.<zone>` of a service name.
pub(super) fn namespace_name(svc_name: &str) -> Option<&str> {
    svc_name.split_once('.').map(|(_, ns)| ns)
}

/// `_<port>._<protocol>.<service name>` of a named port; unnamed ports (and names too long
/// for DNS) have none.
pub(super) fn named_port(name: Option<&str>, protocol: &str, svc_name: &str) -> Option<String> {
    let name = name.filter(|n| !n.is_empty())?;
    let owner = format!(
        "_{}._{}.{svc_name}",
        name.to_ascii_lowercase(),
        protocol.to_ascii_lowercase()
    );
    name_to_wire(&owner).map(|_| owner)
}

/// Whether a cluster ID can be one label of a host name.
pub(super) fn valid_cluster(cluster: &str) -> bool {
    !cluster.is_empty() && !cluster.contains('.')
}

/// `<clusterid>.<service name>`: it holds the cluster's host names but must not exist itself
/// (spec 2.3.4, 2.4.4).
pub(super) fn cluster_name(cluster: &str, svc_name: &str) -> String {
    format!("{}.{svc_name}", cluster.to_ascii_lowercase())
}

/// `<label>.<clusterid>.<service name>` of an endpoint address: `Err` with the name when it
/// is not a valid DNS name.
pub(super) fn host_name(label: &str, cluster_name: &str) -> Result<String, String> {
    let host = format!("{label}.{cluster_name}");
    if label.is_empty() || label.contains('.') || name_to_wire(&host).is_none() {
        return Err(host);
    }
    Ok(host)
}
