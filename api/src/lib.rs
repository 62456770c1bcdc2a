//! Kubernetes API types shared by every Isthmus crate, and the small conventions they share.
//!
//! - [`mcs`]: the Multi-Cluster Services API (`multicluster.x-k8s.io`, KEP-1645, mcs-api v0.5.0),
//!   `ServiceExport` and `ServiceImport` in `v1beta1` and `v1alpha1`.
//! - [`about`]: the About API `ClusterProperty` (`about.k8s.io`).
//! - [`crd`]: the Isthmus CRDs served by the hub: `MemberCluster` and the placement policies.
//! - [`labels`]: well-known label keys and the values Isthmus writes.
//! - [`names`]: syntax checks for Kubernetes names, label keys and values, addresses.
//! - [`backoff`]: the jittered exponential backoff every retry loop uses.
//! - [`duration`]: durations in Go's syntax (`1h30m`), as command-line flags take them.
//! - [`yaml`]: YAML output in one style, single documents and multi-document streams.
//!
//! The upstream CRDs are installed from their upstream YAML, so the MCS and About types here
//! do not generate schemas; they only (de)serialize. The Isthmus CRDs are generated from [`crd`].

pub mod about;
pub mod backoff;
pub mod crd;
pub mod duration;
pub mod labels;
pub mod mcs;
pub mod names;
pub mod yaml;
