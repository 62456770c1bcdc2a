//! Request parsing: the query string, the resource path, `Accept` and `Content-Type`, and the
//! body (JSON, YAML or protobuf).

use bytes::Bytes;
use http::{Request, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use crate::error::ApiError;
use crate::proto;

/// Decodes `%XX` escapes and `+` of a path segment or query component.
pub(super) fn percent_decode(s: &str) -> String {
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

/// The query parameters of a request, in order.
#[derive(Default)]
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(q: Option<&str>) -> Self {
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

    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | ""))
    }
}

/// Whether an `Accept` header allows a JSON answer.
pub(super) fn accepts_json(accept: &str) -> bool {
    accept.is_empty()
        || accept.split(',').any(|t| {
            let base = t.split(';').next().unwrap_or_default().trim();
            matches!(
                base,
                "application/json" | "*/*" | "application/*" | "application/yaml" | ""
            )
        })
}

/// How a get, list or watch answers: the objects, their `PartialObjectMetadata`, or a
/// `Table` in `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Representation {
    /// The objects as stored, in the requested version.
    Full,
    /// `PartialObjectMetadata` objects (kube-rs `get_metadata`, `list_metadata`).
    Metadata,
    /// A `Table` (kubectl `get`), of this `apiVersion`.
    Table(&'static str),
}

/// One media range of an `Accept` header: `type/subtype;k=v;...`.
struct MediaRange {
    base: String,
    params: Vec<(String, String)>,
    q: f64,
}

impl MediaRange {
    fn parse(range: &str) -> Self {
        let mut parts = range.split(';');
        let base = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_string(),
                )
            })
            .collect();
        let mut r = Self {
            base,
            params,
            q: 1.0,
        };
        r.q = r.param("q").and_then(|v| v.parse().ok()).unwrap_or(1.0);
        r
    }

    fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// The representation this range asks for, `None` when this server cannot produce it.
    fn representation(&self) -> Option<Representation> {
        if !matches!(
            self.base.as_str(),
            "application/json" | "*/*" | "application/*" | "application/yaml" | ""
        ) {
            return None;
        }
        let meta_version = match (self.param("g"), self.param("v")) {
            (Some("meta.k8s.io"), Some("v1")) => Some("meta.k8s.io/v1"),
            (Some("meta.k8s.io"), Some("v1beta1")) => Some("meta.k8s.io/v1beta1"),
            _ => None,
        };
        match self.param("as") {
            None => Some(Representation::Full),
            Some("Table") => meta_version.map(Representation::Table),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") => {
                meta_version.map(|_| Representation::Metadata)
            }
            Some(_) => None,
        }
    }
}

/// Picks the representation from `Accept`: its media types in order of their `q` (stable
/// for equal ones), skipping any this server cannot produce (protobuf, an unknown `as=`, a
/// Table outside `meta.k8s.io` v1/v1beta1), as the API server's negotiation falls back through
/// kubectl's `as=Table;v=v1;g=meta.k8s.io,as=Table;v=v1beta1;g=meta.k8s.io,application/json`.
/// `None` when nothing is acceptable (406).
pub(super) fn negotiate(accept: &str) -> Option<Representation> {
    if accept.trim().is_empty() {
        return Some(Representation::Full);
    }
    let mut ranges: Vec<MediaRange> = accept
        .split(',')
        .map(MediaRange::parse)
        .filter(|r| r.q > 0.0)
        .collect();
    ranges.sort_by(|a, b| b.q.total_cmp(&a.q));
    ranges.iter().find_map(MediaRange::representation)
}

/// A parsed resource path.
pub(super) struct Target {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) resource: String,
    pub(super) namespace: Option<String>,
    pub(super) name: Option<String>,
    pub(super) subresource: Option<String>,
    pub(super) legacy_watch: bool,
}

/// Reads the path after `/api/v1` or `/apis/<group>/<version>`: namespace, resource, name,
/// subresource, and the legacy `watch/` prefix.
pub(super) fn parse_resource_path(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
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

/// The whole request body.
pub(super) async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    req.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

/// Decodes an object body by its content type.
pub(super) fn parse_object(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
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
        "application/vnd.kubernetes.protobuf" => proto::decode(body).map_err(|e| match e {
            proto::ProtoError::Unsupported(_) => {
                let mut err = ApiError::unsupported_media_type(base);
                err.message = format!("{e} (got {base})");
                err
            }
            other => ApiError::bad_request(other.to_string()),
        }),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// A header as text (empty when missing or not text).
pub(super) fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
