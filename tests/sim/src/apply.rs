//! Server-side apply: field ownership per manager (`metadata.managedFields`, FieldsV1), merging
//! an applied configuration into the live object, removing fields a manager stopped applying,
//! and conflicts between managers.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::registry::{ListType, ResourceInfo};

/// Server-side apply failures.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Other managers own fields the applied configuration sets to different values.
    #[error("apply conflicts: {0:?}")]
    Conflict(Vec<(String, String)>),
    /// The applied configuration is not an object.
    #[error("the applied configuration must be an object")]
    NotAnObject,
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// A map field: `f:name`.
    F(String),
    /// A keyed list item: `k:{"name":"a"}` (canonical JSON of the key).
    K(String),
    /// A set item: `v:"a"` (canonical JSON of the value).
    V(String),
}

/// A set of field paths.
pub type FieldSet = BTreeSet<Vec<Seg>>;

/// Paths that carry no user intent and are never owned.
const META_SKIP: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object a write touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource (status excluded when the kind has a status subresource).
    Main,
    /// The `/status` subresource.
    Status,
    /// The whole object (kinds without a status subresource).
    Whole,
}

impl Part {
    /// The part a write through the main resource or `/status` touches for a kind.
    pub fn of(info: &ResourceInfo, status: bool) -> Self {
        match (status, info.status_subresource) {
            (true, _) => Part::Status,
            (false, true) => Part::Main,
            (false, false) => Part::Whole,
        }
    }

    fn subresource(self) -> &'static str {
        if self == Part::Status { "status" } else { "" }
    }
}

/// The fields an object (or applied configuration) sets.
pub fn fields_of(obj: &Value, info: &ResourceInfo, part: Part) -> FieldSet {
    let mut out = FieldSet::new();
    let Value::Object(m) = obj else {
        return out;
    };
    for (k, v) in m {
        if k == "apiVersion" || k == "kind" || k.starts_with('$') {
            continue;
        }
        match part {
            Part::Status if k != "status" => continue,
            Part::Main if k == "status" => continue,
            _ => {}
        }
        if k == "metadata" {
            if let Value::Object(meta) = v {
                for (mk, mv) in meta {
                    if META_SKIP.contains(&mk.as_str()) {
                        continue;
                    }
                    let path = vec![Seg::F("metadata".into()), Seg::F(mk.clone())];
                    walk(mk, mv, path, info, &mut out);
                }
            }
            continue;
        }
        walk(k, v, vec![Seg::F(k.clone())], info, &mut out);
    }
    out
}

fn walk(field: &str, v: &Value, path: Vec<Seg>, info: &ResourceInfo, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, sub) in m {
                let mut p = path.clone();
                p.push(Seg::F(k.clone()));
                walk(k, sub, p, info, out);
            }
        }
        Value::Array(items) => match info.list_type(field) {
            ListType::Map(keys) => {
                for item in items {
                    let Some(key) = item_key(item, &keys) else {
                        continue;
                    };
                    let mut p = path.clone();
                    p.push(Seg::K(key));
                    out.insert(p.clone());
                    if let Value::Object(im) = item {
                        for (k, sub) in im {
                            let mut ip = p.clone();
                            ip.push(Seg::F(k.clone()));
                            walk(k, sub, ip, info, out);
                        }
                    }
                }
            }
            ListType::Set => {
                for item in items {
                    let mut p = path.clone();
                    p.push(Seg::V(item.to_string()));
                    out.insert(p);
                }
            }
            ListType::Atomic => {
                out.insert(path);
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

/// The canonical JSON of a list item's key fields (`{"containerPort":80,"protocol":"TCP"}`);
/// `None` when the item has none of them.
fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = key_field(item, k) {
            m.insert(k.clone(), v);
        }
    }
    (!m.is_empty()).then(|| Value::Object(m).to_string())
}

