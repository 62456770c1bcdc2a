//! Propagation: the hub's resource templates go to the members their Karmada-style policies
//! choose, with overrides applied (hub mode only).
//!
//! Every pass reads the hub (MemberClusters, the four `placement.isthmus.io` policy kinds, the
//! templates their selectors name and, with `propagateDeps`, the templates' dependencies),
//! decides with the pure [`plan`] module (built on `isthmus-placement`), then server-side
//! applies each member's objects, prunes what it owns and no longer places, and writes every
//! propagation policy's status. See `docs/placement.md`, "In the controller".

pub mod deps;
pub mod plan;
pub mod runner;

pub use plan::{
    Binding, EXPORT_SERVICES_ANNOTATION, POLICY_ANNOTATION, Plan, PlanInput, PolicyDoc,
    TEMPLATE_ANNOTATION, UNREACHABLE_TAINT,
};
pub use runner::{PassReport, PropagationArgs, PropagationConfig, Propagator};

/// The identity of one object (in the hub or in a member).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// `Kind namespace/name`.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}
