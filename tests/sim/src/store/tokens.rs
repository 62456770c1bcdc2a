//! The legacy service-account token controller of kube-controller-manager
//! (`pkg/controller/serviceaccount/tokens_controller.go`), run inside the write that triggers
//! it instead of asynchronously; the API server's check of such Secrets; and the lookup the
//! legacy token authenticator makes.
//!
//! For a Secret of type `kubernetes.io/service-account-token`, after every write of it:
//! - its ServiceAccount (annotation `kubernetes.io/service-account.name`, and
//!   `kubernetes.io/service-account.uid` when set) does not exist: the Secret is deleted, as
//!   the real controller deletes it (it does not wait for the ServiceAccount to appear);
//! - it exists: missing `data.token` (a fresh random token), `data.namespace`, and `data.ca.crt`
//!   when the cluster serves TLS (its CA; a differing one is replaced) are filled in, and both
//!   annotations set, by one update from the manager `kube-controller-manager`.
//!
//! When a ServiceAccount goes, the token Secrets that belong to it go too.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::object::Stored;
use super::opts::{Propagation, WriteOpts};
use super::storage::Store;
use super::token_secret::{
    SECRETS, SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_UID_ANNOTATION, SERVICE_ACCOUNTS,
    annotation, is_token_secret,
};
use crate::registry::ResourceInfo;

/// Field manager of the controller's updates.
const MANAGER: &str = "kube-controller-manager";

/// The decoded bytes of `data.<key>`, empty when missing or not base64.
fn data_bytes(secret: &Value, key: &str) -> Vec<u8> {
    secret
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .unwrap_or_default()
}

/// Whether the token Secret `secret` belongs to the ServiceAccount `sa` (name, and uid when
/// the Secret names one), as `IsServiceAccountToken` decides.
fn belongs_to(secret: &Value, sa: &Stored) -> bool {
    is_token_secret(secret)
        && annotation(secret, SERVICE_ACCOUNT_NAME_ANNOTATION) == Some(&*sa.name)
        && annotation(secret, SERVICE_ACCOUNT_UID_ANNOTATION).is_none_or(|u| u == &*sa.uid)
}

impl Store {
    /// Sets the CA the token controller writes into token Secrets as `ca.crt` (the PEM of the
    /// cluster's serving CA); `None`, as without `--root-ca-file`, writes none.
    pub fn set_service_account_ca(&mut self, pem: Option<&str>) {
        self.sa_root_ca = pem.map(|p| p.as_bytes().to_vec());
    }

    fn info(&self, key: &str) -> Option<Arc<ResourceInfo>> {
        self.registry.by_key(key)
    }

