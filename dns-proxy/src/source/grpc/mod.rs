//! `--source grpc:URL`: the controller's ClusterSetDiscovery stream (crate `mesh-proto`).
//!
//! [`mesh_proto::client::run`] keeps one cluster's [`NameTable`] in sync (snapshot, then
//! versioned deltas; reconnecting with backoff and resuming by version). This module turns
//! every new table into a [`ServiceSet`] with [`Converter`] and publishes it; while the stream
//! is down the last table keeps being served.
//!
//! A malformed record (unknown type, bad IP, bad name, bad port) is logged with its service
//! key and skipped; the rest of the table is served.
//!
//! - `settings`: [`GrpcSource`], what the flags configure;
//! - `tls`: the client's TLS files;
//! - `convert`: tables into service sets, names checked;
//! - `stream`: the client and publishing loop.
//!
//! [`NameTable`]: mesh_proto::table::NameTable
//! [`ServiceSet`]: crate::model::ServiceSet

mod convert;
mod settings;
mod stream;
mod tls;

pub use convert::{Converter, convert_record, to_service_set};
pub use settings::GrpcSource;
pub use stream::run;
pub use tls::{GrpcError, TlsFiles, load_tls};
