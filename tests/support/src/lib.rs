//! Test support shared by the integration tests of every crate in the workspace.
//!
//! | module | what |
//! |---|---|
//! | [`env`] | a clusterset of test clusters (simulated, or real ones named by `ISTHMUS_E2E_KUBECONFIGS`) with a client per cluster and a namespace of the test |
//! | [`k8s`] | kube clients and server-side apply, get, list, delete of JSON objects |
//! | [`mcs`] | MCS objects (Service, EndpointSlice, ServiceExport) and reading what a controller imported |
//! | [`eventually`] | polling a condition until it holds, bounded, with a message naming what was awaited |
//! | [`dns`] | DNS queries (hickory) and a UDP exchange with a server |
//! | [`http`] | a plain HTTP GET (health, readiness and metrics endpoints) |
//! | [`certs`] | a throw-away CA issuing server and client (SPIFFE) certificates |
//! | [`tls`] | workload certificates from an Istio CA bundle and in-memory rustls handshakes |
//! | [`manifests`] | YAML manifest streams as JSON, and lossless round trips through typed structs |
//! | [`golden`] | golden files and folders, rewritten with `UPDATE_GOLDEN=1` |
//! | [`requests`] | the requests a simulated cluster served that installed RBAC does not allow |
//! | [`placement_tables`] | the Karmada decision tables of `placement/testdata/karmada-parity/` and each case's inputs |
//! | [`paths`] | the repository root and a crate's directories, whatever the working directory |
//! | [`tools`] | finding and running external programs (`dig`, `openssl`, `kubectl`, ...) |
//!
//! Crates whose tests use this one (`mesh-controller`, `dns-proxy`, `isthmus`) are not its
//! dependencies; helpers that need their types stay in their own tests. The rules for tests
//! that need an external tool or real clusters are in `tests/README.md`.

// Test support: a panic is how a failed step is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod certs;
pub mod dns;
pub mod env;
pub mod eventually;
pub mod golden;
pub mod http;
pub mod k8s;
pub mod manifests;
pub mod mcs;
pub mod paths;
pub mod placement_tables;
pub mod requests;
pub mod tls;
pub mod tools;

pub use env::Env;
pub use eventually::{eventually, eventually_blocking};
pub use tools::{require, tool};
