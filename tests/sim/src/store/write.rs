//! The write verbs: direct seeding (and the default namespaces of a new store), create, update,
//! patch and server-side apply, with the checks of the request body each one makes before the
//! shared write path.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::meta::{meta_mut, now};
use super::names::random_suffix;
use super::opts::WriteOpts;
use super::storage::{Store, StoreLimits};
use crate::apply::{self, ApplyError, ApplyRequest, Part};
use crate::error::ApiError;
use crate::patch::{self, PatchType};
use crate::registry::ResourceInfo;

impl Store {
    /// A store with the default namespaces.
    pub fn new(limits: StoreLimits) -> Self {
        let mut s = Self::empty(limits);
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = s.seed(obj);
        }
        s
    }

    /// Direct seeding: create or replace an object as given (status included), bumping the
    /// resourceVersion and emitting a watch event. Missing namespaces are created.
    pub fn seed(&mut self, mut obj: Value) -> Result<Value, ApiError> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (info, _version) = self
            .registry
            .lookup_kind(&api_version, &kind)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "no kind {kind:?} is registered for version {api_version:?}"
                ))
            })?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::invalid(
                    &info.group,
                    &info.kind,
                    "",
                    "metadata.name",
                    "FieldValueRequired",
                    "name or generateName is required",
                )
            })?;
        let ns = if info.namespaced {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            meta_mut(&mut obj).insert("namespace".into(), json!(ns));
            let nsinfo = self.ns_info();
            if self.get(&nsinfo, None, &ns).is_none() {
                self.seed(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )?;
            }
            Some(ns)
        } else {
            None
        };
        let old = self.get(&info, ns.as_deref(), &name);
        if let Some(old) = &old {
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(old.rv.to_string()));
        }
        let opts = WriteOpts::default();
        self.commit(&info, ns.as_deref(), old, obj, &opts, false)
    }

    /// Checks that a namespace exists and is not terminating, before content is created in it.
    fn check_namespace(&self, ns: &str) -> Result<(), ApiError> {
        match self.get(&self.ns_info(), None, ns) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if n.deleting => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Checks that a request body is a JSON object whose `kind` and `apiVersion`, when given,
    /// are this resource's.
    fn check_body(info: &ResourceInfo, version: &str, body: &Value) -> Result<(), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if let Some(kind) = body.get("kind").and_then(Value::as_str)
            && kind != info.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the body ({kind}) does not match the kind of the resource ({})",
                info.kind
            )));
        }
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && av != info.api_version(version)
            && !info.versions.iter().any(|v| info.api_version(v) == av)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                info.api_version(version)
            )));
        }
        Ok(())
    }

    /// Sets `apiVersion` and `kind` of a body to the version being served.
    fn fill_type(info: &ResourceInfo, version: &str, body: &mut Value) {
        if let Some(m) = body.as_object_mut() {
            m.insert("apiVersion".into(), json!(info.api_version(version)));
            m.insert("kind".into(), json!(info.kind));
        }
    }

    /// Makes `metadata.namespace` agree with the namespace of the path (dropped when
    /// cluster-scoped).
    fn check_ns_field(
        info: &ResourceInfo,
        ns: Option<&str>,
        body: &mut Value,
    ) -> Result<(), ApiError> {
        let meta = meta_mut(body);
        match (info.namespaced, ns) {
            (true, Some(ns)) => match meta.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && b != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            },
            (false, _) => {
                meta.remove("namespace");
            }
            (true, None) => {
                return Err(ApiError::bad_request(
                    "a namespaced resource needs a namespace in the path",
                ));
            }
        }
        Ok(())
    }

    /// POST: create.
    pub fn create(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(info, version, &body)?;
        Self::fill_type(info, version, &mut body);
        Self::check_ns_field(info, ns, &mut body)?;
        let meta = meta_mut(&mut body);
        let name = match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(n) => n.to_string(),
            None => match meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                Some(prefix) => {
                    let n = format!("{prefix}{}", random_suffix());
                    meta.insert("name".into(), json!(n));
                    n
                }
                None => {
                    return Err(ApiError::invalid(
                        &info.group,
                        &info.kind,
                        "",
                        "metadata.name",
                        "FieldValueRequired",
                        "name or generateName is required",
                    ));
                }
            },
        };
        meta.remove("resourceVersion");
        if let Some(ns) = ns {
            self.check_namespace(ns)?;
        }
        if self.get(info, ns, &name).is_some() {
            return Err(ApiError::already_exists(&info.group, &info.plural, &name));
        }
        // Status is set by the status subresource only: a create drops it (Namespace and CRD
        // statuses are then filled in by the server).
        if info.status_subresource
            && let Some(m) = body.as_object_mut()
        {
            m.remove("status");
        }
        if opts.track_fields {
            let part = Part::of(info, false);
            apply::track_update(
                None,
                &mut body,
                &opts.manager,
                info,
                part,
                &info.api_version(version),
                &now(),
            );
        }
        self.commit(info, ns, None, body, opts, false)
    }

    /// PUT: update the main resource or `/status`.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        mut body: Value,
        status: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(info, version, &body)?;
        Self::fill_type(info, version, &mut body);
        Self::check_ns_field(info, ns, &mut body)?;
        let body_name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if body_name.is_empty() {
            return Err(ApiError::invalid(
                &info.group,
                &info.kind,
                "",
                "metadata.name",
                "FieldValueRequired",
                "name or generateName is required",
            ));
        }
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let old = self.get_required(info, ns, name)?;
        let rv = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rv.is_empty() && rv != old.rv.to_string() {
            return Err(ApiError::conflict(&info.group, &info.plural, name));
        }
        let old_v = Self::to_version(info, version, old.value());
        let mut new = Self::merge_part(info, &old_v, body, status);
        if opts.track_fields {
            apply::track_update(
                Some(&old_v),
                &mut new,
                &opts.manager,
                info,
                Part::of(info, status),
                &info.api_version(version),
                &now(),
            );
        }
        self.commit(info, ns, Some(old), new, opts, status)
    }

    /// Keeps only what a main-resource or `/status` write may change.
    fn merge_part(info: &ResourceInfo, old: &Value, mut body: Value, status: bool) -> Value {
        if status {
            let mut new = old.clone();
            if let Some(m) = new.as_object_mut() {
                match body.get("status") {
                    Some(s) => {
                        m.insert("status".into(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
            return new;
        }
        if info.status_subresource
            && let Some(m) = body.as_object_mut()
        {
            match old.get("status") {
                Some(s) => {
                    m.insert("status".into(), s.clone());
                }
                None => {
                    m.remove("status");
                }
            }
        }
        body
    }

    /// PATCH (merge, JSON, strategic) of the main resource or `/status`.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        ptype: PatchType,
        body: &[u8],
        status: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get_required(info, ns, name)?;
        let old_v = Self::to_version(info, version, old.value());
        let mut patched = old_v.clone();
        patch::apply(ptype, &mut patched, body, info).map_err(|e| match e {
            patch::PatchError::JsonPatch(m) => {
                ApiError::invalid(&info.group, &info.kind, name, "", "FieldValueInvalid", &m)
            }
            other => ApiError::bad_request(other.to_string()),
        })?;
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patch turned the object into a non-object",
            ));
        }
        let rv = patched
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rv.is_empty() && rv != old.rv.to_string() {
            return Err(ApiError::conflict(&info.group, &info.plural, name));
        }
        if patched.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::bad_request(
                "the name of the object cannot be changed by a patch",
            ));
        }
        Self::fill_type(info, version, &mut patched);
        Self::check_ns_field(info, ns, &mut patched)?;
        let mut new = Self::merge_part(info, &old_v, patched, status);
        if opts.track_fields {
            apply::track_update(
                Some(&old_v),
                &mut new,
                &opts.manager,
                info,
                Part::of(info, status),
                &info.api_version(version),
                &now(),
            );
        }
        self.commit(info, ns, Some(old), new, opts, status)
    }

    /// PATCH with `application/apply-patch+yaml`: server-side apply (creates when missing).
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        info: &Arc<ResourceInfo>,
        version: &str,
        ns: Option<&str>,
        name: &str,
        applied: &Value,
        status: bool,
        force: bool,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        Self::check_body(info, version, applied)?;
        if let Some(n) = applied.pointer("/metadata/name").and_then(Value::as_str)
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let mut applied = applied.clone();
        apply::default_protocols(&mut applied, info);
        if let Some(schema) = &info.schema {
            crate::registry::apply_defaults(schema, &mut applied);
        }
        Self::check_ns_field(info, ns, &mut applied)?;
        let old = self.get(info, ns, name);
        if old.is_none() && status {
            return Err(ApiError::not_found(&info.group, &info.plural, name));
        }
        let live = match &old {
            Some(o) => Self::to_version(info, version, o.value()),
            None => {
                if let Some(ns) = ns {
                    self.check_namespace(ns)?;
                }
                let mut meta = Map::new();
                meta.insert("name".into(), json!(name));
                if let Some(ns) = ns {
                    meta.insert("namespace".into(), json!(ns));
                }
                json!({"apiVersion": info.api_version(version), "kind": info.kind, "metadata": meta})
            }
        };
        if let Some(o) = &old {
            let rv = applied
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !rv.is_empty() && rv != o.rv.to_string() {
                return Err(ApiError::conflict(&info.group, &info.plural, name));
            }
        }
        let part = Part::of(info, status);
        let now = now();
        let api_version = info.api_version(version);
        let req = ApplyRequest {
            applied: &applied,
            manager: &opts.manager,
            force,
            info,
            part,
            api_version: &api_version,
            now: &now,
        };
        let mut new = apply::apply(&live, &req).map_err(|e| match e {
            ApplyError::Conflict(c) => {
                ApiError::apply_conflict(&info.group, &info.plural, name, &c)
            }
            ApplyError::NotAnObject => ApiError::bad_request(e.to_string()),
        })?;
        Self::fill_type(info, version, &mut new);
        self.commit(info, ns, old, new, opts, status)
    }
}
