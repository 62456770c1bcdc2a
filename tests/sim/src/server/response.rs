//! Response encoding: JSON bodies and API errors as `Status`, objects and lists as served (full,
//! `PartialObjectMetadata` or `Table`) in the requested version.

use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::printers::{Printer, TableMeta, TableOptions, table};
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

/// How a Table response is made: the resource version's printer and the negotiated options.
pub(super) struct TableRender {
    pub(super) printer: Printer,
    pub(super) opts: TableOptions,
}

impl TableRender {
    /// The Table of `objects` (each already in the requested version), with this list
    /// metadata; `headers` false leaves the column definitions out.
    pub(super) fn render_values(
        &self,
        objects: &[Value],
        meta: &TableMeta,
        headers: bool,
    ) -> Bytes {
        let t = table(
            &self.printer,
            objects,
            meta,
            self.opts,
            headers,
            jiff::Timestamp::now(),
        );
        Bytes::from(serde_json::to_vec(&t).unwrap_or_default())
    }

    /// The Table of stored objects, rendered in `version`.
    fn render(
        &self,
        info: &ResourceInfo,
        version: &str,
        objects: &[&Stored],
        meta: &TableMeta,
        headers: bool,
    ) -> Bytes {
        let values: Vec<Value> = objects
            .iter()
            .map(|o| {
                serde_json::from_slice(&Store::render(info, version, o)).unwrap_or(Value::Null)
            })
            .collect();
        self.render_values(&values, meta, headers)
    }

    /// The Table of one object: one row, the object's resourceVersion.
    pub(super) fn render_one(
        &self,
        info: &ResourceInfo,
        version: &str,
        obj: &Stored,
        headers: bool,
    ) -> Bytes {
        let meta = TableMeta {
            resource_version: obj.rv.to_string(),
            ..TableMeta::default()
        };
        self.render(info, version, &[obj], &meta, headers)
    }

    /// The Table of a list page: its resourceVersion, continue token and remaining count.
    pub(super) fn render_page(&self, info: &ResourceInfo, version: &str, page: &ListPage) -> Bytes {
        let meta = TableMeta {
            resource_version: page.rv.to_string(),
            continue_token: page.continue_token.clone(),
            remaining: page.remaining,
        };
        let objects: Vec<&Stored> = page.items.iter().map(AsRef::as_ref).collect();
        self.render(info, version, &objects, &meta, true)
    }
}