/// The one defaulting the server does: `protocol: TCP` on items of port lists keyed by protocol
/// (Service ports, container ports), so that list item identity matches a real server's.
pub fn default_protocols(v: &mut Value, info: &ResourceInfo) {
    default_in(v, "", info);
}

fn default_in(v: &mut Value, field: &str, info: &ResourceInfo) {
    match v {
        Value::Object(m) => {
            for (k, sub) in m.iter_mut() {
                default_in(sub, k, info);
            }
        }
        Value::Array(items) => {
            let keyed = matches!(info.list_type(field), ListType::Map(keys) if keys.iter().any(|k| k == "protocol"));
            for item in items {
                if keyed
                    && let Value::Object(im) = item
                    && !im.contains_key("protocol")
                {
                    im.insert("protocol".into(), Value::String("TCP".into()));
                }
                default_in(item, "", info);
            }
        }
        _ => {}
    }
}

/// A key field of a list item; `protocol` defaults to TCP as the API server's defaulting does.
fn key_field(item: &Value, k: &str) -> Option<Value> {
    match item.get(k) {
        Some(v) => Some(v.clone()),
        None if k == "protocol" && item.is_object() => Some(Value::String("TCP".into())),
        None => None,
    }
}

fn key_matches(item: &Value, key_json: &str) -> bool {
    let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key_json) else {
        return false;
    };
    key.iter()
        .all(|(k, v)| key_field(item, k).as_ref() == Some(v))
}

/// The value at a path, if present.
pub fn get_path<'a>(obj: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        cur = match seg {
            Seg::F(k) => cur.get(k)?,
            Seg::K(key) => cur.as_array()?.iter().find(|i| key_matches(i, key))?,
            Seg::V(v) => {
                let want: Value = serde_json::from_str(v).ok()?;
                cur.as_array()?.iter().find(|i| **i == want)?
            }
        };
    }
    Some(cur)
}

fn remove_path(obj: &mut Value, path: &[Seg]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parent_path {
        let next = match seg {
            Seg::F(k) => cur.get_mut(k),
            Seg::K(key) => cur
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| key_matches(i, key))),
            Seg::V(_) => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Seg::F(k) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(k);
            }
        }
        Seg::K(key) => {
            if let Some(a) = cur.as_array_mut() {
                a.retain(|i| !key_matches(i, key));
            }
        }
        Seg::V(v) => {
            if let (Some(a), Ok(want)) = (cur.as_array_mut(), serde_json::from_str::<Value>(v)) {
                a.retain(|i| *i != want);
            }
        }
    }
}

/// Human form of a path: `.spec.containers[name="a"].image`.
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::F(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::K(key) => {
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(key) {
                    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    s.push_str(&format!("[{}]", inner.join(",")));
                }
            }
            Seg::V(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// Encodes a field set as a FieldsV1 tree.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for seg in path {
            let key = match seg {
                Seg::F(k) => format!("f:{k}"),
                Seg::K(k) => format!("k:{k}"),
                Seg::V(v) => format!("v:{v}"),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            cur = next;
        }
    }
    // Item nodes that got children after being inserted as leaves need the "." marker.
    mark_items(&mut root);
    Value::Object(root)
}

fn mark_items(m: &mut Map<String, Value>) {
    for (k, v) in m.iter_mut() {
        if let Value::Object(child) = v {
            let is_item = k.starts_with("k:") || k.starts_with("v:");
            if is_item && !child.is_empty() && !child.contains_key(".") {
                child.insert(".".into(), Value::Object(Map::new()));
            }
            mark_items(child);
        }
    }
}

/// Decodes a FieldsV1 tree into a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    decode(v, &mut Vec::new(), &mut out);
    out
}

