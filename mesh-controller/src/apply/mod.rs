//! The applier: writes desired objects into member clusters with server-side apply, writes
//! ServiceExport status through the status subresource, prunes what it owns and no longer
//! wants, and records Kubernetes Events when an export enters or leaves conflict.
//!
//! Everything is written with the field manager [`FIELD_MANAGER`] and must carry the ownership
//! label [`MANAGED_BY`]`=`[`MANAGED_BY_VALUE`]; pruning lists by that label, so objects users
//! wrote are never touched. A per-cluster cache of what was last written skips unchanged
//! objects; a full pass (`full = true`, on start and on the periodic resync) clears it, re-applies
//! everything and starts a prune listing in the background: writes never wait for it, and the
//! first pass after it finished prunes the owned objects it found that are no longer desired.
//!
//! [`FIELD_MANAGER`]: isthmus_api::labels::FIELD_MANAGER
//! [`MANAGED_BY`]: isthmus_api::labels::MANAGED_BY
//! [`MANAGED_BY_VALUE`]: isthmus_api::labels::MANAGED_BY_VALUE

mod adopt;
mod applier;
mod error;
mod events;
mod listing;
mod order;
mod prune;
mod status;
mod version;
mod writes;

pub use applier::{ClusterApplier, PER_WRITE_TIMEOUT, SyncReport};
pub use error::{ApplyError, error_class};
pub use prune::{NAMESPACED_LISTINGS, NEVER_PRUNED, listing_namespace, prune_kinds};
pub use status::conflict_of;
pub use version::to_served_version;

use crate::model::ObjectKey;

/// The annotation the applier writes on every object it applies: the fingerprint (16 hex
/// digits) of the object as it sends it, without this annotation. A writer that starts
/// knowing nothing (a restart, a new leader) lists its owned objects, adopts those whose
/// annotation matches what it would send, and writes only the others.
pub const APPLIED_HASH: &str = "isthmus.io/applied-hash";

/// The identity of one object in one cluster (see [`ObjectKey`]).
pub type ObjKey = ObjectKey;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ownership::has_owner_label;
    use crate::resource::api_resource;
    use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
    use serde_json::json;

    #[test]
    fn keys_and_plurals() {
        let obj = json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport",
            "metadata": {"name": "web", "namespace": "shop", "labels": {MANAGED_BY: MANAGED_BY_VALUE}}});
        let key = ObjKey::of(&obj).unwrap();
        assert_eq!(key.namespace, "shop");
        assert!(has_owner_label(&obj));
        assert_eq!(
            api_resource(&key.api_version, &key.kind).plural,
            "serviceimports"
        );
        assert_eq!(
            api_resource("discovery.k8s.io/v1", "EndpointSlice").plural,
            "endpointslices"
        );
        assert_eq!(
            api_resource("about.k8s.io/v1alpha1", "ClusterProperty").plural,
            "clusterproperties"
        );
        let core = api_resource("v1", "Namespace");
        assert_eq!(
            (
                core.group.as_str(),
                core.version.as_str(),
                core.plural.as_str()
            ),
            ("", "v1", "namespaces")
        );
        assert!(ObjKey::of(&json!({"kind": "X", "metadata": {"name": "a"}})).is_none());
        assert!(!has_owner_label(
            &json!({"metadata": {"labels": {MANAGED_BY: "someone"}}})
        ));
    }
}
