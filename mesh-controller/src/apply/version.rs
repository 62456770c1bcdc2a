//! The MCS API version a member serves: MCS objects are written in it.

use isthmus_api::mcs;
use serde_json::Value;

/// Rewrites MCS objects to the MCS API version the cluster serves (the schemas are identical).
pub fn to_served_version(obj: &mut Value, mcs_version: &str) {
    let Some(av) = obj.get("apiVersion").and_then(Value::as_str) else {
        return;
    };
    if let Some((group, version)) = av.split_once('/')
        && group == mcs::GROUP
        && version != mcs_version
    {
        obj["apiVersion"] = Value::String(format!("{group}/{mcs_version}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mcs_objects_follow_the_served_version() {
        let mut obj =
            json!({"apiVersion": "multicluster.x-k8s.io/v1beta1", "kind": "ServiceImport"});
        to_served_version(&mut obj, "v1alpha1");
        assert_eq!(obj["apiVersion"], "multicluster.x-k8s.io/v1alpha1");
        let mut other = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice"});
        to_served_version(&mut other, "v1alpha1");
        assert_eq!(other["apiVersion"], "discovery.k8s.io/v1");
    }
}
