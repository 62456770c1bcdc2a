//! What the Istio wiring reads from a member besides its watches, and istiod restarts.
//!
//! The member grants `get` on two Secrets of `istio-system` only, so they are read by name
//! every [`IstioReads::refresh`](super::IstioReads): the reader token Secret (its token
//! becomes the remote secrets other members get) and `cacerts` (reused while good, and whether
//! the clusterset chain is plugged). A restart patches the pod template of the member's istiod
//! Deployment(s) with a JSON merge patch under its own field manager: the controller never
//! applies, owns or prunes a Deployment.

use std::sync::Arc;
use std::time::Duration;

use gateway_config::ca::CACERTS_SECRET_NAME;
use gateway_config::istio::ISTIO_SYSTEM;
use gateway_config::remote_secret::READER_TOKEN_SECRET;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Engine;
use crate::index::{IndexError, project_cacerts, project_reader_token};
use crate::metrics::Metrics;
use crate::model::{
    ApiEndpoint, IstioFact, IstiodRestart, IstiodState, Observed, ObservedCaCerts,
    ROOT_FINGERPRINT_ANNOTATION, ReaderAccess,
};
use crate::resource::api_resource;

/// Field manager of the istiod restart patch (never the applier's).
pub const RESTART_FIELD_MANAGER: &str = "isthmus-istiod-restart";
/// Label selecting istiod Deployments.
pub const ISTIOD_SELECTOR: &str = "app=istiod";
/// Label naming the Istio revision of an istiod Deployment.
pub const REVISION_LABEL: &str = "istio.io/rev";

/// The periodic Secret reads of one member.
pub(super) struct IstioReader {
    pub(super) cluster: String,
    pub(super) client: Client,
    pub(super) endpoint: ApiEndpoint,
    pub(super) engine: Arc<dyn Engine>,
    pub(super) notify: Arc<Notify>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) refresh: Duration,
}

/// Why a read gave nothing usable, for the log (`None`: usable, or absent).
fn problem<T>(o: &Observed<T>) -> Option<&str> {
    match o {
        Observed::Invalid(why) | Observed::Unreadable(why) => Some(why),
        _ => None,
    }
}

