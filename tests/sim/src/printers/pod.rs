//! The printers of Pods and Nodes (`printPod` and `printNode` in
//! `pkg/printers/internalversion/printers.go`): a pod's READY count, its STATUS reason from
//! the phase, init containers and container states, RESTARTS with the time of the last one;
//! a node's STATUS from its `Ready` condition and ROLES from its labels.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::column::{AGE, Column, Row};
use super::fields::{age, list, object_name, text};
use super::format::{since, timestamp};

pub(super) const POD: &[Column] = &[
    Column::name(),
    Column::new(
        "Ready",
        "string",
        0,
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::new(
        "Status",
        "string",
        0,
        "The aggregate status of the containers in this pod.",
    ),
    Column::new(
        "Restarts",
        "string",
        0,
        "Container restarts, and how long ago the last one was.",
    ),
    AGE,
    Column::new("IP", "string", 1, "The IP address of the pod."),
    Column::new("Node", "string", 1, "The node the pod runs on."),
    Column::new(
        "Nominated Node",
        "string",
        1,
        "The node the scheduler nominated for the pod.",
    ),
    Column::new(
        "Readiness Gates",
        "string",
        1,
        "Readiness gates that are true.",
    ),
];

/// Whether a condition of this type has status `True`.
fn condition_true(obj: &Value, pointer: &str, ctype: &str) -> bool {
    list(obj, pointer)
        .iter()
        .any(|c| text(c, "/type") == ctype && text(c, "/status") == "True")
}

/// Restart bookkeeping: the count and the latest termination of a previous run.
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<Timestamp>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if status.pointer("/lastState/terminated").is_some() {
            let finished = timestamp(status.pointer("/lastState/terminated/finishedAt"));
            if finished > self.last {
                self.last = finished;
            }
        }
    }
}

/// `Init:Signal:9`, `Init:ExitCode:1` or `Init:<reason>` of a terminated init container (and
/// the same without `Init:` for a container).
fn terminated_reason(terminated: &Value, prefix: &str) -> String {
    let reason = text(terminated, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = terminated
        .get("signal")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        let code = terminated
            .get("exitCode")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        format!("{prefix}ExitCode:{code}")
    }
}

