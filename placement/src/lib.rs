//! Karmada-compatible placement: which member clusters run a workload, with how many
//! replicas, and what each cluster's copy looks like after overrides.
//!
//! The crate is pure: no Kubernetes client and no async runtime. Entry points:
//! [`match_policy`], [`schedule()`], [`apply_overrides`] and [`render_manifests`];
//! `isthmus place` is the dry run on the command line. See `docs/placement.md`.

pub mod cluster;
pub mod divide;
pub mod load;
mod manifests;
pub mod matching;
pub mod model;
pub mod overrides;
pub mod quantity;
pub mod resource;
pub mod schedule;
pub mod schema;
pub mod selector;

pub use cluster::ClusterInfo;
pub use manifests::render_manifests;
pub use matching::{PolicyRef, match_policy};
pub use model::{OverridePolicy, Placement, PolicySet, PropagationPolicy};
pub use overrides::{OverrideError, apply_overrides};
pub use resource::Resource;
pub use schedule::{Decision, Eviction, ScheduleError, no_execute_evictions, schedule};

/// The placement spec a policy carries (alias of [`model::Placement`]).
pub type PlacementSpec = model::Placement;
