//! The write path shared by every verb: server-owned metadata (uid, timestamps,
//! resourceVersion), generation, defaulting, name validation, the CRD and namespace hooks,
//! finalization, storage, the watch event, and the token controller's reaction to Secrets.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::event::EventType;
use super::meta::{meta_mut, now, spec_part};
use super::names::valid_name;
use super::object::{Stored, obj_key};
use super::opts::{Propagation, WriteOpts};
use super::storage::{CRDS, NAMESPACES, Store};
use super::token_secret::{SECRETS, check_token_secret, is_token_secret};
use crate::apply;
use crate::error::ApiError;
use crate::registry::{ResourceInfo, from_crd};

impl Store {
    /// The write path shared by every verb: server-owned metadata, generation, CRD hooks,
    /// finalizers, storage and watch events.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit(
        &mut self,
        info: &Arc<ResourceInfo>,
        ns: Option<&str>,
        old: Option<Arc<Stored>>,
        mut new: Value,
        opts: &WriteOpts,
        status: bool,
    ) -> Result<Value, ApiError> {
        apply::default_protocols(&mut new, info);
        if let Some(schema) = &info.schema {
            crate::registry::apply_defaults(schema, &mut new);
        }
        if info.kind == "Secret"
            && info.group.is_empty()
            && let Some(m) = new.as_object_mut()
            && m.get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            m.insert("type".into(), json!("Opaque"));
        }
        check_token_secret(info, &new)?;
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let label =
            matches!(info.plural.as_str(), "namespaces" | "services") && info.group.is_empty();
        if let Err(msg) = valid_name(&name, label) {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                &name,
                "metadata.name",
                "FieldValueInvalid",
                &format!("{name:?}: {msg}"),
            ));
        }
        let old_v = old.as_ref().map(|o| o.value());
        {
            let meta = meta_mut(&mut new);
            match &old_v {
                Some(o) => {
                    for k in [
                        "uid",
                        "creationTimestamp",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                    ] {
                        match o.pointer(&format!("/metadata/{k}")) {
                            Some(v) => {
                                meta.insert(k.into(), v.clone());
                            }
                            None => {
                                meta.remove(k);
                            }
                        }
                    }
                }
                None => {
                    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                    meta.insert("creationTimestamp".into(), json!(now()));
                    meta.remove("deletionTimestamp");
                    meta.remove("deletionGracePeriodSeconds");
                }
            }
            if meta
                .get("labels")
                .is_some_and(|l| l.as_object().is_some_and(Map::is_empty))
            {
                meta.remove("labels");
            }
        }
        let generation = match &old_v {
            None => 1,
            Some(o) => {
                let g = o
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if !status && spec_part(o) != spec_part(&new) {
                    g + 1
                } else {
                    g
                }
            }
        };
        if info.has_generation() {
            meta_mut(&mut new).insert("generation".into(), json!(generation));
        } else {
            meta_mut(&mut new).remove("generation");
        }
        let key = info.key();
        if *key == *NAMESPACES
            && old.is_none()
            && let Some(m) = new.as_object_mut()
        {
            m.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            m.insert("status".into(), json!({"phase": "Active"}));
        }
        let crd = if *key == *CRDS {
            let parsed = from_crd(&new).map_err(|e| {
                ApiError::invalid(
                    &info.group,
                    &info.kind,
                    &name,
                    "spec",
                    "FieldValueInvalid",
                    &e.to_string(),
                )
            })?;
            let expected = format!("{}.{}", parsed.plural, parsed.group);
            if expected != name {
                return Err(ApiError::invalid(
                    &info.group,
                    &info.kind,
                    &name,
                    "metadata.name",
                    "FieldValueInvalid",
                    &format!("{name:?}: must be spec.names.plural+\".\"+spec.group"),
                ));
            }
            let names = new.pointer("/spec/names").cloned().unwrap_or(Value::Null);
            let ts = now();
            if let Some(m) = new.as_object_mut() {
                m.insert(
                    "status".into(),
                    json!({
                        "acceptedNames": names,
                        "conditions": [
                            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": ts},
                            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": ts}
                        ],
                        "storedVersions": [parsed.storage_version],
                    }),
                );
            }
            Some(parsed)
        } else {
            None
        };
        let mut stored_v = new.clone();
        if let Some(m) = stored_v.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                json!(info.api_version(&info.storage_version)),
            );
        }
        let finalize_now = stored_v.pointer("/metadata/deletionTimestamp").is_some()
            && stored_v
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if opts.dry_run {
            if let Some(o) = &old {
                meta_mut(&mut new).insert("resourceVersion".into(), json!(o.rv.to_string()));
            }
            return Ok(new);
        }
        if let Some(parsed) = crd {
            self.registry.upsert_custom(&name, parsed);
        }
        self.rv += 1;
        let rv_s = self.rv.to_string();
        meta_mut(&mut new).insert("resourceVersion".into(), json!(rv_s));
        meta_mut(&mut stored_v).insert("resourceVersion".into(), json!(rv_s));
        let stored = Arc::new(Stored::from_value(&stored_v, self.rv));
        let okey = obj_key(ns, &name);
        if finalize_now {
            // The DELETED event carries the final state (last finalizer removed).
            self.put_obj(&key, okey.clone(), stored);
            self.remove_object(info, &okey, Propagation::Background);
            return Ok(new);
        }
        self.put_obj(&key, okey, stored.clone());
        let etype = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let token_secret = *key == *SECRETS && is_token_secret(&new);
        self.emit(key, etype, stored, old);
        if let (true, Some(ns)) = (token_secret, ns) {
            // The token controller reacts to the write; the answer to it is the object as
            // written, as a real server answers before the controller acts.
            self.sync_token_secret(ns, &name);
        }
        Ok(new)
    }
}
