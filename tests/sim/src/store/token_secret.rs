//! What a `kubernetes.io/service-account-token` Secret is, and the API server's check of one
//! on write: the names both the writes and the token controller (`tokens`) use.

use serde_json::Value;

use crate::error::ApiError;
use crate::registry::ResourceInfo;

/// The Secret type the token controller fills in.
pub const SERVICE_ACCOUNT_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// Annotation naming the ServiceAccount of a token Secret.
pub const SERVICE_ACCOUNT_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
/// Annotation with the uid of the ServiceAccount of a token Secret.
pub const SERVICE_ACCOUNT_UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
/// Storage key of Secrets.
pub(super) const SECRETS: &str = "/secrets";
/// Storage key of ServiceAccounts.
pub(super) const SERVICE_ACCOUNTS: &str = "/serviceaccounts";

pub(super) fn annotation<'a>(secret: &'a Value, key: &str) -> Option<&'a str> {
    secret
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Whether a Secret is of type `kubernetes.io/service-account-token`.
pub(super) fn is_token_secret(secret: &Value) -> bool {
    secret.get("type").and_then(Value::as_str) == Some(SERVICE_ACCOUNT_TOKEN_TYPE)
}

/// The API server's validation of a token Secret: it must name its ServiceAccount.
pub(super) fn check_token_secret(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    if *info.key() != *SECRETS
        || !is_token_secret(obj)
        || annotation(obj, SERVICE_ACCOUNT_NAME_ANNOTATION).is_some()
    {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(
        "",
        "Secret",
        name,
        &format!("metadata.annotations[{SERVICE_ACCOUNT_NAME_ANNOTATION}]"),
        "FieldValueRequired",
        "",
    ))
}
