//! Sources of truth: a file of MCS objects, the local cluster's MCS objects, or the
//! controller's discovery stream.
//!
//! The file and kube sources keep a [`Store`] of the ServiceImports and EndpointSlices they
//! have seen, read by [`mesh_proto::mcs`] as the controller reads the objects it writes; the
//! gRPC source receives the controller's records. Every source turns records into the
//! proxy's model with [`record::to_service`] and publishes the resulting service set through
//! the table handle.

pub mod file;
pub mod grpc;
pub mod kube;
pub mod record;
mod store;

use mesh_proto::mcs::ConvertError;
pub use store::Store;