pub(super) fn pod(obj: &Value, now: Timestamp) -> Row {
    let phase = text(obj, "/status/phase");
    let mut reason = match text(obj, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if list(obj, "/status/conditions")
        .iter()
        .any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let conditions = match phase {
        "Succeeded" => vec![
            json!({"type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."}),
        ],
        "Failed" => vec![
            json!({"type": "Completed", "status": "True", "reason": "Failed",
            "message": "The pod failed."}),
        ],
        _ => Vec::new(),
    };
    let init_specs = list(obj, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| text(c, "/name") == name && text(c, "/restartPolicy") == "Always")
    };
    let total = list(obj, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| text(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0;
    let mut all = Restarts::default();
    let mut sidecars = Restarts::default();
    let mut initializing = false;
    for (i, cs) in list(obj, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        all.add(cs);
        let sidecar = restartable(text(cs, "/name"));
        if sidecar {
            sidecars.add(cs);
        }
        let terminated = cs.pointer("/state/terminated");
        let waiting_reason = text(cs, "/state/waiting/reason");
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64).unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            terminated_reason(t, "Init:")
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }
    let mut restarts = all;
    if !initializing || condition_true(obj, "/status/conditions", "Initialized") {
        restarts = sidecars;
        let mut has_running = false;
        for cs in list(obj, "/status/containerStatuses").iter().rev() {
            restarts.add(cs);
            let waiting_reason = text(cs, "/state/waiting/reason");
            let terminated = cs.pointer("/state/terminated");
            if cs.pointer("/state/waiting").is_some() && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true)
                && cs.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(obj, "/status/conditions", "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
    if deleting && text(obj, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".into();
    }
    let restarts_text = match restarts.last {
        Some(t) if restarts.count != 0 => {
            format!("{} ({} ago)", restarts.count, since(Some(t), now))
        }
        _ => restarts.count.to_string(),
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates = list(obj, "/spec/readinessGates");
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                let ctype = text(g, "/conditionType");
                list(obj, "/status/conditions")
                    .iter()
                    .find(|c| text(c, "/type") == ctype)
                    .is_some_and(|c| text(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    let pod_ip = list(obj, "/status/podIPs")
        .first()
        .map(|p| text(p, "/ip"))
        .unwrap_or_default();
    Row {
        cells: vec![
            json!(object_name(obj)),
            json!(format!("{ready}/{total}")),
            json!(reason),
            json!(restarts_text),
            json!(age(obj, now)),
            json!(or_none(pod_ip)),
            json!(or_none(text(obj, "/spec/nodeName"))),
            json!(or_none(text(obj, "/status/nominatedNodeName"))),
            json!(readiness),
        ],
        conditions,
    }
}

pub(super) const NODE: &[Column] = &[
    Column::name(),
    Column::new("Status", "string", 0, "The status of the node"),
    Column::new("Roles", "string", 0, "The roles of the node"),
    AGE,
    Column::new(
        "Version",
        "string",
        0,
        "Kubelet version reported by the node.",
    ),
    Column::new("Internal-IP", "string", 1, "The node's internal address."),
    Column::new("External-IP", "string", 1, "The node's external address."),
    Column::new("OS-Image", "string", 1, "OS image reported by the node."),
    Column::new(
        "Kernel-Version",
        "string",
        1,
        "Kernel version reported by the node.",
    ),
    Column::new(
        "Container-Runtime",
        "string",
        1,
        "Container runtime version reported by the node.",
    ),
];

pub(super) fn node(obj: &Value, now: Timestamp) -> Row {
    let mut status: Vec<&str> = match list(obj, "/status/conditions")
        .iter()
        .rev()
        .find(|c| text(c, "/type") == "Ready")
    {
        Some(c) if text(c, "/status") == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" {
            let v = v.as_str().unwrap_or_default();
            if !v.is_empty() {
                roles.insert(v.to_string());
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |atype: &str| {
        list(obj, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == atype)
            .map_or_else(|| "<none>".to_string(), |a| text(a, "/address").to_string())
    };
    let info = |field: &str| match text(obj, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    Row::new(vec![
        json!(object_name(obj)),
        json!(status.join(",")),
        json!(roles),
        json!(age(obj, now)),
        json!(text(obj, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn running(name: &str, restarts: i64) -> Value {
        json!({"name": name, "ready": true, "restartCount": restarts,
            "state": {"running": {"startedAt": "2024-05-01T11:00:00Z"}}})
    }

    #[test]
    fn running_pod() {
        let p = json!({"metadata": {"name": "web-0", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [running("a", 0), {"name": "b", "ready": false, "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:59:00Z"}}}]}});
        let row = pod(&p, now());
        assert_eq!(
            row.cells,
            vec![
                json!("web-0"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("2 (60s ago)"),
                json!("120m"),
                json!("10.1.0.7"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>"),
            ]
        );
        assert!(row.conditions.is_empty());
    }

    #[test]
    fn pod_reasons() {
        let init = json!({"metadata": {"name": "p"},
            "spec": {"initContainers": [{"name": "setup"}, {"name": "more"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "setup", "state": {"terminated": {"exitCode": 0}}},
                {"name": "more", "state": {"running": {}}}]}});
        assert_eq!(pod(&init, now()).cells[2], json!("Init:1/2"));
        let failed_init = json!({"spec": {"initContainers": [{"name": "setup"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "setup", "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod(&failed_init, now()).cells[2], json!("Init:ExitCode:3"));
        let done = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded",
            "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        let row = pod(&done, now());
        assert_eq!(row.cells[1..3], [json!("0/1"), json!("Completed")]);
        assert_eq!(row.conditions[0]["reason"], "Succeeded");
        let sidecar = json!({"spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "a"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                    "state": {"running": {}}}],
                "containerStatuses": [running("a", 0)]}});
        assert_eq!(
            pod(&sidecar, now()).cells[1..4],
            [json!("2/2"), json!("Running"), json!("1")]
        );
        let deleting = json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"},
            "status": {"phase": "Running"}});
        assert_eq!(pod(&deleting, now()).cells[2], json!("Terminating"));
        let gated = json!({"status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]},
            "spec": {"readinessGates": [{"conditionType": "x/ready"}]}});
        let row = pod(&gated, now());
        assert_eq!(row.cells[2], json!("SchedulingGated"));
        assert_eq!(row.cells[8], json!("0/1"));
    }

    #[test]
    fn node_status_roles_and_addresses() {
        let n = json!({"metadata": {"name": "n1", "labels": {
                "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"}}});
        assert_eq!(
            node(&n, now()).cells,
            vec![
                json!("n1"),
                json!("NotReady,SchedulingDisabled"),
                json!("control-plane,edge"),
                json!("<unknown>"),
                json!("v1.33.0"),
                json!("192.168.1.2"),
                json!("<none>"),
                json!("Debian"),
                json!("<unknown>"),
                json!("<unknown>"),
            ]
        );
        assert_eq!(
            node(&json!({}), now()).cells[1..3],
            [json!("Unknown"), json!("<none>")]
        );
    }
}