    /// After a write of the Secret `ns/name`: the token controller's sync of it.
    pub(super) fn sync_token_secret(&mut self, ns: &str, name: &str) {
        let (Some(secrets), Some(accounts)) = (self.info(SECRETS), self.info(SERVICE_ACCOUNTS))
        else {
            return;
        };
        let Some(stored) = self.get(&secrets, Some(ns), name) else {
            return;
        };
        let secret = stored.value();
        if stored.deleting || !is_token_secret(&secret) {
            return;
        }
        let Some(sa_name) = annotation(&secret, SERVICE_ACCOUNT_NAME_ANNOTATION) else {
            return;
        };
        let sa = self
            .get(&accounts, Some(ns), sa_name)
            .filter(|sa| belongs_to(&secret, sa));
        let Some(sa) = sa else {
            // No such ServiceAccount (or another one by that name): the token goes.
            let version = secrets.storage_version.clone();
            let _ = self.delete(
                &secrets,
                &version,
                Some(ns),
                name,
                Propagation::Background,
                false,
            );
            return;
        };
        let ca = self.sa_root_ca.clone();
        let needs_ca = ca
            .as_ref()
            .is_some_and(|ca| data_bytes(&secret, "ca.crt") != *ca);
        let needs_namespace = data_bytes(&secret, "namespace").is_empty();
        let needs_token = data_bytes(&secret, "token").is_empty();
        if !needs_ca && !needs_namespace && !needs_token {
            return;
        }
        let mut updated = secret;
        let Some(obj) = updated.as_object_mut() else {
            return;
        };
        let data = obj.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        if let Some(data) = data.as_object_mut() {
            if let (true, Some(ca)) = (needs_ca, &ca) {
                data.insert("ca.crt".into(), json!(B64.encode(ca)));
            }
            if needs_namespace {
                data.insert("namespace".into(), json!(B64.encode(ns)));
            }
            if needs_token {
                data.insert("token".into(), json!(B64.encode(new_token())));
            }
        }
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let annotations = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(SERVICE_ACCOUNT_NAME_ANNOTATION.into(), json!(&*sa.name));
                a.insert(SERVICE_ACCOUNT_UID_ANNOTATION.into(), json!(&*sa.uid));
            }
        }
        let version = secrets.storage_version.clone();
        let opts = WriteOpts {
            dry_run: false,
            manager: MANAGER.into(),
            track_fields: true,
        };
        let _ = self.update(&secrets, &version, Some(ns), name, updated, false, &opts);
    }

    /// After the ServiceAccount `sa` is removed: deletes the token Secrets that belong to it.
    pub(super) fn delete_tokens_of(&mut self, sa: &Stored) {
        let (Some(secrets), Some(ns)) = (self.info(SECRETS), sa.namespace.as_deref()) else {
            return;
        };
        let prefix = format!("{ns}/");
        let victims: Vec<String> = self
            .data
            .get(&secrets.key())
            .map(|m| {
                m.range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(_, s)| belongs_to(&s.value(), sa))
                    .map(|(_, s)| s.name.to_string())
                    .collect()
            })
            .unwrap_or_default();
        let version = secrets.storage_version.clone();
        for name in victims {
            let _ = self.delete(
                &secrets,
                &version,
                Some(ns),
                &name,
                Propagation::Background,
                false,
            );
        }
    }

    /// The user a bearer token authenticates as when it is the token of a token Secret whose
    /// ServiceAccount exists (and neither is being deleted), as the legacy service-account
    /// token authenticator decides: `system:serviceaccount:<namespace>:<name>`.
    pub fn service_account_user(&self, token: &str) -> Option<String> {
        if token.is_empty() {
            return None;
        }
        let secrets = self.info(SECRETS)?;
        let accounts = self.info(SERVICE_ACCOUNTS)?;
        self.data.get(&secrets.key())?.values().find_map(|s| {
            if s.deleting {
                return None;
            }
            let secret = s.value();
            if !is_token_secret(&secret) || data_bytes(&secret, "token") != token.as_bytes() {
                return None;
            }
            let ns = s.namespace.as_deref()?;
            let sa_name = annotation(&secret, SERVICE_ACCOUNT_NAME_ANNOTATION)?;
            let sa = self.get(&accounts, Some(ns), sa_name)?;
            let uid_matches = annotation(&secret, SERVICE_ACCOUNT_UID_ANNOTATION) == Some(&*sa.uid);
            (uid_matches && !sa.deleting).then(|| format!("system:serviceaccount:{ns}:{}", sa.name))
        })
    }
}

