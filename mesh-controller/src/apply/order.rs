//! Write scheduling: the order and the concurrency of one pass's writes.

use crate::model::DesiredObject;

/// How many writes run at once against one cluster.
pub(super) const CONCURRENCY: usize = 16;

/// Write order within one pass: new ServiceImports first (what a new export waits for), then
/// new objects, then changed ones.
pub(super) fn priority(obj: &DesiredObject, new: bool) -> u8 {
    match (obj.key.kind.as_str() == "ServiceImport", new) {
        (true, true) => 0,
        (false, true) => 1,
        (true, false) => 2,
        (false, false) => 3,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use isthmus_api::labels::{MANAGED_BY, MANAGED_BY_VALUE};
    use serde_json::json;

    #[test]
    fn new_imports_are_written_first() {
        let obj = |kind: &str, name: &str| {
            DesiredObject::new(json!({"apiVersion": "v1x", "kind": kind,
                "metadata": {"name": name, "namespace": "ns", "labels": {MANAGED_BY: MANAGED_BY_VALUE}},
                "status": {"clusters": [{"cluster": "a"}]}}))
            .unwrap()
        };
        let import = obj("ServiceImport", "web");
        let slice = obj("EndpointSlice", "web-a");
        assert!(priority(&import, true) < priority(&slice, true));
        assert!(priority(&slice, true) < priority(&import, false));
        // The import's status is split off for the status subresource; the slice keeps it.
        assert!(import.body.get("status").is_none() && import.status.is_some());
        assert!(slice.body.get("status").is_some() && slice.status.is_none());
        assert_eq!(import.to_value()["status"]["clusters"][0]["cluster"], "a");
    }
}
