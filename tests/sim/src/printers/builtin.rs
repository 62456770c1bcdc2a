//! Which built-in kinds have a printer, and the printers of the small ones: Namespace,
//! Secret, ConfigMap, ServiceAccount, Lease, RoleBinding and ClusterRoleBinding
//! (`printNamespace`, `printSecret`, `printConfigMap`, `printServiceAccount`, `printLease`,
//! `printRoleBinding`, `printClusterRoleBinding` in `pkg/printers/internalversion/printers.go`).
//! The API server prints with `Wide: true` (`pkg/printers/storage`), so rows carry the cells
//! of the priority-1 columns too; kubectl hides them without `-o wide`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::column::{AGE, Column, Row, RowFn};
use super::fields::{age, count, list, object_name, text};
use super::{event, network, pod, workload};

/// The columns and row function of a built-in kind, `None` for kinds the API server prints
/// with the default columns (Role, ClusterRole, CustomResourceDefinition).
pub(super) fn builtin_printer(group: &str, kind: &str) -> Option<(&'static [Column], RowFn)> {
    Some(match (group, kind) {
        ("", "Namespace") => (NAMESPACE, namespace),
        ("", "Secret") => (SECRET, secret),
        ("", "ConfigMap") => (CONFIG_MAP, config_map),
        ("", "ServiceAccount") => (SERVICE_ACCOUNT, service_account),
        ("coordination.k8s.io", "Lease") => (LEASE, lease),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            (ROLE_BINDING, role_binding)
        }
        ("", "Service") => (network::SERVICE, network::service),
        ("", "Endpoints") => (network::ENDPOINTS, network::endpoints),
        ("discovery.k8s.io", "EndpointSlice") => (network::ENDPOINT_SLICE, network::endpoint_slice),
        ("", "Event") => (event::EVENT, event::core_event),
        ("events.k8s.io", "Event") => (event::EVENT, event::events_v1_event),
        ("", "Pod") => (pod::POD, pod::pod),
        ("", "Node") => (pod::NODE, pod::node),
        ("apps", "Deployment") => (workload::DEPLOYMENT, workload::deployment),
        ("apps", "StatefulSet") => (workload::STATEFUL_SET, workload::stateful_set),
        ("apps", "DaemonSet") => (workload::DAEMON_SET, workload::daemon_set),
        ("apps", "ReplicaSet") => (workload::REPLICA_SET, workload::replica_set),
        ("policy", "PodDisruptionBudget") => (workload::PDB, workload::pdb),
        _ => return None,
    })
}

const NAMESPACE: &[Column] = &[
    Column::name(),
    Column::new("Status", "string", 0, "The status of the namespace"),
    AGE,
];

fn namespace(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(text(obj, "/status/phase")),
        json!(age(obj, now)),
    ])
}

const SECRET: &[Column] = &[
    Column::name(),
    Column::new(
        "Type",
        "string",
        0,
        "Used to facilitate programmatic handling of secret data.",
    ),
    Column::new("Data", "string", 0, "Number of data entries."),
    AGE,
];

fn secret(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(text(obj, "/type")),
        json!(count(obj, "/data")),
        json!(age(obj, now)),
    ])
}

const CONFIG_MAP: &[Column] = &[
    Column::name(),
    Column::new(
        "Data",
        "string",
        0,
        "Number of data and binaryData entries.",
    ),
    AGE,
];

fn config_map(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(count(obj, "/data") + count(obj, "/binaryData")),
        json!(age(obj, now)),
    ])
}

const SERVICE_ACCOUNT: &[Column] = &[
    Column::name(),
    Column::new(
        "Secrets",
        "string",
        0,
        "Number of secrets the service account lists.",
    ),
    AGE,
];

fn service_account(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(count(obj, "/secrets")),
        json!(age(obj, now)),
    ])
}

const LEASE: &[Column] = &[
    Column::name(),
    Column::new(
        "Holder",
        "string",
        0,
        "Identity of the holder of the lease.",
    ),
    AGE,
];

fn lease(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(object_name(obj)),
        json!(text(obj, "/spec/holderIdentity")),
        json!(age(obj, now)),
    ])
}

