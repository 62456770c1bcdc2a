//! Deletion: finalizers and `deletionTimestamp`, propagation to dependents (background,
//! foreground with the `foregroundDeletion` finalizer, orphan), namespace termination and the
//! removal of a CRD's objects with it.

use std::sync::Arc;

use serde_json::{Value, json};

use super::event::EventType;
use super::meta::{meta_mut, now};
use super::object::{Stored, obj_key};
use super::opts::Propagation;
use super::storage::{CRDS, NAMESPACES, Store};
use super::token_secret::SERVICE_ACCOUNTS;
use crate::error::ApiError;
use crate::registry::ResourceInfo;

/// Finalizer of an owner waiting for its dependents (foreground deletion).
const FOREGROUND: &str = "foregroundDeletion";

impl Store {
    /// DELETE of one object.
    pub fn delete(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = self.get_required(info, ns, name)?;
        let mut v = Self::to_version(info, version, old.value());
        if dry_run {
            return Ok(v);
        }
        let is_ns = *info.key() == *NAMESPACES;
        if old.has_finalizers || is_ns {
            if old.deleting {
                return Ok(v);
            }
            let meta = meta_mut(&mut v);
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if propagation == Propagation::Orphan && !is_ns {
                self.orphan_dependents(&old.uid);
            }
            if is_ns {
                if let Some(m) = v.as_object_mut() {
                    m.insert("status".into(), json!({"phase": "Terminating"}));
                }
                self.store_modified(info, None, name, v.clone(), old);
                self.delete_namespace_contents(name);
                self.maybe_finish_namespace(name);
                return Ok(v);
            }
            self.store_modified(info, ns, name, v.clone(), old);
            return Ok(v);
        }
        if propagation == Propagation::Foreground && self.owned.contains_key(&*old.uid) {
            // The owner waits, marked with the foregroundDeletion finalizer, until its
            // dependents are gone; then the finalizer goes and so does the owner.
            let meta = meta_mut(&mut v);
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            meta.insert("finalizers".into(), json!([FOREGROUND]));
            self.store_modified(info, ns, name, v.clone(), old.clone());
            for (dinfo, d) in self.dependents(&old.uid) {
                let version = dinfo.storage_version.clone();
                let _ = self.delete(
                    &dinfo,
                    &version,
                    d.namespace.as_deref(),
                    &d.name,
                    Propagation::Foreground,
                    false,
                );
            }
            self.finish_foreground(&old.uid);
            return Ok(v);
        }
        if propagation == Propagation::Orphan {
            self.orphan_dependents(&old.uid);
        }
        self.remove_object(info, &obj_key(ns, name), propagation);
        Ok(v)
    }

    /// Drops the foregroundDeletion finalizer of the object with this uid once nothing it owns
    /// is left (removing the object when that was its last finalizer).
    fn finish_foreground(&mut self, uid: &str) {
        if self.owned.contains_key(uid) {
            return;
        }
        let found = self.data.iter().find_map(|(key, objs)| {
            objs.iter()
                .find(|(_, o)| &*o.uid == uid && o.deleting)
                .map(|(k, o)| (key.clone(), k.clone(), o.clone()))
        });
        let Some((key, okey, obj)) = found else {
            return;
        };
        let Some(info) = self.registry.by_key(&key) else {
            return;
        };
        let mut v = obj.value();
        let Some(fins) = v
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        let before = fins.len();
        fins.retain(|f| f != FOREGROUND);
        if fins.len() == before {
            return;
        }
        if fins.is_empty() {
            // Removing the last finalizer deletes the object: one DELETED event.
            self.put_obj(&key, okey.clone(), Arc::new(Stored::from_value(&v, obj.rv)));
            self.remove_object(&info, &okey, Propagation::Background);
        } else {
            self.store_modified(&info, obj.namespace.as_deref(), &obj.name, v, obj.clone());
        }
    }