/// A fresh opaque token (not a JWT: nothing in the project reads tokens).
fn new_token() -> String {
    format!(
        "kube-sim-sa.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;
    use crate::store::token_secret::SERVICE_ACCOUNT_TOKEN_TYPE;

    fn store() -> Store {
        Store::new(StoreLimits {
            history: 100,
            watch_buffer: 100,
        })
    }

    fn sa(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "ns"}})
    }

    fn token_secret(name: &str, sa: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "type": SERVICE_ACCOUNT_TOKEN_TYPE,
            "metadata": {"name": name, "namespace": "ns",
                "annotations": {SERVICE_ACCOUNT_NAME_ANNOTATION: sa}}})
    }

    fn get(s: &Store, kind: &str, name: &str) -> Option<Value> {
        let (info, _) = s.registry().lookup_kind("v1", kind)?;
        s.get(&info, Some("ns"), name).map(|o| o.value())
    }

    fn data(secret: &Value, key: &str) -> String {
        String::from_utf8(data_bytes(secret, key)).unwrap()
    }

    #[test]
    fn fills_token_namespace_and_annotations_once_the_account_exists() {
        let mut s = store();
        let account = s.seed(sa("reader")).unwrap();
        s.seed(token_secret("reader-token", "reader")).unwrap();
        let secret = get(&s, "Secret", "reader-token").unwrap();
        assert!(data(&secret, "token").starts_with("kube-sim-sa."));
        assert_eq!(data(&secret, "namespace"), "ns");
        assert!(secret["data"].get("ca.crt").is_none(), "no CA configured");
        assert_eq!(
            annotation(&secret, SERVICE_ACCOUNT_UID_ANNOTATION),
            account["metadata"]["uid"].as_str()
        );
        // The filling is one more write by the controller's field manager.
        let managers: Vec<&str> = secret["metadata"]["managedFields"]
            .as_array()
            .map(|m| m.iter().filter_map(|e| e["manager"].as_str()).collect())
            .unwrap_or_default();
        assert!(managers.contains(&MANAGER), "{managers:?}");
        assert_eq!(
            s.service_account_user(&data(&secret, "token")),
            Some("system:serviceaccount:ns:reader".into())
        );
        assert_eq!(s.service_account_user("kube-sim-sa.other"), None);
        assert_eq!(s.service_account_user(""), None);
    }

    #[test]
    fn tokens_are_unique_per_secret_and_refilled_when_removed() {
        let mut s = store();
        s.seed(sa("reader")).unwrap();
        s.seed(token_secret("a", "reader")).unwrap();
        s.seed(token_secret("b", "reader")).unwrap();
        let a = data(&get(&s, "Secret", "a").unwrap(), "token");
        let b = data(&get(&s, "Secret", "b").unwrap(), "token");
        assert_ne!(a, b);
        // Clearing the token gets a new one; a token that is set stays.
        let mut cleared = get(&s, "Secret", "a").unwrap();
        cleared["data"]["token"] = json!("");
        s.seed(cleared).unwrap();
        let again = data(&get(&s, "Secret", "a").unwrap(), "token");
        assert!(!again.is_empty() && again != a);
        assert_eq!(s.service_account_user(&a), None, "the old token is gone");
        let mut relabelled = get(&s, "Secret", "b").unwrap();
        relabelled["metadata"]["labels"] = json!({"x": "y"});
        s.seed(relabelled).unwrap();
        assert_eq!(data(&get(&s, "Secret", "b").unwrap(), "token"), b);
    }

    #[test]
    fn the_cluster_ca_is_written_and_kept() {
        let mut s = store();
        s.set_service_account_ca(Some("PEM"));
        s.seed(sa("reader")).unwrap();
        let mut secret = token_secret("t", "reader");
        secret["data"] = json!({"ca.crt": B64.encode("OTHER")});
        s.seed(secret).unwrap();
        assert_eq!(data(&get(&s, "Secret", "t").unwrap(), "ca.crt"), "PEM");
    }

    #[test]
    fn a_secret_without_its_account_is_deleted() {
        let mut s = store();
        s.seed(token_secret("early", "later")).unwrap();
        assert!(get(&s, "Secret", "early").is_none());
        // A uid of another account by that name does not count either.
        s.seed(sa("later")).unwrap();
        let mut stale = token_secret("stale", "later");
        stale["metadata"]["annotations"][SERVICE_ACCOUNT_UID_ANNOTATION] = json!("not-the-uid");
        s.seed(stale).unwrap();
        assert!(get(&s, "Secret", "stale").is_none());
        // Other Secrets are left alone.
        s.seed(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain", "namespace": "ns"}}))
            .unwrap();
        let plain = get(&s, "Secret", "plain").unwrap();
        assert_eq!(plain["type"], "Opaque");
        assert!(plain.get("data").is_none());
    }

    #[test]
    fn deleting_the_account_deletes_its_tokens() {
        let mut s = store();
        s.seed(sa("reader")).unwrap();
        s.seed(sa("other")).unwrap();
        s.seed(token_secret("mine", "reader")).unwrap();
        s.seed(token_secret("theirs", "other")).unwrap();
        let token = data(&get(&s, "Secret", "mine").unwrap(), "token");
        let (info, version) = s.registry().lookup_kind("v1", "ServiceAccount").unwrap();
        s.delete(
            &info,
            &version,
            Some("ns"),
            "reader",
            Propagation::Background,
            false,
        )
        .unwrap();
        assert!(get(&s, "Secret", "mine").is_none());
        assert!(get(&s, "Secret", "theirs").is_some());
        assert_eq!(s.service_account_user(&token), None);
    }

    #[test]
    fn a_token_secret_must_name_its_account() {
        let mut s = store();
        let mut secret = token_secret("t", "x");
        secret["metadata"]["annotations"] = json!({});
        let e = s.seed(secret).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Secret \"t\" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value"
        );
    }

    #[test]
    fn dry_run_creates_fill_nothing() {
        let mut s = store();
        s.seed(sa("reader")).unwrap();
        let (info, version) = s.registry().lookup_kind("v1", "Secret").unwrap();
        let opts = WriteOpts {
            dry_run: true,
            ..WriteOpts::default()
        };
        let out = s
            .create(
                &info,
                &version,
                Some("ns"),
                token_secret("t", "reader"),
                &opts,
            )
            .unwrap();
        assert!(out.get("data").is_none());
        assert!(get(&s, "Secret", "t").is_none());
    }
}