const ROLE_BINDING: &[Column] = &[
    Column::name(),
    Column::new("Role", "string", 0, "The role the binding grants."),
    AGE,
    Column::new("Users", "string", 1, "Users in the binding"),
    Column::new("Groups", "string", 1, "Groups in the binding"),
    Column::new(
        "ServiceAccounts",
        "string",
        1,
        "ServiceAccounts in the binding",
    ),
];

fn role_binding(obj: &Value, now: Timestamp) -> Row {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in list(obj, "/subjects") {
        let name = text(s, "/name");
        match text(s, "/kind") {
            "ServiceAccount" => sas.push(format!("{}/{name}", text(s, "/namespace"))),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    Row::new(vec![
        json!(object_name(obj)),
        json!(format!(
            "{}/{}",
            text(obj, "/roleRef/kind"),
            text(obj, "/roleRef/name")
        )),
        json!(age(obj, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn names(cols: &[Column]) -> Vec<String> {
        cols.iter().map(|c| c.name.to_string()).collect()
    }

    #[test]
    fn every_printer_has_one_cell_per_column() {
        let kinds = [
            ("", "Namespace"),
            ("", "Secret"),
            ("", "ConfigMap"),
            ("", "ServiceAccount"),
            ("coordination.k8s.io", "Lease"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("", "Service"),
            ("", "Endpoints"),
            ("discovery.k8s.io", "EndpointSlice"),
            ("", "Event"),
            ("events.k8s.io", "Event"),
            ("", "Pod"),
            ("", "Node"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("policy", "PodDisruptionBudget"),
        ];
        for (group, kind) in kinds {
            let (cols, row) = builtin_printer(group, kind).unwrap();
            // An empty object and a minimal one both fill every column.
            for obj in [json!({}), json!({"metadata": {"name": "x"}})] {
                assert_eq!(row(&obj, now()).cells.len(), cols.len(), "{group}/{kind}");
            }
            assert!(
                cols.iter()
                    .any(|c| c.format == "name" && c.column_type == "string"),
                "{kind}"
            );
        }
        assert!(builtin_printer("rbac.authorization.k8s.io", "Role").is_none());
        assert!(builtin_printer("apiextensions.k8s.io", "CustomResourceDefinition").is_none());
    }

    #[test]
    fn namespace_secret_configmap_serviceaccount_lease() {
        let ns = json!({"metadata": {"name": "shop", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "status": {"phase": "Active"}});
        assert_eq!(names(NAMESPACE), ["Name", "Status", "Age"]);
        assert_eq!(
            namespace(&ns, now()).cells,
            vec![json!("shop"), json!("Active"), json!("60m")]
        );

        let s = json!({"metadata": {"name": "tok"}, "type": "kubernetes.io/service-account-token",
            "data": {"token": "eA==", "ca.crt": "eA==", "namespace": "eA=="}});
        assert_eq!(names(SECRET), ["Name", "Type", "Data", "Age"]);
        assert_eq!(
            secret(&s, now()).cells,
            vec![
                json!("tok"),
                json!("kubernetes.io/service-account-token"),
                json!(3),
                json!("<unknown>")
            ]
        );

        let cm =
            json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}});
        assert_eq!(config_map(&cm, now()).cells[1], json!(2));

        let sa = json!({"metadata": {"name": "sa"}, "secrets": [{"name": "a"}]});
        assert_eq!(names(SERVICE_ACCOUNT), ["Name", "Secrets", "Age"]);
        assert_eq!(service_account(&sa, now()).cells[1], json!(1));

        let l = json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-1"}});
        assert_eq!(names(LEASE), ["Name", "Holder", "Age"]);
        assert_eq!(lease(&l, now()).cells[1], json!("pod-1"));
        assert_eq!(lease(&json!({}), now()).cells[1], json!(""));
    }

    #[test]
    fn role_binding_lists_subjects_by_kind() {
        let rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "Group", "name": "devs"},
                {"kind": "ServiceAccount", "name": "reader", "namespace": "istio-system"},
                {"kind": "User", "name": "bob"}]});
        assert_eq!(
            names(ROLE_BINDING),
            ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
        );
        assert_eq!(
            ROLE_BINDING.iter().map(|c| c.priority).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 1]
        );
        assert_eq!(
            role_binding(&rb, now()).cells,
            vec![
                json!("rb"),
                json!("ClusterRole/view"),
                json!("<unknown>"),
                json!("alice, bob"),
                json!("devs"),
                json!("istio-system/reader")
            ]
        );
    }
}
