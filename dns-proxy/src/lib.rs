//! The Isthmus DNS proxy: answers `*.svc.clusterset.local` per the Multi-Cluster Services DNS
//! specification (KEP-1645) from a precomputed table and forwards every other name upstream.
//!
//! - [`model`]: the source-independent service view ([`model::ServiceSet`]).
//! - [`source`]: the file, Kubernetes and gRPC sources, each producing a `ServiceSet` (MCS
//!   objects are read by `mesh_proto::mcs`, as the controller reads them).
//! - [`table`]: the answer table, every answer precomputed as wire bytes.
//! - [`handle`]: [`handle::TableHandle`], the atomically swapped current table.
//! - [`fast`] / [`slow`] / [`handler`]: the request paths.
//! - [`forward`], [`server`], [`http`], [`metrics`]: the process around them.
//! - [`config`]: the command line, and running the proxy it describes.
//!
//! Their dependencies form no cycle: `table` uses `model`; `handle`, `metrics` and the request
//! paths use `table`; `source`, `server` and `http` build on `handle`; `config` on all of them.

pub mod config;
pub mod fast;
pub mod forward;
pub mod handle;
pub mod handler;
pub mod http;
pub mod metrics;
pub mod model;
pub mod server;
pub mod slow;
pub mod source;
pub mod table;
