//! What a simulated cluster was asked: the requests installed RBAC does not allow.

use isthmus_install::rbac::Grants;
use kube_sim::SimCluster;

/// The resource requests `cluster` served that `grants` does not allow, one line each
/// (`<who>: <verb> <group>/<resource>/<subresource> <namespace>/<name>`), sorted and without
/// repeats. Non-resource requests (discovery, `/version`) are not checked.
pub fn denied(cluster: &SimCluster, who: &str, grants: &Grants) -> Vec<String> {
    let mut out: Vec<String> = cluster
        .request_log()
        .into_iter()
        .filter(|r| !r.resource.is_empty())
        .filter(|r| {
            !grants.allows(
                &r.namespace,
                &r.group,
                &r.resource,
                &r.subresource,
                &r.verb,
                &r.name,
            )
        })
        .map(|r| {
            format!(
                "{who}: {} {}/{}/{} {}/{}",
                r.verb, r.group, r.resource, r.subresource, r.namespace, r.name
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