fn decode(v: &Value, path: &mut Vec<Seg>, out: &mut FieldSet) {
    let Value::Object(m) = v else {
        return;
    };
    if m.is_empty() && !path.is_empty() {
        out.insert(path.clone());
        return;
    }
    for (k, sub) in m {
        if k == "." {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            continue;
        }
        let seg = if let Some(f) = k.strip_prefix("f:") {
            Seg::F(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            Seg::K(key.to_string())
        } else if let Some(val) = k.strip_prefix("v:") {
            Seg::V(val.to_string())
        } else {
            continue;
        };
        path.push(seg);
        decode(sub, path, out);
        path.pop();
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
pub struct Manager {
    /// Manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// `apiVersion` the manager used.
    pub api_version: String,
    /// Time of the last change.
    pub time: String,
    /// "" or "status".
    pub subresource: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

/// Reads `metadata.managedFields`.
pub fn read_managers(obj: &Value) -> Vec<Manager> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let s = |k: &str| {
                        e.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    Manager {
                        manager: s("manager"),
                        operation: s("operation"),
                        api_version: s("apiVersion"),
                        time: s("time"),
                        subresource: s("subresource"),
                        fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `metadata.managedFields` (managers owning nothing are dropped).
pub fn write_managers(obj: &mut Value, managers: &[Manager]) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.subresource.is_empty()
                && let Some(map) = e.as_object_mut()
            {
                map.insert("subresource".into(), json!(m.subresource));
            }
            e
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Merges an applied configuration into the live object: maps field by field, keyed lists item
/// by item, sets as unions, everything else replaced.
fn merge_applied(live: &mut Value, applied: &Value, field: &str, info: &ResourceInfo) {
    match (live, applied) {
        (Value::Object(lm), Value::Object(am)) => {
            for (k, av) in am {
                if av.is_null() {
                    lm.remove(k);
                    continue;
                }
                match lm.get_mut(k) {
                    Some(lv) => merge_applied(lv, av, k, info),
                    None => {
                        lm.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (live @ Value::Array(_), Value::Array(aa)) => match info.list_type(field) {
            ListType::Map(keys) => {
                if let Value::Array(la) = live {
                    for item in aa {
                        let same = |l: &&mut Value| {
                            keys.iter().all(|k| key_field(l, k) == key_field(item, k))
                        };
                        match la.iter_mut().find(same) {
                            Some(l) => merge_applied(l, item, "", info),
                            None => la.push(item.clone()),
                        }
                    }
                }
            }
            ListType::Set => {
                if let Value::Array(la) = live {
                    for item in aa {
                        if !la.contains(item) {
                            la.push(item.clone());
                        }
                    }
                }
            }
            ListType::Atomic => *live = Value::Array(aa.clone()),
        },
        (live, applied) => *live = applied.clone(),
    }
}

/// Keeps only the part of an applied configuration a write may touch.
fn restrict(applied: &Value, part: Part) -> Value {
    let Value::Object(m) = applied else {
        return applied.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        match (part, k.as_str()) {
            (Part::Main, "status") => {}
            (Part::Status, "status") => {
                out.insert(k.clone(), v.clone());
            }
            (Part::Status, _) => {}
            (_, "metadata") => {
                if let Value::Object(meta) = v {
                    let kept: Map<String, Value> = meta
                        .iter()
                        .filter(|(mk, _)| !META_SKIP.contains(&mk.as_str()))
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect();
                    out.insert(k.clone(), Value::Object(kept));
                }
            }
            (_, "apiVersion" | "kind") => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// A server-side apply request.
pub struct ApplyRequest<'a> {
    /// The applied configuration.
    pub applied: &'a Value,
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force=true`.
    pub force: bool,
    /// The resource's description.
    pub info: &'a ResourceInfo,
    /// Which part is applied.
    pub part: Part,
    /// apiVersion used by the request.
    pub api_version: &'a str,
    /// Current time (RFC 3339).
    pub now: &'a str,
}

/// Applies a configuration to a live object (`live` is the empty object skeleton on create);
/// returns the new object with its `managedFields` updated.
/// After `path` was removed, removes the maps above it that it leaves empty and that the applied
/// configuration does not name itself, as an API server does (`a: {b: {c: 1}}` whose `c` is no
/// longer applied leaves no `a: {b: {}}` behind). Top-level fields (`spec`, `metadata`) stay.
fn prune_empty_parents(obj: &mut Value, path: &[Seg], applied: &Value) {
    for depth in (2..path.len()).rev() {
        let parent = &path[..depth];
        if !matches!(parent.last(), Some(Seg::F(_))) {
            return;
        }
        let empty =
            get_path(obj, parent).is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()));
        if !empty || get_path(applied, parent).is_some() {
            return;
        }
        remove_path(obj, parent);
    }
}

pub fn apply(live: &Value, req: &ApplyRequest<'_>) -> Result<Value, ApplyError> {
    if !req.applied.is_object() {
        return Err(ApplyError::NotAnObject);
    }
    let mut managers = read_managers(live);
    let new_set = fields_of(req.applied, req.info, req.part);
    let sub = req.part.subresource();
    let me = managers
        .iter()
        .position(|m| m.manager == req.manager && m.operation == "Apply" && m.subresource == sub);
    let old_set = me.map(|i| managers[i].fields.clone()).unwrap_or_default();

    let mut conflicts = Vec::new();
    for (i, other) in managers.iter().enumerate() {
        if Some(i) == me {
            continue;
        }
        for path in new_set.intersection(&other.fields) {
            if matches!(path.last(), Some(Seg::K(_) | Seg::V(_))) {
                continue;
            }
            if get_path(live, path) != get_path(req.applied, path) {
                conflicts.push((i, path.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            return Err(ApplyError::Conflict(
                conflicts
                    .iter()
                    .map(|(i, p)| (managers[*i].manager.clone(), path_string(p)))
                    .collect(),
            ));
        }
        for (i, p) in &conflicts {
            managers[*i].fields.remove(p);
        }
    }

    let mut out = live.clone();
    merge_applied(&mut out, &restrict(req.applied, req.part), "", req.info);

    for path in old_set.difference(&new_set) {
        let shared = managers.iter().enumerate().any(|(i, m)| {
            Some(i) != me
                && m.fields
                    .range(path.clone()..)
                    .next()
                    .is_some_and(|p| p.starts_with(path))
        });
        if !shared {
            remove_path(&mut out, path);
            prune_empty_parents(&mut out, path, req.applied);
        }
    }

    let entry = Manager {
        manager: req.manager.to_string(),
        operation: "Apply".into(),
        api_version: req.api_version.to_string(),
        time: req.now.to_string(),
        subresource: sub.to_string(),
        fields: new_set,
    };
    match me {
        Some(i) => managers[i] = entry,
        None => managers.push(entry),
    }
    write_managers(&mut out, &managers);
    Ok(out)
}

/// Records an ordinary (non-apply) write: the fields it changed become owned by `manager`
/// (operation Update) and are taken from every other manager; fields it removed are dropped.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    info: &ResourceInfo,
    part: Part,
    api_version: &str,
    now: &str,
) {
    let mut managers = old.map(read_managers).unwrap_or_default();
    let new_fields = fields_of(new, info, part);
    let old_fields = old.map(|o| fields_of(o, info, part)).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| match old {
            None => true,
            Some(o) => get_path(o, p) != get_path(new, p) || !old_fields.contains(*p),
        })
        .cloned()
        .collect();
    let removed: Vec<&Vec<Seg>> = old_fields.difference(&new_fields).collect();
    if changed.is_empty() && removed.is_empty() {
        write_managers(new, &managers);
        return;
    }
    for m in &mut managers {
        for p in &changed {
            if !matches!(p.last(), Some(Seg::K(_) | Seg::V(_))) {
                m.fields.remove(p);
            }
        }
        for p in &removed {
            m.fields.remove(*p);
        }
    }
    let sub = part.subresource();
    match managers
        .iter_mut()
        .find(|m| m.manager == manager && m.operation == "Update" && m.subresource == sub)
    {
        Some(m) => {
            m.fields.extend(changed);
            m.time = now.to_string();
            m.api_version = api_version.to_string();
        }
        None => managers.push(Manager {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: sub.to_string(),
            fields: changed,
        }),
    }
    write_managers(new, &managers);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::registry::builtins;

    fn info(kind: &str) -> ResourceInfo {
        builtins().into_iter().find(|r| r.kind == kind).unwrap()
    }

    fn req<'a>(
        applied: &'a Value,
        manager: &'a str,
        force: bool,
        info: &'a ResourceInfo,
    ) -> ApplyRequest<'a> {
        ApplyRequest {
            applied,
            manager,
            force,
            info,
            part: Part::Main,
            api_version: "apps/v1",
            now: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn a_field_no_longer_applied_takes_its_emptied_parents_with_it() {
        let i = info("Service");
        let first = json!({"metadata": {"name": "web"}, "spec": {"sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 30}}}});
        let skeleton = json!({"metadata": {}});
        let live = apply(&skeleton, &req(&first, "m", false, &i)).unwrap();
        let second = json!({"metadata": {"name": "web"}, "spec": {"sessionAffinity": "None"}});
        let out = apply(&live, &req(&second, "m", false, &i)).unwrap();
        assert_eq!(out["spec"]["sessionAffinity"], json!("None"));
        assert!(out["spec"].get("sessionAffinityConfig").is_none(), "{out}");
        // A parent the configuration still names (even empty) stays.
        let third = json!({"metadata": {"name": "web"}, "spec": {"sessionAffinityConfig": {}}});
        let live = apply(&skeleton, &req(&first, "n", false, &i)).unwrap();
        let out = apply(&live, &req(&third, "n", false, &i)).unwrap();
        assert_eq!(out["spec"]["sessionAffinityConfig"], json!({}), "{out}");
    }

    #[test]
    fn fields_v1_round_trip() {
        let i = info("Deployment");
        let obj = json!({"metadata": {"labels": {"a": "b"}, "finalizers": ["x"]},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let set = fields_of(&obj, &i, Part::Main);
        let enc = to_fields_v1(&set);
        assert_eq!(
            enc["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["."],
            json!({})
        );
        assert_eq!(from_fields_v1(&enc), set);
    }

    #[test]
    fn conflicts_and_force() {
        let i = info("Deployment");
        let a = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}});
        let live = apply(
            &json!({"metadata": {"name": "d"}}),
            &req(&a, "one", false, &i),
        )
        .unwrap();
        let b = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2}});
        match apply(&live, &req(&b, "two", false, &i)) {
            Err(ApplyError::Conflict(c)) => {
                assert_eq!(c, vec![("one".to_string(), ".spec.replicas".to_string())])
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let same = json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}});
        assert!(apply(&live, &req(&same, "two", false, &i)).is_ok());
        let forced = apply(&live, &req(&b, "two", true, &i)).unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        let mgrs = read_managers(&forced);
        assert_eq!(mgrs.len(), 1);
        assert_eq!(mgrs[0].manager, "two");
    }

    #[test]
    fn dropped_fields_are_removed_unless_shared() {
        let i = info("Deployment");
        let a = json!({"metadata": {"name": "d", "labels": {"x": "1", "y": "2"}}});
        let live = apply(
            &json!({"metadata": {"name": "d"}}),
            &req(&a, "one", false, &i),
        )
        .unwrap();
        let b = json!({"metadata": {"name": "d", "labels": {"y": "2"}}});
        let live = apply(&live, &req(&b, "two", false, &i)).unwrap();
        let a2 = json!({"metadata": {"name": "d", "labels": {}}});
        let live = apply(&live, &req(&a2, "one", false, &i)).unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"y": "2"}));
    }
}
