//! Kubernetes API errors as `metav1.Status` bodies.

use serde_json::{Value, json};

/// An error answered to a client as a `metav1.Status` object with the real code and reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (404, 409, ...).
    pub code: u16,
    /// `metav1.StatusReason` (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable message, worded as the real API server words it.
    pub message: String,
    /// `details` of the Status (name, group, kind, causes), if any.
    pub details: Option<Box<Value>>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some(Box::new(
            json!({"name": name, "group": group, "kind": kind}),
        ));
        self
    }

    /// 404: `<resource>.<group> "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, resource)),
        )
        .with_details(group, resource, name)
    }

    /// 404 for a path that names no known resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        )
        .with_details(group, resource, name)
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, resource)
            ),
        )
        .with_details(group, resource, name)
    }

    /// 409 Conflict from server-side apply, listing the conflicting fields per manager.
    pub fn apply_conflict(
        group: &str,
        resource: &str,
        name: &str,
        conflicts: &[(String, String)],
    ) -> Self {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(manager, field)| {
                json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": field})
            })
            .collect();
        let list: Vec<String> = conflicts
            .iter()
            .map(|(manager, field)| format!("- conflict with \"{manager}\": {field}"))
            .collect();
        let word = if conflicts.len() == 1 {
            "conflict"
        } else {
            "conflicts"
        };
        let mut err = Self::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {} {word}: {}",
                conflicts.len(),
                list.join("\n")
            ),
        );
        err.details = Some(Box::new(
            json!({"name": name, "group": group, "kind": resource, "causes": causes}),
        ));
        err
    }

    /// 422 Invalid with one cause.
    pub fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        field: &str,
        cause_type: &str,
        detail: &str,
    ) -> Self {
        let mut err = Self::new(
            422,
            "Invalid",
            format!(
                "{kind}{} \"{name}\" is invalid: {field}: {}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!(".{group}")
                },
                detail_text(cause_type, detail)
            ),
        );
        err.details = Some(Box::new(json!({
            "name": name, "group": group, "kind": kind,
            "causes": [{"reason": cause_type, "message": detail_text(cause_type, detail), "field": field}]
        })));
        err
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json (requested {accept})"
            ),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
        )
    }

    /// 410 Expired: a resourceVersion that has been compacted away.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 410 Gone, as sent in a watch ERROR event.
    pub fn gone(rv: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {rv} ({oldest})"),
        )
    }

    /// 429 TooManyRequests with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut err = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        err.retry_after = Some(retry_after);
        err.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        err
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// The `metav1.Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".into(), (**details).clone());
        }
        status
    }
}

fn detail_text(cause_type: &str, detail: &str) -> String {
    match cause_type {
        "FieldValueRequired" if detail.is_empty() => "Required value".to_string(),
        "FieldValueRequired" => format!("Required value: {detail}"),
        "FieldValueInvalid" => format!("Invalid value: {detail}"),
        _ => detail.to_string(),
    }
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}
