//! Routing: authentication, the non-resource paths (`/version`, health, OpenAPI, discovery),
//! resource paths to a resource and verb, and the REST verbs on the store.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::record::RequestRecord;
use super::request::{
    Query, Representation, accepts_json, header_str, negotiate, parse_object, parse_resource_path,
    percent_decode, read_body,
};
use super::response::{
    Body, TableRender, full, json_response, render_list, render_obj, value_response,
};
use super::state::ClusterState;
use super::watch::{TableWatch, WatchFilter, watch_response};
use crate::error::ApiError;
use crate::patch::PatchType;
use crate::printers::{IncludeObject, Printer, TableOptions};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Propagation, WriteOpts};
use crate::sync::lock;

/// The `/version` document.
const VERSION_DOC: &str = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0-kube-sim","gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","buildDate":"2025-04-23T00:00:00Z","goVersion":"go1.24.2","compiler":"gc","platform":"linux/amd64"}"#;

/// A minimal OpenAPI v2 document in protobuf (`openapi_v2.Document{swagger, info{title, version}}`).
fn openapi_v2_proto() -> Bytes {
    fn field(buf: &mut Vec<u8>, tag: u8, data: &[u8]) {
        buf.push(tag);
        buf.push(u8::try_from(data.len()).unwrap_or(0));
        buf.extend_from_slice(data);
    }
    let mut info = Vec::new();
    field(&mut info, 0x0a, b"Kubernetes");
    field(&mut info, 0x12, b"v1.33.0");
    let mut doc = Vec::new();
    field(&mut doc, 0x0a, b"2.0");
    field(&mut doc, 0x12, &info);
    Bytes::from(doc)
}

