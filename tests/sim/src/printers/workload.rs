//! The printers of the apps/v1 workloads and PodDisruptionBudgets (`printDeployment`,
//! `printStatefulSet`, `printDaemonSet`, `printReplicaSet`, `printPodDisruptionBudget` and
//! `layoutContainerCells` in `pkg/printers/internalversion/printers.go`).
//!
//! A real API server defaults `spec.replicas` to 1; the simulator does not, so a missing
//! count prints as 1.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::column::{AGE, Column, Row};
use super::fields::{age, int, list, object_name, text};
use super::format::{format_label_selector, format_labels, selector_string};

const CONTAINERS: Column = Column::new(
    "Containers",
    "string",
    1,
    "Names of each container in the template.",
);
const IMAGES: Column = Column::new(
    "Images",
    "string",
    1,
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = Column::new("Selector", "string", 1, "The pods the workload selects.");

/// The container names and images of a pod template, comma-separated.
fn containers(obj: &Value) -> (String, String) {
    let cs = list(obj, "/spec/template/spec/containers");
    let names: Vec<&str> = cs.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `spec.replicas`, 1 when missing (the API server's default).
fn desired(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

pub(super) const DEPLOYMENT: &[Column] = &[
    Column::name(),
    Column::new("Ready", "string", 0, "Number of the pod with ready state"),
    Column::new(
        "Up-to-date",
        "string",
        0,
        "Pods updated to the latest template.",
    ),
    Column::new("Available", "string", 0, "Pods available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn deployment(obj: &Value, now: Timestamp) -> Row {
    let (names, images) = containers(obj);
    let selector =
        selector_string(obj.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    Row::new(vec![
        json!(object_name(obj)),
        json!(format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired(obj)
        )),
        json!(int(obj, "/status/updatedReplicas")),
        json!(int(obj, "/status/availableReplicas")),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(selector),
    ])
}

pub(super) const STATEFUL_SET: &[Column] = &[
    Column::name(),
    Column::new("Ready", "string", 0, "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

pub(super) fn stateful_set(obj: &Value, now: Timestamp) -> Row {
    let (names, images) = containers(obj);
    Row::new(vec![
        json!(object_name(obj)),
        json!(format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired(obj)
        )),
        json!(age(obj, now)),
        json!(names),
        json!(images),
    ])
}

pub(super) const DAEMON_SET: &[Column] = &[
    Column::name(),
    Column::new(
        "Desired",
        "integer",
        0,
        "Nodes that should run the daemon pod.",
    ),
    Column::new(
        "Current",
        "integer",
        0,
        "Nodes running at least one daemon pod.",
    ),
    Column::new("Ready", "integer", 0, "Nodes with a ready daemon pod."),
    Column::new(
        "Up-to-date",
        "integer",
        0,
        "Nodes running the updated daemon pod.",
    ),
    Column::new(
        "Available",
        "integer",
        0,
        "Nodes with an available daemon pod.",
    ),
    Column::new(
        "Node Selector",
        "string",
        0,
        "The nodes the daemon pods run on.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn daemon_set(obj: &Value, now: Timestamp) -> Row {
    let (names, images) = containers(obj);
    Row::new(vec![
        json!(object_name(obj)),
        json!(int(obj, "/status/desiredNumberScheduled")),
        json!(int(obj, "/status/currentNumberScheduled")),
        json!(int(obj, "/status/numberReady")),
        json!(int(obj, "/status/updatedNumberScheduled")),
        json!(int(obj, "/status/numberAvailable")),
        json!(format_labels(
            obj.pointer("/spec/template/spec/nodeSelector")
        )),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ])
}

pub(super) const REPLICA_SET: &[Column] = &[
    Column::name(),
    Column::new("Desired", "integer", 0, "Pods the replica set should run."),
    Column::new("Current", "integer", 0, "Pods the replica set runs."),
    Column::new("Ready", "integer", 0, "Ready pods of the replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub(super) fn replica_set(obj: &Value, now: Timestamp) -> Row {
    let (names, images) = containers(obj);
    Row::new(vec![
        json!(object_name(obj)),
        json!(desired(obj)),
        json!(int(obj, "/status/replicas")),
        json!(int(obj, "/status/readyReplicas")),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ])
}

pub(super) const PDB: &[Column] = &[
    Column::name(),
    Column::new(
        "Min Available",
        "string",
        0,
        "The minimum number of pods that must be available.",
    ),
    Column::new(
        "Max Unavailable",
        "string",
        0,
        "The maximum number of pods that may be unavailable.",
    ),
    Column::new(
        "Allowed Disruptions",
        "integer",
        0,
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

/// An int-or-string field as text, `N/A` when missing.
fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".into(),
    }
}

pub(super) fn pdb(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(int_or_string(obj.pointer("/spec/minAvailable"))),
        json!(int_or_string(obj.pointer("/spec/maxUnavailable"))),
        json!(int(obj, "/status/disruptionsAllowed")),
        json!(age(obj, now)),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn template() -> Value {
        json!({"spec": {"containers": [{"name": "main", "image": "nginx:1"},
            {"name": "proxy", "image": "envoy:1"}]}})
    }

    #[test]
    fn deployment_ready_of_desired() {
        let names: Vec<String> = DEPLOYMENT.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3, "template": template(),
            "selector": {"matchLabels": {"app": "web"}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            deployment(&d, now()).cells,
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("<unknown>"),
                json!("main,proxy"),
                json!("nginx:1,envoy:1"),
                json!("app=web"),
            ]
        );
        let bare = deployment(&json!({"metadata": {"name": "x"}}), now()).cells;
        assert_eq!(bare[1], json!("0/1"), "replicas default to 1");
        assert_eq!(bare[7], json!(""));
    }

    #[test]
    fn stateful_daemon_and_replica_sets() {
        let ss = json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "template": template()},
            "status": {"readyReplicas": 1}});
        assert_eq!(stateful_set(&ss, now()).cells[1], json!("1/2"));
        let ds = json!({"metadata": {"name": "agent"}, "spec": {"template": {"spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"}, "containers": []}}}, "status": {
            "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(
            daemon_set(&ds, now()).cells,
            vec![
                json!("agent"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("<unknown>"),
                json!(""),
                json!(""),
                json!("<none>"),
            ]
        );
        let rs = json!({"metadata": {"name": "web-5d4"}, "spec": {"replicas": 2, "template": template(),
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4"}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            replica_set(&rs, now()).cells[1..4],
            [json!(2), json!(2), json!(1)]
        );
        assert_eq!(
            replica_set(&rs, now()).cells[7],
            json!("app=web,pod-template-hash=5d4")
        );
    }

    #[test]
    fn pdb_int_or_string() {
        let p = json!({"metadata": {"name": "pdb"}, "spec": {"minAvailable": "50%"},
            "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            pdb(&p, now()).cells[..4],
            [json!("pdb"), json!("50%"), json!("N/A"), json!(1)]
        );
        let q = json!({"spec": {"maxUnavailable": 1}});
        assert_eq!(pdb(&q, now()).cells[1..3], [json!("N/A"), json!("1")]);
    }
}