impl IstioReader {
    /// Reads both Secrets now and every `refresh` until `cancel` fires; a change wakes the
    /// reconcile loop.
    pub(super) async fn run(self, cancel: CancellationToken) {
        // The last problem logged per Secret: each is logged once, not on every read.
        let mut logged: [Option<String>; 2] = [None, None];
        loop {
            let reader = self.read_reader().await;
            let cacerts = self.read_cacerts().await;
            let mut changed = false;
            let reads = [
                (
                    READER_TOKEN_SECRET,
                    problem(&reader).map(str::to_owned),
                    IstioFact::Reader(reader),
                ),
                (
                    CACERTS_SECRET_NAME,
                    problem(&cacerts).map(str::to_owned),
                    IstioFact::CaCerts(cacerts),
                ),
            ];
            for (slot, (what, why, fact)) in logged.iter_mut().zip(reads) {
                if let Some(why) = &why
                    && slot.as_ref() != Some(why)
                {
                    warn!(cluster = %self.cluster, secret = %format!("{ISTIO_SYSTEM}/{what}"), error = %why, "cannot use the Secret; skipped");
                }
                *slot = why;
                changed |= self.engine.observe(&self.cluster, fact);
            }
            if changed {
                self.notify.notify_one();
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(self.refresh) => {}
            }
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Secret>, kube::Error> {
        Api::<Secret>::namespaced(self.client.clone(), ISTIO_SYSTEM)
            .get_opt(name)
            .await
    }

    fn malformed(&self, kind: &str, e: &IndexError) -> String {
        self.metrics
            .malformed
            .get_or_create(&Metrics::ck(&self.cluster, kind))
            .inc();
        e.to_string()
    }

    async fn read_reader(&self) -> Observed<ReaderAccess> {
        match self.get(READER_TOKEN_SECRET).await {
            Ok(None) => Observed::Absent,
            Ok(Some(secret)) => match project_reader_token(&self.cluster, &secret) {
                Ok((token, ca_crt)) => Observed::Present(ReaderAccess {
                    endpoint: self.endpoint.clone(),
                    token,
                    ca_crt,
                }),
                Err(e) => Observed::Invalid(self.malformed("ReaderTokenSecret", &e)),
            },
            Err(kube::Error::SerdeError(e)) => Observed::Invalid(format!("malformed Secret: {e}")),
            Err(e) => Observed::Unreadable(e.to_string()),
        }
    }

    async fn read_cacerts(&self) -> Observed<ObservedCaCerts> {
        match self.get(CACERTS_SECRET_NAME).await {
            Ok(None) => Observed::Absent,
            Ok(Some(secret)) => match project_cacerts(&self.cluster, &secret) {
                Ok(c) => Observed::Present(c),
                Err(e) => Observed::Invalid(self.malformed("CaCertsSecret", &e)),
            },
            Err(kube::Error::SerdeError(e)) => Observed::Invalid(format!("malformed Secret: {e}")),
            Err(e) => Observed::Unreadable(e.to_string()),
        }
    }
}

/// Whether a listed istiod Deployment belongs to the revision asked for: with a revision, the
/// selector chose it; without one, the default revision's (no `istio.io/rev`, or `default`).
fn of_revision(d: &DynamicObject, revision: Option<&str>) -> bool {
    let rev = d
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
        .map(String::as_str);
    match revision {
        Some(r) => rev == Some(r),
        None => matches!(rev, None | Some("default")),
    }
}

fn template_annotation(d: &DynamicObject) -> Option<&str> {
    d.data
        .pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(ROOT_FINGERPRINT_ANNOTATION))
        .and_then(Value::as_str)
}

/// Restarts `cluster`'s istiod Deployment(s) of the revision in `req`: each whose pod
/// template does not carry [`ROOT_FINGERPRINT_ANNOTATION`] with the fingerprint yet gets it
/// (a rollout); one that carries it already is left alone, so a restart happens once per root
/// whatever the controller's restarts. Returns what it found.
pub(super) async fn restart_istiod(
    cluster: &str,
    client: &Client,
    req: &IstiodRestart,
    metrics: &Metrics,
) -> Result<IstiodState, kube::Error> {
    let ar = api_resource("apps/v1", "Deployment");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ISTIO_SYSTEM, &ar);
    let selector = match &req.revision {
        Some(r) => format!("{ISTIOD_SELECTOR},{REVISION_LABEL}={r}"),
        None => ISTIOD_SELECTOR.to_owned(),
    };
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    let targets: Vec<DynamicObject> = list
        .items
        .into_iter()
        .filter(|d| of_revision(d, req.revision.as_deref()))
        .collect();
    if targets.is_empty() {
        warn!(cluster = %cluster, selector = %selector, "no istiod Deployment to restart in istio-system");
        return Ok(IstiodState::NotFound);
    }
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        ROOT_FINGERPRINT_ANNOTATION: req.fingerprint,
    }}}}});
    let pp = PatchParams {
        field_manager: Some(RESTART_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    for d in &targets {
        let Some(name) = d.metadata.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if template_annotation(d) == Some(req.fingerprint.as_str()) {
            continue;
        }
        api.patch(name, &pp, &Patch::Merge(&patch)).await?;
        metrics
            .istiod_restarts
            .get_or_create(&crate::metrics::ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .inc();
        info!(
            cluster = %cluster,
            deployment = %name,
            fingerprint = %req.fingerprint,
            "restarting istiod: its pod template now names the clusterset root"
        );
    }
    Ok(IstiodState::Annotated(req.fingerprint.clone()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn deployment(rev: Option<&str>, annotation: Option<&str>) -> DynamicObject {
        let mut labels = serde_json::Map::new();
        labels.insert("app".into(), json!("istiod"));
        if let Some(r) = rev {
            labels.insert(REVISION_LABEL.into(), json!(r));
        }
        let annotations = annotation
            .map(|a| json!({ ROOT_FINGERPRINT_ANNOTATION: a }))
            .unwrap_or_else(|| json!({}));
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "istiod", "namespace": "istio-system", "labels": labels},
            "spec": {"template": {"metadata": {"annotations": annotations}}}
        }))
        .unwrap()
    }

    #[test]
    fn the_default_revision_is_unlabelled_or_default() {
        assert!(of_revision(&deployment(None, None), None));
        assert!(of_revision(&deployment(Some("default"), None), None));
        assert!(!of_revision(&deployment(Some("canary"), None), None));
        assert!(of_revision(
            &deployment(Some("canary"), None),
            Some("canary")
        ));
        assert!(!of_revision(&deployment(None, None), Some("canary")));
    }

    #[test]
    fn the_annotation_is_read_from_the_pod_template() {
        assert_eq!(
            template_annotation(&deployment(None, Some("ab12"))),
            Some("ab12")
        );
        assert_eq!(template_annotation(&deployment(None, None)), None);
    }

    #[test]
    fn problems_are_invalid_or_unreadable_reads() {
        assert_eq!(problem::<()>(&Observed::Invalid("x".into())), Some("x"));
        assert_eq!(problem::<()>(&Observed::Unreadable("y".into())), Some("y"));
        assert_eq!(problem::<()>(&Observed::Absent), None);
    }
}