/// Serves one request: authentication, then the non-resource paths, then a resource verb.
pub(super) async fn route(
    state: &Arc<ClusterState>,
    req: Request<Incoming>,
    record: &mut RequestRecord,
) -> Result<Response<Body>, ApiError> {
    if let Some(token) = &state.token {
        // The cluster's own token, or the token of a service account's token Secret (the
        // legacy service-account token authenticator).
        let auth = header_str(&req, header::AUTHORIZATION);
        match auth.strip_prefix("Bearer ").map(str::trim) {
            Some(t) if t == token.as_str() => {}
            Some(t) => match lock(&state.store).service_account_user(t) {
                Some(user) => record.user = user,
                None => return Err(ApiError::unauthorized()),
            },
            None => return Err(ApiError::unauthorized()),
        }
    }
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    let accept = header_str(&req, header::ACCEPT).to_string();
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();

    if segs.as_slice() == ["openapi", "v2"] {
        if let Some(e) = state.faults.injected("get", "") {
            return Err(e);
        }
        if !accepts_json(&accept) && accept.contains("protobuf") {
            let mut r = Response::new(full(openapi_v2_proto()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                ),
            );
            return Ok(r);
        }
        return Ok(json_response(
            StatusCode::OK,
            r#"{"swagger":"2.0","info":{"title":"Kubernetes","version":"v1.33.0"},"paths":{},"definitions":{}}"#,
        ));
    }
    if !accepts_json(&accept) {
        return Err(ApiError::not_acceptable(&accept));
    }
    let discovery = |v: Option<Value>| match v {
        Some(v) => Ok(value_response(StatusCode::OK, &v)),
        None => Err(ApiError::no_route(&path)),
    };
    let method = req.method().clone();
    let is_get = method == Method::GET;
    match segs.as_slice() {
        [] if is_get => {
            return Ok(value_response(
                StatusCode::OK,
                &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]}),
            ));
        }
        ["version"] if is_get => return Ok(json_response(StatusCode::OK, VERSION_DOC)),
        ["healthz" | "livez" | "readyz"] if is_get => {
            let mut r = Response::new(full("ok"));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return Ok(r);
        }
        ["openapi", "v3"] if is_get => return Ok(json_response(StatusCode::OK, r#"{"paths":{}}"#)),
        ["api"] if is_get => {
            return Ok(value_response(
                StatusCode::OK,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.addr.to_string()}]}),
            ));
        }
        ["api", "v1"] if is_get => {
            return discovery(lock(&state.store).registry().api_resource_list("", "v1"));
        }
        ["apis"] if is_get => {
            return discovery(Some(lock(&state.store).registry().api_group_list()));
        }
        ["apis", g] if is_get => return discovery(lock(&state.store).registry().api_group(g)),
        ["apis", g, v] if is_get => {
            return discovery(lock(&state.store).registry().api_resource_list(g, v));
        }
        _ => {}
    }
    let target = match segs.as_slice() {
        ["api", "v1", rest @ ..] => parse_resource_path("", "v1", rest),
        ["apis", g, v, rest @ ..] => parse_resource_path(g, v, rest),
        _ => None,
    }
    .ok_or_else(|| ApiError::no_route(&path))?;
    record.group.clone_from(&target.group);
    record.version.clone_from(&target.version);
    record.resource.clone_from(&target.resource);
    record.namespace = target.namespace.clone().unwrap_or_default();
    record.name = target.name.clone().unwrap_or_default();
    record.subresource = target.subresource.clone().unwrap_or_default();
    let info = lock(&state.store)
        .registry()
        .lookup(&target.group, &target.version, &target.resource)
        .ok_or_else(|| ApiError::no_route(&path))?;
    if target.namespace.is_some() && !info.namespaced {
        return Err(ApiError::no_route(&path));
    }
    let status = match target.subresource.as_deref() {
        None => false,
        Some("status") if info.status_subresource => true,
        Some(_) => return Err(ApiError::no_route(&path)),
    };
    let watch = target.legacy_watch || query.flag("watch");
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, true) if !watch => "get",
        (&Method::GET, _) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => return Err(ApiError::method_not_allowed(method.as_str())),
    };
    record.verb = verb.to_string();
    if verb == "create" && info.namespaced && target.namespace.is_none() {
        return Err(ApiError::method_not_allowed(method.as_str()));
    }
    if let Some(e) = state.faults.injected(verb, &info.plural) {
        return Err(e);
    }
    let dry_run = match query.get("dryRun") {
        None => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported dryRun value {other:?}: only All is supported"
            )));
        }
    };
    let content_type = header_str(&req, header::CONTENT_TYPE).to_string();
    let ua = header_str(&req, header::USER_AGENT);
    let manager = query
        .get("fieldManager")
        .map(str::to_string)
        .unwrap_or_else(|| {
            ua.split('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
                .to_string()
        });
    let opts = WriteOpts {
        dry_run,
        manager,
        track_fields: true,
    };
    let ns = target.namespace.as_deref();
    let name = target.name.clone().unwrap_or_default();
    let version = target.version.as_str();

    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), &info.kind)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;

    let repr = negotiate(&accept).ok_or_else(|| ApiError::not_acceptable(&accept))?;
    let meta_only = repr == Representation::Metadata;
    // Only reads answer with a Table; writes answer with the object.
    let table = match repr {
        Representation::Table(api_version) if matches!(verb, "get" | "list" | "watch") => {
            let include = IncludeObject::from_query(query.get("includeObject"))
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Some(TableRender {
                printer: Printer::for_resource(&info, version),
                opts: TableOptions {
                    api_version,
                    include,
                },
            })
        }
        _ => None,
    };
    let ok = |v: Value| Ok(value_response(StatusCode::OK, &v));
    match verb {
        "get" => {
            let obj = lock(&state.store)
                .get(&info, ns, &name)
                .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &name))?;
            let body = match &table {
                Some(t) => t.render_one(&info, version, &obj, true),
                None => render_obj(&info, version, &obj, meta_only),
            };
            Ok(json_response(StatusCode::OK, body))
        }
        "list" => {
            let limit = match query.get("limit") {
                Some(l) if !l.is_empty() => Some(
                    l.parse::<usize>()
                        .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
                ),
                _ => None,
            };
            let page = lock(&state.store).list(
                &info,
                ns,
                &labels,
                &fields,
                limit,
                query.get("continue").filter(|c| !c.is_empty()),
            )?;
            let body = match &table {
                Some(t) => t.render_page(&info, version, &page),
                None => render_list(&info, version, &page, meta_only),
            };
            Ok(json_response(StatusCode::OK, body))
        }
        "watch" => {
            let filter = WatchFilter {
                info: info.clone(),
                version: version.to_string(),
                ns: ns.map(str::to_string),
                labels,
                fields,
                meta_only,
                table: table.map(TableWatch::new),
            };
            watch_response(state, filter, &query)
        }
        "create" => {
            let body = read_body(req).await?;
            let obj = parse_object(&body, &content_type)?;
            let created = lock(&state.store).create(&info, version, ns, obj, &opts)?;
            Ok(value_response(StatusCode::CREATED, &created))
        }
        "update" => {
            let body = read_body(req).await?;
            let obj = parse_object(&body, &content_type)?;
            ok(lock(&state.store).update(&info, version, ns, &name, obj, status, &opts)?)
        }
        "patch" => {
            let ptype = PatchType::from_content_type(&content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
            let body = read_body(req).await?;
            if ptype == PatchType::Apply {
                let Some(mgr) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
                    return Err(ApiError::bad_request(
                        "PATCH: fieldManager is required for apply requests",
                    ));
                };
                let applied = parse_object(&body, "application/apply-patch+yaml")?;
                let opts = WriteOpts {
                    manager: mgr.to_string(),
                    ..opts
                };
                let mut store = lock(&state.store);
                let existed = store.get(&info, ns, &name).is_some();
                let out = store.apply(
                    &info,
                    version,
                    ns,
                    &name,
                    &applied,
                    status,
                    query.flag("force"),
                    &opts,
                )?;
                let code = if existed || dry_run {
                    StatusCode::OK
                } else {
                    StatusCode::CREATED
                };
                return Ok(value_response(code, &out));
            }
            ok(lock(&state.store).patch(&info, version, ns, &name, ptype, &body, status, &opts)?)
        }
        "delete" | "deletecollection" => {
            let body = read_body(req).await?;
            let opts_v: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
            };
            let policy = query
                .get("propagationPolicy")
                .or_else(|| opts_v.get("propagationPolicy").and_then(Value::as_str))
                .unwrap_or("Background");
            let propagation = match policy {
                "Background" => Propagation::Background,
                "Foreground" => Propagation::Foreground,
                "Orphan" => Propagation::Orphan,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown propagationPolicy {other:?}"
                    )));
                }
            };
            let propagation =
                if opts_v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                    Propagation::Orphan
                } else {
                    propagation
                };
            let dry_run = dry_run
                || opts_v
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|d| d == "All"));
            let mut store = lock(&state.store);
            if verb == "delete" {
                if let Some(pre) = opts_v.get("preconditions") {
                    let cur = store
                        .get(&info, ns, &name)
                        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &name))?;
                    let rv_ok = pre
                        .get("resourceVersion")
                        .and_then(Value::as_str)
                        .is_none_or(|rv| rv == cur.rv.to_string());
                    let uid_ok = pre
                        .get("uid")
                        .and_then(Value::as_str)
                        .is_none_or(|u| u == &*cur.uid);
                    if !rv_ok || !uid_ok {
                        return Err(ApiError::conflict(&info.group, &info.plural, &name));
                    }
                }
                return ok(store.delete(&info, version, ns, &name, propagation, dry_run)?);
            }
            let page = store.list(&info, ns, &labels, &fields, None, None)?;
            let mut deleted = Vec::new();
            for o in &page.items {
                if let Ok(v) = store.delete(
                    &info,
                    version,
                    o.namespace.as_deref(),
                    &o.name,
                    propagation,
                    dry_run,
                ) {
                    deleted.push(v);
                }
            }
            ok(
                json!({"kind": info.list_kind, "apiVersion": info.api_version(version), "metadata": {"resourceVersion": store.rv().to_string()}, "items": deleted}),
            )
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}
