//! A simulated Kubernetes API server.
//!
//! Each [`SimCluster`] is a real HTTP(S) server on `127.0.0.1:<ephemeral>` speaking the
//! Kubernetes REST and watch protocol (discovery, list/watch with resourceVersions, bookmarks and
//! 410 Gone, create/update/patch/server-side apply, status subresource, finalizers, cascading
//! deletion, CRDs), so real clients (`kube::Client`, `kubectl`) work against it unchanged. Faults
//! (partitions, error rates, dropped watches, compaction, latency) are switched at run time
//! through a [`FaultHandle`]. What it does not model is listed in `tests/README.md`.

pub mod apply;
mod cluster;
mod crds;
pub mod error;
pub mod faults;
pub mod patch;
pub mod printers;
pub mod proto;
pub mod registry;
pub mod selector;
mod server;
pub mod store;
mod sync;
pub mod testing;
pub mod tls;

pub use cluster::{SimCluster, SimError, SimOptions};
pub use crds::mcs_crds;
pub use error::ApiError;
pub use faults::{FaultCommand, FaultHandle, FaultSpecError, InjectedError, Partition};
pub use server::RequestRecord;
pub use testing::{TestCluster, TestClusters, clusters_for_tests, e2e_kubeconfigs};
