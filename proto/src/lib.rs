//! The gRPC API between the Isthmus controller and its DNS proxies.
//!
//! The `.proto` sources live in `proto/proto/`; they are compiled at build time with a
//! pure-Rust protobuf compiler, so no system `protoc` is needed.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("isthmus.v1");
}
