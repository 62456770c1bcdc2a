//! Kubernetes API types shared by the Isthmus controller, the DNS proxy and the tests.
//!
//! - [`mcs`]: the Multi-Cluster Services API (`multicluster.x-k8s.io`, KEP-1645, mcs-api v0.5.0),
//!   `ServiceExport` and `ServiceImport` in `v1beta1` and `v1alpha1`.
//! - [`about`]: the About API `ClusterProperty` (`about.k8s.io`).
//! - [`labels`]: well-known label keys and the values Isthmus writes.
//!
//! The upstream CRDs are installed from their upstream YAML, so the MCS and About types here
//! do not generate schemas; they only (de)serialize.

pub mod about;
pub mod labels;
pub mod mcs;
