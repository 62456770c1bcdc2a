//! The HTTP(S) front end: connection handling, authentication, fault injection, routing of the
//! Kubernetes REST paths, list/watch streaming and discovery.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, warn};

use crate::error::ApiError;
use crate::faults::{Faults, Partition};
use crate::patch::PatchType;
use crate::registry::ResourceInfo;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, Propagation, Store, Stored, WatchStart, WriteOpts};
use crate::sync::lock;

/// Response body type.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// One request as the API server's audit log would describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection, or
    /// the lower-case HTTP method for non-resource paths.
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural), empty for non-resource paths.
    pub resource: String,
    /// Subresource (`status`), if any.
    pub subresource: String,
    /// Namespace, if any.
    pub namespace: String,
    /// Object name, if any.
    pub name: String,
    /// Path for non-resource requests (`/version`, `/apis`...).
    pub path: String,
    /// HTTP status code of the answer.
    pub code: u16,
    /// The client's User-Agent header.
    pub user_agent: String,
}

/// State shared by the server tasks of one cluster.
pub(crate) struct ClusterState {
    pub(crate) name: String,
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) token: Option<String>,
    pub(crate) log: Mutex<VecDeque<RequestRecord>>,
    pub(crate) log_limit: usize,
    pub(crate) bookmark_interval: Duration,
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Open watches per resource (`group/plural`).
    pub(crate) watches: Mutex<std::collections::HashMap<String, usize>>,
}

/// Counts a watch as open while it lives.
struct WatchGuard {
    state: Arc<ClusterState>,
    key: String,
}

