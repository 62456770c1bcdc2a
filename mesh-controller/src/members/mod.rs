//! The live cluster registry: one Kubernetes client per member, the member's health, the MCS
//! API version it serves, and the About-API `ClusterProperty` objects written into it.

mod about;
mod client;
mod health;
mod mcs_version;

pub use about::cluster_properties;
pub use client::{
    KubeconfigText, MemberError, MemberSpec, client_for, client_for_spec, client_from_kubeconfig,
    connect, endpoint_of,
};
pub use health::{MemberHealth, MemberStatus, Reachability};
pub use mcs_version::{discover_mcs_version, pick_mcs_version};
