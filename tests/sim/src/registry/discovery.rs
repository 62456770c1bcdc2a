//! The discovery documents of a cluster's resources: `/apis`, `/apis/<group>`, `/api/v1` and
//! `/apis/<group>/<version>`.

use serde_json::{Value, json};

use super::table::Registry;
use super::version::version_priority;

/// The verbs every served resource supports.
const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl Registry {
    /// Groups with their versions, in registration order (core group excluded).
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all() {
            if r.group.is_empty() {
                continue;
            }
            let entry = match out.iter_mut().position(|(g, _)| *g == r.group) {
                Some(i) => &mut out[i].1,
                None => {
                    out.push((r.group.clone(), Vec::new()));
                    let last = out.len() - 1;
                    &mut out[last].1
                }
            };
            for v in &r.versions {
                if !entry.contains(v) {
                    entry.push(v.clone());
                }
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    fn group_json(name: &str, versions: &[String]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
            .collect();
        let preferred = vs.first().cloned().unwrap_or(Value::Null);
        json!({"name": name, "versions": vs, "preferredVersion": preferred})
    }

    /// `/apis` document.
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, v)| Self::group_json(g, v))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/<group>` document.
    pub fn api_group(&self, group: &str) -> Option<Value> {
        self.groups()
            .iter()
            .find(|(g, _)| g == group)
            .map(|(g, v)| {
                let mut doc = Self::group_json(g, v);
                if let Some(m) = doc.as_object_mut() {
                    m.insert("kind".into(), json!("APIGroup"));
                    m.insert("apiVersion".into(), json!("v1"));
                }
                doc
            })
    }

    /// `/api/v1` or `/apis/<group>/<version>` document.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let mut resources = Vec::new();
        for r in self.all() {
            if r.group != group || !r.versions.iter().any(|v| v == version) {
                continue;
            }
            let mut entry = json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": RW,
                "storageVersionHash": "",
            });
            if let Some(m) = entry.as_object_mut() {
                if !r.short_names.is_empty() {
                    m.insert("shortNames".into(), json!(r.short_names));
                }
                if !r.categories.is_empty() {
                    m.insert("categories".into(), json!(r.categories));
                }
            }
            resources.push(entry);
            if r.status_subresource {
                resources.push(json!({
                    "name": format!("{}/status", r.plural),
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        if resources.is_empty() {
            return None;
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}
