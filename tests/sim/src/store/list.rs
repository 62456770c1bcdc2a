//! Lists: namespace and selector filtering, paging with `limit`, and continue tokens (which
//! carry the first page's resourceVersion and expire with compaction).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::object::Stored;
use super::storage::Store;
use crate::error::ApiError;
use crate::registry::ResourceInfo;
use crate::selector::{FieldSelector, LabelSelector};

/// Result of a list.
pub struct ListPage {
    /// Matching objects, in key order.
    pub items: Vec<Arc<Stored>>,
    /// Current resourceVersion.
    pub rv: u64,
    /// Continue token, if more items exist.
    pub continue_token: Option<String>,
    /// Items after this page (only without selectors).
    pub remaining: Option<u64>,
}

impl Store {
    /// Lists objects.
    #[allow(clippy::too_many_arguments)]
    pub fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        // Pages after the first report the first page's resourceVersion (as a real server
        // does): a watch started from it replays every change made while paging.
        let (list_rv, start) = match cont {
            Some(token) => {
                let (rv, start) = self.decode_continue(token)?;
                (rv, Some(start))
            }
            None => (self.rv, None),
        };
        let empty = BTreeMap::new();
        let map = self.data.get(&info.key()).unwrap_or(&empty);
        let prefix = ns.map(|n| format!("{n}/"));
        let lower = match (&start, &prefix) {
            (Some(s), _) => std::ops::Bound::Excluded(s.clone()),
            (None, Some(p)) => std::ops::Bound::Included(p.clone()),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let mut iter = map
            .range::<String, _>((lower, std::ops::Bound::Unbounded))
            .take_while(|(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())));
        let mut items = Vec::new();
        let mut last_key = None;
        let limit = limit.filter(|l| *l > 0);
        let mut more = false;
        for (k, obj) in iter.by_ref() {
            if !Self::matches_obj(obj, ns, labels, fields) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(obj.clone());
            last_key = Some(k.clone());
        }
        let mut remaining = None;
        let continue_token = if more {
            if labels.is_empty() && fields.is_empty() {
                remaining = Some(1 + iter.count() as u64);
            }
            last_key.map(|k| encode_continue(list_rv, &k))
        } else {
            None
        };
        Ok(ListPage {
            items,
            rv: list_rv,
            continue_token,
            remaining,
        })
    }

    /// Reads a continue token: (resourceVersion of the first page, last key served).
    fn decode_continue(&self, token: &str) -> Result<(u64, String), ApiError> {
        use base64::Engine;
        let bad = || ApiError::bad_request(format!("invalid continue token {token:?}"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
        if rv < self.oldest_watchable {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            ));
        }
        let start = v
            .get("start")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)?;
        Ok((rv, start))
    }

    /// Whether an object matches a namespace and selectors.
    pub fn matches_obj(
        obj: &Stored,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> bool {
        if let Some(ns) = ns
            && obj.namespace.as_deref() != Some(ns)
        {
            return false;
        }
        if !labels.matches(&obj.labels) {
            return false;
        }
        if fields.is_empty() {
            return true;
        }
        let body = if fields.metadata_only() {
            None
        } else {
            Some(obj.value())
        };
        fields.matches(obj.namespace.as_deref(), &obj.name, body.as_ref())
    }
}

/// Writes a continue token: (resourceVersion of the first page, last key served).
fn encode_continue(rv: u64, start: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"rv": rv, "start": start}).to_string())
}