    /// Stores a new state of an existing object (in the storage version, with a new
    /// resourceVersion) and emits MODIFIED.
    fn store_modified(
        &mut self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut v: Value,
        old: Arc<Stored>,
    ) {
        self.rv += 1;
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                json!(info.api_version(&info.storage_version)),
            );
        }
        meta_mut(&mut v).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let stored = Arc::new(Stored::from_value(&v, self.rv));
        let key = info.key();
        self.put_obj(&key, obj_key(ns, name), stored.clone());
        self.emit(key, EventType::Modified, stored, Some(old));
    }

    /// Removes an object for good, then its dependents and CRD/namespace consequences.
    pub(super) fn remove_object(
        &mut self,
        info: &ResourceInfo,
        okey: &str,
        propagation: Propagation,
    ) {
        let key = info.key();
        let Some(old) = self.take_obj(&key, okey) else {
            return;
        };
        self.rv += 1;
        let mut last = old.value();
        meta_mut(&mut last).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let gone = Arc::new(Stored::from_value(&last, self.rv));
        self.emit(key.clone(), EventType::Deleted, gone, Some(old.clone()));
        if *key == *CRDS
            && let Some(r) = self.registry.remove_custom(&old.name)
        {
            let rkey = r.key();
            if let Some(objs) = self.data.remove(&rkey) {
                for (_, o) in objs {
                    self.count_owners(&o, false);
                    self.rv += 1;
                    let mut last = o.value();
                    meta_mut(&mut last)
                        .insert("resourceVersion".into(), json!(self.rv.to_string()));
                    let gone = Arc::new(Stored::from_value(&last, self.rv));
                    self.emit(rkey.clone(), EventType::Deleted, gone, Some(o));
                }
            }
        }
        if *key == *SERVICE_ACCOUNTS {
            self.delete_tokens_of(&old);
        }
        if propagation != Propagation::Orphan {
            self.delete_dependents(&old.uid);
        }
        for owner in old.owners.iter() {
            self.finish_foreground(owner);
        }
        if let Some(ns) = &old.namespace {
            self.maybe_finish_namespace(ns);
        }
    }

    /// The objects that name this uid in their ownerReferences.
    fn dependents(&self, uid: &str) -> Vec<(Arc<ResourceInfo>, Arc<Stored>)> {
        let mut out = Vec::new();
        if !self.owned.contains_key(uid) {
            return out;
        }
        for (key, objs) in &self.data {
            let Some(info) = self.registry.by_key(key) else {
                continue;
            };
            for o in objs.values() {
                if o.owners.iter().any(|u| &**u == uid) {
                    out.push((info.clone(), o.clone()));
                }
            }
        }
        out
    }

    /// Deletes (in the background) every object this uid owns.
    fn delete_dependents(&mut self, uid: &str) {
        for (info, o) in self.dependents(uid) {
            let version = info.storage_version.clone();
            let _ = self.delete(
                &info,
                &version,
                o.namespace.as_deref(),
                &o.name,
                Propagation::Background,
                false,
            );
        }
    }

    /// Removes the owner reference to this uid from every object it owns.
    fn orphan_dependents(&mut self, uid: &str) {
        for (info, o) in self.dependents(uid) {
            let mut v = o.value();
            if let Some(refs) = v
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
            }
            self.store_modified(&info, o.namespace.as_deref(), &o.name, v, o.clone());
        }
    }

    /// Deletes every object in a namespace (when it terminates).
    fn delete_namespace_contents(&mut self, ns: &str) {
        let prefix = format!("{ns}/");
        let mut victims = Vec::new();
        for (key, objs) in &self.data {
            let Some(info) = self.registry.by_key(key) else {
                continue;
            };
            if !info.namespaced {
                continue;
            }
            for (k, o) in objs.range(prefix.clone()..) {
                if !k.starts_with(&prefix) {
                    break;
                }
                victims.push((info.clone(), o.name.clone()));
            }
        }
        for (info, name) in victims {
            let version = info.storage_version.clone();
            let _ = self.delete(
                &info,
                &version,
                Some(ns),
                &name,
                Propagation::Background,
                false,
            );
        }
    }

    /// Removes a terminating namespace once it has no finalizers and no objects are left in it.
    fn maybe_finish_namespace(&mut self, ns: &str) {
        let nsinfo = self.ns_info();
        let Some(n) = self.get(&nsinfo, None, ns) else {
            return;
        };
        if !n.deleting || n.has_finalizers {
            return;
        }
        let prefix = format!("{ns}/");
        let empty = self.data.iter().all(|(key, objs)| {
            self.registry.by_key(key).is_none_or(|i| !i.namespaced)
                || objs
                    .range(prefix.clone()..)
                    .next()
                    .is_none_or(|(k, _)| !k.starts_with(&prefix))
        });
        if empty {
            self.remove_object(&nsinfo, ns, Propagation::Background);
        }
    }
}
