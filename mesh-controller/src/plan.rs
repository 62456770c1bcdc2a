//! The plan of a pass: what the pure reconcile wants written to each member cluster.
//!
//! The reconcile produces a [`Plan`]; the runtime hands each member's [`ClusterPlan`] to its
//! applier and to the discovery publisher. Nothing here touches a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::model::{DesiredObject, IstiodRestart};

/// The desired state of one member.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterPlan {
    /// Objects to server-side apply as plain JSON (each with `apiVersion`, `kind`, metadata
    /// and the ownership label), besides `shared`. The reconcile leaves it empty; see
    /// [`ClusterPlan::json_objects`] for a member's whole desired state as JSON.
    pub objects: Vec<Value>,
    /// Objects to server-side apply, built once and shared with the other members that get
    /// the same object (the reconcile's output).
    pub shared: Vec<Arc<DesiredObject>>,
    /// Statuses to write (ServiceExport status).
    pub statuses: Vec<StatusWrite>,
    /// Events to record (recorded once per object until the reason changes).
    pub events: Vec<EventWrite>,
    /// Namespaces created or deleted since the last pass: what was written in them may be gone
    /// (deleting a namespace deletes its objects), so they are written again even when
    /// unchanged.
    pub rewrite_namespaces: BTreeSet<String>,
    /// Whether the member's istiod is known to publish a root other than the clusterset root
    /// (`None`: the controller does not run the clusterset CA).
    pub foreign_root: Option<bool>,
    /// The member's istiod Deployments to restart (their pod template annotated with the
    /// clusterset root's fingerprint); never owned, never pruned.
    pub restart_istiod: Option<IstiodRestart>,
}

impl ClusterPlan {
    /// Every desired object of the member as complete JSON (`shared` and `objects`), for
    /// consumers that read objects rather than write them.
    pub fn json_objects(&self) -> Vec<Value> {
        self.shared
            .iter()
            .map(|o| o.to_value())
            .chain(self.objects.iter().cloned())
            .collect()
    }
}

/// The outcome of one reconcile of the whole clusterset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Desired state per member.
    pub clusters: BTreeMap<String, ClusterPlan>,
    /// ServiceExports seen.
    pub exports: usize,
    /// ServiceImports desired (all members).
    pub imports: usize,
    /// Exports in conflict.
    pub conflicts: usize,
}

/// A status to write through the status subresource (ServiceExport status).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusWrite {
    /// `group/version` of the object.
    pub api_version: String,
    /// Kind of the object.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The whole `status` value.
    pub status: Value,
}

/// A Kubernetes Event to record on an object (a ServiceExport entering or leaving conflict).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventWrite {
    /// `group/version` of the object.
    pub api_version: String,
    /// Kind of the object.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// CamelCase reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

/// Shared state an engine (`runtime::Engine`) can use to expose its last plan.
pub type SharedPlan = Arc<Mutex<Plan>>;
