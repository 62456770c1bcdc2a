//! Dependencies of a workload: the ConfigMaps, Secrets, ServiceAccount and
//! PersistentVolumeClaims its pod template references (Karmada's `propagateDeps` for the
//! default interpreter's kinds).

use std::collections::BTreeSet;

use serde_json::Value;

use super::ObjKey;

/// The pod spec of a workload template, when the kind has one.
fn pod_spec<'a>(api_version: &str, kind: &str, obj: &'a Value) -> Option<&'a Value> {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let path = match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            "/spec/template/spec"
        }
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template/spec",
        ("", "Pod") => "/spec",
        _ => return None,
    };
    obj.pointer(path).filter(|v| v.is_object())
}

fn key(kind: &str, namespace: &str, name: &str) -> ObjKey {
    ObjKey {
        api_version: "v1".to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|f| spec.get(f).and_then(Value::as_array))
        .flatten()
}

/// The objects `template` (in `namespace`) depends on, as keys of core `v1` objects in the
/// same namespace. Objects that are not workloads have none; the `default` ServiceAccount is
/// left out (every namespace has its own).
pub fn references(
    api_version: &str,
    kind: &str,
    namespace: &str,
    template: &Value,
) -> BTreeSet<ObjKey> {
    let mut out = BTreeSet::new();
    let Some(spec) = pod_spec(api_version, kind, template) else {
        return out;
    };
    let mut add = |k: &str, name: Option<&str>| {
        if let Some(n) = name {
            out.insert(key(k, namespace, n));
        }
    };
    if let Some(sa) =
        str_at(spec, "/serviceAccountName").or_else(|| str_at(spec, "/serviceAccount"))
        && sa != "default"
    {
        add("ServiceAccount", Some(sa));
    }
    for s in spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add("Secret", str_at(s, "/name"));
    }
    for vol in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add("ConfigMap", str_at(vol, "/configMap/name"));
        add("Secret", str_at(vol, "/secret/secretName"));
        add(
            "PersistentVolumeClaim",
            str_at(vol, "/persistentVolumeClaim/claimName"),
        );
        for src in vol
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("ConfigMap", str_at(src, "/configMap/name"));
            add("Secret", str_at(src, "/secret/name"));
        }
    }
    for c in containers(spec) {
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            add("ConfigMap", str_at(e, "/valueFrom/configMapKeyRef/name"));
            add("Secret", str_at(e, "/valueFrom/secretKeyRef/name"));
        }
        for e in c
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("ConfigMap", str_at(e, "/configMapRef/name"));
            add("Secret", str_at(e, "/secretRef/name"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(set: &BTreeSet<ObjKey>) -> Vec<String> {
        set.iter()
            .map(|k| format!("{} {}/{}", k.kind, k.namespace, k.name))
            .collect()
    }

    #[test]
    fn pod_template_references_are_collected() {
        let d = json!({"spec": {"template": {"spec": {
            "serviceAccountName": "web-sa",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "configMap": {"name": "cfg"}},
                {"name": "b", "secret": {"secretName": "tls"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "d", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-s"}}]}}
            ],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{"name": "c", "env": [
                {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "env-s", "key": "k"}}},
                {"name": "Z", "value": "plain"}
            ], "envFrom": [{"configMapRef": {"name": "envfrom-cm"}}]}]
        }}}});
        let refs = references("apps/v1", "Deployment", "shop", &d);
        assert_eq!(
            names(&refs),
            vec![
                "ConfigMap shop/cfg",
                "ConfigMap shop/env-cm",
                "ConfigMap shop/envfrom-cm",
                "ConfigMap shop/proj-cm",
                "PersistentVolumeClaim shop/data",
                "Secret shop/env-s",
                "Secret shop/init-env",
                "Secret shop/proj-s",
                "Secret shop/pull",
                "Secret shop/tls",
                "ServiceAccount shop/web-sa",
            ]
        );
    }

    #[test]
    fn default_service_account_and_non_workloads_have_no_dependencies() {
        let d = json!({"spec": {"template": {"spec": {"serviceAccountName": "default", "containers": []}}}});
        assert!(references("apps/v1", "Deployment", "ns", &d).is_empty());
        let svc = json!({"spec": {"template": {"spec": {"serviceAccountName": "x"}}}});
        assert!(references("v1", "Service", "ns", &svc).is_empty());
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"configMap": {"name": "c"}}]}}}}}});
        assert_eq!(
            names(&references("batch/v1", "CronJob", "ns", &cron)),
            vec!["ConfigMap ns/c"]
        );
    }
}