impl WatchGuard {
    fn new(state: Arc<ClusterState>, key: String) -> Self {
        *lock(&state.watches).entry(key.clone()).or_default() += 1;
        Self { state, key }
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut w = lock(&self.state.watches);
        if let Some(n) = w.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.remove(&self.key);
            }
        }
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn value_response(code: StatusCode, v: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

fn error_response(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = value_response(code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Accept loop: (re)binds the listener, honours partitions and shutdown.
pub(crate) async fn serve(
    state: Arc<ClusterState>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut listener = Some(listener);
    let mut part_rx = state.faults.partition_rx();
    let mut shutdown = state.shutdown.subscribe();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let partition = *part_rx.borrow_and_update();
        if partition == Partition::Refuse {
            listener = None;
        } else if listener.is_none() {
            for _ in 0..200 {
                match TcpListener::bind(state.addr).await {
                    Ok(l) => {
                        listener = Some(l);
                        break;
                    }
                    Err(e) => {
                        debug!(cluster = %state.name, error = %e, "re-binding the listener");
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                }
            }
            if listener.is_none() {
                warn!(cluster = %state.name, addr = %state.addr, "could not re-bind the listener after a partition");
            }
        }
        match &listener {
            Some(l) => {
                tokio::select! {
                    accepted = l.accept() => match accepted {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let st = state.clone();
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                match tls {
                                    Some(acceptor) => match acceptor.accept(stream).await {
                                        Ok(s) => serve_conn(st, s).await,
                                        Err(e) => debug!(error = %e, "TLS handshake failed"),
                                    },
                                    None => serve_conn(st, stream).await,
                                }
                            });
                        }
                        Err(e) => {
                            debug!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    },
                    _ = part_rx.changed() => {}
                    _ = shutdown.changed() => {}
                }
            }
            None => {
                tokio::select! {
                    r = part_rx.changed() => if r.is_err() { break },
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

async fn serve_conn<I>(state: Arc<ClusterState>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut part_rx = state.faults.partition_rx();
    let mut shutdown = state.shutdown.subscribe();
    let st = state.clone();
    let svc = service_fn(move |req| handle(st.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    let refused = async {
        loop {
            if *part_rx.borrow_and_update() == Partition::Refuse {
                return;
            }
            if part_rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = conn => if let Err(e) = r { debug!(error = %e, "connection ended") },
        _ = refused => {}
        _ = shutdown.changed() => {}
    }
}

/// Waits while the cluster is hung; `false` if the request must be dropped.
async fn wait_partition(faults: &Faults) -> bool {
    let mut rx = faults.partition_rx();
    let first = *rx.borrow_and_update();
    if first == Partition::None {
        return true;
    }
    // A request caught by a partition is never answered.
    loop {
        if rx.changed().await.is_err() {
            return false;
        }
        if *rx.borrow_and_update() == Partition::None {
            return false;
        }
    }
}

async fn handle(
    state: Arc<ClusterState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    if !wait_partition(&state.faults).await {
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "partitioned",
        ));
    }
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut record = RequestRecord {
        method: req.method().to_string(),
        verb: req.method().as_str().to_ascii_lowercase(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        path: req.uri().path().to_string(),
        code: 0,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    };
    let resp = match route(&state, req, &mut record).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    record.code = resp.status().as_u16();
    debug!(cluster = %state.name, verb = %record.verb, resource = %record.resource, namespace = %record.namespace, name = %record.name, code = record.code, "request");
    let mut log = lock(&state.log);
    if log.len() >= state.log_limit {
        log.pop_front();
    }
    log.push_back(record);
    Ok(resp)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Self(
            q.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | ""))
    }
}

fn accepts_json(accept: &str) -> bool {
    accept.is_empty()
        || accept.split(',').any(|t| {
            let base = t.split(';').next().unwrap_or_default().trim();
            matches!(
                base,
                "application/json" | "*/*" | "application/*" | "application/yaml" | ""
            )
        })
}

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

/// A parsed resource path.
struct Target {
    group: String,
    version: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    legacy_watch: bool,
}

fn parse_resource_path(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let mut rest = rest;
    let mut legacy_watch = false;
    if rest.first() == Some(&"watch") {
        legacy_watch = true;
        rest = &rest[1..];
    }
    let mut t = Target {
        group: group.to_string(),
        version: version.to_string(),
        resource: String::new(),
        namespace: None,
        name: None,
        subresource: None,
        legacy_watch,
    };
    let s = |x: &&str| (*x).to_string();
    let namespace_sub =
        rest.len() == 3 && group.is_empty() && matches!(rest[2], "status" | "finalize");
    if rest.len() >= 3 && rest[0] == "namespaces" && !namespace_sub {
        t.namespace = Some(s(&rest[1]));
        t.resource = s(&rest[2]);
        match &rest[3..] {
            [] => {}
            [name] => t.name = Some(s(name)),
            [name, sub] => {
                t.name = Some(s(name));
                t.subresource = Some(s(sub));
            }
            _ => return None,
        }
        return Some(t);
    }
    match rest {
        [res] => t.resource = s(res),
        [res, name] => {
            t.resource = s(res);
            t.name = Some(s(name));
        }
        [res, name, sub] => {
            t.resource = s(res);
            t.name = Some(s(name));
            t.subresource = Some(s(sub));
        }
        _ => return None,
    }
    Some(t)
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    req.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

fn parse_object(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let base = content_type.split(';').next().unwrap_or_default().trim();
    match base {
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        }),
        "application/yaml" | "application/apply-patch+yaml" => {
            if let Ok(v) = serde_json::from_slice(body) {
                return Ok(v);
            }
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8: {e}")))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as YAML: {e}"
                ))
            })
        }
        "application/vnd.kubernetes.protobuf" => crate::proto::decode(body).map_err(|e| match e {
            crate::proto::ProtoError::Unsupported(_) => {
                let mut err = ApiError::unsupported_media_type(base);
                err.message = format!("{e} (got {base})");
                err
            }
            other => ApiError::bad_request(other.to_string()),
        }),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn route(
    state: &Arc<ClusterState>,
    req: Request<Incoming>,
    record: &mut RequestRecord,
) -> Result<Response<Body>, ApiError> {
    if let Some(token) = &state.token {
        let auth = header_str(&req, header::AUTHORIZATION);
        if auth.strip_prefix("Bearer ").map(str::trim) != Some(token.as_str()) {
            return Err(ApiError::unauthorized());
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

    let meta_only = wants_metadata(&accept);
    let ok = |v: Value| Ok(value_response(StatusCode::OK, &v));
    match verb {
        "get" => {
            let obj = lock(&state.store)
                .get(&info, ns, &name)
                .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, &name))?;
            Ok(json_response(
                StatusCode::OK,
                render_obj(&info, version, &obj, meta_only),
            ))
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
            Ok(json_response(
                StatusCode::OK,
                render_list(&info, version, &page, meta_only),
            ))
        }
        "watch" => {
            let filter = WatchFilter {
                info: info.clone(),
                version: version.to_string(),
                ns: ns.map(str::to_string),
                labels,
                fields,
                meta_only,
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

/// Whether the client asked for `PartialObjectMetadata` (metadata-only get, list and watch).
fn wants_metadata(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| {
        first.contains("as=PartialObjectMetadata") && first.contains("g=meta.k8s.io")
    })
}

/// An object as served: the full object, or its `PartialObjectMetadata`.
fn render_obj(info: &ResourceInfo, version: &str, obj: &Stored, meta: bool) -> Bytes {
    if !meta {
        return Store::render(info, version, obj);
    }
    let v = obj.value();
    let out = json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": v.get("metadata").cloned().unwrap_or(Value::Null),
    });
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}

fn render_list(
    info: &ResourceInfo,
    version: &str,
    page: &crate::store::ListPage,
    meta_only: bool,
) -> Bytes {
    let mut meta = serde_json::Map::new();
    meta.insert("resourceVersion".into(), json!(page.rv.to_string()));
    if let Some(c) = &page.continue_token {
        meta.insert("continue".into(), json!(c));
    }
    if let Some(r) = page.remaining {
        meta.insert("remainingItemCount".into(), json!(r));
    }
    let head =
        json!({"kind": info.list_kind, "apiVersion": info.api_version(version), "metadata": meta});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let size: usize = page.items.iter().map(|o| o.json.len() + 1).sum();
    let mut out = BytesMut::with_capacity(head.len() + size + 16);
    // `head` ends with '}': reopen it to append the items.
    out.put_slice(&head[..head.len().saturating_sub(1)]);
    out.put_slice(b",\"items\":[");
    for (i, o) in page.items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(&render_obj(info, version, o, meta_only));
    }
    out.put_slice(b"]}");
    out.freeze()
}

fn event_line(etype: &str, object: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(object.len() + 32);
    out.put_slice(b"{\"type\":\"");
    out.put_slice(etype.as_bytes());
    out.put_slice(b"\",\"object\":");
    out.put_slice(object);
    out.put_slice(b"}\n");
    out.freeze()
}

fn bookmark(
    info: &ResourceInfo,
    version: &str,
    rv: u64,
    initial_end: bool,
    meta_only: bool,
) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end && let Some(m) = meta.as_object_mut() {
        m.insert(
            "annotations".into(),
            json!({"k8s.io/initial-events-end": "true"}),
        );
    }
    let obj = if meta_only {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
    } else {
        json!({"kind": info.kind, "apiVersion": info.api_version(version), "metadata": meta})
    };
    event_line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
}

struct WatchFilter {
    info: Arc<ResourceInfo>,
    version: String,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    meta_only: bool,
}

impl WatchFilter {
    fn matches(&self, o: &Stored) -> bool {
        Store::matches_obj(o, self.ns.as_deref(), &self.labels, &self.fields)
    }

    /// The event this watcher sees for a change, with selector transitions.
    fn line(&self, ev: &Event) -> Option<Bytes> {
        if *ev.key != *self.info.key() {
            return None;
        }
        let now = self.matches(&ev.obj);
        let before = ev.old.as_ref().is_some_and(|o| self.matches(o));
        let etype = match ev.etype {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now || before => "DELETED",
            _ => return None,
        };
        Some(event_line(
            etype,
            &render_obj(&self.info, &self.version, &ev.obj, self.meta_only),
        ))
    }
}

fn watch_response(
    state: &Arc<ClusterState>,
    filter: WatchFilter,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let info = filter.info.clone();
    let rv = query.get("resourceVersion").unwrap_or_default();
    let send_initial = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let start = if send_initial || rv.is_empty() || rv == "0" {
        WatchStart::Current
    } else {
        WatchStart::From(rv.parse::<u64>().map_err(|_| {
            ApiError::invalid(
                &info.group,
                &info.kind,
                "",
                "resourceVersion",
                "FieldValueInvalid",
                &format!("{rv:?}: must be an unsigned integer"),
            )
        })?)
    };
    let timeout = match query.get("timeoutSeconds") {
        Some(t) if !t.is_empty() => {
            Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid timeoutSeconds {t:?}"))
            })?))
        }
        _ => None,
    };
    let info = &filter.info;
    let init = lock(&state.store).watch(
        info,
        filter.ns.as_deref(),
        &filter.labels,
        &filter.fields,
        start,
    );
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let state = state.clone();
    tokio::spawn(async move {
        let init = match init {
            Ok(init) => init,
            Err(e) => {
                let _ = tx
                    .send(event_line(
                        "ERROR",
                        &serde_json::to_vec(&e.to_status()).unwrap_or_default(),
                    ))
                    .await;
                return;
            }
        };
        run_watch(
            state,
            filter,
            init,
            tx,
            send_initial && bookmarks,
            bookmarks,
            timeout,
        )
        .await;
    });
    let stream = ReceiverStream::new(rx).map(|b| Ok::<_, std::io::Error>(Frame::data(b)));
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

