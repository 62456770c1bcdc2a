//! Response encoding: JSON bodies and API errors as `Status`, objects and lists as served (full
//! or `PartialObjectMetadata`) in the requested version.

use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::registry::ResourceInfo;
use crate::store::{ListPage, Store, Stored};

/// Response body type.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// A body of fixed bytes.
pub(super) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A JSON response with this status and body.
pub(super) fn json_response(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON response with this status and value.
pub(super) fn value_response(code: StatusCode, v: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

/// An API error as a `Status` response (with `Retry-After` when it has one).
pub(super) fn error_response(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = value_response(code, &e.to_status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// An object as served: the full object, or its `PartialObjectMetadata`.
pub(super) fn render_obj(info: &ResourceInfo, version: &str, obj: &Stored, meta: bool) -> Bytes {
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

/// A list as served: list kind, resourceVersion, continue token and remaining count, then the
/// items (rendered as [`render_obj`] does).
pub(super) fn render_list(
    info: &ResourceInfo,
    version: &str,
    page: &ListPage,
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
