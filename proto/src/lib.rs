//! The ClusterSet discovery API between the Isthmus controller and its DNS proxies.
//!
//! - [`v1`]: the messages and tonic stubs generated from `proto/isthmus/v1/discovery.proto`
//!   (compiled at build time by a pure-Rust protobuf compiler; no system `protoc`).
//! - [`table`]: the name table one member cluster sees, and snapshot/delta arithmetic.
//! - [`mcs`]: ServiceImports and imported EndpointSlices read into the table's records, for
//!   the controller's tables and the DNS proxy's file and kube sources alike.
//! - [`publisher`]: the server's versioned views with delta history for resuming clients.
//! - [`service`]: the tonic service over a publisher, with per-cluster authorization.
//! - [`client`]: the reconnecting, resuming client a DNS proxy runs.
//! - [`endpoint`]: checks of a discovery URL and TLS server name as users give them.
//! - [`identity`]: which cluster a client certificate names.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("isthmus.v1");
}

pub mod client;
pub mod endpoint;
pub mod identity;
pub mod mcs;
pub mod publisher;
pub mod service;
pub mod table;