async fn run_watch(
    state: Arc<ClusterState>,
    filter: WatchFilter,
    mut init: crate::store::WatchInit,
    tx: mpsc::Sender<Bytes>,
    initial_bookmark: bool,
    bookmarks: bool,
    timeout: Option<Duration>,
) {
    let _open = WatchGuard::new(state.clone(), filter.info.key().to_string());
    let mut epoch = state.faults.watch_epoch_rx();
    epoch.borrow_and_update();
    let mut part = state.faults.partition_rx();
    let mut shutdown = state.shutdown.subscribe();
    let mut last_rv = init.rv;
    let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    let sleep_until = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until);
    let mut ticker = tokio::time::interval(state.bookmark_interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;

    let mut first: Vec<Bytes> = Vec::new();
    for o in &init.initial {
        first.push(event_line(
            "ADDED",
            &render_obj(&filter.info, &filter.version, o, filter.meta_only),
        ));
    }
    if initial_bookmark {
        first.push(bookmark(
            &filter.info,
            &filter.version,
            init.rv,
            true,
            filter.meta_only,
        ));
    }
    for ev in &init.backlog {
        if let Some(line) = filter.line(ev) {
            first.push(line);
        }
    }
    for line in first {
        if tx.send(line).await.is_err() {
            return;
        }
    }
    loop {
        // A hung cluster delivers nothing until healed.
        while *part.borrow_and_update() == Partition::Hang {
            if part.changed().await.is_err() {
                return;
            }
        }
        let out = tokio::select! {
            ev = init.rx.recv() => match ev {
                Ok(ev) => {
                    last_rv = last_rv.max(ev.rv);
                    filter.line(&ev)
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let e = ApiError::expired("the watcher fell too far behind and its events were dropped; relist");
                    let _ = tx.send(event_line("ERROR", &serde_json::to_vec(&e.to_status()).unwrap_or_default())).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if bookmarks => Some(bookmark(&filter.info, &filter.version, last_rv, false, filter.meta_only)),
            _ = &mut sleep_until => return,
            _ = epoch.changed() => return,
            _ = tx.closed() => return,
            _ = shutdown.changed() => return,
            _ = part.changed() => None,
        };
        if let Some(line) = out
            && tx.send(line).await.is_err()
        {
            return;
        }
    }
}
