//! The Isthmus DNS proxy: answers `*.svc.clusterset.local` per the Multi-Cluster Services DNS
//! specification (KEP-1645) from a precomputed table and forwards every other name upstream.
//!
//! - [`model`]: the source-independent service view ([`model::ServiceSet`]).
//! - [`source`]: file and Kubernetes sources, both producing a `ServiceSet`.
//! - [`table`]: the answer table, every answer precomputed as wire bytes.
//! - [`handle`]: [`handle::TableHandle`], the atomically swapped current table.
//! - [`fast`] / [`slow`] / [`handler`]: the request paths.
//! - [`forward`], [`server`], [`http`], [`metrics`], [`config`]: the process around them.

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
