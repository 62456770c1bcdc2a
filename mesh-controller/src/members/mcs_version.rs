//! Which MCS API version (`multicluster.x-k8s.io`) a member serves.

use isthmus_api::mcs;
use kube::Client;

/// Picks the MCS version to use from the versions a member serves.
pub fn pick_mcs_version<'a>(served: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let served: Vec<&str> = served.into_iter().collect();
    ["v1beta1", "v1alpha1"]
        .into_iter()
        .find(|v| served.contains(v))
        .map(str::to_owned)
}

/// Discovers which MCS version a member serves (`None` when the MCS CRDs are not installed).
pub async fn discover_mcs_version(client: &Client) -> Result<Option<String>, kube::Error> {
    match kube::discovery::group(client, mcs::GROUP).await {
        Ok(group) => Ok(pick_mcs_version(group.versions())),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(kube::Error::Discovery(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_v1beta1_and_falls_back_to_v1alpha1() {
        assert_eq!(
            pick_mcs_version(["v1alpha1", "v1beta1"]),
            Some("v1beta1".into())
        );
        assert_eq!(pick_mcs_version(["v1alpha1"]), Some("v1alpha1".into()));
        assert_eq!(pick_mcs_version(["v2"]), None);
    }
}
